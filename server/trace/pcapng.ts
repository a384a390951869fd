/**
 * pcapng export of a trace, and pcapng / classic pcap import for replay.
 *
 * Writer: SHB, one IDB (LINKTYPE_ETHERNET, if_tsresol 9 = nanoseconds), then per PDU one or more EPBs carrying
 * synthesized Ethernet/IPv4/TCP. Each TCP direction keeps its own sequence counter advancing by payload length;
 * data segments are ACK|PSH with ack = the other direction's next sequence; a PDU longer than the MSS spans
 * several segments (Wireshark reassembles them). The target side's port is written as 3260 whatever it really
 * was, because Wireshark finds iSCSI by port (preference iscsi.target_ports). Each connection starts with a
 * synthetic three-way handshake so TCP analysis sees a clean stream. The first segment of each PDU carries an
 * opt_comment naming it.
 *
 * Reader: pcapng (any byte order, EPB/SPB, several interfaces) and classic pcap (µs and ns), Ethernet (with
 * VLAN tags), raw IPv4, Linux cooked v1/v2, BSD loopback; IPv4 + TCP only. Each TCP direction's stream is
 * reassembled (retransmissions trimmed, out-of-order segments held) and split into iSCSI PDUs, honouring
 * header and data digests from the point the login negotiated them (RFC 7143 13.1: the final Login Response).
 */
import { crc32c } from '../iscsi/crc32c.ts';
import { BHS_LENGTH, iscsiOpcodeOf, isInitiatorOpcode, pduLengths } from '../../shared/protocol/iscsi.ts';
import { parseTextPairs } from '../../shared/protocol/text-keys.ts';
import { PduDescriber } from '../../shared/trace/describe.ts';
import type { Direction, PduTraceEvent, TcpTuple } from '../../shared/trace/schema.ts';
import {
  buildTcpFrame,
  ipv4Bytes,
  LINKTYPE_ETHERNET,
  parseTcpFrame,
  TCP_ACK,
  TCP_FIN,
  TCP_PSH,
  TCP_RST,
  TCP_SYN,
} from './packets.ts';
import type { RecordedPdu } from './recorder.ts';
import { ISCSI_PORT, MSS, modelInitiatorPort, segmentSizes } from '../../shared/protocol/tcp-framing.ts';

/** The target side's port and the payload bytes per segment: the lab's one framing model (tcp-framing.ts). */
export { ISCSI_PORT };
export const DEFAULT_MSS = MSS;

const BLOCK_SHB = 0x0a0d0d0a;
const BLOCK_IDB = 0x00000001;
const BLOCK_SPB = 0x00000003;
const BLOCK_EPB = 0x00000006;
const BYTE_ORDER_MAGIC = 0x1a2b3c4d;
const OPT_ENDOFOPT = 0;
const OPT_COMMENT = 1;
const OPT_SHB_USERAPPL = 4;
const OPT_IF_NAME = 2;
const OPT_IF_TSRESOL = 9;

const INITIATOR_MAC = new Uint8Array([0x02, 0x00, 0x00, 0x00, 0x00, 0x01]);
const TARGET_MAC = new Uint8Array([0x02, 0x00, 0x00, 0x00, 0x00, 0x02]);

export interface PcapPdu {
  readonly direction: Direction;
  /** Distinguishes TCP connections (their own sequence spaces). */
  readonly connectionId: number;
  /** Sender -> receiver of this PDU. */
  readonly tcp: TcpTuple;
  /** Absolute time, nanoseconds since the Unix epoch. */
  readonly timeNs: bigint;
  /** Wire bytes of the PDU (digests included). */
  readonly bytes: Uint8Array;
  readonly comment?: string;
}

export interface PcapngWriterOptions {
  /** Port written for the target side (default 3260). */
  targetPort?: number;
  mss?: number;
  /** shb_userappl. */
  application?: string;
}

