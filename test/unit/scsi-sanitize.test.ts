/**
 * SANITIZE (SBC-3 5.30 / SBC-4 4.11) through the real dispatcher, on real file stores in a temp dir: every service
 * action, CDB and parameter list checks, write protection, reservations, the in-progress gate with its progress
 * indication, aborts and resets that leave the operation running, and sanitize failure mode.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Reservations } from '../../server/scsi/reservations/index.ts';
import { sanitizeSettled } from '../../server/scsi/sbc/sanitize.ts';
import { parseSense } from '../../server/scsi/sense.ts';
import { ScsiTarget } from '../../server/scsi/target.ts';
import { ScsiStatus, TaskAttribute, TaskManagementFunction, type AbortWatch, type ItNexus, type ScsiResponse } from '../../server/scsi/types.ts';
import { openFileStore, type FileStore } from '../../server/store/file-store.ts';
import type { BlockStore } from '../../server/store/types.ts';
import { cdb, be, read10 } from '../helpers/cdb.ts';
import { loginOnce } from '../helpers/scsi-harness.ts';

const BLOCKS = 2048;
const BS = 512;
const nexusA: ItNexus = { id: 'iqn.a,i,0x1,t,0x1', initiatorName: 'iqn.a', initiatorPort: 'iqn.a,i,0x1', relativeTargetPort: 1 };
const nexusB: ItNexus = { id: 'iqn.b,i,0x2,t,0x1', initiatorName: 'iqn.b', initiatorPort: 'iqn.b,i,0x2', relativeTargetPort: 1 };
/** LUNs: 0 thick, 1 thin, 2 thick read-only. */
const THICK = 0;
const THIN = 1;
const READ_ONLY = 2;

let dir: string;
let target: ScsiTarget;
let loggedIn: ReturnType<typeof loginOnce>;
let stores: FileStore[];

interface TargetSetup {
  minDurationMs?: number;
  reservations?: Reservations;
  /** Wraps LUN 0's store (fault injection). */
  wrap?: (s: BlockStore) => BlockStore;
}

async function makeTarget(setup: TargetSetup = {}): Promise<void> {
  await target?.close();
  stores = [];
  for (const [i, thin] of [false, true, false].entries()) {
    stores.push(await openFileStore({ path: join(dir, `l${i}-${Date.now()}.img`), sizeBytes: BLOCKS * BS, thin }));
  }
  target = new ScsiTarget({
    targetName: 'iqn.2026-11.org.iscsi-lab:sanitize',
    luns: [{ store: setup.wrap ? setup.wrap(stores[0]!) : stores[0]! }, { store: stores[1]! }, { store: stores[2]!, readOnly: true }],
    reservations: setup.reservations,
    sanitizeMinDurationMs: setup.minDurationMs ?? 0,
  });
  loggedIn = loginOnce(target);
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'scsi-sanitize-'));
  await makeTarget();
});
afterEach(async () => {
  for (const lun of [0, 1, 2]) await sanitizeSettled(target.logicalUnit(lun)!);
  await target.close();
  await rm(dir, { recursive: true, force: true });
});

const OVERWRITE = 0x01;
const BLOCK_ERASE = 0x02;
const CRYPTO_ERASE = 0x03;
const EXIT_FAILURE_MODE = 0x1f;

function sanitizeCdb(sa: number, listLength = 0, opts: { immed?: boolean; ause?: boolean } = {}): Uint8Array {
  const byte1 = (opts.immed ? 0x80 : 0) | (opts.ause ? 0x20 : 0) | sa;
  return cdb(0x48, byte1, 0, 0, 0, 0, 0, ...be(listLength, 2), 0);
}
/** OVERWRITE parameter list: header (INVERT, TEST, COUNT; pattern length) + pattern. */
function overwriteList(pattern: number[], count = 1, opts: { invert?: boolean; test?: number; ipl?: number } = {}): Uint8Array {
  const d = new Uint8Array(4 + pattern.length);
  d[0] = (opts.invert ? 0x80 : 0) | ((opts.test ?? 0) << 5) | count;
  d.set(be(opts.ipl ?? pattern.length, 2), 2);
  d.set(pattern, 4);
  return d;
}
const write10 = (lba: number, n: number) => cdb(0x2a, 0, ...be(lba, 4), 0, ...be(n, 2), 0);
const tur = () => cdb(0x00);
const inquiry = () => cdb(0x12, 0, 0, 0, 96);
const requestSense = () => cdb(0x03, 0, 0, 0, 252);
const getLbaStatus = (lba: number) => cdb(0x9e, 0x12, ...be(lba, 8), ...be(1024, 4));

