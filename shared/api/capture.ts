/**
 * Captures uploaded to the gateway and replayed against the lab's target (server/gateway/upload-routes.ts):
 * - POST /api/capture/upload?name=FILE, body the file -> UploadedCapture (first page of events)
 * - GET /api/capture/upload/ID/events?from=N&count=M -> UploadedPage
 * - GET /api/capture/upload/ID/stats[?format=csv|rates-csv] -> CaptureStats (capture-stats.ts) or CSV
 * - POST /api/replay ReplayRequest -> ReplayAnswer
 * The size caps are here so the gateway refuses and the UI warns at the same number.
 */
import type { TraceEvent, TraceHeader } from '../trace/schema.ts';

/** Largest pcap/pcapng upload: the gateway streams it to disk and indexes it off the event loop. */
export const MAX_CAPTURE_UPLOAD_BYTES = 2 * 1024 * 1024 * 1024;
/** Largest JSON Lines trace upload: it is parsed whole, in memory. */
export const MAX_JSONL_UPLOAD_BYTES = 64 * 1024 * 1024;

/** "2 GiB", "64 MiB": a cap as the gateway's and the UI's messages write it. */
export function describeUploadCap(bytes: number): string {
  if (bytes % (1024 * 1024 * 1024) === 0) return `${bytes / 1024 / 1024 / 1024} GiB`;
  if (bytes % (1024 * 1024) === 0) return `${bytes / 1024 / 1024} MiB`;
  return `${bytes} bytes`;
}

export type UploadFormat = 'pcapng' | 'pcap' | 'jsonl';

/** A trace event as uploads answer it: PDU events carry their wire bytes. */
export type UploadedEvent = TraceEvent & { rawBase64?: string };

/** What an upload is, without its events. */
export interface UploadSummary {
  readonly id: string;
  readonly name: string;
  readonly bytes: number;
  readonly format: UploadFormat;
  readonly header: TraceHeader;
  readonly warnings: string[];
  /** Trace events in the whole upload. */
  readonly total: number;
  /** Gaps in the capture (lost or unreadable bytes), each before the event it precedes; none for JSON Lines. */
  readonly gaps: readonly GapMark[];
}

/** A gap in an uploaded capture, marked in the event list before the first PDU read after it. */
export interface GapMark {
  /** The event (PDU seq) the gap comes before. */
  readonly seq: number;
  /** What is missing, and where. */
  readonly text: string;
}

/** POST /api/capture/upload answer: the summary and the first page of events. */
export interface UploadedCapture extends UploadSummary {
  readonly events: UploadedEvent[];
}

/** A further page of an upload's events (a page ends early rather than carry more than 2 MiB of wire bytes). */
export interface UploadedPage {
  readonly from: number;
  readonly total: number;
  readonly events: UploadedEvent[];
}

/** POST /api/replay body: `lunMap` 'capture' sends each command to the LUN the capture names, 'url' all to `lun`. */
export interface ReplayRequest {
  readonly id: string;
  readonly lunMap?: 'url' | 'capture';
  readonly lun?: number;
}

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

/** POST /api/replay answer. */
export interface ReplayAnswer {
  readonly id: string;
  readonly name: string;
  readonly format: UploadFormat;
  /** Commands re-issued, those whose result differed, those not re-issued (incomplete in the capture). */
  readonly commands: number;
  readonly differences: number;
  readonly skipped: number;
  /** The difference lines, then the summary line. */
  readonly lines: string[];
  readonly warnings: string[];
  readonly results: ReplayCommandResult[];
  /** Results left out past the gateway's cap (the counts above include them). */
  readonly resultsCut: number;
}
