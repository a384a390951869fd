/**
 * Captures kept for browsing and replay, on disk rather than in memory so one of any size (up to
 * MAX_CAPTURE_UPLOAD_BYTES) never stalls the target: a worker thread indexes the file (capture-indexer.ts), and
 * its trace events are read a page at a time. JSON Lines traces (this lab's own export, bounded by
 * MAX_JSONL_UPLOAD_BYTES) are parsed in memory. The newest KEEP_UPLOADS stay; older ones' files are deleted.
 * The gateway's upload-store.ts brings the files here from HTTP bodies and turns CaptureStoreErrors into answers.
 */
import { rmSync } from 'node:fs';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { indexCaptureInWorker, CaptureIndexError } from './capture-indexer.ts';
import type { CaptureIndex } from './index-capture.ts';
import {
  MAX_CAPTURE_UPLOAD_BYTES,
  MAX_JSONL_UPLOAD_BYTES,
  type UploadedEvent,
  type UploadedPage as EventPage,
  type UploadSummary,
} from '../../shared/api/capture.ts';
import type { CaptureStats } from './srt.ts';
import { detectFormat, UnreadableCaptureError, type CaptureFormat, type LoadedCapture } from './load-capture.ts';
import { pduFromWire, type CapturePdu } from './capture-pdu.ts';
import { TRACE_SCHEMA_VERSION, type TraceHeader } from '../../shared/trace/schema.ts';
import { parseJsonl, JsonlFormatError } from '../trace/jsonl.ts';

/** What went wrong, in the terms of the caller's answer: its request was wrong, too large, or names nothing kept. */
export class CaptureStoreError extends Error {
  constructor(
    readonly kind: 'bad-request' | 'too-large' | 'not-found',
    message: string,
  ) {
    super(message);
  }
}

// The caps and the answers' types are the API contract's (shared/api/capture.ts): the UI checks the same caps.
export { MAX_CAPTURE_UPLOAD_BYTES, MAX_JSONL_UPLOAD_BYTES };
export type { EventPage, UploadedEvent, UploadSummary };
/** Events per page when the caller does not say (and at most this many times four). */
export const DEFAULT_PAGE = 2000;
const MAX_PAGE = 4 * DEFAULT_PAGE;
/**
 * Wire bytes one page carries at most (a page ends early, after at least one event, when the next PDU would pass
 * it): a page of big Data-In PDUs would otherwise be hundreds of MiB of base64 built on the event loop.
 */
export const PAGE_RAW_BYTES = 2 * 1024 * 1024;
const KEEP_UPLOADS = 3;
const HEAD_BYTES = 64;

interface Stored {
  readonly id: string;
  readonly name: string;
  readonly bytes: number;
  readonly format: CaptureFormat;
  readonly header: TraceHeader;
  readonly warnings: string[];
  readonly total: number;
  /** pcap/pcapng: the index and its spool files; JSON Lines: the events in memory. */
  readonly index?: CaptureIndex;
  readonly spool?: string;
  readonly events?: UploadedEvent[];
  readonly jsonlBytes?: Uint8Array;
}

export class CaptureStore {
  private dir: string | undefined;
  private readonly uploads: Stored[] = [];

  /** The folder a new capture file is written to before `add` takes it (created on first use). */
  async folder(): Promise<string> {
    if (!this.dir) {
      const dir = await mkdtemp(join(tmpdir(), 'iscsi-lab-uploads-'));
      this.dir = dir;
      // Spool files are the gateway's scratch: gone with the process, however it ends normally.
      process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    }
    return this.dir;
  }

  /** A fresh path in folder() for the next capture file. */
  async newPath(): Promise<{ id: string; path: string }> {
    const id = randomUUID();
    return { id, path: join(await this.folder(), `${id}.capture`) };
  }

  /** Deletes a capture file that never made it to `add` (its upload failed). */
  async discard(path: string): Promise<void> {
    await rm(path, { force: true });
  }

