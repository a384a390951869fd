/**
 * GET /api/config: the running target's whole configuration as the JSON document `iscsi-lab target|serve --config
 * FILE` starts from (server/config/config-file.ts), to save it and restore it later. CHAP secrets are left out unless
 * asked for with `?secrets=true` (a restore needs them; a look at the configuration does not).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TargetConfig } from '../config/target-config.ts';
import { configDocument } from '../config/config-file.ts';
import type { ConfigDocument } from '../../shared/api/admin.ts';
import { HttpError, sendJson } from './api.ts';
import type { RouteHandler } from './http-server.ts';

export function configRoutes(config: TargetConfig): RouteHandler {
  return async (req: IncomingMessage, res: ServerResponse, url: URL) => {
    if (url.pathname !== '/api/config') return false;
    if (req.method !== 'GET') throw new HttpError(405, 'GET the configuration; start a target from it with --config FILE');
    const secrets = url.searchParams.get('secrets');
    if (secrets !== null && secrets !== 'true' && secrets !== 'false') throw new HttpError(400, 'secrets must be true or false');
    sendJson<ConfigDocument>(res, 200, configDocument(config, { secrets: secrets === 'true' }));
    return true;
  };
}
