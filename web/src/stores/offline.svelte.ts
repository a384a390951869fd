/**
 * Uploaded captures: send the file to the gateway (which decodes pcapng, pcap or JSON Lines into trace events), show
 * it in place of the live trace, and replay it against the lab's target to see what differs today.
 */
import type { RawPduFrame, TraceEvent } from '../../../shared/trace/schema.ts';
import { replayUpload, uploadCapture, type ReplayReport, type UploadedCapture } from '../lib/api.ts';
import { lab } from './lab.svelte.ts';
import { ui } from './ui.svelte.ts';

function fromBase64(b64: string): Uint8Array {
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** Trace events and raw frames of an upload, as the lab store keeps live ones. */
export function framesOf(u: UploadedCapture): { events: TraceEvent[]; raw: Map<number, RawPduFrame> } {
  const events: TraceEvent[] = [];
  const raw = new Map<number, RawPduFrame>();
  for (const e of u.events) {
    const { rawBase64, ...event } = e;
    events.push(event as TraceEvent);
    if (rawBase64 && event.type === 'pdu') {
      const bytes = fromBase64(rawBase64);
      raw.set(event.seq, { seq: event.seq, direction: event.direction, headerDigest: event.headerDigest, dataDigest: event.dataDigest, originalLength: bytes.length, truncated: false, bytes });
    }
  }
  return { events, raw };
}

export class OfflineCaptures {
  busy = $state<'upload' | 'replay' | null>(null);
  error = $state<string | null>(null);
  report = $state.raw<ReplayReport | null>(null);
  /** The last upload, kept so it can be replayed (also after going back to live). */
  last = $state.raw<{ id: string; name: string; pdus: number } | null>(null);

  async upload(file: Blob, name: string): Promise<void> {
    this.busy = 'upload';
    this.error = null;
    try {
      const u = await uploadCapture(file, name);
      const { events, raw } = framesOf(u);
      const pdus = events.filter((e) => e.type === 'pdu').length;
      lab.loadOffline({ id: u.id, name: u.name, format: u.format, pdus, warnings: u.warnings }, events, raw);
      this.last = { id: u.id, name: u.name, pdus };
      this.report = null;
      ui.select(null);
      ui.stepTaskId = null;
    } catch (err) {
      this.error = err instanceof Error ? err.message : String(err);
    } finally {
      this.busy = null;
    }
  }

  async replay(): Promise<void> {
    const id = this.last?.id;
    if (!id) return;
    this.busy = 'replay';
    this.error = null;
    try {
      this.report = await replayUpload(id);
    } catch (err) {
      this.error = err instanceof Error ? err.message : String(err);
    } finally {
      this.busy = null;
    }
  }
}

export const offline = new OfflineCaptures();
