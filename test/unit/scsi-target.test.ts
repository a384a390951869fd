import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ScsiTarget } from '../../server/scsi/target.ts';
import { ScsiStatus, TaskAttribute, TaskManagementFunction, type ItNexus } from '../../server/scsi/types.ts';
import type { FileStore } from '../../server/store/file-store.ts';
import { cdb, be, read10, write10, read16 } from '../helpers/cdb.ts';
import { parseSense } from '../../server/scsi/sense.ts';
import { BS, fill, makeHarness, nexusA, nexusB, senseOf, type Harness } from '../helpers/scsi-harness.ts';

const BLOCKS = 1024;

let harness: Harness;
let target: ScsiTarget;
let stores: FileStore[];
let run: Harness['run'];

beforeEach(async () => {
  harness = await makeHarness([{}, { thin: true }, { removable: true }, { readOnly: true }].map((l) => ({ ...l, blocks: BLOCKS })));
  ({ target, stores, run } = harness);
});
afterEach(() => harness.close());

describe('dispatch', () => {
  it('answers unknown opcodes and service actions with INVALID COMMAND OPERATION CODE', async () => {
    expect(senseOf(await run(cdb(0xc0)))).toMatchObject({ key: 5, asc: 0x20, ascq: 0 });
    expect(senseOf(await run(cdb(0x9e, 0x1f)))).toMatchObject({ key: 5, asc: 0x20, ascq: 0 });
    // reservation opcodes without a reservations engine
    expect(senseOf(await run(cdb(0x5e, 0)))).toMatchObject({ key: 5, asc: 0x20, ascq: 0 });
  });

  it('refuses commands to missing LUNs but answers INQUIRY with peripheral qualifier 3', async () => {
    expect(senseOf(await run(read10(0, 1), { lun: 9 }))).toMatchObject({ key: 5, asc: 0x25 });
    const inq = await run(cdb(0x12, 0, 0, 0, 96), { lun: 9 });
    expect(inq.status).toBe(ScsiStatus.Good);
    expect(inq.dataIn![0]).toBe(0x7f);
    const rl = await run(cdb(0xa0, 0, 0, 0, 0, 0, ...be(256, 4)), { lun: 9 });
    expect(rl.dataIn!.length).toBe(8 + 4 * 8);
    expect(Array.from(rl.dataIn!.subarray(8 + 3 * 8, 8 + 3 * 8 + 2))).toEqual([0, 3]);
  });

  it('turns internal failures into HARDWARE ERROR', async () => {
    stores[0]!.read = async () => {
      throw new Error('disk on fire');
    };
    const err = console.error;
    console.error = () => undefined;
    try {
      expect(senseOf(await run(read10(0, 1)))).toMatchObject({ key: 4, asc: 0x44 });
    } finally {
      console.error = err;
    }
  });
});

describe('INQUIRY', () => {
  it('standard data truncated to the allocation length, RMB on removable LUNs', async () => {
    const r = await run(cdb(0x12, 0, 0, 0, 36));
    expect(r.dataIn!.length).toBe(36);
    expect(Buffer.from(r.dataIn!.subarray(8, 16)).toString()).toBe('ISCSILAB');
    expect(r.dataIn![1]).toBe(0);
    expect((await run(cdb(0x12, 0, 0, 0, 36), { lun: 2 })).dataIn![1]).toBe(0x80);
    expect(senseOf(await run(cdb(0x12, 0, 0x80, 0, 36)))).toMatchObject({ key: 5, asc: 0x24 });
  });

  it('lists VPD pages ascending and serves each', async () => {
    const pages = (await run(cdb(0x12, 1, 0, 0, 255))).dataIn!;
    const list = Array.from(pages.subarray(4, 4 + pages[3]!));
    expect(list).toEqual([...list].sort((a, b) => a - b));
    for (const p of list) {
      const r = await run(cdb(0x12, 1, p, 0, 255));
      expect(r.status).toBe(ScsiStatus.Good);
      expect(r.dataIn![1]).toBe(p);
      expect(r.dataIn!.length).toBe(4 + ((r.dataIn![2]! << 8) | r.dataIn![3]!));
    }
    expect(senseOf(await run(cdb(0x12, 1, 0x99, 0, 255)))).toMatchObject({ key: 5, asc: 0x24 });
  });

  it('B2 advertises unmap only on thin LUNs; READ CAPACITY(16) LBPME likewise', async () => {
    expect((await run(cdb(0x12, 1, 0xb2, 0, 64), { lun: 1 })).dataIn![5]! & 0xe0).toBe(0xe0);
    expect((await run(cdb(0x12, 1, 0xb2, 0, 64), { lun: 0 })).dataIn![5]).toBe(0);
    const rc16 = (lun: number) => run(cdb(0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32), { lun });
    expect((await rc16(1)).dataIn![14]! & 0x80).toBe(0x80);
    expect((await rc16(0)).dataIn![14]! & 0x80).toBe(0);
    expect(Array.from((await rc16(0)).dataIn!.subarray(0, 12))).toEqual([...be(BLOCKS - 1, 8), ...be(BS, 4)]);
  });
});

