/**
 * The trace event schema, shared by the server (recorder, JSON Lines, WebSocket hub) and the web UI.
 *
 * Versioned: a consumer checks `TRACE_SCHEMA_VERSION` in the header (JSON Lines first line, WebSocket hello)
 * and refuses what it does not know. Additive changes (new optional fields, new event kinds a consumer may skip)
 * keep the version; renames and changed meanings bump it.
 *
 * Times: `timeNs` is nanoseconds since the trace started (a plain number: exact for 104 days), `wallMs` is
 * wall-clock milliseconds since the Unix epoch (Date.now() scale) for display.
 */
import type { PduLengths } from '../protocol/iscsi.ts';
import {
  RAW_FRAME_FLAG_DATA_DIGEST as FLAG_DATA_DIGEST,
  RAW_FRAME_FLAG_HEADER_DIGEST as FLAG_HEADER_DIGEST,
  RAW_FRAME_FLAG_T2I as FLAG_T2I,
  RAW_FRAME_FLAG_TRUNCATED as FLAG_TRUNCATED,
  RAW_FRAME_HEADER_LENGTH,
  RAW_FRAME_MAGIC,
  RAW_FRAME_VERSION,
} from '../api/ws-frames.ts';

export const TRACE_SCHEMA_VERSION = 1;

/** i2t: initiator to target (the target received it); t2i: target to initiator (the target sent it). */
export type Direction = 'i2t' | 't2i';

/** The TCP 4-tuple as seen on the wire: src is the sender of this PDU. */
export interface TcpTuple {
  readonly src: string;
  readonly srcPort: number;
  readonly dst: string;
  readonly dstPort: number;
}

export interface SenseSummary {
  readonly key: number;
  /** "ILLEGAL REQUEST" */
  readonly keyName: string;
  readonly asc: number;
  readonly ascq: number;
  /** "INVALID FIELD IN CDB" */
  readonly text: string;
}

/** What a PDU means at the SCSI level: on the command, and repeated (with status) on its response. */
export interface ScsiSummary {
  readonly opcode: number;
  /** T10 name: "READ(10)", "WRITE(16)", "COMPARE AND WRITE". */
  readonly opcodeName: string;
  readonly lun?: number;
  readonly lba?: number;
  readonly blocks?: number;
  readonly fua?: boolean;
  readonly dpo?: boolean;
  /** On responses (SCSI Response, or Data-In with the S bit). */
  readonly status?: number;
  readonly statusName?: string;
  readonly sense?: SenseSummary;
}

interface TraceEventBase {
  /** One sequence for every event of a trace, in the order the recorder saw them. */
  readonly seq: number;
  readonly timeNs: number;
  readonly wallMs: number;
}

export interface PduTraceEvent extends TraceEventBase {
  readonly type: 'pdu';
  readonly direction: Direction;
  readonly connectionId: number;
  /** 0 during login, before the session exists. */
  readonly tsih: number;
  readonly tcp: TcpTuple;
  readonly opcode: number;
  /** RFC 7143 name: "SCSI Command", "SCSI Data-In", "R2T", "Login Request". */
  readonly opcodeName: string;
  readonly immediate: boolean;
  readonly lengths: PduLengths;
  readonly headerDigest: boolean;
  readonly dataDigest: boolean;
  /**
   * Decoded BHS fields by their RFC 7143 names (see shared/protocol/iscsi.ts decodeBhsFields): "F", "InitiatorTaskTag",
   * "CmdSN", "ExpStatSN", "StatSN", "ExpCmdSN", "MaxCmdSN", "DataSN", "BufferOffset", "DesiredDataTransferLength",
   * "ResidualCount", "Status", "Response", "CSG", "NSG", "StatusClass", "StatusDetail", ... (tags and SNs as numbers).
   */
  readonly fields: Readonly<Record<string, number | string | boolean>>;
  /** Login and Text PDUs: the key=value pairs of the data segment, in order. */
  readonly keys?: readonly (readonly [string, string])[];
  readonly scsi?: ScsiSummary;
  /**
   * Correlation: every PDU of one SCSI task (command, R2Ts, Data-Outs, Data-Ins, response) carries the same id,
   * assigned when the SCSI Command is seen (keyed on connectionId + ITT). Task management, NOP, Text, Login and
   * Logout exchanges get an id too (request and response share it).
   */
  readonly taskId?: number;
  /** On the PDU that ends a task (SCSI Response, final Data-In with status, any response): ns since its request. */
  readonly latencyNs?: number;
  /** Length of the raw bytes the recorder kept for this PDU (wire form, digests included); 0 if none were kept. */
  readonly rawLength: number;
}

