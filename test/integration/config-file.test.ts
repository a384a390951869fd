// Save and restore the whole configuration: GET /api/config from a running `serve`, then `serve --config FILE` gives
// the same GET /api/status (targets, portals, LUNs, CHAP on/off, ACLs). Secrets only with ?secrets=true.
import { afterEach, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, freePort } from '../helpers/target.ts';
import { explain, run } from '../helpers/exec.ts';

const dir = mkdtempSync(join(tmpdir(), 'iscsi-lab-config-'));
let proc: ChildProcess | undefined;

afterEach(async () => {
  if (proc && proc.exitCode === null) {
    const exited = new Promise((r) => proc!.once('exit', r));
    proc.kill('SIGTERM');
    await exited;
  }
  proc = undefined;
});

async function serve(args: string[]): Promise<void> {
  proc = spawn(CLI, ['serve', ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`serve did not start: ${out}${err}`)), 20_000);
    proc!.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (/^ready /m.test(out)) {
        clearTimeout(t);
        resolve();
      }
    });
    proc!.once('exit', (code) => reject(new Error(`serve exited ${code}: ${out}${err}`)));
  });
}

async function stop(): Promise<void> {
  const exited = new Promise((r) => proc!.once('exit', r));
  proc!.kill('SIGTERM');
  await exited;
}

/** GET /api/status without what changes from run to run (sessions). */
async function status(http: number): Promise<unknown> {
  const s = (await (await fetch(`http://127.0.0.1:${http}/api/status`)).json()) as Record<string, unknown>;
  delete s.sessions;
  return s;
}

describe('configuration save and restore', () => {
  it('serve --config FILE from GET /api/config?secrets=true gives the same GET /api/status', async () => {
    const [http, port] = [await freePort(), await freePort()];
    await serve([
      '--http',
      `127.0.0.1:${http}`,
      '--portal',
      `127.0.0.1:${port}`,
      '--cache',
      '8M',
      '--cache-policy',
      'arc',
      '--max-sessions',
      '9',
      '--iqn',
      'iqn.2026-11.org.iscsi-lab:cfg-a',
      '--lun',
      'a0.img:16M,thin',
      '--lun',
      'a1.img:8M,removable',
      '--chap',
      'alice:alice-secret-123',
      '--iqn',
      'iqn.2026-11.org.iscsi-lab:cfg-b',
      '--lun',
      'b0.img:8M,readonly,physical=4096',
      '--acl',
      'iqn.2026-11.org.iscsi-lab:only',
    ]);
    const before = await status(http);
    const plain = (await (await fetch(`http://127.0.0.1:${http}/api/config`)).json()) as { targets: { chap?: Record<string, string> }[] };
    expect(plain.targets[0]!.chap).toEqual({ user: 'alice' });
    const saved = await (await fetch(`http://127.0.0.1:${http}/api/config?secrets=true`)).text();
    expect(JSON.parse(saved).targets[0].chap).toEqual({ user: 'alice', secret: 'alice-secret-123' });
    await stop();
    writeFileSync(join(dir, 'lab.json'), saved);
    await serve(['--http', `127.0.0.1:${http}`, '--config', 'lab.json']);
    const after = await status(http);
    expect(after).toEqual(before);
    expect((before as { moreTargets: unknown[] }).moreTargets).toHaveLength(1);
    // and the restored configuration is the saved one
    expect(await (await fetch(`http://127.0.0.1:${http}/api/config?secrets=true`)).text()).toBe(saved);
  }, 60_000);

  it('a bad configuration file, or --config with target flags, is one error line and exit 2', async () => {
    writeFileSync(
      join(dir, 'bad.json'),
      JSON.stringify({ version: 1, targets: [{ iqn: 'iqn.2026-11.org.iscsi-lab:x', luns: [{ path: 'x.img', sizeBytes: 8388608, shiny: true }] }] }),
    );
    const bad = await run(CLI, ['target', '--config', join(dir, 'bad.json')]);
    expect(bad.code, explain(bad)).toBe(2);
    expect(bad.stderr).toMatch(/--config .*bad\.json: targets\[0\]\.luns\[0\]: unknown key "shiny"/);
    const mixed = await run(CLI, ['target', '--config', join(dir, 'bad.json'), '--lun', 'y.img:8M']);
    expect(mixed.code, explain(mixed)).toBe(2);
    expect(mixed.stderr).toMatch(/replaces the target flags/);
    rmSync(dir, { recursive: true, force: true });
  });
});
