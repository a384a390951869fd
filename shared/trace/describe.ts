/**
 * Raw PDU bytes -> PduTraceEvent, with task correlation. Shared so the server's recorder, the pcap replay and
 * the browser (re-decoding a loaded capture) all describe PDUs the same way.
 */
import { u32 } from '../protocol/bytes.ts';
import { decodeCdb } from '../protocol/cdb.ts';
import {
  BHS_LENGTH,
  RESERVED_TAG,
  bhsValues,
  decodeDataSegment,
  iscsiOpcodeName,
  iscsiOpcodeOf,
  isInitiatorOpcode,
  lunNumber,
  pduLengths,
} from '../protocol/iscsi.ts';
import { scsiStatusName } from '../protocol/scsi-opcodes.ts';
import type { Direction, PduTraceEvent, ScsiSummary, SenseSummary, TcpTuple } from './schema.ts';
import { IscsiOpcode } from '../protocol/iscsi-opcodes.ts';

export interface PduInput {
  readonly seq: number;
  readonly timeNs: number;
  readonly wallMs: number;
  readonly direction: Direction;
  readonly connectionId: number;
  readonly tsih: number;
  readonly tcp: TcpTuple;
  readonly headerDigest: boolean;
  readonly dataDigest: boolean;
  /** The BHS (48 bytes). */
  readonly bhs: Uint8Array;
  /** The data segment without padding (only Login/Text/Response/Reject data is looked at). */
  readonly data: Uint8Array;
  /** Bytes of the wire form the caller kept (0 if none). */
  readonly rawLength: number;
}

interface OpenTask {
  readonly id: number;
  readonly startNs: number;
  readonly scsi?: ScsiSummary;
  /** The caller's reference to the PDU that opened the task (see PduDescriber's `summaries` option). */
  readonly ref?: number;
}

/** Named cap: open tasks remembered across all connections; the oldest are forgotten beyond it. */
const MAX_OPEN_TASKS = 8192;

const DATA_IN_STATUS_BIT = 0x01;
const FINAL_BIT = 0x80;
const CONTINUE_BIT = 0x40;

/** What correlation adds to a PDU: its task, the request-to-response latency, the task's SCSI command. */
export interface Correlation {
  taskId?: number;
  latencyNs?: number;
  /** The SCSI command of the task (on the command itself, its R2Ts, Data-Ins and response). */
  taskScsi?: ScsiSummary;
  /** Set on a PDU that ends a SCSI task with status (SCSI Response, Data-In with S). */
  ending?: boolean;
  /** Without summaries: the `ref` of the SCSI Command of the task, where taskScsi would be. */
  taskRef?: number;
}

/** What correlate() reads of a PDU; `ref` names it for Correlation.taskRef (the recorder's ring position). */
export interface CorrelationInput {
  readonly bhs: Uint8Array;
  readonly connectionId: number;
  readonly timeNs: number;
  readonly ref?: number;
}

// Correlation keys: connection id, a bit for "tag is a TTT", the 32-bit tag, packed into one safe integer so the
// per-PDU lookup builds no string.
const TAG_SPACE = 2 ** 33;
const TTT_BIT = 2 ** 32;

/**
 * Describes PDUs in order, correlating each SCSI task's PDUs under one id (keyed on connection + ITT, opened by
 * the request). One instance per trace. Correlation must see every PDU in order and is cheap; building the full
 * event (field tree, keys, sense) is the costly part and is separate, so a recorder can do it only on demand.
 */
export class PduDescriber {
  private readonly open = new Map<number, OpenTask>();
  private nextTaskId = 1;

  /**
   * `summaries: false` skips decoding each SCSI Command's CDB into a ScsiSummary while correlating: the recorder
   * correlates every PDU but describes few, so it keeps the command's `ref` (taskRef) and decodes on demand.
   */
  constructor(private readonly opts: { summaries?: boolean } = {}) {}

  describe(p: PduInput): PduTraceEvent {
    const c: Correlation = {};
    this.correlate(p, c);
    return buildPduEvent(p, c);
  }

  /** Updates the open exchanges with this PDU and writes its correlation into `out`. PDUs must come in order. */
  correlate(p: CorrelationInput, out: Correlation): void {
    const { bhs } = p;
    const opcode = iscsiOpcodeOf(bhs);
    const itt = u32(bhs, 16);
    const ttt = u32(bhs, 20);
    const base = p.connectionId * TAG_SPACE;
    const byItt = base + itt;

    if (isInitiatorOpcode(opcode)) {
      if (opcode === IscsiOpcode.ScsiCommand) {
        if (this.opts.summaries === false) {
          out.taskId = this.start(byItt, p.timeNs, undefined, p.ref);
          out.taskRef = p.ref;
        } else {
          const scsi = scsiSummaryOf(bhs);
          out.taskId = this.start(byItt, p.timeNs, scsi);
          out.taskScsi = scsi;
        }
      } else if (opcode === IscsiOpcode.ScsiDataOut || opcode === IscsiOpcode.Snack) {
        out.taskId = this.open.get(byItt)?.id;
      } else if (opcode === IscsiOpcode.NopOut && itt === RESERVED_TAG) {
        // The answer to a target's NOP-In ping: correlated by TTT, ends that exchange.
        const t = this.take(base + TTT_BIT + ttt);
        if (t) {
          out.taskId = t.id;
          out.latencyNs = p.timeNs - t.startNs;
        }
      } else if (itt !== RESERVED_TAG) {
        // Login, Text (continuations keep the id), Logout, Task Management, NOP-Out with a reply wanted.
        out.taskId = this.open.get(byItt)?.id ?? this.start(byItt, p.timeNs);
      }
      return;
    }
    const t = this.open.get(byItt);
    if (opcode === IscsiOpcode.R2T || (opcode === IscsiOpcode.ScsiDataIn && !(bhs[1]! & DATA_IN_STATUS_BIT))) {
      out.taskId = t?.id;
      out.taskScsi = t?.scsi;
      out.taskRef = t?.ref;
    } else if (opcode === IscsiOpcode.NopIn && itt === RESERVED_TAG) {
      if (ttt !== RESERVED_TAG) out.taskId = this.start(base + TTT_BIT + ttt, p.timeNs);
    } else if (opcode !== IscsiOpcode.AsyncMessage && opcode !== IscsiOpcode.Reject && t) {
      // A response: it ends the exchange (a Text Response with C or without F expects more).
      const more = opcode === IscsiOpcode.TextResponse && (bhs[1]! & CONTINUE_BIT || !(bhs[1]! & FINAL_BIT));
      if (!more) this.open.delete(byItt);
      out.taskId = t.id;
      out.latencyNs = p.timeNs - t.startNs;
      if ((t.scsi || t.ref !== undefined) && (opcode === IscsiOpcode.ScsiResponse || opcode === IscsiOpcode.ScsiDataIn)) {
        out.taskScsi = t.scsi;
        out.taskRef = t.ref;
        out.ending = true;
      }
    }
  }