type SessionEventKind = 'connected' | 'login' | 'login-failed' | 'logout' | 'closed' | 'reinstated' | 'task-management' | 'protocol-error';

export interface SessionTraceEvent extends TraceEventBase {
  readonly type: 'session';
  readonly kind: SessionEventKind;
  readonly connectionId: number;
  readonly tsih: number;
  readonly initiatorName: string;
  /** Initiator -> target. */
  readonly tcp: TcpTuple;
  readonly detail: string;
}

export interface ScsiTraceEvent extends TraceEventBase {
  readonly type: 'scsi';
  readonly kind: 'command' | 'task-management' | 'nexus-lost';
  readonly nexusId: string;
  readonly lun?: number;
  readonly opcodeName?: string;
  readonly status?: number;
  readonly statusName?: string;
  readonly sense?: SenseSummary;
  readonly dataInBytes?: number;
  readonly dataOutBytes?: number;
  readonly durationNs?: number;
  /** task-management: the function name ("ABORT TASK", "LOGICAL UNIT RESET"...). */
  readonly function?: string;
}

export interface CacheTrace {
  readonly policy: string;
  readonly mode: 'write-back' | 'write-through';
  readonly ranges: readonly {
    readonly lba: number;
    readonly blocks: number;
    readonly outcome: 'hit' | 'readahead-hit' | 'miss' | 'partial' | 'write-hit' | 'write-allocate' | 'bypass';
  }[];
  readonly truncated?: boolean;
  readonly lookupMs: number;
  readonly storeReadMs: number;
  readonly storeWriteMs: number;
  readonly flushMs: number;
}

export interface StoreTraceEvent extends TraceEventBase {
  readonly type: 'store';
  readonly kind: 'read' | 'write' | 'flush' | 'unmap';
  readonly lun: number;
  readonly lba: number;
  readonly blocks: number;
  readonly fua: boolean;
  readonly durationNs: number;
  readonly error?: string;
  /** What the block cache did for this I/O, per block range, and where the time went. */
  readonly cache?: CacheTrace;
  /**
   * The SCSI task this call served (the taskId its PDUs carry), joined by identity (connection + ITT) when the
   * call was made; absent for calls no command made. Stamped causally: timeNs is never before the task's command.
   */
  readonly taskId?: number;
}

/**
 * A fault injected on purpose (server/faults, /api/faults): which rule, what it did, and what it hit. Additive:
 * consumers that do not know 'fault' skip it.
 */
export interface FaultTraceEvent extends TraceEventBase {
  readonly type: 'fault';
  readonly ruleId: number;
  /** "drop", "kill-connection", "store-error", ... (shared/api/faults.ts FAULT_ACTIONS) */
  readonly action: string;
  /** "SCSI Response ITT 0x12 dropped by the target (never sent)" */
  readonly detail: string;
  readonly connectionId?: number;
  readonly tsih?: number;
  readonly itt?: number;
  /** The task of the PDU it acted on (same id as that task's PDU events). */
  readonly taskId?: number;
  /** seq of the PDU it acted on; for a PDU never sent, the last PDU before it on that connection. */
  readonly pduSeq?: number;
  readonly lun?: number;
  readonly lba?: number;
  readonly blocks?: number;
}

/** Recorder bookkeeping: events lost because a consumer lagged or the ring overflowed. */
interface DropTraceEvent extends TraceEventBase {
  readonly type: 'drop';
  readonly dropped: number;
  readonly reason: string;
}

export type TraceEvent = PduTraceEvent | SessionTraceEvent | ScsiTraceEvent | StoreTraceEvent | FaultTraceEvent | DropTraceEvent;

/** First record of a JSON Lines file and of a WebSocket snapshot. */
export interface TraceHeader {
  readonly type: 'header';
  readonly version: typeof TRACE_SCHEMA_VERSION;
  /** Wall-clock ms when timeNs was 0. */
  readonly startWallMs: number;
  readonly producer: string;
}

export function isTraceEvent(x: unknown): x is TraceEvent {
  if (typeof x !== 'object' || x === null) return false;
  const t = (x as { type?: unknown }).type;
  return (t === 'pdu' || t === 'session' || t === 'scsi' || t === 'store' || t === 'fault' || t === 'drop') && typeof (x as { seq?: unknown }).seq === 'number';
}

// ---- binary frames: raw PDU bytes over WebSocket -------------------------------------------------------------

