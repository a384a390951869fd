import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { naaDesignator } from '../../server/scsi/identity.ts';
import { ScsiStatus, type ScsiResponse } from '../../server/scsi/types.ts';
import { be, cdb, read16, write10 } from '../helpers/cdb.ts';
import { BS, TARGET_NAME, fieldPointer, fill, makeHarness, nexusB, senseOf, type Harness } from '../helpers/scsi-harness.ts';

const BLOCKS = 8192;
const HOLD = 0;
const DISCARD = 2;

const extendedCopy = (length: number): Uint8Array => cdb(0x83, 0, 0, 0, 0, 0, 0, 0, 0, 0, ...be(length, 4));
const receiveCopyResults = (sa: number, listId = 0): Uint8Array => cdb(0x84, sa, listId, 0, 0, 0, 0, 0, 0, 0, ...be(1024, 4));

/** Identification descriptor CSCD (E4h) naming `lun` of the test target by its NAA designator. */
function target(lun: number, opts: { type?: number; nul?: boolean; designator?: Uint8Array; blockLength?: number } = {}): number[] {
  const d = new Array<number>(32).fill(0);
  d[0] = opts.type ?? 0xe4;
  d[1] = opts.nul ? 0x20 : 0;
  const naa = opts.designator ?? naaDesignator(TARGET_NAME, lun);
  d[4] = 1; // binary
  d[5] = 3; // association LU, type NAA
  d[7] = naa.length;
  d.splice(8, naa.length, ...naa);
  d.splice(29, 3, ...be(opts.blockLength ?? BS, 3));
  return d;
}

/** Block -> block segment descriptor (02h). */
function segment(src: number, dst: number, blocks: number, srcLba: number, dstLba: number, type = 0x02): number[] {
  return [type, 0, 0, 0x18, ...be(src, 2), ...be(dst, 2), 0, 0, ...be(blocks, 2), ...be(srcLba, 8), ...be(dstLba, 8)];
}

function parameterList(targets: number[][], segments: number[][], opts: { listId?: number; usage?: number } = {}): Uint8Array {
  const t = targets.flat();
  const s = segments.flat();
  const header = [opts.listId ?? 1, ((opts.usage ?? DISCARD) & 3) << 3, ...be(t.length, 2), 0, 0, 0, 0, ...be(s.length, 4), 0, 0, 0, 0];
  return Uint8Array.from([...header, ...t, ...s]);
}

let h: Harness;
const xcopy = (list: Uint8Array, opts: { lun?: number; length?: number; nexus?: typeof nexusB } = {}): Promise<ScsiResponse> =>
  h.run(extendedCopy(opts.length ?? list.length), { data: list, lun: opts.lun, nexus: opts.nexus });
const blocksOf = (lun: number, lba: number, n: number) => h.run(read16(lba, n), { lun }).then((r) => Buffer.from(r.dataIn!));
/** Each block filled with its own number (mod 251), so a block in the wrong place shows. */
const numbered = (first: number, n: number) => Uint8Array.from({ length: n * BS }, (_, i) => (first + Math.floor(i / BS)) % 251);

beforeEach(async () => {
  h = await makeHarness([{ blocks: BLOCKS }, { blocks: BLOCKS, thin: true }, { blocks: BLOCKS, readOnly: true }]);
});
afterEach(() => h.close());

