import { LIMITS, RESERVED_TAG } from './constants.ts';
import { DataOutCollector } from './data-out.ts';
import { writeBuffers } from './write-buffers.ts';
import { buildSense, Sense } from '../scsi/sense.ts';
import { decodeScsiCommand, type ScsiCommandPdu } from './pdu/scsi-command.ts';
import { decodeDataOut, encodeDataIn } from './pdu/data.ts';
import { encodeR2T } from './pdu/r2t.ts';
import { encodeScsiResponse } from './pdu/scsi-response.ts';
import { RejectReason } from './pdu/reject.ts';
import type { Pdu } from './pdu.ts';
import type { TaskConnection } from './full-feature.ts';
import { ScsiStatus, type AbortWatch, type ScsiResponse, type TaskAttribute } from '../scsi/types.ts';
import type { TaskIdentity } from '../store/types.ts';
import type { BudgetHolder } from './data-budget.ts';

/**
 * One SCSI task as the transport tracks it, from SCSI Command to SCSI Response. It is also the AbortWatch SCSI
 * sees, so a command costs no AbortController, and the TaskIdentity the trace joins store events on (no object
 * per command for that either).
 */
export class ScsiTask implements AbortWatch, TaskIdentity {
  readonly itt: number;
  readonly lun: number;
  /** Counted in the session's command window (non-immediate). */
  readonly counted: boolean;
  collector: DataOutCollector | undefined = undefined;
  admitted = false;
  aborted = false;
  /**
   * Aborted by a task management function of another I_T nexus: with the control mode page's TAS bit set (always,
   * here) it still ends with TASK ABORTED status instead of silence (SAM-5 5.3.3, 7.1). Cleared once that is sent.
   */
  reportAbort = false;
  /** Set while SCSI executes it; aborts wait on it so nothing lands after a reset's response. */
  running: Promise<void> | undefined = undefined;
  dataInCount = 0;
  r2tCount = 0;
  /** Its window slot has been given back. */
  released = false;
  /** Bytes it counts against the connection's caps (see ScsiTaskHandler.overCap) until let go. */
  readCharge = 0;
  writeCharge = 0;
  private abortListeners: (() => void)[] | undefined = undefined;

  constructor(
    readonly cmd: ScsiCommandPdu,
    /** The connection it arrived on (with the ITT: how the trace names the task). */
    readonly connectionId: number,
  ) {
    this.itt = cmd.itt;
    this.lun = cmd.lun;
    this.counted = !cmd.immediate;
  }

  get taskTag(): number {
    return this.itt;
  }

  onAbort(fn: () => void): () => void {
    (this.abortListeners ??= []).push(fn);
    return () => {
      const i = this.abortListeners?.indexOf(fn) ?? -1;
      if (i >= 0) this.abortListeners!.splice(i, 1);
    };
  }

  markAborted(): void {
    if (this.aborted) return;
    this.aborted = true;
    this.collector = undefined;
    const listeners = this.abortListeners;
    this.abortListeners = undefined;
    if (listeners) for (const fn of listeners) fn();
  }
}

// Senses the transport answers with itself, before or instead of SCSI (from the target's one sense table).
const SENSE_DATA_PHASE_ERROR = buildSense(Sense.DataPhaseError);
// A write larger than we will buffer (the Block Limits VPD says so).
const SENSE_INVALID_FIELD_IN_CDB = buildSense(Sense.InvalidFieldInCdb);
const SENSE_INTERNAL_TARGET_FAILURE = buildSense(Sense.InternalTargetFailure);

/**
 * SCSI Command handling for one connection (RFC 7143 4.2.5, 11.3-11.8): gathers data-out through immediate
 * data, unsolicited Data-Out and R2Ts, runs the command on the SCSI target in CmdSN order, and sends Data-In
 * (with the status collapsed into the last one when it can) or a SCSI Response with sense and residuals.
 */
export class ScsiTaskHandler implements BudgetHolder {
  private readonly byItt = new Map<number, ScsiTask>();
  /**
   * Read data outstanding (until the socket has handed it to the kernel) and write data being gathered on this
   * connection (running sums, not a walk per command).
   */
  private readBytes = 0;
  private writeBytes = 0;
  /** Bytes this connection holds against the target's data-in-flight budget (data-budget.ts): the two above. */
  get heldBytes(): number {
    return this.readBytes + this.writeBytes;
  }
  /** Data-Out bytes accepted so far: progress, for the budget's stall check. */
  private dataOutBytes = 0;

  constructor(private readonly conn: TaskConnection) {}

  get size(): number {
    return this.byItt.size;
  }

  all(): IterableIterator<ScsiTask> {
    return this.byItt.values();
  }

  get(itt: number): ScsiTask | undefined {
    return this.byItt.get(itt);
  }

