// The management API (POST /api/admin) against a running `serve`: a LUN added and removed at run time is seen by
// Debian's iscsi-ls; CHAP and ACL changes apply to the next logins; GET /api/config follows every change.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServe, type Serve } from '../helpers/serve.ts';
import { explain, requireTools, run } from '../helpers/exec.ts';
import { InitiatorSession } from '../../server/initiator/session.ts';
import { LoginError } from '../../server/initiator/login.ts';
import { clearUnitAttentions, parseSense, read16, readCapacity16, write16 } from '../../server/initiator/scsi.ts';

const IQN = 'iqn.2026-11.org.iscsi-lab:admin';
let lab: Serve;
let http: number;
let port: number;

beforeAll(async () => {
  requireTools('iscsi-ls');
  lab = await startServe('127.0.0.1', ['--iqn', IQN, '--lun', 'lun0.img:16M']);
  [http, port] = [lab.http, lab.port];
});

afterAll(async () => {
  expect(await lab.stop()).toBe(0);
});

const admin = async (body: unknown): Promise<{ status: number; json: Record<string, unknown> }> => {
  const r = await fetch(`http://127.0.0.1:${http}/api/admin`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: r.status, json: (await r.json()) as Record<string, unknown> };
};
const ls = () => run('iscsi-ls', ['-s', `iscsi://127.0.0.1:${port}`]);