interface ConnState {
  initiatorIp: Uint8Array;
  targetIp: Uint8Array;
  initiatorPort: number;
  /** Next sequence number per direction. */
  i2tSeq: number;
  t2iSeq: number;
  i2tIpId: number;
  t2iIpId: number;
}

const encoder = new TextEncoder();

/** Builds a pcapng file block by block; `toBytes()` joins them. Blocks are little-endian (SHB magic says so). */
export class PcapngWriter {
  private readonly blocks: Uint8Array[] = [];
  private readonly conns = new Map<number, ConnState>();
  private readonly targetPort: number;
  private readonly mss: number;
  /** EPBs written. */
  packets = 0;

  constructor(opts: PcapngWriterOptions = {}) {
    this.targetPort = opts.targetPort ?? ISCSI_PORT;
    this.mss = opts.mss ?? DEFAULT_MSS;
    this.blocks.push(shb(opts.application ?? 'iscsi-lab'));
    this.blocks.push(idb());
  }

  addPdu(p: PcapPdu): void {
    const c = this.connection(p);
    const i2t = p.direction === 'i2t';
    let off = 0;
    for (const n of segmentSizes(p.bytes.length, this.mss)) {
      this.segment(c, i2t, p.timeNs, TCP_ACK | TCP_PSH, p.bytes.subarray(off, off + n), off === 0 ? p.comment : undefined);
      off += n;
    }
  }

  /**
   * A comment-only packet (a bare ACK from the target, no payload) on a connection already written: for notes that
   * arrive after their PDU, such as injected faults. False when the connection has no packets yet.
   */
  addNote(connectionId: number, timeNs: bigint, comment: string): boolean {
    const c = this.conns.get(connectionId);
    if (!c) return false;
    this.segment(c, false, timeNs, TCP_ACK, EMPTY, comment);
    return true;
  }

  /** Closes a connection with FIN from the initiator and the target's FIN/ACK (optional, for tidy streams). */
  closeConnection(connectionId: number, timeNs: bigint): void {
    const c = this.conns.get(connectionId);
    if (!c) return;
    this.segment(c, true, timeNs, TCP_FIN | TCP_ACK, EMPTY, undefined, 1);
    this.segment(c, false, timeNs, TCP_FIN | TCP_ACK, EMPTY, undefined, 1);
    this.segment(c, true, timeNs, TCP_ACK, EMPTY);
    this.conns.delete(connectionId);
  }

  toBytes(): Uint8Array {
    return Buffer.concat(this.blocks);
  }

  /** The blocks written so far (for streaming to a file or response). */
  takeBlocks(): Uint8Array[] {
    return this.blocks.splice(0, this.blocks.length);
  }

  private connection(p: PcapPdu): ConnState {
    let c = this.conns.get(p.connectionId);
    if (c) return c;
    const i2t = p.direction === 'i2t';
    const initiatorIp = ipv4Bytes(i2t ? p.tcp.src : p.tcp.dst);
    const targetIp = ipv4Bytes(i2t ? p.tcp.dst : p.tcp.src);
    const initiatorPort = modelInitiatorPort(i2t ? p.tcp.srcPort : p.tcp.dstPort, p.connectionId, this.targetPort);
    // Deterministic initial sequence numbers keep exports reproducible.
    const isn = (Math.imul(p.connectionId + 1, 0x9e3779b1) >>> 0) & 0x7fffffff;
    c = { initiatorIp, targetIp, initiatorPort, i2tSeq: isn, t2iSeq: (isn ^ 0x5bd1e995) >>> 0, i2tIpId: 1, t2iIpId: 1 };
    this.conns.set(p.connectionId, c);
    // Three-way handshake (RFC 793 3.4): SYN and SYN/ACK each take one sequence number.
    this.segment(c, true, p.timeNs, TCP_SYN, EMPTY, undefined, 1);
    this.segment(c, false, p.timeNs, TCP_SYN | TCP_ACK, EMPTY, undefined, 1);
    this.segment(c, true, p.timeNs, TCP_ACK, EMPTY);
    return c;
  }

