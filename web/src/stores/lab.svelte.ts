/**
 * The live lab: one WebSocket to the gateway's /ws hub (snapshot, then batched events and raw PDU frames, received
 * by a worker that hands this page a few coalesced batches a second), the lab
 * status, and the trace kept in the browser: every PDU (bounded), raw bytes by seq (bounded by bytes), SCSI tasks
 * (the PDUs of one command, response and everything between), session and store events.
 *
 * Big arrays live in $state.raw and are replaced once per batch (a few times a second), never mutated in place:
 * at 10k PDUs/s the page does a handful of reactive updates a second, not ten thousand.
 */
import {
  TRACE_SCHEMA_VERSION,
  type FaultTraceEvent,
  type PduTraceEvent,
  type RawPduFrame,
  type SessionTraceEvent,
  type StoreTraceEvent,
  type TraceEvent,
  type TraceHeader,
} from '../../../shared/trace/schema.ts';
import { getSource, getStatus, getStep, type LabStatus, type TraceSource, type TraceStats } from '../lib/api.ts';
import type { StepState } from '../../../shared/trace/step.ts';
import type { FromWorker, ToWorker } from './trace-worker.ts';
import type { WsClientMessage, WsPresenterMessage, WsSnapshotMessage, WsStepMessage } from '../../../shared/api/ws.ts';
import type { SampleState } from './trace-sample.ts';
import { AfterInput } from './after-input.ts';

/** Named caps: what the browser keeps. Past MAX_PDUS the oldest TRIM_PDUS are forgotten at once. */
export const MAX_PDUS = 200_000;
export const TRIM_PDUS = 20_000;
/** Raw frames the page itself holds (the worker keeps the rest, see trace-worker.ts). */
export const MAX_RAW_CACHED = 1024;
export const MAX_SIDE_EVENTS = 20_000;
const STATUS_EVERY_MS = 2_000;
/** A batch arriving this soon after a click or key waits that long (after-input.ts): the click renders first. */
const INPUT_QUIET_MS = 200;

import type { ConnectionInfo, OfflineTrace, TaskInfo } from './lab-types.ts';
import { IscsiOpcode } from '../../../shared/protocol/iscsi-opcodes.ts';

export type { ConnectionInfo, OfflineTrace, TaskInfo };

type Listener = (added: readonly PduTraceEvent[]) => void;

type SnapshotMessage = WsSnapshotMessage;
/** The hub's messages outside the trace (shared/api/ws.ts). */
type HubMessage = WsStepMessage | WsPresenterMessage;

export class Lab {
  /** WebSocket state. */
  connected = $state(false);
  connectionError = $state<string | null>(null);
  status = $state.raw<LabStatus | null>(null);
  header = $state.raw<TraceHeader | null>(null);
  serverStats = $state.raw<TraceStats | null>(null);
  /** Events the hub dropped for this browser (back-pressure), as it reports them. */
  droppedByHub = $state(0);
  /** Events the recorder itself reports as lost (ring overflow, lagging consumers). */
  droppedByRecorder = $state(0);
  /** PDUs this browser forgot to stay under MAX_PDUS. */
  forgotten = $state(0);
  /** Every PDU kept, in seq order. */
  pdus = $state.raw<PduTraceEvent[]>([]);
  storeEvents = $state.raw<StoreTraceEvent[]>([]);
  sessionEvents = $state.raw<SessionTraceEvent[]>([]);
  /** Injected faults (server/faults), newest last; `faultMarks` finds them by the seq of the PDU they acted on. */
  faultEvents = $state.raw<FaultTraceEvent[]>([]);
  faultMarks = $state.raw<ReadonlyMap<number, FaultTraceEvent>>(new Map());
  connections = $state.raw<ConnectionInfo[]>([]);
  /** PDUs received per second (updated each second). */
  rate = $state(0);
  received = $state(0);
  /** Bumped when raw bytes someone waits for arrive (see rawFor). */
  rawTick = $state(0);
  /** Where the live trace comes from (the header says so; an upload shows its own banner). */
  source = $state.raw<TraceSource | null>(null);
  /** Set while the page shows an uploaded capture instead of the live trace (see loadOffline). */
  offline = $state.raw<OfflineTrace | null>(null);
  /** The offline capture's gaps by the seq of the PDU that follows each (the timeline marks that row). */
  readonly gapMarks: ReadonlyMap<number, string> = $derived.by(() => {
    const m = new Map<number, string>();
    for (const g of this.offline?.gaps ?? []) m.set(g.seq, m.has(g.seq) ? `${m.get(g.seq)}; ${g.text}` : g.text);
    return m;
  });
  /** Step mode as the gateway reports it (every browser sees the same stage). */
  step = $state.raw<StepState | null>(null);
  /**
   * The worker's sampling (trace-sample.ts): `every` 1 means the page gets every event; above, one task in
   * `every`, because events arrive faster than the page can show them. `showing` is the overall ratio (1 in N),
   * counting what the hub dropped for this page too.
   */
  sampling = $state.raw<SampleState & { showing: number }>({ sampled: false, every: 1, arrivedPerSecond: 0, shownPerSecond: 0, showing: 1 });
  /** Live events not shown because the page was offline (the gateway's ring still has them). */
  liveSkipped = $state(0);

