// Growing a LUN at run time (POST /api/admin resize-lun): the file store and the block cache above it.
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openFileStore } from '../../server/store/file-store.ts';
import { BlockCache } from '../../server/store/cache/block-cache.ts';

let dir = '';
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = '';
});

describe('growing a LUN', () => {
  it('a cached LUN grows: cached and dirty blocks keep their data, the new blocks read zeros and take writes', async () => {
    dir = await mkdtemp(join(tmpdir(), 'store-grow-'));
    const file = await openFileStore({ path: join(dir, 'l.img'), sizeBytes: 1 << 20, thin: false });
    const cache = new BlockCache(file, { sizeBytes: 256 * 1024, mode: 'write-back', policy: '2q', flushIntervalMs: 0 });
    await cache.write(2040, new Uint8Array(8 * 512).fill(0x11), false); // the old last cache block, dirty
    await cache.grow(4096);
    expect([cache.blockCount, file.blockCount, (await stat(join(dir, 'l.img'))).size]).toEqual([4096, 4096, 2 << 20]);
    expect((await cache.read(2040, 8)).every((b) => b === 0x11)).toBe(true);
    expect((await cache.read(4000, 8)).every((b) => b === 0)).toBe(true);
    await cache.write(4088, new Uint8Array(8 * 512).fill(0x22), false);
    await cache.flush();
    expect((await file.read(4088, 8)).every((b) => b === 0x22)).toBe(true);
    expect((await file.read(2040, 8)).every((b) => b === 0x11)).toBe(true);
    await expect(cache.grow(4096)).rejects.toThrow(/no larger/);
    await cache.close();
  });

  it('refuses where it cannot grow safely: a partial last cache block, a thin LUN', async () => {
    dir = await mkdtemp(join(tmpdir(), 'store-grow-'));
    const odd = await openFileStore({ path: join(dir, 'odd.img'), sizeBytes: (1 << 20) + 1024, thin: false });
    const cache = new BlockCache(odd, { sizeBytes: 64 * 1024, flushIntervalMs: 0 });
    await expect(cache.grow(4096)).rejects.toThrow(/partial/);
    await cache.close();
    const thin = await openFileStore({ path: join(dir, 'thin.img'), sizeBytes: 1 << 20, thin: true });
    await expect(thin.grow(4096)).rejects.toThrow(/thin/);
    await thin.close();
  });
});
