import { mkdtempSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Reservations } from '../../server/scsi/reservations/index.ts';
import { A, B, Sa, nexus, proutCdb, proutParams, prinCdb, run, send, senseOf, write10 } from './reservations-fixtures.ts';

const K1 = 0x0102030405060708n;
const K2 = 0x1112131415161718n;
const EA = 3,
  WE = 1,
  WERO = 5,
  EAAR = 8;

function keysOf(d: Uint8Array): { gen: number; keys: bigint[] } {
  const v = new DataView(d.buffer, d.byteOffset, d.byteLength);
  const n = v.getUint32(4) / 8;
  const keys: bigint[] = [];
  for (let i = 0; i < n && 8 + 8 * i + 8 <= d.length; i++) keys.push(v.getBigUint64(8 + 8 * i));
  return { gen: v.getUint32(0), keys };
}

async function readKeys(r: Reservations, n = A, allocation = 0x2000): Promise<{ gen: number; keys: bigint[] }> {
  const res = await run(r, n, prinCdb(0, allocation));
  expect(res.status).toBe(0);
  return keysOf(res.dataIn!);
}

describe('PERSISTENT RESERVE IN', () => {
  it('accepts service actions 0-3 and refuses 4-0x1f with INVALID FIELD IN CDB (PrinServiceactionRange)', async () => {
    const r = new Reservations({ lunCount: 1 });
    for (let sa = 0; sa < 4; sa++) expect((await run(r, A, prinCdb(sa))).status).toBe(0);
    for (let sa = 4; sa < 0x20; sa++) {
      const res = await run(r, A, prinCdb(sa));
      expect(res.status).toBe(2);
      expect(senseOf(res.sense)).toEqual([5, 0x24, 0]);
    }
  });

  it('READ KEYS truncates to the allocation length but keeps ADDITIONAL LENGTH (PrinReadKeys.Truncate)', async () => {
    const r = new Reservations({ lunCount: 1 });
    expect(await send(r, A, proutCdb(Sa.RegisterAndIgnore), proutParams(0n, K1))).toBe(0);
    const res = await run(r, A, prinCdb(0, 8));
    expect(res.dataIn!.length).toBe(8);
    expect(new DataView(res.dataIn!.buffer, res.dataIn!.byteOffset).getUint32(4)).toBe(8);
  });

  it('REPORT CAPABILITIES: length 8, all six types, PTPL_C only with a state path', async () => {
    const r = new Reservations({ lunCount: 1 });
    const d = (await run(r, A, prinCdb(2))).dataIn!;
    expect([...d]).toEqual([0, 8, 0x04, 0x90, 0xea, 0x01, 0, 0]);
    const dir = mkdtempSync(join(tmpdir(), 'pr-'));
    const p = new Reservations({ lunCount: 1, statePath: (l) => join(dir, `${l}.json`) });
    expect((await run(p, A, prinCdb(2))).dataIn![2]).toBe(0x05);
  });

  it('READ FULL STATUS lists registrants with holder flag and iSCSI TransportID', async () => {
    const r = new Reservations({ lunCount: 1 });
    await send(r, A, proutCdb(Sa.RegisterAndIgnore), proutParams(0n, K1));
    await send(r, B, proutCdb(Sa.RegisterAndIgnore), proutParams(0n, K2));
    await send(r, A, proutCdb(Sa.Reserve, WE), proutParams(K1, 0n));
    const d = (await run(r, A, prinCdb(3))).dataIn!;
    const v = new DataView(d.buffer, d.byteOffset);
    expect(v.getUint32(4)).toBe(d.length - 8);
    expect(v.getBigUint64(8)).toBe(K1);
    expect(d[8 + 12]).toBe(0x01); // R_HOLDER
    expect(d[8 + 13]).toBe(WE);
    expect(v.getUint16(8 + 18)).toBe(1);
    const tidLen = v.getUint32(8 + 20);
    expect(tidLen % 4).toBe(0);
    const tid = d.subarray(8 + 24, 8 + 24 + tidLen);
    expect(tid[0]).toBe(0x45);
    expect(new TextDecoder().decode(tid.subarray(4)).split('\0')[0]).toBe(A.initiatorPort);
    const second = 8 + 24 + tidLen;
    expect(v.getBigUint64(second)).toBe(K2);
    expect(d[second + 12]).toBe(0);
  });
});

