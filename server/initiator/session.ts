import { Opcode, RESERVED_TAG } from '../iscsi/constants.ts';
import { opcodeOf, snAdd, snLessThan, type Pdu } from '../iscsi/pdu.ts';
import { encodeScsiCommand } from '../iscsi/pdu/scsi-command.ts';
import { decodeDataIn, encodeDataOut } from '../iscsi/pdu/data.ts';
import { decodeR2T } from '../iscsi/pdu/r2t.ts';
import { decodeScsiResponse } from '../iscsi/pdu/scsi-response.ts';
import { decodeNop, encodeNopOut } from '../iscsi/pdu/nop.ts';
import { decodeText, encodeTextRequest } from '../iscsi/pdu/text.ts';
import { decodeTaskManagementResponse, encodeTaskManagementRequest } from '../iscsi/pdu/task-management.ts';
import { decodeLogoutResponse, encodeLogoutRequest } from '../iscsi/pdu/logout.ts';
import { decodeReject } from '../iscsi/pdu/reject.ts';
import { encodeKeys, parseKeys, type KeyValue } from '../iscsi/text-keys.ts';
import type { SessionParams } from '../iscsi/negotiation.ts';
import { InitiatorConnection } from './connection.ts';
import { login, type LoginOptions, type LoginResult } from './login.ts';

export interface ScsiResult {
  status: number;
  sense?: Buffer;
  /** Data-In received (reads), exactly as many bytes as the target sent. */
  data?: Buffer;
  residual: number;
  overflow: boolean;
  underflow: boolean;
}

export interface CommandOptions {
  /** Bytes to read (the Expected Data Transfer Length of a read). */
  readLength?: number;
  /** Bytes to write. */
  dataOut?: Buffer;
  /** SAM task attribute, SIMPLE by default. */
  attribute?: number;
  /** Give up waiting for the status after this long: the command rejects with CommandTimeout (see commandWithRecovery). */
  timeoutMs?: number;
  /** Time out, abort and retry instead of waiting forever (see commandWithRecovery). */
  recovery?: CommandRecovery;
}

interface CommandRecovery {
  timeoutMs: number;
  /** New attempts after the first. */
  retries: number;
  /** Hears each step: "timed out ...", "ABORT TASK ...", "retrying ...". */
  note?: (step: string) => void;
}

/** A command whose status did not arrive in time; the task may still exist on the target (abort it by ITT). */
class CommandTimeout extends Error {
  constructor(
    readonly itt: number,
    readonly cmdSN: number,
    ms: number,
  ) {
    super(`no status for ITT 0x${itt.toString(16)} within ${ms} ms`);
    this.name = 'CommandTimeout';
  }
}

/** A read whose status came before all its data: the data cannot be trusted. */
class IncompleteData extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IncompleteData';
  }
}

/** ABORT TASK (RFC 7143 11.5.1 function 1). */
const TMF_ABORT_TASK = 1;
/** Task Management responses (RFC 7143 11.6.1) a recovery note names. */
const TMF_RESPONSES: Record<number, string> = { 0: 'Function complete', 1: 'Task does not exist', 5: 'Function rejected' };

interface Pending {
  resolve(pdu: Pdu): void;
  reject(err: Error): void;
  onPdu?(pdu: Pdu): boolean;
}

/**
 * A logged-in iSCSI session seen from the initiator (one connection, ERL 0): SCSI commands with immediate and
 * unsolicited data and R2T, NOP, Text (SendTargets), task management and logout.
 */
export class InitiatorSession {
  private nextItt = 0x10;
  private cmdSN: number;
  private expStatSN: number;
  private maxCmdSN: number;
  private readonly pending = new Map<number, Pending>();
  private windowWaiters: (() => void)[] = [];
  /** Applied to every command that brings none of its own (the lab initiator sets it). */
  recovery: CommandRecovery | undefined;

  private constructor(
    private readonly conn: InitiatorConnection,
    readonly params: SessionParams,
    readonly info: LoginResult,
  ) {
    this.cmdSN = info.cmdSN;
    this.expStatSN = info.expStatSN;
    this.maxCmdSN = info.maxCmdSN;
    conn.enableDigests(params.headerDigest, params.dataDigest);
    conn.setHandler((pdu) => this.receive(pdu));
    conn.onClose((why) => {
      for (const p of this.pending.values()) p.reject(why);
      this.pending.clear();
      for (const w of this.windowWaiters) w();
    });
  }

