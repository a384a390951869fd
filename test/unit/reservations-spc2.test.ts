import { describe, expect, it } from 'vitest';
import { Reservations } from '../../server/scsi/reservations/index.ts';
import {
  A,
  B,
  Sa,
  command,
  inquiry,
  modeSense6,
  nexus,
  prinCdb,
  proutCdb,
  proutParams,
  release10,
  release6,
  reserve10,
  reserve6,
  send,
  senseOf,
  tur,
} from './reservations-fixtures.ts';

describe('SPC-2 RESERVE/RELEASE', () => {
  it('reserves and releases (Reserve6.Simple)', async () => {
    const r = new Reservations({ lunCount: 1 });
    expect(await send(r, A, reserve6())).toBe(0);
    expect(await send(r, A, release6())).toBe(0);
  });

  it('keeps a second initiator out until released (Reserve6.2Initiators)', async () => {
    const r = new Reservations({ lunCount: 1 });
    expect(await send(r, A, reserve6())).toBe(0);
    expect(await send(r, A, reserve6())).toBe(0); // re-reserve by the holder
    expect(await send(r, B, reserve6())).toBe(0x18);
    expect(await send(r, B, release6())).toBe(0); // a no-op from a non-holder
    expect(await send(r, A, modeSense6())).toBe(0);
    expect(await send(r, B, modeSense6())).toBe(0x18);
    expect(await send(r, B, tur())).toBe(0x18);
    expect(await send(r, B, inquiry())).toBe(0);
    expect(await send(r, B, reserve6())).toBe(0x18);
    expect(await send(r, A, release6())).toBe(0);
    expect(await send(r, B, reserve6())).toBe(0);
    expect(await send(r, A, modeSense6())).toBe(0x18);
    expect(await send(r, B, release6())).toBe(0);
    expect(await send(r, A, modeSense6())).toBe(0);
  });

  it('treats another session of the same initiator as another I_T nexus', async () => {
    const r = new Reservations({ lunCount: 1 });
    const A2 = nexus(A.initiatorName, '23d000000002');
    expect(await send(r, A, reserve10())).toBe(0);
    expect(await send(r, A2, reserve10())).toBe(0x18);
    expect(await send(r, A, release10())).toBe(0);
  });

  it('is released by I_T nexus loss (Reserve6.ITNexusLoss, Reserve6.Logout)', async () => {
    const r = new Reservations({ lunCount: 1 });
    expect(await send(r, A, reserve6())).toBe(0);
    expect(await send(r, B, reserve6())).toBe(0x18);
    r.nexusLost(A);
    expect(await send(r, B, reserve6())).toBe(0);
    expect(await send(r, B, release6())).toBe(0);
  });

  it.each(['lu', 'warm', 'cold'] as const)('is released by a %s reset', async (kind) => {
    const r = new Reservations({ lunCount: 2 });
    expect(await send(r, A, reserve6())).toBe(0);
    r.reset(kind === 'lu' ? 0 : 'all', kind);
    expect(await send(r, B, reserve6())).toBe(0);
  });

  it('an LU reset of another LU leaves the reservation alone', async () => {
    const r = new Reservations({ lunCount: 2 });
    expect(await send(r, A, reserve6())).toBe(0);
    r.reset(1, 'lu');
    expect(await send(r, B, reserve6())).toBe(0x18);
  });

  it('refuses PRIN/PROUT while RESERVE-d, and RESERVE/RELEASE while registrations exist (SPC-2 5.5.1)', async () => {
    const r = new Reservations({ lunCount: 1 });
    expect(await send(r, A, reserve6())).toBe(0);
    expect(await send(r, A, prinCdb(0))).toBe(0x18);
    expect(await send(r, B, proutCdb(Sa.RegisterAndIgnore), proutParams(0n, 1n))).toBe(0x18);
    expect(await send(r, A, release6())).toBe(0);
    expect(await send(r, B, proutCdb(Sa.RegisterAndIgnore), proutParams(0n, 1n))).toBe(0);
    expect(await send(r, A, reserve6())).toBe(0x18);
    expect(await send(r, B, release6())).toBe(0x18);
  });

  it('rejects third-party RESERVE(10)', async () => {
    const r = new Reservations({ lunCount: 1 });
    const res = await r.execute(0, command(A, [0x56, 0x10, 5, 0, 0, 0, 0, 0, 0, 0]));
    expect(res.status).toBe(2);
    expect(senseOf(res.sense)).toEqual([5, 0x24, 0]);
  });
});
