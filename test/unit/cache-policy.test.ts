// Replacement policies on their own (a key-only simulator), the same through the cache with the benchmark's
// workloads, the sequential detector, and the cache flags.
import { describe, expect, it } from 'vitest';
import { WORKLOADS, replay } from '../../scripts/bench-cache.ts';
import { CacheFlagError, applyCacheFlag, defaultCacheConfig, parseCacheArgs, parseReadahead } from '../../server/store/cache/config.ts';
import { createPolicy, type PolicyName } from '../../server/store/cache/policy.ts';
import { SequentialDetector } from '../../server/store/cache/readahead.ts';
import type { BlockStore } from '../../server/store/types.ts';
import { parseTargetArgs } from '../../server/config/target-flags.ts';
import { UsageError } from '../../server/config/usage-error.ts';

/** Runs keys through a policy with `capacity` slots, evicting the first victim; returns hits per key list. */
function simulate(name: PolicyName, capacity: number, keys: number[]): { hits: number; resident: Set<number> } {
  const p = createPolicy(name, capacity);
  const resident = new Set<number>();
  let hits = 0;
  for (const k of keys) {
    if (resident.has(k)) {
      hits++;
      p.hit(k);
      continue;
    }
    if (resident.size >= capacity) {
      const v = p.victims()[Symbol.iterator]().next().value as number;
      resident.delete(v);
      p.evicted(v);
    }
    resident.add(k);
    p.insert(k, false);
  }
  expect(p.size).toBe(resident.size);
  return { hits, resident };
}

describe('replacement policies', () => {
  it('LRU evicts the least recently used key', () => {
    const { resident } = simulate('lru', 3, [1, 2, 3, 1, 4]);
    expect([...resident].sort()).toEqual([1, 3, 4]);
  });

  it('a scan of new keys wipes a hot set out of LRU but not out of 2Q or ARC', () => {
    const capacity = 100;
    const hot = Array.from({ length: 20 }, (_, i) => i);
    const keys: number[] = [];
    // The hot set, re-referenced after being pushed out once (so 2Q's ghosts and ARC's T2 know it), then a scan.
    for (let r = 0; r < 3; r++) keys.push(...hot);
    for (let i = 0; i < 100; i++) keys.push(1000 + i);
    keys.push(...hot);
    for (let i = 0; i < 400; i++) keys.push(5000 + i); // the scan: 4x the cache, each key once
    const results = Object.fromEntries((['lru', '2q', 'arc'] as const).map((p) => [p, simulate(p, capacity, keys).resident]));
    const hotLeft = (s: Set<number>) => hot.filter((k) => s.has(k)).length;
    expect(hotLeft(results.lru!)).toBe(0);
    expect(hotLeft(results['2q']!)).toBe(20);
    expect(hotLeft(results.arc!)).toBe(20);
  });

  it('victims skip nothing themselves: the cache decides (dirty keys stay, the next victim is offered)', () => {
    const p = createPolicy('2q', 4);
    for (const k of [1, 2, 3, 4]) p.insert(k, false);
    expect([...p.victims()].sort()).toEqual([1, 2, 3, 4]);
    p.remove(2);
    expect([...p.victims()].sort()).toEqual([1, 3, 4]);
  });
});

/** A store that returns zeros quickly: the benchmark's workloads need only reads. */
function zeroStore(blockCount: number): BlockStore {
  return {
    blockSize: 512,
    blockCount,
    thin: false,
    read: async (_lba, blocks) => new Uint8Array(blocks * 512),
    write: async () => undefined,
    flush: async () => undefined,
    unmap: async () => undefined,
    mapping: async (lba, max) => ({ mapped: true, blocks: Math.min(max, blockCount - lba) }),
    close: async () => undefined,
  };
}