  static async login(opts: LoginOptions): Promise<InitiatorSession> {
    const conn = await InitiatorConnection.open(opts.host, opts.port);
    try {
      const result = await login(conn, opts);
      return new InitiatorSession(conn, result.params, result);
    } catch (err) {
      conn.close();
      throw err;
    }
  }

  get closed(): boolean {
    return this.conn.closedWith !== undefined;
  }

  private allocItt(): number {
    const itt = this.nextItt;
    this.nextItt = this.nextItt >= 0x7fffffff ? 0x10 : this.nextItt + 1;
    return itt;
  }

  /** Takes the next CmdSN, waiting while the target's window is closed (RFC 7143 4.2.2.1). */
  private async takeCmdSN(): Promise<number> {
    while (snLessThan(this.maxCmdSN, this.cmdSN)) {
      if (this.conn.closedWith) throw this.conn.closedWith;
      await new Promise<void>((r) => this.windowWaiters.push(r));
    }
    const sn = this.cmdSN;
    this.cmdSN = snAdd(this.cmdSN, 1);
    return sn;
  }

  private updateWindow(pdu: Pdu): void {
    const op = opcodeOf(pdu.bhs);
    // Every target PDU but a few carries ExpCmdSN/MaxCmdSN at 28/32 (RFC 7143 11.x); R2T and Data-In too.
    if (op === Opcode.LoginResponse) return;
    const maxCmdSN = pdu.bhs.readUInt32BE(32);
    const expCmdSN = pdu.bhs.readUInt32BE(28);
    // MaxCmdSN below ExpCmdSN - 1 is invalid and ignored (RFC 7143 4.2.2.1).
    if (!snLessThan(maxCmdSN, snAdd(expCmdSN, -1)) && snLessThan(this.maxCmdSN, maxCmdSN)) this.maxCmdSN = maxCmdSN;
    if (this.windowWaiters.length && !snLessThan(this.maxCmdSN, this.cmdSN)) {
      const w = this.windowWaiters;
      this.windowWaiters = [];
      for (const f of w) f();
    }
  }

  private receive(pdu: Pdu): void {
    this.updateWindow(pdu);
    const op = opcodeOf(pdu.bhs);
    const itt = pdu.bhs.readUInt32BE(16);
    if (op === Opcode.NopIn && itt === RESERVED_TAG) {
      // The target pings us (RFC 7143 11.19): answer with the same TTT, immediate, no new CmdSN.
      const n = decodeNop(pdu);
      if (n.ttt !== RESERVED_TAG) {
        this.conn.send(
          encodeNopOut({
            immediate: true,
            lun: n.lun,
            itt: RESERVED_TAG,
            ttt: n.ttt,
            sn: this.cmdSN,
            expSN: this.expStatSN,
            maxCmdSN: 0,
            data: Buffer.alloc(0),
          }),
        );
      }
      return;
    }
    if (op === Opcode.Reject) {
      const r = decodeReject(pdu);
      const rejectedItt = r.header.length >= 20 ? r.header.readUInt32BE(16) : RESERVED_TAG;
      const p = this.pending.get(rejectedItt);
      if (p) {
        this.pending.delete(rejectedItt);
        p.reject(new Error(`target rejected the PDU (reason 0x${r.reason.toString(16)})`));
      }
      return;
    }
    if (op === Opcode.AsyncMessage) return;
    const p = this.pending.get(itt);
    if (!p) return;
    if (p.onPdu && !p.onPdu(pdu)) return;
    this.pending.delete(itt);
    p.resolve(pdu);
  }

  private noteStatSN(statSN: number): void {
    this.expStatSN = snAdd(statSN, 1);
  }

  /** Runs one SCSI command and resolves with its status, sense and data (it never throws for CHECK CONDITION). */
  command(lun: number, cdb: Uint8Array, opts: CommandOptions = {}): Promise<ScsiResult> {
    const recovery = opts.recovery ?? this.recovery;
    return recovery ? this.commandWithRecovery(lun, cdb, opts, recovery) : this.commandOnce(lun, cdb, opts);
  }

