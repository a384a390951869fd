// A block-device LUN (`--lun /dev/loopN`): its size is the device's, data goes to the device. Needs a loop device
// (root, /dev/loop-control, losetup); where the machine does not allow one the test is skipped, saying why.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { explain, run } from '../helpers/exec.ts';
import { CLI, startTarget, type RunningTarget } from '../helpers/target.ts';

const dir = mkdtempSync(join(tmpdir(), 'iscsi-lab-blockdev-'));
const image = join(dir, 'backing.img');
let loop = '';
let why = '';

beforeAll(async () => {
  writeFileSync(image, Buffer.alloc(0));
  const t = await run('truncate', ['-s', '24M', image]);
  if (t.code !== 0) why = explain(t);
  const r = why ? undefined : await run('losetup', ['-f', '--show', image]);
  if (r && r.code === 0) loop = r.stdout.trim();
  else why ||= `no loop device here (${r ? r.stderr.trim() : 'losetup not run'}): block-device LUNs are not tested on this machine`;
});

afterAll(async () => {
  if (loop) await run('losetup', ['-d', loop]);
  rmSync(dir, { recursive: true, force: true });
});

describe('block-device LUN', () => {
  it('serves /dev/loopN at the device size; writes land on the device', async (ctx) => {
    if (!loop) {
      console.warn(`skipped: ${why}`);
      ctx.skip();
    }
    let t: RunningTarget | undefined;
    try {
      t = await startTarget({ luns: [{ size: '1M', path: loop }], args: [] });
      // startTarget appends `:SIZE` to the path; a block device's LUN is the device's first SIZE bytes then.
      const cap = await run(CLI, ['readcap', t.url(0)]);
      expect(cap.code, explain(cap)).toBe(0);
      expect(cap.stdout).toMatch(/1048576 bytes|2048 blocks/);
      const w = await run(CLI, ['write', t.url(0), '--lba', '3', '--text', 'on the device']);
      expect(w.code, explain(w)).toBe(0);
      await t.stop({ keepDir: true });
      t = undefined;
      // fdatasync'd on SIGTERM: the loop device's backing file holds it
      expect(
        readFileSync(image)
          .subarray(3 * 512, 3 * 512 + 13)
          .toString(),
      ).toBe('on the device');
      // without a size, the whole device
      const whole = await startTarget({ luns: [{ size: '', path: loop }] });
      const cap2 = await run(CLI, ['readcap', whole.url(0)]);
      expect(cap2.stdout, explain(cap2)).toMatch(/25165824 bytes|49152 blocks/);
      expect((await whole.stop()).code).toBe(0);
    } finally {
      await t?.stop();
    }
  }, 60_000);

  it('a missing path without a size, or a thin block device, is a clear error (exit 2 / 1), not EINVAL', async () => {
    const missing = await run(CLI, ['target', '--iqn', 'iqn.2026-11.org.iscsi-lab:x', '--portal', '127.0.0.1:0', '--lun', '/dev/iscsi-lab-no-such-device']);
    expect(missing.code, explain(missing)).toBe(1);
    expect(missing.stderr).toMatch(/no such file or block device, and no size given/);
    if (loop) {
      const thin = await run(CLI, ['target', '--iqn', 'iqn.2026-11.org.iscsi-lab:x', '--portal', '127.0.0.1:0', '--lun', `${loop},thin`]);
      expect(thin.code, explain(thin)).toBe(1);
      expect(thin.stderr).toMatch(/cannot be thin/);
    }
  });
});
