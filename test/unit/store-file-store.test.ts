import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mapPath, openFileStore } from '../../server/store/file-store.ts';
import { RangeLock } from '../../server/store/range-lock.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'store-test-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const pattern = (blocks: number, seed: number, blockSize = 512): Uint8Array => Uint8Array.from({ length: blocks * blockSize }, (_, i) => (i * 7 + seed) & 0xff);

describe('openFileStore', () => {
  it('creates a sparse image in a new directory and round-trips data', async () => {
    const path = join(dir, 'nested', 'a', 'lun.img');
    const store = await openFileStore({ path, sizeBytes: 1 << 20, thin: false });
    expect(store.blockCount).toBe(2048);
    expect(store.blockSize).toBe(512);
    const data = pattern(3, 1);
    await store.write(10, data, false);
    expect(Buffer.from(await store.read(10, 3)).equals(Buffer.from(data))).toBe(true);
    expect(Buffer.from(await store.read(0, 1)).every((b) => b === 0)).toBe(true);
    await store.close();
    const st = await stat(path);
    expect(st.size).toBe(1 << 20);
    expect(st.blocks * 512).toBeLessThan(1 << 20); // sparse: not fully allocated
  });

  it('reuses an existing image, keeping its data and growing it to the requested size', async () => {
    const path = join(dir, 'lun.img');
    const first = await openFileStore({ path, sizeBytes: 64 * 1024, thin: false });
    await first.write(5, pattern(1, 9), false);
    await first.close();
    const second = await openFileStore({ path, sizeBytes: 128 * 1024, thin: false });
    expect(second.blockCount).toBe(256);
    expect(Buffer.from(await second.read(5, 1)).equals(Buffer.from(pattern(1, 9)))).toBe(true);
    await second.close();
    const third = await openFileStore({ path, sizeBytes: 4096, thin: false });
    expect(third.blockCount).toBe(256); // never shrinks: max(existing, requested)
    await third.close();
  });

  it('FUA writes and flush call fdatasync; plain writes do not', async () => {
    const store = await openFileStore({ path: join(dir, 'l.img'), sizeBytes: 65536, thin: false });
    const before = store.stats.datasyncs;
    await store.write(0, pattern(1, 1), false);
    expect(store.stats.datasyncs).toBe(before);
    await store.write(1, pattern(1, 2), true);
    expect(store.stats.datasyncs).toBe(before + 1);
    await store.flush();
    expect(store.stats.datasyncs).toBe(before + 2);
    await store.close();
  });

  it('rejects out-of-range access and partial blocks', async () => {
    const store = await openFileStore({ path: join(dir, 'l.img'), sizeBytes: 4096, thin: false });
    await expect(store.read(7, 2)).rejects.toThrow(RangeError);
    await expect(store.write(0, new Uint8Array(100), false)).rejects.toThrow();
    await store.close();
  });

  it('read-only stores refuse writes', async () => {
    const path = join(dir, 'ro.img');
    const store = await openFileStore({ path, sizeBytes: 4096, thin: false, readOnly: true });
    await expect(store.write(0, pattern(1, 1), false)).rejects.toThrow(/read-only/);
    expect((await store.read(0, 1)).length).toBe(512);
    await store.close();
  });
});

