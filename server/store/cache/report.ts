/**
 * What the cache tells the outside: the per-I/O trace report (outcome per LBA run and where the time went) and the
 * counters (GET /api/stats' `cache`) and the heat map of resident and dirty blocks (GET /api/cache/map).
 */
import type { CacheIoReport, CacheRangeOutcome } from '../types.ts';
import type { BlockTable } from './block-table.ts';
import type { CacheMapRange } from '../../../shared/api/cache.ts';
import type { CacheMap, CacheMode, CacheStats, ReadaheadSettings } from './types.ts';

/** Ranges one trace report carries. */
const MAX_REPORT_RANGES = 64;
export const DEFAULT_MAP_RANGES = 1024;

export class ReportBuilder {
  readonly ranges: { lba: number; blocks: number; outcome: CacheRangeOutcome }[] = [];
  truncated = false;
  readonly start = performance.now();
  storeReadMs = 0;
  storeWriteMs = 0;
  flushMs = 0;

  add(lba: number, blocks: number, outcome: CacheRangeOutcome): void {
    const last = this.ranges[this.ranges.length - 1];
    if (last && last.outcome === outcome && last.lba + last.blocks === lba) last.blocks += blocks;
    else if (this.ranges.length < MAX_REPORT_RANGES) this.ranges.push({ lba, blocks, outcome });
    else this.truncated = true;
  }

  finish(policy: string, mode: CacheMode): CacheIoReport {
    const total = performance.now() - this.start;
    return {
      policy,
      mode,
      ranges: this.ranges,
      ...(this.truncated ? { truncated: true } : {}),
      lookupMs: Math.max(0, total - this.storeReadMs - this.storeWriteMs - this.flushMs),
      storeReadMs: this.storeReadMs,
      storeWriteMs: this.storeWriteMs,
      flushMs: this.flushMs,
    };
  }
}

/** Runs `op`, adding its time to `field` of the report when there is one. */
export async function timed<T>(report: ReportBuilder | undefined, field: 'storeReadMs' | 'storeWriteMs' | 'flushMs', op: () => Promise<T>): Promise<T> {
  if (!report) return op();
  const t = performance.now();
  try {
    return await op();
  } finally {
    report[field] += performance.now() - t;
  }
}

/** The cache's counters and occupancy now. */
export function cacheStats(table: BlockTable, mode: CacheMode, readahead: ReadaheadSettings): CacheStats {
  return {
    policy: table.policy.name,
    mode,
    sizeBytes: table.sizeBytes,
    usedBytes: table.usedBytes,
    dirtyBytes: table.dirtySectors * table.blockSize,
    ...table.counters,
    blockBytes: table.blockBytes,
    readahead: { ...readahead },
  };
}

/** Resident and dirty block ranges of `table` for a heat map, at most `maxRanges` of them. */
export function cacheMap(table: BlockTable, mode: CacheMode, maxRanges: number): CacheMap {
  const { entries, spb, blockCount } = table;
  const keys = [...entries.keys()].sort((a, b) => a - b);
  const isDirty = (k: number): boolean => {
    const e = entries.get(k)!;
    return (e.dirty | e.flushing) !== 0;
  };
  const base = { policy: table.policy.name, mode, blockBytes: table.blockBytes, lbaBytes: table.blockSize, lunBlocks: blockCount };
  const runs: { -readonly [K in keyof CacheMapRange]: CacheMapRange[K] }[] = [];
  let prevKey = -2;
  let prevDirty = false;
  for (const k of keys) {
    const d = isDirty(k);
    const last = runs[runs.length - 1];
    if (last && k === prevKey + 1 && d === prevDirty) {
      last.cached++;
      last.blocks = Math.min((k + 1) * spb, blockCount) - last.lba;
      if (d) last.dirty++;
    } else {
      runs.push({ lba: k * spb, blocks: table.sectorsIn(k), cached: 1, dirty: d ? 1 : 0 });
    }
    prevKey = k;
    prevDirty = d;
  }
  if (runs.length <= maxRanges) return { ...base, exact: true, ranges: runs };
  // Too many runs: equal buckets of cache blocks, only the non-empty ones.
  const bucketKeys = Math.ceil(table.keyCount / Math.max(1, maxRanges));
  const buckets = new Map<number, { cached: number; dirty: number }>();
  for (const k of keys) {
    const b = Math.floor(k / bucketKeys);
    let v = buckets.get(b);
    if (!v) buckets.set(b, (v = { cached: 0, dirty: 0 }));
    v.cached++;
    if (isDirty(k)) v.dirty++;
  }
  const ranges = [...buckets.entries()].map(([b, v]) => {
    const lba = b * bucketKeys * spb;
    return { lba, blocks: Math.min(bucketKeys * spb, blockCount - lba), ...v };
  });
  return { ...base, exact: false, ranges };
}
