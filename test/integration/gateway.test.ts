import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { CLI, freePort } from '../helpers/target.ts';
import { explain, requireTools, run } from '../helpers/exec.ts';
import { InitiatorSession } from '../../server/initiator/session.ts';
import { clearUnitAttentions, read16, write16 } from '../../server/initiator/scsi.ts';
import type { TraceEvent } from '../../shared/trace/schema.ts';

const IQN = 'iqn.2026-11.org.iscsi-lab:lab';
let dir: string;
let proc: ChildProcess;
let http: number;
let port: number;
let base: string;
let url: string;

beforeAll(async () => {
  requireTools('qemu-io', 'tshark');
  dir = mkdtempSync(join(tmpdir(), 'iscsi-lab-gw-'));
  http = await freePort();
  port = await freePort();
  proc = spawn(CLI, ['serve', '--http', `127.0.0.1:${http}`, '--portal', `127.0.0.1:${port}`, '--lun', `${join(dir, 'lun0.img')}:32M`], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`serve did not start: ${out}`)), 20_000);
    proc.stdout!.on('data', () => {
      if (/^ready /m.test(out)) {
        clearTimeout(t);
        resolve();
      }
    });
  });
  expect(out).toMatch(new RegExp(`^lab http://127\\.0\\.0\\.1:${http}/$`, 'm'));
  base = `http://127.0.0.1:${http}`;
  url = `iscsi://127.0.0.1:${port}/${IQN}/0`;
});

afterAll(async () => {
  const exited = new Promise((r) => proc.once('exit', (code) => r(code)));
  proc.kill('SIGTERM');
  expect(await exited).toBe(0);
  rmSync(dir, { recursive: true, force: true });
});

