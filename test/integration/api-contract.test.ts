// A real `serve` answers every route below, and the /ws messages, with exactly the keys its contract type in
// shared/api names: a handler that drifts from the contract (a key renamed, dropped or added) fails here, and a
// contract changed without this list fails `tsc` (test/helpers/contract.ts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startServe, type Serve } from '../helpers/serve.ts';
import { contractKeys, contractMismatch, type ContractKeys } from '../helpers/contract.ts';
import type { LabConnectionInfo, LabLun, LabPortal, LabSession, LabStatus, ApiErrorAnswer } from '../../shared/api/status.ts';
import type { IoResult } from '../../shared/api/io.ts';
import type { CacheMapAnswer, CacheStats, CacheStatsAnswer } from '../../shared/api/cache.ts';
import type { StepState } from '../../shared/api/step.ts';
import type { FaultCreated, FaultList, FaultsDeleted } from '../../shared/api/faults.ts';
import type { TraceSource, TraceStats } from '../../shared/api/trace.ts';
import type { CpuSample } from '../../shared/api/cpu.ts';
import type { InquiryData, ReadCapacity } from '../../shared/api/scsi.ts';
import type { FsStatus } from '../../shared/api/fs.ts';
import type { LessonsAnswer } from '../../shared/api/lessons.ts';
import type { WsServerMessage, WsSnapshotMessage, WsStatusMessage } from '../../shared/api/ws.ts';

let lab: Serve;
let base: string;

beforeAll(async () => {
  lab = await startServe('127.0.0.1', []);
  base = `http://127.0.0.1:${lab.http}`;
});

afterAll(async () => {
  expect(await lab.stop()).toBe(0);
});

