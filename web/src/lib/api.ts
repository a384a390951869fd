/**
 * The gateway's JSON API as the browser sees it: fetch wrappers typed by the contract in shared/api (the types the
 * gateway's handlers answer with, server/gateway/lab-routes.ts), whose errors carry the gateway's readable
 * `{error}` text, never a stack.
 */
import type { StepRequest, StepState } from '../../../shared/api/step.ts';
import type { FaultCreated, FaultList, FaultRuleInput, FaultsDeleted } from '../../../shared/api/faults.ts';
import type { CaptureStats } from '../../../shared/api/capture-stats.ts';
import type { LabStatus } from '../../../shared/api/status.ts';
import type { TraceSource, TraceStats } from '../../../shared/api/trace.ts';
import { CAPTURE_JSONL_PATH, CAPTURE_PCAPNG_PATH } from '../../../shared/api/trace.ts';
import type { IoRequestBody, IoResult } from '../../../shared/api/io.ts';
import type { CacheChange, CacheChangeAnswer, CacheMapAnswer, CacheResetRequest, CacheStatsAnswer } from '../../../shared/api/cache.ts';
import {
  describeUploadCap,
  MAX_CAPTURE_UPLOAD_BYTES,
  type ReplayAnswer,
  type ReplayRequest,
  type UploadedCapture,
  type UploadedPage,
} from '../../../shared/api/capture.ts';
import type { InquiryData, ReadCapacity, VpdPage } from '../../../shared/api/scsi.ts';

// The contract lives in shared/api (the gateway answers with the same types); these names are the UI's.
export type { LabConnectionInfo, LabLun, LabSession, LabStatus } from '../../../shared/api/status.ts';
export type { IoData, IoResult } from '../../../shared/api/io.ts';
export type { IoRequestBody as IoRequest } from '../../../shared/api/io.ts';
export type { TraceSource, TraceStats };
export type { CacheChange, CacheChangeAnswer, CacheMapRange, CacheModeName, CachePolicyName, CacheStats, CacheStatsAnswer } from '../../../shared/api/cache.ts';
export type { CacheMapAnswer as CacheMap } from '../../../shared/api/cache.ts';
export type { ReplayCommandResult, UploadedCapture, UploadedPage } from '../../../shared/api/capture.ts';
export type { ReplayAnswer as ReplayReport } from '../../../shared/api/capture.ts';
export type { InquiryData, ReadCapacity, VpdPage } from '../../../shared/api/scsi.ts';

/** A failed API call: `status` 0 means the gateway could not be reached at all. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function call<T>(path: string, init?: RequestInit): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, `gateway unreachable (${err instanceof Error ? err.message : String(err)})`);
  }
  const text = await res.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  if (!res.ok) {
    const msg =
      body && typeof body === 'object' && typeof (body as { error?: unknown }).error === 'string'
        ? (body as { error: string }).error
        : `${res.status} ${res.statusText}`;
    throw new ApiError(res.status, msg);
  }
  if (body === undefined) throw new ApiError(res.status, `${path}: the gateway answered something that is not JSON`);
  return body as T;
}

export const getStatus = (): Promise<LabStatus> => call<LabStatus>('/api/status');
export const getSource = (): Promise<TraceSource> => call<TraceSource>('/api/source');
export const getTraceStats = (): Promise<TraceStats> => call<TraceStats>('/api/trace/stats');

const JSON_HEADERS = { 'content-type': 'application/json' };
/** A POST whose body is typed by the contract. */
const postJson = <Req, Ans>(path: string, body: Req): Promise<Ans> => call<Ans>(path, { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify(body) });

export const postIo = (req: IoRequestBody): Promise<IoResult> => postJson<IoRequestBody, IoResult>('/api/io', req);

/** GET /api/stats: the block cache's counters per LUN (undefined while the gateway has no such route). */
export async function getCacheStats(): Promise<CacheStatsAnswer | undefined> {
  try {
    return await call<CacheStatsAnswer>('/api/stats');
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return undefined;
    throw err;
  }
}

// ---- fault rules (server/gateway/fault-routes.ts, contract in shared/api/faults.ts) ----------------------------

export const getFaults = (): Promise<FaultList> => call<FaultList>('/api/faults');
export const addFault = (rule: FaultRuleInput): Promise<FaultCreated> => postJson<FaultRuleInput, FaultCreated>('/api/faults', rule);

