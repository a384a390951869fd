/**
 * The live trace's routes: GET /api/source (what the trace shows), GET /api/trace/stats (the recorder's counters),
 * GET /api/trace/srt (statistics of the live ring, shared/api/capture-stats.ts), and the downloads
 * GET /api/capture.pcapng and GET /api/capture.jsonl (files, not JSON).
 */
import type { TraceStats } from '../trace/schema.ts';

export type { TraceStats };

/** GET /api/source: the lab's own target, or `iscsi-lab proxy` relaying to another target. */
export type TraceSource = { readonly kind: 'target' } | { readonly kind: 'proxy'; readonly listen: string; readonly target: string };

export const CAPTURE_PCAPNG_PATH = '/api/capture.pcapng';
export const CAPTURE_JSONL_PATH = '/api/capture.jsonl';
