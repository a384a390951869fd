// libiscsi's iscsi-ls, iscsi-inq and iscsi-readcapacity16 against a target with two portals and two LUNs.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { explain, requireTools, run } from '../helpers/exec.ts';
import { startTarget, type RunningTarget } from '../helpers/target.ts';

describe('discovery and identification with libiscsi tools', () => {
  let t: RunningTarget;

  beforeAll(async () => {
    requireTools('iscsi-ls', 'iscsi-inq', 'iscsi-readcapacity16');
    t = await startTarget({
      iqn: 'iqn.2026-11.org.iscsi-lab:discovery',
      portals: 2,
      luns: [{ size: '64M' }, { size: '32M', thin: true }],
    });
  });
  afterAll(async () => {
    if (t?.alive()) expect(await t.stop()).toEqual({ code: 0, signal: null });
  });

  it('prints exactly one ready line naming the first portal and LUN 0', () => {
    expect(t.readyUrl).toBe(`iscsi://127.0.0.1:${t.port}/${t.iqn}/0`);
    expect(
      t
        .stdout()
        .split('\n')
        .filter((l) => l.startsWith('ready ')),
    ).toHaveLength(1);
  });

  it('iscsi-ls discovers the target and both portals (SendTargets=All)', async () => {
    const r = await run('iscsi-ls', [t.portalUrl(0)]);
    expect(r.code, explain(r)).toBe(0);
    const lines = r.stdout.split('\n').filter((l) => l.startsWith('Target:'));
    for (const port of t.ports) {
      expect(
        lines.some((l) => l.includes(`Target:${t.iqn} `) && l.includes(`Portal:127.0.0.1:${port},`)),
        explain(r),
      ).toBe(true);
    }
  });

  it('iscsi-ls through the second portal finds the same target', async () => {
    const r = await run('iscsi-ls', [t.portalUrl(1)]);
    expect(r.code, explain(r)).toBe(0);
    expect(r.stdout).toContain(`Target:${t.iqn} Portal:127.0.0.1:${t.ports[1]},`);
  });

  it('iscsi-ls -s lists LUN 0 and LUN 1 as disks with their sizes', async () => {
    const r = await run('iscsi-ls', ['-s', t.portalUrl(0)]);
    expect(r.code, explain(r)).toBe(0);
    // libiscsi prints the size in whole MiB from the last LBA, hence 63M for a 64 MiB LUN
    expect(r.stdout, explain(r)).toMatch(/Lun:0\s+Type:DIRECT_ACCESS \(Size:6[34]M\)/);
    expect(r.stdout, explain(r)).toMatch(/Lun:1\s+Type:DIRECT_ACCESS \(Size:3[12]M\)/);
    expect(r.stdout).not.toMatch(/Lun:2/);
  });

  it('iscsi-inq reads standard INQUIRY data of a disk', async () => {
    const r = await run('iscsi-inq', [t.url(0)]);
    expect(r.code, explain(r)).toBe(0);
    expect(r.stdout).toContain('Peripheral Qualifier:CONNECTED');
    expect(r.stdout).toContain('Peripheral Device Type:DIRECT_ACCESS');
    expect(r.stdout).toContain('Removable:0');
  });

  it('iscsi-inq reads the Block Limits VPD page (0xb0)', async () => {
    const r = await run('iscsi-inq', ['-e', '1', '-c', '176', t.url(0)]);
    expect(r.code, explain(r)).toBe(0);
    expect(r.stdout, explain(r)).toMatch(/^maximum transfer length:\d+$/m);
  });

  it('iscsi-readcapacity16 reports each LUN size, and thin provisioning only on the thin LUN', async () => {
    const a = await run('iscsi-readcapacity16', [t.url(0)]);
    expect(a.code, explain(a)).toBe(0);
    expect(a.stdout).toContain('Total size:67108864');
    expect(a.stdout).toContain('LOGICAL BLOCK LENGTH IN BYTES:512');
    expect(a.stdout).toMatch(/LBPME:0/);
    const b = await run('iscsi-readcapacity16', [t.url(1, { portal: 1 })]);
    expect(b.code, explain(b)).toBe(0);
    expect(b.stdout).toContain('Total size:33554432');
    expect(b.stdout).toContain('RETURNED LOGICAL BLOCK ADDRESS:65535');
    expect(b.stdout).toMatch(/LBPME:1/);
  });

  it('rejects a login to a LUN-less name: a wrong target IQN fails cleanly and the target keeps serving', async () => {
    const r = await run('iscsi-inq', [`iscsi://127.0.0.1:${t.port}/iqn.2026-11.org.iscsi-lab:nobody/0`]);
    expect(r.code, explain(r)).not.toBe(0);
    expect(t.alive()).toBe(true);
    const again = await run('iscsi-inq', [t.url(0)]);
    expect(again.code, explain(again)).toBe(0);
  });
});
