// CHAP guessing across connections (server/iscsi/auth-throttle.ts): the 1 s failure delay is per connection, so
// 60 connections at once used to have 60 secrets checked; now only the burst is checked, the rest are refused
// unchecked, and the right secret gets in again once the pause is over.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTarget, type RunningTarget } from '../../server/run-target.ts';
import { InitiatorSession } from '../../server/initiator/session.ts';
import { LoginError } from '../../server/initiator/login.ts';
import { AUTH_BURST_PER_ADDRESS, AUTH_BURST_PER_INITIATOR, AUTH_REFILL_MS } from '../../server/iscsi/auth-throttle.ts';

const IQN = 'iqn.2026-11.org.iscsi-lab:throttle';
const SECRET = 'throttle-secret-5e1f';
let dir: string;
let target: RunningTarget;
const failures: string[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'iscsi-lab-throttle-'));
  target = await startTarget(
    {
      portals: [{ host: '127.0.0.1', port: 0 }],
      iqn: IQN,
      acl: [],
      chap: { user: 'u', secret: SECRET },
      luns: [{ path: join(dir, 'lun0.img'), sizeBytes: 1 << 20, thin: false, removable: false, readOnly: false }],
    },
    () => undefined,
  );
  target.iscsi.taps.session.subscribe((e) => {
    if (e.kind === 'login-failed') failures.push(e.detail);
  });
});
afterAll(async () => {
  await target?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const login = (initiatorName: string, secret: string) =>
  InitiatorSession.login({
    host: '127.0.0.1',
    port: target.iscsi.listening[0]!.port,
    targetName: IQN,
    initiatorName,
    chap: { user: 'u', secret },
  });

async function refused(initiatorName: string, secret: string): Promise<void> {
  const err = await login(initiatorName, secret).then(
    (s) => s.logout().then(() => 'logged in'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(LoginError);
  expect(((err as LoginError).statusClass << 8) | (err as LoginError).statusDetail).toBe(0x0201);
}

describe('CHAP failures are rate-limited across connections', () => {
  it('60 parallel wrong secrets from one initiator: only the burst is checked, the right secret waits its turn', async () => {
    const started = Date.now();
    const flood = Promise.all(Array.from({ length: 60 }, (_, i) => refused('iqn.2026-11.org.example:guesser', `wrong-${i}-0123456789`)));
    // Failures are logged when checked; their answers come after the 1 s delay. While the flood waits for them,
    // even the right secret is refused unchecked (the answer must not tell a right guess from a wrong one).
    while (failures.length < 60) await new Promise((r) => setTimeout(r, 10));
    await refused('iqn.2026-11.org.example:guesser', SECRET);
    expect(failures.at(-1)).toMatch(/too many failed CHAP logins from 127\.0\.0\.1 as iqn\.2026-11\.org\.example:guesser/);
    await flood;
    const seconds = (Date.now() - started) / 1000;
    const checked = failures.filter((d) => /CHAP authentication failed/.test(d)).length;
    const throttled = failures.filter((d) => /too many failed CHAP logins from 127\.0\.0\.1/.test(d)).length;
    expect(checked).toBeGreaterThanOrEqual(AUTH_BURST_PER_INITIATOR);
    expect(checked).toBeLessThanOrEqual(AUTH_BURST_PER_INITIATOR + Math.ceil((seconds * 1000) / AUTH_REFILL_MS) + 1);
    expect(checked + throttled).toBe(61);
    // After the pause it gets in.
    await new Promise((r) => setTimeout(r, AUTH_REFILL_MS + 100));
    await (await login('iqn.2026-11.org.example:guesser', SECRET)).logout();
  });

  it('changing the InitiatorName per guess buys nothing beyond the per-address burst', async () => {
    failures.length = 0;
    await new Promise((r) => setTimeout(r, AUTH_REFILL_MS * 2));
    const started = Date.now();
    await Promise.all(Array.from({ length: 60 }, (_, i) => refused(`iqn.2026-11.org.example:name-${i}`, `wrong-${i}-0123456789`)));
    const seconds = (Date.now() - started) / 1000;
    const checked = failures.filter((d) => /CHAP authentication failed/.test(d)).length;
    expect(checked).toBeLessThanOrEqual(AUTH_BURST_PER_ADDRESS + Math.ceil((seconds * 1000) / AUTH_REFILL_MS) + 1);
    expect(failures.filter((d) => /too many failed CHAP logins from 127\.0\.0\.1:/.test(d)).length).toBeGreaterThanOrEqual(60 - checked);
  });
});