  command(pdu: Pdu): void {
    const conn = this.conn;
    const cmd = decodeScsiCommand(pdu);
    if (this.byItt.has(cmd.itt)) return conn.sendReject(RejectReason.TaskInProgress, pdu.bhs, `ITT 0x${cmd.itt.toString(16)} already in use`);
    if (cmd.itt === RESERVED_TAG) return conn.sendReject(RejectReason.InvalidPduField, pdu.bhs, 'SCSI Command with the reserved ITT');
    // Immediate commands skip the CmdSN window (RFC 7143 3.2.2.1), so they get their own cap (11.17.1 reason 0x06).
    if (cmd.immediate && this.byItt.size >= conn.session!.window)
      return conn.sendReject(RejectReason.ImmediateCommandRejected, pdu.bhs, `${this.byItt.size} tasks outstanding`);
    const params = conn.params;
    const task = new ScsiTask(cmd, conn.id);
    let refuse: ScsiResponse | undefined;
    if (cmd.write && cmd.expectedDataTransferLength > 0) {
      if (DataOutCollector.tooLarge(cmd.expectedDataTransferLength)) refuse = { status: ScsiStatus.CheckCondition, sense: SENSE_INVALID_FIELD_IN_CDB };
      else if (pdu.data.length > 0 && !params.immediateData) refuse = { status: ScsiStatus.CheckCondition, sense: SENSE_DATA_PHASE_ERROR };
      // Write data waiting on this connection stays under a cap, however many writes are outstanding (TASK SET FULL, SAM-5 5.3).
      else if (this.overCap(false, cmd.expectedDataTransferLength)) refuse = { status: ScsiStatus.TaskSetFull };
      // And all connections' data together under the target's budget.
      else if (!conn.ctx.dataBudget.admit(cmd.expectedDataTransferLength, this.heldBytes)) refuse = { status: this.busyStatus() };
      else {
        task.collector = new DataOutCollector(cmd.expectedDataTransferLength, pdu.data, cmd.final, params, () => conn.allocTtt());
        task.writeCharge = cmd.expectedDataTransferLength;
        this.writeBytes += task.writeCharge;
        this.hold(task.writeCharge);
      }
    }
    // So does read data: a burst of large READs from an initiator that does not read its answers cannot pile up.
    const readCharge = Math.min(cmd.expectedDataTransferLength, LIMITS.maxWriteBytes);
    if (!refuse && cmd.read && this.overCap(true, cmd.expectedDataTransferLength)) refuse = { status: ScsiStatus.TaskSetFull };
    if (!refuse && cmd.read && !conn.ctx.dataBudget.admit(readCharge, this.heldBytes)) refuse = { status: this.busyStatus() };
    if (!refuse && cmd.read) {
      task.readCharge = readCharge;
      this.readBytes += task.readCharge;
      this.hold(task.readCharge);
    }
    this.byItt.set(cmd.itt, task);
    const admitted = conn.admit(cmd.cmdSN, cmd.immediate, () => {
      task.admitted = true;
      if (task.aborted) return this.finish(task);
      if (refuse) return this.respond(task, refuse);
      const c = task.collector;
      if (!c || c.complete) return this.execute(task);
      c.started = true;
      this.sendR2Ts(task, c.nextR2Ts());
    });
    if (!admitted) {
      this.byItt.delete(cmd.itt);
      this.uncharge(task);
    }
  }

  /**
   * Whether one more task of `bytes` would take this connection's outstanding read (or gathering write) data past
   * LIMITS.maxTaskDataBytes. A task alone is never refused; one read counts at most a maximum transfer.
   */
  private overCap(read: boolean, bytes: number): boolean {
    const n = read ? this.readBytes : this.writeBytes;
    return n > 0 && n + Math.min(bytes, LIMITS.maxWriteBytes) > LIMITS.maxTaskDataBytes;
  }

  /** SAM-5 5.3: TASK SET FULL when this nexus has other tasks outstanding (one will end), else BUSY. */
  private busyStatus(): ScsiStatus {
    return this.byItt.size > 0 ? ScsiStatus.TaskSetFull : ScsiStatus.Busy;
  }

  /** Called after readBytes / writeBytes grew by `bytes` (heldBytes is their sum). */
  private hold(bytes: number): void {
    this.conn.ctx.dataBudget.charge(this, bytes);
  }

  /** Called after readBytes / writeBytes shrank by `bytes`. */
  private unhold(bytes: number): void {
    if (bytes !== 0) this.conn.ctx.dataBudget.release(this, bytes);
  }

  progressBytes(): number {
    return this.conn.flushedBytes + this.dataOutBytes;
  }

  cut(why: string): void {
    this.conn.cut(why);
  }

  /** The task's write data is no longer being gathered (it runs, failed, or was aborted). */
  private doneGathering(task: ScsiTask): void {
    task.collector = undefined;
    this.writeBytes -= task.writeCharge;
    this.unhold(task.writeCharge);
    task.writeCharge = 0;
  }

