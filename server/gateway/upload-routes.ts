/**
 * Captures uploaded to the gateway: decoded into trace events the UI steps through offline, and replayed against
 * the lab's own target with the differences as JSON.
 *
 * - POST /api/capture/upload?name=FILE  body: a pcapng, pcap or JSON Lines capture (at most MAX_UPLOAD_BYTES, else
 *   413). Answers `{id, name, format, header, events, warnings}`; each PDU event carries its wire bytes as
 *   `rawBase64`. A file that is not a capture is a 400 with the reason.
 * - POST /api/replay `{id, lunMap?: 'url' | 'capture'}`: re-issues the upload's SCSI commands against the lab's target
 *   (server/replay) and answers `{commands, differences, skipped, warnings, lines, results: [...]}`.
 *
 * Uploads are kept in memory, the newest few (bounded by count and bytes), so a replay needs no second upload.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { RunningTarget } from '../run-target.ts';
import type { TargetConfig } from '../cli/args.ts';
import { readCaptureFile, replayCapture, ReplayUsageError, type CaptureFormat } from '../replay/replay.ts';
import { describeCdb, describeOutcome } from '../replay/extract.ts';
import { PduDescriber } from '../../shared/trace/describe.ts';
import { TRACE_SCHEMA_VERSION, type TraceEvent, type TraceHeader } from '../../shared/trace/schema.ts';
import { HttpError, readJson, sendJson } from './api.ts';
import type { RouteHandler } from './http-server.ts';
import { MAX_REPLAY_UPLOAD_BYTES, readUpload } from './upload-limits.ts';

export const MAX_UPLOAD_BYTES = MAX_REPLAY_UPLOAD_BYTES;
/** Uploads kept for replay: the newest ones, at most this many and this many bytes together. */
const KEEP_UPLOADS = 4;
const KEEP_UPLOAD_BYTES = 128 * 1024 * 1024;
/** Per-command results a replay answers with (the summary counts them all). */
const MAX_RESULTS = 5000;
const OP_LOGIN_RESPONSE = 0x23;

interface Upload {
  readonly id: string;
  readonly name: string;
  readonly format: CaptureFormat;
  readonly bytes: Uint8Array;
}

export type UploadedEvent = TraceEvent & { rawBase64?: string };

export interface DecodedUpload {
  readonly format: CaptureFormat;
  readonly header: TraceHeader;
  readonly events: UploadedEvent[];
  readonly warnings: string[];
}

/** A capture file as trace events (what the live trace would have shown), with each PDU's wire bytes. */
export function decodeUpload(file: Uint8Array, name: string): DecodedUpload {
  const read = readCaptureFile(file);
  const format = read.format;
  if (read.format === 'jsonl') {
    const parsed = read.jsonl;
    const events = parsed.events.map((e): UploadedEvent => {
      const raw = e.type === 'pdu' ? parsed.raw.get(e.seq) : undefined;
      return raw ? { ...e, rawBase64: Buffer.from(raw).toString('base64') } : e;
    });
    const warnings = parsed.skipped ? [`${parsed.skipped} lines of unknown kinds skipped`] : [];
    return { format, header: parsed.header, events, warnings };
  }
  const capture = read.capture;
  const describer = new PduDescriber();
  const tsih = new Map<number, number>();
  const events: UploadedEvent[] = [];
  for (const p of capture.pdus) {
    // The TSIH is known from the Login Response that completes the session (RFC 7143 11.13).
    if (p.bhs[0]! % 64 === OP_LOGIN_RESPONSE) tsih.set(p.connectionId, (p.bhs[14]! << 8) | p.bhs[15]!);
    const event = describer.describe({
      seq: p.index, timeNs: p.timeNs, wallMs: p.wallMs, direction: p.direction, connectionId: p.connectionId,
      tsih: tsih.get(p.connectionId) ?? 0, tcp: p.tcp, headerDigest: p.headerDigest, dataDigest: p.dataDigest,
      bhs: p.bhs, data: p.data, rawLength: p.bytes.length,
    });
    events.push({ ...event, rawBase64: Buffer.from(p.bytes).toString('base64') });
  }
  const warnings = [...capture.warnings];
  if (capture.pdus.length === 0) warnings.push(`no iSCSI PDUs among ${capture.packets} packets (is the target on TCP port 3260?)`);
  const header: TraceHeader = {
    type: 'header', version: TRACE_SCHEMA_VERSION, startWallMs: capture.pdus[0]?.wallMs ?? Date.now(), producer: `upload: ${name}`,
  };
  return { format, header, events, warnings };
}

