// Fault injection through `iscsi-lab serve` with real initiators: a connection killed mid-write (qemu-io through
// libiscsi reconnects and the data verifies), a medium error on an LBA range (qemu-io sees EIO, the trace shows
// CHECK CONDITION 03/11/00), a lost SCSI Response (the lab's own initiator times out, sends ABORT TASK, retries),
// and the API's refusals. The capture download is read back with tshark.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI } from '../helpers/target.ts';
import { startServe, type Serve } from '../helpers/serve.ts';
import { explain, requireTools, run } from '../helpers/exec.ts';
import type { FaultList } from '../../shared/api/faults.ts';
import type { FaultTraceEvent, PduTraceEvent, TraceEvent } from '../../shared/trace/schema.ts';

const IQN = 'iqn.2026-11.org.iscsi-lab:lab';
let serve: Serve;
let dir: string;
let base: string;
let url: string;

beforeAll(async () => {
  requireTools('qemu-io', 'tshark');
  serve = await startServe('127.0.0.1', ['--lun', '$DIR/lun0.img:32M', '--capture', '$DIR/live.pcapng', '--fault', 'kill-connection:pdu=Data-Out,count=1']);
  dir = serve.dir;
  base = `http://127.0.0.1:${serve.http}`;
  url = `iscsi://127.0.0.1:${serve.port}/${IQN}/0`;
});

afterAll(async () => {
  if (serve) expect(await serve.stop()).toBe(0);
});

async function api<T>(path: string, init?: RequestInit): Promise<{ status: number; body: T }> {
  // State changes carry a JSON content type, as the gateway's cross-site check wants (server/gateway/request-guard.ts).
  const res = await fetch(base + path, { ...init, headers: { 'content-type': 'application/json' } });
  return { status: res.status, body: (await res.json()) as T };
}

const post = (path: string, body: unknown) => api<Record<string, unknown>>(path, { method: 'POST', body: JSON.stringify(body) });

async function traceEvents(): Promise<TraceEvent[]> {
  const text = await (await fetch(`${base}/api/capture.jsonl`)).text();
  return text
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as TraceEvent | { type: 'header' })
    .filter((e): e is TraceEvent => e.type !== 'header');
}

