/**
 * The gateway's JSON API (server/gateway/api.ts) as the browser sees it: typed fetch wrappers whose errors carry
 * the gateway's readable `{error}` text, never a stack.
 */
import type { TraceEvent, TraceHeader, TraceStats } from '../../../shared/trace/schema.ts';
import type { StepState } from '../../../shared/trace/step.ts';
import type { FaultList, FaultRuleInput } from '../../../shared/api/faults.ts';
import type { CaptureStats } from '../../../shared/api/capture-stats.ts';

export interface LabLun {
  readonly lun: number;
  readonly path: string;
  readonly sizeBytes: number;
  readonly blockSize: number;
  readonly blocks: number;
  readonly thin: boolean;
  readonly removable: boolean;
  readonly readOnly: boolean;
  /** `--lun ...,physical=BYTES`; the logical block size when not given. */
  readonly physicalBlockSize: number;
}

export interface LabConnectionInfo {
  readonly id: number;
  readonly remote: string;
  readonly local: string;
}

export interface LabSession {
  readonly tsih: number;
  readonly type: string;
  readonly initiatorName: string;
  readonly isid: string;
  readonly connections: readonly LabConnectionInfo[];
  readonly headerDigest: boolean | string;
  readonly dataDigest: boolean | string;
}

export interface LabStatus {
  readonly target: { readonly iqn: string; readonly url: string; readonly chap: boolean; readonly mutualChap: boolean; readonly acl?: readonly string[] };
  readonly portals: readonly { readonly host: string; readonly port: number; readonly portalGroupTag: number }[];
  readonly luns: readonly LabLun[];
  readonly sessions: readonly LabSession[];
}

export type IoData = { readonly hex: string } | { readonly text: string } | { readonly pattern: number };

export interface IoRequest {
  readonly lun: number;
  readonly op: 'read' | 'write';
  readonly lba: number;
  readonly blocks: number;
  readonly data?: IoData;
  readonly fua?: boolean;
  /** Step mode: the gateway holds the I/O at each stage until Next (the request answers when it is done). */
  readonly step?: boolean;
  /** How long the lab initiator waits for the status before ABORT TASK and a retry. */
  readonly timeoutMs?: number;
}

export interface IoResult {
  readonly ok: boolean;
  readonly status: number;
  readonly statusText: string;
  readonly sense?: { readonly key: number; readonly asc: number; readonly ascq: number };
  readonly dataHex?: string;
  readonly bytes: number;
  readonly durationMs: number;
  readonly stepped?: { readonly id: number; readonly passed: readonly string[]; readonly timedOut: boolean };
  /** What the lab initiator did to get there: timeouts, ABORT TASK, new logins, retries. */
  readonly recovery?: readonly string[];
}

export type { TraceStats };

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
    const msg = body && typeof body === 'object' && typeof (body as { error?: unknown }).error === 'string' ? (body as { error: string }).error : `${res.status} ${res.statusText}`;
    throw new ApiError(res.status, msg);
  }
  if (body === undefined) throw new ApiError(res.status, `${path}: the gateway answered something that is not JSON`);
  return body as T;
}

export const getStatus = (): Promise<LabStatus> => call<LabStatus>('/api/status');

/** What the live trace shows: the lab's own target, or `iscsi-lab proxy` relaying to another target. */
export type TraceSource = { readonly kind: 'target' } | { readonly kind: 'proxy'; readonly listen: string; readonly target: string };
export const getSource = (): Promise<TraceSource> => call<TraceSource>('/api/source');
export const getTraceStats = (): Promise<TraceStats> => call<TraceStats>('/api/trace/stats');

export function postIo(req: IoRequest): Promise<IoResult> {
  return call<IoResult>('/api/io', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(req) });
}

/** GET /api/stats: the block cache's counters per LUN (undefined while the gateway has no such route). */
export async function getCacheStats(): Promise<{ luns: { lun: number; cache: Record<string, unknown> | null }[] } | undefined> {
  try {
    return await call<{ luns: { lun: number; cache: Record<string, unknown> | null }[] }>('/api/stats');
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return undefined;
    throw err;
  }
}

