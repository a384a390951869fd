/**
 * The block cache's public shapes: its options, its run-time settings, and what it reports (GET /api/stats'
 * `cache`, GET /api/cache/map). The class is in block-cache.ts, which re-exports these.
 */
import type { PolicyName } from './policy.ts';

export type CacheMode = 'write-back' | 'write-through';

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

/** GET /api/stats' `cache`. hits, misses and readaheadHits count cache blocks; readaheadHits are part of hits. */
export interface CacheStats extends CacheCounters {
  policy: PolicyName;
  mode: CacheMode;
  sizeBytes: number;
  usedBytes: number;
  dirtyBytes: number;
  /** Cache block size in bytes (the unit of hits and misses). */
  blockBytes: number;
  readahead: ReadaheadSettings;
}

/** GET /api/cache/map: resident and dirty ranges, run-length encoded, at most `maxRanges` long. */
export interface CacheMap {
  policy: PolicyName;
  mode: CacheMode;
  blockBytes: number;
  /** LBA size in bytes; ranges are in LBAs. */
  lbaBytes: number;
  lunBlocks: number;
  /** True: each range is one run of same-state cache blocks. False: the LUN was cut in equal buckets. */
  exact: boolean;
  /** `cached`/`dirty`: how many cache blocks of the range are resident / dirty (or being written back). */
  ranges: { lba: number; blocks: number; cached: number; dirty: number }[];
}

export interface CacheSettings {
  sizeBytes?: number;
  policy?: PolicyName;
  mode?: CacheMode;
  readahead?: Partial<ReadaheadSettings>;
}

export const DEFAULT_CACHE_BLOCK_BYTES = 4096;
export const DEFAULT_READAHEAD_WINDOW_BYTES = 256 * 1024;
