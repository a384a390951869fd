/** GET /api/source: what the lab's trace shows, its own target or a proxy in front of another target. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TraceSource } from '../../shared/api/trace.ts';
import { sendJson } from './api.ts';
import type { RouteHandler } from './http-server.ts';

export function sourceRoutes(source: TraceSource): RouteHandler {
  return async (req: IncomingMessage, res: ServerResponse, url: URL) => {
    if (url.pathname !== '/api/source' || req.method !== 'GET') return false;
    sendJson<TraceSource>(res, 200, source);
    return true;
  };
}
