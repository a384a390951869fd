/**
 * SCSI tasks out of a capture: the PDUs of each connection grouped by Initiator Task Tag into what the initiator
 * asked (CDB, LUN, R/W, Expected Data Transfer Length, data-out) and what the target answered (data-in, status,
 * sense). Pure: PDUs in, tasks out; replay.ts re-issues them.
 *
 * Rules followed (RFC 7143):
 * - 11.3: a SCSI Command carries the CDB in the BHS (16 bytes) and any longer rest in an Extended CDB AHS
 *   (11.3.5, type 1: two length bytes, the type, a reserved byte, then CDB bytes 16..); immediate data sits at
 *   buffer offset 0.
 * - 11.7: Data-Out and Data-In carry their bytes at Buffer Offset; unsolicited and solicited (R2T) Data-Out are
 *   placed the same way. A Data-In with the S bit (11.7.3) also ends the task with status and residual.
 * - 11.4: SCSI Response; its data segment is SenseLength (2 bytes) then the sense data (11.4.7).
 * - Tags identify tasks within a session, so a task is keyed by connection and ITT; a tag may be reused once its
 *   task ended.
 * Anything else (login, text, NOP, R2T, task management, logout) is skipped. A task that lost pieces (a truncated
 * capture, a bad digest, a gap in its data) is returned with `problems` so the caller can skip it.
 */
import { BHS_LENGTH, iscsiOpcodeOf, lunNumber, RESERVED_TAG } from '../../shared/protocol/iscsi.ts';
import { u16, u32 } from '../../shared/protocol/bytes.ts';
import { decodeCdb } from '../../shared/protocol/cdb.ts';
import { decodeSense } from '../../shared/protocol/sense.ts';
import { scsiStatusName } from '../../shared/protocol/scsi-opcodes.ts';
import type { CapturePdu } from '../capture/capture-pdu.ts';
import { IscsiOpcode } from '../../shared/protocol/iscsi-opcodes.ts';

/** How a recorded task ended. */
export interface RecordedOutcome {
  /** iSCSI service response (11.4.3): 0 completed at target, 1 target failure. Always 0 for Data-In with status. */
  readonly response: number;
  readonly status: number;
  /** Sense data without the SenseLength prefix. */
  readonly sense?: Uint8Array;
  readonly residual: number;
  readonly overflow: boolean;
  readonly underflow: boolean;
  /** Capture index of the PDU that carried the status. */
  readonly pduIndex: number;
}

export interface ScsiTask {
  /** Order of the SCSI Command among the capture's SCSI Commands, from 0. */
  readonly index: number;
  /** Capture index of the SCSI Command PDU. */
  readonly pduIndex: number;
  readonly connectionId: number;
  readonly itt: number;
  readonly lun: number;
  readonly cdb: Uint8Array;
  readonly immediate: boolean;
  readonly read: boolean;
  readonly write: boolean;
  readonly attribute: number;
  /** Expected Data Transfer Length. */
  readonly edtl: number;
  /** Write data, EDTL bytes (parts the target never asked for are zero when it ended the task early). */
  dataOut?: Uint8Array;
  /** Data-In bytes from offset 0 up to the last byte the target sent. */
  dataIn?: Uint8Array;
  outcome?: RecordedOutcome;
  /** Why the task cannot be replayed faithfully; empty when complete. */
  readonly problems: string[];
}

export interface Extraction {
  readonly tasks: ScsiTask[];
  readonly warnings: string[];
}

export interface ExtractOptions {
  /** Named cap on the bytes one task may make us hold (EDTL comes from the network). */
  maxTaskBytes?: number;
}

export const DEFAULT_MAX_TASK_BYTES = 256 * 1024 * 1024;

// Opcodes (RFC 7143 11.2.1.2) and BHS offsets used here.
const IMMEDIATE_BIT = 0x40;
const FLAGS = 1;
const ITT = 16;
const EDTL = 20;
const CDB = 32;
const CDB_IN_BHS = 16;
const BUFFER_OFFSET = 40;
const RESIDUAL = 44;
const READ_BIT = 0x40;
const WRITE_BIT = 0x20;
const ATTR_MASK = 0x07;
const STATUS_BIT = 0x01; // Data-In S (11.7.2)
const OVERFLOW_BIT = 0x04; // O, in SCSI Response and Data-In with S
const UNDERFLOW_BIT = 0x02; // U
const AHS_EXTENDED_CDB = 1;
const AHS_BIDI_READ_LENGTH = 2;
const STATUS_GOOD = 0;
const INQUIRY = 0x12;
const EVPD_BIT = 0x01;

