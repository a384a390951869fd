/**
 * A capture file of any size -> files on disk the gateway pages from, without holding the capture in memory:
 *
 * - `SPOOL.pdus`: every PDU's wire bytes, back to back, in the order the reader completed them;
 * - `SPOOL.events`: one JSON trace event per line (what the live trace would have shown, correlated by task), in
 *   capture order;
 * - a compact index returned to the caller: per PDU (capture order) its offset and length in `.pdus`, direction,
 *   connection and digests; per event line its offset in `.events`.
 *
 * Runs in a worker thread (capture-indexer.ts) so the target's event loop never waits on it. Two passes: the
 * reader streams packets into `.pdus`; then PDUs are taken back in frame order, described, and written as events.
 */
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { PduDescriber } from '../../shared/trace/describe.ts';
import type { Direction, TcpTuple } from '../../shared/trace/schema.ts';
import { CaptureReader, gapText, type CaptureGap, type CaptureReadOptions } from './read-capture.ts';
import { packetsOfFile } from './packet-file.ts';
import { StatsCollector, type CaptureStats } from './srt.ts';
import type { GapMark } from '../../shared/api/capture.ts';
import { IscsiOpcode, ISCSI_OPCODE_MASK } from '../../shared/protocol/iscsi-opcodes.ts';

const WRITE_BATCH = 4 * 1024 * 1024;
const DIR_T2I = 1;
const HEADER_DIGEST = 2;
const DATA_DIGEST = 4;

export interface CaptureIndex {
  readonly pdus: number;
  /** Per PDU in capture order: offset and length in the `.pdus` file. */
  readonly offsets: Float64Array;
  readonly lengths: Uint32Array;
  /** Per PDU: bit 0 t2i, bit 1 header digest, bit 2 data digest. */
  readonly flags: Uint8Array;
  readonly connections: Uint32Array;
  /** Per event line: start offset in `.events`, plus one final end offset. */
  readonly eventOffsets: Float64Array;
  readonly gaps: CaptureGap[];
  /** Where each gap shows in the event list: before the first PDU read after it on its connection (and direction). */
  readonly gapMarks: GapMark[];
  readonly warnings: string[];
  readonly packets: number;
  readonly tcpPackets: number;
  readonly startWallMs: number;
  /** Service response times per opcode, throughput and IOPS (srt.ts). */
  readonly stats: CaptureStats;
}

export type { GapMark };

/** Finds, PDU by PDU in capture order, the first one after each gap of its connection (and direction, when known). */
class GapMarker {
  private readonly pending = new Map<string, CaptureGap[]>();
  readonly marks: GapMark[] = [];

  constructor(sortedGaps: readonly CaptureGap[]) {
    for (const g of sortedGaps) {
      const k = `${g.connectionId}:${g.direction ?? '*'}`;
      const q = this.pending.get(k);
      if (q) q.push(g);
      else this.pending.set(k, [g]);
    }
  }

  pdu(seq: number, connectionId: number, direction: Direction, frame: number): void {
    if (this.pending.size === 0) return;
    for (const k of [`${connectionId}:${direction}`, `${connectionId}:*`]) {
      const q = this.pending.get(k);
      while (q && q.length > 0 && frame >= q[0]!.frame) this.marks.push({ seq, text: gapText(q.shift()!) });
    }
  }
}

/** Grows a typed array by doubling. */
class Grow<T extends Float64Array | Uint32Array | Uint8Array> {
  n = 0;
  constructor(
    public a: T,
    private readonly make: (n: number) => T,
  ) {}
  push(v: number): void {
    if (this.n === this.a.length) {
      const b = this.make(this.a.length * 2);
      b.set(this.a);
      this.a = b;
    }
    this.a[this.n++] = v;
  }
  done(): T {
    return this.a.slice(0, this.n) as T;
  }
}

/** Buffered appends to a file descriptor. */
class Appender {
  private parts: Uint8Array[] = [];
  private size = 0;
  written = 0;
  constructor(private readonly fd: number) {}
  append(b: Uint8Array): number {
    const at = this.written + this.size;
    this.parts.push(b);
    this.size += b.length;
    if (this.size >= WRITE_BATCH) this.flush();
    return at;
  }
  flush(): void {
    if (this.size === 0) return;
    const all = Buffer.concat(this.parts, this.size);
    let o = 0;
    while (o < all.length) o += writeSync(this.fd, all, o, all.length - o);
    this.written += this.size;
    this.parts = [];
    this.size = 0;
  }
}

