/**
 * Replacement policies for the block cache. A policy orders cache-block keys; it never holds data and never decides
 * alone what leaves: the cache walks `victims()` best-first and evicts the first key it may (clean, not being
 * written back). So dirty data can never be lost to a policy, and switching policy at run time only re-orders keys.
 *
 * - LRU: one recency list (a Map keeps insertion order: delete + set moves a key to the MRU end).
 * - 2Q (Johnson & Shasha, VLDB 1994, "full version"): new keys enter a FIFO A1in; keys pushed out of A1in leave a
 *   ghost (key only) in A1out; a key referenced again while its ghost is in A1out goes to the LRU list Am. A scan
 *   touches each block once, so it only cycles through A1in and never displaces the re-referenced hot set in Am.
 * - ARC (Megiddo & Modha, FAST 2003): T1 (seen once) and T2 (seen twice or more) with ghosts B1/B2 steering the
 *   target size p of T1; scan resistant and self-tuning.
 */
import type { CachePolicyName } from '../../../shared/api/cache.ts';

/** The contract's names (shared/api/cache.ts): GET /api/stats reports them, POST /api/cache takes them. */
export type PolicyName = CachePolicyName;
export const POLICY_NAMES: readonly PolicyName[] = ['lru', '2q', 'arc'];

export interface ReplacementPolicy {
  readonly name: PolicyName;
  /** A cached key was referenced. */
  hit(key: number): void;
  /** A key entered the cache (room was made before). `prefetch`: brought in by readahead, not by a request. */
  insert(key: number, prefetch: boolean): void;
  /** The cache evicted `key` to make room (policies with ghosts remember it). */
  evicted(key: number): void;
  /** `key` left for another reason (invalidated by UNMAP, a failed write): no ghost. */
  remove(key: number): void;
  /** Eviction candidates, best first. The cache may skip some (dirty, busy); the iterator must tolerate that. */
  victims(): Iterable<number>;
  // (The cache stops iterating at the first key it evicts, and mutates the policy only after that.)
  /** Every resident key, least valuable first: how a switch to another policy keeps the order. */
  keys(): number[];
  /** Capacity in cache blocks changed (ghost lists and targets are sized from it). */
  resize(capacity: number): void;
  readonly size: number;
}

/** Moves `key` to the most-recent end of an insertion-ordered map. */
function bump(m: Map<number, true>, key: number): void {
  m.delete(key);
  m.set(key, true);
}

function trimGhosts(ghosts: Map<number, true>, max: number): void {
  for (const k of ghosts.keys()) {
    if (ghosts.size <= max) break;
    ghosts.delete(k);
  }
}

class LruPolicy implements ReplacementPolicy {
  readonly name = 'lru';
  private readonly order = new Map<number, true>();

  hit(key: number): void {
    if (this.order.has(key)) bump(this.order, key);
  }
  insert(key: number): void {
    bump(this.order, key);
  }
  evicted(key: number): void {
    this.order.delete(key);
  }
  remove(key: number): void {
    this.order.delete(key);
  }
  victims(): Iterable<number> {
    return this.order.keys();
  }
  keys(): number[] {
    return [...this.order.keys()];
  }
  resize(): void {}
  get size(): number {
    return this.order.size;
  }
}

/** 2Q's tuning from the paper: Kin = 25% of the cache, Kout = 50% of the cache (ghosts: keys only). */
const TWOQ_IN_FRACTION = 0.25;
const TWOQ_OUT_FRACTION = 0.5;

class TwoQPolicy implements ReplacementPolicy {
  readonly name = '2q';
  private readonly a1in = new Map<number, true>();
  private readonly am = new Map<number, true>();
  private readonly a1out = new Map<number, true>();
  private kin = 1;
  private kout = 1;

  constructor(capacity: number) {
    this.resize(capacity);
  }