  /** Indexes the capture file at `path` (`bytes` long), keeps its index, and deletes the file itself. */
  async add(id: string, name: string, path: string, bytes: number): Promise<UploadSummary> {
    try {
      if (bytes === 0) throw new CaptureStoreError('bad-request', 'empty upload: send the capture file as the request body');
      const head = await readHead(path);
      let format: CaptureFormat;
      try {
        format = detectFormat(head);
      } catch (err) {
        if (err instanceof UnreadableCaptureError) throw new CaptureStoreError('bad-request', `${name}: ${err.message}`);
        throw err;
      }
      const stored = format === 'jsonl' ? await this.jsonl(id, name, path, bytes) : await this.indexed(id, name, path, bytes, format);
      this.keep(stored);
      return summary(stored);
    } finally {
      await rm(path, { force: true });
    }
  }

  private async jsonl(id: string, name: string, path: string, bytes: number): Promise<Stored> {
    if (bytes > MAX_JSONL_UPLOAD_BYTES)
      throw new CaptureStoreError(
        'too-large',
        `a JSON Lines trace is read whole: at most ${MAX_JSONL_UPLOAD_BYTES / 1024 / 1024} MiB (pcapng has no such limit)`,
      );
    const file = new Uint8Array(await readFile(path));
    let parsed;
    try {
      parsed = parseJsonl(new TextDecoder().decode(file));
    } catch (err) {
      if (err instanceof JsonlFormatError) throw new CaptureStoreError('bad-request', `${name}: bad JSON Lines trace: ${err.message}`);
      throw err;
    }
    const events = parsed.events.map((e): UploadedEvent => {
      const raw = e.type === 'pdu' ? parsed.raw.get(e.seq) : undefined;
      return raw ? { ...e, rawBase64: Buffer.from(raw).toString('base64') } : e;
    });
    const warnings = parsed.skipped ? [`${parsed.skipped} lines of unknown kinds skipped`] : [];
    return { id, name, bytes, format: 'jsonl', header: parsed.header, warnings, total: events.length, events, jsonlBytes: file };
  }

  private async indexed(id: string, name: string, path: string, bytes: number, format: CaptureFormat): Promise<Stored> {
    const spool = join(this.dir!, id);
    let index: CaptureIndex;
    try {
      index = await indexCaptureInWorker(path, spool);
    } catch (err) {
      await this.removeSpool(spool);
      if (err instanceof CaptureIndexError) throw new CaptureStoreError('bad-request', `${name}: bad ${format} file: ${err.message}`);
      throw err;
    }
    const warnings = [...index.warnings];
    if (index.pdus === 0) {
      warnings.push(
        index.tcpPackets === 0
          ? `none of the capture's ${index.packets} packets is TCP over IPv4 or IPv6 on a link type this reader knows`
          : `no iSCSI PDUs among the capture's ${index.packets} packets (${index.tcpPackets} TCP)`,
      );
    }
    const header: TraceHeader = { type: 'header', version: TRACE_SCHEMA_VERSION, startWallMs: index.startWallMs, producer: `upload: ${name}` };
    return { id, name, bytes, format, header, warnings, total: index.pdus, index, spool };
  }

  /** Events [from, from + count) of an upload, each PDU event with its wire bytes (fewer: see PAGE_RAW_BYTES). */
  async page(id: string, from: number, count = DEFAULT_PAGE): Promise<EventPage> {
    const u = this.get(id);
    if (!Number.isInteger(from) || from < 0) throw new CaptureStoreError('bad-request', 'from must be a whole number >= 0');
    if (!Number.isInteger(count) || count < 1 || count > MAX_PAGE) throw new CaptureStoreError('bad-request', `count must be from 1 to ${MAX_PAGE}`);
    let end = Math.min(u.total, from + count);
    if (u.events) return { from, total: u.total, events: u.events.slice(from, end) };
    if (from >= end) return { from, total: u.total, events: [] };
    const x = u.index!;
    let bytes = x.lengths[from]!;
    for (let i = from + 1; i < end; i++) {
      bytes += x.lengths[i]!;
      if (bytes > PAGE_RAW_BYTES) {
        end = i;
        break;
      }
    }
    const fh = await open(`${u.spool}.events`, 'r');
    let lines: string[];
    try {
      const start = x.eventOffsets[from]!;
      const buf = Buffer.allocUnsafe(x.eventOffsets[end]! - start);
      await fh.read(buf, 0, buf.length, start);
      lines = buf.toString('utf8').split('\n');
    } finally {
      await fh.close();
    }
    const raw = await this.readPdus(u, from, end);
    const events = lines.slice(0, end - from).map((l, i) => ({ ...(JSON.parse(l) as UploadedEvent), rawBase64: Buffer.from(raw[i]!).toString('base64') }));
    return { from, total: u.total, events };
  }

