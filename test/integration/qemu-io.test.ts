// qemu-io writes patterns of awkward sizes at awkward offsets and reads them back with `read -P` (qemu-io compares
// every byte). The sizes cross the iSCSI transfer limits the target negotiates by default: FirstBurstLength 64 KiB
// (immediate/unsolicited data, then R2T), MaxBurstLength 256 KiB (one R2T's worth), MaxRecvDataSegmentLength
// (several Data-In / Data-Out PDUs per command). The LUN's image file is checked too, after SIGTERM.
import { openSync, readSync, closeSync, rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { explain, requireTools, run } from '../helpers/exec.ts';
import { startTarget, type RunningTarget } from '../helpers/target.ts';

const KiB = 1024;
const MiB = 1024 * KiB;

interface Io {
  what: string;
  offset: number;
  length: number;
  pattern: number;
}

// Non-overlapping, each at an odd block number; the list ends up covering ~3.5 MiB of the 64 MiB LUN.
const IOS: Io[] = [
  { what: '1 block', offset: 512, length: 512, pattern: 0x11 },
  { what: '17 blocks', offset: 3 * 512, length: 17 * 512, pattern: 0x22 },
  { what: '64 KiB exactly (FirstBurstLength)', offset: 101 * 512, length: 64 * KiB, pattern: 0x33 },
  { what: '64 KiB + 512 (crosses FirstBurstLength)', offset: 301 * 512, length: 64 * KiB + 512, pattern: 0x44 },
  { what: '256 KiB exactly (MaxBurstLength)', offset: 1001 * 512, length: 256 * KiB, pattern: 0x55 },
  { what: '256 KiB + 512 (crosses MaxBurstLength)', offset: 2001 * 512, length: 256 * KiB + 512, pattern: 0x66 },
  { what: '1 MiB + 512 (several bursts)', offset: 3001 * 512, length: MiB + 512, pattern: 0x77 },
  { what: '768 KiB + 3 blocks near the end of the LUN', offset: 64 * MiB - 768 * KiB - 3 * 512, length: 768 * KiB + 3 * 512, pattern: 0x88 },
];

function qemuIo(url: string, cmds: string[], timeoutMs = 120_000) {
  return run('qemu-io', ['-f', 'raw', ...cmds.flatMap((c) => ['-c', c]), url], { timeoutMs });
}

/** qemu-io prints "wrote N/N bytes at offset O" / "read N/N bytes at offset O"; failures print an error instead. */
function expectDone(out: string, verb: 'wrote' | 'read', io: Io) {
  expect(out, `${verb} ${io.what}`).toContain(`${verb} ${io.length}/${io.length} bytes at offset ${io.offset}`);
}

describe('qemu-io patterns across burst boundaries', () => {
  let t: RunningTarget;

  beforeAll(async () => {
    requireTools('qemu-io');
    t = await startTarget({ luns: [{ size: '64M' }] });
  });
  afterAll(async () => {
    if (t?.alive()) await t.stop({ keepDir: true });
    if (t) rmSync(t.dir, { recursive: true, force: true });
  });

  it('writes each pattern and reads it back in the same session', async () => {
    const cmds = IOS.flatMap((io) => [
      `write -P 0x${io.pattern.toString(16)} ${io.offset} ${io.length}`,
      `read -P 0x${io.pattern.toString(16)} ${io.offset} ${io.length}`,
    ]);
    const r = await qemuIo(t.url(0), cmds);
    expect(r.code, explain(r)).toBe(0);
    expect(r.stdout + r.stderr, explain(r)).not.toMatch(/verification failed|error|failed/i);
    for (const io of IOS) {
      expectDone(r.stdout, 'wrote', io);
      expectDone(r.stdout, 'read', io);
    }
  });

  it('reads the patterns back in a new session, and the blocks around them are untouched (zero)', async () => {
    const cmds = IOS.flatMap((io) => [
      `read -P 0x${io.pattern.toString(16)} ${io.offset} ${io.length}`,
      `read -P 0 ${io.offset - 512} 512`,
      ...(io.offset + io.length < 64 * MiB ? [`read -P 0 ${io.offset + io.length} 512`] : []),
    ]);
    const r = await qemuIo(t.url(0), cmds);
    expect(r.code, explain(r)).toBe(0);
    expect(r.stdout + r.stderr, explain(r)).not.toMatch(/verification failed|error|failed/i);
    for (const io of IOS) expectDone(r.stdout, 'read', io);
  });

  it('reads a span covering several patterns in one command (1 MiB+ Data-In sequence)', async () => {
    // blocks 0..4095: zero, 0x11 at block 1, zero at 2, 0x22 at 3..19, zero ...; read it whole, then check pieces
    const r = await qemuIo(t.url(0), ['read -v 0 2048']);
    expect(r.code, explain(r)).toBe(0);
    expect(r.stdout).toMatch(/^00000200:\s+11 11 11 11/m);
    expect(r.stdout).toMatch(/^00000600:\s+22 22 22 22/m);
    expect(r.stdout).toMatch(/^00000400:\s+00 00 00 00/m);
  });

  it('handles writes that are not block aligned (qemu read-modify-writes around them)', async () => {
    const r = await qemuIo(t.url(0), [
      'write -P 0x99 40000001 3000',
      'read -P 0x99 40000001 3000',
      'read -P 0 39999488 513', // the bytes before, in the same first block
    ]);
    expect(r.code, explain(r)).toBe(0);
    expect(r.stdout + r.stderr, explain(r)).not.toMatch(/verification failed|error|failed/i);
    expect(r.stdout).toContain('read 3000/3000 bytes at offset 40000001');
  });

  it('leaves every pattern in the LUN file after SIGTERM', async () => {
    const exit = await t.stop({ keepDir: true });
    expect(exit).toEqual({ code: 0, signal: null });
    const fd = openSync(t.lunPaths[0]!, 'r');
    try {
      for (const io of IOS) {
        const buf = Buffer.alloc(io.length + 1024);
        readSync(fd, buf, 0, buf.length, io.offset - 512);
        const inside = buf.subarray(512, 512 + io.length);
        expect(
          inside.every((b) => b === io.pattern),
          `${io.what}: file bytes`,
        ).toBe(true);
        expect(
          buf.subarray(0, 512).every((b) => b === 0),
          `${io.what}: block before`,
        ).toBe(true);
      }
    } finally {
      closeSync(fd);
    }
  });
});
