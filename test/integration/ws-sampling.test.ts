/**
 * The /ws hub under a flood: above batchEvents a batch it sends whole tasks, one in N (N a power of two), says so in
 * each message (`every`, `sampled`), and goes back to everything when the flood ends. Real traffic: iscsi-perf.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startServe, type Serve } from '../helpers/serve.ts';
import { requireTools, run } from '../helpers/exec.ts';
import type { PduTraceEvent, TraceEvent } from '../../shared/trace/schema.ts';

const IQN = 'iqn.2026-11.org.iscsi-lab:lab';
let lab: Serve;
let http: number;
let url: string;

beforeAll(async () => {
  requireTools('iscsi-perf', 'qemu-io');
  lab = await startServe('127.0.0.1', ['--lun', '$DIR/lun0.img:32M']);
  http = lab.http;
  url = `iscsi://127.0.0.1:${lab.port}/${IQN}/0`;
});

afterAll(async () => {
  await lab?.stop();
});

interface Batch {
  every: number;
  sampled: number;
  events: TraceEvent[];
}

describe('/ws hub sampling', () => {
  it('sends whole tasks, one in N, under a flood, and everything again afterwards', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${http}/ws`);
    const batches: Batch[] = [];
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      const m = JSON.parse(String(data)) as { type: string } & Batch;
      if (m.type === 'events') batches.push(m);
    });
    await new Promise((r) => ws.once('open', r));
    await run('iscsi-perf', ['-t', '4', '-m', '32', '-b', '1', url], { timeoutMs: 30_000 }).catch(() => undefined);
    const flood = batches.filter((b) => b.every > 1);
    expect(flood.length, 'batches sent while sampling').toBeGreaterThan(3);
    expect(batches.at(-1)!.sampled).toBeGreaterThan(0);
    for (const b of flood) {
      expect(Math.log2(b.every) % 1).toBe(0);
      for (const e of b.events) if (e.type === 'pdu' && e.taskId !== undefined) expect(e.taskId % b.every).toBe(0);
    }
    // Whole tasks: every READ command the client got in the middle of the flood comes with its final Data-In.
    const mid = flood
      .slice(1, -1)
      .flatMap((b) => b.events)
      .filter((e): e is PduTraceEvent => e.type === 'pdu');
    const cmds = new Set(mid.filter((e) => e.opcodeName === 'SCSI Command').map((e) => e.taskId));
    const ends = new Set(mid.filter((e) => e.opcodeName === 'SCSI Data-In' || e.opcodeName === 'SCSI Response').map((e) => e.taskId));
    const lost = [...cmds].filter((t) => !ends.has(t));
    expect(cmds.size).toBeGreaterThan(50);
    // tasks at the very edge of a batch may end in the next one (not in `mid`)
    expect(lost.length).toBeLessThanOrEqual(cmds.size * 0.1);

    // Quiet again: a single I/O arrives whole, unsampled.
    await new Promise((r) => setTimeout(r, 1500));
    const before = batches.length;
    await run('qemu-io', ['-f', 'raw', '-c', 'read 0 4k', url], { timeoutMs: 30_000 });
    await new Promise((r) => setTimeout(r, 600));
    const after = batches.slice(before);
    expect(after.length).toBeGreaterThan(0);
    expect(after.every((b) => b.every === 1)).toBe(true);
    expect(after.flatMap((b) => b.events).some((e) => e.type === 'pdu' && e.opcodeName === 'Login Request')).toBe(true);
    ws.close();
  }, 60_000);
});