  private segment(c: ConnState, i2t: boolean, timeNs: bigint, flags: number, payload: Uint8Array, comment?: string, seqUse = 0): void {
    const seq = i2t ? c.i2tSeq : c.t2iSeq;
    const ackNo = flags & TCP_ACK ? (i2t ? c.t2iSeq : c.i2tSeq) : 0;
    const frame = buildTcpFrame({
      srcMac: i2t ? INITIATOR_MAC : TARGET_MAC,
      dstMac: i2t ? TARGET_MAC : INITIATOR_MAC,
      srcIp: i2t ? c.initiatorIp : c.targetIp,
      dstIp: i2t ? c.targetIp : c.initiatorIp,
      srcPort: i2t ? c.initiatorPort : this.targetPort,
      dstPort: i2t ? this.targetPort : c.initiatorPort,
      seq,
      ack: ackNo,
      flags,
      ipId: i2t ? c.i2tIpId++ : c.t2iIpId++,
      payload,
    });
    const advance = (payload.length + seqUse) >>> 0;
    if (i2t) c.i2tSeq = (c.i2tSeq + advance) >>> 0;
    else c.t2iSeq = (c.t2iSeq + advance) >>> 0;
    this.blocks.push(epb(frame, timeNs, comment));
    this.packets++;
  }
}

const EMPTY = new Uint8Array(0);

function pad4(n: number): number {
  return (n + 3) & ~3;
}

function options(opts: [code: number, value: Uint8Array][]): Uint8Array {
  if (opts.length === 0) return EMPTY;
  const size = opts.reduce((s, [, v]) => s + 4 + pad4(v.length), 0) + 4;
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  let o = 0;
  for (const [code, v] of opts) {
    dv.setUint16(o, code, true);
    dv.setUint16(o + 2, v.length, true);
    out.set(v, o + 4);
    o += 4 + pad4(v.length);
  }
  dv.setUint16(o, OPT_ENDOFOPT, true);
  return out;
}

function block(type: number, body: Uint8Array): Uint8Array {
  const total = 12 + pad4(body.length);
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, type, true);
  dv.setUint32(4, total, true);
  out.set(body, 8);
  dv.setUint32(total - 4, total, true);
  return out;
}

function shb(application: string): Uint8Array {
  const opts = options([[OPT_SHB_USERAPPL, encoder.encode(application)]]);
  const body = new Uint8Array(16 + opts.length);
  const dv = new DataView(body.buffer);
  dv.setUint32(0, BYTE_ORDER_MAGIC, true);
  dv.setUint16(4, 1, true); // major
  dv.setUint16(6, 0, true); // minor
  dv.setBigInt64(8, -1n, true); // section length unknown
  body.set(opts, 16);
  return block(BLOCK_SHB, body);
}

function idb(): Uint8Array {
  const opts = options([
    [OPT_IF_NAME, encoder.encode('iscsi-lab')],
    [OPT_IF_TSRESOL, new Uint8Array([9])],
  ]);
  const body = new Uint8Array(8 + opts.length);
  const dv = new DataView(body.buffer);
  dv.setUint16(0, LINKTYPE_ETHERNET, true);
  dv.setUint32(4, 0, true); // snaplen: no limit
  body.set(opts, 8);
  return block(BLOCK_IDB, body);
}

function epb(frame: Uint8Array, timeNs: bigint, comment?: string): Uint8Array {
  const opts = comment ? options([[OPT_COMMENT, encoder.encode(comment)]]) : EMPTY;
  const body = new Uint8Array(20 + pad4(frame.length) + opts.length);
  const dv = new DataView(body.buffer);
  dv.setUint32(0, 0, true); // interface 0
  dv.setUint32(4, Number((timeNs >> 32n) & 0xffffffffn), true);
  dv.setUint32(8, Number(timeNs & 0xffffffffn), true);
  dv.setUint32(12, frame.length, true);
  dv.setUint32(16, frame.length, true);
  body.set(frame, 20);
  body.set(opts, 20 + pad4(frame.length));
  return block(BLOCK_EPB, body);
}

