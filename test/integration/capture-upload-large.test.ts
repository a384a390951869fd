/**
 * A capture of any size must not stall the target. The lab records its own ~200 MiB pcapng (`serve --capture`
 * around qemu-io writing and reading 100 MiB), then a second lab takes that file as an upload while qemu-io keeps
 * reading from it: every READ that completed during the upload is timed (qemu-io's own figure) and none may take
 * 250 ms. Then the upload is paged through like the UI does and replayed against the second lab's target.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { createReadStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { explain, requireTools, run } from '../helpers/exec.ts';
import { startServe, type Serve } from '../helpers/serve.ts';

const LAB_IQN = 'iqn.2026-11.org.iscsi-lab:lab';
const iscsiUrl = (s: Serve): string => `iscsi://127.0.0.1:${s.port}/${LAB_IQN}/0`;
const base = (s: Serve): string => `http://127.0.0.1:${s.http}`;

/** MiB written and read back while recording; twice this is about the capture's size. */
const MIB = Number(process.env.LARGE_CAPTURE_MIB ?? 100);
const MAX_READ_MS = 250;

let dir: string;
let capture: string;
let lab: Serve;

beforeAll(async () => {
  requireTools('qemu-io', 'stdbuf');
  dir = mkdtempSync(join(tmpdir(), 'iscsi-lab-large-'));
  capture = join(dir, 'own.pcapng');
  const recorder = await startServe('127.0.0.1', ['--lun', `$DIR/a.img:${MIB + 16}M`, '--capture', capture]);
  try {
    const r = await run('qemu-io', ['-f', 'raw', '-c', `write -P 0x6b 0 ${MIB}M`, '-c', `read -P 0x6b 0 ${MIB}M`, iscsiUrl(recorder)], { timeoutMs: 300_000 });
    expect(r.code, explain(r)).toBe(0);
  } finally {
    expect(await recorder.stop()).toBe(0);
  }
  lab = await startServe('127.0.0.1', ['--lun', `$DIR/b.img:${MIB + 16}M`]);
}, 400_000);

