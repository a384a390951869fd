/**
 * Rate limit on CHAP guessing across connections. The failure delay (connection.ts) is per connection, so an
 * attacker opening 200 connections at once still tried ~200 secrets a second. Here every wrong CHAP response takes
 * one token from two buckets, one per (initiator name, source address) and one per source address (so changing
 * the InitiatorName does not help); a bucket refills at one token per AUTH_REFILL_MS. While either bucket is empty,
 * a CHAP response from that initiator is refused without being checked (the same Authentication Failure, after the
 * same delay), so a right guess cannot be told from a wrong one: at most one secret a second is tried per address,
 * after a small burst that leaves room for a user's typos. Successful logins are not counted and cost nothing.
 */

/** Wrong CHAP responses one initiator name may give from one address before it is slowed down. */
export const AUTH_BURST_PER_INITIATOR = 5;
/** Wrong CHAP responses one source address may give, whatever initiator names it uses. */
export const AUTH_BURST_PER_ADDRESS = 10;
/** One more try per bucket every this many milliseconds once its burst is spent. */
export const AUTH_REFILL_MS = 1000;
/** Buckets kept at most (the oldest are forgotten first): an address flood cannot grow this without bound. */
const MAX_BUCKETS = 10_000;

interface Bucket {
  tokens: number;
  at: number;
}

export class AuthThrottle {
  private readonly buckets = new Map<string, Bucket>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Why a CHAP response from `initiatorName` at `address` is not checked now, or undefined when it may be. */
  refusal(initiatorName: string, address: string): string | undefined {
    const waits = [this.wait(`n ${address} ${initiatorName}`, AUTH_BURST_PER_INITIATOR), this.wait(`a ${address}`, AUTH_BURST_PER_ADDRESS)];
    const ms = Math.max(...waits);
    if (ms <= 0) return undefined;
    return `too many failed CHAP logins from ${address}${waits[0]! > 0 ? ` as ${initiatorName.slice(0, 64)}` : ''}: the next try is checked in ${Math.ceil(ms / 1000)} s`;
  }

  /** Counts a wrong CHAP response. */
  failed(initiatorName: string, address: string): void {
    this.take(`n ${address} ${initiatorName}`, AUTH_BURST_PER_INITIATOR);
    this.take(`a ${address}`, AUTH_BURST_PER_ADDRESS);
  }

  get trackedCount(): number {
    return this.buckets.size;
  }

  private level(key: string, burst: number): Bucket {
    const now = this.now();
    const b = this.buckets.get(key);
    if (!b) return { tokens: burst, at: now };
    return { tokens: Math.min(burst, b.tokens + (now - b.at) / AUTH_REFILL_MS), at: now };
  }

  /** Milliseconds until the bucket holds a whole token (0: it does). */
  private wait(key: string, burst: number): number {
    const b = this.level(key, burst);
    return b.tokens >= 1 ? 0 : (1 - b.tokens) * AUTH_REFILL_MS;
  }

  private take(key: string, burst: number): void {
    const b = this.level(key, burst);
    b.tokens = Math.max(0, b.tokens - 1);
    // Re-inserted at the end: the Map's order is least recently failed first.
    this.buckets.delete(key);
    this.buckets.set(key, b);
    if (this.buckets.size > MAX_BUCKETS) this.buckets.delete(this.buckets.keys().next().value!);
    for (const [k, v] of this.buckets) {
      // Full again: forget it (it would start full anyway). Only the oldest are looked at, a few per failure.
      if (v.tokens + (b.at - v.at) / AUTH_REFILL_MS < (k.startsWith('a ') ? AUTH_BURST_PER_ADDRESS : AUTH_BURST_PER_INITIATOR)) break;
      this.buckets.delete(k);
    }
  }
}