describe('READ / WRITE', () => {
  it('round-trips data through the store', async () => {
    const data = Uint8Array.from({ length: 4 * BS }, (_, i) => i & 0xff);
    expect((await run(write10(100, 4), { data })).status).toBe(ScsiStatus.Good);
    const r = await run(read16(100, 4));
    expect(Buffer.from(r.dataIn!).equals(Buffer.from(data))).toBe(true);
  });

  it('LBA out of range, zero-length past the end, and protection fields', async () => {
    expect(senseOf(await run(read10(BLOCKS - 1, 2)))).toMatchObject({ key: 5, asc: 0x21 });
    expect(senseOf(await run(read10(BLOCKS + 1, 0)))).toMatchObject({ key: 5, asc: 0x21 });
    expect((await run(read10(0, 0))).status).toBe(ScsiStatus.Good);
    expect(senseOf(await run(cdb(0x88, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1)))).toMatchObject({ key: 5, asc: 0x21 });
    expect(senseOf(await run(cdb(0x28, 0x20, 0, 0, 0, 0, 0, 0, 1)))).toMatchObject({ key: 5, asc: 0x24 });
  });

  it('FUA reaches fdatasync', async () => {
    const before = stores[0]!.stats.datasyncs;
    await run(write10(0, 1, 0x08), { data: fill(1, 1) });
    expect(stores[0]!.stats.datasyncs).toBe(before + 1);
  });

  it('writes only the whole blocks that arrived and reports what the CDB wanted', async () => {
    await run(write10(0, 2), { data: fill(2, 0x61) });
    const short = await run(write10(0, 2), { data: fill(1, 0x62) });
    expect(short).toMatchObject({ status: ScsiStatus.Good, dataOutWanted: 2 * BS });
    const back = (await run(read10(0, 2))).dataIn!;
    expect(back[0]).toBe(0x62);
    expect(back[BS]).toBe(0x61);
    const long = await run(write10(0, 1), { data: fill(2, 0x63) });
    expect(long.dataOutWanted).toBe(BS);
    expect((await run(read10(0, 2))).dataIn![BS]).toBe(0x61);
    const none = await run(write10(0, 1), { data: new Uint8Array(0), edtl: 0 });
    expect(none).toMatchObject({ status: ScsiStatus.Good, dataOutWanted: BS });
  });

  it('refuses data-out that ends inside a block (INVALID FIELD IN COMMAND IU), writes nothing, still reports what the CDB wanted', async () => {
    await run(write10(0, 2), { data: fill(2, 0x61) });
    const part = await run(write10(0, 2), { data: fill(2, 0x62).subarray(0, BS + 200), edtl: BS + 200 });
    expect(part.dataOutWanted).toBe(2 * BS);
    expect(senseOf(part)).toMatchObject({ key: 5, asc: 0x0e, ascq: 0x03 });
    const back = (await run(read10(0, 2))).dataIn!;
    expect([back[0], back[BS + 199]]).toEqual([0x61, 0x61]);
  });

  it('read-only LUNs refuse writes with DATA PROTECT and report WP', async () => {
    expect(senseOf(await run(write10(0, 1), { lun: 3, data: fill(1, 1) }))).toMatchObject({ key: 7, asc: 0x27 });
    const ms = await run(cdb(0x1a, 0x08, 0x3f, 0, 255), { lun: 3 });
    expect(ms.dataIn![2]! & 0x80).toBe(0x80);
  });
});

