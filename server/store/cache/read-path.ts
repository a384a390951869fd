/**
 * The cache's read path: the lookup of each cache block of a READ (hit, partial, miss), one store read per run of
 * missing blocks ("fill"), installing what it read unless a mutation made it stale (rule 3), and sequential
 * readahead, which fills the window ahead of a stream the same way.
 */
import type { BlockStore, CacheRangeOutcome } from '../types.ts';
import { maskOf, type BlockTable } from './block-table.ts';
import { SequentialDetector, type PrefetchRange } from './readahead.ts';
import { timed, type ReportBuilder } from './report.ts';
import type { StoreOrder } from './store-order.ts';
import type { ReadaheadSettings } from './types.ts';

/** Readahead never asks for more than this share of the cache at once. */
const READAHEAD_MAX_SHARE = 0.25;

export class ReadPath {
  /** Store reads in flight by cache block: concurrent misses of one block wait for one read. */
  private readonly fillsInFlight = new Map<number, Promise<unknown>>();
  private readonly detector: SequentialDetector;
  private installing = true;

  /** @param readahead the cache's settings object, read at each I/O (configure() changes it in place) */
  constructor(
    private readonly table: BlockTable,
    private readonly order: StoreOrder,
    private readonly inner: BlockStore,
    private readonly readahead: ReadaheadSettings,
  ) {
    this.detector = new SequentialDetector(this.windowBlocks(), table.blockCount);
  }

  /** The readahead window or the cache's size changed. */
  resizeWindow(): void {
    this.detector.windowBlocks = this.windowBlocks();
  }

  /** The LUN grew: readahead may go up to its new end. */
  setLimit(blockCount: number): void {
    this.detector.limitBlocks = blockCount;
  }

  /** Installs nothing from now on, and resolves once every store read in flight has ended (close). */
  async stop(): Promise<void> {
    this.installing = false;
    await Promise.allSettled([...new Set(this.fillsInFlight.values())]);
  }

  /** Reads LBAs [lba, lba + blocks) into `out`: cached sectors from the cache, the rest from the store. */
  async readInto(out: Uint8Array, lba: number, blocks: number, report: ReportBuilder | undefined): Promise<void> {
    const table = this.table;
    const bs = table.blockSize;
    const k0 = table.keyOf(lba);
    const k1 = table.keyOf(lba + blocks - 1);
    // Blocks another read is fetching right now (a readahead, a concurrent miss): wait for that one read.
    if (this.fillsInFlight.size > 0) {
      const waits = new Set<Promise<unknown>>();
      for (let k = k0; k <= k1; k++) {
        const p = table.entries.has(k) ? undefined : this.fillsInFlight.get(k);
        if (p) waits.add(p);
      }
      if (waits.size > 0) await timed(report, 'storeReadMs', () => Promise.allSettled(waits));
    }
    const missKeys: number[] = [];
    const missNeed: number[] = [];
    const counters = table.counters;
    for (let k = k0; k <= k1; k++) {
      const base = k * table.spb;
      const from = Math.max(lba, base) - base;
      const to = Math.min(lba + blocks, base + table.sectorsIn(k)) - base;
      const need = maskOf(from, to - from);
      const e = table.entries.get(k);
      if (e && (e.valid & need) === need) {
        out.set(e.data.subarray(from * bs, to * bs), (base + from - lba) * bs);
        counters.hits++;
        table.policy.hit(k);
        let outcome: CacheRangeOutcome = 'hit';
        if (e.prefetched) {
          e.prefetched = false;
          counters.readaheadHits++;
          outcome = 'readahead-hit';
        }
        report?.add(base + from, to - from, outcome);
        continue;
      }
      counters.misses++;
      if (e) {
        // Partly cached: take the cached sectors now (they may be newer than the store), the rest comes from the store.
        counters.partial++;
        table.copySectors(e.data, e.valid & need, from, to, out, (base - lba) * bs);
        e.prefetched = false;
        table.policy.hit(k);
      }
      missKeys.push(k);
      missNeed.push(e ? need & ~e.valid : need);
      report?.add(base + from, to - from, e ? 'partial' : 'miss');
    }
    const ahead = this.readahead.enabled && table.capacity > 0 ? this.detector.observe(lba, blocks) : undefined;
    if (ahead) this.prefetch(ahead);
    if (missKeys.length === 0) return;
    // One store read per run of consecutive missing cache blocks.
    const reads: Promise<void>[] = [];
    for (let i = 0; i < missKeys.length;) {
      let j = i;
      while (j + 1 < missKeys.length && missKeys[j + 1] === missKeys[j]! + 1) j++;
      const first = missKeys[i]!;
      const runStart = i;
      const runEnd = j;
      reads.push(
        this.fill(first, missKeys[j]!, false).then((data) => {
          for (let m = runStart; m <= runEnd; m++) {
            const k = missKeys[m]!;
            const base = k * table.spb;
            const from = Math.max(lba, base) - base;
            const to = Math.min(lba + blocks, base + table.sectorsIn(k)) - base;
            const src = data.subarray((k - first) * table.blockBytes, (k - first) * table.blockBytes + table.sectorsIn(k) * bs);
            table.copySectors(src, missNeed[m]!, from, to, out, (base - lba) * bs);
          }
        }),
      );
      i = j + 1;
    }
    await timed(report, 'storeReadMs', () => Promise.all(reads));
  }