const get = async (path: string): Promise<{ status: number; body: unknown }> => {
  const r = await fetch(`${base}${path}`);
  return { status: r.status, body: await r.json() };
};
const send = async (method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> => {
  const r = await fetch(`${base}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: r.status, body: await r.json() };
};
const fits = <T>(keys: ContractKeys<T>, value: unknown): void => expect(contractMismatch(keys, value), JSON.stringify(value).slice(0, 300)).toEqual([]);

const LUN = contractKeys<LabLun>({
  lun: true,
  path: true,
  sizeBytes: true,
  blockSize: true,
  blocks: true,
  thin: true,
  removable: true,
  readOnly: true,
  physicalBlockSize: true,
});
const SESSION = contractKeys<LabSession>({
  tsih: true,
  type: true,
  initiatorName: true,
  targetName: true,
  isid: true,
  connections: true,
  headerDigest: true,
  dataDigest: true,
});
const STATUS = contractKeys<LabStatus>({ target: true, portals: true, luns: true, moreTargets: true, sessions: true });
const CACHE = contractKeys<CacheStats>({
  policy: true,
  mode: true,
  sizeBytes: true,
  usedBytes: true,
  dirtyBytes: true,
  hits: true,
  misses: true,
  readaheadHits: true,
  evictions: true,
  flushes: true,
  blockBytes: true,
  partial: true,
  writebacks: true,
  bypasses: true,
  readaheadBlocks: true,
  readahead: true,
});
const IO = contractKeys<IoResult>({
  ok: true,
  status: true,
  statusText: true,
  sense: false,
  dataHex: false,
  bytes: true,
  durationMs: true,
  stepped: false,
  recovery: false,
});
const ERROR = contractKeys<ApiErrorAnswer>({ error: true });

function checkStatus(s: unknown): void {
  fits(STATUS, s);
  const st = s as LabStatus;
  fits(contractKeys<LabStatus['target']>({ iqn: true, url: true, chap: true, mutualChap: true, acl: false }), st.target);
  fits(contractKeys<LabPortal>({ host: true, port: true, portalGroupTag: true }), st.portals[0]);
  fits(LUN, st.luns[0]);
  for (const session of st.sessions) {
    fits(SESSION, session);
    for (const c of session.connections) fits(contractKeys<LabConnectionInfo>({ id: true, remote: true, local: true }), c);
  }
}

describe('every /api answer has the keys of its shared/api type', () => {
  it('POST /api/io (write, then read) answers IoResult; GET /api/status then lists the lab session as LabSession', async () => {
    const w = await send('POST', '/api/io', { lun: 0, op: 'write', lba: 8, blocks: 1, data: { text: 'contract' } });
    expect(w.status).toBe(200);
    fits(IO, w.body);
    const r = await send('POST', '/api/io', { lun: 0, op: 'read', lba: 8, blocks: 1 });
    fits(IO, r.body);
    expect((r.body as IoResult).dataHex?.startsWith(Buffer.from('contract').toString('hex'))).toBe(true);
    const s = await get('/api/status');
    expect(s.status).toBe(200);
    checkStatus(s.body);
    expect((s.body as LabStatus).sessions.length).toBeGreaterThan(0);
  });

  it('the cache routes answer CacheStatsAnswer and CacheMapAnswer', async () => {
    const stats = await get('/api/stats');
    fits(contractKeys<CacheStatsAnswer>({ luns: true }), stats.body);
    const lun0 = (stats.body as CacheStatsAnswer).luns[0]!;
    fits(contractKeys<CacheStatsAnswer['luns'][number]>({ lun: true, cache: true }), lun0);
    fits(CACHE, lun0.cache);
    const map = await get('/api/cache/map?lun=0&max=16');
    fits(
      contractKeys<CacheMapAnswer>({ lun: true, policy: true, mode: true, blockBytes: true, lbaBytes: true, lunBlocks: true, exact: true, ranges: true }),
      map.body,
    );
  });

  it('step, faults, trace, source, cpu, SCSI, fs and lessons answer their types', async () => {
    fits(
      contractKeys<StepState>({
        version: true,
        active: true,
        id: true,
        io: true,
        initiatorName: false,
        lun: false,
        lba: false,
        stage: false,
        stageIndex: true,
        passed: true,
        ranUnheld: false,
        detail: false,
        heldSinceMs: false,
        timeoutAtMs: false,
        timedOut: true,
        done: true,
        result: false,
      }),
      (await get('/api/step')).body,
    );
    const created = await send('POST', '/api/faults', { action: 'delay', match: { pdu: 'NOP-In' }, delayMs: 1 });
    expect(created.status).toBe(201);
    fits(contractKeys<FaultCreated>({ id: true }), created.body);
    fits(contractKeys<FaultList>({ faults: true }), (await get('/api/faults')).body);
    fits(contractKeys<FaultsDeleted>({ deleted: true }), (await send('DELETE', '/api/faults')).body);
    fits(
      contractKeys<TraceStats>({
        recording: true,
        consumers: true,
        pdus: true,
        events: true,
        ringPdus: true,
        ringBytes: true,
        ringEvents: true,
        evictedPdus: true,
        evictedEvents: true,
        rawSkipped: true,
        consumerErrors: true,
        openTasks: true,
      }),
      (await get('/api/trace/stats')).body,
    );
    fits(contractKeys<Extract<TraceSource, { kind: 'target' }>>({ kind: true }), (await get('/api/source')).body);
    fits(contractKeys<CpuSample>({ userUs: true, systemUs: true }), (await get('/api/cpu')).body);
    fits(contractKeys<ReadCapacity>({ lun: true, lastLba: true, blocks: true, blockSize: true, thin: true }), (await get('/api/readcap?lun=0')).body);
    fits(
      contractKeys<InquiryData>({
        lun: true,
        peripheralDeviceType: true,
        deviceType: true,
        removable: true,
        version: true,
        vendor: true,
        product: true,
        revision: true,
        hex: true,
      }),
      (await get('/api/inquiry?lun=0')).body,
    );
    fits(contractKeys<FsStatus>({ lun: true, formatted: true, regionLba: true, regionBytes: true, files: true }), (await get('/api/fs?lun=0')).body);
    fits(contractKeys<LessonsAnswer>({ lessons: true, glossary: true }), (await get('/api/lessons')).body);
  });

  it('a refused request answers ApiErrorAnswer', async () => {
    const bad = await send('POST', '/api/io', { lun: 0, op: 'erase', lba: 0, blocks: 1 });
    expect(bad.status).toBe(400);
    fits(ERROR, bad.body);
    const none = await get('/api/no-such-route');
    expect(none.status).toBe(404);
    fits(ERROR, none.body);
  });
});

describe('/ws messages are the WsServerMessage union', () => {
  it('the snapshot, then the answer to a status request', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${lab.http}/ws`);
    const texts: WsServerMessage[] = [];
    await new Promise<void>((resolve, reject) => {
      ws.on('error', reject);
      ws.on('message', (data, isBinary) => {
        if (isBinary) return;
        const m = JSON.parse(String(data)) as WsServerMessage;
        texts.push(m);
        if (m.type === 'snapshot') ws.send(JSON.stringify({ type: 'status' }));
        if (m.type === 'status') resolve();
      });
    });
    ws.close();
    const snapshot = texts.find((m) => m.type === 'snapshot');
    fits(contractKeys<WsSnapshotMessage>({ type: true, schema: true, header: true, status: true, events: true, stats: true }), snapshot);
    checkStatus((snapshot as WsSnapshotMessage).status);
    const status = texts.find((m) => m.type === 'status');
    fits(contractKeys<WsStatusMessage>({ type: true, status: true }), status);
    checkStatus((status as WsStatusMessage).status);
  });
});