// ---- fault rules (server/gateway/fault-routes.ts, contract in shared/api/faults.ts) ----------------------------

export const getFaults = (): Promise<FaultList> => call<FaultList>('/api/faults');

export function addFault(rule: FaultRuleInput): Promise<{ id: number }> {
  return call('/api/faults', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(rule) });
}

// The gateway's cross-site check (server/gateway/request-guard.ts) wants a JSON content type on every state change.
const JSON_DELETE: RequestInit = { method: 'DELETE', headers: { 'content-type': 'application/json' } };
export const deleteFault = (id: number): Promise<{ deleted: number }> => call(`/api/faults/${id}`, JSON_DELETE);
export const clearFaults = (): Promise<{ deleted: number }> => call('/api/faults', JSON_DELETE);

export const CAPTURE_PCAPNG_URL = '/api/capture.pcapng';
export const CAPTURE_JSONL_URL = '/api/capture.jsonl';

// ---- the block cache (server/gateway/cache-routes.ts) ----------------------------------------------------------

export type CachePolicyName = 'lru' | '2q' | 'arc';
export type CacheModeName = 'write-back' | 'write-through';

/** One LUN's cache counters (server/store/cache/block-cache.ts CacheStats); hits and misses count cache blocks. */
export interface CacheStats {
  readonly policy: CachePolicyName;
  readonly mode: CacheModeName;
  readonly sizeBytes: number;
  readonly usedBytes: number;
  readonly dirtyBytes: number;
  readonly hits: number;
  readonly misses: number;
  readonly readaheadHits: number;
  readonly evictions: number;
  readonly flushes: number;
  readonly blockBytes: number;
  readonly partial: number;
  readonly writebacks: number;
  readonly bypasses: number;
  readonly readaheadBlocks: number;
  readonly readahead: { readonly enabled: boolean; readonly windowBytes: number };
}

export interface CacheMapRange {
  readonly lba: number;
  readonly blocks: number;
  readonly cached: number;
  readonly dirty: number;
}

/** GET /api/cache/map: resident and dirty ranges of one LUN (in LBAs; `cached`/`dirty` count cache blocks). */
export interface CacheMap {
  readonly lun: number;
  readonly policy: CachePolicyName;
  readonly mode: CacheModeName;
  readonly blockBytes: number;
  readonly lbaBytes: number;
  readonly lunBlocks: number;
  readonly exact: boolean;
  readonly ranges: readonly CacheMapRange[];
}

export interface CacheChange {
  readonly lun?: number;
  readonly policy?: CachePolicyName;
  readonly size?: string;
  readonly mode?: CacheModeName;
  readonly readahead?: string | boolean;
}

export const getCacheStatsStrict = (): Promise<{ luns: { lun: number; cache: CacheStats | null }[] }> => call('/api/stats');
export const getCacheMap = (lun: number, max = 4096): Promise<CacheMap> => call<CacheMap>(`/api/cache/map?lun=${lun}&max=${max}`);

export function postCache(change: CacheChange): Promise<{ luns: { lun: number; cache: CacheStats }[] }> {
  return call('/api/cache', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(change) });
}

/** POST /api/cache/reset-stats: zeroes the LUN's cache counters (hits, misses...), keeps what is cached. */
export function resetCacheStats(lun: number): Promise<{ luns: { lun: number; cache: CacheStats }[] }> {
  return call('/api/cache/reset-stats', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ lun }) });
}

// ---- uploaded captures and replay (server/gateway/upload-routes.ts) --------------------------------------------

/** Largest pcap/pcapng capture the gateway takes (it answers 413 beyond; JSON Lines traces: 64 MiB). */
export const MAX_UPLOAD_BYTES = 2 * 1024 * 1024 * 1024;

export interface UploadedCapture {
  readonly id: string;
  readonly name: string;
  readonly bytes: number;
  readonly format: 'pcapng' | 'pcap' | 'jsonl';
  readonly header: TraceHeader;
  /** Trace events in the whole upload; `events` is the first page of them. */
  readonly total: number;
  /** Trace events; PDU events carry their wire bytes as rawBase64. */
  readonly events: (TraceEvent & { rawBase64?: string })[];
  readonly warnings: string[];
  /** Bytes the capture lacks or could not cut into PDUs, each marked before the event (seq) that follows it. */
  readonly gaps?: readonly { readonly seq: number; readonly text: string }[];
}

