/**
 * Packets -> iSCSI PDUs. Every TCP connection in the capture is a candidate, whatever its ports: a side on one
 * of `targetPorts` (3260 by default) is taken as the target, any other connection is iSCSI if its bytes are
 * (plausible PDUs lining up, pdu-splitter.ts). Each direction is reassembled (tcp-stream.ts) and cut into PDUs;
 * digests are honoured from the point the login negotiated them (RFC 7143 13.1: the final Login Response), or
 * found by hunting when the login was not captured. Lost bytes become gaps, reported where they happened.
 *
 * `CaptureReader` is the streaming core (PDUs and gaps go to callbacks as they complete, in roughly capture
 * order: a PDU completed by a segment held behind a hole comes out when the hole is declared). `readCapture`
 * collects everything for files that fit in memory and puts it in frame order.
 */
import { crc32c } from '../iscsi/crc32c.ts';
import { BHS_LENGTH, pduLengths } from '../../shared/protocol/iscsi.ts';
import { parseTextPairs } from '../../shared/protocol/text-keys.ts';
import type { Direction, TcpTuple } from '../../shared/trace/schema.ts';
import { parseTcpSegment } from './frames.ts';
import { packetsOf, type Packet } from './packet-file.ts';
import { PduSplitter, type ConnectionDigests, type SplitGap } from './pdu-splitter.ts';
import { TcpStream } from './tcp-stream.ts';
import { IscsiOpcode, ISCSI_OPCODE_MASK } from '../../shared/protocol/iscsi-opcodes.ts';

export const ISCSI_PORT = 3260;
/** A connection on no known iSCSI port that shows no PDU within this many bytes is taken for something else. */
export const CONTENT_DETECTION_BYTES = 4 * 1024 * 1024;

const TCP_SYN = 0x02;
const TCP_RST = 0x04;
const TCP_ACK = 0x10;
const STAGE_FULL_FEATURE = 3;

export interface CapturedPdu {
  /** Order in the capture (by the frame that completed the PDU). */
  readonly index: number;
  /** 1-based number of the frame that completed the PDU (Wireshark's frame.number). */
  readonly frame: number;
  /** ns since the first packet of the capture. */
  readonly timeNs: number;
  /** ms since the Unix epoch. */
  readonly wallMs: number;
  readonly direction: Direction;
  /** One id per TCP connection, in order of appearance. */
  readonly connectionId: number;
  readonly tcp: TcpTuple;
  readonly headerDigest: boolean;
  readonly dataDigest: boolean;
  /** Wire bytes: BHS, AHS, header digest, data, padding, data digest. */
  readonly bytes: Uint8Array;
  readonly bhs: Uint8Array;
  readonly ahs: Uint8Array;
  readonly data: Uint8Array;
  /** false when a digest is present and wrong. */
  readonly digestsOk: boolean;
}

/** Bytes of one direction of a connection that the capture lacks or that could not be cut into PDUs. */
export interface CaptureGap {
  readonly connectionId: number;
  readonly direction: Direction | undefined;
  readonly tcp: TcpTuple;
  readonly lostBytes: number;
  readonly skippedBytes: number;
  readonly reason: string;
  /** Frame where reading resumed (or the last frame); PDUs from this frame on come after the gap. */
  readonly frame: number;
  readonly timeNs: number;
}

export interface CaptureReadOptions {
  /** Ports that mark the target side (default [3260]); other connections are recognised by content. */
  targetPorts?: readonly number[];
}

export interface CaptureSummary {
  readonly packets: number;
  readonly tcpPackets: number;
  readonly connections: number;
  readonly warnings: string[];
}

export interface CaptureResult extends CaptureSummary {
  readonly pdus: CapturedPdu[];
  readonly gaps: CaptureGap[];
}

interface Connection {
  readonly id: number;
  readonly digests: ConnectionDigests;
  /** Latest single value seen for each digest key during login. */
  readonly offered: { HeaderDigest?: string; DataDigest?: string };
  readonly streams: Map<string, Flow>;
  /** Gaps wait here until the connection proves to be iSCSI. */
  pendingGaps: CaptureGap[];
  iscsi: boolean;
}

interface Flow {
  readonly key: string;
  readonly conn: Connection;
  readonly tcp: TcpTuple;
  readonly stream: TcpStream;
  readonly splitter: PduSplitter;
}

export class CaptureReader {
  private readonly targetPorts: Set<number>;
  private readonly flows = new Map<string, Flow>();
  private readonly conns = new Map<string, Connection>();
  private connCount = 0;
  private firstNs: bigint | undefined;
  private lastFrame = 0;
  private lastNs = 0n;
  private tcpPackets = 0;
  private pduCount = 0;

