import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { TraceItem, TraceRecorder } from '../trace/recorder.ts';
import { TRACE_SCHEMA_VERSION } from '../../shared/trace/schema.ts';
import { encodeRawBatch, type RawFrameInput } from '../../shared/trace/raw-batch.ts';
import { Presentation } from './follow.ts';
import type { LabStatus } from '../../shared/api/status.ts';
import { encodeWsEventsParts, encodeWsMessage, type WsServerMessage } from '../../shared/api/ws.ts';

export interface WsHubOptions {
  server: Server;
  recorder: TraceRecorder;
  status: () => LabStatus;
  /** How often queued events go out (a few frames a second even at 10k PDUs/s). */
  batchMs?: number;
  /** Live raw frames keep at most this many bytes of each PDU; captures keep everything. */
  liveRawBytes?: number;
  /** Above this many unsent bytes on a socket, a batch is dropped (and counted) instead of queued. */
  maxBufferedBytes?: number;
  /** Events in the snapshot a new client gets. */
  snapshotEvents?: number;
  /**
   * Most events per batch (the newest; the rest are counted as dropped). 1000 per 200 ms (~2.5k PDUs/s and their
   * SCSI and store events) is more than anyone reads live; under a flood, describing and sending 2000 cost the
   * target a fifth of its random-read rate.
   */
  batchEvents?: number;
  /**
   * Above batchEvents events in a batch the hub sends a sample of whole tasks instead (one task in N, N a power of
   * two so a task kept at 2N was kept at N too), about this many events a batch: a browser shown 5k PDUs a second
   * has no time left for its user, and describing fewer PDUs leaves the target more. Back to everything once
   * batches stay under half of batchEvents for a second.
   */
  sampleEvents?: number;
  /** Origins allowed besides the server's own host (e.g. Vite's dev server). */
  extraOrigins?: readonly string[];
  /** The gateway's token check (required when it listens beyond loopback); default: everyone. */
  authorize?: (req: IncomingMessage, url: URL) => boolean;
  /** The gateway's Host check (request-guard.ts): the reason a foreign Host is refused, else undefined. */
  hostRefusal?: (req: IncomingMessage) => string | undefined;
}

/** Largest binary message of raw frames (a batch over it is split). */
const RAW_BATCH_BYTES = 1024 * 1024;

interface Client {
  ws: WebSocket;
  droppedTotal: number;
  sampledTotal: number;
}

/** Smallest power of two >= n (n >= 1). */
const pow2 = (n: number): number => 2 ** Math.ceil(Math.log2(Math.max(1, n)));

/**
 * The /ws hub: each browser gets a snapshot (status, recent trace), then batched live events as JSON text frames
 * and the batch's raw PDU bytes as binary messages (shared/trace/raw-batch.ts). Every batchMs the hub pulls the
 * newest events from the recorder once and sends the same encoded batch to every browser, so a classroom of
 * browsers costs one describe and one JSON encoding per event. A slow browser never slows the target: a batch it
 * cannot take (too much unsent on its socket) is dropped for it and counted. Besides the trace: step mode's state
 * (broadcast) and follow mode's presenter (follow.ts).
 */
export class WsHub {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  private readonly clients = new Set<Client>();
  private readonly timer: NodeJS.Timeout;
  /** Seq of the newest event already sent (or skipped) to the browsers: a new one's snapshot ends here. */
  private cursor = -1;
  /** The hub's task sampling: 1 sends everything; see sampleEvents. */
  private every = 1;
  private calmBatches = 0;
  private readonly opts: Required<Omit<WsHubOptions, 'extraOrigins' | 'authorize' | 'hostRefusal'>> & {
    extraOrigins: readonly string[];
    authorize: (req: IncomingMessage, url: URL) => boolean;
    hostRefusal: (req: IncomingMessage) => string | undefined;
  };
  /** Follow mode: which browser presents, relayed to the others. */
  private readonly presentation = new Presentation<WebSocket>(
    (m, except) => this.broadcast(m, except),
    (to, m) => this.send(to, m),
  );