/** A further page of an upload's events (a page ends early rather than carry more than 2 MiB of wire bytes). */
export interface UploadedPage {
  readonly from: number;
  readonly total: number;
  readonly events: (TraceEvent & { rawBase64?: string })[];
}

export type { CaptureStats, SrtRow } from '../../../shared/api/capture-stats.ts';

/** Statistics of an upload (`id`) or of the live trace (no id); `csv` gives the address of a CSV download. */
export const statsPath = (id: string | null, csv?: 'csv' | 'rates-csv'): string =>
  `${id ? `/api/capture/upload/${encodeURIComponent(id)}/stats` : '/api/trace/srt'}${csv ? `?format=${csv}` : ''}`;
export const getStats = (id: string | null): Promise<CaptureStats> => call<CaptureStats>(statsPath(id));

export const uploadedPage = (id: string, from: number, count: number): Promise<UploadedPage> =>
  call<UploadedPage>(`/api/capture/upload/${encodeURIComponent(id)}/events?from=${from}&count=${count}`);

export interface ReplayCommandResult {
  readonly number: number;
  readonly command: string;
  readonly lun: number;
  readonly recorded: string;
  readonly replayed: string;
  /** Empty when the replay matched the recording. */
  readonly differences: string[];
  /** Capture event numbers of the recorded SCSI Command and of the PDU that carried its status. */
  readonly pdus: readonly number[];
}

export interface ReplayReport {
  readonly id: string;
  readonly name: string;
  readonly commands: number;
  readonly differences: number;
  readonly skipped: number;
  readonly lines: string[];
  readonly warnings: string[];
  readonly results: ReplayCommandResult[];
  readonly resultsCut: number;
}

export function uploadCapture(file: Blob, name: string): Promise<UploadedCapture> {
  if (file.size > MAX_UPLOAD_BYTES) {
    return Promise.reject(new ApiError(413, `${name} is ${(file.size / 1024 / 1024).toFixed(1)} MiB: the gateway takes captures up to 2 GiB`));
  }
  return call<UploadedCapture>(`/api/capture/upload?name=${encodeURIComponent(name)}`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: file });
}

/** `lun` undefined: each command to the LUN the capture names; a number: every command to that lab LUN. */
export function replayUpload(id: string, lun?: number): Promise<ReplayReport> {
  const body = lun === undefined ? { id, lunMap: 'capture' } : { id, lunMap: 'url', lun };
  return call<ReplayReport>('/api/replay', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

// ---- step mode (server/gateway/step-routes.ts) -----------------------------------------------------------------

export const getStep = (): Promise<StepState> => call<StepState>('/api/step');

export function postStep(action: 'next' | 'continue'): Promise<StepState> {
  return call<StepState>('/api/step', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ action }) });
}

// ---- other SCSI commands through the lab's initiator (server/gateway/scsi-routes.ts) ---------------------------

export interface InquiryData {
  readonly lun: number;
  readonly peripheralDeviceType: number;
  readonly deviceType: string;
  readonly removable: boolean;
  readonly version: number;
  readonly vendor: string;
  readonly product: string;
  readonly revision: string;
  readonly hex: string;
}

export interface VpdPage {
  readonly lun: number;
  readonly page: number;
  readonly length: number;
  readonly hex: string;
}

export interface ReadCapacity {
  readonly lun: number;
  readonly lastLba: number;
  readonly blocks: number;
  readonly blockSize: number;
  readonly thin: boolean;
}

export const getInquiry = (lun: number): Promise<InquiryData> => call<InquiryData>(`/api/inquiry?lun=${lun}`);
export const getVpd = (lun: number, page: number): Promise<VpdPage> => call<VpdPage>(`/api/inquiry?lun=${lun}&page=${page}`);
export const getReadCapacity = (lun: number): Promise<ReadCapacity> => call<ReadCapacity>(`/api/readcap?lun=${lun}`);