/**
 * One raw PDU in a binary WebSocket frame (the JSON event with the same seq travels as a text frame):
 *
 *   0  u8   magic 0x69 ('i')
 *   1  u8   frame version (1)
 *   2  u8   flags: bit 0 truncated, bit 1 t2i, bit 2 header digest, bit 3 data digest
 *   3  u8   reserved (0)
 *   4  u32  seq of the PduTraceEvent
 *   8  u32  original length of the PDU on the wire (the bytes that follow may be fewer if truncated)
 *  12  ...  bytes: BHS, AHS, header digest, data, padding, data digest
 *
 * Big-endian, as the protocol itself. The numbers live in shared/api/ws-frames.ts, the /ws contract.
 */
export { RAW_FRAME_HEADER_LENGTH, RAW_FRAME_MAGIC, RAW_FRAME_VERSION };

export interface RawPduFrame {
  readonly seq: number;
  readonly direction: Direction;
  readonly headerDigest: boolean;
  readonly dataDigest: boolean;
  readonly originalLength: number;
  readonly truncated: boolean;
  readonly bytes: Uint8Array;
}

/** Encodes a frame, keeping at most `maxBytes` of the PDU (a hex view rarely needs a whole 256 KiB segment). */
export function encodeRawFrame(
  frame: Omit<RawPduFrame, 'truncated' | 'originalLength'> & { originalLength?: number },
  maxBytes = Number.MAX_SAFE_INTEGER,
): Uint8Array {
  const originalLength = frame.originalLength ?? frame.bytes.length;
  const kept = Math.min(frame.bytes.length, maxBytes);
  const truncated = kept < originalLength;
  const out = new Uint8Array(RAW_FRAME_HEADER_LENGTH + kept);
  const dv = new DataView(out.buffer);
  out[0] = RAW_FRAME_MAGIC;
  out[1] = RAW_FRAME_VERSION;
  out[2] =
    (truncated ? FLAG_TRUNCATED : 0) |
    (frame.direction === 't2i' ? FLAG_T2I : 0) |
    (frame.headerDigest ? FLAG_HEADER_DIGEST : 0) |
    (frame.dataDigest ? FLAG_DATA_DIGEST : 0);
  dv.setUint32(4, frame.seq >>> 0);
  dv.setUint32(8, originalLength >>> 0);
  out.set(frame.bytes.subarray(0, kept), RAW_FRAME_HEADER_LENGTH);
  return out;
}

export class RawFrameError extends Error {}

/** Decodes a frame; the bytes are a view into `frame`, not a copy. */
export function decodeRawFrame(frame: Uint8Array): RawPduFrame {
  if (frame.length < RAW_FRAME_HEADER_LENGTH) throw new RawFrameError(`raw frame too short (${frame.length} bytes)`);
  if (frame[0] !== RAW_FRAME_MAGIC) throw new RawFrameError(`bad raw frame magic 0x${frame[0]!.toString(16)}`);
  if (frame[1] !== RAW_FRAME_VERSION) throw new RawFrameError(`unknown raw frame version ${frame[1]}`);
  const dv = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const flags = frame[2]!;
  const bytes = frame.subarray(RAW_FRAME_HEADER_LENGTH);
  const originalLength = dv.getUint32(8);
  const truncated = (flags & FLAG_TRUNCATED) !== 0;
  if (!truncated && bytes.length !== originalLength) throw new RawFrameError(`raw frame holds ${bytes.length} bytes, header says ${originalLength}`);
  return {
    seq: dv.getUint32(4),
    direction: flags & FLAG_T2I ? 't2i' : 'i2t',
    headerDigest: (flags & FLAG_HEADER_DIGEST) !== 0,
    dataDigest: (flags & FLAG_DATA_DIGEST) !== 0,
    originalLength,
    truncated,
    bytes,
  };
}

/** The recorder's counters: in every /ws snapshot and at GET /api/trace/stats. */
export interface TraceStats {
  readonly recording: boolean;
  readonly consumers: number;
  readonly pdus: number;
  readonly events: number;
  readonly ringPdus: number;
  readonly ringBytes: number;
  readonly ringEvents: number;
  /** PDUs pushed out of the ring by its caps (still delivered to consumers). */
  readonly evictedPdus: number;
  readonly evictedEvents: number;
  /** PDUs larger than the whole byte cap: event kept, bytes not. */
  readonly rawSkipped: number;
  /** Consumers removed because they threw. */
  readonly consumerErrors: number;
  readonly openTasks: number;
}
