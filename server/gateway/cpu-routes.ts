/**
 * GET /api/cpu: the process's CPU time (user and system, µs). The overhead meter samples it around a batch of
 * I/Os to put a measured number on "encapsulation costs CPU". The target, the gateway, its initiator and the trace
 * share this process, so the figure is theirs together, and the page says so.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CpuSample } from '../../shared/api/cpu.ts';
import { HttpError, sendJson } from './api.ts';
import type { RouteHandler } from './http-server.ts';

export function cpuRoutes(): RouteHandler {
  return async (req: IncomingMessage, res: ServerResponse, url: URL) => {
    if (url.pathname !== '/api/cpu') return false;
    if (req.method !== 'GET') throw new HttpError(405, 'GET only');
    const u = process.cpuUsage();
    sendJson<CpuSample>(res, 200, { userUs: u.user, systemUs: u.system });
    return true;
  };
}
