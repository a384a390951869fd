// `npm test`'s first step (scripts/preflight.sh, the "pretest" script): on a machine without the Debian tools it
// names the missing packages and the one apt-get command at once, and stops npm test before anything else runs.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { explain, run } from '../helpers/exec.ts';
import { REPO_ROOT } from '../helpers/target.ts';

const SCRIPT = join(REPO_ROOT, 'scripts', 'preflight.sh');

describe('npm test preflight', () => {
  it('runs before everything else in npm test', () => {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.pretest).toBe('bash scripts/preflight.sh');
  });

  it('passes on this machine (the tools the tests drive are here)', async () => {
    const r = await run('/bin/bash', [SCRIPT]);
    expect(r.code, explain(r)).toBe(0);
    expect(r.stderr).toBe('');
  });

  it('without the tools: exit 1 within a second, the missing packages and the one apt-get command', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'iscsi-lab-nopath-'));
    try {
      const started = Date.now();
      const r = await run('/bin/bash', [SCRIPT], { env: { PATH: empty, CHROMIUM_PATH: join(empty, 'chromium'), QEMU_MODULE_DIR: empty } });
      const ms = Date.now() - started;
      expect(r.code, explain(r)).toBe(1);
      expect(ms).toBeLessThan(1000);
      for (const p of ['libiscsi-bin', 'qemu-utils', 'qemu-block-extra', 'tshark', 'chromium', 'python3']) expect(r.stderr, p).toContain(p);
      for (const tool of ['iscsi-inq', 'iscsi-ls', 'qemu-img', 'qemu-io', 'tshark', 'block-iscsi.so']) expect(r.stderr, tool).toContain(tool);
      const commands = r.stderr.split('\n').filter((l) => /apt-get install/.test(l) && !/ISCSI_LAB_PREFLIGHT_INSTALL/.test(l));
      expect(commands).toHaveLength(1);
      expect(commands[0]).toMatch(/^ {2}(sudo )?apt-get install -y --no-install-recommends libiscsi-bin qemu-utils tshark python3 chromium qemu-block-extra$/);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
