/**
 * The overhead meter's arithmetic: what each layer adds around an I/O's payload, for the real PDUs of one task
 * and, with the same framing model (shared/protocol/tcp-framing.ts), for I/O sizes from 512 B to 1 MiB on a
 * 1500- or 9000-byte MTU. Efficiency = payload bytes / frame bytes of both directions (what a capture holds).
 */
import type { PduTraceEvent } from '../../../shared/trace/schema.ts';
import { BHS_LENGTH } from '../../../shared/protocol/iscsi.ts';
import { frameTrip, IPV4_HEADER, TCP_HEADER } from '../../../shared/protocol/tcp-framing.ts';
import { IscsiOpcode } from '../../../shared/protocol/iscsi-opcodes.ts';

/** Bytes of a CDB inside the BHS (RFC 7143 11.3: 16; longer CDBs continue in an AHS). */
const CDB_IN_BHS = 16;

export interface Breakdown {
  /** The I/O's data: immediate data, Data-Out and Data-In segments. */
  readonly payload: number;
  readonly cdb: number;
  /** BHS bytes other than the CDB. */
  readonly bhs: number;
  readonly ahs: number;
  readonly digests: number;
  readonly padding: number;
  /** Data segments that are not the I/O's data (sense data, text keys). */
  readonly otherData: number;
  readonly tcp: number;
  readonly ip: number;
  readonly eth: number;
  readonly pdus: number;
  readonly segments: number;
  readonly frameBytes: number;
  readonly efficiency: number;
}

/** MSS for an Ethernet MTU: what is left after IPv4 and TCP headers without options. */
export const mssFor = (mtu: number): number => mtu - IPV4_HEADER - TCP_HEADER;

interface PduShape {
  readonly opcode: number;
  readonly direction: 'i2t' | 't2i';
  readonly ahs: number;
  readonly digests: number;
  readonly data: number;
  readonly padding: number;
  readonly total: number;
}

function shapeOf(p: PduTraceEvent): PduShape {
  const l = p.lengths;
  return { opcode: p.opcode, direction: p.direction, ahs: l.ahs, digests: l.headerDigest + l.dataDigest, data: l.data, padding: l.padding, total: l.total };
}

function breakdownOfShapes(pdus: readonly PduShape[], mss: number): Breakdown {
  let payload = 0;
  let cdb = 0;
  let ahs = 0;
  let digests = 0;
  let padding = 0;
  let otherData = 0;
  for (const p of pdus) {
    if (p.opcode === IscsiOpcode.ScsiCommand) cdb += CDB_IN_BHS;
    if (p.opcode === IscsiOpcode.ScsiCommand || p.opcode === IscsiOpcode.ScsiDataOut || p.opcode === IscsiOpcode.ScsiDataIn) payload += p.data;
    else otherData += p.data;
    ahs += p.ahs;
    digests += p.digests;
    padding += p.padding;
  }
  const out = frameTrip(
    pdus.filter((p) => p.direction === 'i2t').map((p) => p.total),
    mss,
  );
  const back = frameTrip(
    pdus.filter((p) => p.direction === 't2i').map((p) => p.total),
    mss,
  );
  const frameBytes = out.frameBytes + back.frameBytes;
  return {
    payload,
    cdb,
    bhs: pdus.length * BHS_LENGTH - cdb,
    ahs,
    digests,
    padding,
    otherData,
    tcp: out.tcpHeaders + back.tcpHeaders,
    ip: out.ipHeaders + back.ipHeaders,
    eth: out.ethHeaders + back.ethHeaders,
    pdus: pdus.length,
    segments: out.segments + back.segments,
    frameBytes,
    efficiency: frameBytes > 0 ? payload / frameBytes : 0,
  };
}

/** The real PDUs of one task, framed with the lab's model on a link of this MSS. */
export function breakdownOf(pdus: readonly PduTraceEvent[], mss: number): Breakdown {
  return breakdownOfShapes(pdus.map(shapeOf), mss);
}

/** What the lab's initiator and target negotiate (server/initiator/login.ts): the model's PDU sizes follow it. */
interface SessionModel {
  readonly maxRecvDataSegmentLength: number;
  readonly firstBurstLength: number;
  readonly maxBurstLength: number;
  readonly immediateData: boolean;
}

const LAB_SESSION: SessionModel = { maxRecvDataSegmentLength: 262_144, firstBurstLength: 65_536, maxBurstLength: 262_144, immediateData: true };

const pad4 = (n: number): number => (4 - (n % 4)) % 4;
const pduShape = (opcode: number, direction: 'i2t' | 't2i', data: number): PduShape => ({
  opcode,
  direction,
  ahs: 0,
  digests: 0,
  data,
  padding: pad4(data),
  total: BHS_LENGTH + data + pad4(data),
});

/** Data PDUs carrying `bytes`, each at most `maxSeg`. */
function dataPdus(opcode: number, direction: 'i2t' | 't2i', bytes: number, maxSeg: number): PduShape[] {
  const out: PduShape[] = [];
  for (let left = bytes; left > 0; left -= maxSeg) out.push(pduShape(opcode, direction, Math.min(maxSeg, left)));
  return out;
}

/**
 * The PDUs of one READ or WRITE of `bytes` as the lab exchanges them: a READ is the SCSI Command and Data-In PDUs,
 * the last carrying the status; a WRITE sends up to FirstBurstLength as immediate data, the target asks for the
 * rest with one R2T per MaxBurstLength, the Data-Outs answer, and a SCSI Response ends it.
 */
export function modelPdus(op: 'read' | 'write', bytes: number, s: SessionModel = LAB_SESSION): PduShape[] {
  if (op === 'read') return [pduShape(IscsiOpcode.ScsiCommand, 'i2t', 0), ...dataPdus(IscsiOpcode.ScsiDataIn, 't2i', bytes, s.maxRecvDataSegmentLength)];
  const immediate = s.immediateData ? Math.min(bytes, s.firstBurstLength, s.maxRecvDataSegmentLength) : 0;
  const out = [pduShape(IscsiOpcode.ScsiCommand, 'i2t', immediate)];
  for (let off = immediate; off < bytes; off += s.maxBurstLength) {
    out.push(pduShape(0x31, 't2i', 0));
    out.push(...dataPdus(IscsiOpcode.ScsiDataOut, 'i2t', Math.min(s.maxBurstLength, bytes - off), s.maxRecvDataSegmentLength));
  }
  out.push(pduShape(0x21, 't2i', 0));
  return out;
}

export function modelBreakdown(op: 'read' | 'write', bytes: number, mtu: number, s: SessionModel = LAB_SESSION): Breakdown {
  return breakdownOfShapes(modelPdus(op, bytes, s), mssFor(mtu));
}

/** 512 B, 1 KiB ... 1 MiB. */
export const CHART_SIZES: readonly number[] = Array.from({ length: 12 }, (_, i) => 512 * 2 ** i);
export const CHART_MTUS: readonly number[] = [1500, 9000];