  constructor(
    private readonly onPdu: (pdu: CapturedPdu) => void,
    private readonly onGap: (gap: CaptureGap) => void,
    opts: CaptureReadOptions = {},
  ) {
    this.targetPorts = new Set(opts.targetPorts ?? [ISCSI_PORT]);
  }

  packet(pkt: Packet): void {
    const frame = ++this.lastFrame;
    this.firstNs ??= pkt.timeNs;
    this.lastNs = pkt.timeNs;
    const seg = parseTcpSegment(pkt.data, pkt.linkType);
    if (!seg) return;
    this.tcpPackets++;
    const key = `${seg.src}|${seg.srcPort}>${seg.dst}|${seg.dstPort}`;
    let flow = this.flows.get(key);
    const syn = (seg.flags & TCP_SYN) !== 0;
    if (!flow || (syn && flow.stream.started && !flow.stream.sameSyn(seg.seq))) flow = this.newFlow(key, seg, syn && !(seg.flags & TCP_ACK));
    if (syn) {
      flow.stream.syn(seg.seq);
      return;
    }
    if (seg.flags & TCP_ACK) {
      const back = this.flows.get(`${seg.dst}|${seg.dstPort}>${seg.src}|${seg.srcPort}`);
      if (back?.conn === flow.conn) back.stream.acknowledged(seg.ack);
    }
    if (seg.flags & TCP_RST) return;
    flow.stream.segment(seg.seq, seg.payload, frame, pkt.timeNs);
  }

  /** End of the capture: holes are given up, streams flushed; returns the warnings. */
  finish(): string[] {
    const warnings: string[] = [];
    for (const f of this.flows.values()) f.stream.finish();
    for (const f of this.flows.values()) {
      const left = f.splitter.end(this.lastFrame, this.lastNs);
      if (left > 0 && f.conn.iscsi) warnings.push(`${describe(f.tcp)}: the last ${left} bytes do not make a whole PDU (the capture ends mid-PDU)`);
    }
    return warnings;
  }

  get summary(): { packets: number; tcpPackets: number; connections: number; pdus: number } {
    let connections = 0;
    for (const c of new Set([...this.flows.values()].map((f) => f.conn))) if (c.iscsi) connections++;
    return { packets: this.lastFrame, tcpPackets: this.tcpPackets, connections, pdus: this.pduCount };
  }

  private newFlow(key: string, seg: { src: string; srcPort: number; dst: string; dstPort: number }, opening: boolean): Flow {
    const connKey = [`${seg.src}|${seg.srcPort}`, `${seg.dst}|${seg.dstPort}`].sort().join('/');
    let conn = this.conns.get(connKey);
    if (!conn || opening) {
      conn = {
        id: this.connCount++,
        digests: { headerDigest: false, dataDigest: false, known: opening },
        offered: {},
        streams: new Map(),
        pendingGaps: [],
        iscsi: false,
      };
      this.conns.set(connKey, conn);
    }
    const direction: Direction | undefined = this.targetPorts.has(seg.dstPort) ? 'i2t' : this.targetPorts.has(seg.srcPort) ? 't2i' : undefined;
    const tcp: TcpTuple = { src: seg.src, srcPort: seg.srcPort, dst: seg.dst, dstPort: seg.dstPort };
    const c = conn;
    // A stream whose SYN we saw starts at a PDU boundary, also when only the SYN/ACK side was captured opening.
    const atBoundary = c.digests.known;
    let flow: Flow | undefined;
    const splitter = new PduSplitter(
      { pdu: (bytes, dir, frame, timeNs) => this.emit(flow!, bytes, dir, frame, timeNs), gap: (g) => this.gap(flow!, g) },
      c.digests,
      direction,
      atBoundary,
      direction ? Infinity : CONTENT_DETECTION_BYTES,
    );
    flow = { key, conn: c, tcp, stream: new TcpStream(splitter), splitter };
    c.streams.set(key, flow);
    this.flows.set(key, flow);
    return flow;
  }

  private gap(flow: Flow, g: SplitGap): void {
    const gap: CaptureGap = {
      connectionId: flow.conn.id,
      direction: flow.splitter.direction,
      tcp: flow.tcp,
      lostBytes: g.lostBytes,
      skippedBytes: g.skippedBytes,
      reason: g.reason,
      frame: g.frame,
      timeNs: Number(g.timeNs - this.firstNs!),
    };
    if (flow.conn.iscsi) this.onGap(gap);
    else flow.conn.pendingGaps.push(gap);
  }

