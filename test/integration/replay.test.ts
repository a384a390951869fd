/**
 * Replay end to end: a real target in-process, qemu-io writing and reading 300 KiB (immediate data, R2T, Data-Out,
 * Data-In) while a TraceRecorder listens, the ring exported as pcapng, then `replayCapture` against the same target
 * (nothing differs), after overwriting blocks with another pattern (the read differs), and against a second,
 * fresh LUN (the data read back is what the replayed write put there; only the LUN's identity page differs).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTarget, type RunningTarget } from '../../server/run-target.ts';
import { TraceRecorder } from '../../server/trace/recorder.ts';
import { recordedToPcapng } from '../../server/trace/pcapng.ts';
import { snapshotToJsonl } from '../../server/trace/jsonl.ts';
import { InitiatorSession } from '../../server/initiator/session.ts';
import { clearUnitAttentions, write16 } from '../../server/initiator/scsi.ts';
import { replayCapture, replayMain, ReplayUsageError } from '../../server/replay/replay.ts';
import { loadCapture } from '../../server/capture/load-capture.ts';
import { extractTasks } from '../../server/replay/extract.ts';
import { requireTools } from '../helpers/exec.ts';

const IQN = 'iqn.2026-11.org.iscsi-lab:replay-test';
let dir: string;
let target: RunningTarget;
let port: number;
let capture: Uint8Array;
let captureFile: string;
let jsonl: Uint8Array;

function sh(file: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: 20_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`$ ${file} ${args.join(' ')}\n${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

const url = (lun: number): string => `iscsi://127.0.0.1:${port}/${IQN}/${lun}`;

beforeAll(async () => {
  requireTools('qemu-io');
  dir = mkdtempSync(join(tmpdir(), 'iscsi-lab-replay-'));
  const lun = (name: string) => ({ path: join(dir, name), sizeBytes: 8 << 20, thin: false, removable: false, readOnly: false });
  target = await startTarget({ portals: [{ host: '127.0.0.1', port: 0 }], iqn: IQN, luns: [lun('lun0.img'), lun('lun1.img')], acl: [] }, () => undefined);
  port = target.iscsi.listening[0]!.port;
  const recorder = new TraceRecorder({ iscsi: target.iscsi, scsi: target.scsi });
  const release = recorder.start();
  await sh('qemu-io', ['-f', 'raw', '-c', 'write -P 0xab 0 300k', '-c', 'read -P 0xab 0 300k', url(0)]);
  release();
  capture = recordedToPcapng(recorder.recent(), recorder.startWallMs);
  jsonl = new TextEncoder().encode(snapshotToJsonl(recorder.snapshot(), recorder.recent()));
  recorder.close();
  captureFile = join(dir, 'session.pcapng');
  writeFileSync(captureFile, capture);
}, 30_000);

afterAll(async () => {
  await target?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('replay of a qemu-io session', () => {
  it('finds the write and the read of 300 KiB in the capture', () => {
    const { tasks } = extractTasks(loadCapture(capture).pdus);
    expect(tasks.every((t) => t.problems.length === 0)).toBe(true);
    const writes = tasks.filter((t) => t.write && t.edtl > 0);
    const reads = tasks.filter((t) => t.read && t.dataIn && t.dataIn.length === 300 * 1024);
    expect(writes.reduce((s, t) => s + t.edtl, 0)).toBeGreaterThanOrEqual(300 * 1024);
    expect(writes.every((t) => t.dataOut!.every((b) => b === 0xab))).toBe(true);
    expect(reads.length).toBeGreaterThanOrEqual(1);
  });

  it('replays against the same target with no differences', async () => {
    const seen: number[] = [];
    const r = await replayCapture(capture, url(0), { onCommand: (c) => void seen.push(c.number) });
    expect(r.lines, [...r.warnings, ...r.lines].join('\n')).toEqual([`replayed ${r.commands} commands, 0 differences`]);
    expect(r.commands).toBeGreaterThan(2);
    expect(r.skipped).toBe(0);
    expect(r.format).toBe('pcapng');
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
  }, 20_000);

  it('replays the JSON Lines export (with raw bytes) the same way', async () => {
    const r = await replayCapture(jsonl, url(0));
    expect(r.format).toBe('jsonl');
    expect(r.lines, [...r.warnings, ...r.lines].join('\n')).toEqual([`replayed ${r.commands} commands, 0 differences`]);
    expect(r.commands).toBeGreaterThan(2);
  }, 20_000);

  it('reports the read when blocks no longer hold what was recorded', async () => {
    // The capture writes 0xab before it reads, so blocks overwritten before the replay would be restored by the
    // replayed write: a second session overwrites 8 blocks at LBA 16 after each replayed write instead.
    const s = await InitiatorSession.login({ host: '127.0.0.1', port, targetName: IQN, initiatorName: 'iqn.2026-11.org.iscsi-lab:scribbler' });
    await clearUnitAttentions(s, 0);
    await clearUnitAttentions(s, 1);
    let differences = 0;
    const lines: string[] = [];
    try {
      const r = await replayCapture(capture, url(0), {
        onCommand: async (c) => {
          if (c.task.write && c.task.edtl > 0) await write16(s, 0, 16n, Buffer.alloc(8 * 512, 0x5c), 512);
        },
        onDifference: (l) => lines.push(l),
      });
      differences = r.differences;
      expect(r.lines.at(-1)).toBe(`replayed ${r.commands} commands, ${r.differences} differences`);
    } finally {
      await s.logout();
    }
    expect(differences).toBeGreaterThan(0);
    expect(
      lines.some((l) => /^command \d+ READ\(\d+\) LBA 0 blocks \d+: data sha256 differs \(\w+… vs \w+…\), first difference at byte 8192 \(LBA 16\)$/.test(l)),
      lines.join('\n'),
    ).toBe(true);
  }, 20_000);

  it('replays against a second, fresh LUN: the data matches, only the LUN identity (VPD page 0x83) differs', async () => {
    const out: string[] = [];
    const code = await replayMain([captureFile, '--target', url(1), '--initiator-name', 'iqn.2026-11.org.iscsi-lab:replay2'], (l) => out.push(l));
    // The replayed WRITE puts 0xab on LUN 1 before the READ, so the read matches; the Device Identification page
    // names the logical unit (SPC-4 7.8.6), which is another one now.
    expect(
      out.filter((l) => !l.startsWith('warning:')),
      out.join('\n'),
    ).toEqual([
      expect.stringMatching(/^command \d+ INQUIRY VPD page 0x83: data sha256 differs \(\w+… vs \w+…\), first difference at byte \d+$/),
      expect.stringMatching(/^replayed \d+ commands, 1 differences$/),
    ]);
    expect(code).toBe(1);
  }, 20_000);

  it('exits 1 with a difference line when the data differs, through replayMain', async () => {
    // LUN 1 now holds the pattern; the capture's read from LUN 0 is compared against LUN 1 after a change at LBA 0.
    const s = await InitiatorSession.login({ host: '127.0.0.1', port, targetName: IQN, initiatorName: 'iqn.2026-11.org.iscsi-lab:scribbler' });
    await clearUnitAttentions(s, 0);
    await clearUnitAttentions(s, 1);
    await write16(s, 1, 0n, Buffer.alloc(512, 0x01), 512);
    await s.logout();
    // Only the read matters here: a capture of just qemu's read of LUN 1.
    const recorder = new TraceRecorder({ iscsi: target.iscsi, scsi: target.scsi });
    const release = recorder.start();
    await sh('qemu-io', ['-f', 'raw', '-c', 'read -P 0xab 512 4k', url(1)]);
    release();
    const readOnly = join(dir, 'read.pcapng');
    writeFileSync(readOnly, recordedToPcapng(recorder.recent(), recorder.startWallMs));
    recorder.close();
    const s2 = await InitiatorSession.login({ host: '127.0.0.1', port, targetName: IQN, initiatorName: 'iqn.2026-11.org.iscsi-lab:scribbler' });
    await clearUnitAttentions(s2, 0);
    await clearUnitAttentions(s2, 1);
    await write16(s2, 1, 1n, Buffer.alloc(512, 0x02), 512);
    await s2.logout();
    const out: string[] = [];
    const code = await replayMain([readOnly, `--target=${url(1)}`], (l) => out.push(l));
    expect(code).toBe(1);
    expect(out.filter((l) => /data sha256 differs/.test(l)).length, out.join('\n')).toBeGreaterThan(0);
    expect(out.at(-1)).toMatch(/^replayed \d+ commands, [1-9]\d* differences$/);
  }, 20_000);

  it('refuses bad arguments with a usage error', async () => {
    await expect(replayMain([], () => undefined)).rejects.toThrow(ReplayUsageError);
    await expect(replayMain([captureFile], () => undefined)).rejects.toThrow(/--target/);
    await expect(replayMain([captureFile, '--target', 'http://x'], () => undefined)).rejects.toThrow(ReplayUsageError);
    await expect(replayMain([captureFile, '--target', url(0), '--bogus'], () => undefined)).rejects.toThrow(/unknown flag --bogus/);
  });
});
