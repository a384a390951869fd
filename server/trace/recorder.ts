/**
 * The trace recorder: subscribes to the layer taps (iSCSI PDUs and sessions, SCSI commands, store I/O) and turns
 * them into versioned trace events (shared/trace/schema.ts), keeping the most recent in bounded rings.
 *
 * Free when unused: the taps are subscribed only while at least one consumer is attached or `start()` holds the
 * recorder open; with neither, no tap is active and the target builds no events at all.
 * Raw bytes: each PDU's wire form (BHS, AHS, header digest, data, padding, data digest) is copied once, at the
 * tap, into the PDU ring's arena (framing reuses its receive buffers once the listener returns). Recording a PDU
 * allocates nothing: its row lives in typed-array columns (pdu-ring.ts) and its trace event is built only when
 * someone reads it: the WebSocket hub pulls the newest events a few times a second (collect), a capture download
 * reads the ring (recent).
 */
import type { ConnectionAddress, PduEvent, SessionEvent } from '../iscsi/events.ts';
import type { ScsiEvent, StoreEvent } from '../scsi/events.ts';
import type { FaultEvent } from '../faults/engine.ts';
import type { Tap } from '../taps/tap.ts';
import { EventRing } from './event-ring.ts';
import { FLAG_DATA_DIGEST, FLAG_ENDING, FLAG_HEADER_DIGEST, FLAG_T2I, FLAG_WIRE, PduRing } from './pdu-ring.ts';
import { PduDescriber, type Correlation, type CorrelationInput } from '../../shared/trace/describe.ts';
import { RecordedPdu, recordedPdu } from './recorded-pdu.ts';
import { FaultNotes, faultTraceEvent } from './fault-notes.ts';
import { wireLength, writeWire } from './wire-form.ts';
import { TMF_FUNCTION_NAMES } from '../../shared/protocol/iscsi.ts';
import {
  TRACE_SCHEMA_VERSION,
  type ScsiTraceEvent,
  type SessionTraceEvent,
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

/** The fault engine (server/faults/engine.ts): its tap reports every injected fault. */
export interface FaultTapSource {
  readonly tap: Tap<FaultEvent>;
}

export interface TraceRecorderOptions {
  iscsi?: IscsiTapSource;
  scsi?: ScsiTapSource;
  faults?: FaultTapSource;
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
export { wireBytes, wireLength } from './wire-form.ts';

/**
 * What a consumer is handed: the event and, for PDUs, the wire form: a view into the ring, valid only until the
 * caller returns to the event loop (the ring overwrites it later): copy what you keep, never modify it.
 */
export interface TraceItem {
  readonly event: TraceEvent;
  readonly raw?: Uint8Array;
}

/**
 * A consumer sees every item synchronously, in seq order, with its event already built: a per-PDU cost, so only
 * for consumers that need every PDU (`serve --capture FILE`). Watchers pull with collect() instead.
 */
export type TraceConsumer = (item: TraceItem) => void;

/** What collect() returns: the chosen items, oldest first, and how many in the range were not taken. */
export interface Collected {
  readonly items: TraceItem[];
  /** Not taken: past `max`, or no longer held (sampled-out events are not counted here). */
  readonly skipped: number;
  /** Left out by the sampling (`every`). */
  readonly sampledOut: number;
}

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
  private readonly opts: Required<Omit<TraceRecorderOptions, 'iscsi' | 'scsi' | 'faults'>> & Pick<TraceRecorderOptions, 'iscsi' | 'scsi' | 'faults'>;
  /** The latest injected faults, for pcapng comments on the PDUs they hit. */
  private readonly faults = new FaultNotes();
  private readonly pduRing: PduRing;
  private readonly eventRing: EventRing;
  /** Reused for every correlation: recording a PDU allocates no objects of its own. */
  private readonly correlation: Correlation = {};
  private readonly correlationInput: { bhs: Uint8Array; connectionId: number; timeNs: number; ref: number } = {
    bhs: EMPTY,
    connectionId: 0,
    timeNs: 0,
    ref: 0,
  };
  private consumers: TraceConsumer[] = [];
  private holds = 0;
  private unsubscribers: (() => void)[] = [];
  private describer = new PduDescriber({ summaries: false });
  private seq = 0;
  private pduCount = 0;
  private eventCount = 0;
  private rawSkipped = 0;
  private consumerErrors = 0;

  constructor(options: TraceRecorderOptions = {}) {
    this.opts = {
      iscsi: options.iscsi,
      scsi: options.scsi,
      faults: options.faults,
      ringPdus: options.ringPdus ?? DEFAULT_RING_PDUS,
      ringBytes: options.ringBytes ?? DEFAULT_RING_BYTES,
      ringEvents: options.ringEvents ?? DEFAULT_RING_EVENTS,
      captureRaw: options.captureRaw ?? true,
      producer: options.producer ?? 'iscsi-lab',
    };
    this.pduRing = new PduRing(this.opts.ringPdus, this.opts.ringBytes);
    this.startNs = process.hrtime.bigint();
    this.startPerfMs = performance.now();
    this.startWallMs = Date.now();
    this.eventRing = new EventRing(this.opts.ringEvents, this.startWallMs);
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

  /** The seq of the newest event recorded (-1 before the first). */
  get lastSeq(): number {
    return this.seq - 1;
  }

  /** The last `n` PDUs (all the ring holds by default), oldest first, each with its own copy of its wire bytes. */
  recent(n = this.pduRing.count): RecordedPdu[] {
    const out: RecordedPdu[] = [];
    for (let o = Math.max(this.pduRing.first, this.pduRing.next - n); o < this.pduRing.next; o++)
      out.push(recordedPdu(this.pduRing, this.startWallMs, o, true));
    return out;
  }

  /**
   * The newest `max` events with after < seq <= upTo (PDUs and others merged), oldest first. PDU items' raw bytes
   * are views into the ring: use them before returning to the event loop. Events no longer held count as skipped.
   * With `every` > 1, a sample of whole tasks: a PDU of task T only if T % every is 0 (all of that task's PDUs, or
   * none), an event outside a task only if its seq % every is 0. Left-out PDUs are never described (cheap).
   */
  collect(after: number, upTo: number = this.lastSeq, max = Number.MAX_SAFE_INTEGER, every = 1): Collected {
    const ring = this.pduRing;
    const others = this.eventRing;
    let p = ring.firstAfter(upTo) - 1;
    let o = others.length - 1;
    while (o >= 0 && others.seq(o) > upTo) o--;
    const picked: TraceItem[] = [];
    let sampledOut = 0;
    while (picked.length < max) {
      const ps = p >= ring.first ? ring.seq[ring.row(p)]! : -Infinity;
      const os = o >= 0 ? others.seq(o) : -Infinity;
      if (Math.max(ps, os) <= after) break;
      if (ps > os) {
        const task = ring.taskId[ring.row(p)]!;
        if (every > 1 && (task !== 0 ? task % every : ps % every) !== 0) {
          p--;
          sampledOut++;
        } else picked.push(recordedPdu(this.pduRing, this.startWallMs, p--, false));
      } else if (every > 1 && os % every !== 0) {
        o--;
        sampledOut++;
      } else picked.push({ event: others.event(o--) });
    }
    picked.reverse();
    return { items: picked, skipped: Math.max(0, upTo - after - picked.length - sampledOut), sampledOut };
  }

  /** The rings' events merged in seq order; with `limit`, only the newest `limit`; with `upTo`, none after it. */
  snapshot(limit?: number, upTo?: number): TraceSnapshot {
    const events = this.collect(-1, upTo, limit).items.map((i) => i.event);
    return { header: this.header, events, stats: this.stats() };
  }

  stats(): TraceStats {
    return {
      recording: this.recording,
      consumers: this.consumers.length,
      pdus: this.pduCount,
      events: this.eventCount,
      ringPdus: this.pduRing.count,
      ringBytes: this.pduRing.bytesHeld,
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
      const { iscsi, scsi, faults } = this.opts;
      if (faults) this.unsubscribers.push(faults.tap.subscribe((e) => this.onFault(e)));
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
    const ring = this.pduRing;
    const { bhs, data } = e.pdu;
    const wire = this.opts.captureRaw ? wireLength(e) : 0;
    const whole = wire > 0 && wire <= ring.maxPduBytes && wire <= this.opts.ringBytes;
    if (wire > 0 && !whole) this.rawSkipped++;
    // Without the wire form, the BHS and the start of the data segment: what describing reads (keys, sense).
    const kept = Math.max(0, Math.min(data.length, DESCRIBE_DATA_MAX, ring.maxPduBytes - bhs.length));
    const ordinal = ring.push(whole ? wire : bhs.length + kept);
    const bytes = ring.bytes(ordinal);
    if (whole) writeWire(e, bytes);
    else {
      bytes.set(bhs, 0);
      if (kept) bytes.set(kept === data.length ? data : data.subarray(0, kept), bhs.length);
    }
    const r = ring.row(ordinal);
    const timeNs = Number(e.timeNs - this.startNs);
    ring.seq[r] = this.seq++;
    ring.timeNs[r] = timeNs;
    ring.connectionId[r] = e.connectionId;
    ring.tsih[r] = e.tsih;
    ring.address[r] = e.address;

    const c = this.correlation;
    c.taskId = c.latencyNs = c.taskRef = c.taskScsi = c.ending = undefined;
    const input = this.correlationInput;
    input.bhs = bhs;
    input.connectionId = e.connectionId;
    input.timeNs = timeNs;
    input.ref = ordinal;
    this.describer.correlate(input satisfies CorrelationInput, c);
    ring.taskId[r] = c.taskId ?? 0;
    ring.latencyNs[r] = c.latencyNs ?? NaN;
    ring.taskRef[r] = c.taskRef ?? -1;
    ring.flags[r] =
      (e.direction === 'out' ? FLAG_T2I : 0) |
      (e.headerDigest ? FLAG_HEADER_DIGEST : 0) |
      (e.dataDigest ? FLAG_DATA_DIGEST : 0) |
      (c.ending ? FLAG_ENDING : 0) |
      (whole ? FLAG_WIRE : 0);
    this.pduCount++;
    if (this.consumers.length > 0) {
      const item = recordedPdu(this.pduRing, this.startWallMs, ordinal, false);
      void item.event; // built now, while the bytes it reads are still in the ring
      this.deliver(item);
    }
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

  // A command and a store call come with every I/O: rows in the event ring, built into objects only when read
  // (event-ring.ts); push consumers get the built event.
  private onScsi(e: ScsiEvent): void {
    const timeNs = this.elapsedNs();
    const seq = this.seq++;
    if (e.kind === 'command') {
      this.eventCount++;
      this.eventRing.pushCommand(seq, timeNs, {
        nexusId: e.nexusId,
        lun: e.lun,
        opcodeName: e.name,
        status: e.status,
        sense: e.sense,
        dataInBytes: e.dataInBytes,
        dataOutBytes: e.dataOutBytes,
        durationNs: Math.round(e.durationMs * 1e6),
      });
      if (this.consumers.length > 0) this.deliver({ event: this.eventRing.event(this.eventRing.length - 1) });
      return;
    }
    const wallMs = this.startWallMs + timeNs / 1e6;
    const event: ScsiTraceEvent =
      e.kind === 'task-management'
        ? { type: 'scsi', seq, timeNs, wallMs, kind: e.kind, nexusId: e.nexusId, lun: e.lun, function: TMF_FUNCTION_NAMES[e.fn as number] ?? String(e.fn) }
        : { type: 'scsi', seq, timeNs, wallMs, kind: e.kind, nexusId: e.nexusId };
    this.other(event);
  }

  /** A fault event, tied to the PDU it acted on (found by connection and ITT in the ring, newest first). */
  private onFault(e: FaultEvent): void {
    const event = faultTraceEvent(e, this.seq++, this.now(e.timeNs), this.pduRing);
    this.faults.add(event);
    this.other(event);
  }

  /** pcapng comments for injected faults, keyed by the seq of the PDU each acted on. */
  faultNotes(): Map<number, string> {
    return this.faults.notes();
  }

  private onStore(e: StoreEvent): void {
    this.eventCount++;
    // Joined to its task by identity; stamped no earlier than the task's SCSI Command (causal order, whatever
    // the two clocks' rounding).
    const task = e.task ? this.describer.openTask(e.task.connectionId, e.task.taskTag) : undefined;
    const timeNs = task ? Math.max(this.elapsedNs(), task.startNs) : this.elapsedNs();
    this.eventRing.pushStore(this.seq++, timeNs, {
      kind: e.kind,
      lun: e.lun,
      lba: e.lba,
      blocks: e.blocks,
      fua: e.fua,
      durationNs: Math.round(e.durationMs * 1e6),
      error: e.error,
      cache: e.cache,
      taskId: task?.id ?? 0,
    });
    if (this.consumers.length > 0) this.deliver({ event: this.eventRing.event(this.eventRing.length - 1) });
  }

  private other(event: TraceEvent): void {
    this.eventCount++;
    this.eventRing.pushEvent(event);
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
