/**
 * Reads against atomic writes (SBC-4 4.29 atomic writes): a read of blocks an atomic write is changing returns all
 * old or all new data, never a mix. Ordinary reads take no lock (they are the hot path, and a plain WRITE makes no
 * such promise); while an atomic write is queued or running on the LU, reads go through the LU's range lock, and
 * the atomic write starts only once the unlocked reads already under way have finished. New reads queue behind
 * it in the lock, so the unlocked ones only drain and the atomic write cannot starve.
 */
import type { RangeLock } from '../store/range-lock.ts';

export class AtomicGate {
  private atomicWrites = 0;
  private unlockedReads = 0;
  private drainWaiters: (() => void)[] = [];

  constructor(private readonly lock: RangeLock) {}

  /** Runs `op` (a read of [lba, lba + blocks)) so that no atomic write is seen half done. */
  async read<T>(lba: number, blocks: number, op: () => Promise<T>): Promise<T> {
    if (this.atomicWrites > 0) {
      const release = await this.lock.acquire(lba, blocks);
      try {
        return await op();
      } finally {
        release();
      }
    }
    this.unlockedReads++;
    try {
      return await op();
    } finally {
      if (--this.unlockedReads === 0) this.wakeDrained();
    }
  }

  /** Runs `op` (a write of [lba, lba + blocks)) under the range lock, with no unlocked read in flight. */
  async atomicWrite(lba: number, blocks: number, op: () => Promise<void>): Promise<void> {
    this.atomicWrites++;
    try {
      const release = await this.lock.acquire(lba, blocks);
      try {
        if (this.unlockedReads > 0) await new Promise<void>((resolve) => this.drainWaiters.push(resolve));
        await op();
      } finally {
        release();
      }
    } finally {
      this.atomicWrites--;
    }
  }

  private wakeDrained(): void {
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const wake of waiters) wake();
  }
}