export function indexCapture(path: string, spool: string, opts: CaptureReadOptions = {}): CaptureIndex {
  const pdusFd = openSync(`${spool}.pdus`, 'w+');
  const eventsFd = openSync(`${spool}.events`, 'w');
  try {
    const out = new Appender(pdusFd);
    const offsets = new Grow(new Float64Array(1024), (n) => new Float64Array(n));
    const lengths = new Grow(new Uint32Array(1024), (n) => new Uint32Array(n));
    const frames = new Grow(new Uint32Array(1024), (n) => new Uint32Array(n));
    const flags = new Grow(new Uint8Array(1024), (n) => new Uint8Array(n));
    const conns = new Grow(new Uint32Array(1024), (n) => new Uint32Array(n));
    const times = new Grow(new Float64Array(1024), (n) => new Float64Array(n));
    const walls = new Grow(new Float64Array(1024), (n) => new Float64Array(n));
    const tuples = new Grow(new Uint32Array(1024), (n) => new Uint32Array(n));
    const tupleIds = new Map<string, number>();
    const tupleList: TcpTuple[] = [];
    const gaps: CaptureGap[] = [];
    const reader = new CaptureReader(
      (p) => {
        offsets.push(out.append(p.bytes));
        lengths.push(p.bytes.length);
        frames.push(p.frame);
        flags.push((p.direction === 't2i' ? DIR_T2I : 0) | (p.headerDigest ? HEADER_DIGEST : 0) | (p.dataDigest ? DATA_DIGEST : 0));
        conns.push(p.connectionId);
        times.push(p.timeNs);
        walls.push(p.wallMs);
        const k = `${p.tcp.src}|${p.tcp.srcPort}|${p.tcp.dst}|${p.tcp.dstPort}`;
        let t = tupleIds.get(k);
        if (t === undefined) {
          tupleIds.set(k, (t = tupleList.length));
          tupleList.push(p.tcp);
        }
        tuples.push(t);
      },
      (g) => gaps.push(g),
      opts,
    );
    for (const pkt of packetsOfFile(path)) reader.packet(pkt);
    const warnings = reader.finish();
    out.flush();
    const n = offsets.n;
    // Capture order: by the frame that completed each PDU, ties in the order they completed.
    const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => frames.a[a]! - frames.a[b]! || a - b);
    gaps.sort((a, b) => a.frame - b.frame);
    for (const g of gaps) warnings.push(gapText(g));
    const marker = new GapMarker(gaps);

    const sorted = {
      offsets: new Float64Array(n),
      lengths: new Uint32Array(n),
      flags: new Uint8Array(n),
      connections: new Uint32Array(n),
    };
    const events = new Appender(eventsFd);
    const eventOffsets = new Float64Array(n + 1);
    const describer = new PduDescriber();
    const stats = new StatsCollector();
    const tsih = new Map<number, number>();
    const enc = new TextEncoder();
    for (let seq = 0; seq < n; seq++) {
      const i = order[seq]!;
      sorted.offsets[seq] = offsets.a[i]!;
      sorted.lengths[seq] = lengths.a[i]!;
      sorted.flags[seq] = flags.a[i]!;
      sorted.connections[seq] = conns.a[i]!;
      const bytes = Buffer.allocUnsafe(lengths.a[i]!);
      readSync(pdusFd, bytes, 0, bytes.length, offsets.a[i]!);
      const f = flags.a[i]!;
      const hd = (f & HEADER_DIGEST) !== 0;
      const bhs = bytes.subarray(0, 48);
      const conn = conns.a[i]!;
      // The TSIH is known from the Login Response that completes the session (RFC 7143 11.13).
      if ((bhs[0]! & ISCSI_OPCODE_MASK) === IscsiOpcode.LoginResponse) tsih.set(conn, (bhs[14]! << 8) | bhs[15]!);
      const ahs = bhs[4]! * 4;
      const dataLength = (bhs[5]! << 16) | (bhs[6]! << 8) | bhs[7]!;
      const dataStart = 48 + ahs + (hd ? 4 : 0);
      const direction: Direction = f & DIR_T2I ? 't2i' : 'i2t';
      marker.pdu(seq, conn, direction, frames.a[i]!);
      stats.add({ connectionId: conn, bhs, timeNs: times.a[i]!, dataHead: bytes.subarray(dataStart, dataStart + dataLength) });
      if ((bhs[0]! & ISCSI_OPCODE_MASK) === IscsiOpcode.ScsiCommand) stats.addImmediate(times.a[i]!, dataLength);
      const event = describer.describe({
        seq,
        timeNs: times.a[i]!,
        wallMs: walls.a[i]!,
        direction,
        connectionId: conn,
        tsih: tsih.get(conn) ?? 0,
        tcp: tupleList[tuples.a[i]!]!,
        headerDigest: hd,
        dataDigest: (f & DATA_DIGEST) !== 0,
        bhs,
        data: bytes.subarray(dataStart, dataStart + dataLength),
        rawLength: bytes.length,
      });
      eventOffsets[seq] = events.append(enc.encode(`${JSON.stringify(event)}\n`));
    }
    events.flush();
    eventOffsets[n] = events.written;
    const s = reader.summary;
    return {
      pdus: n,
      ...sorted,
      eventOffsets,
      gaps,
      gapMarks: marker.marks,
      warnings,
      packets: s.packets,
      tcpPackets: s.tcpPackets,
      startWallMs: n > 0 ? walls.a[order[0]!]! : Date.now(),
      stats: stats.result(),
    };
  } finally {
    closeSync(pdusFd);
    closeSync(eventsFd);
  }
}