describe('EXTENDED COPY(LID1)', () => {
  it('copies blocks from one LU to another through their stores', async () => {
    await h.run(write10(100, 16), { data: numbered(100, 16) });
    const list = parameterList([target(0), target(1)], [segment(0, 1, 16, 100, 5000)]);
    expect(await xcopy(list)).toMatchObject({ status: ScsiStatus.Good, dataOutWanted: list.length });
    expect((await blocksOf(1, 5000, 16)).equals(Buffer.from(numbered(100, 16)))).toBe(true);
  });

  it('copies a byte-counted segment (0Ah) of whole blocks; byte offsets or a partial block are refused', async () => {
    const bytesSegment = (bytes: number, srcLba: number, dstLba: number, srcOff = 0) => [
      0x0a,
      0,
      0,
      0x1c,
      0,
      0,
      0,
      1,
      ...be(bytes, 4),
      ...be(srcLba, 8),
      ...be(dstLba, 8),
      ...be(srcOff, 2),
      0,
      0,
    ];
    await h.run(write10(200, 8), { data: numbered(200, 8) });
    expect((await xcopy(parameterList([target(0), target(1)], [bytesSegment(8 * BS, 200, 6000)]))).status).toBe(ScsiStatus.Good);
    expect((await blocksOf(1, 6000, 8)).equals(Buffer.from(numbered(200, 8)))).toBe(true);
    expect(senseOf(await xcopy(parameterList([target(0), target(1)], [bytesSegment(8 * BS, 200, 7000, 1)])))).toMatchObject({ key: 5, asc: 0x26 });
    expect(senseOf(await xcopy(parameterList([target(0), target(1)], [bytesSegment(8 * BS + 1, 200, 7000)])))).toMatchObject({ key: 0x0a });
  });

  it('copies within one LU like memmove when the ranges overlap, in either direction and across chunks', async () => {
    await h.run(cdb(0x8a, 0, ...be(0, 8), ...be(3000, 4)), { data: numbered(0, 3000) });
    expect((await xcopy(parameterList([target(0)], [segment(0, 0, 3000, 0, 1000)]))).status).toBe(ScsiStatus.Good);
    expect((await blocksOf(0, 1000, 3000)).equals(Buffer.from(numbered(0, 3000)))).toBe(true);
    expect((await xcopy(parameterList([target(0)], [segment(0, 0, 3000, 1000, 500)]))).status).toBe(ScsiStatus.Good);
    expect((await blocksOf(0, 500, 3000)).equals(Buffer.from(numbered(0, 3000)))).toBe(true);
  });

  it('parameter list length: 0 is no copy; a list shorter than its header says is PARAMETER LIST LENGTH ERROR', async () => {
    expect((await h.run(extendedCopy(0), { data: new Uint8Array(0) })).status).toBe(ScsiStatus.Good);
    const list = parameterList([target(0)], [segment(0, 0, 1, 0, 1)]);
    for (const length of [8, 16 + 31, list.length - 1]) {
      expect(senseOf(await xcopy(list, { length }))).toMatchObject({ key: 5, asc: 0x1a, ascq: 0 });
    }
  });

  it('descriptor limits and type codes from RECEIVE COPY RESULTS OPERATING PARAMETERS', async () => {
    const op = (await h.run(receiveCopyResults(3))).dataIn!;
    const view = new DataView(op.buffer, op.byteOffset, op.length);
    const maxTargets = view.getUint16(8);
    const maxSegments = view.getUint16(10);
    const maxList = view.getUint32(12);
    expect([maxTargets >= 2, maxSegments >= 1, Array.from(op.subarray(44, 44 + op[43]!))]).toEqual([true, true, [0x02, 0x0a, 0xe4]]);
    const many = (n: number, d: number[]) => Array.from({ length: n }, () => d);
    const seg = segment(0, 0, 1, 0, 1);
    expect(senseOf(await xcopy(parameterList(many(maxTargets + 1, target(0)), [seg])))).toMatchObject({ key: 5, asc: 0x26, ascq: 0x06 });
    expect(senseOf(await xcopy(parameterList([target(0)], many(maxSegments + 1, seg))))).toMatchObject({ key: 5, asc: 0x26, ascq: 0x08 });
    const tooLong = parameterList(many(maxTargets + 1, target(0)), many(maxSegments + 1, seg));
    expect(tooLong.length - 16).toBeGreaterThan(maxList);
    expect(senseOf(await xcopy(tooLong))).toMatchObject({ key: 5, asc: 0x1a });
    expect(senseOf(await xcopy(parameterList([target(0, { type: 0xe0 })], [seg])))).toMatchObject({ key: 5, asc: 0x26, ascq: 0x07 });
    expect(senseOf(await xcopy(parameterList([target(0)], [segment(0, 0, 1, 0, 1, 0x03)])))).toMatchObject({ key: 5, asc: 0x26, ascq: 0x09 });
  });

  it('COPY ABORTED for what a segment cannot do, pointing at the field, and nothing is copied', async () => {
    await h.run(write10(0, 1), { data: fill(1, 0x5a) });
    const beyond = await xcopy(parameterList([target(0), target(1)], [segment(0, 1, 1, 0, 7), segment(0, 1, 2, 0, BLOCKS - 1)]));
    expect(senseOf(beyond)).toMatchObject({ key: 0x0a, asc: 0, ascq: 0 });
    expect(fieldPointer(beyond)).toEqual({ cdb: false, byte: 16 + 64 + 28 + 20 });
    expect((await blocksOf(1, 7, 1)).every((b) => b === 0)).toBe(true); // the first, valid segment did not run either
    const badIndex = await xcopy(parameterList([target(0)], [segment(0, 1, 1, 0, 1)]));
    expect(senseOf(badIndex)).toMatchObject({ key: 0x0a, asc: 0x08, ascq: 0x04 });
    const unknown = parameterList([target(0, { designator: new Uint8Array(16).fill(0x61) })], [segment(0, 0, 1, 0, 1)]);
    expect(senseOf(await xcopy(unknown))).toMatchObject({ key: 0x0a, asc: 0x08, ascq: 0x04 });
    expect(senseOf(await xcopy(parameterList([target(0, { nul: true })], [segment(0, 0, 1, 0, 1)])))).toMatchObject({ key: 0x0a });
    expect(senseOf(await xcopy(parameterList([target(0, { blockLength: 4096 })], [segment(0, 0, 1, 0, 1)])))).toMatchObject({ key: 5, asc: 0x26 });
    expect(senseOf(await xcopy(parameterList([target(0), target(2)], [segment(0, 1, 1, 0, 0)])))).toMatchObject({ key: 7, asc: 0x27 });
  });

  it("may not read or write past another nexus's reservation", async () => {
    const r = await makeHarness([{ blocks: 64 }, { blocks: 64 }], { reservations: true });
    try {
      expect((await r.run(cdb(0x16), { lun: 1, nexus: nexusB })).status).toBe(ScsiStatus.Good); // RESERVE(6) LUN 1 for B
      const toReserved = parameterList([target(0), target(1)], [segment(0, 1, 1, 0, 0)]);
      const refused = await r.run(extendedCopy(toReserved.length), { data: toReserved });
      expect(senseOf(refused)).toMatchObject({ key: 0x0a, asc: 0x0d, ascq: 0x02 });
      expect(fieldPointer(refused)).toEqual({ cdb: false, byte: 16 + 64 + 6 });
      expect((await r.run(extendedCopy(toReserved.length), { data: toReserved, nexus: nexusB })).status).toBe(ScsiStatus.Good);
    } finally {
      await r.close();
    }
  });

  it('a LU can be the copy manager for a copy between two others', async () => {
    await h.run(write10(0, 2), { data: numbered(7, 2), lun: 1 });
    const list = parameterList([target(1), target(0)], [segment(0, 1, 2, 0, 10)]);
    expect((await xcopy(list, { lun: 2 })).status).toBe(ScsiStatus.Good); // LUN 2 is read-only, but only copies
    expect((await blocksOf(0, 10, 2)).equals(Buffer.from(numbered(7, 2)))).toBe(true);
  });
});