  readonly tasks = new Map<number, TaskInfo>();
  private readonly raw = new Map<number, RawPduFrame>();
  /** An uploaded capture's bytes, all of them (bounded by the gateway's upload limit). */
  private offlineRaw = new Map<number, RawPduFrame>();
  /** Asked of the worker, not answered yet. */
  private readonly requestedRaw = new Set<number>();
  /** The worker does not have these (before the page connected, or evicted). */
  private readonly missingRaw = new Set<number>();
  private readonly connMap = new Map<number, ConnectionInfo>();
  private readonly listeners = new Set<Listener>();
  private readonly resetListeners = new Set<() => void>();
  private readonly messageListeners = new Set<(m: HubMessage) => void>();
  private worker: Worker | undefined;
  private statusTimer: ReturnType<typeof setInterval> | undefined;
  private rateCount = 0;
  private stopped = false;
  private readonly batches = new AfterInput<{ json: string; dropped: number }>(INPUT_QUIET_MS, (b) => this.onBatch(b.json, b.dropped));

  constructor(private readonly url = Lab.defaultUrl()) {}

  static defaultUrl(): string {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    return `${proto}//${location.host}/ws`;
  }

  start(): () => void {
    this.stopped = false;
    const stopInput = this.batches.listen();
    this.open();
    const rateTimer = setInterval(() => {
      this.rate = this.rateCount;
      this.rateCount = 0;
    }, 1000);
    this.statusTimer = setInterval(() => this.requestStatus(), STATUS_EVERY_MS);
    // The HTTP status answers even before the socket is up (and if WebSockets are blocked).
    void this.refreshStatus();
    void this.refreshStep();
    return () => {
      this.stopped = true;
      clearInterval(rateTimer);
      clearInterval(this.statusTimer);
      stopInput();
      this.worker?.postMessage({ type: 'close' } satisfies ToWorker);
      this.worker?.terminate();
    };
  }

