/**
 * Uploaded captures: send the file to the gateway (which decodes pcapng, pcap or JSON Lines into trace events), show
 * it in place of the live trace, and replay it against the lab's target to see what differs today.
 */
import type { RawPduFrame, TraceEvent } from '../../../shared/trace/schema.ts';
import { getStats, replayUpload, uploadCapture, uploadedPage, type CaptureStats, type ReplayReport, type UploadedPage } from '../lib/api.ts';
import { lab } from './lab.svelte.ts';
import { ui } from './ui.svelte.ts';

function fromBase64(b64: string): Uint8Array {
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** Trace events and raw frames of an upload, as the lab store keeps live ones. */
export function framesOf(u: Pick<UploadedPage, 'events'>): { events: TraceEvent[]; raw: Map<number, RawPduFrame> } {
  const events: TraceEvent[] = [];
  const raw = new Map<number, RawPduFrame>();
  for (const e of u.events) {
    const { rawBase64, ...event } = e;
    events.push(event as TraceEvent);
    if (rawBase64 && event.type === 'pdu') {
      const bytes = fromBase64(rawBase64);
      raw.set(event.seq, {
        seq: event.seq,
        direction: event.direction,
        headerDigest: event.headerDigest,
        dataDigest: event.dataDigest,
        originalLength: bytes.length,
        truncated: false,
        bytes,
      });
    }
  }
  return { events, raw };
}

/** Events asked for per page (the gateway may send fewer: it caps a page's wire bytes). */
const PAGE_EVENTS = 2000;

export class OfflineCaptures {
  busy = $state<'upload' | 'replay' | 'page' | null>(null);
  error = $state<string | null>(null);
  report = $state.raw<ReplayReport | null>(null);
  /** The last upload, kept so it can be replayed (also after going back to live). */
  last = $state.raw<{ id: string; name: string; format: string; pdus: number; warnings: string[]; gaps: readonly { seq: number; text: string }[] } | null>(
    null,
  );
  /** The page of the upload on show: events [from, to) of total; earlier pages' starts for going back. */
  page = $state.raw<{ from: number; to: number; total: number } | null>(null);
  private starts: number[] = [];
  /** Statistics on show, and of what: an upload's id, or null for the live trace. */
  stats = $state.raw<{ of: string | null; stats: CaptureStats } | null>(null);
  /** Where replayed commands go: the LUN the capture names, or one lab LUN (tgt captures use LUN 1, the lab 0). */
  lun = $state<'capture' | number>('capture');

  async upload(file: Blob, name: string): Promise<void> {
    this.busy = 'upload';
    this.error = null;
    try {
      const u = await uploadCapture(file, name);
      const { events, raw } = framesOf(u);
      const total = u.total ?? events.length;
      const pdus = total === events.length ? events.filter((e) => e.type === 'pdu').length : total;
      this.last = { id: u.id, name: u.name, format: u.format, pdus, warnings: u.warnings, gaps: u.gaps ?? [] };
      lab.loadOffline(this.last, events, raw);
      this.page = { from: 0, to: events.length, total };
      this.starts = [];
      this.report = null;
      this.stats = null;
      ui.select(null);
      ui.stepTaskId = null;
    } catch (err) {
      this.error = err instanceof Error ? err.message : String(err);
    } finally {
      this.busy = null;
    }
  }

  /** Shows the next (+1) or previous (-1) page of the upload: big captures are browsed a page at a time. */
  async turn(step: 1 | -1): Promise<void> {
    const last = this.last;
    const p = this.page;
    if (!last || !p) return;
    const from = step > 0 ? p.to : this.starts.at(-1);
    if (from === undefined || from >= p.total) return;
    this.busy = 'page';
    this.error = null;
    try {
      const got = await uploadedPage(last.id, from, PAGE_EVENTS);
      const { events, raw } = framesOf(got);
      if (step > 0) this.starts.push(p.from);
      else this.starts.pop();
      lab.loadOffline(last, events, raw);
      this.page = { from, to: from + events.length, total: got.total };
      ui.select(null);
      ui.stepTaskId = null;
    } catch (err) {
      this.error = err instanceof Error ? err.message : String(err);
    } finally {
      this.busy = null;
    }
  }

  /** Shows capture event `seq` in the timeline and inspector, loading the page that holds it if need be. */
  async showPdu(seq: number): Promise<void> {
    const last = this.last;
    const p = this.page;
    if (!last || !p) return;
    // Events of a pcap/pcapng upload are numbered by position; a JSON Lines trace keeps its own numbers.
    const shown = lab.offline !== null && lab.pdus.some((e) => e.seq === seq);
    if (!shown) {
      this.busy = 'page';
      try {
        const got = await uploadedPage(last.id, seq, PAGE_EVENTS);
        const { events, raw } = framesOf(got);
        this.starts = seq > 0 ? [0] : [];
        lab.loadOffline(last, events, raw);
        this.page = { from: seq, to: seq + events.length, total: got.total };
      } catch (err) {
        this.error = err instanceof Error ? err.message : String(err);
        return;
      } finally {
        this.busy = null;
      }
    }
    ui.select(seq, { openInspector: true });
  }

  /** Service response times, throughput and IOPS of the upload on show, or of the live trace. */
  async loadStats(): Promise<void> {
    const of = lab.offline ? (this.last?.id ?? null) : null;
    this.error = null;
    try {
      this.stats = { of, stats: await getStats(of) };
    } catch (err) {
      this.error = err instanceof Error ? err.message : String(err);
    }
  }

  async replay(): Promise<void> {
    const id = this.last?.id;
    if (!id) return;
    this.busy = 'replay';
    this.error = null;
    try {
      this.report = await replayUpload(id, this.lun === 'capture' ? undefined : this.lun);
    } catch (err) {
      this.error = err instanceof Error ? err.message : String(err);
    } finally {
      this.busy = null;
    }
  }
}

export const offline = new OfflineCaptures();