  private async commandOnce(lun: number, cdb: Uint8Array, opts: CommandOptions): Promise<ScsiResult> {
    const dataOut = opts.dataOut;
    const readLength = opts.readLength ?? 0;
    const edtl = dataOut ? dataOut.length : readLength;
    const itt = this.allocItt();
    const p = this.params;
    const cmdSN = await this.takeCmdSN();
    const cdbBuf = Buffer.alloc(Math.max(16, cdb.length));
    cdbBuf.set(cdb);
    const readBuf = readLength > 0 ? Buffer.alloc(readLength) : undefined;
    let received = 0;
    /** Data-In payload bytes that arrived, to tell a complete read from one whose status overtook its data. */
    let delivered = 0;
    let immediate = 0;
    let unsolicitedEnd = 0;
    if (dataOut) {
      const firstBurst = Math.min(p.firstBurstLength, dataOut.length);
      immediate = p.immediateData ? Math.min(firstBurst, p.maxSendDataSegmentLength) : 0;
      unsolicitedEnd = p.initialR2T ? immediate : firstBurst;
    }
    let timer: NodeJS.Timeout | undefined;
    const result = new Promise<Pdu>((resolve, reject) => {
      if (opts.timeoutMs !== undefined) {
        const ms = opts.timeoutMs;
        timer = setTimeout(() => {
          // Forget the task here; its late PDUs, if any, find no one waiting and are ignored.
          this.pending.delete(itt);
          reject(new CommandTimeout(itt, cmdSN, ms));
        }, ms);
      }
      this.pending.set(itt, {
        resolve,
        reject,
        onPdu: (pdu) => {
          const op = opcodeOf(pdu.bhs);
          if (op === Opcode.ScsiDataIn) {
            const d = decodeDataIn(pdu);
            if (readBuf && d.bufferOffset + d.data.length <= readBuf.length) d.data.copy(readBuf, d.bufferOffset);
            received = Math.max(received, d.bufferOffset + d.data.length);
            delivered += d.data.length;
            return d.status !== undefined;
          }
          if (op === Opcode.R2T && dataOut) {
            const r = decodeR2T(pdu);
            this.sendData(lun, itt, r.ttt, dataOut, r.bufferOffset, r.bufferOffset + r.desiredDataTransferLength);
            return false;
          }
          return op === Opcode.ScsiResponse;
        },
      });
    });
    this.conn.send(
      encodeScsiCommand(
        {
          immediate: false,
          final: unsolicitedEnd <= immediate,
          read: readLength > 0,
          write: !!dataOut,
          attribute: opts.attribute ?? 1,
          lun,
          itt,
          expectedDataTransferLength: edtl,
          cmdSN,
          expStatSN: this.expStatSN,
          cdb: cdbBuf,
        },
        dataOut && immediate > 0 ? dataOut.subarray(0, immediate) : undefined,
      ),
    );
    if (dataOut && unsolicitedEnd > immediate) this.sendData(lun, itt, RESERVED_TAG, dataOut, immediate, unsolicitedEnd);
    const last = await result.finally(() => clearTimeout(timer));
    if (opcodeOf(last.bhs) === Opcode.ScsiDataIn) {
      const d = decodeDataIn(last);
      this.noteStatSN(d.statSN);
      // RFC 7143 11.7.4: status rides on the last Data-In, after all the data. If bytes are missing (a lost or
      // reordered Data-In), the read did not succeed, whatever the status says.
      const expected = d.underflow ? readLength - d.residualCount : readLength;
      if (d.status === 0 && delivered < expected) {
        throw new IncompleteData(
          `READ status GOOD arrived with ${delivered} of ${expected} bytes of Data-In (ITT 0x${itt.toString(16)}): data lost or out of order`,
        );
      }
      return { status: d.status!, data: readBuf?.subarray(0, received), residual: d.residualCount, overflow: d.overflow, underflow: d.underflow };
    }
    const r = decodeScsiResponse(last);
    this.noteStatSN(r.statSN);
    return {
      status: r.status,
      sense: r.sense && r.sense.length ? Buffer.from(r.sense) : undefined,
      data: readBuf && received > 0 ? readBuf.subarray(0, received) : undefined,
      residual: r.residualCount,
      overflow: r.overflow,
      underflow: r.underflow,
    };
  }

  /** One Data-Out sequence covering [from, to), cut to the target's MaxRecvDataSegmentLength. */
  private sendData(lun: number, itt: number, ttt: number, data: Buffer, from: number, to: number): void {
    const seg = this.params.maxSendDataSegmentLength;
    let dataSN = 0;
    for (let off = from; off < to; off += seg) {
      const end = Math.min(off + seg, to);
      this.conn.send(
        encodeDataOut({ final: end >= to, lun, itt, ttt, expStatSN: this.expStatSN, dataSN: dataSN++, bufferOffset: off, data: data.subarray(off, end) }),
      );
    }
  }

