// The block cache over an in-memory store whose reads, writes and syncs the test can hold and release in any
// order (or delay at random), with a "durable" copy that only a sync updates: hits and misses, partial blocks,
// the memory limit, write-back durability accounting, and the races that would let a reader see stale data.
import { describe, expect, it } from 'vitest';
import { BlockCache, type BlockCacheOptions } from '../../server/store/cache/block-cache.ts';
import type { BlockStore } from '../../server/store/types.ts';

const BS = 512;
const KiB = 1024;

interface Held {
  kind: 'read' | 'write' | 'flush';
  release(): void;
}

/** A BlockStore in memory. `volatile` is what reads see (the page cache), `durable` what survives a crash. */
class MemStore implements BlockStore {
  readonly blockSize = BS;
  readonly thin = false;
  readonly volatile: Uint8Array;
  readonly durable: Uint8Array;
  readonly calls = { reads: 0, writes: 0, syncs: 0, unmaps: 0 };
  /** Hold every call until the test releases it. */
  hold = false;
  readonly held: Held[] = [];
  /** Random delays (ms, up to this) instead of holds. */
  jitterMs = 0;
  closed = false;

  constructor(readonly blockCount: number) {
    this.volatile = new Uint8Array(blockCount * BS);
    this.durable = new Uint8Array(blockCount * BS);
  }

  private wait(kind: Held['kind']): Promise<void> {
    if (this.hold) return new Promise((release) => this.held.push({ kind, release }));
    if (this.jitterMs > 0) return new Promise((r) => setTimeout(r, Math.random() * this.jitterMs));
    return Promise.resolve();
  }

  async read(lba: number, blocks: number): Promise<Uint8Array> {
    this.calls.reads++;
    // The bytes are taken when the call starts (a pread that already ran, its completion late) or when it ends.
    const early = Math.random() < 0.5 || this.hold ? this.volatile.slice(lba * BS, (lba + blocks) * BS) : undefined;
    await this.wait('read');
    return early ?? this.volatile.slice(lba * BS, (lba + blocks) * BS);
  }

  async write(lba: number, data: Uint8Array, fua: boolean): Promise<void> {
    if (this.closed) throw new Error('closed');
    this.calls.writes++;
    const copy = data.slice();
    await this.wait('write');
    this.volatile.set(copy, lba * BS);
    if (fua) await this.flush();
  }

  async flush(): Promise<void> {
    await this.wait('flush');
    this.calls.syncs++;
    this.durable.set(this.volatile);
  }

  async unmap(lba: number, blocks: number): Promise<void> {
    this.calls.unmaps++;
    await this.wait('write');
    this.volatile.fill(0, lba * BS, (lba + blocks) * BS);
  }

  async mapping(lba: number, maxBlocks: number) {
    return { mapped: true, blocks: Math.min(maxBlocks, this.blockCount - lba) };
  }

  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
  }

  /** Releases held calls (the newest first when `newestFirst`) until none are left for a few turns. */
  async drain(newestFirst = false): Promise<void> {
    for (let idle = 0; idle < 5;) {
      if (this.held.length === 0) {
        idle++;
        await new Promise((r) => setImmediate(r));
        continue;
      }
      idle = 0;
      const h = newestFirst ? this.held.pop()! : this.held.shift()!;
      h.release();
      await new Promise((r) => setImmediate(r));
    }
  }
}

function pattern(blocks: number, seed: number): Uint8Array {
  const d = new Uint8Array(blocks * BS);
  for (let i = 0; i < d.length; i++) d[i] = (seed * 131 + i * 7 + (i >> 9)) & 0xff;
  return d;
}

function cacheOver(store: MemStore, opts: Partial<BlockCacheOptions> = {}): BlockCache {
  return new BlockCache(store, {
    sizeBytes: 64 * KiB,
    mode: 'write-back',
    policy: 'lru',
    readahead: { enabled: false, windowBytes: 0 },
    flushIntervalMs: 0,
    ...opts,
  });
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));
}

/** Byte comparison with a short message (where the first difference is) instead of a megabyte diff. */
function expectBytes(got: Uint8Array, want: Uint8Array): void {
  let at = -1;
  for (let i = 0; i < Math.max(got.length, want.length); i++)
    if (got[i] !== want[i]) {
      at = i;
      break;
    }
  expect(at === -1 ? 'equal' : `differ at byte ${at} (sector ${Math.floor(at / BS)}): ${got[at]} != ${want[at]}, lengths ${got.length}/${want.length}`).toBe(
    'equal',
  );
}