describe('VERIFY / COMPARE AND WRITE / ORWRITE', () => {
  it('VERIFY(10) BYTCHK reports the offset of the first miscompare', async () => {
    await run(write10(8, 2), { data: fill(2, 0x41) });
    const expected = fill(2, 0x41);
    expect((await run(cdb(0x2f, 0x02, 0, 0, 0, 8, 0, 0, 2), { data: expected })).status).toBe(ScsiStatus.Good);
    expected[BS + 17] = 0x42;
    const s = senseOf(await run(cdb(0x2f, 0x02, 0, 0, 0, 8, 0, 0, 2), { data: expected }));
    expect(s).toMatchObject({ key: 0x0e, asc: 0x1d, ascq: 0, information: BS + 17 });
  });

  it('COMPARE AND WRITE writes on match and reports the miscompare offset otherwise', async () => {
    await run(write10(20, 3), { data: fill(3, 0x41) });
    const caw = (n: number) => cdb(0x89, 0, ...be(20, 8), 0, 0, 0, n);
    const ok = new Uint8Array(6 * BS);
    ok.fill(0x41, 0, 3 * BS).fill(0x42, 3 * BS);
    expect((await run(caw(3), { data: ok })).status).toBe(ScsiStatus.Good);
    expect((await run(read10(20, 3))).dataIn!.every((b) => b === 0x42)).toBe(true);

    const bad = new Uint8Array(6 * BS);
    bad.fill(0x42, 0, 3 * BS).fill(0x43, 3 * BS);
    bad[3 * BS - 27] = 0x5a;
    expect(senseOf(await run(caw(3), { data: bad }))).toMatchObject({ key: 0x0e, asc: 0x1d, information: 3 * BS - 27 });
    expect((await run(read10(20, 3))).dataIn!.every((b) => b === 0x42)).toBe(true);
    // data-out that is not exactly 2 x N blocks
    expect(senseOf(await run(caw(1), { data: fill(4, 0) }))).toMatchObject({ key: 5, asc: 0x24 });
  });

  it('COMPARE AND WRITE is atomic against overlapping writes', async () => {
    await run(write10(40, 1), { data: fill(1, 0x41) });
    const data = new Uint8Array(2 * BS).fill(0x41, 0, BS).fill(0x42, BS);
    const caw = run(cdb(0x89, 0, ...be(40, 8), 0, 0, 0, 1), { data });
    const w = run(write10(40, 1), { data: fill(1, 0x43) });
    expect((await caw).status).toBe(ScsiStatus.Good);
    await w;
    expect((await run(read10(40, 1))).dataIn![0]).toBe(0x43); // the write queued behind the CAW
  });

  it('ORWRITE(16) ORs data-out into the medium', async () => {
    await run(write10(50, 1), { data: fill(1, 0x0f) });
    await run(cdb(0x8b, 0, ...be(50, 8), ...be(1, 4)), { data: fill(1, 0xf0) });
    expect((await run(read10(50, 1))).dataIn!.every((b) => b === 0xff)).toBe(true);
  });
});

