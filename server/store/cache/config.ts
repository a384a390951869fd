/**
 * The cache's command-line flags and how a LUN's store gets its cache:
 *
 *   --cache SIZE                            cache size per LUN (`64M`, `512K`, `0` = off, the default)
 *   --cache-mode write-back|write-through   default write-back
 *   --cache-policy lru|2q|arc               default 2q
 *   --readahead on|off[,WINDOW]             sequential readahead, default on,256K
 *   --cache-flush-interval MS               background write-back period, default 1000; 0 = only at the
 *                                           high-water mark, SYNCHRONIZE CACHE, FUA and shutdown (tests use it)
 *
 * The parser throws CacheFlagError with a one-line message; the CLI turns it into its usage error (exit 2).
 */
import { totalmem } from 'node:os';
import type { BlockStore } from '../types.ts';
import { BlockCache, DEFAULT_READAHEAD_WINDOW_BYTES, type CacheMode, type ReadaheadSettings } from './block-cache.ts';
import { POLICY_NAMES, type PolicyName } from './policy.ts';

export class CacheFlagError extends Error {}

export interface CacheConfig {
  /** Per LUN; 0: no cache. */
  sizeBytes: number;
  mode: CacheMode;
  policy: PolicyName;
  readahead: ReadaheadSettings;
  /** Background write-back period (ms); default the cache's own (1 s). */
  flushIntervalMs?: number;
}

export const CACHE_FLAGS: readonly string[] = ['--cache', '--cache-mode', '--cache-policy', '--readahead', '--cache-flush-interval'];

export function defaultCacheConfig(): CacheConfig {
  return { sizeBytes: 0, mode: 'write-back', policy: '2q', readahead: { enabled: true, windowBytes: DEFAULT_READAHEAD_WINDOW_BYTES } };
}

const UNITS: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 };

/** The cache lives in this process's memory: a cache (or readahead window) larger than the machine's is a mistake. */
const MAX_CACHE_BYTES = totalmem();

/** A byte count for the cache from the API or a flag: a whole number from 0 to MAX_CACHE_BYTES. */
export function checkCacheBytes(bytes: number, what: string): number {
  if (!Number.isSafeInteger(bytes) || bytes < 0 || bytes > MAX_CACHE_BYTES) {
    throw new CacheFlagError(`bad ${what} ${bytes}: a whole number of bytes from 0 to ${MAX_CACHE_BYTES} (this machine's memory)`);
  }
  return bytes;
}

/** `0`, `4096`, `512K`, `64M`, `1G` (optionally with `B`/`iB`). */
export function parseCacheSize(text: string, what = '--cache'): number {
  const m = /^(\d+)([KMG]?)(i?B)?$/i.exec(text.trim());
  if (!m) throw new CacheFlagError(`bad ${what} ${JSON.stringify(text)}: use a size like 64M, 512K or 0 (off)`);
  return checkCacheBytes(Number(m[1]) * UNITS[m[2]!.toUpperCase()]!, what);
}

export function parseCacheMode(text: string): CacheMode {
  if (text === 'write-back' || text === 'write-through') return text;
  throw new CacheFlagError(`bad --cache-mode ${JSON.stringify(text)}: use write-back or write-through`);
}

export function parseCachePolicy(text: string): PolicyName {
  const t = text.toLowerCase();
  if ((POLICY_NAMES as readonly string[]).includes(t)) return t as PolicyName;
  throw new CacheFlagError(`bad --cache-policy ${JSON.stringify(text)}: use ${POLICY_NAMES.join(', ')}`);
}

/** `on`, `off`, `on,128K`, or just a window (`128K`, meaning on). */
export function parseReadahead(text: string, current: ReadaheadSettings = defaultCacheConfig().readahead): ReadaheadSettings {
  const [state, window, ...rest] = text.split(',');
  if (rest.length > 0) throw new CacheFlagError(`bad --readahead ${JSON.stringify(text)}: use on|off[,WINDOW]`);
  let enabled: boolean;
  let windowText = window;
  if (state === 'on') enabled = true;
  else if (state === 'off') enabled = false;
  else if (state !== undefined && window === undefined && /^\d/.test(state)) {
    enabled = true;
    windowText = state;
  } else throw new CacheFlagError(`bad --readahead ${JSON.stringify(text)}: use on|off[,WINDOW], e.g. on,256K`);
  const windowBytes = windowText === undefined ? current.windowBytes : parseCacheSize(windowText, '--readahead window');
  if (enabled && windowBytes === 0) enabled = false;
  return { enabled, windowBytes };
}

/** Applies one of CACHE_FLAGS to `config` and returns the new config (`config` itself is left alone). */
export function applyCacheFlag(config: CacheConfig, flag: string, value: string): CacheConfig {
  const next: CacheConfig = { ...config, readahead: { ...config.readahead } };
  switch (flag) {
    case '--cache':
      next.sizeBytes = parseCacheSize(value);
      break;
    case '--cache-mode':
      next.mode = parseCacheMode(value);
      break;
    case '--cache-policy':
      next.policy = parseCachePolicy(value);
      break;
    case '--readahead':
      next.readahead = parseReadahead(value, config.readahead);
      break;
    case '--cache-flush-interval': {
      const ms = Number(value);
      if (!/^\d+$/.test(value) || ms > 3_600_000) throw new CacheFlagError(`bad --cache-flush-interval ${JSON.stringify(value)}: milliseconds, 0 to 3600000`);
      next.flushIntervalMs = ms;
      break;
    }
    default:
      throw new CacheFlagError(`not a cache flag: ${flag}`);
  }
  return next;
}

/** Parses every cache flag in `argv` (others are ignored): for tests and callers without their own loop. */
export function parseCacheArgs(argv: readonly string[]): CacheConfig {
  let config = defaultCacheConfig();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf('=');
    const flag = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
    if (!CACHE_FLAGS.includes(flag)) continue;
    const value = eq > 0 && arg.startsWith('--') ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined) throw new CacheFlagError(`${flag} needs a value`);
    config = applyCacheFlag(config, flag, value);
  }
  return config;
}

/**
 * Puts a cache in front of `store` when `config` asks for one (size > 0); returns the store to serve and the cache
 * (for stats, the map and POST /api/cache), or the store itself and undefined.
 */
export function withCache(store: BlockStore, config: CacheConfig | undefined, opts: { readOnly?: boolean } = {}): { store: BlockStore; cache?: BlockCache } {
  if (!config || config.sizeBytes <= 0) return { store };
  const cache = new BlockCache(store, {
    sizeBytes: config.sizeBytes,
    mode: config.mode,
    policy: config.policy,
    readahead: config.readahead,
    ...(config.flushIntervalMs !== undefined ? { flushIntervalMs: config.flushIntervalMs } : {}),
    readOnly: opts.readOnly ?? false,
  });
  return { store: cache, cache };
}