/** Byte ranges received, kept sorted and merged. */
class Coverage {
  private ranges: [number, number][] = [];

  add(start: number, end: number): void {
    if (end <= start) return;
    const out: [number, number][] = [];
    let s = start;
    let e = end;
    for (const [a, b] of this.ranges) {
      if (b < s || a > e) out.push([a, b]);
      else {
        s = Math.min(s, a);
        e = Math.max(e, b);
      }
    }
    out.push([s, e]);
    out.sort((x, y) => x[0] - y[0]);
    this.ranges = out;
  }

  /** Highest end received (0 when nothing). */
  get end(): number {
    return this.ranges.length ? this.ranges[this.ranges.length - 1]![1] : 0;
  }

  /** The first hole in [0, upTo), or undefined when all of it arrived. */
  firstGap(upTo: number): [number, number] | undefined {
    let at = 0;
    for (const [a, b] of this.ranges) {
      if (at >= upTo) return undefined;
      if (a > at) return [at, Math.min(a, upTo)];
      at = Math.max(at, b);
    }
    return at < upTo ? [at, upTo] : undefined;
  }
}

interface OpenTask {
  task: ScsiTask;
  out?: { buf: Uint8Array; cov: Coverage };
  in?: { buf: Uint8Array; cov: Coverage };
}

/** Extended CDB bytes from the AHS (11.3.5), or undefined; also reports a bidirectional read length AHS. */
function parseAhs(ahs: Uint8Array): { extraCdb?: Uint8Array; bidi: boolean } {
  let extraCdb: Uint8Array | undefined;
  let bidi = false;
  for (let o = 0; o + 3 <= ahs.length;) {
    const len = u16(ahs, o);
    const type = ahs[o + 2]!;
    // AHSLength counts the bytes after the type byte, the reserved byte included.
    const body = ahs.subarray(o + 3, Math.min(ahs.length, o + 3 + len));
    if (type === AHS_EXTENDED_CDB && body.length > 1) extraCdb = body.subarray(1);
    if (type === AHS_BIDI_READ_LENGTH) bidi = true;
    o += (3 + len + 3) & ~3;
  }
  return { extraCdb, bidi };
}

/** "READ(10) LBA 2048 blocks 8", "INQUIRY", "INQUIRY VPD page 0x83": a CDB in one phrase. */
export function describeCdb(cdb: Uint8Array): string {
  const d = decodeCdb(cdb);
  let s = d.name;
  // INQUIRY with EVPD names its VPD page (SPC-4 6.6.1): page 0x83 differs per LUN, page 0x00 does not.
  if (d.opcode === INQUIRY && (cdb[1]! & EVPD_BIT) !== 0) s += ` VPD page 0x${hex2(cdb[2] ?? 0)}`;
  if (d.lba !== undefined) s += ` LBA ${d.lba}`;
  if (d.blocks !== undefined) s += ` blocks ${d.blocks}`;
  return s;
}

/** "CHECK CONDITION, ILLEGAL REQUEST: INVALID FIELD IN CDB (0x24/0x00)", "GOOD", "target failure". */
export function describeOutcome(o: { response?: number; status: number; sense?: Uint8Array }): string {
  if (o.response !== undefined && o.response !== 0) return `iSCSI response 0x${o.response.toString(16).padStart(2, '0')} (target failure)`;
  let s = scsiStatusName(o.status);
  const d = o.sense && o.sense.length ? decodeSense(o.sense) : undefined;
  if (d) s += `, ${d.keyName}: ${d.text} (0x${hex2(d.asc)}/0x${hex2(d.ascq)})`;
  return s;
}

const hex2 = (n: number): string => n.toString(16).padStart(2, '0');