/** What the transport's task record does for SCSI: tells a waiting command that its task was aborted. */
class TestAbort implements AbortWatch {
  aborted = false;
  private fns: (() => void)[] = [];
  onAbort(fn: () => void): () => void {
    this.fns.push(fn);
    return () => (this.fns = this.fns.filter((f) => f !== fn));
  }
  fire(): void {
    this.aborted = true;
    for (const fn of this.fns) fn();
  }
}

async function run(c: Uint8Array, opts: { lun?: number; data?: Uint8Array; nexus?: ItNexus; abort?: AbortWatch } = {}): Promise<ScsiResponse> {
  await loggedIn(opts.nexus ?? nexusA, opts.lun ?? THICK);
  return target.execute({
    nexus: opts.nexus ?? nexusA,
    lun: opts.lun ?? THICK,
    cdb: c,
    attribute: TaskAttribute.Simple,
    expectedLength: opts.data?.length ?? 4096,
    readBit: !opts.data,
    writeBit: !!opts.data,
    dataOut: opts.data,
    abort: opts.abort,
  });
}
function senseOf(r: ScsiResponse) {
  expect(r.status).toBe(ScsiStatus.CheckCondition);
  return parseSense(r.sense!);
}
function good(r: ScsiResponse): ScsiResponse {
  if (r.status !== ScsiStatus.Good) throw new Error(`expected GOOD, got ${r.status} ${JSON.stringify(r.sense && parseSense(r.sense))}`);
  return r;
}
async function writeBlocks(lun: number, lba: number, n: number, byte: number): Promise<void> {
  good(await run(write10(lba, n), { lun, data: new Uint8Array(n * BS).fill(byte) }));
}
async function readBlocks(lun: number, lba: number, n: number): Promise<Uint8Array> {
  return good(await run(read10(lba, n), { lun })).dataIn!;
}
/** Sense-key specific bytes of fixed-format sense (bytes 15-17). */
function sks(r: ScsiResponse): number[] {
  return Array.from(r.sense!.subarray(15, 18));
}

describe('REPORT SUPPORTED OPERATION CODES', () => {
  const rsocAll = () => cdb(0xa3, 0x0c, 0, 0, 0, 0, ...be(8192, 4), 0, 0);
  const rsocOne = (sa: number) => cdb(0xa3, 0x0c, 0x02, 0x48, ...be(sa, 2), ...be(512, 4), 0, 0);
  function sanitizeActions(d: Uint8Array): number[] {
    const out: number[] = [];
    for (let o = 4; o < d.length; o += 8) if (d[o] === 0x48) out.push((d[o + 2]! << 8) | d[o + 3]!);
    return out;
  }

  it('lists OVERWRITE and EXIT FAILURE MODE everywhere, BLOCK ERASE and CRYPTO ERASE on thin LUNs only', async () => {
    expect(sanitizeActions(good(await run(rsocAll(), { lun: THICK })).dataIn!)).toEqual([0x01, 0x1f]);
    expect(sanitizeActions(good(await run(rsocAll(), { lun: THIN })).dataIn!)).toEqual([0x01, 0x02, 0x03, 0x1f]);
    expect(good(await run(rsocOne(BLOCK_ERASE), { lun: THICK })).dataIn![1]! & 7).toBe(1); // not supported
    expect(good(await run(rsocOne(CRYPTO_ERASE), { lun: THICK })).dataIn![1]! & 7).toBe(1);
    const one = good(await run(rsocOne(BLOCK_ERASE), { lun: THIN })).dataIn!;
    expect(one[1]! & 7).toBe(3);
    expect(Array.from(one.subarray(4, 14))).toEqual([0x48, 0xbf, 0, 0, 0, 0, 0, 0xff, 0xff, 0]);
  });

  it('reports WABEREQ / WACEREQ only where the erases exist (Block Device Characteristics VPD)', async () => {
    const bdc = (lun: number) => run(cdb(0x12, 1, 0xb1, 0, 64), { lun });
    expect(good(await bdc(THICK)).dataIn![7]).toBe(0);
    expect(good(await bdc(THIN)).dataIn![7]).toBe(0x50);
  });
});

