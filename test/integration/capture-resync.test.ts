/**
 * The capture reader against captures nobody hand-made: dumpcap on loopback around qemu-io writing to and reading
 * from Debian's tgt (on a port that is not 3260, so the reader must recognise iSCSI by content), then damaged the
 * way real captures are: one mid-write frame deleted (`editcap FILE OUT N`), and the first half cut off (a capture
 * started mid-transfer). tshark is the judge: on the whole capture the lab's PDU list (frame, opcode, Initiator
 * Task Tag) must equal tshark's; on a damaged one it must equal tshark's list of the undamaged capture less the
 * PDUs whose bytes fell into the gap, and contain everything tshark itself still finds there.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readCapture, type CaptureResult } from '../../server/capture/read-capture.ts';
import { indexCapture } from '../../server/capture/index-capture.ts';
import { explain, requireTools, run } from '../helpers/exec.ts';
import { cleanCapture, startDumpcap, tsharkPdus, type TsharkPdu } from '../helpers/dumpcap.ts';
import { startTgt, type Tgt } from '../helpers/tgt.ts';
import { CLI } from '../helpers/target.ts';

let dir: string;
let tgt: Tgt;
let whole: string;
let truth: TsharkPdu[];
/** The same traffic with CRC32C header digests negotiated (hunting then checks each candidate's digest). */
let digested: string;
let digestedTruth: TsharkPdu[];

const key = (p: { frame: number; opcode: number; itt: number }): string => `${p.frame} 0x${p.opcode.toString(16)} 0x${p.itt.toString(16)}`;

/** The entries of `all` that `part` skips, if `part` is `all` with some entries left out (order kept); else undefined. */
function leftOut(all: readonly string[], part: readonly string[]): string[] | undefined {
  const out: string[] = [];
  let j = 0;
  for (const k of all) {
    if (j < part.length && part[j] === k) j++;
    else out.push(k);
  }
  return j === part.length ? out : undefined;
}

/** Whether every entry of `part` occurs in `all` at least as often. */
function containsAll(all: readonly string[], part: readonly string[]): boolean {
  const count = new Map<string, number>();
  for (const k of all) count.set(k, (count.get(k) ?? 0) + 1);
  for (const k of part) {
    const n = count.get(k) ?? 0;
    if (n === 0) return false;
    count.set(k, n - 1);
  }
  return true;
}

function labPdus(file: string): { list: TsharkPdu[]; result: CaptureResult } {
  const result = readCapture(new Uint8Array(readFileSync(file)));
  const list = result.pdus.map((p) => ({ frame: p.frame, opcode: p.bhs[0]! & 0x3f, itt: new DataView(p.bhs.buffer, p.bhs.byteOffset).getUint32(16) }));
  return { list, result };
}

/** Frames carrying initiator payload of at least `min` bytes (tshark's view), in order. */
async function bigInitiatorFrames(file: string, port: number, min: number): Promise<number[]> {
  const r = await run('tshark', ['-r', file, '-Y', `tcp.dstport==${port} && tcp.len>=${min}`, '-T', 'fields', '-e', 'frame.number']);
  expect(r.code, explain(r)).toBe(0);
  return r.stdout.split('\n').filter(Boolean).map(Number);
}

/** tcp.len of the given frames. */
async function frameLengths(file: string, frames: readonly number[]): Promise<Map<number, number>> {
  const want = new Set(frames);
  const r = await run('tshark', ['-r', file, '-T', 'fields', '-e', 'frame.number', '-e', 'tcp.len']);
  expect(r.code, explain(r)).toBe(0);
  const out = new Map<number, number>();
  for (const line of r.stdout.split('\n')) {
    const [f, l] = line.split('\t').map(Number);
    if (want.has(f!)) out.set(f!, l!);
  }
  return out;
}

async function capture(file: string, commands: string[], url: string, port: number): Promise<void> {
  const cap = await startDumpcap(file, `tcp port ${port}`);
  try {
    const r = await run('qemu-io', ['-f', 'raw', ...commands.flatMap((c) => ['-c', c]), url], { timeoutMs: 120_000 });
    expect(r.code, explain(r)).toBe(0);
    expect(r.stdout).not.toMatch(/Pattern verification failed|error/i);
  } finally {
    await cap.stop();
  }
}

