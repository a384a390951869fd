/**
 * The trace recorder: subscribes to the layer taps (iSCSI PDUs and sessions, SCSI commands, store I/O) and turns
 * them into versioned trace events (shared/trace/schema.ts), keeping the most recent in bounded rings.
 *
 * Free when unused: the taps are subscribed only while at least one consumer is attached or `start()` holds the
 * recorder open; with neither, no tap is active and the target builds no events at all.
 * Raw bytes: each PDU's wire form (BHS, AHS, header digest, data, padding, data digest) is copied once, at the
 * tap, because framing reuses its receive buffers once the listener returns.
 */
import { crc32c, crc32cParts } from '../iscsi/crc32c.ts';
import type { ConnectionAddress, PduEvent, SessionEvent } from '../iscsi/events.ts';
import type { ScsiEvent, StoreEvent } from '../scsi/events.ts';
import type { Tap } from './tap.ts';
import { Ring } from './ring.ts';
import { Slab } from './slab.ts';
import { PduDescriber } from '../../shared/trace/describe.ts';
import { RecordedPdu } from './recorded-pdu.ts';
import { pduLengths, TMF_FUNCTION_NAMES } from '../../shared/protocol/iscsi.ts';
import { scsiStatusName } from '../../shared/protocol/scsi-opcodes.ts';
import { ascAscqText, senseKeyName } from '../../shared/protocol/sense.ts';
import {
  TRACE_SCHEMA_VERSION,
  type PduTraceEvent,
  type ScsiTraceEvent,
  type SessionTraceEvent,
  type StoreTraceEvent,
  type TcpTuple,
  type TraceEvent,
  type TraceHeader,
  type TraceStats,
} from '../../shared/trace/schema.ts';

/** What the recorder needs of an IscsiTarget / ScsiTarget: only their taps (so tests can pass bare Taps). */
export interface IscsiTapSource {
  readonly taps: { readonly pdu: Tap<PduEvent>; readonly session: Tap<SessionEvent> };
}
export interface ScsiTapSource {
  readonly taps: { readonly scsi: Tap<ScsiEvent>; readonly store: Tap<StoreEvent> };
}

export interface TraceRecorderOptions {
  iscsi?: IscsiTapSource;
  scsi?: ScsiTapSource;
  /** Cap on PDUs kept in the ring (with their raw bytes). */
  ringPdus?: number;
  /** Cap on raw bytes kept in the ring. */
  ringBytes?: number;
  /** Cap on non-PDU events (session, SCSI, store) kept in their ring. */
  ringEvents?: number;
  /** Keep raw bytes at all (default true); without them pcapng export is impossible, events still flow. */
  captureRaw?: boolean;
  /** Producer name written in headers. */
  producer?: string;
}

export const DEFAULT_RING_PDUS = 20_000;
export const DEFAULT_RING_BYTES = 64 * 1024 * 1024;
export const DEFAULT_RING_EVENTS = 20_000;

export { RecordedPdu };

/**
 * What a consumer is handed: the event (for PDUs built on first read of `event`, so a consumer that drops or
 * samples pays nothing for what it skips) and, for PDUs, the wire form (shared with the ring: do not modify it).
 */
export interface TraceItem {
  readonly event: TraceEvent;
  readonly raw?: Uint8Array;
}

/** A consumer sees every item synchronously, in seq order. It must not block: batch and drop on your side (TraceQueue). */
export type TraceConsumer = (item: TraceItem) => void;

export type { TraceStats };

export interface TraceSnapshot {
  readonly header: TraceHeader;
  /** Everything the rings hold, PDUs and others merged, in seq order. */
  readonly events: TraceEvent[];
  readonly stats: TraceStats;
}

export class TraceRecorder {
  readonly startNs: bigint;
  private readonly startPerfMs: number;
  readonly startWallMs: number;
  private readonly opts: Required<Omit<TraceRecorderOptions, 'iscsi' | 'scsi'>> & Pick<TraceRecorderOptions, 'iscsi' | 'scsi'>;
  private readonly pduRing: Ring<RecordedPdu>;
  private readonly eventRing: Ring<TraceEvent>;
  private consumers: TraceConsumer[] = [];
  private holds = 0;
  private unsubscribers: (() => void)[] = [];
  private describer = new PduDescriber();
  private readonly slab = new Slab();
  private seq = 0;
  private pduCount = 0;
  private eventCount = 0;
  private rawSkipped = 0;
  private consumerErrors = 0;