const tick = () => new Promise((r) => setImmediate(r));

describe('block cache: hits, misses, partial blocks, memory', () => {
  it('counts misses then hits in cache blocks, and serves hits without touching the store', async () => {
    const mem = new MemStore(1024);
    mem.volatile.set(pattern(64, 1));
    const c = cacheOver(mem);
    expectBytes(await c.read(0, 64), pattern(64, 1));
    expect(c.stats()).toMatchObject({ hits: 0, misses: 8, usedBytes: 32 * KiB });
    const reads = mem.calls.reads;
    expectBytes(await c.read(8, 16), pattern(64, 1).subarray(8 * BS, 24 * BS));
    expect(c.stats()).toMatchObject({ hits: 2, misses: 8 });
    expect(mem.calls.reads).toBe(reads);
  });

  it('a write of part of a cache block needs no read, and a later read merges the rest from the store', async () => {
    const mem = new MemStore(64);
    mem.volatile.set(pattern(8, 2));
    const c = cacheOver(mem);
    await c.write(3, pattern(2, 9), false); // sectors 3-4 of block 0
    expect(mem.calls.reads).toBe(0);
    expect(c.stats().dirtyBytes).toBe(2 * BS);
    const want = pattern(8, 2);
    want.set(pattern(2, 9), 3 * BS);
    expectBytes(await c.read(0, 8), want);
    expect(c.stats()).toMatchObject({ partial: 1 });
    expectBytes(await c.read(0, 8), want); // now whole
    expect(c.stats().hits).toBe(1);
    // The store has the write only after a flush, and only the dirty sectors were written.
    expectBytes(mem.volatile.subarray(3 * BS, 5 * BS), pattern(8, 2).subarray(3 * BS, 5 * BS));
    await c.flush();
    expectBytes(mem.durable.subarray(0, 8 * BS), want);
    expect(c.stats().dirtyBytes).toBe(0);
  });

  it('handles a LUN whose last cache block is short', async () => {
    const mem = new MemStore(8 * 10 + 3);
    mem.volatile.set(pattern(83, 4));
    const c = cacheOver(mem);
    expectBytes(await c.read(78, 5), pattern(83, 4).subarray(78 * BS));
    await c.write(81, pattern(2, 5), false);
    const want = pattern(83, 4);
    want.set(pattern(2, 5), 81 * BS);
    expectBytes(await c.read(0, 83), want);
    await c.close();
    expectBytes(mem.durable, want);
  });

  it('never holds more data than its size, also when every block is dirty (writes then bypass)', async () => {
    const mem = new MemStore(4096);
    const c = cacheOver(mem, { sizeBytes: 16 * KiB }); // 4 cache blocks
    for (let i = 0; i < 40; i++) {
      await c.write(i * 8, pattern(8, i), false);
      expect(c.stats().usedBytes).toBeLessThanOrEqual(16 * KiB);
    }
    for (let i = 0; i < 200; i++) {
      await c.read(Math.floor(Math.random() * 4000), 1 + Math.floor(Math.random() * 90));
      expect(c.stats().usedBytes).toBeLessThanOrEqual(16 * KiB);
    }
    expect(c.stats().bypasses).toBeGreaterThan(0);
    for (let i = 0; i < 40; i++) expectBytes(await c.read(i * 8, 8), pattern(8, i));
    await c.close();
    for (let i = 0; i < 40; i++) expectBytes(mem.durable.subarray(i * 8 * BS, (i + 1) * 8 * BS), pattern(8, i));
  });

  it('shrinking keeps dirty data (written back first) and obeys the new size', async () => {
    const mem = new MemStore(1024);
    const c = cacheOver(mem, { sizeBytes: 64 * KiB, highWater: 2 });
    for (let i = 0; i < 16; i++) await c.write(i * 8, pattern(8, i), false);
    expect(c.stats().dirtyBytes).toBe(64 * KiB);
    await c.configure({ sizeBytes: 8 * KiB });
    expect(c.stats().usedBytes).toBeLessThanOrEqual(8 * KiB);
    for (let i = 0; i < 16; i++) expectBytes(mem.volatile.subarray(i * 4096, (i + 1) * 4096), pattern(8, i));
  });

  it('switching policy at run time keeps every block, dirty ones included', async () => {
    const mem = new MemStore(1024);
    const c = cacheOver(mem, { policy: 'lru', highWater: 2 });
    for (let i = 0; i < 10; i++) await c.write(i * 8, pattern(8, i), false);
    const used = c.stats().usedBytes;
    await c.configure({ policy: '2q' });
    await c.configure({ policy: 'arc' });
    expect(c.stats()).toMatchObject({ policy: 'arc', usedBytes: used, dirtyBytes: used });
    for (let i = 0; i < 10; i++) expectBytes(await c.read(i * 8, 8), pattern(8, i));
    expect(mem.calls.reads).toBe(0);
  });

  it('reports per-range outcomes and timings when asked (the store tap asks)', async () => {
    const mem = new MemStore(1024);
    const c = cacheOver(mem);
    await c.read(0, 8);
    await c.write(10, pattern(1, 1), false); // block 1 partly
    const trace: { cache?: import('../../server/store/types.ts').CacheIoReport } = {};
    await c.read(4, 20, trace);
    expect(trace.cache!.ranges).toEqual([
      { lba: 4, blocks: 4, outcome: 'hit' },
      { lba: 8, blocks: 8, outcome: 'partial' },
      { lba: 16, blocks: 8, outcome: 'miss' },
    ]);
    expect(trace.cache!.storeReadMs).toBeGreaterThanOrEqual(0);
    const wt: typeof trace = {};
    await c.write(0, pattern(9, 3), true, wt);
    expect(wt.cache!.ranges).toEqual([{ lba: 0, blocks: 9, outcome: 'write-hit' }]);
    expect(wt.cache!.flushMs).toBeGreaterThanOrEqual(0);
  });

  it('the map is run-length encoded and bounded', async () => {
    const mem = new MemStore(8 * 1000);
    const c = cacheOver(mem, { sizeBytes: 4000 * KiB });
    for (let k = 0; k < 600; k += 2) await c.read(k * 8, 8); // every other block: 300 runs
    await c.write(0, pattern(8, 1), false);
    const exact = c.map(1000);
    expect(exact.exact).toBe(true);
    expect(exact.ranges.length).toBe(300);
    expect(exact.ranges[0]).toEqual({ lba: 0, blocks: 8, cached: 1, dirty: 1 });
    const coarse = c.map(50);
    expect(coarse.exact).toBe(false);
    expect(coarse.ranges.length).toBeLessThanOrEqual(50);
    expect(coarse.ranges.reduce((n, r) => n + r.cached, 0)).toBe(300);
    expect(coarse.ranges.reduce((n, r) => n + r.dirty, 0)).toBe(1);
  });
});