  constructor(options: WsHubOptions) {
    this.opts = {
      batchMs: 200,
      liveRawBytes: 4096,
      maxBufferedBytes: 8 * 1024 * 1024,
      snapshotEvents: 2000,
      batchEvents: 1000,
      sampleEvents: 200,
      extraOrigins: [],
      authorize: () => true,
      hostRefusal: () => undefined,
      ...options,
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
    // A foreign Host first: a rebound DNS name would otherwise pass the Origin check (page and Host agree).
    const refusal =
      url.pathname !== '/ws'
        ? '404 Not Found'
        : this.opts.hostRefusal(req)
          ? '421 Misdirected Request'
          : !this.originAllowed(req)
            ? '403 Forbidden'
            : !this.opts.authorize(req, url)
              ? '401 Unauthorized'
              : undefined;
    if (refusal) {
      socket.end(`HTTP/1.1 ${refusal}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.attach(ws));
  }

  private attach(ws: WebSocket): void {
    const recorder = this.opts.recorder;
    // Nobody was watching: the live stream starts now.
    if (this.clients.size === 0) this.cursor = recorder.lastSeq;
    const { items } = recorder.collect(-1, this.cursor, this.opts.snapshotEvents);
    const events = items.map((i) => i.event);
    const stats = recorder.stats();
    this.send(ws, { type: 'snapshot', schema: TRACE_SCHEMA_VERSION, header: recorder.header, status: this.opts.status(), events, stats });
    for (const raw of this.rawBatches(items)) ws.send(raw);
    const client: Client = { ws, droppedTotal: 0, sampledTotal: 0 };
    this.clients.add(client);
    ws.on('close', () => this.detach(client));
    ws.on('error', () => this.detach(client));
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      let msg: unknown;
      try {
        msg = JSON.parse(String(data));
      } catch {
        this.send(ws, { type: 'error', error: 'messages must be JSON' });
        return;
      }
      const type = (msg as { type?: unknown }).type;
      if (type === 'status') this.send(ws, { type: 'status', status: this.opts.status() });
      else if (type === 'present') {
        const m = msg as { state?: unknown; token?: unknown };
        const error = this.presentation.present(ws, m.state ?? null, m.token);
        if (error) this.send(ws, { type: 'error', error });
      }
    });
    this.presentation.welcome(ws);
  }

  /** One message to one browser, if its socket is still open (shared/api/ws.ts encodes it). */
  private send(to: WebSocket, message: WsServerMessage): void {
    if (to.readyState === to.OPEN) to.send(encodeWsMessage(message));
  }

  /** One JSON message to every browser (step state, follow mode), outside the trace batches. */
  broadcast(message: WsServerMessage, except?: WebSocket): void {
    const text = encodeWsMessage(message);
    for (const c of this.clients) if (c.ws !== except && c.ws.readyState === c.ws.OPEN) c.ws.send(text);
  }

  private detach(client: Client): void {
    if (!this.clients.delete(client)) return;
    this.presentation.left(client.ws);
  }

  /** The items' raw PDU frames in as few binary messages as fit RAW_BATCH_BYTES each (shared/trace/raw-batch.ts). */
  private rawBatches(items: readonly TraceItem[]): Uint8Array[] {
    const max = this.opts.liveRawBytes;
    const out: Uint8Array[] = [];
    let frames: RawFrameInput[] = [];
    let bytes = 0;
    for (const item of items) {
      const e = item.event;
      if (e.type !== 'pdu' || !item.raw || item.raw.length === 0) continue;
      frames.push({ seq: e.seq, direction: e.direction, headerDigest: e.headerDigest, dataDigest: e.dataDigest, bytes: item.raw });
      bytes += Math.min(item.raw.length, max) + 16;
      if (bytes >= RAW_BATCH_BYTES) {
        out.push(encodeRawBatch(frames, max));
        frames = [];
        bytes = 0;
      }
    }
    if (frames.length) out.push(encodeRawBatch(frames, max));
    return out;
  }

  private flush(): void {
    const recorder = this.opts.recorder;
    const upTo = recorder.lastSeq;
    if (this.clients.size === 0 || upTo === this.cursor) {
      this.cursor = upTo;
      this.chooseSampling(0); // a quiet batch counts towards ending the sampling
      return;
    }
    this.chooseSampling(upTo - this.cursor);
    const { items, skipped, sampledOut } = recorder.collect(this.cursor, upTo, this.opts.batchEvents, this.every);
    this.cursor = upTo;
    // Encoded once for everyone; each browser's message differs only in its own dropped count, sent as the first
    // fragment of the message so the shared part is not copied per browser.
    const parts = encodeWsEventsParts(items.map((i) => i.event));
    const shared = Buffer.from(parts.tail);
    const raws = this.rawBatches(items);
    for (const c of this.clients) {
      if (c.ws.readyState !== c.ws.OPEN) continue;
      c.sampledTotal += sampledOut;
      if (c.ws.bufferedAmount > this.opts.maxBufferedBytes) {
        // The browser is not keeping up: drop this batch rather than buffer without bound.
        c.droppedTotal += items.length + skipped;
        continue;
      }
      c.droppedTotal += skipped;
      c.ws.send(parts.head({ dropped: c.droppedTotal, sampled: c.sampledTotal, every: this.every }), { binary: false, fin: false });
      c.ws.send(shared, { binary: false, fin: true });
      for (const raw of raws) c.ws.send(raw);
    }
  }

  /** Sampling on above batchEvents events a batch, off after a second of batches under half of it (no flapping). */
  private chooseSampling(count: number): void {
    const { batchEvents, sampleEvents } = this.opts;
    if (count > batchEvents || (this.every > 1 && count > batchEvents / 2)) {
      this.calmBatches = 0;
      this.every = Math.max(this.every > 1 ? 2 : 1, pow2(count / sampleEvents));
      return;
    }
    if (this.every > 1 && ++this.calmBatches * this.opts.batchMs >= 1000) {
      this.every = 1;
      this.calmBatches = 0;
    }
  }

  close(): void {
    clearInterval(this.timer);
    this.presentation.close();
    for (const c of [...this.clients]) {
      c.ws.terminate();
      this.detach(c);
    }
    this.wss.close();
  }
}