describe('OVERWRITE', () => {
  it('writes the pattern, repeated within each block, over the whole LUN', async () => {
    await writeBlocks(THICK, 0, 4, 0x61);
    await writeBlocks(THICK, BLOCKS - 4, 4, 0x61);
    const list = overwriteList([1, 2, 3, 4, 5, 6, 7]);
    good(await run(sanitizeCdb(OVERWRITE, list.length), { data: list }));
    for (const lba of [0, 1000, BLOCKS - 1]) {
      const block = await readBlocks(THICK, lba, 1);
      expect(Array.from(block.subarray(0, 9))).toEqual([1, 2, 3, 4, 5, 6, 7, 1, 2]);
      expect(block[511]).toBe([1, 2, 3, 4, 5, 6, 7][511 % 7]);
    }
  });

  it('takes a full-block pattern and fills a thin LUN', async () => {
    const list = overwriteList(new Array<number>(BS).fill(0xaa));
    good(await run(sanitizeCdb(OVERWRITE, list.length), { lun: THIN, data: list }));
    expect((await readBlocks(THIN, BLOCKS - 2, 2)).every((b) => b === 0xaa)).toBe(true);
  });

  it('inverts the pattern between consecutive passes with INVERT', async () => {
    const two = overwriteList([0x0f], 2, { invert: true });
    good(await run(sanitizeCdb(OVERWRITE, two.length), { data: two }));
    expect((await readBlocks(THICK, 7, 1)).every((b) => b === 0xf0)).toBe(true);
    const three = overwriteList([0x0f], 3, { invert: true });
    good(await run(sanitizeCdb(OVERWRITE, three.length), { data: three }));
    expect((await readBlocks(THICK, 7, 1)).every((b) => b === 0x0f)).toBe(true);
  });

  it('refuses bad parameter list lengths and parameter lists', async () => {
    const list = overwriteList(new Array<number>(BS).fill(0xaa));
    for (const len of [0, 1, 4, BS + 5]) {
      const padded = new Uint8Array(BS + 8);
      expect(senseOf(await run(sanitizeCdb(OVERWRITE, len), { data: padded.subarray(0, len) }))).toMatchObject({ key: 5, asc: 0x24 });
    }
    // OVERWRITE COUNT 0: INVALID FIELD IN CDB (what libiscsi's Sanitize.Overwrite requires)
    const zeroCount = overwriteList([0xaa], 0);
    expect(senseOf(await run(sanitizeCdb(OVERWRITE, zeroCount.length), { data: zeroCount }))).toMatchObject({ key: 5, asc: 0x24 });
    const noPattern = overwriteList([0xaa], 1, { ipl: 0 });
    expect(senseOf(await run(sanitizeCdb(OVERWRITE, noPattern.length), { data: noPattern }))).toMatchObject({ key: 5, asc: 0x26 });
    const testMode = overwriteList([0xaa], 1, { test: 1 });
    expect(senseOf(await run(sanitizeCdb(OVERWRITE, testMode.length), { data: testMode }))).toMatchObject({ key: 5, asc: 0x26 });
    const mismatch = overwriteList([0xaa, 0xbb], 1, { ipl: 1 });
    expect(senseOf(await run(sanitizeCdb(OVERWRITE, mismatch.length), { data: mismatch }))).toMatchObject({ key: 5, asc: 0x1a });
    // data-out shorter than the CDB says
    expect(senseOf(await run(sanitizeCdb(OVERWRITE, list.length), { data: list.subarray(0, 8) }))).toMatchObject({ key: 5, asc: 0x1a });
    // nothing was written by any of them
    expect((await readBlocks(THICK, 0, 1)).every((b) => b === 0)).toBe(true);
  });
});

