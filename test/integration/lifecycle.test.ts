// The CLI's contract: `ready` line, exit 2 with one error line on bad arguments, exit 0 on SIGTERM with data
// flushed, LUN files reused with their data on restart, --acl honoured, FUA writes on disk before they complete.
import { openSync, readSync, closeSync, rmSync, statSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { explain, requireTools, run } from '../helpers/exec.ts';
import { CLI, startTarget } from '../helpers/target.ts';

const dirs: string[] = [];
const scratch = () => {
  const d = mkdtempSync(join(tmpdir(), 'iscsi-lab-life-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function readFileRange(path: string, offset: number, length: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(length);
    readSync(fd, buf, 0, length, offset);
    return buf;
  } finally {
    closeSync(fd);
  }
}

describe('iscsi-lab target command line', () => {
  it.each([
    ['no --lun', ['--portal', '127.0.0.1:3260', '--iqn', 'iqn.2026-11.org.iscsi-lab:x']],
    ['a bad size', ['--iqn', 'iqn.2026-11.org.iscsi-lab:x', '--lun', 'x.img:12Q']],
    ['an unknown LUN option', ['--iqn', 'iqn.2026-11.org.iscsi-lab:x', '--lun', 'x.img:64M,shiny']],
    ['an unknown flag', ['--iqn', 'iqn.2026-11.org.iscsi-lab:x', '--lun', 'x.img:64M', '--frobnicate']],
    ['a bad IQN', ['--iqn', 'not an iqn', '--lun', 'x.img:64M']],
    ['a bad portal', ['--portal', '127.0.0.1:99999', '--iqn', 'iqn.2026-11.org.iscsi-lab:x', '--lun', 'x.img:64M']],
    ['--chap without a secret', ['--iqn', 'iqn.2026-11.org.iscsi-lab:x', '--lun', 'x.img:64M', '--chap', 'user']],
  ])('exits 2 with one error line for %s', async (_what, args) => {
    const dir = scratch();
    const r = await run(CLI, ['target', ...args.map((a) => a.replace(/^x\.img/, join(dir, 'x.img')))], {
      timeoutMs: 20_000,
    });
    expect(r.code, explain(r)).toBe(2);
    expect(r.stdout, explain(r)).not.toMatch(/^ready /m);
    expect(r.stderr.trim().split('\n'), explain(r)).toHaveLength(1);
  });

  it('creates the LUN file sparse at the given size', async () => {
    const t = await startTarget({ luns: [{ size: '64M' }] });
    const st = statSync(t.lunPaths[0]!);
    expect(st.size).toBe(64 * 1024 * 1024);
    expect(st.blocks * 512).toBeLessThan(8 * 1024 * 1024); // sparse: nothing written yet
    await t.stop(); // the exit status is the SIGTERM tests' business
  });
});

describe('SIGTERM', () => {
  // A SIGTERM can come the moment the ready line is read (a supervisor, a test harness). Node only catches it
  // once the handler is installed, so the CLI must install its handlers before it prints `ready`.
  it('exits 0 when SIGTERM arrives right as `ready` is printed (5 tries)', async () => {
    for (let i = 0; i < 5; i++) {
      const t = await startTarget({ luns: [{ size: '8M' }] });
      const exit = await t.stop();
      expect(exit, `try ${i}: stderr ${JSON.stringify(t.stderr())}`).toEqual({ code: 0, signal: null });
    }
  });

  it('exits 0 when SIGTERM arrives during I/O, and what completed is in the file', async () => {
    requireTools('qemu-io');
    const t = await startTarget({ luns: [{ size: '64M' }] });
    const w = await run('qemu-io', ['-f', 'raw', '-c', 'write -P 0x42 0 4M', t.url(0)]);
    expect(w.code, explain(w)).toBe(0);
    // start a long read-write stream, then stop the target while it runs
    const busy = run(
      'qemu-io',
      ['-f', 'raw', ...Array.from({ length: 200 }, (_, i) => ['-c', `write -P 0x43 ${(8 + (i % 32)) * 1048576} 1M`]).flat(), t.url(0)],
      {
        timeoutMs: 60_000,
      },
    );
    await new Promise((r) => setTimeout(r, 300));
    const exit = await t.stop({ keepDir: true });
    await busy; // the initiator sees the connection go; we only care that it ends
    expect(exit, t.stderr()).toEqual({ code: 0, signal: null });
    expect(readFileRange(t.lunPaths[0]!, 0, 4 * 1048576).every((b) => b === 0x42)).toBe(true);
    rmSync(t.dir, { recursive: true, force: true });
  });
});

describe('data lifetime', () => {
  it('keeps LUN data across a SIGTERM and restart on the same file', async () => {
    requireTools('qemu-io');
    const dir = scratch();
    const path = join(dir, 'keep.img');
    const a = await startTarget({ luns: [{ size: '64M', path }] });
    const w = await run('qemu-io', ['-f', 'raw', '-c', 'write -P 0xc3 1048576 131072', a.url(0)]);
    expect(w.code, explain(w)).toBe(0);
    expect(await a.stop()).toEqual({ code: 0, signal: null });

    const b = await startTarget({ luns: [{ size: '64M', path }] });
    const r = await run('qemu-io', ['-f', 'raw', '-c', 'read -P 0xc3 1048576 131072', '-c', 'read -P 0 0 1048576', b.url(0)]);
    expect(r.code, explain(r)).toBe(0);
    expect(r.stdout + r.stderr).not.toMatch(/verification failed/i);
    expect(await b.stop()).toEqual({ code: 0, signal: null });
    expect(statSync(path).size).toBe(64 * 1024 * 1024);
  });

  it('has a FUA write in the LUN file as soon as it completes (target still running)', async () => {
    requireTools('qemu-io');
    const t = await startTarget({ luns: [{ size: '64M' }] });
    try {
      // qemu-io write -f sets FUA: WRITE(10) with the FUA bit; SBC says the data is on the medium when it completes
      const w = await run('qemu-io', ['-f', 'raw', '-t', 'none', '-c', 'write -f -P 0x5e 8388608 65536', t.url(0)]);
      expect(w.code, explain(w)).toBe(0);
      expect(w.stdout).toContain('wrote 65536/65536 bytes at offset 8388608');
      const onDisk = readFileRange(t.lunPaths[0]!, 8388608, 65536);
      expect(onDisk.every((b) => b === 0x5e)).toBe(true);
      expect(t.alive()).toBe(true);
    } finally {
      expect(await t.stop()).toEqual({ code: 0, signal: null });
    }
  });
});

describe('--acl', () => {
  it('lets in only the listed initiator names', async () => {
    requireTools('iscsi-inq');
    const allowed = 'iqn.2026-11.org.iscsi-lab:allowed-initiator';
    const t = await startTarget({ acl: [allowed] });
    try {
      const no = await run('iscsi-inq', [t.url(0)]); // libiscsi's default initiator name
      expect(no.code, explain(no)).not.toBe(0);
      expect(t.alive()).toBe(true);
      const yes = await run('iscsi-inq', ['-i', allowed, t.url(0)]);
      expect(yes.code, explain(yes)).toBe(0);
      expect(yes.stdout).toContain('Peripheral Device Type:DIRECT_ACCESS');
    } finally {
      expect(await t.stop()).toEqual({ code: 0, signal: null });
    }
  });
});
