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
 *
 * This class is the BlockStore face and the control; the work is in its parts, which share one BlockTable:
 *   block-table.ts  resident blocks, sector masks, dirty bookkeeping, eviction under the size limit (rule 1)
 *   policy.ts       which clean block leaves first (LRU, 2Q, ARC)
 *   store-order.ts  the order of the cache's store I/O (rules 2 and 3)
 *   read-path.ts    lookup, fills, readahead (readahead.ts detects the streams)
 *   write-path.ts   write-through, write-back, bypass, FUA, UNMAP (rule 4)
 *   write-back.ts   dirty blocks to the store: background, FUA, flush, close
 *   report.ts       per-I/O trace report, stats, heat map
 */
import type { BlockStore, IoTrace, WriteCacheControl } from '../types.ts';
import { BlockTable, MAX_SECTORS_PER_BLOCK, zeroCounters } from './block-table.ts';
import { ReadPath } from './read-path.ts';
import { DEFAULT_MAP_RANGES, ReportBuilder, cacheMap, cacheStats, timed } from './report.ts';
import { StoreOrder } from './store-order.ts';
import {
  DEFAULT_CACHE_BLOCK_BYTES,
  DEFAULT_READAHEAD_WINDOW_BYTES,
  type BlockCacheOptions,
  type CacheMap,
  type CacheMode,
  type CacheSettings,
  type CacheStats,
  type ReadaheadSettings,
} from './types.ts';
import { WriteBack } from './write-back.ts';
import { WritePath } from './write-path.ts';

export type { BlockCacheOptions, CacheMap, CacheMode, CacheSettings, CacheStats, ReadaheadSettings } from './types.ts';
export { DEFAULT_READAHEAD_WINDOW_BYTES } from './types.ts';

const DEFAULT_FLUSH_INTERVAL_MS = 1000;
const DEFAULT_HIGH_WATER = 0.5;

export class BlockCache implements BlockStore, WriteCacheControl {
  readonly blockSize: number;
  /** Cache block size in bytes. */
  readonly blockBytes: number;
  private mode: CacheMode;
  private readonly readahead: ReadaheadSettings;
  private readonly readOnly: boolean;
  private readonly table: BlockTable;
  private readonly order = new StoreOrder();
  private readonly reads: ReadPath;
  private readonly writes: WritePath;
  private readonly writeBacks: WriteBack;
  private closing = false;
  private closed = false;

  constructor(
    private readonly inner: BlockStore,
    opts: BlockCacheOptions,
  ) {
    this.blockSize = inner.blockSize;
    const blockBytes = Math.max(opts.blockBytes ?? DEFAULT_CACHE_BLOCK_BYTES, inner.blockSize);
    if ((blockBytes & (blockBytes - 1)) !== 0 || blockBytes % inner.blockSize !== 0 || blockBytes / inner.blockSize > MAX_SECTORS_PER_BLOCK) {
      throw new Error(`cache block size ${blockBytes}: a power of two, a multiple of ${inner.blockSize}, at most ${MAX_SECTORS_PER_BLOCK} LBAs`);
    }
    this.blockBytes = blockBytes;
    this.table = new BlockTable(inner.blockSize, blockBytes, inner.blockCount, opts.sizeBytes, opts.policy ?? 'lru', () => this.writeBacks.kick());
    this.mode = opts.mode ?? 'write-back';
    this.readahead = { enabled: opts.readahead?.enabled ?? true, windowBytes: opts.readahead?.windowBytes ?? DEFAULT_READAHEAD_WINDOW_BYTES };
    this.readOnly = opts.readOnly ?? false;
    this.reads = new ReadPath(this.table, this.order, inner, this.readahead);
    this.writeBacks = new WriteBack(this.table, this.order, inner, opts.flushIntervalMs ?? DEFAULT_FLUSH_INTERVAL_MS);
    this.writes = new WritePath(this.table, this.order, this.writeBacks, inner, opts.highWater ?? DEFAULT_HIGH_WATER);
  }

  /** The LUN's size in LBAs; grows with grow(). */
  get blockCount(): number {
    return this.table.blockCount;
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
    if (blocks > 0) await this.reads.readInto(out, lba, blocks, report);
    if (trace && report) trace.cache = report.finish(this.table.policy.name, this.mode);
    return out;
  }

  async write(lba: number, data: Uint8Array, fua: boolean, trace?: IoTrace): Promise<void> {
    this.checkWritable();
    if (data.length % this.blockSize !== 0) throw new Error(`write of ${data.length} bytes: not whole blocks`);
    const blocks = data.length / this.blockSize;
    this.checkRange(lba, blocks);
    const report = trace ? new ReportBuilder() : undefined;
    if (blocks > 0) {
      if (this.mode === 'write-through') await this.writes.writeThrough(lba, blocks, data, fua, report);
      else await this.writes.writeBackMode(lba, blocks, data, fua, report);
    }
    if (trace && report) trace.cache = report.finish(this.table.policy.name, this.mode);
  }