/** The lab target as an iscsi:// URL replay can log in to; the lab's CHAP credentials go beside it as values. */
function labUrl(target: RunningTarget, config: TargetConfig, lun: number): string {
  const p = target.iscsi.listening[0]!;
  const host = p.host.includes(':') ? `[${p.host}]` : p.host;
  return `iscsi://${host}:${p.port}/${encodeURIComponent(config.iqn)}/${lun}`;
}

export function uploadRoutes(target: RunningTarget, config: TargetConfig): RouteHandler {
  const uploads: Upload[] = [];
  let replaying = false;

  const keep = (u: Upload): void => {
    uploads.push(u);
    let bytes = uploads.reduce((a, x) => a + x.bytes.length, 0);
    while (uploads.length > KEEP_UPLOADS || (uploads.length > 1 && bytes > KEEP_UPLOAD_BYTES)) bytes -= uploads.shift()!.bytes.length;
  };

  const upload = async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    let body: Buffer;
    try {
      body = await readUpload(req, MAX_UPLOAD_BYTES);
    } catch (err) {
      if (err instanceof HttpError && err.status === 413) res.setHeader('connection', 'close');
      throw err;
    }
    const name = (url.searchParams.get('name') ?? 'capture').slice(0, 200);
    if (body.length === 0) throw new HttpError(400, 'empty upload: send the capture file as the request body');
    let decoded: DecodedUpload;
    try {
      decoded = decodeUpload(body, name);
    } catch (err) {
      if (err instanceof ReplayUsageError) throw new HttpError(400, `${name}: ${err.message}`);
      throw err;
    }
    const id = randomUUID();
    keep({ id, name, format: decoded.format, bytes: body });
    sendJson(res, 200, { id, name, bytes: body.length, ...decoded });
  };

  const replay = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const b = await readJson(req);
    const u = uploads.find((x) => x.id === b.id);
    if (!u) throw new HttpError(404, typeof b.id === 'string' ? 'no such upload (the gateway keeps the newest few; upload it again)' : 'id: the upload id is required');
    const lunMap = b.lunMap === undefined ? 'capture' : b.lunMap;
    if (lunMap !== 'url' && lunMap !== 'capture') throw new HttpError(400, 'lunMap must be "url" or "capture"');
    const lun = b.lun === undefined ? 0 : Number(b.lun);
    if (!Number.isInteger(lun) || lun < 0 || lun >= config.luns.length) throw new HttpError(400, `lun must be an integer from 0 to ${config.luns.length - 1}`);
    if (replaying) throw new HttpError(409, 'a replay is already running; wait for it to finish');
    replaying = true;
    try {
      const results: unknown[] = [];
      let cut = 0;
      // Captures from elsewhere may name LUNs this lab lacks: those commands then get the target's own answer.
      const report = await replayCapture(u.bytes, labUrl(target, config, lun), {
        lunMap,
        ...(config.chap ? { chap: config.chap } : {}),
        ...(config.mutualChap ? { mutualChap: config.mutualChap } : {}),
        initiatorName: config.acl?.[0] ?? 'iqn.2026-11.org.iscsi-lab:gateway-replay',
        onCommand(c) {
          if (results.length >= MAX_RESULTS) {
            cut++;
            return;
          }
          const o = c.task.outcome;
          results.push({
            number: c.number, command: describeCdb(c.task.cdb), lun: c.lun,
            recorded: o ? describeOutcome(o) : 'not recorded', replayed: describeOutcome(c.result), differences: c.differences,
          });
        },
      });
      sendJson(res, 200, { id: u.id, name: u.name, ...report, results, resultsCut: cut });
    } catch (err) {
      if (err instanceof ReplayUsageError) throw new HttpError(400, err.message);
      throw new HttpError(502, `replay against the lab target failed: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      replaying = false;
    }
  };

  return async (req: IncomingMessage, res: ServerResponse, url: URL) => {
    if (url.pathname === '/api/capture/upload') {
      if (req.method !== 'POST') throw new HttpError(405, 'POST the capture file as the body');
      await upload(req, res, url);
      return true;
    }
    if (url.pathname === '/api/replay') {
      if (req.method !== 'POST') throw new HttpError(405, 'POST {id} of an uploaded capture');
      await replay(req, res);
      return true;
    }
    return false;
  };
}