describe('thin provisioning', () => {
  const getLbaStatus = (lba: number) => cdb(0x9e, 0x12, ...be(lba, 8), ...be(1024, 4));
  const unmapCdb = (len: number) => cdb(0x42, 0, 0, 0, 0, 0, 0, ...be(len, 2));
  function unmapList(ranges: Array<[number, number]>): Uint8Array {
    const d = new Uint8Array(8 + 16 * ranges.length);
    const v = new DataView(d.buffer);
    v.setUint16(0, d.length - 2);
    v.setUint16(2, 16 * ranges.length);
    ranges.forEach(([lba, n], i) => {
      v.setBigUint64(8 + 16 * i, BigInt(lba));
      v.setUint32(16 + 16 * i, n);
    });
    return d;
  }

  it('UNMAP deallocates and GET LBA STATUS reports the runs', async () => {
    await run(write10(0, 16), { lun: 1, data: fill(16, 0x55) });
    const list = unmapList([[4, 4]]);
    expect((await run(unmapCdb(list.length), { lun: 1, data: list })).status).toBe(ScsiStatus.Good);
    const r = (await run(getLbaStatus(0), { lun: 1 })).dataIn!;
    const v = new DataView(r.buffer, r.byteOffset);
    const desc = (i: number) => [Number(v.getBigUint64(8 + 16 * i)), v.getUint32(16 + 16 * i), r[20 + 16 * i]];
    expect(desc(0)).toEqual([0, 4, 0]);
    expect(desc(1)).toEqual([4, 4, 1]);
    expect(desc(2)).toEqual([8, 8, 0]);
    expect((await run(read10(4, 4), { lun: 1 })).dataIn!.every((b) => b === 0)).toBe(true);
    expect(senseOf(await run(getLbaStatus(BLOCKS), { lun: 1 }))).toMatchObject({ key: 5, asc: 0x21 });
  });

  it('UNMAP is unsupported on thick LUNs', async () => {
    const list = unmapList([[0, 1]]);
    expect(senseOf(await run(unmapCdb(list.length), { data: list }))).toMatchObject({ key: 5, asc: 0x20 });
  });

  it('WRITE SAME(16) with UNMAP and a zero block deallocates; NUMBER OF BLOCKS 0 runs to the end', async () => {
    await run(write10(BLOCKS - 8, 8), { lun: 1, data: fill(8, 0x77) });
    const ws = cdb(0x93, 0x08, ...be(BLOCKS - 8, 8), ...be(0, 4));
    expect((await run(ws, { lun: 1, data: new Uint8Array(BS) })).status).toBe(ScsiStatus.Good);
    expect(await stores[1]!.mapping(BLOCKS - 8, 8)).toEqual({ mapped: false, blocks: 8 });
    // UNMAP deallocates whatever the data-out block holds; without UNMAP the pattern is written
    await run(cdb(0x41, 0, ...be(0, 4), 0, ...be(3, 2)), { lun: 1, data: fill(1, 0x11) });
    expect((await run(read10(0, 3), { lun: 1 })).dataIn!.every((b) => b === 0x11)).toBe(true);
    await run(cdb(0x41, 0x08, ...be(0, 4), 0, ...be(3, 2)), { lun: 1, data: fill(1, 0x11) });
    expect((await run(read10(0, 3), { lun: 1 })).dataIn!.every((b) => b === 0)).toBe(true);
    // UNMAP on a thick LUN is reported as not implemented
    expect(senseOf(await run(cdb(0x41, 0x08, ...be(0, 4), 0, ...be(1, 2)), { data: fill(1, 0) }))).toMatchObject({ key: 5, asc: 0x20 });
    // data-out of the wrong size
    expect(senseOf(await run(cdb(0x41, 0, ...be(0, 4), 0, ...be(1, 2)), { data: fill(2, 1) }))).toMatchObject({ key: 5, asc: 0x24 });
  });
});

describe('MODE SENSE / MODE SELECT', () => {
  it('switches to descriptor-format sense when D_SENSE is set, with a UA for other nexuses', async () => {
    const ms = await run(cdb(0x1a, 0x08, 0x0a, 0, 255));
    const page = ms.dataIn!.subarray(4);
    expect(page[0]).toBe(0x0a);
    await run(read10(0, 1), { nexus: nexusB }); // B is now known to the LU
    const sel = new Uint8Array(4 + page.length);
    sel.set(page, 4);
    sel[4 + 2]! |= 0x04;
    expect((await run(cdb(0x15, 0x10, 0, 0, sel.length), { data: sel })).status).toBe(ScsiStatus.Good);
    const r = await run(read16(2 ** 40, 1));
    expect(r.sense![0]).toBe(0x72);
    expect(parseSense(r.sense!)).toMatchObject({ key: 5, asc: 0x21 });
    expect(senseOf(await run(read10(0, 1), { nexus: nexusB }))).toMatchObject({ key: 6, asc: 0x2a, ascq: 0x01 });
    expect((await run(read10(0, 1), { nexus: nexusB })).status).toBe(ScsiStatus.Good);
  });

  it('SWP makes the LU write protected', async () => {
    const page = (await run(cdb(0x1a, 0x08, 0x0a, 0, 255))).dataIn!.subarray(4);
    const sel = new Uint8Array(4 + page.length);
    sel.set(page, 4);
    sel[4 + 4]! |= 0x08;
    await run(cdb(0x15, 0x10, 0, 0, sel.length), { data: sel });
    expect(senseOf(await run(write10(0, 1), { data: fill(1, 1) }))).toMatchObject({ key: 7, asc: 0x27 });
  });

  it('rejects unknown pages and saved values', async () => {
    expect(senseOf(await run(cdb(0x1a, 0, 0x2b, 0, 255)))).toMatchObject({ key: 5, asc: 0x24 });
    expect(senseOf(await run(cdb(0x1a, 0, 0xff, 0, 255)))).toMatchObject({ key: 5, asc: 0x39 });
    const all = await run(cdb(0x5a, 0, 0x3f, 0, 0, 0, 0, ...be(4, 2)));
    expect(all.dataIn!.length).toBe(4); // truncated to the allocation length
  });
});

