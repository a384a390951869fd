/**
 * The block cache: "cache scheduling" between the SCSI layer and the file store. A BlockStore wrapping a BlockStore.
 *
 * Data: fixed-size cache blocks (default 4 KiB = 8 LBAs of 512 bytes), each with a bitmask of valid sectors (LBAs)
 * and of dirty sectors, so a write of part of a cache block never needs a read first. Memory: the data bytes of
 * resident blocks never exceed the size limit; room is made (a clean block evicted) before a block is inserted, and
 * when every resident block is dirty or being written back, a read is served without caching and a write goes
 * straight to the store ("bypass") while a background write-back starts.
 *
 * Modes: write-through (the store has every write before it completes; resident blocks are updated in place) and
 * write-back (writes complete into the cache and become dirty; written back by a timer, when dirty bytes pass the
 * high-water mark, by flush(), before a FUA write completes, and by close()). FUA and flush() end in the store's
 * flush (fdatasync).
 *
 * Coherence rules (readers never see stale data):
 * 1. A dirty block, or one being written back, is never evicted: its newest data exists only here until the
 *    store write completes.
 * 2. Store writes of overlapping cache blocks happen in the order they were issued (a RangeLock over cache-block
 *    numbers), and a write-back snapshots the block's bytes after it holds the lock, so an older write can never land
 *    on top of a newer one.
 * 3. A read miss ("fill") installs what it read only if no store write and no cache write touched its blocks while
 *    it was in flight: every mutation marks overlapping in-flight fills stale, at its start and at its end.
 * 4. UNMAP drops the unmapped sectors (dirty ones included) from the cache before the store zeroes them.
 */
import { RangeLock } from '../range-lock.ts';
import type { BlockStore, CacheIoReport, CacheRangeOutcome, IoTrace, WriteCacheControl } from '../types.ts';
import { createPolicy, type PolicyName, type ReplacementPolicy } from './policy.ts';
import { SequentialDetector, type PrefetchRange } from './readahead.ts';
import type { CacheMap, CacheMapRange, CacheModeName, CacheStats } from '../../../shared/api/cache.ts';

export type CacheMode = CacheModeName;

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

// What the cache reports (GET /api/stats' `cache`, GET /api/cache/map) is the API contract's: the UI reads the same types.
export type { CacheMap, CacheStats };

export interface CacheSettings {
  sizeBytes?: number;
  policy?: PolicyName;
  mode?: CacheMode;
  readahead?: Partial<ReadaheadSettings>;
}

interface Entry {
  data: Uint8Array;
  /** Sectors (LBAs within the block) holding data. */
  valid: number;
  /** Sectors newer here than in the store. */
  dirty: number;
  /** Sectors a write-back is writing to the store right now. */
  flushing: number;
  /** Brought in by readahead and not read since. */
  prefetched: boolean;
}

/** A store read in flight whose result may be installed. */
interface Fill {
  readonly first: number;
  readonly last: number;
  readonly stale: Uint8Array;
}

/** A store write (or unmap) in flight, in cache-block numbers. */
interface Mutation {
  readonly first: number;
  readonly last: number;
}

export const DEFAULT_CACHE_BLOCK_BYTES = 4096;
/** Evicted block buffers kept for reuse (at 4 KiB blocks: 4 MiB). */
const SPARE_BUFFERS = 1024;
export const DEFAULT_READAHEAD_WINDOW_BYTES = 256 * 1024;
const DEFAULT_FLUSH_INTERVAL_MS = 1000;
const DEFAULT_HIGH_WATER = 0.5;
/** Sector bitmasks are 32-bit integers. */
const MAX_SECTORS_PER_BLOCK = 32;
/** Readahead never asks for more than this share of the cache at once. */
const READAHEAD_MAX_SHARE = 0.25;
/** Ranges one trace report carries. */
const MAX_REPORT_RANGES = 64;
const DEFAULT_MAP_RANGES = 1024;

function maskOf(from: number, count: number): number {
  return count >= MAX_SECTORS_PER_BLOCK ? -1 : ((1 << count) - 1) << from;
}