beforeAll(async () => {
  requireTools('qemu-io', 'tshark', 'editcap', 'dumpcap');
  dir = mkdtempSync(join(tmpdir(), 'iscsi-lab-resync-'));
  tgt = await startTgt(dir, { sizeMiB: 16 });
  whole = join(dir, 'whole.pcapng');
  await cleanCapture(whole, () =>
    capture(whole, ['write -P 0xab 0 1M', 'read -P 0xab 0 1M', 'write -P 0x5c 1M 512k', 'read -P 0x5c 1M 512k'], tgt.url, tgt.port),
  );
  truth = await tsharkPdus(whole, tgt.port);
  await tgt.admin('--op', 'update', '--mode', 'target', '--tid', '1', '-n', 'HeaderDigest', '-v', 'CRC32C,None');
  digested = join(dir, 'digested.pcapng');
  const opts = `driver=iscsi,transport=tcp,portal=127.0.0.1:${tgt.port},target=${tgt.iqn},lun=1,header-digest=crc32c`;
  await cleanCapture(digested, async () => {
    const cap = await startDumpcap(digested, `tcp port ${tgt.port}`);
    const r = await run('qemu-io', ['-c', 'write -P 0x3e 0 1M', '-c', 'read -P 0x3e 0 1M', '--image-opts', opts], { timeoutMs: 120_000 });
    await cap.stop();
    expect(r.code, explain(r)).toBe(0);
  });
  digestedTruth = await tsharkPdus(digested, tgt.port);
}, 180_000);