  onAppend(fn: Listener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Messages of the hub outside the trace (follow mode); step messages are handled here. */
  onMessage(fn: (m: HubMessage) => void): () => void {
    this.messageListeners.add(fn);
    return () => this.messageListeners.delete(fn);
  }

  /** Sends a JSON message to the hub (follow mode). False while the socket is down. */
  send(message: WsClientMessage): boolean {
    if (!this.connected || !this.worker) return false;
    this.worker.postMessage({ type: 'send', data: JSON.stringify(message) } satisfies ToWorker);
    return true;
  }

  /** Keeps the newest step state: an HTTP answer may arrive after the /ws message that followed it. */
  setStep(s: StepState): void {
    if (!this.step || s.version >= this.step.version) this.step = s;
  }

  async refreshStep(): Promise<void> {
    try {
      this.setStep(await getStep());
    } catch {
      // an older gateway without step mode: the step bar stays hidden
    }
  }

  onReset(fn: () => void): () => void {
    this.resetListeners.add(fn);
    return () => this.resetListeners.delete(fn);
  }

  async refreshStatus(): Promise<void> {
    try {
      // Older gateways have no /api/source: the trace is then the target's own.
      if (!this.source) this.source = await getSource().catch((): TraceSource => ({ kind: 'target' }));
      this.status = await getStatus();
    } catch (err) {
      if (!this.connected) this.connectionError = err instanceof Error ? err.message : String(err);
    }
  }

  requestStatus(): void {
    if (this.connected) this.worker?.postMessage({ type: 'send', data: JSON.stringify({ type: 'status' } satisfies WsClientMessage) } satisfies ToWorker);
    else void this.refreshStatus();
  }

  /**
   * Raw wire bytes of a PDU. The worker holds them: the first call asks for them and returns undefined, and
   * `rawTick` moves when they arrive (read it in the same derived/effect to re-run).
   */
  rawFor(seq: number): RawPduFrame | undefined {
    if (this.offline) return this.offlineRaw.get(seq);
    const r = this.raw.get(seq);
    if (r) return r;
    if (!this.requestedRaw.has(seq) && !this.missingRaw.has(seq) && this.worker) {
      this.requestedRaw.add(seq);
      this.worker.postMessage({ type: 'raw', seqs: [seq] } satisfies ToWorker);
    }
    return undefined;
  }

  /** True once the worker said it has no bytes for this PDU. */
  rawMissing(seq: number): boolean {
    void this.rawTick;
    if (this.offline) return !this.offlineRaw.has(seq);
    return this.missingRaw.has(seq);
  }

  pduBySeq(seq: number): PduTraceEvent | undefined {
    // Binary search: pdus are in seq order.
    const a = this.pdus;
    let lo = 0;
    let hi = a.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const s = a[mid]!.seq;
      if (s === seq) return a[mid];
      if (s < seq) lo = mid + 1;
      else hi = mid - 1;
    }
    return undefined;
  }

  connection(id: number): ConnectionInfo | undefined {
    return this.connMap.get(id);
  }

  /** Forgets everything kept in the browser (the server's ring is untouched). */
  clear(): void {
    this.forgetLocal();
    this.worker?.postMessage({ type: 'forget' } satisfies ToWorker);
  }

  /** clear() without the worker's raw bytes (a new snapshot: the worker replaced them itself). */
  private forgetLocal(): void {
    this.pdus = [];
    this.storeEvents = [];
    this.sessionEvents = [];
    this.faultEvents = [];
    this.faultMarks = new Map();
    this.tasks.clear();
    this.raw.clear();
    this.requestedRaw.clear();
    this.missingRaw.clear();
    this.forgotten = 0;
    this.received = 0;
    for (const fn of this.resetListeners) fn();
  }

  /**
   * Shows an uploaded capture instead of the live trace: timeline, inspector and stepper then work on it as on live
   * PDUs. Live batches are skipped (counted) until goLive(), which reloads the live trace from the gateway's ring.
   */
  loadOffline(trace: OfflineTrace, events: readonly TraceEvent[], raw: ReadonlyMap<number, RawPduFrame>): void {
    this.clear();
    this.connMap.clear();
    this.connections = [];
    this.offline = trace;
    this.offlineRaw = new Map(raw);
    this.liveSkipped = 0;
    this.ingest(events);
    this.rawTick++;
  }

  goLive(): void {
    if (!this.offline) return;
    this.offline = null;
    this.offlineRaw = new Map();
    this.clear();
    this.connMap.clear();
    this.connections = [];
    // A fresh snapshot: header null makes onSnapshot load the ring as a new trace.
    this.header = null;
    this.worker?.postMessage({ type: 'reconnect' } satisfies ToWorker);
  }