describe('block cache: readahead', () => {
  it('prefetches ahead of a sequential stream, and those blocks count as readahead hits', async () => {
    const mem = new MemStore(8192);
    const disk = pattern(8192, 7);
    mem.volatile.set(disk);
    const c = cacheOver(mem, { sizeBytes: 1024 * KiB, readahead: { enabled: true, windowBytes: 64 * KiB } });
    for (let lba = 0; lba < 2048; lba += 32) expectBytes(await c.read(lba, 32), disk.subarray(lba * BS, (lba + 32) * BS));
    const s = c.stats();
    // 2048 LBAs = 256 cache blocks; only the first two reads (before the stream is seen) miss.
    expect(s.misses).toBeLessThanOrEqual(8);
    expect(s.readaheadHits).toBeGreaterThan(240);
    expect(s.readaheadBlocks).toBeGreaterThan(240);
  });

  it('does not prefetch for random reads, nor when off', async () => {
    const mem = new MemStore(8192);
    const on = cacheOver(mem, { sizeBytes: 1024 * KiB, readahead: { enabled: true, windowBytes: 64 * KiB } });
    for (let i = 0; i < 100; i++) await on.read(((i * 7919) % 1000) * 8, 8);
    expect(on.stats().readaheadBlocks).toBe(0);
    const off = cacheOver(mem, { sizeBytes: 1024 * KiB });
    for (let lba = 0; lba < 1024; lba += 32) await off.read(lba, 32);
    expect(off.stats()).toMatchObject({ readaheadBlocks: 0, readaheadHits: 0, misses: 128 });
  });
});

