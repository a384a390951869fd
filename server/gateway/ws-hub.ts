import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { TraceQueue, type TraceRecorder } from '../trace/recorder.ts';
import { TRACE_SCHEMA_VERSION } from '../../shared/trace/schema.ts';
import { encodeRawBatch, type RawFrameInput } from '../../shared/trace/raw-batch.ts';
import { Presentation } from './follow.ts';

export interface WsHubOptions {
  server: Server;
  recorder: TraceRecorder;
  status: () => unknown;
  /** How often queued events go out (a few frames a second even at 10k PDUs/s). */
  batchMs?: number;
  /** Live raw frames keep at most this many bytes of each PDU; captures keep everything. */
  liveRawBytes?: number;
  /** Above this many unsent bytes on a socket, a batch is dropped (and counted) instead of queued. */
  maxBufferedBytes?: number;
  /** Events in the snapshot a new client gets. */
  snapshotEvents?: number;
  /** Origins allowed besides the server's own host (e.g. Vite's dev server). */
  extraOrigins?: readonly string[];
  /** The gateway's token check (required when it listens beyond loopback); default: everyone. */
  authorize?: (req: IncomingMessage, url: URL) => boolean;
}

/** Largest binary message of raw frames (a batch over it is split). */
const RAW_BATCH_BYTES = 1024 * 1024;

interface Client {
  ws: WebSocket;
  queue: TraceQueue;
  unsubscribe: () => void;
  droppedTotal: number;
}

/**
 * The /ws hub: each browser gets a snapshot (status, recent trace), then batched live events as JSON text frames
 * and the batch's raw PDU bytes as one binary message (shared/trace/raw-batch.ts). A slow browser never slows the target: its queue is bounded, and batches it
 * cannot take are dropped and the count reported to it. Besides the trace: step mode's state (broadcast) and
 * follow mode's presenter (follow.ts).
 */
export class WsHub {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  private readonly clients = new Set<Client>();
  private readonly timer: NodeJS.Timeout;
  private readonly opts: Required<Omit<WsHubOptions, 'extraOrigins' | 'authorize'>> & { extraOrigins: readonly string[]; authorize: (req: IncomingMessage, url: URL) => boolean };
  /** Follow mode: which browser presents, relayed to the others. */
  private readonly presentation = new Presentation<WebSocket>(
    (m, except) => this.broadcast(m, except),
    (to, m) => {
      if (to.readyState === to.OPEN) to.send(JSON.stringify(m));
    },
  );

  constructor(options: WsHubOptions) {
    this.opts = {
      batchMs: 200, liveRawBytes: 4096, maxBufferedBytes: 8 * 1024 * 1024, snapshotEvents: 2000, extraOrigins: [], authorize: () => true, ...options,
    };
    options.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.upgrade(req, socket, head));
    this.timer = setInterval(() => this.flush(), this.opts.batchMs);
    this.timer.unref();
  }

  get clientCount(): number {
    return this.clients.size;
  }

  /** Browsers may connect from the lab's own page only (or configured dev origins): no cross-site snooping. */
  private originAllowed(req: IncomingMessage): boolean {
    const origin = req.headers.origin;
    if (origin === undefined) return true; // non-browser clients (tests, curl) send none
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      return false;
    }
    return url.host === req.headers.host || this.opts.extraOrigins.includes(origin);
  }

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const refusal = url.pathname !== '/ws' ? '404 Not Found' : !this.originAllowed(req) ? '403 Forbidden' : !this.opts.authorize(req, url) ? '401 Unauthorized' : undefined;
    if (refusal) {
      socket.end(`HTTP/1.1 ${refusal}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.attach(ws));
  }

  private attach(ws: WebSocket): void {
    const queue = new TraceQueue();
    const snapshot = this.opts.recorder.snapshot(this.opts.snapshotEvents);
    const events = snapshot.events;
    ws.send(JSON.stringify({ type: 'snapshot', schema: TRACE_SCHEMA_VERSION, header: snapshot.header, status: this.opts.status(), events, stats: snapshot.stats }));
    const first = events.find((e) => e.type === 'pdu')?.seq ?? Infinity;
    const raws: RawFrameInput[] = [];
    for (const p of this.opts.recorder.recent()) {
      const e = p.event;
      if (e.seq >= first && p.raw.length) raws.push({ seq: e.seq, direction: e.direction, headerDigest: e.headerDigest, dataDigest: e.dataDigest, bytes: p.raw });
    }
    this.sendRaw(ws, raws);
    const client: Client = { ws, queue, unsubscribe: this.opts.recorder.subscribe(queue.consumer), droppedTotal: 0 };
    this.clients.add(client);
    ws.on('close', () => this.detach(client));
    ws.on('error', () => this.detach(client));
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      let msg: unknown;
      try {
        msg = JSON.parse(String(data));
      } catch {
        ws.send(JSON.stringify({ type: 'error', error: 'messages must be JSON' }));
        return;
      }
      const type = (msg as { type?: unknown }).type;
      if (type === 'status') ws.send(JSON.stringify({ type: 'status', status: this.opts.status() }));
      else if (type === 'present') {
        const error = this.presentation.present(ws, (msg as { state?: unknown }).state ?? null);
        if (error) ws.send(JSON.stringify({ type: 'error', error }));
      }
    });
    this.presentation.welcome(ws);
  }

  /** One JSON message to every browser (step state, follow mode), outside the trace batches. */
  broadcast(message: unknown, except?: WebSocket): void {
    const text = JSON.stringify(message);
    for (const c of this.clients) if (c.ws !== except && c.ws.readyState === c.ws.OPEN) c.ws.send(text);
  }

  private detach(client: Client): void {
    if (!this.clients.delete(client)) return;
    client.unsubscribe();
    this.presentation.left(client.ws);
  }

  /** Raw PDU frames in as few binary messages as fit RAW_BATCH_BYTES each (shared/trace/raw-batch.ts). */
  private sendRaw(ws: WebSocket, frames: readonly RawFrameInput[]): void {
    const max = this.opts.liveRawBytes;
    let from = 0;
    let bytes = 0;
    for (let i = 0; i < frames.length; i++) {
      bytes += Math.min(frames[i]!.bytes.length, max) + 16;
      if (bytes >= RAW_BATCH_BYTES || i === frames.length - 1) {
        ws.send(encodeRawBatch(frames.slice(from, i + 1), max));
        from = i + 1;
        bytes = 0;
      }
    }
  }

  private flush(): void {
    for (const c of this.clients) {
      const { events, dropped } = c.queue.drain();
      if (events.length === 0 && dropped === 0) continue;
      if (c.ws.bufferedAmount > this.opts.maxBufferedBytes) {
        // The browser is not keeping up: drop this batch rather than buffer without bound.
        c.droppedTotal += events.length + dropped;
        continue;
      }
      c.droppedTotal += dropped;
      c.ws.send(JSON.stringify({ type: 'events', events: events.map((e) => e.event), dropped: c.droppedTotal }));
      const raws: RawFrameInput[] = [];
      for (const e of events) {
        const ev = e.event;
        if (ev.type === 'pdu' && e.raw) raws.push({ seq: ev.seq, direction: ev.direction, headerDigest: ev.headerDigest, dataDigest: ev.dataDigest, bytes: e.raw });
      }
      this.sendRaw(c.ws, raws);
    }
  }

  close(): void {
    clearInterval(this.timer);
    for (const c of [...this.clients]) {
      c.ws.terminate();
      this.detach(c);
    }
    this.wss.close();
  }
}