  /** The upload's PDUs for replay (read from disk), or its JSON Lines bytes. */
  async forReplay(id: string): Promise<{ name: string; capture: LoadedCapture | Uint8Array }> {
    const u = this.get(id);
    if (u.jsonlBytes) return { name: u.name, capture: u.jsonlBytes };
    const raw = await this.readPdus(u, 0, u.total);
    const x = u.index!;
    const pdus: CapturePdu[] = [];
    for (let i = 0; i < raw.length; i++) {
      const f = x.flags[i]!;
      const p = pduFromWire(raw[i]!, {
        index: i,
        direction: f & 1 ? 't2i' : 'i2t',
        connectionId: x.connections[i]!,
        headerDigest: (f & 2) !== 0,
        dataDigest: (f & 4) !== 0,
      });
      if (p) pdus.push(p);
    }
    return { name: u.name, capture: { format: u.format, pdus, warnings: u.warnings } };
  }

  /** Statistics of an indexed (pcap/pcapng) upload. */
  stats(id: string): CaptureStats {
    const u = this.get(id);
    if (!u.index) throw new CaptureStoreError('not-found', 'statistics are computed for pcap and pcapng uploads');
    return u.index.stats;
  }

  has(id: string): boolean {
    return this.uploads.some((u) => u.id === id);
  }

  async close(): Promise<void> {
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
  }

  private get(id: string): Stored {
    const u = this.uploads.find((x) => x.id === id);
    if (!u) throw new CaptureStoreError('not-found', 'no such upload (the gateway keeps the newest few; upload it again)');
    return u;
  }

  /** Wire bytes of PDUs [from, end): one read spanning them (they lie close together in the spool). */
  private async readPdus(u: Stored, from: number, end: number): Promise<Uint8Array[]> {
    const x = u.index!;
    let lo = Infinity;
    let hi = 0;
    for (let i = from; i < end; i++) {
      lo = Math.min(lo, x.offsets[i]!);
      hi = Math.max(hi, x.offsets[i]! + x.lengths[i]!);
    }
    if (from >= end) return [];
    const buf = Buffer.allocUnsafe(hi - lo);
    const fh = await open(`${u.spool}.pdus`, 'r');
    try {
      for (let o = 0; o < buf.length;) {
        const { bytesRead } = await fh.read(buf, o, buf.length - o, lo + o);
        if (bytesRead === 0) throw new Error(`upload ${u.id}: spool file shorter than its index`);
        o += bytesRead;
      }
    } finally {
      await fh.close();
    }
    const out: Uint8Array[] = [];
    for (let i = from; i < end; i++) out.push(buf.subarray(x.offsets[i]! - lo, x.offsets[i]! - lo + x.lengths[i]!));
    return out;
  }

  private keep(u: Stored): void {
    this.uploads.push(u);
    while (this.uploads.length > KEEP_UPLOADS) {
      const old = this.uploads.shift()!;
      if (old.spool) void this.removeSpool(old.spool);
    }
  }

  private async removeSpool(spool: string): Promise<void> {
    await rm(`${spool}.pdus`, { force: true });
    await rm(`${spool}.events`, { force: true });
  }
}

function summary(u: Stored): UploadSummary {
  return { id: u.id, name: u.name, bytes: u.bytes, format: u.format, header: u.header, warnings: u.warnings, total: u.total, gaps: u.index?.gapMarks ?? [] };
}

async function readHead(path: string): Promise<Uint8Array> {
  const fh = await open(path, 'r');
  try {
    const b = Buffer.alloc(HEAD_BYTES);
    const { bytesRead } = await fh.read(b, 0, HEAD_BYTES, 0);
    return b.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}
