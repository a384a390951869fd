/**
 * `npm run bench -- cache` (npx tsx scripts/bench-cache.ts): the same synthetic read workloads replayed against the
 * block cache directly, over a temporary file store, once per policy, hit rates side by side.
 *
 *   random         uniform random 4 KiB reads over a LUN 4x the cache
 *   sequential     one stream of 64 KiB reads through the LUN (readahead off, then on)
 *   looping scan   the same scan, 1.5x the cache, over and over (LRU's worst case: it always evicts what comes next)
 *   hot set + scan a hot set of 1/2 the cache read over and over, between scan bursts as big as the cache
 *
 * Hit rate = hits / (hits + misses) in cache blocks, for the measured phase (after a warm-up pass where relevant).
 * Options: --cache SIZE (default 4M), --json (one JSON object instead of the table).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlockCache } from '../server/store/cache/block-cache.ts';
import { parseCacheSize } from '../server/store/cache/config.ts';
import { POLICY_NAMES, type PolicyName } from '../server/store/cache/policy.ts';
import { openFileStore } from '../server/store/file-store.ts';
import type { BlockStore } from '../server/store/types.ts';

export interface Workload {
  name: string;
  readahead: boolean;
  /** Reads as [lba, blocks]; the first `warmup` are not counted. */
  reads(cacheBytes: number, lbaBytes: number): { warmup: number; ops: Array<[number, number]> };
}

/** Deterministic PRNG (mulberry32), so every policy sees the very same workload. */
function rng(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n) | 0;
  };
}

const BLOCK = 4096;

export const WORKLOADS: Workload[] = [
  {
    name: 'random',
    readahead: false,
    reads(cache, lba) {
      const span = (cache * 4) / BLOCK;
      const r = rng(1);
      const ops: Array<[number, number]> = [];
      for (let i = 0; i < span * 3; i++) ops.push([(r(span) * BLOCK) / lba, BLOCK / lba]);
      return { warmup: span, ops };
    },
  },
  ...[false, true].map((readahead): Workload => ({
    name: readahead ? 'sequential, readahead' : 'sequential',
    readahead,
    reads(cache, lba) {
      const ops: Array<[number, number]> = [];
      const chunk = 65536 / lba;
      for (let at = 0; at < (cache * 4) / lba; at += chunk) ops.push([at, chunk]);
      return { warmup: 0, ops };
    },
  })),
  {
    name: 'looping scan 1.5x',
    readahead: false,
    reads(cache, lba) {
      const ops: Array<[number, number]> = [];
      const span = (cache * 1.5) / BLOCK;
      for (let loop = 0; loop < 6; loop++) for (let b = 0; b < span; b++) ops.push([(b * BLOCK) / lba, BLOCK / lba]);
      return { warmup: span, ops };
    },
  },
  {
    name: 'hot set + scan',
    readahead: false,
    reads(cache, lba) {
      // Hot set: half the cache, at the start of the LUN. Rounds of: a scan burst as big as the cache (blocks never
      // read before, from past the hot set on), then the hot set read twice in random order.
      const hot = cache / 2 / BLOCK;
      const burst = cache / BLOCK;
      const r = rng(7);
      const ops: Array<[number, number]> = [];
      let scanAt = hot;
      const round = (): void => {
        for (let b = 0; b < burst; b++) ops.push([(scanAt++ * BLOCK) / lba, BLOCK / lba]);
        for (let i = 0; i < 2 * hot; i++) ops.push([(r(hot) * BLOCK) / lba, BLOCK / lba]);
      };
      // Warm-up: the hot set read a few times, then one round (how a hot set becomes hot).
      for (let i = 0; i < 3 * hot; i++) ops.push([(r(hot) * BLOCK) / lba, BLOCK / lba]);
      round();
      const warmup = ops.length;
      for (let i = 0; i < 4; i++) round();
      return { warmup, ops };
    },
  },
];

export interface Result {
  workload: string;
  policy: PolicyName;
  hitRate: number;
  hits: number;
  misses: number;
  readaheadHits: number;
  evictions: number;
  /** Hit rate of the hot-set reads alone (hot set + scan only). */
  hotHitRate?: number;
  ms: number;
}

