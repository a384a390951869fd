/**
 * /api/faults: the fault rules of the running target (shared/api/faults.ts is the contract).
 *   POST   /api/faults      {action, match: {pdu?, opcode?, lun?, lbaFrom?, lbaTo?, session?}, count?, probability?, delayMs?}
 *                           -> 201 {id}; a rule that cannot work -> 400 {error: reason}
 *   GET    /api/faults      -> {faults: [{id, action, match, count, hits, ...}]}
 *   DELETE /api/faults/ID   -> 200 {deleted: ID}, 404 when there is no such rule
 *   DELETE /api/faults      -> 200 {deleted: N} (every rule)
 */
import { FaultRuleError, validateFaultRule, type FaultCreated, type FaultList, type FaultsDeleted } from '../../shared/api/faults.ts';
import type { FaultEngine } from '../faults/engine.ts';
import { HttpError, readJson, sendJson } from './api.ts';
import type { RouteHandler } from './http-server.ts';

export function faultRoutes(engine: FaultEngine): RouteHandler {
  return async (req, res, url) => {
    if (url.pathname === '/api/faults') {
      if (req.method === 'GET') {
        sendJson<FaultList>(res, 200, { faults: engine.list() });
        return true;
      }
      if (req.method === 'POST') {
        const body = await readJson(req);
        try {
          const id = engine.add(validateFaultRule(body));
          sendJson<FaultCreated>(res, 201, { id });
        } catch (err) {
          if (err instanceof FaultRuleError) throw new HttpError(400, `bad fault rule: ${err.message}`);
          throw err;
        }
        return true;
      }
      if (req.method === 'DELETE') {
        const n = engine.list().length;
        engine.clear();
        sendJson<FaultsDeleted>(res, 200, { deleted: n });
        return true;
      }
      throw new HttpError(405, 'GET, POST or DELETE');
    }
    const m = /^\/api\/faults\/([^/]+)$/.exec(url.pathname);
    if (!m) return false;
    if (req.method !== 'DELETE') throw new HttpError(405, 'DELETE only');
    const id = /^\d+$/.test(m[1]!) ? Number(m[1]) : NaN;
    if (!engine.remove(id)) throw new HttpError(404, `no fault rule ${decodeURIComponent(m[1]!)}`);
    sendJson<FaultsDeleted>(res, 200, { deleted: id });
    return true;
  };
}