describe('thin provisioning', () => {
  it('starts unmapped, maps on write, reports runs', async () => {
    const store = await openFileStore({ path: join(dir, 't.img'), sizeBytes: 512 * 100, thin: true });
    expect(store.thin).toBe(true);
    expect(await store.mapping(0, 100)).toEqual({ mapped: false, blocks: 100 });
    await store.write(10, pattern(5, 3), false);
    expect(await store.mapping(0, 100)).toEqual({ mapped: false, blocks: 10 });
    expect(await store.mapping(10, 100)).toEqual({ mapped: true, blocks: 5 });
    expect(await store.mapping(12, 2)).toEqual({ mapped: true, blocks: 2 });
    expect(await store.mapping(15, 100)).toEqual({ mapped: false, blocks: 85 });
    await store.close();
  });

  it('unmap zeroes the data and the map survives a reopen', async () => {
    const path = join(dir, 't.img');
    const store = await openFileStore({ path, sizeBytes: 512 * 64, thin: true });
    await store.write(0, pattern(20, 5), false);
    await store.unmap(4, 8);
    expect(Buffer.from(await store.read(4, 8)).every((b) => b === 0)).toBe(true);
    expect(Buffer.from(await store.read(0, 4)).equals(Buffer.from(pattern(4, 5)))).toBe(true);
    await store.close();
    await stat(mapPath(path)); // persisted beside the image

    const again = await openFileStore({ path, sizeBytes: 512 * 64, thin: true });
    expect(await again.mapping(0, 64)).toEqual({ mapped: true, blocks: 4 });
    expect(await again.mapping(4, 64)).toEqual({ mapped: false, blocks: 8 });
    expect(await again.mapping(12, 64)).toEqual({ mapped: true, blocks: 8 });
    expect(await again.mapping(20, 64)).toEqual({ mapped: false, blocks: 44 });
    await again.close();
  });

  it('after a crash (the LUN never closed) the map on disk is not trusted: an UNMAP still zeroes what was written', async () => {
    const path = join(dir, 'thin.img');
    const first = await openFileStore({ path, sizeBytes: 64 * 1024, thin: true });
    await first.write(4, pattern(2, 3), false); // mapped in memory; the map on disk still says unmapped
    // no close(): the process died here (its file handle is simply dropped)
    const second = await openFileStore({ path, sizeBytes: 64 * 1024, thin: true });
    expect(await second.mapping(4, 2)).toMatchObject({ mapped: true });
    await second.unmap(4, 2);
    expect(Buffer.from(await second.read(4, 2)).every((b) => b === 0)).toBe(true);
    await second.close();
    // closed cleanly: the next open trusts the map again (blocks 4-5 unmapped, the rest as saved)
    const third = await openFileStore({ path, sizeBytes: 64 * 1024, thin: true });
    expect(await third.mapping(4, 2)).toMatchObject({ mapped: false });
    await third.close();
  });

  it('an existing image without a map is assumed fully mapped', async () => {
    const path = join(dir, 'old.img');
    const thick = await openFileStore({ path, sizeBytes: 512 * 16, thin: false });
    await thick.close();
    const thin = await openFileStore({ path, sizeBytes: 512 * 16, thin: true });
    expect(await thin.mapping(0, 16)).toEqual({ mapped: true, blocks: 16 });
    await thin.close();
  });

  it('thick stores report everything mapped', async () => {
    const store = await openFileStore({ path: join(dir, 'k.img'), sizeBytes: 512 * 16, thin: false });
    expect(await store.mapping(3, 100)).toEqual({ mapped: true, blocks: 13 });
    await store.close();
  });
});

describe('RangeLock', () => {
  it('serializes overlapping ranges in arrival order and lets disjoint ones run', async () => {
    const lock = new RangeLock();
    const order: string[] = [];
    const a = await lock.acquire(0, 10);
    const b = lock.acquire(5, 10).then((release) => {
      order.push('b');
      return release;
    });
    const c = await lock.acquire(20, 5); // disjoint: granted at once
    order.push('c');
    await Promise.resolve();
    expect(order).toEqual(['c']);
    a();
    (await b)();
    c();
    expect(order).toEqual(['c', 'b']);
    expect(lock.pending).toBe(0);
  });

  it('a later request does not overtake an earlier overlapping waiter', async () => {
    const lock = new RangeLock();
    const first = await lock.acquire(0, 4);
    const order: number[] = [];
    const second = lock.acquire(2, 4).then((r) => (order.push(2), r));
    const third = lock.acquire(5, 1).then((r) => (order.push(3), r)); // overlaps the waiting second
    await new Promise((r) => setTimeout(r, 5));
    expect(order).toEqual([]);
    first();
    (await second)();
    (await third)();
    expect(order).toEqual([2, 3]);
  });
});