describe('removable medium', () => {
  const ssu = (loej: boolean, start: boolean) => cdb(0x1b, 0, 0, 0, (loej ? 2 : 0) | (start ? 1 : 0));
  const prevent = (on: boolean) => cdb(0x1e, 0, 0, 0, on ? 1 : 0);

  it('ejects and loads; media commands see MEDIUM NOT PRESENT meanwhile', async () => {
    expect((await run(ssu(true, false), { lun: 2 })).status).toBe(ScsiStatus.Good);
    expect(senseOf(await run(cdb(0), { lun: 2 }))).toMatchObject({ key: 2, asc: 0x3a });
    expect(senseOf(await run(read10(0, 1), { lun: 2 }))).toMatchObject({ key: 2, asc: 0x3a });
    expect((await run(cdb(0x12, 0, 0, 0, 36), { lun: 2 })).status).toBe(ScsiStatus.Good);
    expect((await run(ssu(true, true), { lun: 2 })).status).toBe(ScsiStatus.Good);
    expect((await run(cdb(0), { lun: 2 })).status).toBe(ScsiStatus.Good);
  });

  it('PREVENT blocks eject and load for every nexus until allowed, reset or nexus loss', async () => {
    await run(prevent(true), { lun: 2 });
    expect(senseOf(await run(ssu(true, false), { lun: 2 }))).toMatchObject({ key: 5, asc: 0x53, ascq: 0x02 });
    expect(senseOf(await run(ssu(true, false), { lun: 2, nexus: nexusB }))).toMatchObject({ asc: 0x53 });
    await run(prevent(false), { lun: 2 });
    expect((await run(ssu(true, false), { lun: 2 })).status).toBe(ScsiStatus.Good);
    await run(ssu(true, true), { lun: 2 });

    await run(prevent(true), { lun: 2 });
    target.nexusLost(nexusA);
    expect((await run(ssu(true, false), { lun: 2, nexus: nexusB })).status).toBe(ScsiStatus.Good);
    await run(ssu(true, true), { lun: 2, nexus: nexusB });

    await run(prevent(true), { lun: 2 });
    await target.taskManagement(TaskManagementFunction.LogicalUnitReset, nexusA, 2);
    // every nexus gets the unit attention, the requester's included (SAM-5 6.3.3)
    expect(senseOf(await run(cdb(0), { lun: 2 }))).toMatchObject({ key: 6, asc: 0x29, ascq: 0x03 });
    expect(senseOf(await run(cdb(0), { lun: 2, nexus: nexusB }))).toMatchObject({ key: 6, asc: 0x29, ascq: 0x03 });
    expect((await run(ssu(true, false), { lun: 2 })).status).toBe(ScsiStatus.Good);
  });

  it('LOEJ on a fixed LUN is an invalid field', async () => {
    expect(senseOf(await run(ssu(true, false)))).toMatchObject({ key: 5, asc: 0x24 });
  });
});

