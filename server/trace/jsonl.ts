/**
 * JSON Lines export and import of a trace: the first line is the TraceHeader (schema version), then one event per
 * line in seq order: PDU, session, SCSI, store and drop events, with their correlation (taskId, latencyNs).
 * Optionally each PDU line carries its wire bytes as `rawHex`, which makes the file replayable and convertible
 * to pcapng.
 */
import { fromHex, hex } from '../../shared/protocol/bytes.ts';
import { isTraceEvent, TRACE_SCHEMA_VERSION, type TraceEvent, type TraceHeader } from '../../shared/trace/schema.ts';
import type { RecordedPdu, TraceSnapshot } from './recorder.ts';

export class JsonlFormatError extends Error {}

export interface JsonlExportOptions {
  /** Raw bytes by seq (from TraceRecorder.recent()); PDU lines with bytes get `rawHex`. */
  raw?: ReadonlyMap<number, Uint8Array>;
}

/** One line per record, each ended by "\n". */
export function* jsonlLines(header: TraceHeader, events: Iterable<TraceEvent>, opts: JsonlExportOptions = {}): Generator<string> {
  yield `${JSON.stringify(header)}\n`;
  for (const e of events) {
    const raw = e.type === 'pdu' ? opts.raw?.get(e.seq) : undefined;
    yield `${JSON.stringify(raw && raw.length ? { ...e, rawHex: hex(raw) } : e)}\n`;
  }
}

export function toJsonl(header: TraceHeader, events: Iterable<TraceEvent>, opts: JsonlExportOptions = {}): string {
  return [...jsonlLines(header, events, opts)].join('');
}

/** A recorder snapshot, with the raw bytes the ring still holds. */
export function snapshotToJsonl(snapshot: TraceSnapshot, recent: readonly RecordedPdu[] = []): string {
  const raw = new Map<number, Uint8Array>();
  for (const p of recent) if (p.raw.length) raw.set(p.event.seq, p.raw);
  return toJsonl(snapshot.header, snapshot.events, { raw });
}

export interface ParsedJsonl {
  readonly header: TraceHeader;
  readonly events: TraceEvent[];
  /** Raw bytes by seq, for PDU lines that had `rawHex`. */
  readonly raw: Map<number, Uint8Array>;
  /** Lines that were valid JSON but not a known event (newer producers may add kinds): skipped, counted. */
  readonly skipped: number;
}

/** Parses a JSON Lines trace; refuses other schema versions and malformed lines (with the line number). */
export function parseJsonl(text: string): ParsedJsonl {
  const lines = text.split('\n');
  let header: TraceHeader | undefined;
  const events: TraceEvent[] = [];
  const raw = new Map<number, Uint8Array>();
  let skipped = 0;
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    let obj: unknown;
    try {
      obj = JSON.parse(line);
    } catch (err) {
      throw new JsonlFormatError(`line ${i + 1}: not JSON (${(err as Error).message})`);
    }
    if (!header) {
      const h = obj as Partial<TraceHeader>;
      if (h.type !== 'header') throw new JsonlFormatError('line 1: expected the trace header');
      if (h.version !== TRACE_SCHEMA_VERSION)
        throw new JsonlFormatError(`trace schema version ${String(h.version)}, this reader knows ${TRACE_SCHEMA_VERSION}`);
      header = h as TraceHeader;
      return;
    }
    if (!isTraceEvent(obj)) {
      skipped++;
      return;
    }
    const withRaw = obj as TraceEvent & { rawHex?: string };
    if (withRaw.type === 'pdu' && typeof withRaw.rawHex === 'string') {
      raw.set(withRaw.seq, fromHex(withRaw.rawHex));
      delete withRaw.rawHex;
    }
    events.push(withRaw);
  });
  if (!header) throw new JsonlFormatError('empty trace: no header line');
  return { header, events, raw, skipped };
}