  // ---- the socket (in a worker: see trace-worker.ts) ----------------------------------------------------------

  private open(): void {
    if (this.stopped) return;
    const w = new Worker(new URL('./trace-worker.ts', import.meta.url), { type: 'module', name: 'trace' });
    this.worker = w;
    w.onmessage = (e: MessageEvent<FromWorker>) => this.fromWorker(e.data);
    w.onerror = (e) => {
      this.connectionError = `trace worker failed: ${e.message}`;
    };
    w.postMessage({ type: 'connect', url: this.url } satisfies ToWorker);
  }

  private fromWorker(m: FromWorker): void {
    switch (m.type) {
      case 'open':
        this.connected = true;
        this.connectionError = null;
        void this.refreshStep();
        break;
      case 'message':
        if (m.message.type === 'step') this.setStep(m.message.step);
        for (const fn of this.messageListeners) fn(m.message);
        break;
      case 'closed':
        this.connected = false;
        break;
      case 'error':
        this.connectionError = m.message;
        break;
      case 'snapshot':
        this.batches.drain(true); // what came before the snapshot goes in before it (seq order)
        this.onSnapshot(m.message);
        break;
      case 'status':
        this.status = m.status;
        break;
      case 'batch':
        this.batches.push({ json: m.json, dropped: m.dropped });
        break;
      case 'sample': {
        const st = m.state;
        const ratio = st.shownPerSecond > 0 ? Math.round(st.arrivedPerSecond / st.shownPerSecond) : st.every;
        this.sampling = { ...st, showing: st.sampled ? Math.max(1, st.every, ratio) : 1 };
        break;
      }
      case 'raw':
        for (const f of m.frames) this.keepRaw(f);
        for (const seq of m.missing) {
          this.requestedRaw.delete(seq);
          this.missingRaw.add(seq);
        }
        this.rawTick++;
        break;
    }
  }

  private onBatch(json: string, dropped: number): void {
    this.droppedByHub = dropped;
    if (this.offline) {
      this.liveSkipped++;
      return;
    }
    let events: TraceEvent[];
    try {
      events = JSON.parse(json) as TraceEvent[];
    } catch {
      return;
    }
    if (events.length) this.ingest(events);
  }

  private onSnapshot(s: SnapshotMessage): void {
    if (s.schema !== TRACE_SCHEMA_VERSION) {
      this.connectionError = `the gateway speaks trace schema ${s.schema}, this page knows ${TRACE_SCHEMA_VERSION}`;
      return;
    }
    if (this.offline) return;
    const sameTrace = this.header !== null && this.header.startWallMs === s.header.startWallMs;
    this.header = s.header;
    this.status = s.status;
    this.serverStats = s.stats;
    if (!sameTrace) {
      this.forgetLocal();
      this.connMap.clear();
      this.connections = [];
      this.ingest(s.events);
    } else {
      // A reconnect to the same trace: keep what we had, add what we missed.
      const last = this.pdus.at(-1)?.seq ?? -1;
      this.ingest(s.events.filter((e) => e.seq > last));
    }
  }

  private keepRaw(frame: RawPduFrame): void {
    this.requestedRaw.delete(frame.seq);
    this.raw.set(frame.seq, frame);
    if (this.raw.size > MAX_RAW_CACHED) this.raw.delete(this.raw.keys().next().value!);
  }