describe('BLOCK ERASE and CRYPTO ERASE', () => {
  it('BLOCK ERASE unmaps a thin LUN: zeros read back, GET LBA STATUS reports it all deallocated', async () => {
    await writeBlocks(THIN, 0, 256, 0x61);
    await writeBlocks(THIN, BLOCKS - 256, 256, 0x61);
    good(await run(sanitizeCdb(BLOCK_ERASE), { lun: THIN }));
    expect((await readBlocks(THIN, 0, 256)).every((b) => b === 0)).toBe(true);
    expect((await readBlocks(THIN, BLOCKS - 256, 256)).every((b) => b === 0)).toBe(true);
    const status = good(await run(getLbaStatus(0), { lun: THIN })).dataIn!;
    const view = new DataView(status.buffer, status.byteOffset);
    expect(view.getUint32(0)).toBe(4 + 16); // one descriptor
    expect(Number(view.getBigUint64(8))).toBe(0);
    expect(view.getUint32(16)).toBe(BLOCKS);
    expect(status[20]! & 0x0f).toBe(1); // deallocated
  });

  it('BLOCK ERASE and CRYPTO ERASE on a thick LUN are invalid service actions', async () => {
    expect(senseOf(await run(sanitizeCdb(BLOCK_ERASE), { lun: THICK }))).toMatchObject({ key: 5, asc: 0x24 });
    expect(senseOf(await run(sanitizeCdb(CRYPTO_ERASE), { lun: THICK }))).toMatchObject({ key: 5, asc: 0x24 });
  });

  it('CRYPTO ERASE leaves old data unreadable: zeros, and the LUN unmapped', async () => {
    await writeBlocks(THIN, 0, 16, 0x61);
    await writeBlocks(THIN, BLOCKS - 16, 16, 0x61);
    good(await run(sanitizeCdb(CRYPTO_ERASE), { lun: THIN }));
    expect((await readBlocks(THIN, 0, 16)).every((b) => b === 0)).toBe(true);
    expect((await readBlocks(THIN, BLOCKS - 16, 16)).every((b) => b === 0)).toBe(true);
    expect(good(await run(getLbaStatus(0), { lun: THIN })).dataIn![20]! & 0x0f).toBe(1);
  });

  it('takes no parameter list', async () => {
    for (const sa of [BLOCK_ERASE, CRYPTO_ERASE, EXIT_FAILURE_MODE]) {
      expect(senseOf(await run(sanitizeCdb(sa, 8), { lun: THIN, data: new Uint8Array(8) }))).toMatchObject({ key: 5, asc: 0x24 });
    }
  });
});

