import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, freePort, startTarget, type RunningTarget } from '../helpers/target.ts';
import { explain, requireTools, run } from '../helpers/exec.ts';

/**
 * `iscsi-lab inq|readcap|read|write|dd|ls` against this target and against Debian's tgt, so the TypeScript initiator
 * is checked against a target it did not grow up with.
 */
const TGT_IQN = 'iqn.2026-11.org.iscsi-lab:tgt-peer';
let dir: string;
let ours: RunningTarget;
let tgtd: ChildProcess;
let tgtUrl: string;
let control: string;

const cli = (...args: string[]) => run(CLI, args, { timeoutMs: 30_000 });
const tgtadm = (...args: string[]) => run('tgtadm', ['-C', control, '--lld', 'iscsi', ...args]);

beforeAll(async () => {
  requireTools('tgtd', 'tgtadm');
  dir = mkdtempSync(join(tmpdir(), 'iscsi-lab-cli-'));
  ours = await startTarget({ luns: [{ size: '16M' }] });
  const port = await freePort();
  // Its own control port, so it never meets another tgtd on this machine.
  control = String(100 + (port % 900));
  writeFileSync(join(dir, 'tgt.img'), Buffer.alloc(0));
  await run('truncate', ['-s', '16M', join(dir, 'tgt.img')]);
  tgtd = spawn('tgtd', ['-f', '-C', control, '--iscsi', `portal=127.0.0.1:${port}`], { stdio: 'ignore' });
  for (let i = 0; i < 50; i++) {
    if ((await tgtadm('--op', 'show', '--mode', 'target')).code === 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  for (const args of [
    ['--op', 'new', '--mode', 'target', '--tid', '1', '-T', TGT_IQN],
    ['--op', 'new', '--mode', 'logicalunit', '--tid', '1', '--lun', '1', '-b', join(dir, 'tgt.img')],
    ['--op', 'bind', '--mode', 'target', '--tid', '1', '-I', 'ALL'],
  ]) {
    const r = await tgtadm(...args);
    expect(r.code, explain(r)).toBe(0);
  }
  tgtUrl = `iscsi://127.0.0.1:${port}/${TGT_IQN}/1`;
});

afterAll(async () => {
  await tgtadm('--op', 'delete', '--force', '--mode', 'target', '--tid', '1');
  await run('tgtadm', ['-C', control, '--op', 'delete', '--mode', 'system']);
  tgtd?.kill('SIGKILL');
  await ours?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('iscsi-lab initiator commands', () => {
  for (const which of ['ours', 'tgt'] as const) {
    it(`inq, readcap, write, read and dd against ${which === 'ours' ? 'this target' : "Debian's tgt"}`, async () => {
      const url = which === 'ours' ? ours.url(0) : tgtUrl;
      const inq = await cli('inq', url);
      expect(inq.code, explain(inq)).toBe(0);
      expect(inq.stdout).toMatch(/Vendor: (ISCSILAB|IET)/);
      const cap = await cli('readcap', url);
      expect(cap.code, explain(cap)).toBe(0);
      expect(cap.stdout).toContain('blocks: 32768');
      expect(cap.stdout).toContain('block size: 512');
      const w = await cli('write', url, '--lba', '33', '--text', `hello ${which}`, '--fua');
      expect(w.code, explain(w)).toBe(0);
      expect(w.stdout).toContain('wrote 1 block at LBA 33');
      const r = await cli('read', url, '--lba', '33');
      expect(r.code, explain(r)).toBe(0);
      expect(r.stdout).toContain(`|hello ${which}`);
      expect(r.stdout.split('\n')[0]).toMatch(/^00004200 /); // byte offset of LBA 33
      const out = join(dir, `${which}.bin`);
      const dd = await cli('dd', '--if', url, '--of', out, '--count', '64');
      expect(dd.code, explain(dd)).toBe(0);
      expect(
        readFileSync(out)
          .subarray(33 * 512, 33 * 512 + 6 + which.length)
          .toString(),
      ).toBe(`hello ${which}`);
    });
  }

  it('prints one readable line and exits 1 for a CHECK CONDITION, 2 for a bad URL', async () => {
    const r = await cli('read', ours.url(0), '--lba', '40000');
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe('iscsi-lab: READ(16): CHECK CONDITION, ILLEGAL REQUEST: LOGICAL BLOCK ADDRESS OUT OF RANGE (ASC 0x21 ASCQ 0x00)');
    const bad = await cli('inq', 'http://nope');
    expect(bad.code).toBe(2);
    expect(bad.stderr.split('\n').filter(Boolean).length).toBe(1);
  });

  it('lists targets and LUNs with ls', async () => {
    const r = await cli('ls', ours.portalUrl());
    expect(r.code, explain(r)).toBe(0);
    expect(r.stdout).toContain(`Target: ${ours.iqn}`);
    expect(r.stdout).toMatch(/LUN 0: 32768 blocks of 512 bytes/);
  });
});
