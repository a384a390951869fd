import type { IncomingMessage, ServerResponse } from 'node:http';
import { writeDataTooLong, type IoResult } from '../../shared/api/io.ts';
import type { LabStatus } from '../../shared/api/status.ts';
import type { RunningTarget } from '../run-target.ts';
import type { TargetConfig } from '../config/target-config.ts';
import { type IoRequest, LabInitiator, MAX_API_IO_BLOCKS } from './lab-io.ts';
import { DEFAULT_STEP_TIMEOUT_MS, StepBusyError } from '../taps/step-gate.ts';

/** Thrown by handlers for a request the client got wrong: becomes a 4xx with a readable message. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const MAX_JSON_BODY = 4 * 1024 * 1024;

export async function readBody(req: IncomingMessage, limit = MAX_JSON_BODY): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new HttpError(413, `request body over ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

export async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const body = await readBody(req);
  try {
    const v: unknown = JSON.parse(body.toString('utf8') || '{}');
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object');
    return v as Record<string, unknown>;
  } catch (err) {
    throw new HttpError(400, `body is not a JSON object: ${(err as Error).message}`);
  }
}

/**
 * Every JSON answer goes out here. `T` names the answer's type in shared/api (`sendJson<FaultList>(...)`), so a
 * handler whose answer drifts from the contract fails to compile (without `T` nothing can be sent); errors are ApiErrorAnswer.
 */
export function sendJson<T = never>(res: ServerResponse, status: number, value: NoInfer<T>): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(body);
}

/** The lab's status: target, portals, LUNs with sizes and options, sessions. No secrets. */
export function status(target: RunningTarget, config: TargetConfig): LabStatus {
  return {
    target: { iqn: config.iqn, url: target.url, chap: config.chap !== undefined, mutualChap: config.mutualChap !== undefined, acl: config.acl },
    portals: target.iscsi.listening.map((p, i) => ({ host: p.host, port: p.port, portalGroupTag: i + 1 })),
    luns: config.luns.map((l, i) => ({
      lun: i,
      path: l.path,
      sizeBytes: target.stores[i]!.blockCount * target.stores[i]!.blockSize,
      blockSize: target.stores[i]!.blockSize,
      blocks: target.stores[i]!.blockCount,
      thin: l.thin,
      removable: l.removable,
      readOnly: l.readOnly,
      physicalBlockSize: l.physicalBlockSize ?? target.stores[i]!.blockSize,
    })),
    // Targets after the first (`--iqn` ... `--iqn` ...): the lab's views, I/O and cache work on the first one.
    moreTargets: (config.moreTargets ?? []).map((t, i) => ({
      iqn: t.iqn,
      chap: t.chap !== undefined,
      mutualChap: t.mutualChap !== undefined,
      acl: t.acl,
      luns: t.luns.map((l, lun) => {
        const store = target.targets[i + 1]!.stores[lun]!;
        return {
          lun,
          path: l.path,
          sizeBytes: store.blockCount * store.blockSize,
          blockSize: store.blockSize,
          thin: l.thin,
          removable: l.removable,
          readOnly: l.readOnly,
        };
      }),
    })),
    sessions: target.iscsi.sessionList.map((s) => ({
      tsih: s.tsih,
      type: s.type,
      initiatorName: s.initiatorName,
      targetName: s.target.targetName,
      isid: s.isid.toString('hex'),
      connections: [...s.connections].map((c) => ({
        id: c.id,
        remote: `${c.address.remoteAddress}:${c.address.remotePort}`,
        local: `${c.address.localAddress}:${c.address.localPort}`,
      })),
      headerDigest: s.params.headerDigest,
      dataDigest: s.params.dataDigest,
    })),
  };
}

function intField(body: Record<string, unknown>, name: string, min: number, max: number): number {
  const v = body[name];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new HttpError(400, `${name} must be an integer from ${min} to ${max}`);
  return v;
}

/** POST /api/io: one read or write through the lab's own initiator (`step: true`: held at each stage, see step-gate.ts). */
export async function io(lab: LabInitiator, target: RunningTarget, config: TargetConfig, body: Record<string, unknown>): Promise<IoResult> {
  const lun = intField(body, 'lun', 0, config.luns.length - 1);
  const op = body.op;
  if (op !== 'read' && op !== 'write') throw new HttpError(400, 'op must be "read" or "write"');
  const store = target.stores[lun]!;
  const blocks = intField(body, 'blocks', 1, MAX_API_IO_BLOCKS);
  const lba = intField(body, 'lba', 0, store.blockCount - 1);
  if (lba + blocks > store.blockCount) throw new HttpError(400, `LBA ${lba} + ${blocks} blocks runs past the end of LUN ${lun} (${store.blockCount} blocks)`);
  const req: IoRequest = { lun, op, lba, blocks, fua: body.fua === true };
  if (body.timeoutMs !== undefined) req.timeoutMs = intField(body, 'timeoutMs', 100, 60_000);
  if (body.step !== undefined && typeof body.step !== 'boolean') throw new HttpError(400, 'step must be true or false');
  if (body.step === true) {
    req.step = true;
    if (body.stepTimeoutMs !== undefined) req.stepTimeoutMs = intField(body, 'stepTimeoutMs', 100, DEFAULT_STEP_TIMEOUT_MS);
  }
  if (op === 'write') {
    if (config.luns[lun]!.readOnly) throw new HttpError(403, `LUN ${lun} is read-only`);
    req.data = writeData(body.data, blocks * store.blockSize);
    // Never truncated silently: data the blocks asked for cannot hold is the caller's mistake (shorter data is
    // zero-filled to whole blocks, as the composer and console say).
    const tooLong = writeDataTooLong(req.data.length, blocks, store.blockSize);
    if (tooLong) throw new HttpError(400, tooLong);
  }
  try {
    return await lab.io(req);
  } catch (err) {
    if (err instanceof StepBusyError) throw new HttpError(409, err.message);
    throw err;
  }
}

/** Write payloads: {hex}, {text} or {pattern: byte} (a whole-range fill). */
function writeData(data: unknown, length: number): Buffer {
  if (typeof data !== 'object' || data === null) throw new HttpError(400, 'write needs data: {hex}, {text} or {pattern}');
  const d = data as Record<string, unknown>;
  if (typeof d.hex === 'string') {
    const hex = d.hex.replace(/\s+/g, '');
    if (!/^([0-9a-fA-F]{2})*$/.test(hex)) throw new HttpError(400, 'data.hex must be pairs of hex digits');
    return Buffer.from(hex, 'hex');
  }
  if (typeof d.text === 'string') return Buffer.from(d.text, 'utf8');
  if (typeof d.pattern === 'number' && Number.isInteger(d.pattern) && d.pattern >= 0 && d.pattern <= 255) return Buffer.alloc(length, d.pattern);
  throw new HttpError(400, 'write needs data: {hex}, {text} or {pattern: 0-255}');
}