/** A short note for a PDU's first segment: "#12 SCSI Command READ(10) LBA 0 x8, task 5". */
export function pduComment(e: PduTraceEvent): string {
  let s = `#${e.seq} ${e.opcodeName}`;
  if (e.scsi) {
    s += ` ${e.scsi.opcodeName}`;
    if (e.scsi.lba !== undefined) s += ` LBA ${e.scsi.lba}`;
    if (e.scsi.blocks !== undefined) s += ` x${e.scsi.blocks}`;
    if (e.scsi.statusName) s += ` ${e.scsi.statusName}`;
    if (e.scsi.sense) s += ` ${e.scsi.sense.keyName}: ${e.scsi.sense.text}`;
  }
  if (e.taskId !== undefined) s += `, task ${e.taskId}`;
  if (e.latencyNs !== undefined) s += `, ${(e.latencyNs / 1000).toFixed(1)} us`;
  return s;
}

/** The recorder's ring (or any recorded PDUs) as a pcapng file. PDUs without raw bytes are skipped. */
export function recordedToPcapng(
  pdus: readonly RecordedPdu[],
  startWallMs: number,
  opts: PcapngWriterOptions = {},
  /** Extra comments by PDU seq (injected faults, see TraceRecorder.faultNotes). */
  notes?: ReadonlyMap<number, string>,
): Uint8Array {
  const w = new PcapngWriter(opts);
  const base = BigInt(Math.round(startWallMs)) * 1_000_000n;
  for (const p of pdus) {
    if (p.raw.length === 0 || p.raw.length !== p.event.lengths.total) continue;
    w.addPdu({
      direction: p.event.direction,
      connectionId: p.event.connectionId,
      tcp: p.event.tcp,
      timeNs: base + BigInt(Math.round(p.event.timeNs)),
      bytes: p.raw,
      comment: notes?.has(p.event.seq) ? `${pduComment(p.event)} | ${notes.get(p.event.seq)!}` : pduComment(p.event),
    });
  }
  return w.toBytes();
}

// ---- reading ---------------------------------------------------------------------------------------------------

