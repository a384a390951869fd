/**
 * The cache's write path: WRITE in write-through mode (the store has it before the write completes) and in
 * write-back mode (the cache has it, dirty; a full cache is bypassed; FUA writes this write's blocks back and syncs
 * before completing), and UNMAP (rule 4: the sectors leave the cache before the store zeroes them).
 */
import type { BlockStore } from '../types.ts';
import { maskOf, type BlockTable, type Entry } from './block-table.ts';
import { timed, type ReportBuilder } from './report.ts';
import type { StoreOrder } from './store-order.ts';
import type { WriteBack } from './write-back.ts';

export class WritePath {
  /** @param highWater dirty bytes above this fraction of the cache's size start a background write-back */
  constructor(
    private readonly table: BlockTable,
    private readonly order: StoreOrder,
    private readonly writeBack: WriteBack,
    private readonly inner: BlockStore,
    private readonly highWater: number,
  ) {}

  async writeThrough(lba: number, blocks: number, data: Uint8Array, fua: boolean, report: ReportBuilder | undefined): Promise<void> {
    const table = this.table;
    const k0 = table.keyOf(lba);
    const k1 = table.keyOf(lba + blocks - 1);
    table.forEachBlock(lba, blocks, (k, from, to, dataOff) => {
      // Write-allocate whole blocks only (a partial one would hold a hole, the store has the rest).
      this.copyIntoCache(k, from, to, data, dataOff, to - from === table.sectorsIn(k), report);
    });
    this.order.markStale(k0, k1);
    try {
      await timed(report, 'storeWriteMs', () => this.order.mutate(k0, k1, () => this.inner.write(lba, data, fua)));
    } catch (err) {
      // The store does not have what the cache now holds: forget the clean copies.
      for (let k = k0; k <= k1; k++) {
        const e = table.entries.get(k);
        if (e && e.dirty === 0 && e.flushing === 0) table.removeEntry(k);
      }
      throw err;
    }
  }

  async writeBackMode(lba: number, blocks: number, data: Uint8Array, fua: boolean, report: ReportBuilder | undefined): Promise<void> {
    const table = this.table;
    const k0 = table.keyOf(lba);
    const k1 = table.keyOf(lba + blocks - 1);
    const bypass: { k: number; from: number; to: number; dataOff: number }[] = [];
    table.forEachBlock(lba, blocks, (k, from, to, dataOff) => {
      // Any block may be allocated: its dirty sectors are what the store lacks (write-back keeps only those).
      const e = this.copyIntoCache(k, from, to, data, dataOff, true, report);
      if (!e) {
        bypass.push({ k, from, to, dataOff });
        return;
      }
      table.markDirty(k, e, maskOf(from, to - from));
    });
    this.order.markStale(k0, k1);
    if (bypass.length > 0) {
      table.counters.bypasses += bypass.length;
      this.writeBack.kick(); // make clean room for the next writes
      const writes: Promise<void>[] = [];
      for (let i = 0; i < bypass.length;) {
        let j = i;
        while (j + 1 < bypass.length && bypass[j + 1]!.k === bypass[j]!.k + 1) j++;
        const a = bypass[i]!;
        const b = bypass[j]!;
        const bytes = data.subarray(a.dataOff, b.dataOff + (b.to - b.from) * table.blockSize);
        const at = a.k * table.spb + a.from;
        writes.push(this.order.mutate(a.k, b.k, () => this.inner.write(at, bytes, false)));
        i = j + 1;
      }
      await timed(report, 'storeWriteMs', () => Promise.all(writes));
    }
    if (fua) {
      // FUA (SBC-3 5.x): this write's blocks on stable storage before we complete.
      const keys: number[] = [];
      for (let k = k0; k <= k1; k++) keys.push(k);
      await timed(report, 'storeWriteMs', () => this.writeBack.writeBackKeys(keys));
      await timed(report, 'flushMs', () => this.inner.flush());
    } else if (table.dirtySectors * table.blockSize > this.highWater * table.sizeBytes) {
      this.writeBack.kick();
    }
  }

  async unmap(lba: number, blocks: number, report: ReportBuilder | undefined): Promise<void> {
    const table = this.table;
    const k0 = table.keyOf(lba);
    const k1 = table.keyOf(lba + blocks - 1);
    // Rule 4: the sectors leave the cache first, dirty or not; the store then zeroes them.
    const keys = k1 - k0 + 1 > table.entries.size ? [...table.entries.keys()].filter((k) => k >= k0 && k <= k1) : null;
    const drop = (k: number): void => {
      const e = table.entries.get(k);
      if (!e) return;
      const base = k * table.spb;
      const from = Math.max(lba, base) - base;
      const to = Math.min(lba + blocks, base + table.sectorsIn(k)) - base;
      const m = maskOf(from, to - from);
      table.clearDirty(k, e, e.dirty & m);
      e.valid &= ~m;
      e.prefetched = false;
      if (e.valid === 0 && e.flushing === 0) table.removeEntry(k);
    };
    if (keys) keys.forEach(drop);
    else for (let k = k0; k <= k1; k++) drop(k);
    await timed(report, 'storeWriteMs', () => this.order.mutate(k0, k1, () => this.inner.unmap(lba, blocks)));
  }

  /**
   * Puts sectors [from, to) of cache block k from `data` into the cache: into its entry if there is one, else into a
   * new entry when `allocate` and there is free or clean room. Returns the entry, or undefined when the sectors
   * bypass the cache (reported as such).
   */
  private copyIntoCache(
    k: number,
    from: number,
    to: number,
    data: Uint8Array,
    dataOff: number,
    allocate: boolean,
    report: ReportBuilder | undefined,
  ): Entry | undefined {
    const table = this.table;
    let e = table.entries.get(k);
    if (!e) {
      if (!allocate || !table.makeRoom()) {
        report?.add(k * table.spb + from, to - from, 'bypass');
        return undefined;
      }
      e = table.newEntry(k);
      report?.add(k * table.spb + from, to - from, 'write-allocate');
    } else {
      table.policy.hit(k);
      report?.add(k * table.spb + from, to - from, 'write-hit');
    }
    e.data.set(data.subarray(dataOff, dataOff + (to - from) * table.blockSize), from * table.blockSize);
    e.valid |= maskOf(from, to - from);
    e.prefetched = false;
    return e;
  }
}
