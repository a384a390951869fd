/**
 * The order of the cache's own store I/O (rules 2 and 3 of block-cache.ts), in cache-block numbers:
 * - store writes and unmaps of overlapping cache blocks run in the order they were issued (a RangeLock);
 * - a store read in flight (a "fill") is marked stale wherever a mutation touches its blocks, at the mutation's
 *   start and at its end, so it never installs bytes older than the store's.
 */
import { RangeLock } from '../range-lock.ts';

/** A store read in flight whose result may be installed. */
interface Fill {
  readonly first: number;
  readonly last: number;
  /** 1 per cache block (from `first`) that a mutation touched while the read was in flight. */
  readonly stale: Uint8Array;
}

/** A store write (or unmap) in flight, in cache-block numbers. */
interface Mutation {
  readonly first: number;
  readonly last: number;
}

function markStale(fill: Fill, first: number, last: number): void {
  const a = Math.max(first, fill.first);
  const b = Math.min(last, fill.last);
  for (let k = a; k <= b; k++) fill.stale[k - fill.first] = 1;
}

export class StoreOrder {
  private readonly fills = new Set<Fill>();
  private readonly mutations = new Set<Mutation>();
  /** Store writes in flight (write-back, write-through, bypass, unmap). */
  private readonly writes = new Set<Promise<unknown>>();
  /** Orders store writes per cache block (rule 2); units are cache-block numbers. */
  private readonly lock = new RangeLock();

  /** Registers a store read of cache blocks [first, last], already stale where a mutation is in flight. */
  beginFill(first: number, last: number): Fill {
    const fill: Fill = { first, last, stale: new Uint8Array(last - first + 1) };
    for (const m of this.mutations) markStale(fill, m.first, m.last);
    this.fills.add(fill);
    return fill;
  }

  endFill(fill: Fill): void {
    this.fills.delete(fill);
  }

  /** A cache write changed blocks [first, last]: what fills in flight read of them is older. */
  markStale(first: number, last: number): void {
    for (const f of this.fills) markStale(f, first, last);
  }

  /** Runs a store write/unmap of cache blocks [first, last]: in issue order per block, marking fills stale. */
  mutate(first: number, last: number, op: () => Promise<void>): Promise<void> {
    // Registered from the moment it is issued, not when it gets the lock: a fill that starts while this waits
    // would otherwise read what this is about to overwrite and install it afterwards.
    const m: Mutation = { first, last };
    this.mutations.add(m);
    this.markStale(first, last);
    const p = (async () => {
      const release = await this.lock.acquire(first, last - first + 1);
      try {
        await op();
      } finally {
        this.markStale(first, last);
        this.mutations.delete(m);
        release();
      }
    })();
    this.writes.add(p);
    const done = (): void => {
      this.writes.delete(p);
    };
    p.then(done, done);
    return p;
  }

  /** Resolves once every store write of blocks [first, last] issued before this call has ended. */
  async drainRange(first: number, last: number): Promise<void> {
    (await this.lock.acquire(first, last - first + 1))();
  }

  /** Resolves once every store write in flight now has ended (failed or not). */
  async drainAll(): Promise<void> {
    await Promise.allSettled([...this.writes]);
  }
}