export interface CapturedPdu {
  /** Order in the capture. */
  readonly index: number;
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

export interface ReadCaptureOptions {
  /** Ports that mark the target side (default [3260]); otherwise the side sending Login Requests is the initiator. */
  targetPorts?: readonly number[];
  /** Named cap on bytes held per direction while waiting for a missing segment. */
  maxPendingBytes?: number;
}

export interface CaptureResult {
  readonly pdus: CapturedPdu[];
  readonly warnings: string[];
  readonly packets: number;
}

export class CaptureFormatError extends Error {}

interface Packet {
  linkType: number;
  /** ns since epoch. */
  timeNs: bigint;
  data: Uint8Array;
}

/** Splits a pcapng or pcap file into packets. */
export function* readPackets(file: Uint8Array): Generator<Packet> {
  if (file.length < 4) throw new CaptureFormatError('file too short for pcap or pcapng');
  const dv = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const magicLE = dv.getUint32(0, true);
  if (magicLE === BLOCK_SHB) {
    yield* readPcapng(file, dv);
    return;
  }
  // Classic pcap: a1b2c3d4 (µs) or a1b23c4d (ns), in either byte order.
  let le: boolean;
  let nano: boolean;
  if (magicLE === 0xa1b2c3d4 || magicLE === 0xa1b23c4d) [le, nano] = [true, magicLE === 0xa1b23c4d];
  else if (dv.getUint32(0, false) === 0xa1b2c3d4 || dv.getUint32(0, false) === 0xa1b23c4d) [le, nano] = [false, dv.getUint32(0, false) === 0xa1b23c4d];
  else throw new CaptureFormatError(`not a pcap or pcapng file (magic 0x${magicLE.toString(16)})`);
  const linkType = dv.getUint32(20, le) & 0x0fffffff;
  for (let o = 24; o + 16 <= file.length; ) {
    const sec = dv.getUint32(o, le);
    const frac = dv.getUint32(o + 4, le);
    const incl = dv.getUint32(o + 8, le);
    if (o + 16 + incl > file.length) break;
    yield { linkType, timeNs: BigInt(sec) * 1_000_000_000n + BigInt(frac) * (nano ? 1n : 1000n), data: file.subarray(o + 16, o + 16 + incl) };
    o += 16 + incl;
  }
}

function* readPcapng(file: Uint8Array, dv: DataView): Generator<Packet> {
  let le = true;
  let ifaces: { linkType: number; unitsPerSecond: bigint }[] = [];
  for (let o = 0; o + 12 <= file.length; ) {
    let type = dv.getUint32(o, le);
    if (dv.getUint32(o, true) === BLOCK_SHB) {
      le = dv.getUint32(o + 8, true) === BYTE_ORDER_MAGIC;
      type = BLOCK_SHB;
      ifaces = [];
    }
    const len = dv.getUint32(o + 4, le);
    if (len < 12 || o + len > file.length) throw new CaptureFormatError(`bad pcapng block length ${len} at offset ${o}`);
    const body = o + 8;
    if (type === BLOCK_IDB) {
      let unitsPerSecond = 1_000_000n;
      for (let p = body + 8; p + 4 <= o + len - 4; ) {
        const code = dv.getUint16(p, le);
        const olen = dv.getUint16(p + 2, le);
        if (code === OPT_ENDOFOPT) break;
        if (code === OPT_IF_TSRESOL && olen >= 1) {
          const r = file[p + 4]!;
          unitsPerSecond = r & 0x80 ? 2n ** BigInt(r & 0x7f) : 10n ** BigInt(r);
        }
        p += 4 + pad4(olen);
      }
      ifaces.push({ linkType: dv.getUint16(body, le), unitsPerSecond });
    } else if (type === BLOCK_EPB) {
      const iface = ifaces[dv.getUint32(body, le)];
      const ts = (BigInt(dv.getUint32(body + 4, le)) << 32n) | BigInt(dv.getUint32(body + 8, le));
      const caplen = dv.getUint32(body + 12, le);
      if (iface) yield { linkType: iface.linkType, timeNs: (ts * 1_000_000_000n) / iface.unitsPerSecond, data: file.subarray(body + 20, body + 20 + caplen) };
    } else if (type === BLOCK_SPB) {
      const iface = ifaces[0];
      const caplen = Math.min(dv.getUint32(body, le), len - 16);
      if (iface) yield { linkType: iface.linkType, timeNs: 0n, data: file.subarray(body + 4, body + 4 + caplen) };
    }
    o += len;
  }
}

/** One direction of one TCP connection: reassembly and PDU splitting. */
interface Flow {
  conn: FlowConn;
  direction: Direction | undefined;
  tcp: TcpTuple;
  nextSeq: number | undefined;
  /** Out-of-order segments by sequence number. */
  pending: Map<number, Uint8Array>;
  pendingBytes: number;
  buffer: Uint8Array[];
  buffered: number;
  broken: boolean;
}

interface FlowConn {
  id: number;
  headerDigest: boolean;
  dataDigest: boolean;
  /** Latest single value seen for each digest key during login. */
  offered: { HeaderDigest?: string; DataDigest?: string };
}

/** Reads a capture and returns its iSCSI PDUs, in the order their last byte arrived. */
export function readCapture(file: Uint8Array, opts: ReadCaptureOptions = {}): CaptureResult {
  const targetPorts = new Set(opts.targetPorts ?? [ISCSI_PORT]);
  const maxPending = opts.maxPendingBytes ?? 64 * 1024 * 1024;
  const flows = new Map<string, Flow>();
  const conns = new Map<string, FlowConn>();
  const pdus: CapturedPdu[] = [];
  const warnings: string[] = [];
  let firstNs: bigint | undefined;
  let packets = 0;

  const emit = (flow: Flow, bytes: Uint8Array, timeNs: bigint) => {
    const c = flow.conn;
    const L = pduLengths(bytes, c.headerDigest, c.dataDigest);
    const opcode = iscsiOpcodeOf(bytes);
    if (!flow.direction) flow.direction = isInitiatorOpcode(opcode) ? 'i2t' : 't2i';
    const headerEnd = BHS_LENGTH + L.ahs;
    const dataStart = headerEnd + L.headerDigest;
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let ok = true;
    if (L.headerDigest && crc32c(bytes.subarray(0, headerEnd)) !== dv.getUint32(headerEnd, true)) ok = false;
    if (L.dataDigest && crc32c(bytes.subarray(dataStart, dataStart + L.data + L.padding)) !== dv.getUint32(dataStart + L.data + L.padding, true)) ok = false;
    const data = bytes.subarray(dataStart, dataStart + L.data);
    pdus.push({
      index: pdus.length,
      timeNs: Number(timeNs - firstNs!),
      wallMs: Number(timeNs / 1000n) / 1000,
      direction: flow.direction,
      connectionId: c.id,
      tcp: flow.tcp,
      headerDigest: c.headerDigest,
      dataDigest: c.dataDigest,
      bytes,
      bhs: bytes.subarray(0, BHS_LENGTH),
      ahs: bytes.subarray(BHS_LENGTH, headerEnd),
      data,
      digestsOk: ok,
    });
    // Digest negotiation (RFC 7143 13.1): keys seen in Login PDUs; they take effect after the final Login Response.
    if (opcode === 0x03 || opcode === 0x23) {
      for (const k of parseTextPairs(data)) {
        if ((k.key === 'HeaderDigest' || k.key === 'DataDigest') && !k.value.includes(',')) c.offered[k.key] = k.value;
      }
      const transit = (bytes[1]! & 0x80) !== 0;
      const nsg = bytes[1]! & 0x03;
      if (opcode === 0x23 && transit && nsg === 3 && bytes[36] === 0) {
        c.headerDigest = c.offered.HeaderDigest === 'CRC32C';
        c.dataDigest = c.offered.DataDigest === 'CRC32C';
      }
    }
  };

  const drain = (flow: Flow, timeNs: bigint) => {
    while (!flow.broken && flow.buffered >= BHS_LENGTH) {
      const head = peek(flow, BHS_LENGTH);
      const total = pduLengths(head, flow.conn.headerDigest, flow.conn.dataDigest).total;
      if (flow.buffered < total) return;
      emit(flow, take(flow, total), timeNs);
    }
  };

  for (const pkt of readPackets(file)) {
    packets++;
    const seg = parseTcpFrame(pkt.data, pkt.linkType);
    if (!seg) continue;
    firstNs ??= pkt.timeNs;
    const key = `${seg.src}:${seg.srcPort}>${seg.dst}:${seg.dstPort}`;
    const connKey = [`${seg.src}:${seg.srcPort}`, `${seg.dst}:${seg.dstPort}`].sort().join('|');
    let flow = flows.get(key);
    if (!flow || (seg.flags & TCP_SYN && flow.nextSeq !== undefined && seg.seq + 1 !== flow.nextSeq)) {
      // New flow (or a new connection reusing the 4-tuple after a SYN).
      let conn = conns.get(connKey);
      if (!conn || (seg.flags & TCP_SYN && !(seg.flags & TCP_ACK))) {
        conn = { id: conns.size, headerDigest: false, dataDigest: false, offered: {} };
        conns.set(connKey, conn);
      }
      const direction: Direction | undefined = targetPorts.has(seg.dstPort) ? 'i2t' : targetPorts.has(seg.srcPort) ? 't2i' : undefined;
      flow = {
        conn, direction, tcp: { src: seg.src, srcPort: seg.srcPort, dst: seg.dst, dstPort: seg.dstPort },
        nextSeq: undefined, pending: new Map(), pendingBytes: 0, buffer: [], buffered: 0, broken: false,
      };
      flows.set(key, flow);
    }
    if (seg.flags & TCP_SYN) {
      flow.nextSeq = (seg.seq + 1) >>> 0;
      continue;
    }
    if (seg.flags & TCP_RST || seg.payload.length === 0) continue;
    flow.nextSeq ??= seg.seq;
    // Place the segment relative to the next expected byte (32-bit wrap-around arithmetic).
    const rel = (seg.seq - flow.nextSeq) | 0;
    let payload = seg.payload;
    if (rel < 0) {
      if (-rel >= payload.length) continue; // pure retransmission
      payload = payload.subarray(-rel);
    } else if (rel > 0) {
      if (!flow.pending.has(seg.seq)) {
        flow.pending.set(seg.seq, payload.slice());
        flow.pendingBytes += payload.length;
        if (flow.pendingBytes > maxPending) {
          warnings.push(`${key}: gave up waiting for a missing segment (over ${maxPending} bytes held)`);
          flow.broken = true;
        }
      }
      continue;
    }
    append(flow, payload);
    // Out-of-order segments that now fit.
    for (let again = true; again && flow.pending.size > 0; ) {
      again = false;
      for (const [s, p] of flow.pending) {
        const r = (s - flow.nextSeq!) | 0;
        if (r > 0) continue;
        flow.pending.delete(s);
        flow.pendingBytes -= p.length;
        if (-r < p.length) append(flow, p.subarray(-r));
        again = true;
      }
    }
    drain(flow, pkt.timeNs);
  }
  for (const [key, f] of flows) {
    if (f.buffered > 0) warnings.push(`${key}: ${f.buffered} bytes at the end do not make a whole PDU`);
    if (f.pending.size > 0) warnings.push(`${key}: ${f.pending.size} segments after a gap never fitted`);
  }
  return { pdus, warnings, packets };
}

function append(flow: Flow, payload: Uint8Array): void {
  flow.buffer.push(payload);
  flow.buffered += payload.length;
  flow.nextSeq = (flow.nextSeq! + payload.length) >>> 0;
}

function peek(flow: Flow, n: number): Uint8Array {
  if (flow.buffer[0]!.length >= n) return flow.buffer[0]!.subarray(0, n);
  return Buffer.concat(flow.buffer).subarray(0, n);
}

/** Takes n bytes as a fresh copy (captures are read once; PDUs outlive the packet views). */
function take(flow: Flow, n: number): Uint8Array {
  const out = new Uint8Array(n);
  let o = 0;
  while (o < n) {
    const c = flow.buffer[0]!;
    const want = n - o;
    if (c.length <= want) {
      out.set(c, o);
      o += c.length;
      flow.buffer.shift();
    } else {
      out.set(c.subarray(0, want), o);
      flow.buffer[0] = c.subarray(want);
      o += want;
    }
  }
  flow.buffered -= n;
  return out;
}

/** Captured PDUs -> trace events (correlated), for the UI or JSON Lines. */
export function captureToEvents(pdus: readonly CapturedPdu[]): PduTraceEvent[] {
  const d = new PduDescriber();
  return pdus.map((p, i) =>
    d.describe({
      seq: i,
      timeNs: p.timeNs,
      wallMs: p.wallMs,
      direction: p.direction,
      connectionId: p.connectionId,
      tsih: 0,
      tcp: p.tcp,
      headerDigest: p.headerDigest,
      dataDigest: p.dataDigest,
      bhs: p.bhs,
      data: p.data,
      rawLength: p.bytes.length,
    }),
  );
}

