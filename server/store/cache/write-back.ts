/**
 * Write-back of dirty cache blocks to the store: in the background (a timer, the high-water mark, a full cache),
 * for a FUA write's own blocks, and all of them for flush() (SYNCHRONIZE CACHE) and close(). This module writes the
 * data; making it durable (the store's fdatasync) is the caller's next step, before it answers.
 */
import type { BlockStore } from '../types.ts';
import type { BlockTable, Entry } from './block-table.ts';
import { popcount } from './block-table.ts';
import type { StoreOrder } from './store-order.ts';

export class WriteBack {
  /** Write-backs of dirty blocks in flight: writeBackAll() waits for them. */
  private readonly inFlight = new Set<Promise<unknown>>();
  private background: Promise<void> | null = null;
  private readonly timer: NodeJS.Timeout | undefined;
  private stopped = false;

  /** @param intervalMs background write-back period; 0: no timer */
  constructor(
    private readonly table: BlockTable,
    private readonly order: StoreOrder,
    private readonly inner: BlockStore,
    intervalMs: number,
  ) {
    if (intervalMs > 0) {
      this.timer = setInterval(() => this.kick(), intervalMs);
      this.timer.unref();
    }
  }

  /** Starts a background write-back of every dirty block unless one is running. */
  kick(): void {
    if (this.background || this.table.dirtyKeys.size === 0 || this.stopped) return;
    this.background = this.writeBackKeys([...this.table.dirtyKeys])
      .catch((err: unknown) => process.emitWarning(`block cache: background write-back failed: ${String(err)}`))
      .finally(() => {
        this.background = null;
      });
  }

  /** No more background write-backs (close): the caller writes back what is left itself. */
  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
  }

  /**
   * Writes every block dirty at this call to the store, and waits for write-backs already in flight: afterwards the
   * store has every write that completed before the call (the store's own flush then makes it durable).
   */
  async writeBackAll(): Promise<void> {
    // Taken in the same instant: every write that completed before this call is either dirty now or in a
    // write-back already in flight (which cleared its dirty bits). Wait for those, write back these.
    const inFlight = [...this.inFlight];
    const dirty = [...this.table.dirtyKeys];
    const settled = await Promise.allSettled(inFlight);
    await this.writeBackKeys(dirty);
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    // A failed write-back put its blocks back to dirty; they may not be among `dirty`: this flush failed.
    if (failed) throw failed.reason;
  }

  /**
   * Writes back the dirty sectors of `keys` (any order, duplicates fine). Each run of consecutive blocks holds the
   * lock for its blocks, so it also waits for write-backs of them already in flight (rule 2).
   */
  async writeBackKeys(keys: number[]): Promise<void> {
    if (keys.length === 0) return;
    const sorted = [...new Set(keys)].sort((a, b) => a - b);
    const runs: Promise<void>[] = [];
    for (let i = 0; i < sorted.length;) {
      let j = i;
      while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
      runs.push(this.writeBackRun(sorted[i]!, sorted[j]!));
      i = j + 1;
    }
    const results = await Promise.allSettled(runs);
    this.table.counters.flushes++;
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  private writeBackRun(first: number, last: number): Promise<void> {
    const p = this.order.mutate(first, last, () => this.writeBackLocked(first, last));
    this.inFlight.add(p);
    const done = (): void => {
      this.inFlight.delete(p);
    };
    p.then(done, done);
    return p;
  }

  /** The body of a write-back of cache blocks [first, last], run holding their lock. */
  private async writeBackLocked(first: number, last: number): Promise<void> {
    const table = this.table;
    // Snapshot after the lock: the newest bytes, copied (a later write may change the entry during the pwrite).
    const bs = table.blockSize;
    const taken: { k: number; e: Entry; d: number }[] = [];
    const segments: { lba: number; parts: Uint8Array[] }[] = [];
    let seg: { lba: number; parts: Uint8Array[] } | undefined;
    let segEnd = -1;
    for (let k = first; k <= last; k++) {
      const e = table.entries.get(k);
      if (!e || e.dirty === 0) continue;
      const d = e.dirty;
      table.clearDirty(k, e, d);
      e.flushing |= d;
      taken.push({ k, e, d });
      for (let s = 0; s < table.sectorsIn(k); s++) {
        if (((d >>> s) & 1) === 0) continue;
        const at = k * table.spb + s;
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
      table.counters.writebacks += taken.length;
    } catch (err) {
      // Still dirty (unless UNMAP dropped the sectors or the block left meanwhile).
      for (const { k, e, d } of taken) {
        if (table.entries.get(k) !== e) continue;
        const back = d & e.valid & ~e.dirty;
        e.dirty |= back;
        table.dirtySectors += popcount(back);
        if (e.dirty) table.dirtyKeys.add(k);
      }
      throw err;
    } finally {
      for (const { k, e, d } of taken) {
        e.flushing &= ~d;
        if (e.valid === 0 && e.flushing === 0 && table.entries.get(k) === e) table.removeEntry(k);
      }
    }
  }
}
