// Several targets in one instance (`--iqn A --lun ... --chap ... --iqn B --lun ... --chap ...`): each its own name,
// LUNs and CHAP secret behind the same portal; each refuses the other's secret; SendTargets=All lists both.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InitiatorSession } from '../../server/initiator/session.ts';
import { LoginError } from '../../server/initiator/login.ts';
import { clearUnitAttentions, read16, write16 } from '../../server/initiator/scsi.ts';
import { startTarget, type RunningTarget } from '../helpers/target.ts';
import { explain, run } from '../helpers/exec.ts';
import { CLI } from '../helpers/target.ts';

const A = 'iqn.2026-11.org.iscsi-lab:multi-a';
const B = 'iqn.2026-11.org.iscsi-lab:multi-b';
const alice = { user: 'alice', secret: 'alice-secret-123' };
const bob = { user: 'bob', secret: 'bob-secret-45678' };
let t: RunningTarget;

beforeAll(async () => {
  t = await startTarget({
    iqn: A,
    luns: [{ size: '16M' }],
    chap: alice,
    args: ['--iqn', B, '--lun', 'b0.img:8M', '--lun', 'b1.img:8M', '--chap', `${bob.user}:${bob.secret}`],
  });
});
afterAll(async () => {
  if (t?.alive()) expect(await t.stop()).toEqual({ code: 0, signal: null });
});

const login = (targetName: string, chap: { user: string; secret: string }) =>
  InitiatorSession.login({ host: '127.0.0.1', port: t.port, targetName, initiatorName: 'iqn.2026-11.org.iscsi-lab:multi-i', chap });

describe('several targets in one instance', () => {
  it("each target takes its own CHAP secret and refuses the other one's", async () => {
    for (const [target, good, bad] of [
      [A, alice, bob],
      [B, bob, alice],
    ] as const) {
      const err = await login(target, bad).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, target).toBeInstanceOf(LoginError);
      expect(((err as LoginError).statusClass << 8) | (err as LoginError).statusDetail).toBe(0x0201);
      const s = await login(target, good);
      await s.logout();
    }
  });

  it('keeps their LUNs apart, and SendTargets=All lists both', async () => {
    const a = await login(A, alice);
    const b = await login(B, bob);
    await clearUnitAttentions(a, 0);
    await clearUnitAttentions(b, 0);
    await write16(a, 0, 0n, Buffer.alloc(512, 0xa1), 512);
    await write16(b, 0, 0n, Buffer.alloc(512, 0xb1), 512);
    expect((await read16(a, 0, 0n, 1, 512)).data![0]).toBe(0xa1);
    expect((await read16(b, 0, 0n, 1, 512)).data![0]).toBe(0xb1);
    // B has two LUNs, A one: LUN 1 exists only behind B
    expect((await read16(a, 1, 0n, 1, 512)).status).toBe(2);
    await clearUnitAttentions(b, 1);
    expect((await read16(b, 1, 0n, 1, 512)).status).toBe(0);
    const names = (await a.text([['SendTargets', 'All']])).filter(([k]) => k === 'TargetName').map(([, v]) => v);
    expect(names).toEqual([A, B]);
    await a.logout();
    await b.logout();
    // iscsi-lab ls (discovery with the first target's CHAP, which the discovery session uses) lists both; the
    // second target's LUNs then need its own secret, so ls is asked with A's and shows A's LUN
    const ls = await run(CLI, ['ls', `iscsi://${alice.user}%${alice.secret}@127.0.0.1:${t.port}`, '--initiator-name', 'iqn.2026-11.org.iscsi-lab:multi-i'], {
      timeoutMs: 30_000,
    });
    expect(ls.stdout, explain(ls)).toContain(`Target: ${A}`);
    expect(ls.stdout, explain(ls)).toContain(`Target: ${B}`);
  });

  it('refuses the same --iqn twice, or one LUN file for two targets, with exit 2', async () => {
    const twice = await run(CLI, ['target', '--iqn', A, '--lun', '/tmp/x.img:8M', '--iqn', A, '--lun', '/tmp/y.img:8M']);
    expect(twice.code, explain(twice)).toBe(2);
    expect(twice.stderr).toMatch(/given twice/);
    const shared = await run(CLI, ['target', '--iqn', A, '--lun', '/tmp/x.img:8M', '--iqn', B, '--lun', '/tmp/x.img:8M']);
    expect(shared.code, explain(shared)).toBe(2);
    expect(shared.stderr).toMatch(/--lun \/tmp\/x\.img given twice/);
  });
});
