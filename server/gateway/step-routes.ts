/**
 * Step mode's controls: GET /api/step (where the stepped I/O is held, see server/taps/step-gate.ts) and
 * POST /api/step `{action: "next" | "continue"}`. The same state reaches every browser as the /ws `step` message.
 * A stepped I/O itself is started with POST /api/io `{..., step: true}`, which answers when the I/O is done.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { StepGate } from '../taps/step-gate.ts';
import type { BlockCache } from '../store/cache/block-cache.ts';
import type { StepState } from '../../shared/api/step.ts';
import { HttpError, readJson, sendJson } from './api.ts';
import type { RouteHandler } from './http-server.ts';

export function stepRoutes(gate: StepGate): RouteHandler {
  return async (req: IncomingMessage, res: ServerResponse, url: URL) => {
    if (url.pathname !== '/api/step') return false;
    if (req.method === 'GET') {
      sendJson<StepState>(res, 200, gate.state());
      return true;
    }
    if (req.method !== 'POST') throw new HttpError(405, 'GET the step state, or POST {action: "next" | "continue"}');
    const { action } = await readJson(req);
    if (action !== 'next' && action !== 'continue') throw new HttpError(400, 'action must be "next" or "continue"');
    const ok = action === 'next' ? gate.next() : gate.continue();
    if (!ok)
      throw new HttpError(
        409,
        gate.state().active ? 'the stepped I/O is between stages; try again in a moment' : 'no stepped I/O is in progress: start one with step mode on',
      );
    sendJson<StepState>(res, 200, gate.state());
    return true;
  };
}

/**
 * What the LUN's cache holds of a range right now, for the store stage of a stepped I/O: the lookup the cache is
 * about to make, read from its map (which changes nothing, unlike a lookup).
 */
export function describeResidency(cache: BlockCache | undefined, lba: number, blocks: number): string {
  if (!cache) return 'no cache on this LUN: the command goes straight to the store';
  const m = cache.map();
  const spb = Math.max(1, m.blockBytes / m.lbaBytes);
  const first = Math.floor(lba / spb);
  const last = Math.floor((lba + blocks - 1) / spb);
  const total = last - first + 1;
  let cached = 0;
  let dirty = 0;
  for (const r of m.ranges) {
    const rFirst = Math.floor(r.lba / spb);
    const rLast = Math.floor((r.lba + r.blocks - 1) / spb);
    const overlap = Math.min(last, rLast) - Math.max(first, rFirst) + 1;
    if (overlap <= 0) continue;
    // Exact runs are all resident; a bucket spreads its counts evenly.
    const span = rLast - rFirst + 1;
    cached += m.exact ? overlap : Math.round((r.cached * overlap) / span);
    dirty += Math.round((r.dirty * overlap) / span);
  }
  const expect =
    cached === total ? 'a read would be all hits' : cached === 0 ? 'a read would miss and go to the store' : 'a read would be partly served from the store';
  return `cache (${m.policy}, ${m.mode}): ${cached} of ${total} cache blocks of ${m.blockBytes} B resident, ${dirty} dirty; ${expect}`;
}
