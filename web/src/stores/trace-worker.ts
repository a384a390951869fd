/**
 * The trace socket, off the main thread. The hub sends the raw PDUs of each batch as one binary message (a few a
 * second even at thousands of PDUs a second); receiving them is cheap for a worker and expensive for the page's
 * main thread, where each message is a task that delays clicks and rendering. This worker owns the /ws connection, posts the page a few coalesced
 * batches a second (the hub's JSON text as it came: parsing once on the page is cheaper than cloning objects), and
 * keeps the raw PDU bytes itself, bounded, handing over the few the page asks for (the inspected PDU, the stepper's).
 *
 * Sampling: when events arrive faster than a page can show them (SAMPLE_ABOVE a second, counting those the hub
 * already dropped for this page), the worker forwards whole tasks only, one task in N (trace-sample.ts), and tells
 * the page N: the timeline then says so ("showing 1 in N; full trace in the capture") instead of freezing. It goes
 * back to every event once the rate stays below SAMPLE_BELOW. The parsing and the choice happen here, off the page.
 */
import type { RawPduFrame } from '../../../shared/trace/schema.ts';
import { decodeRawMessage } from '../../../shared/trace/raw-batch.ts';
import { Sampler, type SampleState } from './trace-sample.ts';
import type { LabStatus } from '../../../shared/api/status.ts';
import { WS_EVENTS_PREFIX, type WsPresenterMessage, type WsServerMessage, type WsSnapshotMessage, type WsStepMessage } from '../../../shared/api/ws.ts';

export type ToWorker =
  | { type: 'connect'; url: string }
  | { type: 'send'; data: string }
  | { type: 'close' }
  /** Raw bytes of these PDUs, please (answered with a 'raw' message; unknown seqs are listed as missing). */
  | { type: 'raw'; seqs: number[] }
  | { type: 'forget' }
  /** Drop the socket and connect again (a fresh snapshot), e.g. back from an offline capture. */
  | { type: 'reconnect' };

export type FromWorker =
  | { type: 'open' }
  | { type: 'closed' }
  | { type: 'error'; message: string }
  /** The hub's snapshot, as sent (events already parsed). */
  | { type: 'snapshot'; message: WsSnapshotMessage }
  | { type: 'status'; status: LabStatus }
  /** Messages outside the trace (step mode, follow mode), parsed, for the page's own handlers. */
  | { type: 'message'; message: WsStepMessage | WsPresenterMessage }
  /** The events to show, as one JSON array text (the page parses it once), and the hub's dropped count. */
  | { type: 'batch'; json: string; count: number; dropped: number }
  /** The sampling state changed (or its figures moved): see trace-sample.ts. */
  | { type: 'sample'; state: SampleState }
  | { type: 'raw'; frames: RawPduFrame[]; missing: number[] };

/** Raw bytes kept in the worker (the page asks for the few it shows). */
export const MAX_RAW_BYTES = 64 * 1024 * 1024;

/** How often the page hears from the worker while traffic flows. */
const FLUSH_MS = 250;
/** ...and while it shows a sample: each batch costs the page a render, and a sample need not be fresher. */
const SAMPLED_FLUSH_MS = 1_000;
const RECONNECT_MIN_MS = 500;
const RECONNECT_MAX_MS = 5_000;

const scope = self as unknown as { postMessage(m: FromWorker, transfer?: Transferable[]): void; onmessage: ((e: MessageEvent<ToWorker>) => void) | null };

let url = '';
let ws: WebSocket | undefined;
let stopped = false;
let reconnectMs = RECONNECT_MIN_MS;
/** Events kept for the page since the last flush. */
let pending: unknown[] = [];
/** The hub's running count of events it dropped for this page. */
let hubDropped = 0;
/** The hub's running count of events its sampling left out. */
let hubSampled = 0;
const sampler = new Sampler();
const raw = new Map<number, RawPduFrame>();
let rawBytes = 0;

function post(m: FromWorker, transfer?: Transferable[]): void {
  scope.postMessage(m, transfer);
}

let lastFlush = 0;

function flush(force = false): void {
  if (!pending.length) return;
  const now = Date.now();
  if (!force && sampler.state.sampled && now - lastFlush < SAMPLED_FLUSH_MS) return;
  lastFlush = now;
  post({ type: 'batch', json: JSON.stringify(pending), count: pending.length, dropped: hubDropped });
  pending = [];
}