// The gateway's cross-site check (server/gateway/request-guard.ts) wants a JSON content type on every state change.
const JSON_DELETE: RequestInit = { method: 'DELETE', headers: JSON_HEADERS };
export const deleteFault = (id: number): Promise<FaultsDeleted> => call<FaultsDeleted>(`/api/faults/${id}`, JSON_DELETE);
export const clearFaults = (): Promise<FaultsDeleted> => call<FaultsDeleted>('/api/faults', JSON_DELETE);

export const CAPTURE_PCAPNG_URL = CAPTURE_PCAPNG_PATH;
export const CAPTURE_JSONL_URL = CAPTURE_JSONL_PATH;

// ---- the block cache (server/gateway/cache-routes.ts, contract in shared/api/cache.ts) -------------------------

export const getCacheStatsStrict = (): Promise<CacheStatsAnswer> => call<CacheStatsAnswer>('/api/stats');
export const getCacheMap = (lun: number, max = 4096): Promise<CacheMapAnswer> => call<CacheMapAnswer>(`/api/cache/map?lun=${lun}&max=${max}`);
export const postCache = (change: CacheChange): Promise<CacheChangeAnswer> => postJson<CacheChange, CacheChangeAnswer>('/api/cache', change);

/** POST /api/cache/reset-stats: zeroes the LUN's cache counters (hits, misses...), keeps what is cached. */
export const resetCacheStats = (lun: number): Promise<CacheChangeAnswer> => postJson<CacheResetRequest, CacheChangeAnswer>('/api/cache/reset-stats', { lun });

// ---- uploaded captures and replay (server/gateway/upload-routes.ts, contract in shared/api/capture.ts) ---------

/** Largest pcap/pcapng capture the gateway takes (it answers 413 beyond; JSON Lines traces: MAX_JSONL_UPLOAD_BYTES). */
export const MAX_UPLOAD_BYTES = MAX_CAPTURE_UPLOAD_BYTES;

export type { CaptureStats, SrtRow } from '../../../shared/api/capture-stats.ts';

/** Statistics of an upload (`id`) or of the live trace (no id); `csv` gives the address of a CSV download. */
export const statsPath = (id: string | null, csv?: 'csv' | 'rates-csv'): string =>
  `${id ? `/api/capture/upload/${encodeURIComponent(id)}/stats` : '/api/trace/srt'}${csv ? `?format=${csv}` : ''}`;
export const getStats = (id: string | null): Promise<CaptureStats> => call<CaptureStats>(statsPath(id));

export const uploadedPage = (id: string, from: number, count: number): Promise<UploadedPage> =>
  call<UploadedPage>(`/api/capture/upload/${encodeURIComponent(id)}/events?from=${from}&count=${count}`);

export function uploadCapture(file: Blob, name: string): Promise<UploadedCapture> {
  if (file.size > MAX_UPLOAD_BYTES) {
    return Promise.reject(
      new ApiError(413, `${name} is ${(file.size / 1024 / 1024).toFixed(1)} MiB: the gateway takes captures up to ${describeUploadCap(MAX_UPLOAD_BYTES)}`),
    );
  }
  return call<UploadedCapture>(`/api/capture/upload?name=${encodeURIComponent(name)}`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream' },
    body: file,
  });
}

/** `lun` undefined: each command to the LUN the capture names; a number: every command to that lab LUN. */
export function replayUpload(id: string, lun?: number): Promise<ReplayAnswer> {
  const body: ReplayRequest = lun === undefined ? { id, lunMap: 'capture' } : { id, lunMap: 'url', lun };
  return postJson<ReplayRequest, ReplayAnswer>('/api/replay', body);
}

// ---- step mode (server/gateway/step-routes.ts, contract in shared/api/step.ts) ---------------------------------

export const getStep = (): Promise<StepState> => call<StepState>('/api/step');
export const postStep = (action: StepRequest['action']): Promise<StepState> => postJson<StepRequest, StepState>('/api/step', { action });

// ---- other SCSI commands through the lab's initiator (server/gateway/scsi-routes.ts, shared/api/scsi.ts) --------

export const getInquiry = (lun: number): Promise<InquiryData> => call<InquiryData>(`/api/inquiry?lun=${lun}`);
export const getVpd = (lun: number, page: number): Promise<VpdPage> => call<VpdPage>(`/api/inquiry?lun=${lun}&page=${page}`);
export const getReadCapacity = (lun: number): Promise<ReadCapacity> => call<ReadCapacity>(`/api/readcap?lun=${lun}`);