  private emit(flow: Flow, bytes: Uint8Array, direction: Direction, frame: number, timeNs: bigint): void {
    const c = flow.conn;
    if (!c.iscsi) {
      c.iscsi = true;
      for (const g of c.pendingGaps) this.onGap(g);
      c.pendingGaps = [];
    }
    const { headerDigest, dataDigest } = c.digests;
    const L = pduLengths(bytes, headerDigest, dataDigest);
    const headerEnd = BHS_LENGTH + L.ahs;
    const dataStart = headerEnd + L.headerDigest;
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let ok = true;
    if (L.headerDigest && crc32c(bytes.subarray(0, headerEnd)) !== dv.getUint32(headerEnd, true)) ok = false;
    const dataEnd = dataStart + L.data + L.padding;
    if (L.dataDigest && crc32c(bytes.subarray(dataStart, dataEnd)) !== dv.getUint32(dataEnd, true)) ok = false;
    const data = bytes.subarray(dataStart, dataStart + L.data);
    this.onPdu({
      index: this.pduCount++,
      frame,
      timeNs: Number(timeNs - this.firstNs!),
      wallMs: Number(timeNs / 1000n) / 1000,
      direction,
      connectionId: c.id,
      tcp: flow.tcp,
      headerDigest,
      dataDigest,
      bytes,
      bhs: bytes.subarray(0, BHS_LENGTH),
      ahs: bytes.subarray(BHS_LENGTH, headerEnd),
      data,
      digestsOk: ok,
    });
    negotiateDigests(c, bytes, data);
  }
}

/** What a connection's login has said so far about digests. */
export interface DigestNegotiation {
  readonly digests: ConnectionDigests;
  /** Latest single value seen for each digest key during login. */
  readonly offered: { HeaderDigest?: string; DataDigest?: string };
}

/**
 * Follows digest negotiation through Login PDUs (`bytes`: the PDU, `data`: its data segment): the keys take effect
 * after the final Login Response (RFC 7143 13.1, 11.13).
 */
export function negotiateDigests(c: DigestNegotiation, bytes: Uint8Array, data: Uint8Array): void {
  const opcode = bytes[0]! & ISCSI_OPCODE_MASK;
  if (opcode !== IscsiOpcode.LoginRequest && opcode !== IscsiOpcode.LoginResponse) return;
  for (const k of parseTextPairs(data)) {
    if ((k.key === 'HeaderDigest' || k.key === 'DataDigest') && !k.value.includes(',')) c.offered[k.key] = k.value;
  }
  const transit = (bytes[1]! & 0x80) !== 0;
  const nsg = bytes[1]! & 0x03;
  const statusClass = bytes[36];
  if (opcode === IscsiOpcode.LoginResponse && transit && nsg === STAGE_FULL_FEATURE && statusClass === 0) {
    c.digests.headerDigest = c.offered.HeaderDigest === 'CRC32C';
    c.digests.dataDigest = c.offered.DataDigest === 'CRC32C';
    c.digests.known = true;
  }
}

const describe = (t: TcpTuple): string => `${t.src}:${t.srcPort} -> ${t.dst}:${t.dstPort}`;

/** Reads a whole capture held in memory; PDUs and gaps in frame order. */
export function readCapture(file: Uint8Array | Iterable<Uint8Array>, opts: CaptureReadOptions = {}): CaptureResult {
  const pdus: CapturedPdu[] = [];
  const gaps: CaptureGap[] = [];
  const reader = new CaptureReader(
    (p) => pdus.push(p),
    (g) => gaps.push(g),
    opts,
  );
  for (const pkt of packetsOf(file instanceof Uint8Array ? [file] : file)) reader.packet(pkt);
  const warnings = reader.finish();
  // Segments held behind a hole complete their PDUs late: put everything back in capture order.
  const ordered = pdus
    .map((p, i) => [p, i] as const)
    .sort((a, b) => a[0].frame - b[0].frame || a[1] - b[1])
    .map(([p], index) => ({ ...p, index }));
  gaps.sort((a, b) => a.frame - b.frame);
  for (const g of gaps) warnings.push(gapText(g));
  const s = reader.summary;
  return { pdus: ordered, gaps, warnings, packets: s.packets, tcpPackets: s.tcpPackets, connections: s.connections };
}

/** One line for a gap: where, what was lost, why. */
export function gapText(g: CaptureGap): string {
  const what = g.lostBytes > 0 ? `${g.lostBytes} bytes missing from the capture` : g.reason;
  const skipped = g.skippedBytes > 0 ? `, ${g.skippedBytes} captured bytes skipped to find the next PDU` : '';
  return `gap in connection ${g.connectionId} ${g.direction ?? ''} (${describe(g.tcp)}) before frame ${g.frame}: ${what}${skipped}`.replace('  ', ' ');
}