describe('management API', () => {
  it('a LUN added and removed at run time is seen by iscsi-ls', async () => {
    const before = await ls();
    expect(before.stdout, explain(before)).toMatch(/Lun:0\s/);
    expect(before.stdout).not.toMatch(/Lun:1\s/);
    const watcher = await InitiatorSession.login({ host: '127.0.0.1', port, targetName: IQN, initiatorName: 'iqn.2026-11.org.iscsi-lab:watcher' });
    await clearUnitAttentions(watcher, 0);
    const added = await admin({ action: 'add-lun', lun: 'extra.img:8M,thin' });
    expect(added, JSON.stringify(added)).toEqual({ status: 200, json: { target: IQN, lun: 1 } });
    // a nexus already in is told to rescan: REPORTED LUNS DATA HAS CHANGED (SPC-4 6.33)
    const ua = await watcher.command(0, Buffer.alloc(6));
    expect([ua.status, parseSense(ua.sense!)]).toEqual([2, { key: 6, asc: 0x3f, ascq: 0x0e }]);
    await watcher.logout();
    const withIt = await ls();
    expect(withIt.stdout, explain(withIt)).toMatch(/Lun:1\s+Type:DIRECT_ACCESS \(Size:[78]M\)/);
    const config = (await (await fetch(`http://127.0.0.1:${http}/api/config`)).json()) as { targets: { luns: { path: string; thin: boolean }[] }[] };
    expect(config.targets[0]!.luns.map((l) => [l.path, l.thin])).toEqual([
      ['lun0.img', false],
      ['extra.img', true],
    ]);
    expect((await admin({ action: 'remove-lun', lun: 0 })).status).toBe(409); // only the last one
    expect(await admin({ action: 'remove-lun', lun: 1 })).toEqual({ status: 200, json: { target: IQN, removed: 1 } });
    const after = await ls();
    expect(after.stdout, explain(after)).toMatch(/Lun:0\s/);
    expect(after.stdout).not.toMatch(/Lun:1\s/);
  });

  it('a LUN grown at run time: CAPACITY DATA HAS CHANGED, the new blocks read and write, shrinking is refused', async () => {
    const s = await InitiatorSession.login({ host: '127.0.0.1', port, targetName: IQN, initiatorName: 'iqn.2026-11.org.iscsi-lab:grower' });
    await clearUnitAttentions(s, 0);
    expect(await admin({ action: 'resize-lun', lun: 0, size: '24M' })).toEqual({ status: 200, json: { target: IQN, lun: 0, blocks: 49152 } });
    const ua = await s.command(0, Buffer.alloc(6));
    expect([ua.status, parseSense(ua.sense!)]).toEqual([2, { key: 6, asc: 0x2a, ascq: 0x09 }]);
    expect((await readCapacity16(s, 0)).blocks).toBe(49152n);
    const data = Buffer.alloc(4096, 0x7e);
    expect((await write16(s, 0, 40000n, data, 512)).status).toBe(0);
    expect((await read16(s, 0, 40000n, 8, 512)).data!.equals(data)).toBe(true);
    await s.logout();
    expect((await admin({ action: 'resize-lun', lun: 0, size: '16M' })).status).toBe(400);
    const config = (await (await fetch(`http://127.0.0.1:${http}/api/config`)).json()) as { targets: { luns: { sizeBytes: number }[] }[] };
    expect(config.targets[0]!.luns[0]!.sizeBytes).toBe(24 << 20);
  });

  it('a target added at run time takes logins with its own CHAP and is listed; removed, it is gone', async () => {
    const NEW = 'iqn.2026-11.org.iscsi-lab:admin-new';
    const spec = { iqn: NEW, luns: [{ path: 'new0.img', sizeBytes: 8 << 20 }], chap: { user: 'dave', secret: 'dave-secret-123' } };
    expect(await admin({ action: 'add-target', spec })).toEqual({ status: 200, json: { target: NEW, added: true } });
    expect((await admin({ action: 'add-target', spec })).status).toBe(409);
    const s = await InitiatorSession.login({
      host: '127.0.0.1',
      port,
      targetName: NEW,
      initiatorName: 'iqn.2026-11.org.iscsi-lab:admin-i',
      chap: { user: 'dave', secret: 'dave-secret-123' },
    });
    const names = (await s.text([['SendTargets', 'All']])).filter(([k]) => k === 'TargetName').map(([, v]) => v);
    expect(names).toEqual([IQN, NEW]);
    expect((await admin({ action: 'remove-target', target: IQN })).status).toBe(409); // the first one stays
    expect(await admin({ action: 'remove-target', target: NEW })).toEqual({ status: 200, json: { target: NEW, removed: true } });
    await new Promise((r) => setTimeout(r, 100));
    expect(s.closed).toBe(true);
    const gone = await InitiatorSession.login({
      host: '127.0.0.1',
      port,
      targetName: NEW,
      initiatorName: 'iqn.2026-11.org.iscsi-lab:admin-i',
      chap: { user: 'dave', secret: 'dave-secret-123' },
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(gone).toBeInstanceOf(LoginError);
    expect(((gone as LoginError).statusClass << 8) | (gone as LoginError).statusDetail).toBe(0x0203); // not found
  });

  it('CHAP and ACL changes apply to the next logins; bad requests change nothing', async () => {
    const login = (opts: { chap?: { user: string; secret: string }; name?: string } = {}) =>
      InitiatorSession.login({ host: '127.0.0.1', port, targetName: IQN, initiatorName: opts.name ?? 'iqn.2026-11.org.iscsi-lab:admin-i', chap: opts.chap });
    expect((await admin({ action: 'set-chap', chap: 'carol:carol-secret-12' })).status).toBe(200);
    await expect(login()).rejects.toBeInstanceOf(LoginError);
    await (await login({ chap: { user: 'carol', secret: 'carol-secret-12' } })).logout();
    expect((await admin({ action: 'set-chap', chap: null })).status).toBe(200);
    expect((await admin({ action: 'set-acl', acl: ['iqn.2026-11.org.iscsi-lab:only-me', 'iqn.2026-11.org.iscsi-lab:gateway'] })).status).toBe(200);
    await expect(login()).rejects.toBeInstanceOf(LoginError);
    await (await login({ name: 'iqn.2026-11.org.iscsi-lab:only-me' })).logout();
    expect((await admin({ action: 'set-acl', acl: [] })).status).toBe(200);
    await (await login()).logout();
    for (const bad of [
      { action: 'add-lun', lun: 'x.img:1' },
      { action: 'set-acl', acl: ['not an iqn'] },
      { action: 'explode' },
      { action: 'add-lun', target: 'iqn.2026-11.x:none', lun: 'y.img:8M' },
      // Over HTTP a LUN is a plain NAME.img in the lab's folder: no other file of the machine can be served or resized.
      { action: 'add-lun', lun: '/etc/passwd:1M' },
      { action: 'add-lun', lun: '../up.img:8M' },
      { action: 'add-lun', lun: 'notes.txt:1M' },
      { action: 'add-target', spec: { iqn: 'iqn.2026-11.org.iscsi-lab:sneaky', luns: [{ path: '/tmp/sneaky.img', sizeBytes: 8 << 20 }] } },
    ]) {
      const r = await admin(bad);
      expect(r.status, JSON.stringify(bad)).toBeGreaterThanOrEqual(400);
      expect(typeof r.json.error).toBe('string');
    }
    const config = (await (await fetch(`http://127.0.0.1:${http}/api/config`)).json()) as { targets: { luns: unknown[]; acl: string[]; chap?: unknown }[] };
    expect(config.targets[0]).toMatchObject({ acl: [] });
    expect(config.targets[0]!.chap).toBeUndefined();
    expect(config.targets[0]!.luns).toHaveLength(1);
  });
});
