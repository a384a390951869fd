/**
 * pcapng export of a trace.
 *
 * Writer: SHB, one IDB (LINKTYPE_ETHERNET, if_tsresol 9 = nanoseconds), then per PDU one or more EPBs carrying
 * synthesized Ethernet/IPv4/TCP. Each TCP direction keeps its own sequence counter advancing by payload length;
 * data segments are ACK|PSH with ack = the other direction's next sequence; a PDU longer than the MSS spans
 * several segments (Wireshark reassembles them). The target side's port is written as 3260 whatever it really
 * was, because Wireshark finds iSCSI by port (preference iscsi.target_ports). Each connection starts with a
 * synthetic three-way handshake so TCP analysis sees a clean stream. The first segment of each PDU carries an
 * opt_comment naming it.
 *
 * Reading captures (pcap, pcapng, any link type, resynchronisation after loss) is server/capture/.
 */
import type { Direction, PduTraceEvent, TcpTuple } from '../../shared/trace/schema.ts';
import { buildTcpFrame, ipv4Bytes, LINKTYPE_ETHERNET, TCP_ACK, TCP_FIN, TCP_PSH, TCP_SYN } from './packets.ts';
import type { RecordedPdu } from './recorder.ts';
import { ISCSI_PORT, MSS, modelInitiatorPort, segmentSizes } from '../../shared/protocol/tcp-framing.ts';

/** The target side's port and the payload bytes per segment: the lab's one framing model (tcp-framing.ts). */
export { ISCSI_PORT };
export const DEFAULT_MSS = MSS;

const BLOCK_SHB = 0x0a0d0d0a;
const BLOCK_IDB = 0x00000001;
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