  hit(key: number): void {
    // A hit in A1in changes nothing (correlated references); a hit in Am is an LRU touch.
    if (this.am.has(key)) bump(this.am, key);
  }
  insert(key: number, prefetch: boolean): void {
    if (this.a1in.has(key) || this.am.has(key)) return;
    if (!prefetch && this.a1out.delete(key)) this.am.set(key, true);
    else this.a1in.set(key, true);
  }
  evicted(key: number): void {
    if (this.a1in.delete(key)) {
      this.a1out.set(key, true);
      trimGhosts(this.a1out, this.kout);
    } else {
      this.am.delete(key);
    }
  }
  remove(key: number): void {
    this.a1in.delete(key);
    this.am.delete(key);
    this.a1out.delete(key);
  }
  *victims(): Iterable<number> {
    // Reclaim from A1in while it is over its share, else from Am's LRU end; then whatever is left.
    if (this.a1in.size > this.kin) {
      yield* this.a1in.keys();
      yield* this.am.keys();
    } else {
      yield* this.am.keys();
      yield* this.a1in.keys();
    }
  }
  keys(): number[] {
    return [...this.a1in.keys(), ...this.am.keys()];
  }
  resize(capacity: number): void {
    this.kin = Math.max(1, Math.floor(capacity * TWOQ_IN_FRACTION));
    this.kout = Math.max(1, Math.floor(capacity * TWOQ_OUT_FRACTION));
    trimGhosts(this.a1out, this.kout);
  }
  get size(): number {
    return this.a1in.size + this.am.size;
  }
}

class ArcPolicy implements ReplacementPolicy {
  readonly name = 'arc';
  private readonly t1 = new Map<number, true>();
  private readonly t2 = new Map<number, true>();
  private readonly b1 = new Map<number, true>();
  private readonly b2 = new Map<number, true>();
  /** Target size of T1. */
  private p = 0;
  private c = 1;

  constructor(capacity: number) {
    this.resize(capacity);
  }

  hit(key: number): void {
    if (this.t1.delete(key) || this.t2.has(key)) bump(this.t2, key);
  }
  insert(key: number, prefetch: boolean): void {
    if (this.t1.has(key) || this.t2.has(key)) return;
    if (!prefetch && this.b1.has(key)) {
      // Recently evicted after one use: T1 should have been bigger.
      this.p = Math.min(this.c, this.p + Math.max(1, this.b2.size / this.b1.size));
      this.b1.delete(key);
      this.t2.set(key, true);
    } else if (!prefetch && this.b2.has(key)) {
      this.p = Math.max(0, this.p - Math.max(1, this.b1.size / this.b2.size));
      this.b2.delete(key);
      this.t2.set(key, true);
    } else {
      this.t1.set(key, true);
    }
  }
  evicted(key: number): void {
    if (this.t1.delete(key)) {
      this.b1.set(key, true);
      trimGhosts(this.b1, this.c);
    } else if (this.t2.delete(key)) {
      this.b2.set(key, true);
      trimGhosts(this.b2, this.c);
    }
  }
  remove(key: number): void {
    this.t1.delete(key);
    this.t2.delete(key);
    this.b1.delete(key);
    this.b2.delete(key);
  }
  *victims(): Iterable<number> {
    // REPLACE: take from T1 when it is over its target p, else from T2.
    if (this.t1.size > 0 && this.t1.size >= Math.max(1, this.p)) {
      yield* this.t1.keys();
      yield* this.t2.keys();
    } else {
      yield* this.t2.keys();
      yield* this.t1.keys();
    }
  }
  keys(): number[] {
    return [...this.t1.keys(), ...this.t2.keys()];
  }
  resize(capacity: number): void {
    this.c = Math.max(1, capacity);
    this.p = Math.min(this.p, this.c);
    trimGhosts(this.b1, this.c);
    trimGhosts(this.b2, this.c);
  }
  get size(): number {
    return this.t1.size + this.t2.size;
  }
}

export function createPolicy(name: PolicyName, capacity: number): ReplacementPolicy {
  switch (name) {
    case 'lru':
      return new LruPolicy();
    case '2q':
      return new TwoQPolicy(capacity);
    case 'arc':
      return new ArcPolicy(capacity);
  }
}