  private async request(build: (itt: number, cmdSN: number) => Pdu, immediate: boolean): Promise<Pdu> {
    const itt = this.allocItt();
    const cmdSN = immediate ? this.cmdSN : await this.takeCmdSN();
    const res = new Promise<Pdu>((resolve, reject) => this.pending.set(itt, { resolve, reject }));
    this.conn.send(build(itt, cmdSN));
    const pdu = await res;
    this.noteStatSN(pdu.bhs.readUInt32BE(24));
    return pdu;
  }

  async nop(data: Buffer = Buffer.alloc(0)): Promise<Buffer> {
    const pdu = await this.request(
      (itt, sn) => encodeNopOut({ immediate: true, lun: 0, itt, ttt: RESERVED_TAG, sn, expSN: this.expStatSN, maxCmdSN: 0, data }),
      true,
    );
    return Buffer.from(decodeNop(pdu).data);
  }

  async text(keys: KeyValue[]): Promise<KeyValue[]> {
    let out: KeyValue[] = [];
    let ttt = RESERVED_TAG;
    let data = encodeKeys(keys);
    const chunks: Buffer[] = [];
    for (;;) {
      const send = data;
      const t = ttt;
      const pdu = await this.request(
        (itt, sn) =>
          encodeTextRequest({ immediate: false, final: true, continue: false, lun: 0, itt, ttt: t, sn, expSN: this.expStatSN, maxCmdSN: 0, data: send }),
        false,
      );
      const r = decodeText(pdu);
      chunks.push(Buffer.from(r.data));
      if (!r.continue) break;
      ttt = r.ttt;
      data = Buffer.alloc(0);
    }
    // A SendTargets answer names each target and each of its portals with the same keys (RFC 7143 Appendix C).
    out = parseKeys(Buffer.concat(chunks), true);
    return out;
  }

  async taskManagement(fn: number, lun: number, referencedTaskTag = RESERVED_TAG, refCmdSN?: number): Promise<number> {
    const pdu = await this.request(
      (itt, sn) =>
        encodeTaskManagementRequest({
          immediate: true,
          function: fn,
          lun,
          itt,
          referencedTaskTag,
          cmdSN: sn,
          expStatSN: this.expStatSN,
          refCmdSN: refCmdSN ?? sn,
          expDataSN: 0,
        }),
      true,
    );
    return decodeTaskManagementResponse(pdu).response;
  }

  /**
   * A command that survives a lost status the way an initiator's SCSI layer does it (Linux's eh_abort_handler,
   * libiscsi's task timeout): wait `timeoutMs`, send ABORT TASK for it (RFC 7143 11.5.1, RefCmdSN = its CmdSN),
   * then issue it again with a new ITT, up to `retries` times. `note` hears each step.
   */
  private async commandWithRecovery(lun: number, cdb: Uint8Array, opts: CommandOptions, recovery: CommandRecovery): Promise<ScsiResult> {
    const { retries, timeoutMs } = recovery;
    const note = recovery.note ?? (() => undefined);
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.commandOnce(lun, cdb, { ...opts, timeoutMs });
      } catch (err) {
        if (err instanceof IncompleteData && attempt < retries && !this.closed) {
          // What a careful initiator does with a read it cannot trust: read again.
          note(`${err.message}; retrying the command (attempt ${attempt + 2})`);
          continue;
        }
        if (!(err instanceof CommandTimeout) || attempt >= retries || this.closed) throw err;
        note(`timed out: ${err.message}`);
        const r = await this.taskManagement(TMF_ABORT_TASK, lun, err.itt, err.cmdSN);
        note(`ABORT TASK for ITT 0x${err.itt.toString(16)}: ${TMF_RESPONSES[r] ?? `response ${r}`}`);
        note(`retrying the command (attempt ${attempt + 2})`);
      }
    }
  }

  async logout(): Promise<void> {
    if (this.closed) return;
    try {
      const pdu = await this.request((itt, sn) => encodeLogoutRequest({ immediate: true, reason: 0, itt, cid: 0, cmdSN: sn, expStatSN: this.expStatSN }), true);
      const r = decodeLogoutResponse(pdu);
      if (r.response !== 0) throw new Error(`logout refused (response ${r.response})`);
    } finally {
      this.conn.close();
    }
  }

  close(): void {
    this.conn.close();
  }
}