  /** Reads cache blocks [first, last] from the store and installs them unless a mutation made the read stale. */
  private fill(first: number, last: number, prefetch: boolean): Promise<Uint8Array> {
    const table = this.table;
    const fill = this.order.beginFill(first, last);
    const lbaStart = first * table.spb;
    const lbaEnd = Math.min(table.blockCount, (last + 1) * table.spb);
    const p = (async () => {
      let data: Uint8Array;
      try {
        data = await this.inner.read(lbaStart, lbaEnd - lbaStart);
      } finally {
        this.order.endFill(fill);
      }
      if (this.installing) {
        for (let k = first; k <= last; k++) {
          if (fill.stale[k - first]) continue;
          const off = (k - first) * table.blockBytes;
          this.install(k, data.subarray(off, off + table.sectorsIn(k) * table.blockSize), prefetch);
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
    const table = this.table;
    const e = table.entries.get(k);
    if (e) {
      // Only the sectors the entry lacks: what it has is at least as new as the store.
      const full = maskOf(0, table.sectorsIn(k));
      table.copySectors(src, full & ~e.valid, 0, table.sectorsIn(k), e.data, 0);
      e.valid = full;
      return;
    }
    if (!table.makeRoom()) return;
    table.newFilledEntry(k, src, prefetch);
  }

  private prefetch(r: PrefetchRange): void {
    const table = this.table;
    const maxKeys = Math.max(1, Math.floor(table.capacity * READAHEAD_MAX_SHARE));
    const k0 = table.keyOf(r.lba);
    const k1 = Math.min(table.keyOf(r.lba + r.blocks - 1), k0 + maxKeys - 1);
    let runStart = -1;
    const flush = (end: number): void => {
      if (runStart < 0) return;
      table.counters.readaheadBlocks += end - runStart + 1;
      this.fill(runStart, end, true).catch(() => undefined); // a failed readahead is just not cached
      runStart = -1;
    };
    for (let k = k0; k <= k1; k++) {
      const absent = !table.entries.has(k) && !this.fillsInFlight.has(k);
      if (absent && runStart < 0) runStart = k;
      if (!absent) flush(k - 1);
    }
    flush(k1);
  }

  private windowBlocks(): number {
    const t = this.table;
    const bytes = Math.min(this.readahead.windowBytes, t.capacity * t.blockBytes * READAHEAD_MAX_SHARE);
    return Math.floor(bytes / t.blockSize);
  }
}
