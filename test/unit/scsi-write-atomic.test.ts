import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ScsiStatus } from '../../server/scsi/types.ts';
import { be, cdb, read10, write10 } from '../helpers/cdb.ts';
import { BS, fill, makeHarness, senseOf, type Harness } from '../helpers/scsi-harness.ts';

const BLOCKS = 1024;
const writeAtomic = (lba: number, n: number, flags = 0, boundary = 0): Uint8Array => cdb(0x9c, flags, ...be(lba, 8), ...be(boundary, 2), ...be(n, 2), 0, 0);

let h: Harness;
beforeEach(async () => {
  h = await makeHarness([{ blocks: BLOCKS }, { blocks: BLOCKS, readOnly: true }, { blocks: BLOCKS, thin: true, physicalBlockExponent: 3 }]);
});
afterEach(() => h.close());

describe('WRITE ATOMIC(16)', () => {
  it('writes the blocks, with or without DPO/FUA, and zero blocks is a no-op', async () => {
    const data = Uint8Array.from({ length: 8 * BS }, (_, i) => (i * 7) & 0xff);
    for (const flags of [0, 0x10, 0x08, 0x18]) {
      expect((await h.run(writeAtomic(BLOCKS - 8, 8, flags), { data })).status).toBe(ScsiStatus.Good);
      expect(Buffer.from((await h.run(read10(BLOCKS - 8, 8))).dataIn!).equals(data)).toBe(true);
    }
    const zero = await h.run(writeAtomic(0, 0), { data: new Uint8Array(0), edtl: 0 });
    expect(zero).toMatchObject({ status: ScsiStatus.Good, dataOutWanted: 0 });
  });

  it('range before limits: past the end is LBA OUT OF RANGE even for a transfer too long to be atomic', async () => {
    expect(senseOf(await h.run(writeAtomic(BLOCKS - 4, 8), { data: fill(8, 1) }))).toMatchObject({ key: 5, asc: 0x21 });
    expect(senseOf(await h.run(writeAtomic(BLOCKS + 1, 0), { data: new Uint8Array(0) }))).toMatchObject({ key: 5, asc: 0x21 });
    expect(senseOf(await h.run(writeAtomic(2 ** 63, 1), { data: fill(1, 1) }))).toMatchObject({ key: 5, asc: 0x21 });
    const tooLong = await h.run(cdb(0x9c, 0, ...be(0, 8), 0, 0, 0xff, 0xff), { data: fill(1, 1) });
    expect(senseOf(tooLong)).toMatchObject({ key: 5, asc: 0x21 }); // 65535 blocks do not fit a 1024-block LUN
  });

  it('refuses WRPROTECT, transfers over the atomic maximum, boundaries over the maximum, and short data-out', async () => {
    const page = (await h.run(cdb(0x12, 1, 0xb0, 0, 64))).dataIn!;
    const limits = new DataView(page.buffer, page.byteOffset, page.length);
    const maxAtomic = limits.getUint32(44);
    expect(maxAtomic).toBeGreaterThan(255);
    for (let p = 1; p < 8; p++) {
      expect(senseOf(await h.run(writeAtomic(0, 1, p << 5), { data: fill(1, 1) }))).toMatchObject({ key: 5, asc: 0x24 });
    }
    const big = await makeHarness([{ blocks: maxAtomic + 16 }]);
    try {
      expect(senseOf(await big.run(writeAtomic(0, maxAtomic + 1), { data: fill(maxAtomic + 1, 1) }))).toMatchObject({ key: 5, asc: 0x24 });
      expect((await big.run(writeAtomic(0, maxAtomic), { data: fill(maxAtomic, 2) })).status).toBe(ScsiStatus.Good);
    } finally {
      await big.close();
    }
    const maxBoundary = limits.getUint32(60);
    expect(senseOf(await h.run(writeAtomic(0, 1, 0, maxBoundary + 1), { data: fill(1, 1) }))).toMatchObject({ key: 5, asc: 0x24 });
    expect((await h.run(writeAtomic(0, 2, 0, 1), { data: fill(2, 3) })).status).toBe(ScsiStatus.Good);
    // all or nothing: half the data-out writes nothing
    await h.run(write10(10, 4), { data: fill(4, 0x11) });
    expect(senseOf(await h.run(writeAtomic(10, 4), { data: fill(2, 0x22), edtl: 4 * BS }))).toMatchObject({ key: 5, asc: 0x0e });
    expect(Buffer.from((await h.run(read10(10, 4))).dataIn!).equals(Buffer.from(fill(4, 0x11)))).toBe(true);
  });

  it('DATA PROTECT on a write-protected LUN', async () => {
    expect(senseOf(await h.run(writeAtomic(0, 1), { lun: 1, data: fill(1, 1) }))).toMatchObject({ key: 7, asc: 0x27 });
  });

  it('on 4 KiB physical blocks: Block Limits asks for whole physical blocks, and misaligned writes are refused', async () => {
    const limits = new DataView((await h.run(cdb(0x12, 1, 0xb0, 0, 64), { lun: 2 })).dataIn!.buffer);
    expect([limits.getUint32(48), limits.getUint32(52)]).toEqual([8, 8]); // ATOMIC ALIGNMENT, GRANULARITY
    expect(senseOf(await h.run(writeAtomic(1, 8), { lun: 2, data: fill(8, 1) }))).toMatchObject({ key: 5, asc: 0x24 });
    expect(senseOf(await h.run(writeAtomic(0, 4), { lun: 2, data: fill(4, 1) }))).toMatchObject({ key: 5, asc: 0x24 });
    expect((await h.run(writeAtomic(8, 16), { lun: 2, data: fill(16, 1) })).status).toBe(ScsiStatus.Good);
  });

  it('a READ during the write sees all old or all new blocks, where a plain WRITE lets it see a mix', async () => {
    const store = h.stores[0]!;
    const original = store.write.bind(store);
    // A store that writes in two halves with a pause between: what a real file does under a large pwrite.
    const slowStore = () => {
      let midway!: () => void;
      let proceed!: () => void;
      const reached = new Promise<void>((r) => (midway = r));
      const gate = new Promise<void>((r) => (proceed = r));
      store.write = async (lba, data, fua) => {
        const half = data.length / 2;
        await original(lba, data.subarray(0, half), fua);
        midway();
        await gate;
        await original(lba + half / BS, data.subarray(half), fua);
      };
      return { reached, proceed };
    };
    const readDuring = async (command: Uint8Array, byte: number): Promise<Set<number>> => {
      await original(0, fill(8, 0), true);
      const s = slowStore();
      const w = h.run(command, { data: fill(8, byte) });
      await s.reached;
      const r = h.run(read10(0, 8));
      await new Promise((res) => setTimeout(res, 20));
      s.proceed();
      expect((await w).status).toBe(ScsiStatus.Good);
      return new Set((await r).dataIn!);
    };
    expect(await readDuring(write10(0, 8), 0xaa)).toEqual(new Set([0xaa, 0]));
    expect(await readDuring(writeAtomic(0, 8), 0xbb)).toEqual(new Set([0xbb]));
  });
});
