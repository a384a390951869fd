/**
 * `iscsi-lab proxy`: any initiator to any real target (Debian's tgt, LIO, a SAN), relayed byte for byte. The
 * relay is two pipes; nothing is parsed on the data path. While someone listens to the taps (a TraceRecorder, and
 * through it a pcapng capture), each direction's bytes are also copied into a PduSplitter (server/capture) that
 * cuts them into PDUs, following the login's digest negotiation, and emitted as the same PduEvents the lab's own
 * target emits: the trace, capture and statistics code cannot tell the difference.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { ConnectionAddress, PduEvent, SessionEvent } from '../iscsi/events.ts';
import { Tap } from '../taps/tap.ts';
import type { IscsiTapSource } from '../trace/recorder.ts';
import { PduSplitter } from '../capture/pdu-splitter.ts';
import { negotiateDigests, type DigestNegotiation } from '../capture/read-capture.ts';
import { BHS_LENGTH } from '../../shared/protocol/iscsi.ts';
import { IscsiOpcode, ISCSI_OPCODE_MASK } from '../../shared/protocol/iscsi-opcodes.ts';

export interface Endpoint {
  readonly host: string;
  readonly port: number;
}

export interface ProxyOptions {
  readonly listen: Endpoint;
  readonly target: Endpoint;
  /** How long connecting to the target may take before the initiator's connection is dropped (default 10 s). */
  readonly connectTimeoutMs?: number;
}

const TSIH_OFFSET = 14;
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

export class IscsiProxy implements IscsiTapSource {
  readonly taps = { pdu: new Tap<PduEvent>('proxy.pdu'), session: new Tap<SessionEvent>('proxy.session') };
  /** Connections relayed so far. */
  connections = 0;
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly listening: Endpoint,
    private readonly opts: ProxyOptions,
  ) {}

  static async start(opts: ProxyOptions): Promise<IscsiProxy> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.listen.port, opts.listen.host, () => resolve());
    });
    const a = server.address();
    const port = a && typeof a === 'object' ? a.port : opts.listen.port;
    const proxy = new IscsiProxy(server, { host: opts.listen.host, port }, opts);
    server.on('connection', (s) => proxy.relay(s));
    return proxy;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  private relay(client: Socket): void {
    const id = this.connections++;
    const upstream = connect({ host: this.opts.target.host, port: this.opts.target.port });
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.setNoDelay(true);
      s.once('close', () => this.sockets.delete(s));
    }
    const timer = setTimeout(
      () =>
        upstream.destroy(
          new Error(`no connection to ${this.opts.target.host}:${this.opts.target.port} within ${this.opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS} ms`),
        ),
      this.opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    );
    upstream.once('connect', () => clearTimeout(timer));
    // Byte for byte, both ways, with backpressure: the relay itself never looks at the bytes.
    client.pipe(upstream);
    upstream.pipe(client);
    const end = (err?: Error): void => {
      clearTimeout(timer);
      client.destroy();
      upstream.destroy();
      if (err && this.taps.session.active) this.session('protocol-error', id, address(), 0, err.message);
    };
    client.once('error', end);
    upstream.once('error', end);
    client.once('close', () => end());
    upstream.once('close', () => end());

    // The address as the lab's target would report it: local = target side, remote = initiator.
    const address = (): ConnectionAddress => ({
      localAddress: this.opts.target.host,
      localPort: this.opts.target.port,
      remoteAddress: client.remoteAddress ?? '',
      remotePort: client.remotePort ?? 0,
    });
    const neg: DigestNegotiation = { digests: { headerDigest: false, dataDigest: false, known: true }, offered: {} };
    let tsih = 0;
    const sink = (dir: 'in' | 'out') => ({
      pdu: (bytes: Uint8Array) => {
        const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
        const ahs = b[4]! * 4;
        const dataLength = b.readUIntBE(5, 3);
        const { headerDigest, dataDigest } = neg.digests;
        const dataStart = BHS_LENGTH + ahs + (headerDigest ? 4 : 0);
        const pdu = { bhs: b.subarray(0, BHS_LENGTH), ahs: b.subarray(BHS_LENGTH, BHS_LENGTH + ahs), data: b.subarray(dataStart, dataStart + dataLength) };
        if ((b[0]! & ISCSI_OPCODE_MASK) === IscsiOpcode.LoginResponse) tsih = b.readUInt16BE(TSIH_OFFSET);
        this.taps.pdu.emit({ direction: dir, connectionId: id, tsih, address: address(), timeNs: process.hrtime.bigint(), pdu, headerDigest, dataDigest });
        // Digests change after the final Login Response, for the PDUs that follow it (RFC 7143 13.1).
        negotiateDigests(neg, b, pdu.data);
      },
      gap: () => undefined,
    });
    const i2t = new PduSplitter(sink('in'), neg.digests, 'i2t', true);
    const t2i = new PduSplitter(sink('out'), neg.digests, 't2i', true);
    let frame = 0;
    client.on('data', (chunk: Buffer) => {
      if (this.taps.pdu.active) i2t.push(chunk, ++frame, 0n);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (this.taps.pdu.active) t2i.push(chunk, ++frame, 0n);
    });
    upstream.once('connect', () => {
      if (this.taps.session.active) this.session('connected', id, address(), 0, `relayed to ${this.opts.target.host}:${this.opts.target.port}`);
    });
  }

  private session(kind: SessionEvent['kind'], connectionId: number, address: ConnectionAddress, tsih: number, detail: string): void {
    this.taps.session.emit({ kind, connectionId, tsih, initiatorName: '', address, timeNs: process.hrtime.bigint(), detail });
  }
}
