/**
 * Captures uploaded to the gateway: decoded into trace events the UI steps through offline, and replayed against
 * the lab's own target with the differences as JSON.
 *
 * - POST /api/capture/upload?name=FILE  body: a pcapng or pcap capture (at most MAX_UPLOAD_BYTES, else 413), or a
 *   JSON Lines trace (64 MiB). Streamed to disk and indexed on a worker thread (upload-store.ts), so the target
 *   keeps serving meanwhile. Answers `{id, name, format, header, total, warnings, events}` with the first page of
 *   events; each PDU event carries its wire bytes as `rawBase64`. A file that is not a capture is a 400.
 * - GET /api/capture/upload/ID/events?from=N&count=M  a further page `{from, total, events}`.
 * - GET /api/capture/upload/ID/stats[?format=csv|rates-csv]  service response times per opcode, throughput, IOPS.
 * - POST /api/replay `{id, lunMap?: 'url' | 'capture'}`: re-issues the upload's SCSI commands against the lab's target
 *   (server/replay) and answers `{commands, differences, skipped, warnings, lines, results: [...]}`.
 *
 * The newest few uploads are kept (on disk), so a replay needs no second upload.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RunningTarget } from '../run-target.ts';
import type { TargetConfig } from '../config/target-config.ts';
import { replayCapture, ReplayEmptyError, ReplayUsageError } from '../replay/replay.ts';
import { describeCdb, describeOutcome } from '../replay/extract.ts';
import { HttpError, readJson, sendJson } from './api.ts';
import type { RouteHandler } from './http-server.ts';
import type { ReplayAnswer, ReplayCommandResult, UploadedCapture, UploadedPage } from '../../shared/api/capture.ts';
import { ratesCsv, srtCsv, type CaptureStats } from '../capture/srt.ts';
import { UploadStore } from './upload-store.ts';
import { DEFAULT_PAGE, MAX_CAPTURE_UPLOAD_BYTES, type UploadSummary } from '../capture/capture-store.ts';

export const MAX_UPLOAD_BYTES = MAX_CAPTURE_UPLOAD_BYTES;
/** Per-command results a replay answers with (the summary counts them all). */
const MAX_RESULTS = 5000;

/** Capture statistics as JSON, or one of its tables as CSV (srt.ts). */
export function sendStats(res: ServerResponse, stats: CaptureStats, format: string | null): void {
  if (format === 'csv' || format === 'rates-csv') {
    res.writeHead(200, {
      'content-type': 'text/csv; charset=utf-8',
      'content-disposition': `attachment; filename="${format === 'csv' ? 'srt' : 'rates'}.csv"`,
    });
    res.end(format === 'csv' ? srtCsv(stats) : ratesCsv(stats));
    return;
  }
  if (format !== null && format !== 'json') throw new HttpError(400, 'format must be json, csv or rates-csv');
  sendJson<CaptureStats>(res, 200, stats);
}

/** The lab target as an iscsi:// URL replay can log in to; the lab's CHAP credentials go beside it as values. */
function labUrl(target: RunningTarget, config: TargetConfig, lun: number): string {
  const p = target.iscsi.listening[0]!;
  const host = p.host.includes(':') ? `[${p.host}]` : p.host;
  return `iscsi://${host}:${p.port}/${encodeURIComponent(config.iqn)}/${lun}`;
}

export function uploadRoutes(target: RunningTarget, config: TargetConfig, store = new UploadStore()): RouteHandler {
  let replaying = false;

  const upload = async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    const name = (url.searchParams.get('name') ?? 'capture').slice(0, 200);
    let summary: UploadSummary;
    try {
      summary = await store.receive(req, name);
    } catch (err) {
      if (err instanceof HttpError && err.status === 413) res.setHeader('connection', 'close');
      throw err;
    }
    const first = await store.page(summary.id, 0, DEFAULT_PAGE);
    sendJson<UploadedCapture>(res, 200, { ...summary, events: first.events });
  };

  const page = async (res: ServerResponse, id: string, url: URL): Promise<void> => {
    const from = Number(url.searchParams.get('from') ?? 0);
    const count = Number(url.searchParams.get('count') ?? DEFAULT_PAGE);
    sendJson<UploadedPage>(res, 200, await store.page(id, from, count));
  };

  const replay = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const b = await readJson(req);
    if (typeof b.id !== 'string') throw new HttpError(400, 'id: the upload id is required');
    if (!store.has(b.id)) throw new HttpError(404, 'no such upload (the gateway keeps the newest few; upload it again)');
    const lunMap = b.lunMap === undefined ? 'capture' : b.lunMap;
    if (lunMap !== 'url' && lunMap !== 'capture') throw new HttpError(400, 'lunMap must be "url" or "capture"');
    const lun = b.lun === undefined ? 0 : Number(b.lun);
    if (!Number.isInteger(lun) || lun < 0 || lun >= config.luns.length) throw new HttpError(400, `lun must be an integer from 0 to ${config.luns.length - 1}`);
    if (replaying) throw new HttpError(409, 'a replay is already running; wait for it to finish');
    replaying = true;
    try {
      const u = await store.forReplay(b.id);
      const results: ReplayCommandResult[] = [];
      let cut = 0;
      // Captures from elsewhere may name LUNs this lab lacks: those commands then get the target's own answer.
      const report = await replayCapture(u.capture, labUrl(target, config, lun), {
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
            number: c.number,
            command: describeCdb(c.task.cdb),
            lun: c.lun,
            recorded: o ? describeOutcome(o) : 'not recorded',
            replayed: describeOutcome(c.result),
            differences: c.differences,
            pdus: o ? [c.task.pduIndex, o.pduIndex] : [c.task.pduIndex],
          });
        },
      });
      sendJson<ReplayAnswer>(res, 200, { id: b.id, name: u.name, ...report, results, resultsCut: cut });
    } catch (err) {
      if (err instanceof HttpError) throw err;
      if (err instanceof ReplayUsageError) throw new HttpError(400, err.message);
      if (err instanceof ReplayEmptyError) throw new HttpError(422, err.message);
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
    const m = /^\/api\/capture\/upload\/([0-9a-f-]{36})\/events$/.exec(url.pathname);
    if (m) {
      if (req.method !== 'GET') throw new HttpError(405, 'GET a page of events: ?from=N&count=M');
      await page(res, m[1]!, url);
      return true;
    }
    const st = /^\/api\/capture\/upload\/([0-9a-f-]{36})\/stats$/.exec(url.pathname);
    if (st) {
      if (req.method !== 'GET') throw new HttpError(405, 'GET the statistics: ?format=json|csv|rates-csv');
      sendStats(res, store.stats(st[1]!), url.searchParams.get('format'));
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