  /**
   * The open SCSI task a connection knows by this ITT: how a store event (which names its task by connection and
   * tag) joins the task by identity. Undefined once the task's response went out or the connection closed.
   */
  openTask(connectionId: number, itt: number): { readonly id: number; readonly startNs: number } | undefined {
    return this.open.get(connectionId * TAG_SPACE + itt);
  }

  /** Forgets the open exchanges of a connection that closed. */
  forgetConnection(connectionId: number): void {
    for (const k of this.open.keys()) if (Math.floor(k / TAG_SPACE) === connectionId) this.open.delete(k);
  }

  get openTasks(): number {
    return this.open.size;
  }

  private start(k: number, timeNs: number, scsi?: ScsiSummary, ref?: number): number {
    const id = this.nextTaskId++;
    this.open.delete(k);
    this.open.set(k, { id, startNs: timeNs, scsi, ref });
    if (this.open.size > MAX_OPEN_TASKS) this.open.delete(this.open.keys().next().value!);
    return id;
  }

  private take(k: number): OpenTask | undefined {
    const t = this.open.get(k);
    if (t) this.open.delete(k);
    return t;
  }
}

/** The SCSI summary of a SCSI Command PDU (its CDB decoded: opcode, LUN, LBA, blocks, FUA, DPO). */
export function scsiSummaryOf(bhs: Uint8Array): ScsiSummary {
  const cdb = decodeCdb(bhs.subarray(32, BHS_LENGTH));
  // Built field by field: no undefined-valued keys in events.
  const scsi: { -readonly [K in keyof ScsiSummary]: ScsiSummary[K] } = { opcode: cdb.opcode, opcodeName: cdb.name };
  const lun = lunNumber(bhs);
  if (lun !== undefined) scsi.lun = lun;
  if (cdb.lba !== undefined) scsi.lba = cdb.lba;
  if (cdb.blocks !== undefined) scsi.blocks = cdb.blocks;
  if (cdb.fua !== undefined) scsi.fua = cdb.fua;
  if (cdb.dpo !== undefined) scsi.dpo = cdb.dpo;
  return scsi;
}

/** The full event of one PDU (field tree, lengths, keys, the SCSI summary with status and sense). */
export function buildPduEvent(p: PduInput, c: Correlation): PduTraceEvent {
  const { bhs } = p;
  const opcode = iscsiOpcodeOf(bhs);
  const seg = decodeDataSegment(bhs, p.data);
  const event: { -readonly [K in keyof PduTraceEvent]: PduTraceEvent[K] } = {
    type: 'pdu',
    seq: p.seq,
    timeNs: p.timeNs,
    wallMs: p.wallMs,
    direction: p.direction,
    connectionId: p.connectionId,
    tsih: p.tsih,
    tcp: p.tcp,
    opcode,
    opcodeName: iscsiOpcodeName(opcode),
    immediate: isInitiatorOpcode(opcode) && (bhs[0]! & 0x40) !== 0,
    lengths: pduLengths(bhs, p.headerDigest, p.dataDigest),
    headerDigest: p.headerDigest,
    dataDigest: p.dataDigest,
    fields: bhsValues(bhs),
    rawLength: p.rawLength,
  };
  if (seg.keys) event.keys = seg.keys.map((k) => [k.key, k.value] as const);
  if (c.taskScsi) {
    if (c.ending) {
      const status = bhs[3]!;
      event.scsi = stripUndefined({ ...c.taskScsi, status, statusName: scsiStatusName(status), sense: senseSummary(seg.sense) });
    } else event.scsi = c.taskScsi;
  }
  if (c.taskId !== undefined) event.taskId = c.taskId;
  if (c.latencyNs !== undefined) event.latencyNs = c.latencyNs;
  return event;
}

function senseSummary(s: { key: number; keyName: string; asc: number; ascq: number; text: string } | undefined): SenseSummary | undefined {
  return s ? { key: s.key, keyName: s.keyName, asc: s.asc, ascq: s.ascq, text: s.text } : undefined;
}

function stripUndefined<T extends object>(o: T): T {
  const out = {} as T;
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}
