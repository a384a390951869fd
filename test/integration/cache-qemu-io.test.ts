// The block cache seen from outside: a target started in-process with `--cache 16M --cache-mode write-back`
// (parsed by the real CLI parser), read by qemu-io over iSCSI. Reading the same 1 MiB twice leaves `misses` where the
// first read put them and raises `hits` by exactly the cache blocks of 1 MiB; the store tap's events carry the
// cache's per-range outcome; the gateway routes (/api/stats, /api/cache/map, POST /api/cache) answer from the
// same caches.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTargetArgs } from '../../server/config/target-flags.ts';
import { cacheRoutes } from '../../server/gateway/cache-routes.ts';
import { startTarget, type RunningTarget } from '../../server/run-target.ts';
import type { StoreEvent } from '../../server/scsi/events.ts';
import type { BlockCache, CacheStats } from '../../server/store/cache/block-cache.ts';
import { explain, requireTools, run } from '../helpers/exec.ts';

const PORT = 3320;
const IQN = 'iqn.2026-11.org.iscsi-lab:cache-qemu';
const MiB = 1024 * 1024;

function qemuIo(url: string, cmd: string) {
  return run('qemu-io', ['-f', 'raw', '-c', cmd, url], { timeoutMs: 30_000 });
}

describe('block cache under qemu-io (write-back, 16M)', () => {
  let dir: string;
  let target: RunningTarget;
  let cache: BlockCache;
  let http: Server;
  let api: string;

  beforeAll(async () => {
    requireTools('qemu-io');
    dir = mkdtempSync(join(tmpdir(), 'iscsi-lab-cache-'));
    const config = parseTargetArgs([
      '--portal',
      `127.0.0.1:${PORT}`,
      '--iqn',
      IQN,
      '--lun',
      `${join(dir, 'lun0.img')}:64M`,
      '--cache',
      '16M',
      '--cache-mode',
      'write-back',
      '--cache-policy',
      'lru',
      '--readahead',
      'off',
    ]);
    target = await startTarget(config);
    cache = target.caches[0]!;
    const routes = cacheRoutes(target.caches);
    http = createServer((req, res) => {
      void routes(req, res, new URL(req.url ?? '/', 'http://x')).then((handled) => {
        if (!handled) res.writeHead(404).end();
      });
    });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    api = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise((r) => http?.close(r));
    await target?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the second read of the same 1 MiB is all hits: misses unchanged, hits + 1 MiB / block size', async () => {
    expect(cache).toBeDefined();
    const before = cache.stats();
    const first = await qemuIo(target.url, 'read 0 1M');
    expect(first.stdout, explain(first)).toContain('read 1048576/1048576 bytes at offset 0');
    const afterFirst = cache.stats();
    const blocks = MiB / afterFirst.blockBytes;
    expect(afterFirst.misses - before.misses).toBe(blocks);
    expect(afterFirst.usedBytes).toBeGreaterThanOrEqual(MiB);

    const second = await qemuIo(target.url, 'read 0 1M');
    expect(second.stdout, explain(second)).toContain('read 1048576/1048576 bytes at offset 0');
    const afterSecond = cache.stats();
    expect(afterSecond.misses).toBe(afterFirst.misses);
    expect(afterSecond.hits - afterFirst.hits).toBe(blocks);
  });

  it('a write-back write is read back from the cache before it is written back, and the store events say how', async () => {
    const events: StoreEvent[] = [];
    const unsubscribe = target.scsi.taps.store.subscribe((e) => events.push(e));
    try {
      // 3 KiB at 1.5 KiB: partial cache blocks at both ends.
      const w = await qemuIo(target.url, 'write -P 0x5a 1536 3072');
      expect(w.stdout, explain(w)).toContain('wrote 3072/3072 bytes');
      const r = await qemuIo(target.url, 'read -P 0x5a 1536 3072');
      expect(r.stdout, explain(r)).toContain('read 3072/3072 bytes');
      const write = events.find((e) => e.kind === 'write' && e.lba === 3);
      expect(write?.cache?.mode).toBe('write-back');
      expect(write?.cache?.ranges.reduce((n, x) => n + x.blocks, 0)).toBe(6);
      const read = events.find((e) => e.kind === 'read' && e.lba === 3);
      expect(read?.cache?.ranges).toEqual([{ lba: 3, blocks: 6, outcome: 'hit' }]);
      // qemu-io ends with SYNCHRONIZE CACHE: the store event of that flush carries its timings.
      expect(events.some((e) => e.kind === 'flush' && e.cache !== undefined && e.cache.flushMs >= 0)).toBe(true);
    } finally {
      unsubscribe();
    }
  });

  it('GET /api/stats, GET /api/cache/map and POST /api/cache', async () => {
    const stats = (await (await fetch(`${api}/api/stats`)).json()) as { luns: { lun: number; cache: CacheStats }[] };
    expect(stats.luns[0]!.cache).toMatchObject({ policy: 'lru', mode: 'write-back', sizeBytes: 16 * MiB });
    for (const k of ['usedBytes', 'dirtyBytes', 'hits', 'misses', 'readaheadHits', 'evictions', 'flushes']) {
      expect(typeof (stats.luns[0]!.cache as unknown as Record<string, unknown>)[k], k).toBe('number');
    }
    const map = (await (await fetch(`${api}/api/cache/map?lun=0`)).json()) as { exact: boolean; ranges: { lba: number; blocks: number; cached: number }[] };
    expect(map.exact).toBe(true);
    expect(map.ranges[0]).toMatchObject({ lba: 0, blocks: 2048, cached: 256 });
    expect((await fetch(`${api}/api/cache/map?lun=7`)).status).toBe(400);

    const bad = await fetch(`${api}/api/cache`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ policy: 'fifo' }) });
    expect(bad.status).toBe(400);
    const usedBefore = cache.stats().usedBytes;
    const ok = await fetch(`${api}/api/cache`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ lun: 0, policy: '2q' }),
    });
    expect(ok.status).toBe(200);
    expect(cache.stats()).toMatchObject({ policy: '2q', usedBytes: usedBefore });
    // Still all hits after the switch: nothing was dropped.
    const hitsBefore = cache.stats().hits;
    const r = await qemuIo(target.url, 'read 0 1M');
    expect(r.stdout, explain(r)).toContain('read 1048576/1048576 bytes');
    expect(cache.stats().hits - hitsBefore).toBe(MiB / cache.stats().blockBytes);
  });
});