  constructor(options: TraceRecorderOptions = {}) {
    this.opts = {
      iscsi: options.iscsi,
      scsi: options.scsi,
      ringPdus: options.ringPdus ?? DEFAULT_RING_PDUS,
      ringBytes: options.ringBytes ?? DEFAULT_RING_BYTES,
      ringEvents: options.ringEvents ?? DEFAULT_RING_EVENTS,
      captureRaw: options.captureRaw ?? true,
      producer: options.producer ?? 'iscsi-lab',
    };
    this.pduRing = new Ring(this.opts.ringPdus, this.opts.ringBytes, (p) => p.raw.length);
    this.eventRing = new Ring(this.opts.ringEvents, Number.MAX_SAFE_INTEGER);
    this.startNs = process.hrtime.bigint();
    this.startPerfMs = performance.now();
    this.startWallMs = Date.now();
  }

  get header(): TraceHeader {
    return { type: 'header', version: TRACE_SCHEMA_VERSION, startWallMs: this.startWallMs, producer: this.opts.producer };
  }

  /** Attaches a consumer (and the taps, if it is the first); returns its unsubscribe function. */
  subscribe(consumer: TraceConsumer): () => void {
    this.consumers = [...this.consumers, consumer];
    this.update();
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.consumers = this.consumers.filter((c) => c !== consumer);
      this.update();
    };
  }

  /** Records into the rings even with no consumer, until the returned function is called. */
  start(): () => void {
    this.holds++;
    this.update();
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.holds--;
      this.update();
    };
  }

  get recording(): boolean {
    return this.unsubscribers.length > 0;
  }

  /** The last `n` PDUs (all the ring holds by default), oldest first, with their wire bytes. */
  recent(n?: number): RecordedPdu[] {
    return this.pduRing.toArray(n);
  }

  /** The rings' events merged in seq order; with `limit`, only the newest `limit` (each side is cut to it first, so
   * at most 2 x limit PDU events are built). */
  snapshot(limit?: number): TraceSnapshot {
    const pdus = this.pduRing.toArray(limit).map((p) => p.event as TraceEvent);
    const others = this.eventRing.toArray(limit);
    const events: TraceEvent[] = [];
    let i = 0;
    let j = 0;
    while (i < pdus.length || j < others.length) {
      if (j >= others.length || (i < pdus.length && pdus[i]!.seq < others[j]!.seq)) events.push(pdus[i++]!);
      else events.push(others[j++]!);
    }
    return { header: this.header, events: limit !== undefined && events.length > limit ? events.slice(-limit) : events, stats: this.stats() };
  }

  stats(): TraceStats {
    return {
      recording: this.recording,
      consumers: this.consumers.length,
      pdus: this.pduCount,
      events: this.eventCount,
      ringPdus: this.pduRing.length,
      ringBytes: this.pduRing.bytes,
      ringEvents: this.eventRing.length,
      evictedPdus: this.pduRing.evicted,
      evictedEvents: this.eventRing.evicted,
      rawSkipped: this.rawSkipped,
      consumerErrors: this.consumerErrors,
      openTasks: this.describer.openTasks,
    };
  }

  /** Empties the rings (counters and seq go on). */
  clear(): void {
    this.pduRing.clear();
    this.eventRing.clear();
  }

  /** Detaches from every tap and drops every consumer. */
  close(): void {
    this.consumers = [];
    this.holds = 0;
    this.update();
  }

  private update(): void {
    const want = this.consumers.length > 0 || this.holds > 0;
    if (want && !this.recording) {
      const { iscsi, scsi } = this.opts;
      if (iscsi) {
        this.unsubscribers.push(iscsi.taps.pdu.subscribe((e) => this.onPdu(e)));
        this.unsubscribers.push(iscsi.taps.session.subscribe((e) => this.onSession(e)));
      }
      if (scsi) {
        this.unsubscribers.push(scsi.taps.scsi.subscribe((e) => this.onScsi(e)));
        this.unsubscribers.push(scsi.taps.store.subscribe((e) => this.onStore(e)));
      }
      if (this.unsubscribers.length === 0) this.unsubscribers.push(() => {});
    } else if (!want && this.recording) {
      for (const u of this.unsubscribers) u();
      this.unsubscribers = [];
      // A gap in recording breaks correlation: requests seen before it cannot be matched after.
      this.describer = new PduDescriber();
    }
  }

  private now(t: bigint = process.hrtime.bigint()): { timeNs: number; wallMs: number } {
    const timeNs = Number(t - this.startNs);
    return { timeNs, wallMs: this.startWallMs + timeNs / 1e6 };
  }

  /** ns since the recorder started, on the hrtime clock, without a BigInt per call. */
  private elapsedNs(): number {
    return Math.round((performance.now() - this.startPerfMs) * 1e6);
  }

  private onPdu(e: PduEvent): void {
    const raw = this.opts.captureRaw ? wireBytes(e, this.slab) : EMPTY;
    const tooBig = raw.length > this.opts.ringBytes;
    if (tooBig) this.rawSkipped++;
    const kept = tooBig ? EMPTY : raw;
    let bhs: Uint8Array;
    let data: Uint8Array;
    if (kept.length > 0) {
      bhs = kept.subarray(0, e.pdu.bhs.length);
      const at = e.pdu.bhs.length + e.pdu.ahs.length + (e.headerDigest ? 4 : 0);
      data = kept.subarray(at, at + e.pdu.data.length);
    } else {
      // Receive and cache buffers are reused once the tap returns: keep copies of what describing reads.
      bhs = Uint8Array.from(e.pdu.bhs);
      data = e.pdu.data.length <= DESCRIBE_DATA_MAX ? Uint8Array.from(e.pdu.data) : EMPTY;
    }
    const pdu = new RecordedPdu(
      this.seq++, Number(e.timeNs - this.startNs), this.startWallMs, e.direction === 'in' ? 'i2t' : 't2i',
      e.connectionId, e.tsih, e.address, e.headerDigest, e.dataDigest, bhs, data, kept,
    );
    this.describer.correlate(pdu, pdu);
    this.pduCount++;
    this.pduRing.push(pdu);
    this.deliver(pdu);
  }

  private onSession(e: SessionEvent): void {
    const event: SessionTraceEvent = {
      type: 'session',
      seq: this.seq++,
      ...this.now(e.timeNs),
      kind: e.kind,
      connectionId: e.connectionId,
      tsih: e.tsih,
      initiatorName: e.initiatorName,
      tcp: tuple(e.address, true),
      detail: e.detail,
    };
    if (e.kind === 'closed') this.describer.forgetConnection(e.connectionId);
    this.other(event);
  }

  // SCSI and store events: one flat object each (spreads cost a hidden-class transition per property here).
  private onScsi(e: ScsiEvent): void {
    const timeNs = this.elapsedNs();
    const wallMs = this.startWallMs + timeNs / 1e6;
    const seq = this.seq++;
    let event: ScsiTraceEvent;
    if (e.kind === 'command') {
      const sense = e.sense ? { ...e.sense, keyName: senseKeyName(e.sense.key), text: ascAscqText(e.sense.asc, e.sense.ascq) } : undefined;
      event = {
        type: 'scsi', seq, timeNs, wallMs, kind: e.kind, nexusId: e.nexusId,
        lun: e.lun,
        opcodeName: e.name,
        status: e.status,
        statusName: scsiStatusName(e.status),
        dataInBytes: e.dataInBytes,
        dataOutBytes: e.dataOutBytes,
        durationNs: Math.round(e.durationMs * 1e6),
      };
      if (sense) (event as { sense?: typeof sense }).sense = sense;
    } else if (e.kind === 'task-management') {
      event = { type: 'scsi', seq, timeNs, wallMs, kind: e.kind, nexusId: e.nexusId, lun: e.lun, function: TMF_FUNCTION_NAMES[e.fn as number] ?? String(e.fn) };
    } else {
      event = { type: 'scsi', seq, timeNs, wallMs, kind: e.kind, nexusId: e.nexusId };
    }
    this.other(event);
  }

  private onStore(e: StoreEvent): void {
    const timeNs = this.elapsedNs();
    const event: { -readonly [K in keyof StoreTraceEvent]: StoreTraceEvent[K] } = {
      type: 'store',
      seq: this.seq++,
      timeNs,
      wallMs: this.startWallMs + timeNs / 1e6,
      kind: e.kind,
      lun: e.lun,
      lba: e.lba,
      blocks: e.blocks,
      fua: e.fua,
      durationNs: Math.round(e.durationMs * 1e6),
    };
    if (e.error !== undefined) event.error = e.error;
    if (e.cache !== undefined) event.cache = e.cache;
    this.other(event);
  }

  private other(event: TraceEvent): void {
    this.eventCount++;
    this.eventRing.push(event);
    if (this.consumers.length > 0) this.deliver({ event });
  }

  private deliver(item: TraceItem): void {
    for (const c of this.consumers) {
      try {
        c(item);
      } catch (err) {
        // A consumer must never break the data path: drop it, count it.
        this.consumerErrors++;
        this.consumers = this.consumers.filter((x) => x !== c);
        process.emitWarning(`trace consumer removed after it threw: ${String(err)}`);
        queueMicrotask(() => this.update());
      }
    }
  }
}