describe('RECEIVE COPY RESULTS(LID1)', () => {
  it('COPY STATUS of a held copy, for the nexus that sent it, until the nexus is lost', async () => {
    expect(senseOf(await h.run(receiveCopyResults(0, 9)))).toMatchObject({ key: 5, asc: 0x24 });
    expect((await xcopy(parameterList([target(0), target(1)], [segment(0, 1, 4, 0, 0), segment(0, 1, 4, 8, 8)], { listId: 9, usage: HOLD }))).status).toBe(
      ScsiStatus.Good,
    );
    const status = (await h.run(receiveCopyResults(0, 9))).dataIn!;
    expect(Array.from(status)).toEqual([0, 0, 0, 8, 0x01, 0, 2, 0, ...be(8 * BS, 4)]);
    expect(senseOf(await h.run(receiveCopyResults(0, 9), { nexus: nexusB }))).toMatchObject({ key: 5, asc: 0x24 });
    h.target.nexusLost({ id: 'iqn.a,i,0x1,t,0x1', initiatorName: 'iqn.a', initiatorPort: 'iqn.a,i,0x1', relativeTargetPort: 1 });
    // the nexus comes back as a new one: its power-on notice first, then no held copy status
    expect(senseOf(await h.run(receiveCopyResults(0, 9)))).toMatchObject({ key: 6, asc: 0x29, ascq: 0 });
    expect(senseOf(await h.run(receiveCopyResults(0, 9)))).toMatchObject({ key: 5, asc: 0x24 });
  });

  it('a second copy with the list identifier of a running one is OPERATION IN PROGRESS; without one (11b) it runs', async () => {
    const store = h.stores[0]!;
    const original = store.read.bind(store);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let started!: () => void;
    const running = new Promise<void>((r) => (started = r));
    let first = true;
    store.read = async (lba: number, blocks: number) => {
      if (first) {
        first = false;
        started();
        await gate;
      }
      return original(lba, blocks);
    };
    const copy = (usage: number) => xcopy(parameterList([target(0)], [segment(0, 0, 1, 0, 1)], { listId: 5, usage }));
    const a = copy(DISCARD);
    await running;
    expect(senseOf(await copy(HOLD))).toMatchObject({ key: 5, asc: 0x00, ascq: 0x16 });
    expect((await copy(3)).status).toBe(ScsiStatus.Good);
    expect(Array.from((await h.run(receiveCopyResults(0, 5))).dataIn!.subarray(4, 7))).toEqual([0x00, 0, 0]); // in progress
    release();
    expect((await a).status).toBe(ScsiStatus.Good);
  });

  it('keeps nothing for a copy sent with LIST ID USAGE 10b; other service actions are INVALID FIELD IN CDB', async () => {
    expect((await xcopy(parameterList([target(0)], [segment(0, 0, 1, 0, 1)], { listId: 4, usage: DISCARD }))).status).toBe(ScsiStatus.Good);
    expect(senseOf(await h.run(receiveCopyResults(0, 4)))).toMatchObject({ key: 5, asc: 0x24 });
    expect(senseOf(await h.run(receiveCopyResults(0x01)))).toMatchObject({ key: 5, asc: 0x20 });
  });
});

describe('Third-party copy in INQUIRY', () => {
  it('standard data sets 3PC; VPD 8Fh lists the commands and descriptors the copy manager implements', async () => {
    expect((await h.run(cdb(0x12, 0, 0, 0, 36))).dataIn![5]! & 0x08).toBe(0x08);
    const page = (await h.run(cdb(0x12, 1, 0x8f, 0x04, 0))).dataIn!;
    expect(page[1]).toBe(0x8f);
    const descriptors = new Map<number, number[]>();
    for (let o = 4; o < page.length;) {
      const length = (page[o + 2]! << 8) | page[o + 3]!;
      expect(length % 4).toBe(0);
      descriptors.set((page[o]! << 8) | page[o + 1]!, Array.from(page.subarray(o + 4, o + 4 + length)));
      o += 4 + length;
    }
    expect([...descriptors.keys()]).toEqual([0x0001, 0x0004, 0x0008, 0x000c, 0x8001]);
    expect(descriptors.get(0x0001)).toEqual([7, 0x83, 1, 0x00, 0x84, 2, 0x00, 0x03]);
    expect(descriptors.get(0x0008)).toEqual([3, 0x02, 0x0a, 0xe4]);
  });
});
