/**
 * The block cache's routes (server/gateway/cache-routes.ts), one cache per LUN:
 * - GET /api/stats -> CacheStatsAnswer (`cache` null for a LUN served without one)
 * - GET /api/cache/map?lun=N[&max=R] -> CacheMapAnswer: resident and dirty ranges for the heat map
 * - POST /api/cache CacheChange -> CacheChangeAnswer: one LUN's cache (every LUN's without `lun`) changed at run time
 * - POST /api/cache/reset-stats {lun?} -> CacheChangeAnswer: counters zeroed, cached data kept
 * The store (server/store/cache/block-cache.ts) builds CacheStats and CacheMap; the UI shows them.
 */

export type CachePolicyName = 'lru' | '2q' | 'arc';
export type CacheModeName = 'write-back' | 'write-through';

/** One LUN's cache counters. hits, misses and readaheadHits count cache blocks; readaheadHits are part of hits. */
export interface CacheStats {
  readonly policy: CachePolicyName;
  readonly mode: CacheModeName;
  readonly sizeBytes: number;
  readonly usedBytes: number;
  readonly dirtyBytes: number;
  readonly hits: number;
  readonly misses: number;
  readonly readaheadHits: number;
  readonly evictions: number;
  /** Write-back rounds that reached the store (background, flush(), FUA, close). */
  readonly flushes: number;
  /** Cache block size in bytes (the unit of hits and misses). */
  readonly blockBytes: number;
  /** Of misses: blocks that were partly cached. */
  readonly partial: number;
  /** Cache blocks written back to the store. */
  readonly writebacks: number;
  /** Cache blocks that bypassed a full cache on write. */
  readonly bypasses: number;
  /** Cache blocks readahead fetched. */
  readonly readaheadBlocks: number;
  readonly readahead: { readonly enabled: boolean; readonly windowBytes: number };
}

/** `cached`/`dirty`: how many cache blocks of the range are resident / dirty (or being written back). */
export interface CacheMapRange {
  readonly lba: number;
  readonly blocks: number;
  readonly cached: number;
  readonly dirty: number;
}

/** Resident and dirty ranges of one cache, run-length encoded, in LBAs. */
export interface CacheMap {
  readonly policy: CachePolicyName;
  readonly mode: CacheModeName;
  readonly blockBytes: number;
  /** LBA size in bytes; ranges are in LBAs. */
  readonly lbaBytes: number;
  readonly lunBlocks: number;
  /** True: each range is one run of same-state cache blocks. False: the LUN was cut in equal buckets. */
  readonly exact: boolean;
  readonly ranges: readonly CacheMapRange[];
}

/** GET /api/cache/map answer: the map of one LUN. */
export interface CacheMapAnswer extends CacheMap {
  readonly lun: number;
}

/** GET /api/stats answer. */
export interface CacheStatsAnswer {
  readonly luns: readonly { readonly lun: number; readonly cache: CacheStats | null }[];
}

/**
 * POST /api/cache body: `size` as "64M" (or `sizeBytes` in bytes; the gateway also takes bytes in `size`), readahead
 * as "on,128K", a boolean or {enabled?, windowBytes?}.
 */
export interface CacheChange {
  readonly lun?: number;
  readonly policy?: CachePolicyName;
  readonly size?: string;
  readonly sizeBytes?: number;
  readonly mode?: CacheModeName;
  readonly readahead?: string | boolean | { readonly enabled?: boolean; readonly windowBytes?: number };
}

/** POST /api/cache/reset-stats body. */
export interface CacheResetRequest {
  readonly lun?: number;
}

/** POST /api/cache and POST /api/cache/reset-stats answer: the LUNs changed, with their new counters. */
export interface CacheChangeAnswer {
  readonly luns: readonly { readonly lun: number; readonly cache: CacheStats }[];
}

/** Ranges GET /api/cache/map returns at most (`max` may ask for fewer). */
export const MAX_CACHE_MAP_RANGES = 4096;