  private uncharge(task: ScsiTask): void {
    this.doneGathering(task);
    this.readBytes -= task.readCharge;
    this.unhold(task.readCharge);
    task.readCharge = 0;
  }

  /** Read data handed to the socket stays charged until the socket has passed its last byte to the kernel. */
  private chargeUntilFlushed(task: ScsiTask): (() => void) | undefined {
    const bytes = task.readCharge;
    if (bytes === 0) return undefined;
    task.readCharge = 0;
    return () => {
      this.readBytes -= bytes;
      this.unhold(bytes);
    };
  }

  /** Framing's question for a large Data-Out: the slice of its command's buffer to gather it into (see DataOutCollector.placement). */
  placeDataOut(bhs: Buffer, length: number): Buffer | undefined {
    const task = this.byItt.get(bhs.readUInt32BE(16));
    if (!task || task.aborted || !task.collector || task.running) return undefined;
    return task.collector.placement(bhs.readUInt32BE(20), bhs.readUInt32BE(36), bhs.readUInt32BE(40), length);
  }

  dataOut(pdu: Pdu): void {
    const d = decodeDataOut(pdu);
    const task = this.byItt.get(d.itt);
    // Data for a task that is gone (aborted, failed, or never admitted) is dropped quietly (RFC 7143 11.5.1).
    if (!task || task.aborted || !task.collector || task.running) return;
    this.dataOutBytes += d.data.length;
    const r = task.collector.accept(d);
    switch (r.kind) {
      case 'error':
        this.conn.ctx.log(`connection ${this.conn.id} ITT 0x${task.itt.toString(16)}: ${r.reason}`);
        this.doneGathering(task);
        if (task.admitted) this.respond(task, { status: ScsiStatus.CheckCondition, sense: SENSE_DATA_PHASE_ERROR });
        else task.aborted = true;
        return;
      case 'complete':
        if (task.admitted) this.execute(task);
        return;
      case 'r2t':
        if (task.admitted) this.sendR2Ts(task, r.r2ts);
        return;
      case 'more':
        return;
    }
  }

  private sendR2Ts(task: ScsiTask, r2ts: { ttt: number; r2tSN: number; offset: number; length: number }[]): void {
    for (const r of r2ts) {
      task.r2tCount++;
      this.conn.send(
        encodeR2T({
          lun: task.lun,
          itt: task.itt,
          ttt: r.ttt,
          statSN: this.conn.statSN,
          expCmdSN: this.conn.expCmdSN,
          maxCmdSN: this.conn.maxCmdSN,
          r2tSN: r.r2tSN,
          bufferOffset: r.offset,
          desiredDataTransferLength: r.length,
        }),
      );
    }
  }

  private execute(task: ScsiTask): void {
    const hold = this.conn.ctx.stepHold;
    if (hold.armed && hold.holdTask(this.conn.initiatorName, task.itt, 'target-received', () => this.execute(task))) return;
    const conn = this.conn;
    const cmd = task.cmd;
    const collector = task.collector;
    const dataOut = collector ? collector.buffer.subarray(0, collector.received) : undefined;
    this.doneGathering(task);
    const run = conn.session!.target.scsi.execute({
      nexus: conn.session!.nexus,
      lun: cmd.lun,
      cdb: cmd.cdb,
      attribute: cmd.attribute as TaskAttribute,
      expectedLength: cmd.expectedDataTransferLength,
      readBit: cmd.read,
      writeBit: cmd.write,
      dataOut,
      abort: task,
      task,
    });
    task.running = run.then(
      (res) => this.respond(task, res),
      (err: unknown) => {
        conn.ctx.log(`SCSI execute threw for ITT 0x${task.itt.toString(16)}: ${String(err)}`);
        this.respond(task, { status: ScsiStatus.CheckCondition, sense: SENSE_INTERNAL_TARGET_FAILURE });
      },
    );
    // SCSI has stored or copied the data by the time it answers: the buffer can serve the next write.
    if (collector?.pooled) void task.running.finally(() => writeBuffers.give(collector.buffer));
  }

