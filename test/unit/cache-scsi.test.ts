// The SCSI layer over a block cache over a real file: MODE SENSE's WCE tells the cache's write-back state, MODE
// SELECT switches it, and COMPARE AND WRITE, WRITE SAME (with UNMAP), UNMAP and writes from two nexuses see and
// leave coherent data.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ScsiTarget } from '../../server/scsi/target.ts';
import { ScsiStatus, TaskAttribute, type ItNexus, type ScsiResponse } from '../../server/scsi/types.ts';
import { BlockCache, type CacheMode } from '../../server/store/cache/block-cache.ts';
import { openFileStore } from '../../server/store/file-store.ts';
import { cdb, be, read10, write10 } from '../helpers/cdb.ts';
import { loginOnce } from '../helpers/scsi-harness.ts';

const BS = 512;
const BLOCKS = 2048;
const nexusA: ItNexus = { id: 'iqn.a,i,0x1,t,0x1', initiatorName: 'iqn.a', initiatorPort: 'iqn.a,i,0x1', relativeTargetPort: 1 };
const nexusB: ItNexus = { id: 'iqn.b,i,0x2,t,0x1', initiatorName: 'iqn.b', initiatorPort: 'iqn.b,i,0x2', relativeTargetPort: 1 };

let dir: string;
let target: ScsiTarget;
let cache: BlockCache;
let loggedIn: ReturnType<typeof loginOnce>;

async function make(mode: CacheMode, thin = false): Promise<void> {
  const file = await openFileStore({ path: join(dir, 'lun.img'), sizeBytes: BLOCKS * BS, thin });
  cache = new BlockCache(file, { sizeBytes: 256 * 1024, mode, policy: '2q', flushIntervalMs: 0, highWater: 2 });
  target = new ScsiTarget({ targetName: 'iqn.2026-11.org.iscsi-lab:cache', luns: [{ store: cache }] });
  loggedIn = loginOnce(target);
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cache-scsi-'));
});
afterEach(async () => {
  await target.close();
  await rm(dir, { recursive: true, force: true });
});

async function run(c: Uint8Array, opts: { data?: Uint8Array; nexus?: ItNexus } = {}): Promise<ScsiResponse> {
  await loggedIn(opts.nexus ?? nexusA, 0);
  return target.execute({
    nexus: opts.nexus ?? nexusA,
    lun: 0,
    cdb: c,
    attribute: TaskAttribute.Simple,
    expectedLength: opts.data?.length ?? 1 << 20,
    readBit: !opts.data,
    writeBit: !!opts.data,
    dataOut: opts.data,
  });
}
function fill(blocks: number, byte: number): Uint8Array {
  return new Uint8Array(blocks * BS).fill(byte);
}
/** MODE SENSE(6) of the caching page with page control `pc`: the WCE bit. */
async function wce(pc = 0): Promise<boolean> {
  const r = await run(cdb(0x1a, 0x08, (pc << 6) | 0x08, 0, 255));
  expect(r.status).toBe(ScsiStatus.Good);
  const page = r.dataIn!.subarray(4);
  expect(page[0]! & 0x3f).toBe(0x08);
  return (page[2]! & 0x04) !== 0;
}
async function setWce(on: boolean): Promise<ScsiResponse> {
  const page = (await run(cdb(0x1a, 0x08, 0x08, 0, 255))).dataIn!.subarray(4);
  const sel = new Uint8Array(4 + page.length);
  sel.set(page, 4);
  sel[0] = 0;
  sel[4]! &= 0x3f; // PS is reserved in MODE SELECT
  sel[4 + 2] = on ? sel[4 + 2]! | 0x04 : sel[4 + 2]! & ~0x04;
  return run(cdb(0x15, 0x10, 0, 0, sel.length), { data: sel });
}

