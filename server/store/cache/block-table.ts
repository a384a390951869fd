/**
 * The resident cache blocks: which cache blocks are here, which of their sectors are valid, dirty or being written
 * back, and making room under the size limit. The read path, the write path, the write-back and the map all work
 * on this one table; none of them touches the store through it.
 *
 * Rule 1 of block-cache.ts lives here: a dirty block, or one being written back, is never evicted.
 */
import { createPolicy, type PolicyName, type ReplacementPolicy } from './policy.ts';
import type { CacheCounters } from './types.ts';

/** Sector bitmasks are 32-bit integers. */
export const MAX_SECTORS_PER_BLOCK = 32;
/** Evicted block buffers kept for reuse (at 4 KiB blocks: 4 MiB). */
const SPARE_BUFFERS = 1024;

export interface Entry {
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

export function maskOf(from: number, count: number): number {
  return count >= MAX_SECTORS_PER_BLOCK ? -1 : ((1 << count) - 1) << from;
}

export function popcount(x: number): number {
  x = x - ((x >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (((x + (x >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

export function zeroCounters(): CacheCounters {
  return { hits: 0, misses: 0, readaheadHits: 0, evictions: 0, flushes: 0, partial: 0, writebacks: 0, bypasses: 0, readaheadBlocks: 0 };
}

export class BlockTable {
  /** LBA size in bytes. */
  readonly blockSize: number;
  /** Cache block size in bytes. */
  readonly blockBytes: number;
  /** LBAs per cache block. */
  readonly spb: number;
  /** The LUN's size in LBAs; grows with setBlockCount(). */
  blockCount: number;
  /** Cache blocks covering the LUN (the last one may be partial). */
  keyCount: number;
  /** The size limit in bytes, and in cache blocks. */
  sizeBytes: number;
  capacity: number;
  policy: ReplacementPolicy;

  readonly entries = new Map<number, Entry>();
  /** Keys with dirty sectors, in the order they first became dirty. */
  readonly dirtyKeys = new Set<number>();
  usedBytes = 0;
  dirtySectors = 0;
  readonly counters: CacheCounters = zeroCounters();
  private readonly spare: Uint8Array[] = [];

  /**
   * @param onFull called when room is wanted and every resident block is dirty or busy: a write-back should start
   */
  constructor(
    lbaBytes: number,
    blockBytes: number,
    blockCount: number,
    sizeBytes: number,
    policy: PolicyName,
    private readonly onFull: () => void,
  ) {
    this.blockSize = lbaBytes;
    this.blockBytes = blockBytes;
    this.spb = blockBytes / lbaBytes;
    this.blockCount = blockCount;
    this.keyCount = Math.ceil(blockCount / this.spb);
    this.sizeBytes = Math.max(0, Math.floor(sizeBytes));
    this.capacity = Math.floor(this.sizeBytes / blockBytes);
    this.policy = createPolicy(policy, this.capacity);
  }

  /** Sets the size limit; the caller shrinks (or writes back first) when the table is now over it. */
  setSizeBytes(sizeBytes: number): void {
    this.sizeBytes = Math.max(0, Math.floor(sizeBytes));
    this.capacity = Math.floor(this.sizeBytes / this.blockBytes);
    this.policy.resize(this.capacity);
  }

  /** Another policy takes over the resident keys in the old one's order (least valuable first). */
  switchPolicy(name: PolicyName): void {
    const keys = this.policy.keys();
    const next = createPolicy(name, this.capacity);
    for (const k of keys) next.insert(k, false);
    this.policy = next;
  }

  setBlockCount(blockCount: number): void {
    this.blockCount = blockCount;
    this.keyCount = Math.ceil(blockCount / this.spb);
  }

  keyOf(lba: number): number {
    return Math.floor(lba / this.spb);
  }

  sectorsIn(k: number): number {
    return k === this.keyCount - 1 ? this.blockCount - k * this.spb : this.spb;
  }

  /** Calls `fn` per cache block of [lba, lba + blocks) with its sector range and the offset into the I/O's bytes. */
  forEachBlock(lba: number, blocks: number, fn: (k: number, from: number, to: number, dataOff: number) => void): void {
    const k0 = this.keyOf(lba);
    const k1 = this.keyOf(lba + blocks - 1);
    for (let k = k0; k <= k1; k++) {
      const base = k * this.spb;
      const from = Math.max(lba, base) - base;
      const to = Math.min(lba + blocks, base + this.sectorsIn(k)) - base;
      fn(k, from, to, (base + from - lba) * this.blockSize);
    }
  }

  /** Copies the sectors of `mask` within [from, to) of a cache block's bytes into `out` at `outBase` + sector offset. */
  copySectors(src: Uint8Array, mask: number, from: number, to: number, out: Uint8Array, outBase: number): void {
    const bs = this.blockSize;
    for (let s = from; s < to;) {
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

  /** Makes room for one more block (evicting a clean, idle one if full). False: every block is dirty or busy. */
  makeRoom(): boolean {
    while (this.entries.size >= this.capacity) {
      if (this.entries.size === 0) return false;
      const victim = this.cleanVictim();
      if (victim < 0) {
        this.onFull();
        return false;
      }
      this.evict(victim);
    }
    return true;
  }

  /** Evicts clean, idle blocks until the table fits its capacity or only dirty and busy ones are left. */
  shrink(): void {
    while (this.entries.size > this.capacity) {
      const victim = this.cleanVictim();
      if (victim < 0) return;
      this.evict(victim);
    }
  }

  /** A new, empty entry for cache block k (room was made before). */
  newEntry(k: number): Entry {
    const e: Entry = { data: this.takeBuffer(this.sectorsIn(k) * this.blockSize, true), valid: 0, dirty: 0, flushing: 0, prefetched: false };
    this.addEntry(k, e, false);
    return e;
  }

  /** A new entry for cache block k holding a copy of `src`, all valid (room was made before). */
  newFilledEntry(k: number, src: Uint8Array, prefetch: boolean): void {
    const data = this.takeBuffer(src.length, false);
    data.set(src);
    this.addEntry(k, { data, valid: maskOf(0, this.sectorsIn(k)), dirty: 0, flushing: 0, prefetched: prefetch }, prefetch);
  }

  /** Block k leaves without a ghost (UNMAP, a failed write); its dirty sectors are forgotten. */
  removeEntry(k: number): void {
    const e = this.entries.get(k);
    if (!e) return;
    this.clearDirty(k, e, e.dirty);
    this.entries.delete(k);
    this.usedBytes -= e.data.length;
    this.policy.remove(k);
  }

  markDirty(k: number, e: Entry, bits: number): void {
    const fresh = bits & ~e.dirty;
    e.dirty |= bits;
    this.dirtySectors += popcount(fresh);
    this.dirtyKeys.add(k);
  }

  clearDirty(k: number, e: Entry, bits: number): void {
    const cleared = e.dirty & bits;
    if (cleared === 0) return;
    e.dirty &= ~bits;
    this.dirtySectors -= popcount(cleared);
    if (e.dirty === 0) this.dirtyKeys.delete(k);
  }

  private cleanVictim(): number {
    for (const k of this.policy.victims()) {
      const e = this.entries.get(k);
      if (e && e.dirty === 0 && e.flushing === 0) return k;
    }
    return -1;
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

  private addEntry(k: number, e: Entry, prefetch: boolean): void {
    this.entries.set(k, e);
    this.usedBytes += e.data.length;
    this.policy.insert(k, prefetch);
  }
}