describe('block cache: write-back durability', () => {
  it('a FUA write is durable when it resolves; a plain one is not until flush(); close() flushes all', async () => {
    const mem = new MemStore(1024);
    const c = cacheOver(mem);
    await c.write(0, pattern(8, 1), false);
    expect(same(mem.durable.subarray(0, 4096), pattern(8, 1))).toBe(false);
    expect(c.stats().dirtyBytes).toBe(4096);
    await c.write(100, pattern(3, 2), true);
    expectBytes(mem.durable.subarray(100 * BS, 103 * BS), pattern(3, 2));
    await c.write(200, pattern(8, 3), false);
    await c.flush();
    expectBytes(mem.durable.subarray(200 * BS, 208 * BS), pattern(8, 3));
    expect(c.stats().dirtyBytes).toBe(0);
    await c.write(300, pattern(16, 4), false);
    await c.close();
    expectBytes(mem.durable.subarray(300 * BS, 316 * BS), pattern(16, 4));
  });

  it('under a concurrent load with random store delays, FUA and flush() guarantees hold for every write', async () => {
    const mem = new MemStore(16384);
    mem.jitterMs = 2;
    const c = cacheOver(mem, { sizeBytes: 32 * KiB, flushIntervalMs: 3 });
    const completed: { lba: number; data: Uint8Array }[] = [];
    let next = 0;
    const failures: string[] = [];
    const checkDurable = (ws: { lba: number; data: Uint8Array }[], why: string): void => {
      for (const w of ws) {
        const on = mem.durable.subarray(w.lba * BS, w.lba * BS + w.data.length);
        if (!Buffer.from(on).equals(Buffer.from(w.data))) failures.push(`${why}: write at ${w.lba} not durable`);
      }
    };
    const worker = async (id: number): Promise<void> => {
      for (let i = 0; i < 40; i++) {
        const blocks = 1 + ((id * 13 + i * 5) % 11);
        const lba = next;
        next += blocks + (i % 3); // every write has LBAs of its own
        const data = pattern(blocks, id * 1000 + i);
        const op = (id + i) % 5;
        if (op === 0) {
          await c.write(lba, data, true);
          checkDurable([{ lba, data }], 'FUA');
        } else if (op === 1) {
          const before = [...completed];
          await c.flush();
          checkDurable(before, 'flush');
          await c.write(lba, data, false);
        } else {
          await c.write(lba, data, false);
        }
        completed.push({ lba, data });
      }
    };
    await Promise.all([0, 1, 2, 3, 4].map(worker));
    expect(failures).toEqual([]);
    expect(c.stats().usedBytes).toBeLessThanOrEqual(32 * KiB);
    await c.close();
    checkDurable(completed, 'close');
    expect(failures).toEqual([]);
  });

  it('turning write-back off (WCE=0) writes back everything dirty, and later writes go through', async () => {
    const mem = new MemStore(1024);
    const c = cacheOver(mem);
    await c.write(0, pattern(8, 1), false);
    expect(c.writeCache.writeBack).toBe(true);
    await c.writeCache.setWriteBack(false);
    expect(c.stats()).toMatchObject({ mode: 'write-through', dirtyBytes: 0 });
    expectBytes(mem.durable.subarray(0, 4096), pattern(8, 1));
    await c.write(8, pattern(8, 2), false);
    expectBytes(mem.volatile.subarray(4096, 8192), pattern(8, 2));
    expect(c.stats().dirtyBytes).toBe(0);
  });
});

