/**
 * The block cache's public shapes: its options, its run-time settings, and what it reports (GET /api/stats'
 * `cache`, GET /api/cache/map). The class is in block-cache.ts, which re-exports these.
 */
import type { CacheMap, CacheModeName, CacheStats } from '../../../shared/api/cache.ts';
import type { PolicyName } from './policy.ts';

export type CacheMode = CacheModeName;

// What the cache reports (GET /api/stats' `cache`, GET /api/cache/map) is the API contract's: the UI reads the same types.
export type { CacheMap, CacheStats };

export interface ReadaheadSettings {
  enabled: boolean;
  /** How far ahead of a sequential stream to read, in bytes. */
  windowBytes: number;
}

export interface BlockCacheOptions {
  /** Limit on cached data bytes. 0: nothing is cached (every I/O passes through). */
  sizeBytes: number;
  /** Cache block size in bytes: a power of two, a multiple of the store's block size, at most 32 LBAs. Default 4096. */
  blockBytes?: number;
  policy?: PolicyName;
  mode?: CacheMode;
  readahead?: ReadaheadSettings;
  /** Background write-back period for dirty blocks (ms); 0: no timer (high-water mark, flush and close only). */
  flushIntervalMs?: number;
  /** Dirty bytes above this fraction of sizeBytes start a background write-back. */
  highWater?: number;
  /** Writes are refused (a read-only LUN). */
  readOnly?: boolean;
}

/** The counting part of CacheStats; resetStats() zeroes these. */
export interface CacheCounters {
  hits: number;
  misses: number;
  readaheadHits: number;
  evictions: number;
  /** Write-back rounds that reached the store (background, flush(), FUA, close). */
  flushes: number;
  /** Of misses: blocks that were partly cached. */
  partial: number;
  /** Cache blocks written back to the store. */
  writebacks: number;
  /** Cache blocks that bypassed a full cache on write. */
  bypasses: number;
  /** Cache blocks readahead fetched. */
  readaheadBlocks: number;
}

export interface CacheSettings {
  sizeBytes?: number;
  policy?: PolicyName;
  mode?: CacheMode;
  readahead?: Partial<ReadaheadSettings>;
}

export const DEFAULT_CACHE_BLOCK_BYTES = 4096;
export const DEFAULT_READAHEAD_WINDOW_BYTES = 256 * 1024;