describe('the benchmark workloads through the cache (scripts/bench-cache.ts)', () => {
  const cacheBytes = 512 * 1024;
  const store = zeroStore((cacheBytes * 8) / 512);
  const workload = (name: string) => WORKLOADS.find((w) => w.name === name)!;

  it('hot set + scan: 2Q and ARC keep the hot set, LRU loses it to every scan burst', async () => {
    const lru = await replay(store, workload('hot set + scan'), 'lru', cacheBytes);
    const twoQ = await replay(store, workload('hot set + scan'), '2q', cacheBytes);
    const arc = await replay(store, workload('hot set + scan'), 'arc', cacheBytes);
    expect(lru.hotHitRate!).toBeLessThan(0.6);
    expect(twoQ.hotHitRate!).toBeGreaterThan(0.9);
    expect(arc.hotHitRate!).toBeGreaterThan(0.9);
    expect(twoQ.hitRate).toBeGreaterThan(lru.hitRate + 0.1);
  });

  it('random reads over 4x the cache hit about a quarter of the time; sequential needs readahead', async () => {
    const r = await replay(store, workload('random'), 'lru', cacheBytes);
    expect(r.hitRate).toBeGreaterThan(0.18);
    expect(r.hitRate).toBeLessThan(0.32);
    expect((await replay(store, workload('sequential'), '2q', cacheBytes)).hitRate).toBe(0);
    const ra = await replay(store, workload('sequential, readahead'), '2q', cacheBytes);
    expect(ra.hitRate).toBeGreaterThan(0.9);
    expect(ra.readaheadHits).toBe(ra.hits);
  });
});

describe('sequential detector', () => {
  it('asks for a window ahead from the second read of a stream on, then every half window', () => {
    const d = new SequentialDetector(64, 10_000);
    expect(d.observe(0, 8)).toBeUndefined();
    expect(d.observe(8, 8)).toEqual({ lba: 16, blocks: 64 });
    expect(d.observe(16, 8)).toBeUndefined(); // 56 still ahead
    expect(d.observe(24, 8)).toBeUndefined();
    expect(d.observe(32, 8)).toBeUndefined();
    expect(d.observe(40, 8)).toBeUndefined(); // 32 ahead: not less than half
    expect(d.observe(48, 8)).toEqual({ lba: 80, blocks: 40 });
  });

  it('tracks interleaved streams apart, ignores random reads, stops at the end of the LUN', () => {
    const d = new SequentialDetector(32, 1000);
    expect(d.observe(0, 8)).toBeUndefined();
    expect(d.observe(500, 8)).toBeUndefined();
    expect(d.observe(8, 8)).toEqual({ lba: 16, blocks: 32 });
    expect(d.observe(508, 8)).toEqual({ lba: 516, blocks: 32 });
    expect(d.observe(123, 1)).toBeUndefined();
    const end = new SequentialDetector(32, 1000);
    end.observe(980, 8);
    expect(end.observe(988, 8)).toEqual({ lba: 996, blocks: 4 });
    expect(new SequentialDetector(0, 1000).observe(0, 8)).toBeUndefined();
  });
});

describe('cache flags', () => {
  it('parses size, mode, policy, readahead and the flush interval', () => {
    const c = parseCacheArgs([
      '--cache',
      '64M',
      '--cache-mode=write-through',
      '--cache-policy',
      'ARC',
      '--readahead',
      'on,128K',
      '--cache-flush-interval',
      '0',
    ]);
    expect(c).toEqual({ sizeBytes: 64 << 20, mode: 'write-through', policy: 'arc', readahead: { enabled: true, windowBytes: 128 << 10 }, flushIntervalMs: 0 });
    expect(parseCacheArgs(['--cache', '0']).sizeBytes).toBe(0);
    expect(parseReadahead('off')).toEqual({ enabled: false, windowBytes: defaultCacheConfig().readahead.windowBytes });
    expect(parseReadahead('512K')).toEqual({ enabled: true, windowBytes: 512 << 10 });
    for (const [flag, v] of [
      ['--cache', '64Q'],
      ['--cache-mode', 'write-around'],
      ['--cache-policy', 'fifo'],
      ['--readahead', 'maybe'],
      ['--readahead', 'on,1,2'],
    ]) {
      expect(() => applyCacheFlag(defaultCacheConfig(), flag!, v!)).toThrow(CacheFlagError);
    }
  });

  it('the target parser takes them (bad values are usage errors), and no flag means no cache', () => {
    const base = ['--iqn', 'iqn.2026-11.org.iscsi-lab:t', '--lun', '/tmp/x.img:64M'];
    expect(parseTargetArgs(base).cache).toBeUndefined();
    expect(parseTargetArgs([...base, '--cache', '16M', '--cache-mode', 'write-back']).cache).toMatchObject({
      sizeBytes: 16 << 20,
      mode: 'write-back',
      policy: '2q',
    });
    expect(() => parseTargetArgs([...base, '--cache-policy', 'mru'])).toThrow(UsageError);
    expect(() => parseTargetArgs([...base, '--cache'])).toThrow(UsageError);
  });
});