describe('PERSISTENT RESERVE OUT', () => {
  it('REGISTER, refuse re-register with key 0, unregister (ProutRegister.Simple)', async () => {
    const r = new Reservations({ lunCount: 1 });
    expect(await send(r, A, proutCdb(Sa.RegisterAndIgnore), proutParams(0n, K1))).toBe(0);
    expect((await readKeys(r)).keys).toEqual([K1]);
    expect(await send(r, A, proutCdb(Sa.Register), proutParams(0n, K1 + 1n))).toBe(0x18);
    expect(await send(r, A, proutCdb(Sa.Register), proutParams(K2, 0n))).toBe(0x18); // wrong key
    expect(await send(r, A, proutCdb(Sa.Register), proutParams(K1, K2))).toBe(0); // change key
    expect((await readKeys(r)).keys).toEqual([K2]);
    expect(await send(r, A, proutCdb(Sa.Register), proutParams(K2, 0n))).toBe(0);
    expect((await readKeys(r)).keys).toEqual([]);
  });

  it('refuses everything but REGISTER from an unregistered nexus, and a wrong key from a registered one', async () => {
    const r = new Reservations({ lunCount: 1 });
    expect(await send(r, A, proutCdb(Sa.Reserve, EA), proutParams(K1, 0n))).toBe(0x18);
    expect(await send(r, A, proutCdb(Sa.Register), proutParams(K1, K1))).toBe(0x18);
    await send(r, A, proutCdb(Sa.RegisterAndIgnore), proutParams(0n, K1));
    expect(await send(r, A, proutCdb(Sa.Reserve, EA), proutParams(K2, 0n))).toBe(0x18);
    expect(await send(r, A, proutCdb(Sa.Clear), proutParams(K2, 0n))).toBe(0x18);
  });

  it('RESERVE: same type again is GOOD, another type or another nexus conflicts; RESERVE/RELEASE keep generation', async () => {
    const r = new Reservations({ lunCount: 1 });
    await send(r, A, proutCdb(Sa.RegisterAndIgnore), proutParams(0n, K1));
    await send(r, B, proutCdb(Sa.RegisterAndIgnore), proutParams(0n, K2));
    const gen = (await readKeys(r)).gen;
    expect(await send(r, A, proutCdb(Sa.Reserve, EA), proutParams(K1, 0n))).toBe(0);
    expect(await send(r, A, proutCdb(Sa.Reserve, EA), proutParams(K1, 0n))).toBe(0);
    expect(await send(r, A, proutCdb(Sa.Reserve, WE), proutParams(K1, 0n))).toBe(0x18);
    expect(await send(r, B, proutCdb(Sa.Reserve, EA), proutParams(K2, 0n))).toBe(0x18);
    expect(await send(r, B, proutCdb(Sa.Release, EA), proutParams(K2, 0n))).toBe(0); // non-holder: no-op
    const bad = await run(r, A, proutCdb(Sa.Release, WE), proutParams(K1, 0n));
    expect(senseOf(bad.sense)).toEqual([5, 0x26, 0x04]);
    expect(await send(r, A, proutCdb(Sa.Release, EA), proutParams(K1, 0n))).toBe(0);
    expect((await readKeys(r)).gen).toBe(gen);
  });

  it('validates the CDB and parameter list', async () => {
    const r = new Reservations({ lunCount: 1 });
    await send(r, A, proutCdb(Sa.RegisterAndIgnore), proutParams(0n, K1));
    expect(senseOf((await run(r, A, proutCdb(Sa.Reserve, 2), proutParams(K1, 0n))).sense)).toEqual([5, 0x24, 0]);
    expect(senseOf((await run(r, A, proutCdb(Sa.Reserve, EA, 24, 1), proutParams(K1, 0n))).sense)).toEqual([5, 0x24, 0]);
    expect(senseOf((await run(r, A, proutCdb(8), proutParams(K1, 0n))).sense)).toEqual([5, 0x24, 0]);
    expect(senseOf((await run(r, A, proutCdb(Sa.Register, 0, 20), proutParams(K1, 0n).subarray(0, 20))).sense)).toEqual([5, 0x1a, 0]);
    expect(senseOf((await run(r, B, proutCdb(Sa.Register), proutParams(0n, K2, 0x08))).sense)).toEqual([5, 0x26, 0]);
    // APTPL needs somewhere to persist to
    expect(senseOf((await run(r, B, proutCdb(Sa.Register), proutParams(0n, K2, 0x01))).sense)).toEqual([5, 0x26, 0]);
    expect((await run(r, A, proutCdb(Sa.Register, 0, 24), proutParams(K1, K1))).dataOutWanted).toBe(24);
  });

  it('CLEAR drops reservation and registrations, bumps generation once, tells other registrants (ProutClear.Simple)', async () => {
    const uas: [string, number, number][] = [];
    const r = new Reservations({ lunCount: 1, onUnitAttention: (_l, id, asc, ascq) => uas.push([id, asc, ascq]) });
    await send(r, A, proutCdb(Sa.RegisterAndIgnore), proutParams(0n, K1));
    await send(r, B, proutCdb(Sa.RegisterAndIgnore), proutParams(0n, K2));
    const gen = (await readKeys(r)).gen;
    expect(await send(r, A, proutCdb(Sa.Reserve, EA), proutParams(K1, 0n))).toBe(0);
    expect(await send(r, A, proutCdb(Sa.Clear), proutParams(K1, 0n))).toBe(0);
    expect(await readKeys(r)).toEqual({ gen: gen + 1, keys: [] });
    expect((await run(r, A, prinCdb(1))).dataIn!.length).toBe(8);
    expect(uas).toEqual([[B.id, 0x2a, 0x03]]);
  });

  it('PREEMPT without a reservation removes the named registration (ProutPreempt.RemoveRegistration)', async () => {
    const uas: [string, number, number][] = [];
    const r = new Reservations({ lunCount: 1, onUnitAttention: (_l, id, asc, ascq) => uas.push([id, asc, ascq]) });
    await send(r, A, proutCdb(Sa.RegisterAndIgnore), proutParams(0n, K1));
    await send(r, B, proutCdb(Sa.RegisterAndIgnore), proutParams(0n, K2));
    const gen = (await readKeys(r)).gen;
    expect(await send(r, B, proutCdb(Sa.Preempt, EA), proutParams(K2, K1))).toBe(0);
    expect(await readKeys(r)).toEqual({ gen: gen + 1, keys: [K2] });
    expect((await run(r, A, prinCdb(1))).dataIn!.length).toBe(8); // no reservation was created
    expect(uas).toEqual([[A.id, 0x2a, 0x05]]);
    expect(await send(r, B, proutCdb(Sa.Preempt, EA), proutParams(K2, 0x99n))).toBe(0x18);
    expect(senseOf((await run(r, B, proutCdb(Sa.Preempt, EA), proutParams(K2, 0n))).sense)).toEqual([5, 0x26, 0]);
  });

  it('PREEMPT of the holder takes over the reservation with the new type', async () => {
    const uas: [string, number, number][] = [];
    const r = new Reservations({ lunCount: 1, onUnitAttention: (_l, id, asc, ascq) => uas.push([id, asc, ascq]) });
    const C = nexus('iqn.2026-11.org.test:c');
    await send(r, A, proutCdb(Sa.RegisterAndIgnore), proutParams(0n, K1));
    await send(r, B, proutCdb(Sa.RegisterAndIgnore), proutParams(0n, K2));
    await send(r, C, proutCdb(Sa.RegisterAndIgnore), proutParams(0n, 0x33n));
    await send(r, A, proutCdb(Sa.Reserve, WE), proutParams(K1, 0n));
    expect(await send(r, B, write10())).toBe(0x18);
    expect(await send(r, B, proutCdb(Sa.PreemptAndAbort, WERO), proutParams(K2, K1))).toBe(0);
    expect((await readKeys(r)).keys).toEqual([K2, 0x33n]);
    const rr = (await run(r, B, prinCdb(1))).dataIn!;
    expect(new DataView(rr.buffer, rr.byteOffset).getBigUint64(8)).toBe(K2);
    expect(rr[21]).toBe(WERO);
    expect(await send(r, A, write10())).toBe(0x18);
    expect(await send(r, C, write10())).toBe(0);
    expect(uas).toEqual([
      [A.id, 0x2a, 0x05],
      [C.id, 0x2a, 0x04],
    ]);
  });

  it('PREEMPT with key 0 under an all-registrants reservation removes every other registrant', async () => {
    const r = new Reservations({ lunCount: 1 });
    await send(r, A, proutCdb(Sa.RegisterAndIgnore), proutParams(0n, K1));
    await send(r, B, proutCdb(Sa.RegisterAndIgnore), proutParams(0n, K2));
    await send(r, A, proutCdb(Sa.Reserve, EAAR), proutParams(K1, 0n));
    expect(await send(r, B, proutCdb(Sa.Preempt, EA), proutParams(K2, 0n))).toBe(0);
    expect((await readKeys(r, B)).keys).toEqual([K2]);
    expect(await send(r, A, write10())).toBe(0x18);
  });

  it('REGISTER AND MOVE hands the reservation to a known nexus', async () => {
    const r = new Reservations({ lunCount: 1 });
    await send(r, A, proutCdb(Sa.RegisterAndIgnore), proutParams(0n, K1));
    await send(r, A, proutCdb(Sa.Reserve, EA), proutParams(K1, 0n));
    expect(await send(r, B, write10())).toBe(0x18); // B is now known to the engine
    const name = new TextEncoder().encode(B.initiatorPort);
    const tidLen = Math.ceil((name.length + 1) / 4) * 4 + 4;
    const p = new Uint8Array(24 + tidLen);
    const v = new DataView(p.buffer);
    v.setBigUint64(0, K1);
    v.setBigUint64(8, K2);
    p[17] = 0x02; // UNREG
    v.setUint16(18, B.relativeTargetPort);
    v.setUint32(20, tidLen);
    p[24] = 0x45;
    v.setUint16(26, tidLen - 4);
    p.set(name, 28);
    expect(await send(r, A, proutCdb(Sa.RegisterAndMove, 0, p.length), p)).toBe(0);
    expect((await readKeys(r)).keys).toEqual([K2]);
    expect(await send(r, B, write10())).toBe(0);
    expect(await send(r, A, write10())).toBe(0x18);
  });

  it('ALL_TG_PT registration covers the same initiator port on another target port', async () => {
    const r = new Reservations({ lunCount: 1 });
    const A2 = nexus(A.initiatorName, '23d000000001', 2);
    await send(r, A, proutCdb(Sa.RegisterAndIgnore), proutParams(0n, K1, 0x04));
    expect(await send(r, A2, proutCdb(Sa.Reserve, WERO), proutParams(K1, 0n))).toBe(0);
    expect(await send(r, A, write10())).toBe(0);
    expect(await send(r, B, write10())).toBe(0x18);
  });

  it('cold reset drops persistent state without APTPL; LU and warm resets keep it', async () => {
    const r = new Reservations({ lunCount: 1 });
    await send(r, A, proutCdb(Sa.RegisterAndIgnore), proutParams(0n, K1));
    await send(r, A, proutCdb(Sa.Reserve, EA), proutParams(K1, 0n));
    r.reset(0, 'lu');
    r.reset('all', 'warm');
    expect(await send(r, B, write10())).toBe(0x18);
    r.reset('all', 'cold');
    expect(await send(r, B, write10())).toBe(0);
    expect((await readKeys(r)).keys).toEqual([]);
  });

  it('APTPL persists registrations and the reservation across a restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pr-'));
    const statePath = (l: number): string => join(dir, `lun${l}.json`);
    const r = new Reservations({ lunCount: 1, statePath });
    await send(r, A, proutCdb(Sa.RegisterAndIgnore), proutParams(0n, K1, 0x01));
    await send(r, A, proutCdb(Sa.Reserve, WE), proutParams(K1, 0n));
    expect(JSON.parse(readFileSync(statePath(0), 'utf8')).registrations).toHaveLength(1);
    r.reset('all', 'cold');
    const restarted = new Reservations({ lunCount: 1, statePath });
    expect((await readKeys(restarted)).keys).toEqual([K1]);
    expect((await run(restarted, A, prinCdb(2))).dataIn![3]! & 0x01).toBe(1); // PTPL_A
    expect(await send(restarted, B, write10())).toBe(0x18);
    expect(await send(restarted, A, write10())).toBe(0);
    // Re-registering without APTPL turns persistence off and removes the file
    await send(restarted, A, proutCdb(Sa.Register), proutParams(K1, K2));
    expect(existsSync(statePath(0))).toBe(false);
  });
});