describe('unit attentions', () => {
  it('a target reset reaches every known nexus once; INQUIRY does not consume it', async () => {
    await run(cdb(0), { nexus: nexusB });
    await target.taskManagement(TaskManagementFunction.TargetWarmReset, nexusA, 0);
    expect((await run(cdb(0x12, 0, 0, 0, 36), { nexus: nexusB })).status).toBe(ScsiStatus.Good);
    expect(senseOf(await run(cdb(0), { nexus: nexusB }))).toMatchObject({ key: 6, asc: 0x29, ascq: 0x02 });
    expect((await run(cdb(0), { nexus: nexusB })).status).toBe(ScsiStatus.Good);
  });

  it('REQUEST SENSE returns and clears a pending unit attention', async () => {
    await run(cdb(0), { nexus: nexusB });
    await target.taskManagement(TaskManagementFunction.LogicalUnitReset, nexusA, 0);
    const rs = await run(cdb(0x03, 0, 0, 0, 18), { nexus: nexusB });
    expect(rs.status).toBe(ScsiStatus.Good);
    expect(parseSense(rs.dataIn!)).toMatchObject({ key: 6, asc: 0x29 });
    expect((await run(cdb(0), { nexus: nexusB })).status).toBe(ScsiStatus.Good);
  });

  it('the requester gets the reset unit attention too (SAM-5 6.3.3: every I_T nexus)', async () => {
    await run(cdb(0));
    await target.taskManagement(TaskManagementFunction.LogicalUnitReset, nexusA, 0);
    expect(senseOf(await run(cdb(0)))).toMatchObject({ key: 6, asc: 0x29, ascq: 0x03 });
  });

  it("a new nexus's first command gets POWER ON, RESET, OR BUS DEVICE RESET OCCURRED; after a nexus loss, I_T NEXUS LOSS OCCURRED", async () => {
    const tur = (nexus: ItNexus) =>
      target.execute({ nexus, lun: 0, cdb: cdb(0), attribute: TaskAttribute.Simple, expectedLength: 0, readBit: false, writeBit: false });
    const nexusC: ItNexus = { id: 'iqn.c,i,0x3,t,0x1', initiatorName: 'iqn.c', initiatorPort: 'iqn.c,i,0x3', relativeTargetPort: 1 };
    expect(senseOf(await tur(nexusC))).toMatchObject({ key: 6, asc: 0x29, ascq: 0x00 });
    expect((await tur(nexusC)).status).toBe(ScsiStatus.Good);
    // dropped without a logout (connection lost, session reinstated): the same initiator port is told so
    target.nexusLost(nexusC, true);
    expect(senseOf(await tur(nexusC))).toMatchObject({ key: 6, asc: 0x29, ascq: 0x07 });
    expect((await tur(nexusC)).status).toBe(ScsiStatus.Good);
    // after a logout it is simply a new nexus again
    target.nexusLost(nexusC, false);
    expect(senseOf(await tur(nexusC))).toMatchObject({ key: 6, asc: 0x29, ascq: 0x00 });
  });
});

describe('REPORT SUPPORTED OPERATION CODES', () => {
  const rsoc = (options: number, opcode = 0, sa = 0, rctd = false) => cdb(0xa3, 0x0c, (rctd ? 0x80 : 0) | options, opcode, ...be(sa, 2), ...be(65535, 4));

  it('lists every command; one-command queries agree with SERVACTV', async () => {
    const all = (await run(rsoc(0))).dataIn!;
    const n = ((all[0]! << 24) | (all[1]! << 16) | (all[2]! << 8) | all[3]!) / 8;
    expect(n).toBeGreaterThan(30);
    for (let i = 0; i < n; i++) {
      const o = 4 + 8 * i;
      const servactv = (all[o + 5]! & 1) === 1;
      const one = await run(rsoc(servactv ? 2 : 1, all[o]!, (all[o + 2]! << 8) | all[o + 3]!));
      expect(one.status).toBe(ScsiStatus.Good);
      expect(one.dataIn![1]! & 7).toBe(3);
      expect(one.dataIn![4]).toBe(all[o]);
      const wrong = await run(rsoc(servactv ? 1 : 2, all[o]!, 0));
      expect(senseOf(wrong)).toMatchObject({ key: 5, asc: 0x24 });
    }
  });

  it('appends command timeouts descriptors with RCTD', async () => {
    const all = (await run(rsoc(0, 0, 0, true))).dataIn!;
    expect(all[4 + 5]! & 0x02).toBe(0x02);
    expect((all[4 + 8]! << 8) | all[4 + 9]!).toBe(0x0a);
  });
});

describe('taps', () => {
  it('emits command and store events only while subscribed', async () => {
    await run(cdb(0)); // the nexus is logged in (see loginOnce) before anyone listens
    const scsi: unknown[] = [];
    const store: unknown[] = [];
    const off1 = target.taps.scsi.subscribe((e) => scsi.push(e));
    const off2 = target.taps.store.subscribe((e) => store.push(e));
    await run(write10(0, 1), { data: fill(1, 1) });
    off1();
    off2();
    await run(read10(0, 1));
    expect(scsi).toEqual([expect.objectContaining({ kind: 'command', name: 'WRITE(10)', status: 0 })]);
    expect(store).toEqual([expect.objectContaining({ kind: 'write', lun: 0, lba: 0, blocks: 1 })]);
  });
});
