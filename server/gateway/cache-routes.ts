import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BlockCache, CacheSettings } from '../store/cache/block-cache.ts';
import { CacheFlagError, checkCacheBytes, parseCacheMode, parseCachePolicy, parseCacheSize, parseReadahead } from '../store/cache/config.ts';
import type { RouteHandler } from './http-server.ts';
import { sendJson } from './api.ts';
import { MAX_CACHE_MAP_RANGES as MAX_MAP_RANGES, type CacheChangeAnswer, type CacheMapAnswer, type CacheStatsAnswer } from '../../shared/api/cache.ts';
import type { ApiErrorAnswer } from '../../shared/api/status.ts';

/** Largest POST /api/cache body. */
const MAX_BODY_BYTES = 16 * 1024;

const sendError = (res: ServerResponse, status: number, error: string): void => sendJson<ApiErrorAnswer>(res, status, { error });

async function body(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new CacheFlagError(`request body over ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  const v: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new CacheFlagError('body must be a JSON object');
  return v as Record<string, unknown>;
}

/** `{policy?, size? ("64M" or bytes), sizeBytes?, mode?, readahead? ("on,128K" or {enabled, windowBytes})}`. */
function settings(b: Record<string, unknown>): CacheSettings {
  const s: CacheSettings = {};
  const text = (name: string): string => {
    const v = b[name];
    if (typeof v !== 'string') throw new CacheFlagError(`${name} must be a string, got ${JSON.stringify(v)}`);
    return v;
  };
  if (b.policy !== undefined) s.policy = parseCachePolicy(text('policy'));
  if (b.mode !== undefined) s.mode = parseCacheMode(text('mode'));
  const size = b.sizeBytes ?? b.size;
  if (size !== undefined) {
    if (typeof size === 'number') s.sizeBytes = checkCacheBytes(size, 'sizeBytes');
    else if (typeof size === 'string') s.sizeBytes = parseCacheSize(size, 'size');
    else throw new CacheFlagError('size must be bytes (a number) or a size like "64M"');
  }
  if (b.readahead !== undefined) {
    const r = b.readahead;
    if (typeof r === 'string') s.readahead = parseReadahead(r);
    else if (typeof r === 'boolean') s.readahead = { enabled: r };
    else if (typeof r === 'object' && r !== null) {
      const o = r as Record<string, unknown>;
      s.readahead = {};
      if (o.enabled !== undefined) {
        if (typeof o.enabled !== 'boolean') throw new CacheFlagError('readahead.enabled must be true or false');
        s.readahead.enabled = o.enabled;
      }
      if (o.windowBytes !== undefined) {
        if (typeof o.windowBytes !== 'number') throw new CacheFlagError('readahead.windowBytes must be a number of bytes');
        s.readahead.windowBytes = checkCacheBytes(o.windowBytes, 'readahead.windowBytes');
      }
    } else throw new CacheFlagError('readahead must be "on|off[,WINDOW]", a boolean or {enabled, windowBytes}');
  }
  if (Object.keys(s).length === 0) throw new CacheFlagError('nothing to change: give policy, size, mode or readahead');
  return s;
}

/**
 * The block cache's API (contract: shared/api/cache.ts), one cache per LUN (undefined for a LUN served without one):
 * - GET /api/stats: `{luns: [{lun, cache: {policy, mode, sizeBytes, usedBytes, dirtyBytes, hits, misses,
 *   readaheadHits, evictions, flushes, ...} | null}]}`
 * - GET /api/cache/map?lun=N[&max=R]: resident and dirty block ranges (CacheMap) for the heat map
 * - POST /api/cache `{lun?, policy?, size?, mode?, readahead?}`: changes one LUN's cache (every LUN's without `lun`)
 *   at run time; answers the new stats. Bad requests: 400 `{error}`, changing nothing.
 * - POST /api/cache/reset-stats `{lun?}`: zeroes one LUN's cache counters (every LUN's without `lun`), keeps what
 *   is cached; answers the new stats.
 */
export function cacheRoutes(caches: ReadonlyArray<BlockCache | undefined>): RouteHandler {
  const lunParam = (text: string | null): number => {
    const lun = Number(text);
    if (text === null || text === '' || !Number.isInteger(lun) || lun < 0 || lun >= caches.length) {
      throw new CacheFlagError(`lun must be an integer from 0 to ${caches.length - 1}`);
    }
    return lun;
  };
  return async (req: IncomingMessage, res: ServerResponse, url: URL) => {
    const path = url.pathname;
    if (path !== '/api/stats' && path !== '/api/cache/map' && path !== '/api/cache' && path !== '/api/cache/reset-stats') return false;
    try {
      if (path === '/api/stats' && req.method === 'GET') {
        sendJson<CacheStatsAnswer>(res, 200, { luns: caches.map((c, lun) => ({ lun, cache: c ? c.stats() : null })) });
        return true;
      }
      if (path === '/api/cache/map' && req.method === 'GET') {
        const lun = lunParam(url.searchParams.get('lun'));
        const cache = caches[lun];
        if (!cache) {
          sendError(res, 404, `LUN ${lun} has no cache`);
          return true;
        }
        const max = url.searchParams.has('max') ? Number(url.searchParams.get('max')) : MAX_MAP_RANGES;
        if (!Number.isInteger(max) || max < 1) throw new CacheFlagError('max must be a positive integer');
        sendJson<CacheMapAnswer>(res, 200, { lun, ...cache.map(Math.min(max, MAX_MAP_RANGES)) });
        return true;
      }
      if (path === '/api/cache' && req.method === 'POST') {
        const b = await body(req);
        const s = settings(b);
        if (b.lun !== undefined && typeof b.lun !== 'number') throw new CacheFlagError(`lun must be an integer from 0 to ${caches.length - 1}`);
        const targets = b.lun === undefined ? caches.map((_, i) => i) : [lunParam(String(b.lun))];
        if (targets.some((l) => !caches[l])) {
          sendError(res, 404, 'no cache on that LUN (start with --cache SIZE)');
          return true;
        }
        const luns = [];
        for (const lun of targets) luns.push({ lun, cache: await caches[lun]!.configure(s) });
        sendJson<CacheChangeAnswer>(res, 200, { luns });
        return true;
      }
      if (path === '/api/cache/reset-stats' && req.method === 'POST') {
        const b = await body(req);
        const targets = b.lun === undefined ? caches.map((_, i) => i).filter((l) => caches[l]) : [lunParam(String(b.lun))];
        if (targets.length === 0 || targets.some((l) => !caches[l])) {
          sendError(res, 404, 'no cache on that LUN (start with --cache SIZE)');
          return true;
        }
        sendJson<CacheChangeAnswer>(res, 200, { luns: targets.map((lun) => ({ lun, cache: caches[lun]!.resetStats() })) });
        return true;
      }
      sendError(res, 405, `${req.method} not allowed on ${path}`);
      return true;
    } catch (err) {
      if (err instanceof CacheFlagError || err instanceof SyntaxError) sendError(res, 400, err.message);
      else sendError(res, 500, String(err));
      return true;
    }
  };
}