  /** Makes every write that completed before this call durable: writes back all dirty blocks, then fdatasync. */
  async flush(trace?: IoTrace): Promise<void> {
    if (this.closed) return;
    const report = trace ? new ReportBuilder() : undefined;
    await timed(report, 'storeWriteMs', () => this.writeBacks.writeBackAll());
    await timed(report, 'flushMs', () => this.inner.flush());
    if (trace && report) trace.cache = report.finish(this.table.policy.name, this.mode);
  }

  async unmap(lba: number, blocks: number, trace?: IoTrace): Promise<void> {
    this.checkWritable();
    this.checkRange(lba, blocks);
    const report = trace ? new ReportBuilder() : undefined;
    if (blocks > 0) await this.writes.unmap(lba, blocks, report);
    if (trace && report) trace.cache = report.finish(this.table.policy.name, this.mode);
  }

  async mapping(lba: number, maxBlocks: number): Promise<{ mapped: boolean; blocks: number }> {
    const table = this.table;
    if (this.inner.thin && table.dirtyKeys.size > 0) {
      // Dirty blocks are mapped as far as the initiator knows: write them back so the allocation map agrees.
      const k0 = table.keyOf(lba);
      const k1 = table.keyOf(Math.min(table.blockCount, lba + Math.max(1, maxBlocks)) - 1);
      const keys = [...table.dirtyKeys].filter((k) => k >= k0 && k <= k1);
      if (keys.length > 0) await this.writeBacks.writeBackKeys(keys);
      // ...and wait for write-backs of the range already in flight.
      await this.order.drainRange(k0, k1);
    }
    return this.inner.mapping(lba, maxBlocks);
  }

  /** Writes everything back, syncs and closes the store below (SIGTERM path: ScsiTarget.close()). */
  async close(): Promise<void> {
    if (this.closed || this.closing) return;
    this.closing = true;
    this.writeBacks.stop();
    try {
      await this.reads.stop();
      await this.flush();
    } finally {
      this.closed = true;
      await this.inner.close();
    }
  }

  // ---- control and visibility ----------------------------------------------------------------------------------

  stats(): CacheStats {
    return cacheStats(this.table, this.mode, this.readahead);
  }

  /**
   * Zeroes the counters (hits, misses, evictions, write-backs...), not the cache's contents: a class demo of one
   * miss then one hit starts from 0 instead of drowning in the counts of everything before it.
   */
  resetStats(): CacheStats {
    Object.assign(this.table.counters, zeroCounters());
    return this.stats();
  }

  /**
   * Grows the LUN under the cache. Every cached block keeps its place and data; only new keys are added at the end.
   * A LUN whose last cache block is partial is refused: that block's buffer is sized to the old end (sectorsIn), and
   * re-shaping it while fills and write-backs may be in flight is not worth the risk for a size nobody uses.
   */
  async grow(blockCount: number): Promise<void> {
    if (!this.inner.grow) throw new Error('the store under this cache cannot grow');
    if (this.table.blockCount % this.table.spb !== 0) {
      throw new Error(`the LUN's size is not a multiple of the cache block (${this.blockBytes} bytes): its last cache block is partial, resize refused`);
    }
    await this.inner.grow(blockCount);
    this.table.setBlockCount(this.inner.blockCount);
    this.reads.setLimit(this.inner.blockCount);
  }

  /** Changes policy, size, mode and readahead at run time; dirty data is kept (and written back if it must go). */
  async configure(s: CacheSettings): Promise<CacheStats> {
    const table = this.table;
    if (s.policy && s.policy !== table.policy.name) table.switchPolicy(s.policy);
    if (s.readahead) {
      if (s.readahead.enabled !== undefined) this.readahead.enabled = s.readahead.enabled;
      if (s.readahead.windowBytes !== undefined) this.readahead.windowBytes = s.readahead.windowBytes;
      this.reads.resizeWindow();
    }
    if (s.sizeBytes !== undefined && s.sizeBytes !== table.sizeBytes) {
      table.setSizeBytes(s.sizeBytes);
      this.reads.resizeWindow();
      table.shrink();
      if (table.entries.size > table.capacity) {
        // Dirty blocks over the new limit (or being written back): write them back, then they can go.
        await this.order.drainAll();
        await this.writeBacks.writeBackKeys([...table.dirtyKeys]);
        table.shrink();
      }
    }
    if (s.mode && s.mode !== this.mode) await this.setWriteBack(s.mode === 'write-back');
    return this.stats();
  }

  /** Resident and dirty block ranges for a heat map, at most `maxRanges` of them. */
  map(maxRanges = DEFAULT_MAP_RANGES): CacheMap {
    return cacheMap(this.table, this.mode, maxRanges);
  }

  /** Starts a background write-back of every dirty block unless one is running. */
  kick(): void {
    this.writeBacks.kick();
  }

  private checkRange(lba: number, blocks: number): void {
    const n = this.table.blockCount;
    if (!Number.isInteger(lba) || !Number.isInteger(blocks) || lba < 0 || blocks < 0 || lba + blocks > n) {
      throw new RangeError(`blocks [${lba}, +${blocks}) outside LUN of ${n} blocks`);
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