describe('WCE is the cache mode', () => {
  it('write-back reports WCE=1; MODE SELECT WCE=0 writes back everything dirty and makes the cache write-through', async () => {
    await make('write-back');
    expect(await wce()).toBe(true);
    expect((await run(write10(0, 16), { data: fill(16, 0x33) })).status).toBe(ScsiStatus.Good);
    expect(cache.stats().dirtyBytes).toBe(16 * BS);
    expect((await setWce(false)).status).toBe(ScsiStatus.Good);
    expect(cache.stats()).toMatchObject({ mode: 'write-through', dirtyBytes: 0 });
    expect((await readFile(join(dir, 'lun.img'))).subarray(0, 16 * BS)).toEqual(Buffer.from(fill(16, 0x33)));
    expect(await wce()).toBe(false);
    expect(await wce(2)).toBe(true); // default values: as configured
    // Write-through now: a write is in the file when it completes.
    await run(write10(100, 1), { data: fill(1, 0x44) });
    expect(cache.stats().dirtyBytes).toBe(0);
    expect((await readFile(join(dir, 'lun.img'))).subarray(100 * BS, 101 * BS)).toEqual(Buffer.from(fill(1, 0x44)));
    expect((await setWce(true)).status).toBe(ScsiStatus.Good);
    expect(cache.writeBack).toBe(true);
    await run(write10(200, 1), { data: fill(1, 0x55) });
    expect(cache.stats().dirtyBytes).toBe(BS);
  });

  it('write-through reports WCE=0, and a switch through the cache API shows in MODE SENSE', async () => {
    await make('write-through');
    expect(await wce()).toBe(false);
    expect(await wce(2)).toBe(false);
    await cache.configure({ mode: 'write-back' });
    expect(await wce()).toBe(true);
  });
});

describe('coherent data through the cache', () => {
  it('COMPARE AND WRITE compares against dirty cached data and its write is what reads see', async () => {
    await make('write-back');
    await run(write10(10, 2), { data: fill(2, 0x11) });
    const caw = (verify: number, write: number) => {
      const data = new Uint8Array(4 * BS);
      data.fill(verify, 0, 2 * BS);
      data.fill(write, 2 * BS);
      return run(cdb(0x89, 0, ...be(10, 8), 0, 0, 0, 2, 0, 0), { data });
    };
    expect((await caw(0x11, 0x22)).status).toBe(ScsiStatus.Good);
    expect((await run(read10(10, 2))).dataIn).toEqual(Buffer.from(fill(2, 0x22)));
    expect((await caw(0x11, 0x33)).status).toBe(ScsiStatus.CheckCondition); // miscompare: medium is 0x22 now
    expect((await run(read10(10, 2))).dataIn).toEqual(Buffer.from(fill(2, 0x22)));
  });

  it('WRITE SAME with UNMAP and UNMAP drop dirty cached data (reads are zeros, also after a flush)', async () => {
    await make('write-back', true);
    await run(write10(0, 64), { data: fill(64, 0x77) });
    // WRITE SAME(16), UNMAP bit, 16 blocks at 8, data = one zero block
    expect((await run(cdb(0x93, 0x08, ...be(8, 8), ...be(16, 4), 0, 0), { data: fill(1, 0) })).status).toBe(ScsiStatus.Good);
    // UNMAP(10): one descriptor, 4 blocks at 40
    const list = new Uint8Array(24);
    list.set([0, 22, 0, 16]);
    list.set([...be(40, 8), ...be(4, 4)], 8);
    expect((await run(cdb(0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0), { data: list })).status).toBe(ScsiStatus.Good);
    const want = Buffer.from(fill(64, 0x77));
    want.fill(0, 8 * BS, 24 * BS);
    want.fill(0, 40 * BS, 44 * BS);
    expect((await run(read10(0, 64))).dataIn).toEqual(want);
    await run(cdb(0x35));
    expect((await readFile(join(dir, 'lun.img'))).subarray(0, 64 * BS)).toEqual(want);
  });

  it('two nexuses writing the same blocks at once: every read sees one whole write, and the file ends as the cache', async () => {
    await make('write-back');
    const writes: Promise<ScsiResponse>[] = [];
    for (let i = 0; i < 40; i++) {
      const nexus = i % 2 ? nexusA : nexusB;
      writes.push(run(write10(3, 13), { data: fill(13, i + 1), nexus }));
      if (i % 5 === 0) writes.push(run(cdb(0x35), { nexus }));
    }
    const reads: Promise<ScsiResponse>[] = [];
    for (let i = 0; i < 20; i++) reads.push(run(read10(3, 13)));
    await Promise.all(writes);
    for (const r of await Promise.all(reads)) {
      const first = r.dataIn![0]!;
      expect(r.dataIn!.every((b) => b === first)).toBe(true);
    }
    const final = (await run(read10(3, 13))).dataIn!;
    await run(cdb(0x35));
    expect((await readFile(join(dir, 'lun.img'))).subarray(3 * BS, 16 * BS)).toEqual(Buffer.from(final));
  });
});