describe('block cache: no stale reads', () => {
  it('a read miss still in flight does not install what a newer write replaced (write-through, evicted since)', async () => {
    const mem = new MemStore(1024);
    mem.volatile.set(pattern(8, 1)); // block A = 0..7 old
    const c = cacheOver(mem, { sizeBytes: 4 * KiB, mode: 'write-through' }); // one cache block
    mem.hold = true;
    const slowRead = c.read(0, 8); // miss: the store read of the old bytes is done, its completion held
    await tick();
    const w = c.write(0, pattern(8, 2), false); // new A: cached clean, store write held
    await tick();
    mem.held.filter((h) => h.kind === 'write').forEach((h) => h.release());
    mem.held.splice(0, mem.held.length, ...mem.held.filter((h) => h.kind !== 'write'));
    await w;
    const w2 = c.write(8, pattern(8, 3), false); // block B evicts A (clean)
    await mem.drain();
    await w2;
    await slowRead; // old or new: it overlapped the write
    mem.hold = false;
    expectBytes(await c.read(0, 8), pattern(8, 2));
  });

  it('a block being written back is not evicted before its store write lands', async () => {
    const mem = new MemStore(1024);
    const c = cacheOver(mem, { sizeBytes: 4 * KiB, highWater: 2 });
    await c.write(0, pattern(8, 1), false); // A dirty
    expect(c.stats().dirtyBytes).toBe(4096);
    mem.hold = true;
    const f = c.flush(); // A's write-back held in the store
    await tick();
    await tick();
    const w = c.write(8, pattern(8, 2), false); // no clean room: bypass, A must stay
    await tick();
    const r = c.read(0, 8); // must be the new A, not the store's old bytes
    await mem.drain();
    await Promise.all([f, w]);
    expectBytes(await r, pattern(8, 1));
    mem.hold = false;
  });

  it('two write-backs of one block land in order, whatever order the store completes them in', async () => {
    const mem = new MemStore(1024);
    const c = cacheOver(mem, { sizeBytes: 4 * KiB, highWater: 2 });
    await c.write(0, pattern(8, 1), false);
    mem.hold = true;
    const f1 = c.flush();
    await tick();
    await c.write(0, pattern(8, 2), false);
    const f2 = c.flush();
    await mem.drain(true); // newest held call first
    await Promise.all([f1, f2]);
    mem.hold = false;
    expectBytes(mem.durable.subarray(0, 4096), pattern(8, 2));
    await c.write(8, pattern(8, 3), true); // evicts A
    expectBytes(await c.read(0, 8), pattern(8, 2));
  });

  it('UNMAP drops dirty data so a later write-back cannot resurrect it', async () => {
    const mem = new MemStore(1024);
    const c = cacheOver(mem);
    await c.write(0, pattern(16, 1), false);
    await c.unmap(4, 8);
    const want = pattern(16, 1);
    want.fill(0, 4 * BS, 12 * BS);
    expectBytes(await c.read(0, 16), want);
    await c.flush();
    expectBytes(mem.durable.subarray(0, 16 * BS), want);
  });

  it('random operations with random store delays, background write-back, readahead and policy switches read like a plain disk', async () => {
    const blocks = 2048;
    const mem = new MemStore(blocks);
    mem.jitterMs = 1;
    const model = new Uint8Array(blocks * BS);
    const c = cacheOver(mem, { sizeBytes: 24 * KiB, flushIntervalMs: 2, readahead: { enabled: true, windowBytes: 8 * KiB } });
    let seed = 12345;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    let seq = 0;
    for (let i = 0; i < 600; i++) {
      const op = rnd(20);
      const n = 1 + rnd(24);
      const lba = op < 4 ? seq : rnd(blocks - n);
      if (op < 8) {
        const got = await c.read(lba, n);
        const want = model.subarray(lba * BS, (lba + n) * BS);
        if (!Buffer.from(got).equals(Buffer.from(want))) throw new Error(`op ${i}: read ${lba}+${n} differs from the model`);
        if (op < 4) seq = (lba + n) % (blocks - 32);
      } else if (op < 16) {
        const d = pattern(n, i);
        await c.write(lba, d, op === 15);
        model.set(d, lba * BS);
      } else if (op === 16) {
        await c.unmap(lba, n);
        model.fill(0, lba * BS, (lba + n) * BS);
      } else if (op === 17) {
        await c.flush();
        expect(Buffer.from(mem.durable).equals(Buffer.from(model))).toBe(true);
      } else if (op === 18) {
        await c.configure({ policy: (['lru', '2q', 'arc'] as const)[rnd(3)] });
      } else {
        await c.configure({ sizeBytes: (8 + rnd(24)) * KiB });
      }
      expect(c.stats().usedBytes).toBeLessThanOrEqual(c.stats().sizeBytes);
    }
    await c.close();
    expect(Buffer.from(mem.durable).equals(Buffer.from(model))).toBe(true);
  });
});