/** One hub 'events' message: counted for the rate, sampled, queued for the page. */
function onEvents(text: string): void {
  let msg: { events?: { seq: number; taskId?: number; type: string }[]; dropped?: number; sampled?: number };
  try {
    msg = JSON.parse(text) as typeof msg;
  } catch {
    return;
  }
  const events = msg.events ?? [];
  const dropped = typeof msg.dropped === 'number' ? msg.dropped : hubDropped;
  // the hub's own sampling (ws-hub.ts sampleEvents): events it left out for everyone, counted like drops here
  const sampled = typeof msg.sampled === 'number' ? msg.sampled : hubSampled;
  sampler.arrived(events.length, Math.max(0, dropped - hubDropped) + Math.max(0, sampled - hubSampled));
  hubDropped = dropped;
  hubSampled = sampled;
  for (const e of events) if (sampler.keep(e)) pending.push(e);
}

/** Once a second: the arrival rate decides whether the page gets everything or a sample. */
function tickRate(): void {
  const changed = sampler.tick();
  if (changed) post({ type: 'sample', state: sampler.state });
}

function keep(frame: RawPduFrame): void {
  raw.set(frame.seq, frame);
  rawBytes += frame.bytes.length;
  while (rawBytes > MAX_RAW_BYTES && raw.size > 1) {
    const [seq, old] = raw.entries().next().value!;
    raw.delete(seq);
    rawBytes -= old.bytes.length;
  }
}

function answerRaw(seqs: readonly number[]): void {
  const frames: RawPduFrame[] = [];
  const missing: number[] = [];
  for (const seq of seqs) {
    const f = raw.get(seq);
    if (f) frames.push({ ...f, bytes: f.bytes.slice() });
    else missing.push(seq);
  }
  post(
    { type: 'raw', frames, missing },
    frames.map((f) => f.bytes.buffer as ArrayBuffer),
  );
}

function open(): void {
  if (stopped) return;
  let sock: WebSocket;
  try {
    sock = new WebSocket(url);
  } catch (err) {
    post({ type: 'error', message: err instanceof Error ? err.message : String(err) });
    retry();
    return;
  }
  sock.binaryType = 'arraybuffer';
  ws = sock;
  sock.onopen = () => {
    reconnectMs = RECONNECT_MIN_MS;
    hubDropped = 0; // the hub counts drops (and sampled-out events) per connection
    hubSampled = 0;
    post({ type: 'open' });
  };
  sock.onclose = () => {
    if (ws !== sock) return;
    flush(true);
    post({ type: 'closed' });
    retry();
  };
  sock.onerror = () => post({ type: 'error', message: 'WebSocket error (is the gateway running?)' });
  sock.onmessage = (m: MessageEvent) => {
    if (ws !== sock) return; // a socket replaced by 'reconnect' may still deliver a last message
    if (m.data instanceof ArrayBuffer) {
      try {
        // One message holds the raw bytes of a whole hub batch; the frames are views into it.
        for (const f of decodeRawMessage(new Uint8Array(m.data))) keep(f);
      } catch {
        // a frame this page cannot read: skip it, the JSON event still shows
      }
      return;
    }
    if (typeof m.data !== 'string') return;
    const head = m.data.slice(0, 24);
    if (head.startsWith(WS_EVENTS_PREFIX)) {
      onEvents(m.data);
      return;
    }
    // The hub's messages are the contract's (shared/api/ws.ts); one of another type is left alone.
    let msg: WsServerMessage;
    try {
      msg = JSON.parse(m.data) as WsServerMessage;
    } catch {
      return;
    }
    if (msg.type === 'events') onEvents(m.data);
    else if (msg.type === 'snapshot') {
      flush(true);
      // A snapshot starts the raw bytes over: the frames that follow it are the ones its events need (and seqs of
      // an earlier trace, before a gateway restart, would collide).
      raw.clear();
      rawBytes = 0;
      post({ type: 'snapshot', message: msg });
    } else if (msg.type === 'status') {
      post({ type: 'status', status: msg.status });
    } else if (msg.type === 'step' || msg.type === 'presenter') {
      post({ type: 'message', message: msg });
    }
  };
}

function retry(): void {
  if (stopped) return;
  setTimeout(open, reconnectMs);
  reconnectMs = Math.min(reconnectMs * 2, RECONNECT_MAX_MS);
}

setInterval(() => flush(), FLUSH_MS);
setInterval(tickRate, 1000);

scope.onmessage = (e: MessageEvent<ToWorker>) => {
  const m = e.data;
  if (m.type === 'connect') {
    url = m.url;
    stopped = false;
    open();
  } else if (m.type === 'send') {
    if (ws?.readyState === WebSocket.OPEN) ws.send(m.data);
  } else if (m.type === 'close') {
    stopped = true;
    ws?.close();
  } else if (m.type === 'raw') {
    answerRaw(m.seqs);
  } else if (m.type === 'reconnect') {
    const old = ws;
    ws = undefined;
    old?.close();
    pending = [];
    hubDropped = 0;
    hubSampled = 0;
    raw.clear();
    rawBytes = 0;
    open();
  } else if (m.type === 'forget') {
    raw.clear();
    rawBytes = 0;
  }
};