  private ingest(events: readonly TraceEvent[]): void {
    const added: PduTraceEvent[] = [];
    const store: StoreTraceEvent[] = [];
    const sessions: SessionTraceEvent[] = [];
    const faults: FaultTraceEvent[] = [];
    let connectionsChanged = false;
    for (const e of events) {
      switch (e.type) {
        case 'pdu': {
          added.push(e);
          this.track(e);
          if (!this.connMap.has(e.connectionId)) {
            const i2t = e.direction === 'i2t';
            this.connMap.set(e.connectionId, {
              id: e.connectionId,
              tsih: e.tsih,
              initiatorName: '',
              initiator: i2t ? `${e.tcp.src}:${e.tcp.srcPort}` : `${e.tcp.dst}:${e.tcp.dstPort}`,
              target: i2t ? `${e.tcp.dst}:${e.tcp.dstPort}` : `${e.tcp.src}:${e.tcp.srcPort}`,
            });
            connectionsChanged = true;
          } else if (e.tsih && this.connMap.get(e.connectionId)!.tsih !== e.tsih) {
            this.connMap.get(e.connectionId)!.tsih = e.tsih;
            connectionsChanged = true;
          }
          const keys = e.keys;
          if (keys && e.opcode === IscsiOpcode.LoginRequest) {
            const name = keys.find(([k]) => k === 'InitiatorName')?.[1];
            const c = this.connMap.get(e.connectionId);
            if (name && c && c.initiatorName !== name) {
              c.initiatorName = name;
              connectionsChanged = true;
            }
          }
          break;
        }
        case 'store':
          store.push(e);
          break;
        case 'session': {
          sessions.push(e);
          const c = this.connMap.get(e.connectionId);
          if (c && e.initiatorName && c.initiatorName !== e.initiatorName) {
            c.initiatorName = e.initiatorName;
            connectionsChanged = true;
          }
          break;
        }
        case 'fault':
          faults.push(e);
          break;
        case 'drop':
          this.droppedByRecorder += e.dropped;
          break;
        default:
          break;
      }
    }
    if (store.length) this.storeEvents = capped(this.storeEvents, store, MAX_SIDE_EVENTS);
    if (sessions.length) this.sessionEvents = capped(this.sessionEvents, sessions, MAX_SIDE_EVENTS);
    if (faults.length) {
      this.faultEvents = capped(this.faultEvents, faults, MAX_SIDE_EVENTS);
      const marks = new Map(this.faultMarks);
      for (const f of faults) if (f.pduSeq !== undefined) marks.set(f.pduSeq, f);
      this.faultMarks = marks;
    }
    if (connectionsChanged) this.connections = [...this.connMap.values()];
    if (!added.length) return;
    this.rateCount += added.length;
    this.received += added.length;
    let next = this.pdus.concat(added);
    if (next.length > MAX_PDUS) {
      const cut = next.length - MAX_PDUS + TRIM_PDUS;
      next = next.slice(cut);
      this.forgotten += cut;
      this.forgetTasksBefore(next[0]!.seq);
      this.pdus = next;
      for (const fn of this.resetListeners) fn();
      return;
    }
    this.pdus = next;
    for (const fn of this.listeners) fn(added);
  }

  private track(e: PduTraceEvent): void {
    if (e.taskId === undefined) return;
    let t = this.tasks.get(e.taskId);
    if (!t) {
      const itt = e.fields.InitiatorTaskTag;
      t = {
        id: e.taskId,
        connectionId: e.connectionId,
        itt: typeof itt === 'number' ? itt : undefined,
        first: e,
        scsi: e.scsi,
        pdus: [],
        latencyNs: undefined,
      };
      this.tasks.set(e.taskId, t);
    }
    t.pdus.push(e);
    if (e.scsi && (!t.scsi || e.scsi.status !== undefined)) t.scsi = e.opcode === IscsiOpcode.ScsiCommand ? e.scsi : { ...t.scsi, ...e.scsi };
    if (e.latencyNs !== undefined) t.latencyNs = e.latencyNs;
  }

  private forgetTasksBefore(seq: number): void {
    for (const [id, t] of this.tasks) if ((t.pdus.at(-1)?.seq ?? 0) < seq) this.tasks.delete(id);
  }
}

function capped<T>(old: T[], add: T[], max: number): T[] {
  const next = old.concat(add);
  return next.length > max ? next.slice(next.length - max) : next;
}

export const lab = new Lab();