afterAll(async () => {
  await tgt?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const wholeFile = (): string => whole;
const truth0 = (): TsharkPdu[] => truth;

describe('capture reader on real tgt captures', () => {
  it('finds the same PDUs as tshark in the whole capture, on a port that is not 3260', () => {
    const lab = labPdus(whole);
    console.log(`whole capture: lab ${lab.list.length} PDUs, tshark ${truth.length}`);
    expect(truth.length).toBeGreaterThan(100);
    expect(lab.list.map(key)).toEqual(truth.map(key));
  });

  it.each(['plain', 'header digests'])('after one mid-write frame is deleted (%s), loses only the PDUs inside the gap and marks it', async (kind) => {
    const [whole, truth] = kind === 'plain' ? [wholeFile(), truth0()] : [digested, digestedTruth];
    const frames = await bigInitiatorFrames(whole, tgt.port, 4096);
    expect(frames.length).toBeGreaterThan(4);
    // The biggest frame of the middle half: on loopback it often carries several Data-Out PDUs and parts of two more.
    const lens = await frameLengths(whole, frames);
    const middle = frames.slice(Math.floor(frames.length / 4), Math.ceil((frames.length * 3) / 4));
    const n = middle.reduce((best, f) => (lens.get(f)! > lens.get(best)! ? f : best), middle[0]!);
    const cut = join(dir, `deleted-${kind.replace(' ', '-')}.pcapng`);
    const r = await run('editcap', [whole, cut, String(n)]);
    expect(r.code, explain(r)).toBe(0);
    // Frames after the deleted one moved down by one: number them as in the whole capture.
    const back = (p: TsharkPdu): TsharkPdu => ({ ...p, frame: p.frame >= n ? p.frame + 1 : p.frame });
    const lab = labPdus(cut);
    const labList = lab.list.map(back);
    const tsharkCut = (await tsharkPdus(cut, tgt.port)).map(back);
    // Nothing invented, nothing reordered: the lab's list is the true list with the gap's PDUs taken out.
    const missing = leftOut(truth.map(key), labList.map(key));
    console.log(
      `${kind}: deleted frame ${n} (${lens.get(n)} bytes of TCP payload): lab ${labList.length} PDUs, tshark on the damaged file ${tsharkCut.length}, whole ${truth.length}; lost in the gap: ${missing?.length}`,
    );
    expect(missing, 'the lab list is not the true list less some PDUs').toBeDefined();
    // Everything tshark still finds in the damaged file, the lab finds too.
    expect(containsAll(labList.map(key), tsharkCut.map(key))).toBe(true);
    // What is lost lies in the gap: PDUs completed by the deleted frame or the next initiator frame after it.
    const nextInitiatorFrame = frames.find((f) => f > n)!;
    for (const k of missing!) {
      const frame = Number(k.split(' ')[0]);
      expect(frame, k).toBeGreaterThanOrEqual(n);
      expect(frame, k).toBeLessThanOrEqual(nextInitiatorFrame);
    }
    expect(missing!.length).toBeGreaterThan(0);
    expect(lab.result.gaps).toHaveLength(1);
    expect(lab.result.gaps[0]).toMatchObject({ direction: 'i2t', reason: 'lost segment' });
    expect(lab.result.gaps[0]!.lostBytes).toBeGreaterThanOrEqual(4096);
    expect(lab.result.warnings.join('\n')).toMatch(/bytes missing from the capture/);
    // The upload index marks the gap in the event list: before the first initiator PDU read after it.
    const x = indexCapture(cut, join(dir, `spool-${kind.replace(' ', '-')}`));
    expect(x.gapMarks).toHaveLength(1);
    const marked = x.gapMarks[0]!;
    expect(marked.text).toMatch(/bytes missing from the capture/);
    expect(x.flags[marked.seq]! & 1, 'the marked PDU goes initiator -> target').toBe(0);
    expect(back(lab.list[marked.seq]!).frame).toBeGreaterThanOrEqual(n);
    for (let seq = 0; seq < marked.seq; seq++) if ((x.flags[seq]! & 1) === 0) expect(back(lab.list[seq]!).frame, `PDU ${seq} before the mark`).toBeLessThan(n);
  });

  it('a capture that starts mid-transfer finds its footing at the next PDU', async () => {
    // A big frame from the target that completes no PDU: it sits inside a Data-In, so the cut file starts mid-PDU.
    const completing = new Set(truth.map((p) => p.frame));
    const r0 = await run('tshark', ['-r', whole, '-Y', `tcp.srcport==${tgt.port} && tcp.len>=16384`, '-T', 'fields', '-e', 'frame.number']);
    const inside = r0.stdout
      .split('\n')
      .filter(Boolean)
      .map(Number)
      .filter((f) => !completing.has(f));
    expect(inside.length).toBeGreaterThan(2);
    const start = inside[Math.floor(inside.length / 2)]!;
    const half = join(dir, 'half.pcapng');
    const r = await run('editcap', ['-r', whole, half, `${start}-${1 << 30}`]);
    expect(r.code, explain(r)).toBe(0);
    const moved = (p: TsharkPdu): TsharkPdu => ({ ...p, frame: p.frame + start - 1 });
    const lab = labPdus(half);
    const labList = lab.list.map(moved);
    const tsharkHalf = (await tsharkPdus(half, tgt.port)).map(moved);
    const after = truth.filter((p) => p.frame >= start);
    const missing = leftOut(after.map(key), labList.map(key));
    console.log(
      `cut before frame ${start}: lab ${labList.length} PDUs, tshark on the cut file ${tsharkHalf.length}, whole from there ${after.length}, lost ${missing?.length}`,
    );
    expect(missing, 'the lab list is not the true list less some PDUs').toBeDefined();
    expect(containsAll(labList.map(key), tsharkHalf.map(key))).toBe(true);
    // Only a PDU begun before the cut can be lost (at least the Data-In torn by it, at most one per direction), and
    // nothing is made up from the middle of a PDU (the old reader invented a Login Response there).
    expect(missing!.length).toBeGreaterThanOrEqual(1);
    expect(missing!.length).toBeLessThanOrEqual(2);
    expect(lab.list.some((p) => p.opcode === 0x23)).toBe(false);
    expect(lab.result.gaps.every((g) => g.reason === 'capture starts mid-stream')).toBe(true);
  });

  it('`iscsi-lab stats` counts service response times per opcode as `tshark -z scsi,srt,0` does', async () => {
    const t = await run('tshark', ['-r', whole, '-d', `tcp.port==${tgt.port},iscsi`, '-q', '-z', 'scsi,srt,0']);
    expect(t.code, explain(t)).toBe(0);
    const tshark = new Map<number, { calls: number; sum: number }>();
    for (const m of t.stdout.matchAll(/^\s*(\d+)\s+.+?\s+(\d+)\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+([\d.]+)\s*$/gm))
      tshark.set(Number(m[1]), { calls: Number(m[2]), sum: Number(m[3]) });
    const csv = await run(CLI, ['stats', whole, '--csv']);
    expect(csv.code, explain(csv)).toBe(0);
    const lab = new Map<number, { calls: number; sum: number }>();
    const [head, ...lines] = csv.stdout.trim().split('\n');
    expect(head!.split(',').slice(0, 4)).toEqual(['session', 'opcode', 'procedure', 'calls']);
    // Per session: each session's calls add up to the whole capture's, opcode by opcode.
    const bySession = new Map<number, number>();
    for (const line of lines) {
      const f = line.split(',');
      if (f[0] === 'all') lab.set(Number(f[1]), { calls: Number(f[3]), sum: Number(f[8]) });
      else bySession.set(Number(f[1]), (bySession.get(Number(f[1])) ?? 0) + Number(f[3]));
    }
    const sessions = new Set(lines.map((l) => l.split(',')[0]).filter((s) => s !== 'all'));
    console.log(`SRT sessions in the CSV: ${[...sessions].join('; ')}`);
    expect(sessions.size).toBeGreaterThan(0);
    for (const s of sessions) expect(s).toMatch(/^ISID 0x[0-9a-f]{12} TSIH \d+$/);
    expect(bySession).toEqual(new Map([...lab].map(([o, r]) => [o, r.calls])));
    console.log(
      `SRT opcodes: lab ${[...lab].map(([o, r]) => `${o}:${r.calls}`).join(' ')}; tshark ${[...tshark].map(([o, r]) => `${o}:${r.calls}`).join(' ')}`,
    );
    expect(tshark.get(0x2a)?.calls).toBeGreaterThan(0);
    expect(tshark.get(0x28)?.calls).toBeGreaterThan(0);
    // Every opcode, INQUIRY too (qemu's probes: standard data cut at 64 bytes and tgt's 66-byte full answer, which
    // tshark leaves out; the Device Identification page cut at 64 bytes, which it counts though it marks it malformed).
    expect(tshark.get(0x12)?.calls).toBeGreaterThan(0);
    for (const [opcode, want] of tshark) {
      const got = lab.get(opcode);
      expect(got?.calls, `opcode ${opcode}`).toBe(want.calls);
      // Same matching, same frame times: the sums agree to the microsecond tshark prints.
      expect(Math.abs(got!.sum - want.sum), `opcode ${opcode} sum`).toBeLessThanOrEqual(0.000002 * want.calls);
    }
    for (const opcode of lab.keys()) expect(tshark.has(opcode), `opcode ${opcode} only in the lab's table`).toBe(true);
  });

  it('`replay` of a capture without iSCSI exits 1 and says why', async () => {
    const http = join(dir, 'no-iscsi.pcapng');
    // Plain text over TCP, both ways: an echo server and a client saying hello.
    const server = createServer((s) => s.pipe(s));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const cap = await startDumpcap(http, `tcp port ${port}`);
    await new Promise<void>((resolve, reject) => {
      const c = connect(port, '127.0.0.1', () => c.end('GET / HTTP/1.1\r\nHost: example\r\n\r\n'.repeat(200)));
      c.on('data', () => undefined)
        .on('close', () => resolve())
        .on('error', reject);
    });
    await cap.stop();
    server.close();
    const r = await run(CLI, ['replay', http, '--target', tgt.url]);
    expect(r.code, explain(r)).toBe(1);
    expect(r.stdout).toMatch(/nothing to replay .*: no iSCSI PDUs among the capture's \d+ packets \(\d+ TCP\)/);
  });
});