/** Reconstructs the SCSI tasks of a capture, in the order their SCSI Command PDUs appear. */
export function extractTasks(pdus: Iterable<CapturePdu>, opts: ExtractOptions = {}): Extraction {
  const assembler = new TaskAssembler(opts.maxTaskBytes ?? DEFAULT_MAX_TASK_BYTES);
  for (const p of pdus) assembler.add(p);
  return assembler.end();
}

/** Builds the tasks PDU by PDU; each step is one PDU kind of RFC 7143 (11.3, 11.7, 11.4). */
class TaskAssembler {
  private readonly tasks: ScsiTask[] = [];
  private readonly warnings: string[] = [];
  /** Tasks that have no status yet, by connection and ITT. */
  private readonly open = new Map<string, OpenTask>();
  private orphans = 0;
  private firstOrphan = -1;

  constructor(private readonly maxBytes: number) {}

  add(p: CapturePdu): void {
    const op = iscsiOpcodeOf(p.bhs);
    if (op !== IscsiOpcode.ScsiCommand && op !== IscsiOpcode.ScsiDataOut && op !== IscsiOpcode.ScsiDataIn && op !== IscsiOpcode.ScsiResponse) return;
    if (p.bhs.length < BHS_LENGTH) return;
    const itt = u32(p.bhs, ITT);
    const key = `${p.connectionId}:${itt}`;
    if (op === IscsiOpcode.ScsiCommand) return this.command(p, key, itt);
    const t = itt === RESERVED_TAG ? undefined : this.open.get(key);
    if (!t) {
      if (this.orphans++ === 0) this.firstOrphan = p.index;
      return;
    }
    if (p.digestsOk === false) fail(t, `PDU ${p.index} has a bad digest`);
    if (op === IscsiOpcode.ScsiDataOut) this.place(t, 'out', u32(p.bhs, BUFFER_OFFSET), p.data, p.index);
    else if (op === IscsiOpcode.ScsiDataIn) this.dataIn(p, key, t);
    else this.response(p, key, t);
  }

  /** What is left open lost its status; PDUs of no command in the capture are one warning. */
  end(): Extraction {
    for (const t of this.open.values()) {
      fail(t, 'the capture ends before its status');
      if (t.task.write && t.out) t.task.dataOut = t.out.buf;
      if (t.task.read && t.in) t.task.dataIn = t.in.buf.subarray(0, t.in.cov.end);
    }
    if (this.orphans > 0) {
      this.warnings.push(
        `${this.orphans} Data-In/Data-Out/SCSI Response PDUs (the first is PDU ${this.firstOrphan}) belong to no SCSI Command in the capture (it started mid-task?)`,
      );
    }
    return { tasks: this.tasks, warnings: this.warnings };
  }

  /** A SCSI Command (11.3) opens a task: CDB (with an Extended CDB AHS), LUN, direction, EDTL, immediate data. */
  private command(p: CapturePdu, key: string, itt: number): void {
    const previous = this.open.get(key);
    if (previous) {
      fail(previous, `its tag 0x${itt.toString(16)} was reused by PDU ${p.index} before any status`);
      this.open.delete(key);
    }
    const flags = p.bhs[FLAGS]!;
    const { extraCdb, bidi } = parseAhs(p.ahs);
    const head = p.bhs.subarray(CDB, CDB + CDB_IN_BHS);
    const cdbFull = extraCdb ? concat(head, extraCdb) : head.slice();
    const len = Math.max(decodeCdb(cdbFull).cdbLength, extraCdb ? cdbFull.length : 0);
    const task: ScsiTask = {
      index: this.tasks.length,
      pduIndex: p.index,
      connectionId: p.connectionId,
      itt,
      lun: lunNumber(p.bhs) ?? 0,
      cdb: cdbFull.slice(0, Math.min(cdbFull.length, len)),
      immediate: (p.bhs[0]! & IMMEDIATE_BIT) !== 0,
      read: (flags & READ_BIT) !== 0,
      write: (flags & WRITE_BIT) !== 0,
      attribute: flags & ATTR_MASK,
      edtl: u32(p.bhs, EDTL),
      problems: [],
    };
    this.tasks.push(task);
    const t: OpenTask = { task };
    this.open.set(key, t);
    if (bidi || (task.read && task.write)) fail(t, 'bidirectional commands are not replayed');
    if (task.edtl > this.maxBytes) fail(t, `transfer of ${task.edtl} bytes is over the ${this.maxBytes}-byte cap`);
    if (p.digestsOk === false) fail(t, `PDU ${p.index} (its SCSI Command) has a bad digest`);
    if (p.data.length) this.place(t, 'out', 0, p.data, p.index);
  }