afterAll(async () => {
  await lab?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function upload(base: string, file: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${base}/api/capture/upload?name=own.pcapng`,
      { method: 'POST', headers: { 'content-length': statSync(file).size, 'content-type': 'application/octet-stream' } },
      (res) => {
        let body = '';
        res
          .setEncoding('utf8')
          .on('data', (d: string) => (body += d))
          .on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    createReadStream(file).pipe(req);
  });
}

interface Page {
  from: number;
  total: number;
  events: { type: string; seq: number; opcodeName?: string; rawBase64?: string; scsi?: { opcodeName: string } }[];
}

describe('a large capture upload', () => {
  it(`uploads the lab's own ${MIB * 2} MiB export while qemu-io reads, with no READ over ${MAX_READ_MS} ms, then pages and replays it`, async () => {
    const size = statSync(capture).size;
    expect(size).toBeGreaterThan(MIB * 2 * 1024 * 1024);
    // qemu-io reads 64 KiB at spread offsets with short pauses; stdbuf makes it print each result as it happens.
    const cmds: string[] = [];
    for (let i = 0; i < 4000; i++) cmds.push('-c', `read ${(i * 7919) % 1000}k 64k`, '-c', 'sleep 10');
    const reader = spawn('stdbuf', ['-oL', 'qemu-io', '-f', 'raw', ...cmds, iscsiUrl(lab)], { stdio: ['ignore', 'pipe', 'pipe'] });
    const reads: { at: number; ms: number }[] = [];
    let pending = '';
    reader.stdout!.setEncoding('utf8').on('data', (d: string) => {
      pending += d;
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const l of lines) {
        // "64 KiB, 1 ops; 00.00 sec (123.4 MiB/sec and 1974.3 ops/sec)": one op, so its time is 1/ops.
        const m = / 1 ops; [\d.]+ sec \(.* and ([\d.]+) ops\/sec\)/.exec(l);
        if (m) reads.push({ at: Date.now(), ms: 1000 / Number(m[1]) });
      }
    });
    await new Promise((r) => setTimeout(r, 1500));
    const t0 = Date.now();
    const up = await upload(base(lab), capture);
    const t1 = Date.now();
    await new Promise((r) => setTimeout(r, 300));
    reader.kill('SIGKILL');
    expect(up.status, up.body.slice(0, 500)).toBe(200);
    const during = reads.filter((r) => r.at >= t0 && r.at <= t1 + 300);
    const slowest = Math.max(...during.map((r) => r.ms));
    console.log(
      `upload of ${(size / 1048576).toFixed(0)} MiB took ${((t1 - t0) / 1000).toFixed(1)} s; qemu-io READs meanwhile: ${during.length}, slowest ${slowest.toFixed(1)} ms`,
    );
    expect(during.length).toBeGreaterThan(10);
    expect(slowest).toBeLessThan(MAX_READ_MS);

    const u = JSON.parse(up.body) as { id: string; total: number; format: string; warnings: string[]; events: Page['events'] };
    expect(u.format).toBe('pcapng');
    expect(u.warnings).toEqual([]);
    // 100 MiB each way in PDUs of at most 256 KiB: at least 800 data PDUs, plus commands and responses.
    expect(u.total).toBeGreaterThan(MIB * 8);
    expect(u.events.length).toBeLessThan(u.total);
    // A page from the middle and the last one, with their wire bytes.
    const get = async (from: number, count: number): Promise<Page> => {
      const r = await fetch(`${base(lab)}/api/capture/upload/${u.id}/events?from=${from}&count=${count}`);
      expect(r.status).toBe(200);
      return (await r.json()) as Page;
    };
    // A page ends early rather than carry more than 2 MiB of wire bytes; it always holds at least one event.
    const mid = await get(Math.floor(u.total / 2), 50);
    expect(mid.events.length).toBeGreaterThan(0);
    expect(mid.events.map((e) => e.seq)).toEqual(Array.from({ length: mid.events.length }, (_, i) => Math.floor(u.total / 2) + i));
    expect(mid.events.every((e) => e.type === 'pdu' && e.rawBase64)).toBe(true);
    const last = await get(u.total - 3, 50);
    expect(last.events.map((e) => e.seq)).toEqual([u.total - 3, u.total - 2, u.total - 1]);
    expect(last.events.at(-1)!.opcodeName).toMatch(/Logout Response|SCSI Response|NOP-In/);

    // Statistics of the upload: the recorded WRITEs and READs with their response times, also as CSV.
    type Srt = { name: string; calls: number; avgNs: number };
    const stats = (await (await fetch(`${base(lab)}/api/capture/upload/${u.id}/stats`)).json()) as {
      srt: Srt[];
      buckets: unknown[];
      sessions: { session: string; srt: Srt[]; buckets: unknown[] }[];
    };
    const rw = stats.srt.filter((r) => /^(READ|WRITE)\(/.test(r.name));
    expect(rw.length).toBeGreaterThanOrEqual(2);
    expect(rw.every((r) => r.calls > 0 && r.avgNs > 0)).toBe(true);
    expect(stats.buckets.length).toBeGreaterThan(0);
    const csv = await (await fetch(`${base(lab)}/api/capture/upload/${u.id}/stats?format=csv`)).text();
    expect(csv.split('\n')[0]).toBe('session,opcode,procedure,calls,with_sense,min_s,max_s,avg_s,sum_s,p50_s,p90_s,p99_s');
    // Per session too: every READ/WRITE call of the whole belongs to one session, and the CSV lists them.
    const sessionCalls = (name: string): number => stats.sessions.reduce((n, x) => n + (x.srt.find((r) => r.name === name)?.calls ?? 0), 0);
    for (const r of rw) expect(sessionCalls(r.name), r.name).toBe(r.calls);
    console.log(`upload statistics: ${stats.sessions.length} sessions (${stats.sessions.map((x) => x.session).join('; ')})`);
    for (const x of stats.sessions) expect(csv).toContain(`\n${x.session},`);
    // And of the live trace: qemu-io's reads just now, in the session that read them.
    const live = (await (await fetch(`${base(lab)}/api/trace/srt`)).json()) as {
      srt: { name: string; calls: number }[];
      sessions: { session: string; srt: { name: string; calls: number }[] }[];
    };
    expect(live.srt.some((r) => r.name.startsWith('READ') && r.calls > 10)).toBe(true);
    expect(live.sessions.some((x) => x.session.startsWith('ISID ') && x.srt.some((r) => r.name.startsWith('READ') && r.calls > 10))).toBe(true);

    const rep = await fetch(`${base(lab)}/api/replay`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: u.id }) });
    const report = (await rep.json()) as { commands: number; differences: number; lines: string[] };
    expect(rep.status, JSON.stringify(report).slice(0, 500)).toBe(200);
    console.log(`replay: ${report.lines.at(-1)}`);
    expect(report.commands).toBeGreaterThan(2);
    expect(report.differences).toBe(0);
  }, 600_000);
});