/** Replays `w` against a fresh cache of `cacheBytes` over `store`; counts only the measured phase. */
export async function replay(store: BlockStore, w: Workload, policy: PolicyName, cacheBytes: number): Promise<Result> {
  const cache = new BlockCache(store, {
    sizeBytes: cacheBytes,
    blockBytes: BLOCK,
    policy,
    mode: 'write-through',
    readahead: { enabled: w.readahead, windowBytes: 256 * 1024 },
    flushIntervalMs: 0,
  });
  const { warmup, ops } = w.reads(cacheBytes, store.blockSize);
  const hotLimit = cacheBytes / 2 / store.blockSize;
  let base = cache.stats();
  let hotHits = 0;
  let hotReads = 0;
  const started = performance.now();
  for (let i = 0; i < ops.length; i++) {
    if (i === warmup) base = cache.stats();
    const [lba, blocks] = ops[i]!;
    const before = w.name === 'hot set + scan' && i >= warmup && lba < hotLimit ? cache.stats().hits : -1;
    await cache.read(lba, blocks);
    if (before >= 0) {
      hotReads++;
      hotHits += cache.stats().hits - before;
    }
  }
  const ms = performance.now() - started;
  const s = cache.stats();
  const hits = s.hits - base.hits;
  const misses = s.misses - base.misses;
  return {
    workload: w.name,
    policy,
    hitRate: hits / Math.max(1, hits + misses),
    hits,
    misses,
    readaheadHits: s.readaheadHits - base.readaheadHits,
    evictions: s.evictions - base.evictions,
    ...(hotReads > 0 ? { hotHitRate: hotHits / hotReads } : {}),
    ms,
  };
}

async function main(argv: string[]): Promise<void> {
  let cacheBytes = 4 * 1024 * 1024;
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--cache') cacheBytes = parseCacheSize(argv[++i] ?? '');
    else if (argv[i] === '--json') json = true;
    else if (argv[i] === 'cache')
      continue; // `npm run bench -- cache` may pass its selector through
    else throw new Error(`unknown argument ${argv[i]}: use [--cache SIZE] [--json]`);
  }
  const dir = await mkdtemp(join(tmpdir(), 'iscsi-lab-bench-cache-'));
  const lunBytes = Math.max(64 * 1024 * 1024, cacheBytes * 6);
  const store = await openFileStore({ path: join(dir, 'lun.img'), sizeBytes: lunBytes, thin: false });
  try {
    // Something other than zeros in the file, so reads are real reads.
    const chunk = Buffer.alloc(1024 * 1024, 0xa5);
    for (let at = 0; at < lunBytes; at += chunk.length) await store.write(at / store.blockSize, chunk, false);
    const results: Result[] = [];
    for (const w of WORKLOADS) for (const p of POLICY_NAMES) results.push(await replay(store, w, p, cacheBytes));
    if (json) {
      process.stdout.write(`${JSON.stringify({ cacheBytes, blockBytes: BLOCK, results })}\n`);
      return;
    }
    const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
    const col = (s: string, n: number) => s.padEnd(n);
    process.stdout.write(`block cache hit rates: cache ${cacheBytes / 1048576} MiB, ${BLOCK}-byte cache blocks, LUN ${lunBytes / 1048576} MiB\n\n`);
    process.stdout.write(`${col('workload', 24)}${POLICY_NAMES.map((p) => col(p, 12)).join('')}\n`);
    for (const w of WORKLOADS) {
      const row = POLICY_NAMES.map((p) => results.find((r) => r.workload === w.name && r.policy === p)!);
      process.stdout.write(`${col(w.name, 24)}${row.map((r) => col(pct(r.hitRate), 12)).join('')}\n`);
      if (w.name === 'hot set + scan') {
        process.stdout.write(`${col('  hot-set reads only', 24)}${row.map((r) => col(pct(r.hotHitRate ?? 0), 12)).join('')}\n`);
      }
      if (w.readahead) {
        process.stdout.write(`${col('  of which readahead', 24)}${row.map((r) => col(pct(r.readaheadHits / Math.max(1, r.hits + r.misses)), 12)).join('')}\n`);
      }
    }
    process.stdout.write('\nhit rate = hits / (hits + misses), cache blocks, measured after warm-up; readahead off unless named\n');
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`bench-cache: ${String(err)}\n`);
    process.exit(1);
  });
}