  /** A SCSI Data-In (11.7) places its bytes; with the S bit (11.7.3) it also ends the task with status and residual. */
  private dataIn(p: CapturePdu, key: string, t: OpenTask): void {
    const flags = p.bhs[FLAGS]!;
    this.place(t, 'in', u32(p.bhs, BUFFER_OFFSET), p.data, p.index);
    if ((flags & STATUS_BIT) === 0) return;
    this.finish(key, t, {
      response: 0,
      status: p.bhs[3]!,
      residual: u32(p.bhs, RESIDUAL),
      overflow: (flags & OVERFLOW_BIT) !== 0,
      underflow: (flags & UNDERFLOW_BIT) !== 0,
      pduIndex: p.index,
    });
  }

  /** A SCSI Response (11.4) ends the task; its data segment is SenseLength then the sense data (11.4.7). */
  private response(p: CapturePdu, key: string, t: OpenTask): void {
    const flags = p.bhs[FLAGS]!;
    let sense: Uint8Array | undefined;
    if (p.data.length >= 2) {
      const senseLength = u16(p.data, 0);
      if (2 + senseLength > p.data.length) fail(t, `PDU ${p.index}: SenseLength ${senseLength} is longer than its data segment`);
      if (senseLength > 0) sense = p.data.slice(2, 2 + senseLength);
    }
    this.finish(key, t, {
      response: p.bhs[2]!,
      status: p.bhs[3]!,
      sense,
      residual: u32(p.bhs, RESIDUAL),
      overflow: (flags & OVERFLOW_BIT) !== 0,
      underflow: (flags & UNDERFLOW_BIT) !== 0,
      pduIndex: p.index,
    });
  }

  /** Data at a Buffer Offset (11.7), kept in a buffer of EDTL bytes with the ranges that arrived. */
  private place(t: OpenTask, side: 'out' | 'in', offset: number, data: Uint8Array, pduIndex: number): void {
    if (data.length === 0) return;
    const end = offset + data.length;
    if (end > t.task.edtl) {
      fail(t, `PDU ${pduIndex} carries data at ${offset}..${end}, past the expected transfer length ${t.task.edtl}`);
      return;
    }
    if (t.task.edtl > this.maxBytes) return; // already a problem of the task
    let part = t[side];
    if (!part) {
      part = { buf: new Uint8Array(t.task.edtl), cov: new Coverage() };
      t[side] = part;
    }
    part.buf.set(data, offset);
    part.cov.add(offset, end);
  }

  /** The status arrived: the data the target meant to move must all be in the capture. */
  private finish(key: string, t: OpenTask, outcome: RecordedOutcome): void {
    this.open.delete(key);
    const task = t.task;
    task.outcome = outcome;
    const good = outcome.response === 0 && outcome.status === STATUS_GOOD;
    // The bytes the target meant to move: EDTL less the residual it reported (11.4.5.1).
    const expected = outcome.overflow ? task.edtl : outcome.underflow ? Math.max(0, task.edtl - outcome.residual) : task.edtl;
    if (task.write && task.edtl > 0) {
      const cov = t.out?.cov ?? new Coverage();
      const gap = cov.firstGap(good ? expected : 0);
      if (gap) fail(t, `write data bytes ${gap[0]}..${gap[1]} are missing from the capture`);
      task.dataOut = t.out?.buf ?? new Uint8Array(Math.min(task.edtl, this.maxBytes));
    }
    if (task.read) {
      const cov = t.in?.cov ?? new Coverage();
      const end = cov.end;
      const gap = cov.firstGap(good ? Math.max(expected, end) : end);
      if (gap) fail(t, `read data bytes ${gap[0]}..${gap[1]} are missing from the capture`);
      task.dataIn = t.in ? t.in.buf.subarray(0, end) : new Uint8Array(0);
    }
  }
}

/** A task's problems, each said once. */
function fail(t: OpenTask, why: string): void {
  if (!t.task.problems.includes(why)) t.task.problems.push(why);
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}
