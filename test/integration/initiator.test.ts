import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTarget, type RunningTarget } from '../../server/run-target.ts';
import { InitiatorSession } from '../../server/initiator/session.ts';
import { clearUnitAttentions, read16, readCapacity16, write16, parseSense } from '../../server/initiator/scsi.ts';
import { LoginError } from '../../server/initiator/login.ts';

const IQN = 'iqn.2026-11.org.iscsi-lab:initiator-test';
const CHAP = { user: 'alice', secret: 'alice-secret-123' };
const MUTUAL = { user: 'target', secret: 'target-secret-456' };
let dir: string;
let target: RunningTarget;
let port: number;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'iscsi-lab-init-'));
  target = await startTarget(
    {
      portals: [{ host: '127.0.0.1', port: 0 }],
      iqn: IQN,
      acl: [],
      chap: CHAP,
      mutualChap: MUTUAL,
      luns: [{ path: join(dir, 'lun0.img'), sizeBytes: 32 << 20, thin: false, removable: false, readOnly: false }],
    },
    () => undefined,
  );
  port = target.iscsi.listening[0]!.port;
});

afterAll(async () => {
  await target.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Logged in and past the new nexus's unit attention on LUN 0, as initiators start. */
async function login(opts: Parameters<typeof InitiatorSession.login>[0]): Promise<InitiatorSession> {
  const s = await InitiatorSession.login(opts);
  await clearUnitAttentions(s, 0);
  return s;
}

const base = () => ({ host: '127.0.0.1', port, targetName: IQN, initiatorName: 'iqn.2026-11.org.iscsi-lab:t1', chap: CHAP, mutualChap: MUTUAL });

describe('TypeScript initiator against the target', () => {
  // Sizes cross MaxRecvDataSegmentLength, FirstBurstLength (immediate + unsolicited) and MaxBurstLength (several R2Ts).
  for (const [hd, dd] of [
    [false, false],
    [true, true],
  ] as const) {
    it(`writes and reads back odd sizes (HeaderDigest=${hd} DataDigest=${dd})`, async () => {
      const s = await login({ ...base(), headerDigest: hd, dataDigest: dd });
      expect(s.params.headerDigest).toBe(hd);
      expect(s.params.dataDigest).toBe(dd);
      const cap = await readCapacity16(s, 0);
      expect(cap.blocks).toBe(65536n);
      for (const blocks of [1, 17, 129, 513, 2049]) {
        const data = randomBytes(blocks * 512);
        const lba = BigInt(blocks * 7);
        expect((await write16(s, 0, lba, data, 512)).status).toBe(0);
        const r = await read16(s, 0, lba, blocks, 512);
        expect(r.status).toBe(0);
        expect(r.data!.equals(data)).toBe(true);
      }
      await s.logout();
    });
  }

  it('reports CHECK CONDITION with sense for a read beyond the end', async () => {
    const s = await login(base());
    const r = await read16(s, 0, 65536n, 1, 512);
    expect(r.status).toBe(2);
    expect(parseSense(r.sense!)).toEqual({ key: 5, asc: 0x21, ascq: 0 });
    await s.logout();
  });

  it('echoes NOP-Out ping data and lists the target with SendTargets inside a normal session', async () => {
    const s = await InitiatorSession.login(base());
    expect((await s.nop(Buffer.from('ping data'))).toString()).toBe('ping data');
    const keys = await s.text([['SendTargets', 'All']]);
    expect(keys).toContainEqual(['TargetName', IQN]);
    expect(keys).toContainEqual(['TargetAddress', `127.0.0.1:${port},1`]);
    await s.logout();
  });

  it('refuses a wrong CHAP secret and a target that fails mutual CHAP', async () => {
    await expect(InitiatorSession.login({ ...base(), chap: { user: 'alice', secret: 'wrong-secret-xx' } })).rejects.toBeInstanceOf(LoginError);
    await expect(InitiatorSession.login({ ...base(), mutualChap: { user: 'target', secret: 'not-the-secret' } })).rejects.toThrow(/mutual CHAP/);
  });

  it('reinstates a session logged in again with the same ISID', async () => {
    const isid = Buffer.from('80000000abcd', 'hex');
    const a = await login({ ...base(), isid });
    const b = await InitiatorSession.login({ ...base(), isid });
    await new Promise((r) => setTimeout(r, 50));
    expect(a.closed).toBe(true);
    expect((await b.nop()).length).toBe(0);
    // The replaced session's nexus was lost without a logout: its successor is told once (SAM-5 6.3.4, as LIO does).
    const first = await b.command(0, Buffer.alloc(6)); // TEST UNIT READY
    expect(first.status).toBe(2);
    expect(parseSense(first.sense!)).toEqual({ key: 6, asc: 0x29, ascq: 0x07 });
    expect((await b.command(0, Buffer.alloc(6))).status).toBe(0);
    expect(target.iscsi.sessionList.filter((s) => s.isid.equals(isid)).length).toBe(1);
    await b.logout();
  });

  it('serves many sessions at once', async () => {
    const sessions = await Promise.all(Array.from({ length: 16 }, (_, i) => login({ ...base(), initiatorName: `iqn.2026-11.org.iscsi-lab:many${i}` })));
    const results = await Promise.all(
      sessions.map(async (s, i) => {
        const data = Buffer.alloc(4096, i + 1);
        await write16(s, 0, BigInt(1000 + i * 8), data, 512);
        return (await read16(s, 0, BigInt(1000 + i * 8), 8, 512)).data!.equals(data);
      }),
    );
    expect(results.every(Boolean)).toBe(true);
    await Promise.all(sessions.map((s) => s.logout()));
  });
});
