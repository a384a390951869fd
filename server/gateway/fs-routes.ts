/**
 * The file-system stage's routes (server/fs-stage): GET /api/fs?lun=N (formatted? which files), POST /api/fs/format
 * {lun}, POST /api/fs/write {lun, name, text}. Writes go through the lab's initiator: they are in the trace.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TargetConfig } from '../config/target-config.ts';
import { Ext2Stage, FsStageError } from '../fs-stage/ext2-stage.ts';
import type { LabInitiator } from './lab-io.ts';
import type { FsFormatResult, FsStatus, FsWriteRequest, FsWriteResult } from '../../shared/api/fs.ts';
import { HttpError, readJson, sendJson } from './api.ts';
import type { RouteHandler } from './http-server.ts';

export function fsRoutes(lab: LabInitiator, config: TargetConfig): RouteHandler {
  const stage = new Ext2Stage(
    async (lun, lba, data) => {
      const bs = await lab.blockSize(lun);
      const r = await lab.io({ lun, op: 'write', lba, blocks: data.length / bs, data: Buffer.from(data) });
      if (!r.ok) throw new FsStageError(`WRITE(16) LBA ${lba} answered ${r.statusText}`);
    },
    (lun) => lab.blockSize(lun),
  );
  const lunOf = (v: unknown): number => {
    const lun = v === undefined ? 0 : v;
    if (typeof lun !== 'number' || !Number.isInteger(lun) || lun < 0 || lun >= config.luns.length)
      throw new HttpError(400, `lun must be an integer from 0 to ${config.luns.length - 1}`);
    if (config.luns[lun]!.readOnly) throw new HttpError(403, `LUN ${lun} is read-only`);
    return lun;
  };
  return async (req: IncomingMessage, res: ServerResponse, url: URL) => {
    if (url.pathname !== '/api/fs' && url.pathname !== '/api/fs/format' && url.pathname !== '/api/fs/write') return false;
    if (url.pathname === '/api/fs') {
      if (req.method !== 'GET') throw new HttpError(405, 'GET only');
      sendJson<FsStatus>(res, 200, stage.status(lunOf(Number(url.searchParams.get('lun') ?? '0'))));
      return true;
    }
    if (req.method !== 'POST') throw new HttpError(405, 'POST only');
    // Checked field by field below: the contract is FsWriteRequest, the body is whatever arrived.
    const body: { [K in keyof FsWriteRequest]?: unknown } = await readJson(req);
    const lun = lunOf(body.lun);
    try {
      if (url.pathname === '/api/fs/format') sendJson<FsFormatResult>(res, 200, { writes: await stage.format(lun), status: stage.status(lun) });
      else {
        if (typeof body.name !== 'string' || typeof body.text !== 'string') throw new HttpError(400, 'POST /api/fs/write takes {lun, name, text}');
        sendJson<FsWriteResult>(res, 200, await stage.writeFile(lun, body.name, new TextEncoder().encode(body.text)));
      }
    } catch (err) {
      if (err instanceof FsStageError) throw new HttpError(400, err.message);
      throw err;
    }
    return true;
  };
}