function popcount(x: number): number {
  x = x - ((x >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (((x + (x >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

class ReportBuilder {
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

async function timed<T>(report: ReportBuilder | undefined, field: 'storeReadMs' | 'storeWriteMs' | 'flushMs', op: () => Promise<T>): Promise<T> {
  if (!report) return op();
  const t = performance.now();
  try {
    return await op();
  } finally {
    report[field] += performance.now() - t;
  }
}

export class BlockCache implements BlockStore, WriteCacheControl {
  readonly blockSize: number;
  /** Grows with grow(). */
  blockCount: number;
  /** Cache block size in bytes. */
  readonly blockBytes: number;
  /** LBAs per cache block. */
  private readonly spb: number;
  private keyCount: number;
  private sizeBytes: number;
  private capacity: number;
  private policy: ReplacementPolicy;
  private mode: CacheMode;
  private readonly readahead: ReadaheadSettings;
  private readonly detector: SequentialDetector;
  private readonly highWater: number;
  private readonly readOnly: boolean;

  private readonly entries = new Map<number, Entry>();
  /** Keys with dirty sectors, in the order they first became dirty. */
  private readonly dirtyKeys = new Set<number>();
  private usedBytes = 0;
  private dirtySectors = 0;
  private readonly fills = new Set<Fill>();
  private readonly mutations = new Set<Mutation>();
  /** Store reads in flight by cache block: concurrent misses of one block wait for one read. */
  private readonly fillsInFlight = new Map<number, Promise<unknown>>();
  /** Store writes in flight (write-back, write-through, bypass, unmap). */
  private readonly storeWrites = new Set<Promise<unknown>>();
  /** Write-backs of dirty blocks in flight: flush() waits for them. */
  private readonly writeBacks = new Set<Promise<unknown>>();
  /** Orders store writes per cache block (rule 2); units are cache-block numbers. */
  private readonly lock = new RangeLock();
  private background: Promise<void> | null = null;
  private readonly timer: NodeJS.Timeout | undefined;
  private closing = false;
  private closed = false;
  private readonly spare: Uint8Array[] = [];
  private readonly counters = { hits: 0, misses: 0, readaheadHits: 0, evictions: 0, flushes: 0, partial: 0, writebacks: 0, bypasses: 0, readaheadBlocks: 0 };

  constructor(
    private readonly inner: BlockStore,
    opts: BlockCacheOptions,
  ) {
    this.blockSize = inner.blockSize;
    this.blockCount = inner.blockCount;
    const blockBytes = Math.max(opts.blockBytes ?? DEFAULT_CACHE_BLOCK_BYTES, inner.blockSize);
    if ((blockBytes & (blockBytes - 1)) !== 0 || blockBytes % inner.blockSize !== 0 || blockBytes / inner.blockSize > MAX_SECTORS_PER_BLOCK) {
      throw new Error(`cache block size ${blockBytes}: a power of two, a multiple of ${inner.blockSize}, at most ${MAX_SECTORS_PER_BLOCK} LBAs`);
    }
    this.blockBytes = blockBytes;
    this.spb = blockBytes / inner.blockSize;
    this.keyCount = Math.ceil(inner.blockCount / this.spb);
    this.sizeBytes = Math.max(0, Math.floor(opts.sizeBytes));
    this.capacity = Math.floor(this.sizeBytes / blockBytes);
    this.policy = createPolicy(opts.policy ?? 'lru', this.capacity);
    this.mode = opts.mode ?? 'write-back';
    this.readahead = { enabled: opts.readahead?.enabled ?? true, windowBytes: opts.readahead?.windowBytes ?? DEFAULT_READAHEAD_WINDOW_BYTES };
    this.detector = new SequentialDetector(this.readaheadWindowBlocks(), inner.blockCount);
    this.highWater = opts.highWater ?? DEFAULT_HIGH_WATER;
    this.readOnly = opts.readOnly ?? false;
    const interval = opts.flushIntervalMs ?? DEFAULT_FLUSH_INTERVAL_MS;
    if (interval > 0) {
      this.timer = setInterval(() => this.kick(), interval);
      this.timer.unref();
    }
  }

  get thin(): boolean {
    return this.inner.thin;
  }

  /** This cache is the LU's volatile write cache: MODE SENSE's WCE shows `writeBack`, MODE SELECT sets it. */
  get writeCache(): WriteCacheControl {
    return this;
  }

  get writeBack(): boolean {
    return this.mode === 'write-back';
  }

  async setWriteBack(on: boolean): Promise<void> {
    this.mode = on ? 'write-back' : 'write-through';
    // From now on writes go through; what is dirty from before goes to stable storage now.
    if (!on) await this.flush();
  }

  // ---- BlockStore -----------------------------------------------------------------------------------------------

  async read(lba: number, blocks: number, trace?: IoTrace): Promise<Uint8Array> {
    this.checkRange(lba, blocks);
    this.checkOpen();
    const report = trace ? new ReportBuilder() : undefined;
    const out = Buffer.allocUnsafe(blocks * this.blockSize);
    if (blocks > 0) await this.readInto(out, lba, blocks, report);
    if (trace && report) trace.cache = report.finish(this.policy.name, this.mode);
    return out;
  }

  async write(lba: number, data: Uint8Array, fua: boolean, trace?: IoTrace): Promise<void> {
    this.checkWritable();
    if (data.length % this.blockSize !== 0) throw new Error(`write of ${data.length} bytes: not whole blocks`);
    const blocks = data.length / this.blockSize;
    this.checkRange(lba, blocks);
    const report = trace ? new ReportBuilder() : undefined;
    if (blocks > 0) {
      if (this.mode === 'write-through') await this.writeThrough(lba, blocks, data, fua, report);
      else await this.writeBackMode(lba, blocks, data, fua, report);
    }
    if (trace && report) trace.cache = report.finish(this.policy.name, this.mode);
  }

  /** Makes every write that completed before this call durable: writes back all dirty blocks, then fdatasync. */
  async flush(trace?: IoTrace): Promise<void> {
    if (this.closed) return;
    const report = trace ? new ReportBuilder() : undefined;
    await timed(report, 'storeWriteMs', async () => {
      // Taken in the same instant: every write that completed before this call is either dirty now or in a
      // write-back already in flight (which cleared its dirty bits). Wait for those, write back these.
      const inFlight = [...this.writeBacks];
      const dirty = [...this.dirtyKeys];
      const settled = await Promise.allSettled(inFlight);
      await this.writeBackKeys(dirty);
      const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      // A failed write-back put its blocks back to dirty; they may not be among `dirty`: this flush failed.
      if (failed) throw failed.reason;
    });
    await timed(report, 'flushMs', () => this.inner.flush());
    if (trace && report) trace.cache = report.finish(this.policy.name, this.mode);
  }

  async unmap(lba: number, blocks: number, trace?: IoTrace): Promise<void> {
    this.checkWritable();
    this.checkRange(lba, blocks);
    const report = trace ? new ReportBuilder() : undefined;
    if (blocks > 0) {
      const k0 = this.keyOf(lba);
      const k1 = this.keyOf(lba + blocks - 1);
      // Rule 4: the sectors leave the cache first, dirty or not; the store then zeroes them.
      const keys = k1 - k0 + 1 > this.entries.size ? [...this.entries.keys()].filter((k) => k >= k0 && k <= k1) : null;
      const drop = (k: number): void => {
        const e = this.entries.get(k);
        if (!e) return;
        const base = k * this.spb;
        const from = Math.max(lba, base) - base;
        const to = Math.min(lba + blocks, base + this.sectorsIn(k)) - base;
        const m = maskOf(from, to - from);
        this.clearDirty(k, e, e.dirty & m);
        e.valid &= ~m;
        e.prefetched = false;
        if (e.valid === 0 && e.flushing === 0) this.removeEntry(k);
      };
      if (keys) keys.forEach(drop);
      else for (let k = k0; k <= k1; k++) drop(k);
      await timed(report, 'storeWriteMs', () => this.storeMutation(k0, k1, () => this.inner.unmap(lba, blocks)));
    }
    if (trace && report) trace.cache = report.finish(this.policy.name, this.mode);
  }

  async mapping(lba: number, maxBlocks: number): Promise<{ mapped: boolean; blocks: number }> {
    if (this.inner.thin && this.dirtyKeys.size > 0) {
      // Dirty blocks are mapped as far as the initiator knows: write them back so the allocation map agrees.
      const k0 = this.keyOf(lba);
      const k1 = this.keyOf(Math.min(this.blockCount, lba + Math.max(1, maxBlocks)) - 1);
      const keys = [...this.dirtyKeys].filter((k) => k >= k0 && k <= k1);
      if (keys.length > 0) await this.writeBackKeys(keys);
      // ...and wait for write-backs of the range already in flight.
      (await this.lock.acquire(k0, k1 - k0 + 1))();
    }
    return this.inner.mapping(lba, maxBlocks);
  }

  /** Writes everything back, syncs and closes the store below (SIGTERM path: ScsiTarget.close()). */
  async close(): Promise<void> {
    if (this.closed || this.closing) return;
    this.closing = true;
    clearInterval(this.timer);
    try {
      await Promise.allSettled([...new Set(this.fillsInFlight.values())]);
      await this.flush();
    } finally {
      this.closed = true;
      await this.inner.close();
    }
  }

  // ---- control and visibility ----------------------------------------------------------------------------------

  stats(): CacheStats {
    return {
      policy: this.policy.name,
      mode: this.mode,
      sizeBytes: this.sizeBytes,
      usedBytes: this.usedBytes,
      dirtyBytes: this.dirtySectors * this.blockSize,
      ...this.counters,
      blockBytes: this.blockBytes,
      readahead: { ...this.readahead },
    };
  }

  /**
   * Zeroes the counters (hits, misses, evictions, write-backs...), not the cache's contents: a class demo of one
   * miss then one hit starts from 0 instead of drowning in the counts of everything before it.
   */
  resetStats(): CacheStats {
    for (const k of Object.keys(this.counters) as (keyof typeof this.counters)[]) this.counters[k] = 0;
    return this.stats();
  }

  /**
   * Grows the LUN under the cache. Every cached block keeps its place and data; only new keys are added at the end.
   * A LUN whose last cache block is partial is refused: that block's buffer is sized to the old end (sectorsIn), and
   * re-shaping it while fills and write-backs may be in flight is not worth the risk for a size nobody uses.
   */
  async grow(blockCount: number): Promise<void> {
    if (!this.inner.grow) throw new Error('the store under this cache cannot grow');
    if (this.blockCount % this.spb !== 0) {
      throw new Error(`the LUN's size is not a multiple of the cache block (${this.blockBytes} bytes): its last cache block is partial, resize refused`);
    }
    await this.inner.grow(blockCount);
    this.blockCount = this.inner.blockCount;
    this.keyCount = Math.ceil(this.blockCount / this.spb);
    this.detector.limitBlocks = this.blockCount;
  }

  /** Changes policy, size, mode and readahead at run time; dirty data is kept (and written back if it must go). */
  async configure(s: CacheSettings): Promise<CacheStats> {
    if (s.policy && s.policy !== this.policy.name) {
      const keys = this.policy.keys();
      const next = createPolicy(s.policy, this.capacity);
      for (const k of keys) next.insert(k, false);
      this.policy = next;
    }
    if (s.readahead) {
      if (s.readahead.enabled !== undefined) this.readahead.enabled = s.readahead.enabled;
      if (s.readahead.windowBytes !== undefined) this.readahead.windowBytes = s.readahead.windowBytes;
      this.detector.windowBlocks = this.readaheadWindowBlocks();
    }
    if (s.sizeBytes !== undefined && s.sizeBytes !== this.sizeBytes) {
      this.sizeBytes = Math.max(0, Math.floor(s.sizeBytes));
      this.capacity = Math.floor(this.sizeBytes / this.blockBytes);
      this.policy.resize(this.capacity);
      this.detector.windowBlocks = this.readaheadWindowBlocks();
      this.shrink();
      if (this.entries.size > this.capacity) {
        // Dirty blocks over the new limit (or being written back): write them back, then they can go.
        await Promise.allSettled([...this.storeWrites]);
        await this.writeBackKeys([...this.dirtyKeys]);
        this.shrink();
      }
    }
    if (s.mode && s.mode !== this.mode) await this.setWriteBack(s.mode === 'write-back');
    return this.stats();
  }

  /** Resident and dirty block ranges for a heat map, at most `maxRanges` of them. */
  map(maxRanges = DEFAULT_MAP_RANGES): CacheMap {
    const keys = [...this.entries.keys()].sort((a, b) => a - b);
    const isDirty = (k: number): boolean => {
      const e = this.entries.get(k)!;
      return (e.dirty | e.flushing) !== 0;
    };
    const base = { policy: this.policy.name, mode: this.mode, blockBytes: this.blockBytes, lbaBytes: this.blockSize, lunBlocks: this.blockCount };
    const runs: { -readonly [K in keyof CacheMapRange]: CacheMapRange[K] }[] = [];
    let prevKey = -2;
    let prevDirty = false;
    for (const k of keys) {
      const d = isDirty(k);
      const last = runs[runs.length - 1];
      if (last && k === prevKey + 1 && d === prevDirty) {
        last.cached++;
        last.blocks = Math.min((k + 1) * this.spb, this.blockCount) - last.lba;
        if (d) last.dirty++;
      } else {
        runs.push({ lba: k * this.spb, blocks: this.sectorsIn(k), cached: 1, dirty: d ? 1 : 0 });
      }
      prevKey = k;
      prevDirty = d;
    }
    if (runs.length <= maxRanges) return { ...base, exact: true, ranges: runs };
    // Too many runs: equal buckets of cache blocks, only the non-empty ones.
    const bucketKeys = Math.ceil(this.keyCount / Math.max(1, maxRanges));
    const buckets = new Map<number, { cached: number; dirty: number }>();
    for (const k of keys) {
      const b = Math.floor(k / bucketKeys);
      let v = buckets.get(b);
      if (!v) buckets.set(b, (v = { cached: 0, dirty: 0 }));
      v.cached++;
      if (isDirty(k)) v.dirty++;
    }
    const ranges = [...buckets.entries()].map(([b, v]) => {
      const lba = b * bucketKeys * this.spb;
      return { lba, blocks: Math.min(bucketKeys * this.spb, this.blockCount - lba), ...v };
    });
    return { ...base, exact: false, ranges };
  }

  /** Starts a background write-back of every dirty block unless one is running. */
  kick(): void {
    if (this.background || this.dirtyKeys.size === 0 || this.closing) return;
    this.background = this.writeBackKeys([...this.dirtyKeys])
      .catch((err: unknown) => process.emitWarning(`block cache: background write-back failed: ${String(err)}`))
      .finally(() => {
        this.background = null;
      });
  }

  // ---- read path --------------------------------------------------------------------------------------------------

  private async readInto(out: Uint8Array, lba: number, blocks: number, report: ReportBuilder | undefined): Promise<void> {
    const bs = this.blockSize;
    const k0 = this.keyOf(lba);
    const k1 = this.keyOf(lba + blocks - 1);
    // Blocks another read is fetching right now (a readahead, a concurrent miss): wait for that one read.
    if (this.fillsInFlight.size > 0) {
      const waits = new Set<Promise<unknown>>();
      for (let k = k0; k <= k1; k++) {
        const p = this.entries.has(k) ? undefined : this.fillsInFlight.get(k);
        if (p) waits.add(p);
      }
      if (waits.size > 0) await timed(report, 'storeReadMs', () => Promise.allSettled(waits));
    }
    const missKeys: number[] = [];
    const missNeed: number[] = [];
    for (let k = k0; k <= k1; k++) {
      const base = k * this.spb;
      const from = Math.max(lba, base) - base;
      const to = Math.min(lba + blocks, base + this.sectorsIn(k)) - base;
      const need = maskOf(from, to - from);
      const e = this.entries.get(k);
      if (e && (e.valid & need) === need) {
        out.set(e.data.subarray(from * bs, to * bs), (base + from - lba) * bs);
        this.counters.hits++;
        this.policy.hit(k);
        let outcome: CacheRangeOutcome = 'hit';
        if (e.prefetched) {
          e.prefetched = false;
          this.counters.readaheadHits++;
          outcome = 'readahead-hit';
        }
        report?.add(base + from, to - from, outcome);
        continue;
      }
      this.counters.misses++;
      if (e) {
        // Partly cached: take the cached sectors now (they may be newer than the store), the rest comes from the store.
        this.counters.partial++;
        this.copySectors(e.data, e.valid & need, from, to, out, (base - lba) * bs);
        e.prefetched = false;
        this.policy.hit(k);
      }
      missKeys.push(k);
      missNeed.push(e ? need & ~e.valid : need);
      report?.add(base + from, to - from, e ? 'partial' : 'miss');
    }
    const ahead = this.readahead.enabled && this.capacity > 0 ? this.detector.observe(lba, blocks) : undefined;
    if (ahead) this.prefetch(ahead);
    if (missKeys.length === 0) return;
    // One store read per run of consecutive missing cache blocks.
    const reads: Promise<void>[] = [];
    for (let i = 0; i < missKeys.length; ) {
      let j = i;
      while (j + 1 < missKeys.length && missKeys[j + 1] === missKeys[j]! + 1) j++;
      const first = missKeys[i]!;
      const runStart = i;
      const runEnd = j;
      reads.push(
        this.fill(first, missKeys[j]!, false).then((data) => {
          for (let m = runStart; m <= runEnd; m++) {
            const k = missKeys[m]!;
            const base = k * this.spb;
            const from = Math.max(lba, base) - base;
            const to = Math.min(lba + blocks, base + this.sectorsIn(k)) - base;
            const src = data.subarray((k - first) * this.blockBytes, (k - first) * this.blockBytes + this.sectorsIn(k) * bs);
            this.copySectors(src, missNeed[m]!, from, to, out, (base - lba) * bs);
          }
        }),
      );
      i = j + 1;
    }
    await timed(report, 'storeReadMs', () => Promise.all(reads));
  }

  /** Copies the sectors of `mask` within [from, to) of a cache block's bytes into `out` at `outBase` + sector offset. */
  private copySectors(src: Uint8Array, mask: number, from: number, to: number, out: Uint8Array, outBase: number): void {
    const bs = this.blockSize;
    for (let s = from; s < to; ) {
      if (((mask >>> s) & 1) === 0) {
        s++;
        continue;
      }
      let e = s + 1;
      while (e < to && ((mask >>> e) & 1) !== 0) e++;
      out.set(src.subarray(s * bs, e * bs), outBase + s * bs);
      s = e;
    }
  }

  /** Reads cache blocks [first, last] from the store and installs them unless a mutation made the read stale. */
  private fill(first: number, last: number, prefetch: boolean): Promise<Uint8Array> {
    const fill: Fill = { first, last, stale: new Uint8Array(last - first + 1) };
    for (const m of this.mutations) this.markStale(fill, m.first, m.last);
    this.fills.add(fill);
    const lbaStart = first * this.spb;
    const lbaEnd = Math.min(this.blockCount, (last + 1) * this.spb);
    const p = (async () => {
      let data: Uint8Array;
      try {
        data = await this.inner.read(lbaStart, lbaEnd - lbaStart);
      } finally {
        this.fills.delete(fill);
      }
      if (!this.closing) {
        for (let k = first; k <= last; k++) {
          if (fill.stale[k - first]) continue;
          const off = (k - first) * this.blockBytes;
          this.install(k, data.subarray(off, off + this.sectorsIn(k) * this.blockSize), prefetch);
        }
      }
      return data;
    })();
    for (let k = first; k <= last; k++) this.fillsInFlight.set(k, p);
    const forget = (): void => {
      for (let k = first; k <= last; k++) if (this.fillsInFlight.get(k) === p) this.fillsInFlight.delete(k);
    };
    p.then(forget, forget);
    return p;
  }

  private install(k: number, src: Uint8Array, prefetch: boolean): void {
    const full = maskOf(0, this.sectorsIn(k));
    const e = this.entries.get(k);
    if (e) {
      // Only the sectors the entry lacks: what it has is at least as new as the store.
      this.copySectors(src, full & ~e.valid, 0, this.sectorsIn(k), e.data, 0);
      e.valid = full;
      return;
    }
    if (!this.makeRoom()) return;
    const data = this.takeBuffer(src.length, false);
    data.set(src);
    this.addEntry(k, { data, valid: full, dirty: 0, flushing: 0, prefetched: prefetch }, prefetch);
  }

  private prefetch(r: PrefetchRange): void {
    const maxKeys = Math.max(1, Math.floor(this.capacity * READAHEAD_MAX_SHARE));
    const k0 = this.keyOf(r.lba);
    const k1 = Math.min(this.keyOf(r.lba + r.blocks - 1), k0 + maxKeys - 1);
    let runStart = -1;
    const flush = (end: number): void => {
      if (runStart < 0) return;
      this.counters.readaheadBlocks += end - runStart + 1;
      this.fill(runStart, end, true).catch(() => undefined); // a failed readahead is just not cached
      runStart = -1;
    };
    for (let k = k0; k <= k1; k++) {
      const absent = !this.entries.has(k) && !this.fillsInFlight.has(k);
      if (absent && runStart < 0) runStart = k;
      if (!absent) flush(k - 1);
    }
    flush(k1);
  }

  // ---- write path -------------------------------------------------------------------------------------------------

  private async writeThrough(lba: number, blocks: number, data: Uint8Array, fua: boolean, report: ReportBuilder | undefined): Promise<void> {
    const k0 = this.keyOf(lba);
    const k1 = this.keyOf(lba + blocks - 1);
    this.forEachBlock(lba, blocks, (k, from, to, dataOff) => {
      // Write-allocate whole blocks only (a partial one would hold a hole, the store has the rest).
      this.copyIntoCache(k, from, to, data, dataOff, to - from === this.sectorsIn(k), report);
    });
    this.markStaleAll(k0, k1);
    try {
      await timed(report, 'storeWriteMs', () => this.storeMutation(k0, k1, () => this.inner.write(lba, data, fua)));
    } catch (err) {
      // The store does not have what the cache now holds: forget the clean copies.
      for (let k = k0; k <= k1; k++) {
        const e = this.entries.get(k);
        if (e && e.dirty === 0 && e.flushing === 0) this.removeEntry(k);
      }
      throw err;
    }
  }

  private async writeBackMode(lba: number, blocks: number, data: Uint8Array, fua: boolean, report: ReportBuilder | undefined): Promise<void> {
    const k0 = this.keyOf(lba);
    const k1 = this.keyOf(lba + blocks - 1);
    const bypass: { k: number; from: number; to: number; dataOff: number }[] = [];
    this.forEachBlock(lba, blocks, (k, from, to, dataOff) => {
      // Any block may be allocated: its dirty sectors are what the store lacks (write-back keeps only those).
      const e = this.copyIntoCache(k, from, to, data, dataOff, true, report);
      if (!e) {
        bypass.push({ k, from, to, dataOff });
        return;
      }
      const m = maskOf(from, to - from);
      const fresh = m & ~e.dirty;
      e.dirty |= m;
      this.dirtySectors += popcount(fresh);
      this.dirtyKeys.add(k);
    });
    this.markStaleAll(k0, k1);
    if (bypass.length > 0) {
      this.counters.bypasses += bypass.length;
      this.kick(); // make clean room for the next writes
      const writes: Promise<void>[] = [];
      for (let i = 0; i < bypass.length; ) {
        let j = i;
        while (j + 1 < bypass.length && bypass[j + 1]!.k === bypass[j]!.k + 1) j++;
        const a = bypass[i]!;
        const b = bypass[j]!;
        const bytes = data.subarray(a.dataOff, b.dataOff + (b.to - b.from) * this.blockSize);
        const at = a.k * this.spb + a.from;
        writes.push(this.storeMutation(a.k, b.k, () => this.inner.write(at, bytes, false)));
        i = j + 1;
      }
      await timed(report, 'storeWriteMs', () => Promise.all(writes));
    }
    if (fua) {
      // FUA (SBC-3 5.x): this write's blocks on stable storage before we complete.
      const keys: number[] = [];
      for (let k = k0; k <= k1; k++) keys.push(k);
      await timed(report, 'storeWriteMs', () => this.writeBackKeys(keys));
      await timed(report, 'flushMs', () => this.inner.flush());
    } else if (this.dirtySectors * this.blockSize > this.highWater * this.sizeBytes) {
      this.kick();
    }
  }

  /**
   * Puts sectors [from, to) of cache block k from `data` into the cache: into its entry if there is one, else into a
   * new entry when `allocate` and there is free or clean room. Returns the entry, or undefined when the sectors
   * bypass the cache (reported as such).
   */
  private copyIntoCache(k: number, from: number, to: number, data: Uint8Array, dataOff: number, allocate: boolean, report: ReportBuilder | undefined): Entry | undefined {
    let e = this.entries.get(k);
    if (!e) {
      if (!allocate || !this.makeRoom()) {
        report?.add(k * this.spb + from, to - from, 'bypass');
        return undefined;
      }
      e = this.newEntry(k);
      report?.add(k * this.spb + from, to - from, 'write-allocate');
    } else {
      this.policy.hit(k);
      report?.add(k * this.spb + from, to - from, 'write-hit');
    }
    e.data.set(data.subarray(dataOff, dataOff + (to - from) * this.blockSize), from * this.blockSize);
    e.valid |= maskOf(from, to - from);
    e.prefetched = false;
    return e;
  }

  /** Calls `fn` per cache block of [lba, lba + blocks) with its sector range and the offset into the I/O's bytes. */
  private forEachBlock(lba: number, blocks: number, fn: (k: number, from: number, to: number, dataOff: number) => void): void {
    const k0 = this.keyOf(lba);
    const k1 = this.keyOf(lba + blocks - 1);
    for (let k = k0; k <= k1; k++) {
      const base = k * this.spb;
      const from = Math.max(lba, base) - base;
      const to = Math.min(lba + blocks, base + this.sectorsIn(k)) - base;
      fn(k, from, to, (base + from - lba) * this.blockSize);
    }
  }

  /**
   * Writes back the dirty sectors of `keys` (any order, duplicates fine). Each run of consecutive blocks holds the
   * lock for its blocks, so it also waits for write-backs of them already in flight (rule 2).
   */
  private async writeBackKeys(keys: number[]): Promise<void> {
    if (keys.length === 0) return;
    const sorted = [...new Set(keys)].sort((a, b) => a - b);
    const runs: Promise<void>[] = [];
    for (let i = 0; i < sorted.length; ) {
      let j = i;
      while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
      runs.push(this.writeBackRun(sorted[i]!, sorted[j]!));
      i = j + 1;
    }
    const results = await Promise.allSettled(runs);
    this.counters.flushes++;
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  private writeBackRun(first: number, last: number): Promise<void> {
    const p = this.storeMutation(first, last, () => this.writeBackLocked(first, last));
    this.writeBacks.add(p);
    const done = (): void => {
      this.writeBacks.delete(p);
    };
    p.then(done, done);
    return p;
  }

  /** The body of a write-back of cache blocks [first, last], run holding their lock. */
  private async writeBackLocked(first: number, last: number): Promise<void> {
    {
      // Snapshot after the lock: the newest bytes, copied (a later write may change the entry during the pwrite).
      const bs = this.blockSize;
      const taken: { k: number; e: Entry; d: number }[] = [];
      const segments: { lba: number; parts: Uint8Array[] }[] = [];
      let seg: { lba: number; parts: Uint8Array[] } | undefined;
      let segEnd = -1;
      for (let k = first; k <= last; k++) {
        const e = this.entries.get(k);
        if (!e || e.dirty === 0) continue;
        const d = e.dirty;
        this.clearDirty(k, e, d);
        e.flushing |= d;
        taken.push({ k, e, d });
        for (let s = 0; s < this.sectorsIn(k); s++) {
          if (((d >>> s) & 1) === 0) continue;
          const at = k * this.spb + s;
          if (!seg || segEnd !== at) {
            seg = { lba: at, parts: [] };
            segments.push(seg);
          }
          seg.parts.push(e.data.subarray(s * bs, (s + 1) * bs));
          segEnd = at + 1;
        }
      }
      if (taken.length === 0) return;
      const buffers = segments.map((s) => ({ lba: s.lba, data: Buffer.concat(s.parts) }));
      try {
        for (const b of buffers) await this.inner.write(b.lba, b.data, false);
        this.counters.writebacks += taken.length;
      } catch (err) {
        // Still dirty (unless UNMAP dropped the sectors or the block left meanwhile).
        for (const { k, e, d } of taken) {
          if (this.entries.get(k) !== e) continue;
          const back = d & e.valid & ~e.dirty;
          e.dirty |= back;
          this.dirtySectors += popcount(back);
          if (e.dirty) this.dirtyKeys.add(k);
        }
        throw err;
      } finally {
        for (const { k, e, d } of taken) {
          e.flushing &= ~d;
          if (e.valid === 0 && e.flushing === 0 && this.entries.get(k) === e) this.removeEntry(k);
        }
      }
    }
  }

  /** Runs a store write/unmap of cache blocks [first, last]: in issue order per block, marking fills stale. */
  private storeMutation(first: number, last: number, op: () => Promise<void>): Promise<void> {
    // Registered from the moment it is issued, not when it gets the lock: a fill that starts while this waits
    // would otherwise read what this is about to overwrite and install it afterwards.
    const m: Mutation = { first, last };
    this.mutations.add(m);
    this.markStaleAll(first, last);
    const p = (async () => {
      const release = await this.lock.acquire(first, last - first + 1);
      try {
        await op();
      } finally {
        this.markStaleAll(first, last);
        this.mutations.delete(m);
        release();
      }
    })();
    this.storeWrites.add(p);
    const done = (): void => {
      this.storeWrites.delete(p);
    };
    p.then(done, done);
    return p;
  }

  // ---- bookkeeping ------------------------------------------------------------------------------------------------

  private markStale(fill: Fill, first: number, last: number): void {
    const a = Math.max(first, fill.first);
    const b = Math.min(last, fill.last);
    for (let k = a; k <= b; k++) fill.stale[k - fill.first] = 1;
  }

  private markStaleAll(first: number, last: number): void {
    for (const f of this.fills) this.markStale(f, first, last);
  }

  /** Makes room for one more block (evicting a clean, idle one if full). False: every block is dirty or busy. */
  private makeRoom(): boolean {
    while (this.entries.size >= this.capacity) {
      if (this.entries.size === 0) return false;
      let victim = -1;
      for (const k of this.policy.victims()) {
        const e = this.entries.get(k);
        if (e && e.dirty === 0 && e.flushing === 0) {
          victim = k;
          break;
        }
      }
      if (victim < 0) {
        this.kick();
        return false;
      }
      this.evict(victim);
    }
    return true;
  }

  private shrink(): void {
    while (this.entries.size > this.capacity) {
      let victim = -1;
      for (const k of this.policy.victims()) {
        const e = this.entries.get(k);
        if (e && e.dirty === 0 && e.flushing === 0) {
          victim = k;
          break;
        }
      }
      if (victim < 0) return;
      this.evict(victim);
    }
  }

  private evict(k: number): void {
    const e = this.entries.get(k)!;
    this.entries.delete(k);
    this.usedBytes -= e.data.length;
    this.policy.evicted(k);
    this.counters.evictions++;
    // A victim is clean and not being written back, so nothing else holds its buffer: keep it for the next block.
    if (e.data.length === this.blockBytes && this.spare.length < SPARE_BUFFERS) this.spare.push(e.data);
  }

  /**
   * A block buffer: a recycled one when there is one. Allocating a fresh 4 KiB buffer per miss and leaving each
   * victim to the garbage collector let a 64 MiB cache under random I/O hold ~250 MiB of dead buffers (RSS) between
   * collections; reusing them keeps memory at the cache's size.
   */
  private takeBuffer(length: number, zeroed: boolean): Uint8Array {
    if (length !== this.blockBytes) return new Uint8Array(length);
    const b = this.spare.pop();
    if (!b) return new Uint8Array(length);
    if (zeroed) b.fill(0);
    return b;
  }

  private removeEntry(k: number): void {
    const e = this.entries.get(k);
    if (!e) return;
    this.clearDirty(k, e, e.dirty);
    this.entries.delete(k);
    this.usedBytes -= e.data.length;
    this.policy.remove(k);
  }

  private newEntry(k: number): Entry {
    const e: Entry = { data: this.takeBuffer(this.sectorsIn(k) * this.blockSize, true), valid: 0, dirty: 0, flushing: 0, prefetched: false };
    this.addEntry(k, e, false);
    return e;
  }

  private addEntry(k: number, e: Entry, prefetch: boolean): void {
    this.entries.set(k, e);
    this.usedBytes += e.data.length;
    this.policy.insert(k, prefetch);
  }

  private clearDirty(k: number, e: Entry, bits: number): void {
    const cleared = e.dirty & bits;
    if (cleared === 0) return;
    e.dirty &= ~bits;
    this.dirtySectors -= popcount(cleared);
    if (e.dirty === 0) this.dirtyKeys.delete(k);
  }

  private keyOf(lba: number): number {
    return Math.floor(lba / this.spb);
  }

  private sectorsIn(k: number): number {
    return k === this.keyCount - 1 ? this.blockCount - k * this.spb : this.spb;
  }

  private readaheadWindowBlocks(): number {
    const bytes = Math.min(this.readahead.windowBytes, this.capacity * this.blockBytes * READAHEAD_MAX_SHARE);
    return Math.floor(bytes / this.blockSize);
  }

  private checkRange(lba: number, blocks: number): void {
    if (!Number.isInteger(lba) || !Number.isInteger(blocks) || lba < 0 || blocks < 0 || lba + blocks > this.blockCount) {
      throw new RangeError(`blocks [${lba}, +${blocks}) outside LUN of ${this.blockCount} blocks`);
    }
  }

  private checkOpen(): void {
    if (this.closed) throw new Error('block cache is closed');
  }

  private checkWritable(): void {
    if (this.readOnly) throw new Error('store is read-only');
    if (this.closed || this.closing) throw new Error('block cache is closed');
  }
}