const EMPTY = new Uint8Array(0);
/** Without raw capture, data segments up to this size are still kept for describing (login keys, sense). */
const DESCRIBE_DATA_MAX = 8192;

function tuple(a: ConnectionAddress, fromInitiator: boolean): TcpTuple {
  return fromInitiator
    ? { src: a.remoteAddress, srcPort: a.remotePort, dst: a.localAddress, dstPort: a.localPort }
    : { src: a.localAddress, srcPort: a.localPort, dst: a.remoteAddress, dstPort: a.remotePort };
}

/** One copy of the PDU in wire form, digests computed as the connection sends or checked them (RFC 7143 11.1). */
export function wireBytes(e: Pick<PduEvent, 'pdu' | 'headerDigest' | 'dataDigest'>, slab?: Slab): Uint8Array {
  const { bhs, ahs, data } = e.pdu;
  const L = pduLengths(bhs, e.headerDigest, e.dataDigest);
  const headerLength = bhs.length + ahs.length;
  const total = headerLength + L.headerDigest + data.length + L.padding + (e.dataDigest && data.length > 0 ? 4 : 0);
  const out = slab ? slab.take(total) : new Uint8Array(total);
  out.set(bhs, 0);
  if (ahs.length) out.set(ahs, bhs.length);
  let o = headerLength;
  if (e.headerDigest) {
    new DataView(out.buffer, out.byteOffset).setUint32(o, crc32c(out.subarray(0, headerLength)), true);
    o += 4;
  }
  if (data.length) {
    out.set(data, o);
    const end = o + data.length + L.padding;
    out.fill(0, o + data.length, end); // the slab is not zeroed
    if (e.dataDigest) new DataView(out.buffer, out.byteOffset).setUint32(end, crc32cParts([out.subarray(o, end)]), true);
  }
  return out;
}

