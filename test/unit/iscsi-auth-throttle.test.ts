// auth-throttle.ts on a fake clock: the burst, the refill, both buckets, and the bound on what it remembers.
import { describe, expect, it } from 'vitest';
import { AUTH_BURST_PER_ADDRESS, AUTH_BURST_PER_INITIATOR, AUTH_REFILL_MS, AuthThrottle } from '../../server/iscsi/auth-throttle.ts';

describe('AuthThrottle', () => {
  it('lets a burst of wrong secrets through, then one per refill period, per initiator name and address', () => {
    let now = 1_000_000;
    const t = new AuthThrottle(() => now);
    for (let i = 0; i < AUTH_BURST_PER_INITIATOR; i++) {
      expect(t.refusal('iqn.a', '10.0.0.1'), `try ${i}`).toBeUndefined();
      t.failed('iqn.a', '10.0.0.1');
    }
    expect(t.refusal('iqn.a', '10.0.0.1')).toMatch(/too many failed CHAP logins from 10\.0\.0\.1 as iqn\.a: the next try is checked in 1 s/);
    // Another address, or another name from the same address (its own burst left): not affected.
    expect(t.refusal('iqn.a', '10.0.0.2')).toBeUndefined();
    expect(t.refusal('iqn.b', '10.0.0.1')).toBeUndefined();
    now += AUTH_REFILL_MS - 1;
    expect(t.refusal('iqn.a', '10.0.0.1')).toBeDefined();
    now += 1;
    expect(t.refusal('iqn.a', '10.0.0.1')).toBeUndefined();
    t.failed('iqn.a', '10.0.0.1');
    expect(t.refusal('iqn.a', '10.0.0.1')).toBeDefined();
    // Long quiet: full burst again, and the bucket is forgotten at the next failure anywhere.
    now += AUTH_REFILL_MS * AUTH_BURST_PER_ADDRESS;
    expect(t.refusal('iqn.a', '10.0.0.1')).toBeUndefined();
  });

  it('new initiator names do not buy new guesses from one address', () => {
    let now = 0;
    const t = new AuthThrottle(() => now);
    let allowed = 0;
    for (let i = 0; i < 100; i++) {
      if (t.refusal(`iqn.guess-${i}`, '10.0.0.9') !== undefined) continue;
      allowed++;
      t.failed(`iqn.guess-${i}`, '10.0.0.9');
    }
    expect(allowed).toBe(AUTH_BURST_PER_ADDRESS);
    expect(t.refusal('iqn.fresh', '10.0.0.9')).toMatch(/from 10\.0\.0\.9: the next try/);
    now += 10 * AUTH_REFILL_MS;
    for (let i = 0; i < 100; i++) {
      if (t.refusal(`iqn.late-${i}`, '10.0.0.9') !== undefined) continue;
      allowed++;
      t.failed(`iqn.late-${i}`, '10.0.0.9');
    }
    expect(allowed).toBe(AUTH_BURST_PER_ADDRESS + 10);
  });

  it('remembers a bounded number of buckets under an address flood', () => {
    const t = new AuthThrottle(() => 0);
    for (let i = 0; i < 30_000; i++) t.failed('iqn.x', `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
    expect(t.trackedCount).toBeLessThanOrEqual(10_000);
  });
});
