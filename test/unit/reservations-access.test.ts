import { describe, expect, it } from 'vitest';
import { Reservations } from '../../server/scsi/reservations/index.ts';
import {
  A,
  B,
  Sa,
  inquiry,
  modeSense6,
  prinCdb,
  proutCdb,
  proutParams,
  read10,
  readCapacity10,
  run,
  send,
  syncCache10,
  tur,
  write10,
} from './reservations-fixtures.ts';

const KA = 0x1111_2222_3333_4444n;
const KB = 0xaaaa_bbbb_cccc_ddddn;

const WE = 1,
  EA = 3,
  WERO = 5,
  EARO = 6,
  WEAR = 7,
  EAAR = 8;
const ALL_REGISTRANTS = new Set([WEAR, EAAR]);

async function readReservation(r: Reservations): Promise<{ key: bigint; type: number } | undefined> {
  const res = await run(r, A, prinCdb(1));
  const d = res.dataIn!;
  const v = new DataView(d.buffer, d.byteOffset);
  if (v.getUint32(4) === 0) return undefined;
  return { key: v.getBigUint64(8), type: d[21]! & 0x0f };
}

/** A registers and reserves `type`; B registers. Mirrors libiscsi's ProutReserve.Access* setup. */
async function setup(type: number): Promise<Reservations> {
  const r = new Reservations({ lunCount: 1 });
  expect(await send(r, A, proutCdb(Sa.RegisterAndIgnore), proutParams(0n, KA))).toBe(0);
  expect(await send(r, B, proutCdb(Sa.RegisterAndIgnore), proutParams(0n, KB))).toBe(0);
  expect(await send(r, A, proutCdb(Sa.Reserve, type), proutParams(KA, 0n))).toBe(0);
  expect(await readReservation(r)).toEqual({ key: ALL_REGISTRANTS.has(type) ? 0n : KA, type });
  return r;
}

// [type, registered B can read, can write, unregistered B can read, can write] (libiscsi test_prout_reserve_access.c,
// SPC-4 table 66, SBC-3 table 13)
const ACCESS: [string, number, boolean, boolean, boolean, boolean][] = [
  ['EA', EA, false, false, false, false],
  ['WE', WE, true, false, true, false],
  ['EARO', EARO, true, true, false, false],
  ['WERO', WERO, true, true, true, false],
  ['EAAR', EAAR, true, true, false, false],
  ['WEAR', WEAR, true, true, true, false],
];

describe('persistent reservation access rules', () => {
  it.each(ACCESS)('%s', async (_name, type, regRead, regWrite, unregRead, unregWrite) => {
    const r = await setup(type);
    expect(await send(r, A, read10())).toBe(0);
    expect(await send(r, A, write10())).toBe(0);
    expect(await send(r, B, read10())).toBe(regRead ? 0 : 0x18);
    expect(await send(r, B, write10())).toBe(regWrite ? 0 : 0x18);
    expect(await send(r, B, proutCdb(Sa.Register), proutParams(KB, 0n))).toBe(0);
    expect(await send(r, B, read10())).toBe(unregRead ? 0 : 0x18);
    expect(await send(r, B, write10())).toBe(unregWrite ? 0 : 0x18);
    // Informational commands pass every type; MODE SENSE and SYNCHRONIZE CACHE do not
    for (const cdb of [inquiry(), tur(), readCapacity10(), prinCdb(0)]) expect(await send(r, B, cdb)).toBe(0);
    expect(await send(r, B, modeSense6())).toBe(0x18);
    expect(await send(r, B, syncCache10())).toBe(0x18);
    expect(await send(r, A, proutCdb(Sa.Release, type), proutParams(KA, 0n))).toBe(0);
    expect(await send(r, B, write10())).toBe(0);
    expect(await send(r, A, proutCdb(Sa.Register), proutParams(KA, 0n))).toBe(0);
  });
});

// libiscsi test_prout_reserve_ownership.c: does the reservation survive its creator unregistering?
describe('persistent reservation ownership', () => {
  it.each([
    ['EA', EA],
    ['WE', WE],
    ['EARO', EARO],
    ['WERO', WERO],
    ['EAAR', EAAR],
    ['WEAR', WEAR],
  ])('%s', async (_name, type) => {
    const uas: [string, number, number][] = [];
    const r = new Reservations({ lunCount: 1, onUnitAttention: (_l, id, asc, ascq) => uas.push([id, asc, ascq]) });
    expect(await send(r, A, proutCdb(Sa.RegisterAndIgnore), proutParams(0n, KA))).toBe(0);
    expect(await send(r, B, proutCdb(Sa.RegisterAndIgnore), proutParams(0n, KB))).toBe(0);
    expect(await send(r, A, proutCdb(Sa.Reserve, type), proutParams(KA, 0n))).toBe(0);
    expect(await send(r, A, proutCdb(Sa.Register), proutParams(KA, 0n))).toBe(0);
    if (ALL_REGISTRANTS.has(type)) {
      expect(await readReservation(r)).toEqual({ key: 0n, type });
      expect(await send(r, B, write10())).toBe(0);
      expect(await send(r, A, write10())).toBe(0x18);
      expect(await send(r, B, proutCdb(Sa.Release, type), proutParams(KB, 0n))).toBe(0);
    } else {
      expect(await readReservation(r)).toBeUndefined();
    }
    // Registrants-only reservations tell the remaining registrants they lost their reservation (SPC-4 5.12.11.2.2)
    expect(uas).toEqual(type === WERO || type === EARO ? [[B.id, 0x2a, 0x04]] : []);
    expect(await send(r, B, proutCdb(Sa.Register), proutParams(KB, 0n))).toBe(0);
    expect(await readReservation(r)).toBeUndefined();
  });
});