  /** Sends the command's data and status, with residuals computed from what the command produced or wanted. */
  private respond(task: ScsiTask, res: ScsiResponse): void {
    const hold = this.conn.ctx.stepHold;
    if (hold.armed && hold.holdTask(this.conn.initiatorName, task.itt, 'target-respond', () => this.respond(task, res))) return;
    if (task.aborted || this.conn.state !== 'full') {
      this.sendTaskAborted(task);
      return this.finish(task);
    }
    const conn = this.conn;
    const edtl = task.cmd.expectedDataTransferLength;
    let natural = 0;
    let data: Uint8Array | undefined;
    if (res.dataIn) {
      natural = res.dataIn.length;
      data = res.dataIn;
    } else if (res.dataOutWanted !== undefined) natural = res.dataOutWanted;
    else if (task.cmd.write) natural = edtl;
    const overflow = natural > edtl;
    const underflow = natural < edtl;
    const residual = overflow ? natural - edtl : edtl - natural;
    const sendLength = data && task.cmd.read ? Math.min(data.length, edtl) : 0;
    const good = res.status === ScsiStatus.Good && !res.sense;
    if (sendLength > 0) {
      const seg = conn.params.maxSendDataSegmentLength;
      const buf = Buffer.from(data!.buffer, data!.byteOffset, sendLength);
      const flushed = this.chargeUntilFlushed(task);
      for (let off = 0; off < sendLength; off += seg) {
        const last = off + seg >= sendLength;
        const collapse = last && good;
        conn.send(
          encodeDataIn({
            final: last,
            acknowledge: false,
            lun: task.lun,
            itt: task.itt,
            ttt: RESERVED_TAG,
            statSN: collapse ? conn.takeStatSN() : 0,
            expCmdSN: this.windowAfter(task, collapse),
            maxCmdSN: conn.maxCmdSN,
            dataSN: task.dataInCount++,
            bufferOffset: off,
            status: collapse ? res.status : undefined,
            overflow,
            underflow,
            residualCount: residual,
            data: buf.subarray(off, Math.min(off + seg, sendLength)),
          }),
          last ? flushed : undefined,
        );
      }
      if (good) return this.finish(task);
    }
    this.windowAfter(task, true);
    conn.send(
      encodeScsiResponse({
        response: 0,
        status: res.status,
        itt: task.itt,
        statSN: conn.takeStatSN(),
        expCmdSN: conn.expCmdSN,
        maxCmdSN: conn.maxCmdSN,
        expDataSN: task.cmd.read ? task.dataInCount : task.r2tCount,
        overflow,
        underflow,
        residualCount: residual,
        sense: res.sense ? Buffer.from(res.sense) : undefined,
      }),
    );
    this.finish(task);
  }

  /** Releases the task's window slot before its status PDU is built, so that PDU carries the widened MaxCmdSN. */
  private windowAfter(task: ScsiTask, releasing: boolean): number {
    if (releasing && task.counted && task.admitted && !task.released) {
      task.released = true;
      this.conn.session?.release();
    }
    return this.conn.expCmdSN;
  }

  private finish(task: ScsiTask): void {
    this.windowAfter(task, true);
    if (this.byItt.get(task.itt) === task) this.byItt.delete(task.itt);
    this.uncharge(task);
  }

  /**
   * Aborts one task (ABORT TASK and friends). Resolves once SCSI let go of it. No response is sent for it, unless
   * `taskAbortedStatus`: a task of another nexus than the TMF's then gets TASK ABORTED status (SAM-5 5.3.3, TAS=1),
   * once SCSI let go of it, so its initiator is not left waiting for a timeout.
   */
  abort(task: ScsiTask, taskAbortedStatus = false): Promise<void> {
    if (taskAbortedStatus && !task.aborted) task.reportAbort = true;
    task.markAborted();
    this.doneGathering(task);
    const running = task.running;
    if (!running) {
      this.sendTaskAborted(task);
      this.finish(task);
    }
    return running ?? Promise.resolve();
  }

  abortWhere(match: (t: ScsiTask) => boolean, taskAbortedStatus = false): Promise<void>[] {
    const waits: Promise<void>[] = [];
    for (const t of [...this.byItt.values()]) if (match(t)) waits.push(this.abort(t, taskAbortedStatus));
    return waits;
  }

  /** The TASK ABORTED status of a task aborted from another nexus (see abort), at most once, while the connection lives. */
  private sendTaskAborted(task: ScsiTask): void {
    if (!task.reportAbort || this.conn.state !== 'full') return;
    task.reportAbort = false;
    const conn = this.conn;
    this.windowAfter(task, true);
    conn.send(
      encodeScsiResponse({
        response: 0,
        status: ScsiStatus.TaskAborted,
        itt: task.itt,
        statSN: conn.takeStatSN(),
        expCmdSN: conn.expCmdSN,
        maxCmdSN: conn.maxCmdSN,
        expDataSN: task.cmd.read ? task.dataInCount : task.r2tCount,
        overflow: false,
        underflow: false,
        residualCount: 0,
      }),
    );
  }

  abortAll(): void {
    this.abortWhere(() => true);
  }

  /** Before a logout answer: tasks still waiting for data never get it; running ones finish. */
  async drain(): Promise<void> {
    const waits: Promise<void>[] = [];
    for (const t of [...this.byItt.values()]) {
      if (t.running) waits.push(t.running);
      else waits.push(this.abort(t));
    }
    await Promise.all(waits);
  }
}