describe('CDB checks, write protection, reservations', () => {
  it('refuses reserved bits and bytes and unknown service actions with INVALID FIELD IN CDB', async () => {
    const base = sanitizeCdb(BLOCK_ERASE);
    const bit = base.slice();
    bit[1]! |= 0x40;
    expect(senseOf(await run(bit, { lun: THIN }))).toMatchObject({ key: 5, asc: 0x24 });
    for (let i = 2; i <= 6; i++) {
      const c = base.slice();
      c[i] = i;
      expect(senseOf(await run(c, { lun: THIN }))).toMatchObject({ key: 5, asc: 0x24 });
    }
    for (let sa = 0; sa <= 0x1f; sa++) {
      if ([OVERWRITE, BLOCK_ERASE, CRYPTO_ERASE, EXIT_FAILURE_MODE].includes(sa)) continue;
      expect(senseOf(await run(sanitizeCdb(sa), { lun: THIN }))).toMatchObject({ key: 5, asc: 0x24 });
    }
  });

  it('answers DATA PROTECT / WRITE PROTECTED on a write-protected LUN', async () => {
    const list = overwriteList([0xaa]);
    expect(senseOf(await run(sanitizeCdb(OVERWRITE, list.length), { lun: READ_ONLY, data: list }))).toMatchObject({ key: 7, asc: 0x27 });
    // (a write-protected thin LUN refuses the erases the same way: checked against libiscsi's Sanitize.Readonly)
  });

  it("conflicts with another nexus's reservation", async () => {
    await makeTarget({ reservations: new Reservations({ lunCount: 3 }) });
    good(await run(cdb(0x16), { nexus: nexusB }));
    const list = overwriteList([0xaa]);
    expect((await run(sanitizeCdb(OVERWRITE, list.length), { data: list })).status).toBe(ScsiStatus.ReservationConflict);
    expect((await run(sanitizeCdb(EXIT_FAILURE_MODE))).status).toBe(ScsiStatus.ReservationConflict);
    good(await run(cdb(0x17), { nexus: nexusB }));
    good(await run(sanitizeCdb(OVERWRITE, list.length), { data: list }));
  });
});

describe('while a sanitize is in progress', () => {
  it('IMMED returns at once; other commands get NOT READY / SANITIZE IN PROGRESS with a rising progress', async () => {
    await makeTarget({ minDurationMs: 400 });
    await writeBlocks(THICK, 0, 1, 0x61);
    const list = overwriteList([0x5a]);
    good(await run(sanitizeCdb(OVERWRITE, list.length, { immed: true }), { data: list }));
    const t = await run(tur());
    expect(senseOf(t)).toMatchObject({ key: 2, asc: 0x04, ascq: 0x1b });
    expect(sks(t)[0]! & 0x80).toBe(0x80);
    for (const c of [read10(0, 1), write10(0, 1), cdb(0x1b, 0, 0, 0, 1), cdb(0x1a, 0, 0x3f, 0, 0xff), sanitizeCdb(EXIT_FAILURE_MODE)]) {
      expect(senseOf(await run(c, c[0] === 0x2a ? { data: new Uint8Array(BS) } : {}))).toMatchObject({ key: 2, asc: 0x04, ascq: 0x1b });
    }
    good(await run(inquiry()));
    good(await run(cdb(0xa0, 0, 0, 0, 0, 0, ...be(256, 4))));
    // other LUNs are not affected
    good(await run(tur(), { lun: THIN }));
    const first = good(await run(requestSense())).dataIn!;
    expect(parseSense(first)).toMatchObject({ key: 2, asc: 0x04, ascq: 0x1b });
    await new Promise((r) => setTimeout(r, 250));
    const later = good(await run(requestSense())).dataIn!;
    const progress = (d: Uint8Array) => (d[16]! << 8) | d[17]!;
    expect(later[15]! & 0x80).toBe(0x80);
    expect(progress(later)).toBeGreaterThan(progress(first));
    await sanitizeSettled(target.logicalUnit(THICK)!);
    good(await run(tur()));
    expect(parseSense(good(await run(requestSense())).dataIn!)).toMatchObject({ key: 0, asc: 0 });
    expect((await readBlocks(THICK, 0, 1)).every((b) => b === 0x5a)).toBe(true);
  });

  it('IMMED=0 returns when the operation is done', async () => {
    await makeTarget({ minDurationMs: 200 });
    const started = performance.now();
    good(await run(sanitizeCdb(BLOCK_ERASE), { lun: THIN }));
    expect(performance.now() - started).toBeGreaterThanOrEqual(190);
    good(await run(tur(), { lun: THIN }));
  });

  it('goes on after the command is aborted and after LU and target resets', async () => {
    await makeTarget({ minDurationMs: 500 });
    const list = overwriteList([0x33]);
    const abort = new TestAbort();
    const pending = run(sanitizeCdb(OVERWRITE, list.length), { data: list, abort });
    await new Promise((r) => setTimeout(r, 50));
    abort.fire();
    await pending; // lets go at once (its response is the transport's to drop)
    expect(senseOf(await run(tur()))).toMatchObject({ key: 2, asc: 0x04, ascq: 0x1b });
    await target.taskManagement(TaskManagementFunction.LogicalUnitReset, nexusA, THICK);
    await target.taskManagement(TaskManagementFunction.TargetColdReset, nexusA, THICK);
    target.nexusLost(nexusA);
    expect(senseOf(await run(tur(), { nexus: nexusB }))).toMatchObject({ key: 2, asc: 0x04, ascq: 0x1b });
    await sanitizeSettled(target.logicalUnit(THICK)!);
    good(await run(tur(), { nexus: nexusB }));
    // nexusA was lost: it comes back as a new nexus, told so once
    expect(senseOf(await run(tur()))).toMatchObject({ key: 6, asc: 0x29, ascq: 0 });
    expect((await readBlocks(THICK, BLOCKS - 1, 1)).every((b) => b === 0x33)).toBe(true);
  });
});

