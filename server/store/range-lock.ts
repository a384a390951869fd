/**
 * Per-LUN LBA range lock. COMPARE AND WRITE must be atomic against every other write to its blocks (SBC-3 5.2:
 * the compare and the write happen "as an uninterrupted series of actions"); ordinary writes take the same lock so
 * they queue behind an overlapping COMPARE AND WRITE, while writes to other blocks go ahead concurrently.
 *
 * Fair: a request waits for every earlier request whose range overlaps its own, so nothing starves.
 */

interface Holder {
  readonly start: number;
  readonly end: number; // exclusive
  granted: boolean;
  wake?: () => void;
}

type Release = () => void;

export class RangeLock {
  /** Holders and waiters in arrival order. */
  private queue: Holder[] = [];

  /** Resolves once blocks [lba, lba + blocks) are exclusively ours; call the returned function to release. */
  acquire(lba: number, blocks: number): Promise<Release> {
    const holder: Holder = { start: lba, end: lba + Math.max(blocks, 1), granted: false };
    this.queue.push(holder);
    const release = (): void => this.release(holder);
    if (this.canGrant(holder)) {
      holder.granted = true;
      return Promise.resolve(release);
    }
    return new Promise<Release>((resolve) => {
      holder.wake = () => resolve(release);
    });
  }

  /** Number of requests holding or waiting (tests and diagnostics). */
  get pending(): number {
    return this.queue.length;
  }

  private canGrant(holder: Holder): boolean {
    for (const other of this.queue) {
      if (other === holder) return true;
      if (other.start < holder.end && holder.start < other.end) return false;
    }
    return true;
  }

  private release(holder: Holder): void {
    const index = this.queue.indexOf(holder);
    if (index < 0) return; // released twice: harmless
    this.queue.splice(index, 1);
    for (const waiter of this.queue) {
      if (!waiter.granted && this.canGrant(waiter)) {
        waiter.granted = true;
        waiter.wake?.();
      }
    }
  }
}
