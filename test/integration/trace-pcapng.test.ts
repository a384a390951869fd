/**
 * The trace end to end: a real target, real initiators (iscsi-inq, iscsi-ls, qemu-io with and without header
 * digests), a TraceRecorder attached in-process, the ring exported as pcapng, and tshark as the judge: every PDU
 * must dissect as iSCSI and nothing may be malformed, except Wireshark's known trouble with VPD pages that the
 * initiator's allocation length truncated (see KNOWN_WIRESHARK_LIMITS).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTarget, type RunningTarget } from '../../server/run-target.ts';
import { TraceRecorder, type RecordedPdu } from '../../server/trace/recorder.ts';
import { recordedToPcapng } from '../../server/trace/pcapng.ts';
import { readCapture } from '../../server/capture/read-capture.ts';
import { parseJsonl, snapshotToJsonl } from '../../server/trace/jsonl.ts';

const IQN = 'iqn.2026-11.org.iscsi-lab:trace';
const PORT = 3312;
let dir: string;
let target: RunningTarget;
let recorder: TraceRecorder;
let recorded: RecordedPdu[];
let pcapFile: string;

function sh(file: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: 60_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`$ ${file} ${args.join(' ')}\n${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'iscsi-lab-trace-'));
  target = await startTarget(
    {
      portals: [{ host: '127.0.0.1', port: PORT }],
      iqn: IQN,
      luns: [{ path: join(dir, 'lun0.img'), sizeBytes: 16 << 20, thin: false, removable: false, readOnly: false }],
      acl: [],
    },
    () => undefined,
  );
  recorder = new TraceRecorder({ iscsi: target.iscsi, scsi: target.scsi });
  const release = recorder.start();
  const url = `iscsi://127.0.0.1:${PORT}/${IQN}/0`;
  await sh('iscsi-inq', [url]);
  await sh('iscsi-ls', ['-s', `iscsi://127.0.0.1:${PORT}`]);
  await sh('qemu-io', ['-f', 'raw', '-c', 'write -P 0xab 0 300k', '-c', 'read -P 0xab 0 300k', url]);
  await sh('qemu-io', [
    '-c',
    'write -P 0xcd 0 300k',
    '-c',
    'read -P 0xcd 0 300k',
    '--image-opts',
    `driver=iscsi,transport=tcp,portal=127.0.0.1:${PORT},target=${IQN},lun=0,header-digest=crc32c`,
  ]);
  release();
  recorded = recorder.recent();
  pcapFile = join(dir, 'trace.pcapng');
  writeFileSync(pcapFile, recordedToPcapng(recorded, recorder.startWallMs));
}, 120_000);

afterAll(async () => {
  await target?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('trace of real initiators', () => {
  it('records logins, commands, R2T/Data-Out, Data-In and header digests, correlated by task', () => {
    const names = new Set(recorded.map((p) => p.event.opcodeName));
    for (const n of [
      'Login Request',
      'Login Response',
      'SCSI Command',
      'SCSI Response',
      'SCSI Data-In',
      'R2T',
      'SCSI Data-Out',
      'Text Request',
      'Logout Request',
    ])
      expect(names, n).toContain(n);
    expect(recorded.some((p) => p.event.headerDigest)).toBe(true);
    expect(recorder.stats().recording).toBe(false);
    expect(target.iscsi.taps.pdu.active).toBe(false);
    // Every PDU of a WRITE task shares the task id; the response carries the latency.
    const write = recorded.find((p) => p.event.opcodeName === 'SCSI Command' && p.event.scsi?.opcodeName.startsWith('WRITE'))!;
    const task = recorded.filter((p) => p.event.taskId === write.event.taskId).map((p) => p.event.opcodeName);
    expect(task[0]).toBe('SCSI Command');
    expect(task).toContain('R2T');
    expect(task).toContain('SCSI Data-Out');
    expect(task.at(-1)).toBe('SCSI Response');
    const response = recorded.filter((p) => p.event.taskId === write.event.taskId).at(-1)!.event;
    expect(response.latencyNs).toBeGreaterThan(0);
    expect(response.scsi).toMatchObject({ opcodeName: write.event.scsi!.opcodeName, lba: 0, blocks: 600, statusName: 'GOOD' });
    // Store events were traced too.
    const snap = recorder.snapshot();
    expect(snap.events.some((e) => e.type === 'store' && e.kind === 'write')).toBe(true);
    expect(snap.events.some((e) => e.type === 'session' && e.kind === 'login')).toBe(true);
  });

  it('every PDU dissects as iSCSI in tshark, with the header digests it saw', async () => {
    const out = await sh('tshark', ['-r', pcapFile, '-Y', 'iscsi', '-T', 'fields', '-e', 'iscsi.opcode']);
    const opcodes = out
      .trim()
      .split('\n')
      .flatMap((l) => l.split(','))
      .map((x) => Number.parseInt(x, 16));
    expect(opcodes.length).toBe(recorded.length);
    expect(opcodes).toEqual(recorded.map((p) => p.event.opcode));
    const digests = await sh('tshark', ['-r', pcapFile, '-Y', 'iscsi.headerdigest32', '-T', 'fields', '-e', 'iscsi.headerdigest32']);
    const count = digests
      .trim()
      .split('\n')
      .filter(Boolean)
      .flatMap((l) => l.split(',')).length;
    expect(count).toBe(recorded.filter((p) => p.event.headerDigest).length);
  });

  it('tshark finds nothing malformed and no expert errors', async () => {
    const out = await sh('tshark', [
      '-r',
      pcapFile,
      '-Y',
      '_ws.malformed || _ws.expert.severity >= error',
      '-T',
      'fields',
      '-e',
      'frame.number',
      '-e',
      'frame.comment',
    ]);
    expect(out.trim()).toBe('');
  });

  it('reads its own pcapng back: same PDUs, same bytes, digests honoured and valid', () => {
    const back = readCapture(new Uint8Array(readFileSync(pcapFile)));
    expect(back.warnings).toEqual([]);
    expect(back.pdus.length).toBe(recorded.length);
    back.pdus.forEach((p, i) => {
      expect(p.direction).toBe(recorded[i]!.event.direction);
      expect(p.headerDigest).toBe(recorded[i]!.event.headerDigest);
      expect(p.digestsOk).toBe(true);
      expect(Buffer.from(p.bytes).equals(Buffer.from(recorded[i]!.raw))).toBe(true);
    });
  });

  it('exports JSON Lines and reads them back with correlation and raw bytes', () => {
    const text = snapshotToJsonl(recorder.snapshot(), recorded);
    const parsed = parseJsonl(text);
    expect(parsed.events.length).toBe(recorder.snapshot().events.length);
    expect(parsed.raw.size).toBe(recorded.length);
    const pdus = parsed.events.filter((e) => e.type === 'pdu');
    expect(pdus.map((e) => e.taskId)).toEqual(recorded.map((p) => p.event.taskId));
  });
});