/**
 * A consumer that queues events for a slow reader (the WebSocket hub) with named caps, dropping the newest when
 * full and counting what it dropped: the target is never blocked by a lagging client.
 */
export class TraceQueue {
  private events: TraceItem[] = [];
  private bytes = 0;
  /** Events dropped since the last drain. */
  dropped = 0;

  /**
   * Defaults: what a browser can take live: ~10k PDUs/s plus their SCSI and store events, 4000 per drain at the hub's
   * 200 ms batches. Past that the target would spend more on describing and sending than on serving I/O.
   */
  constructor(
    readonly maxEvents = 4000,
    readonly maxBytes = 16 * 1024 * 1024,
  ) {}

  readonly consumer: TraceConsumer = (item) => {
    const size = item.raw?.length ?? 0;
    if (this.events.length >= this.maxEvents || this.bytes + size > this.maxBytes) {
      this.dropped++;
      return;
    }
    this.events.push(item);
    this.bytes += size;
  };

  /** Takes everything queued, and the count dropped since the last drain. */
  drain(): { events: TraceItem[]; dropped: number } {
    const out = { events: this.events, dropped: this.dropped };
    this.events = [];
    this.bytes = 0;
    this.dropped = 0;
    return out;
  }

  get length(): number {
    return this.events.length;
  }
}