function wsClient(): Promise<{ ws: WebSocket; events: TraceEvent[]; binary: number[]; snapshot: unknown }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${http}/ws`);
    const state = { ws, events: [] as TraceEvent[], binary: [] as number[], snapshot: undefined as unknown };
    ws.on('message', (data, isBinary) => {
      if (isBinary) {
        state.binary.push((data as Buffer).length);
        return;
      }
      const m = JSON.parse(String(data)) as { type: string; events?: TraceEvent[] };
      if (m.type === 'snapshot') {
        state.snapshot = m;
        resolve(state);
      } else if (m.type === 'events') state.events.push(...m.events!);
    });
  });
}

async function waitFor<T>(fn: () => T | undefined, ms: number): Promise<T | undefined> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('serve: API, live trace, capture', () => {
  it('reports status with LUNs and sessions, and no secrets', async () => {
    const s = (await (await fetch(`${base}/api/status`)).json()) as { target: { iqn: string }; luns: { blocks: number; blockSize: number }[] };
    expect(s.target.iqn).toBe(IQN);
    expect(s.luns[0]).toMatchObject({ blocks: 65536, blockSize: 512 });
  });

  it('streams an outside qemu-io WRITE and READ to a /ws client within a second, with LBAs', async () => {
    const c = await wsClient();
    const started = Date.now();
    const r = await run('qemu-io', ['-f', 'raw', '-c', 'write -P 0x5a 4096 8k', '-c', 'read -P 0x5a 4096 8k', url]);
    expect(r.code, explain(r)).toBe(0);
    const write = await waitFor(
      () => c.events.find((e) => e.type === 'pdu' && e.opcodeName === 'SCSI Command' && e.scsi?.opcodeName.startsWith('WRITE')),
      1000,
    );
    expect(write, 'WRITE command seen on /ws').toBeDefined();
    expect(Date.now() - started).toBeLessThan(1000 + 2000); // qemu-io itself takes part of this
    if (write?.type !== 'pdu') throw new Error('not a PDU');
    expect(write.scsi!.lba).toBe(8);
    expect(write.scsi!.blocks).toBe(16);
    const read = await waitFor(() => c.events.find((e) => e.type === 'pdu' && e.scsi?.opcodeName.startsWith('READ(') && e.scsi.lba === 8), 1000);
    expect(read).toBeDefined();
    expect(await waitFor(() => (c.binary.length > 0 ? c.binary.length : undefined), 1000)).toBeGreaterThan(0);
    c.ws.close();
  });

  it('refuses a WebSocket from a foreign Origin', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${http}/ws`, { headers: { origin: 'http://evil.example' } });
    const outcome = await new Promise<string>((r) => {
      ws.on('open', () => r('open'));
      ws.on('error', (e) => r(String(e)));
    });
    expect(outcome).toMatch(/403/);
  });

  it('writes and reads through POST /api/io; bad requests get 400 and write nothing', async () => {
    const post = (body: unknown) => fetch(`${base}/api/io`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const w = await post({ lun: 0, op: 'write', lba: 100, blocks: 1, data: { text: 'hello api' } });
    expect(w.status).toBe(200);
    expect(await w.json()).toMatchObject({ ok: true, statusText: 'GOOD' });
    for (const bad of [
      { lun: 0, op: 'write', lba: 100, blocks: 1, data: { hex: 'zz' } },
      { lun: 0, op: 'write', lba: 65536, blocks: 1, data: { text: 'x' } },
      { lun: 7, op: 'read', lba: 0, blocks: 1 },
      { lun: 0, op: 'erase', lba: 0, blocks: 1 },
    ]) {
      const r = await post(bad);
      expect(r.status, JSON.stringify(bad)).toBe(400);
      expect((await r.json()) as { error: string }).toHaveProperty('error');
    }
    const r = (await (await post({ lun: 0, op: 'read', lba: 100, blocks: 1 })).json()) as { dataHex: string };
    expect(Buffer.from(r.dataHex, 'hex').subarray(0, 9).toString()).toBe('hello api');
    const garbage = await fetch(`${base}/api/io`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{not json' });
    expect(garbage.status).toBe(400);
  });

  it('downloads a pcapng that tshark dissects as iSCSI: right LBAs, digests on, nothing malformed', async () => {
    // Header digests from qemu, header and data digests from the TypeScript initiator.
    const hd = await run('qemu-io', [
      '--image-opts',
      '-c',
      'write -P 0x11 65536 4k',
      `driver=iscsi,transport=tcp,portal=127.0.0.1:${port},target=${IQN},lun=0,header-digest=crc32c`,
    ]);
    expect(hd.code, explain(hd)).toBe(0);
    const s = await InitiatorSession.login({
      host: '127.0.0.1',
      port,
      targetName: IQN,
      initiatorName: 'iqn.2026-11.org.iscsi-lab:digests',
      headerDigest: true,
      dataDigest: true,
    });
    expect(s.params.dataDigest).toBe(true);
    await clearUnitAttentions(s, 0);
    await write16(s, 0, 300n, Buffer.alloc(512 * 200, 0x33), 512);
    expect((await read16(s, 0, 300n, 200, 512)).status).toBe(0);
    await s.logout();
    const res = await fetch(`${base}/api/capture.pcapng`);
    expect(res.status).toBe(200);
    const file = join(dir, 'cap.pcapng');
    writeFileSync(file, Buffer.from(await res.arrayBuffer()));
    const fields = await run('tshark', [
      '-r',
      file,
      '-Y',
      'scsi_sbc.opcode == 0x2a || scsi_sbc.opcode == 0x8a',
      '-T',
      'fields',
      '-E',
      'occurrence=f',
      '-e',
      'scsi_sbc.opcode',
      '-e',
      'scsi_sbc.rdwr10.lba',
      '-e',
      'scsi_sbc.rdwr16.lba',
    ]);
    expect(fields.code, explain(fields)).toBe(0);
    const rows = fields.stdout
      .trim()
      .split('\n')
      .map((l) => {
        const [op, lba10, lba16] = l.split('\t');
        // tshark shows the READ/WRITE(16) LBA as 8 raw bytes in hex
        return [op, lba10 || (lba16 ? String(parseInt(lba16, 16)) : '')];
      });
    // WRITE(10) LBA 8 from the first qemu-io, WRITE(10) LBA 128 with header digests, WRITE(16) LBA 300 with data digests.
    expect(rows).toContainEqual(['0x2a', '8']);
    expect(rows).toContainEqual(['0x2a', '128']);
    expect(rows, fields.stdout).toContainEqual(['0x8a', '300']);
    // Wireshark checks the header digests it finds (all good); the data digest session dissects cleanly too.
    const digests = await run('tshark', ['-r', file, '-Y', 'iscsi.headerdigest32', '-T', 'fields', '-e', 'frame.number']);
    expect(digests.stdout.trim().length).toBeGreaterThan(0);
    const negotiated = await run('tshark', ['-r', file, '-Y', 'iscsi.keyvalue == "DataDigest=CRC32C"', '-T', 'fields', '-e', 'frame.number']);
    expect(negotiated.stdout.trim().length).toBeGreaterThan(0);
    const bad = await run('tshark', ['-r', file, '-Y', '_ws.malformed || _ws.expert.severity >= error']);
    expect(bad.stdout.trim()).toBe('');
    const jsonl = await (await fetch(`${base}/api/capture.jsonl`)).text();
    expect(jsonl.split('\n')[0]).toContain('"type":"header"');
  });
});