describe('fault injection with real initiators', () => {
  it('kill-connection on the first Data-Out: qemu-io reconnects, the write completes and verifies, the capture comments the fault', async () => {
    const r = await run('qemu-io', ['-f', 'raw', '-c', 'write -P 0xcd 0 1M', '-c', 'read -P 0xcd 0 1M', url], { timeoutMs: 120_000 });
    expect(r.code, explain(r)).toBe(0);
    expect(r.stdout, explain(r)).toContain('wrote 1048576/1048576 bytes at offset 0');
    expect(r.stdout, explain(r)).toContain('read 1048576/1048576 bytes at offset 0');
    expect(r.stdout + r.stderr).not.toMatch(/verification failed|Pattern verification/i);

    const { body } = await api<FaultList>('/api/faults');
    expect(body.faults).toHaveLength(1);
    expect(body.faults[0]).toMatchObject({ id: 1, action: 'kill-connection', match: { pdu: 'Data-Out' }, count: 1, hits: 1 });

    // The connection the fault killed is gone and another one logged in after it.
    const events = await traceEvents();
    const fault = events.find((e): e is FaultTraceEvent => e.type === 'fault');
    expect(fault?.action).toBe('kill-connection');
    const killedPdu = events.find((e): e is PduTraceEvent => e.type === 'pdu' && e.seq === fault!.pduSeq);
    expect(killedPdu?.opcodeName).toBe('SCSI Data-Out');
    const loginsAfter = events.filter((e) => e.type === 'session' && e.kind === 'login' && e.seq > fault!.seq);
    expect(loginsAfter.length).toBeGreaterThan(0);

    const file = join(dir, 'faults.pcapng');
    writeFileSync(file, Buffer.from(await (await fetch(`${base}/api/capture.pcapng`)).arrayBuffer()));
    const t = await run('tshark', ['-r', file, '-Y', 'frame.comment contains "fault"', '-T', 'fields', '-e', 'frame.comment']);
    expect(t.code, explain(t)).toBe(0);
    const lines = t.stdout.trim().split('\n').filter(Boolean);
    expect(lines, explain(t)).toHaveLength(1);
    expect(lines[0]).toMatch(/fault \(rule 1, kill-connection\)/);
    // On the first segment of the Data-Out it acted on (tshark shows the PDU itself on its last segment).
    expect(lines[0]).toMatch(/^#\d+ SCSI Data-Out, task \d+ \| fault/);

    // `serve --capture FILE` writes as it goes: there the fault is a comment packet right after the Data-Out.
    await new Promise((r) => setTimeout(r, 1200));
    const live = await run('tshark', [
      '-r',
      join(dir, 'live.pcapng'),
      '-Y',
      'frame.comment contains "fault"',
      '-T',
      'fields',
      '-e',
      'frame.comment',
      '-e',
      'tcp.len',
    ]);
    expect(live.code, explain(live)).toBe(0);
    expect(live.stdout.trim(), explain(live)).toMatch(
      /^fault \(rule 1, kill-connection\): SCSI Data-Out ITT 0x[0-9a-f]+ received: connection killed \(reset\)\t0$/,
    );
  }, 150_000);

  it('store-error on an LBA range: qemu-io read fails with EIO and the trace shows CHECK CONDITION 03/11/00', async () => {
    const add = await post('/api/faults', { action: 'store-error', match: { lun: 0, lbaFrom: 2048, lbaTo: 2055 } });
    expect(add.status).toBe(201);
    const id = add.body.id as number;
    const outside = await run('qemu-io', ['-f', 'raw', '-c', 'read 2M 4k', url]);
    expect(outside.code, explain(outside)).toBe(0);
    const r = await run('qemu-io', ['-f', 'raw', '-c', 'read 1M 4k', url]);
    expect(r.stdout + r.stderr, explain(r)).toMatch(/Input\/output error/);
    const events = await traceEvents();
    const failed = events.filter((e): e is PduTraceEvent => e.type === 'pdu' && e.opcodeName === 'SCSI Response' && !!e.scsi?.sense);
    const medium = failed.find((e) => e.scsi!.sense!.key === 3 && e.scsi!.sense!.asc === 0x11 && e.scsi!.sense!.ascq === 0);
    expect(medium, JSON.stringify(failed.map((e) => e.scsi))).toBeDefined();
    expect(medium!.scsi!.statusName).toBe('CHECK CONDITION');
    // The store fault is tied to its task: the same task id as the READ's CHECK CONDITION, marked on its SCSI Command.
    const fault = events.find((e): e is FaultTraceEvent => e.type === 'fault' && e.action === 'store-error');
    expect(fault).toMatchObject({ lun: 0, lba: 2048, blocks: 8 });
    expect(fault!.taskId).toBe(medium!.taskId);
    const marked = events.find((e): e is PduTraceEvent => e.type === 'pdu' && e.seq === fault!.pduSeq);
    expect(marked?.opcodeName).toBe('SCSI Command');
    expect(marked?.scsi?.lba).toBe(2048);
    const list = await api<FaultList>('/api/faults');
    expect(list.body.faults.find((f) => f.id === id)?.hits).toBe(1);
    expect((await api(`/api/faults/${id}`, { method: 'DELETE' })).status).toBe(200);
    // Off again: the same read succeeds (the fault never touched the data).
    const again = await run('qemu-io', ['-f', 'raw', '-c', 'read 1M 4k', url]);
    expect(again.code, explain(again)).toBe(0);
  }, 60_000);

  it('drop of one SCSI Response: the lab initiator times out, sends ABORT TASK and retries, as the trace shows', async () => {
    // A first I/O logs the lab's session in and clears its unit attention, so the rule meets the write below.
    expect((await post('/api/io', { lun: 0, op: 'read', lba: 0, blocks: 1 })).body.ok).toBe(true);
    const add = await post('/api/faults', { action: 'drop', match: { pdu: 'SCSI Response' }, count: 1 });
    expect(add.status).toBe(201);
    const io = await post('/api/io', { lun: 0, op: 'write', lba: 4096, blocks: 8, data: { pattern: 0x5a }, timeoutMs: 1000 });
    expect(io.status).toBe(200);
    expect(io.body.ok).toBe(true);
    const steps = io.body.recovery as string[];
    expect(steps.join('\n')).toMatch(/timed out[\s\S]*ABORT TASK[\s\S]*retrying/);
    const back = await post('/api/io', { lun: 0, op: 'read', lba: 4096, blocks: 8 });
    expect(back.body.dataHex).toBe('5a'.repeat(8 * 512));

    const events = await traceEvents();
    const fault = events.find((e): e is FaultTraceEvent => e.type === 'fault' && e.action === 'drop');
    expect(fault?.detail).toMatch(/SCSI Response ITT 0x[0-9a-f]+ dropped/);
    const after = events.filter((e): e is PduTraceEvent => e.type === 'pdu' && e.seq > fault!.seq);
    const abort = after.find((e) => e.opcodeName === 'SCSI Task Management Function Request');
    expect(abort?.fields.Function).toBe(1); // ABORT TASK
    expect(abort?.fields.ReferencedTaskTag).toBe(fault!.itt);
    const retried = after.find((e) => e.opcodeName === 'SCSI Command' && e.seq > abort!.seq && e.scsi?.opcodeName === 'WRITE(16)' && e.scsi.lba === 4096);
    expect(retried).toBeDefined();
    expect(retried!.fields.InitiatorTaskTag).not.toBe(fault!.itt);
  }, 60_000);

  it('corrupt-header-digest on a SCSI Response with HeaderDigest=CRC32C: libiscsi drops the connection, logs in again, the I/O completes', async () => {
    const add = await post('/api/faults', { action: 'corrupt-header-digest', match: { pdu: 'SCSI Response' }, count: 1 });
    expect(add.status).toBe(201);
    const [, hostPort, iqn] = /^iscsi:\/\/([^/]+)\/([^/]+)\/0$/.exec(url)!;
    const opts = `driver=iscsi,transport=tcp,portal=${hostPort},target=${iqn},lun=0,header-digest=crc32c`;
    const r = await run('qemu-io', ['--image-opts', '-c', 'write -P 0xab 8M 64k', '-c', 'read -P 0xab 8M 64k', opts], { timeoutMs: 60_000 });
    expect(r.code, explain(r)).toBe(0);
    expect(r.stdout, explain(r)).toContain('read 65536/65536 bytes at offset 8388608');
    const events = await traceEvents();
    const fault = events.find((e): e is FaultTraceEvent => e.type === 'fault' && e.action === 'corrupt-header-digest');
    expect(fault?.detail).toMatch(/SCSI Response ITT 0x[0-9a-f]+ sent with a wrong header digest/);
    // The initiator noticed: that connection ends, and a new login follows.
    const closed = events.find((e) => e.type === 'session' && e.kind === 'closed' && e.connectionId === fault!.connectionId);
    expect(closed).toBeDefined();
    expect(events.some((e) => e.type === 'session' && e.kind === 'login' && e.seq > fault!.seq && e.connectionId !== fault!.connectionId)).toBe(true);
    await api(`/api/faults/${add.body.id as number}`, { method: 'DELETE' });
  }, 90_000);

  it('refuses bad rules with the reason, and deletes rules', async () => {
    const cases: [unknown, RegExp][] = [
      [{ action: 'explode' }, /unknown action "explode"/],
      [{ action: 'drop', match: { pdu: 'Data-Outt' } }, /unknown PDU "Data-Outt"/],
      [{ action: 'drop', match: { lbaFrom: 10, lbaTo: 2 } }, /lbaFrom 10 is past match.lbaTo 2/],
      [{ action: 'store-error', match: { pdu: 'R2T' } }, /store-error acts on the block store/],
      [{ action: 'drop', probability: 2 }, /probability must be a number in \(0, 1\]/],
      [{ action: 'drop', match: { opcode: 'FROB(10)' } }, /unknown SCSI opcode/],
    ];
    for (const [body, reason] of cases) {
      const r = await post('/api/faults', body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(String(r.body.error)).toMatch(reason);
    }
    expect((await api('/api/faults/999', { method: 'DELETE' })).status).toBe(404);
    expect((await api('/api/faults', { method: 'DELETE' })).status).toBe(200);
    expect((await api<FaultList>('/api/faults')).body.faults).toEqual([]);
  });

  it('`target --fault` with a bad rule exits 2 with the reason', async () => {
    const r = await run(CLI, ['target', '--iqn', IQN, '--lun', `${join(dir, 'x.img')}:1M`, '--fault', 'drop:pdu=Nope']);
    expect(r.code, explain(r)).toBe(2);
    expect(r.stderr).toMatch(/bad --fault "drop:pdu=Nope": unknown PDU "Nope"/);
  });
});