describe('closing the target', () => {
  it('stops a running sanitize instead of waiting for it', async () => {
    await makeTarget({ minDurationMs: 10_000 });
    const list = overwriteList([0x44]);
    good(await run(sanitizeCdb(OVERWRITE, list.length, { immed: true }), { data: list }));
    const started = performance.now();
    await makeTarget(); // closes the previous target
    expect(performance.now() - started).toBeLessThan(2000);
  });
});

describe('sanitize failure mode', () => {
  function failingWrites(s: BlockStore): BlockStore & { fail: boolean } {
    const wrapped = {
      fail: true,
      get blockSize() {
        return s.blockSize;
      },
      get blockCount() {
        return s.blockCount;
      },
      get thin() {
        return s.thin;
      },
      read: (lba: number, n: number) => s.read(lba, n),
      write: (lba: number, d: Uint8Array, fua: boolean) => (wrapped.fail ? Promise.reject(new Error('injected EIO')) : s.write(lba, d, fua)),
      flush: () => s.flush(),
      unmap: (lba: number, n: number) => s.unmap(lba, n),
      mapping: (lba: number, n: number) => s.mapping(lba, n),
      close: () => s.close(),
    };
    return wrapped;
  }

  it('a failed sanitize blocks medium access until EXIT FAILURE MODE (AUSE=1) or a sanitize that succeeds', async () => {
    let store!: ReturnType<typeof failingWrites>;
    await makeTarget({ wrap: (s) => (store = failingWrites(s)) });
    const origError = console.error;
    console.error = () => {};
    try {
      const list = overwriteList([0x11]);
      // AUSE=0: EXIT FAILURE MODE is refused, only a successful sanitize clears the failure
      expect(senseOf(await run(sanitizeCdb(OVERWRITE, list.length), { data: list }))).toMatchObject({ key: 3, asc: 0x31, ascq: 0x03 });
      expect(senseOf(await run(read10(0, 1)))).toMatchObject({ key: 3, asc: 0x31, ascq: 0x03 });
      expect(parseSense(good(await run(requestSense())).dataIn!)).toMatchObject({ key: 3, asc: 0x31, ascq: 0x03 });
      good(await run(inquiry()));
      expect(senseOf(await run(sanitizeCdb(EXIT_FAILURE_MODE)))).toMatchObject({ key: 5, asc: 0x24 });
      store.fail = false;
      good(await run(sanitizeCdb(OVERWRITE, list.length), { data: list }));
      good(await run(read10(0, 1)));
      // AUSE=1: EXIT FAILURE MODE leaves failure mode
      store.fail = true;
      expect(senseOf(await run(sanitizeCdb(OVERWRITE, list.length, { ause: true }), { data: list }))).toMatchObject({ key: 3, asc: 0x31 });
      expect(senseOf(await run(tur()))).toMatchObject({ key: 3, asc: 0x31, ascq: 0x03 });
      good(await run(sanitizeCdb(EXIT_FAILURE_MODE)));
      good(await run(tur()));
      good(await run(read10(0, 1)));
    } finally {
      console.error = origError;
    }
  });
});
