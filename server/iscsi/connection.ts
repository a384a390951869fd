import type { Socket } from 'node:net';
import { LIMITS, Opcode, RESERVED_TAG } from './constants.ts';
import { PduReader, serializePdu, type FramingError } from './framing.ts';
import { opcodeOf, snAdd, type Pdu } from './pdu.ts';
import { LoginMachine } from './login.ts';
import { decodeLoginRequest, encodeLoginResponse, LoginStatus, Stage, type LoginRequestPdu } from './pdu/login.ts';
import { encodeReject, RejectReason } from './pdu/reject.ts';
import { decodeNop, encodeNopIn } from './pdu/nop.ts';
import { decodeLogoutRequest, encodeLogoutResponse } from './pdu/logout.ts';
import { encodeKeys, type KeyValue } from './text-keys.ts';
import { TextRequests } from './text-requests.ts';
import type { Session } from './session.ts';
import type { ConnectionAddress } from './events.ts';
import type { TargetContext } from './target-context.ts';
import { ScsiTaskHandler } from './scsi-tasks.ts';
import { handleTaskManagement, type TmfConnection } from './task-management.ts';
import { corruptDigest, type DigestCorruption, type FaultPort, type PduFaultPath } from './pdu-faults.ts';

let nextConnectionId = 1;
/** Delay before answering a failed authentication, so guessing secrets over the network is slow. */
const AUTH_FAILURE_DELAY_MS = 1000;

/**
 * One TCP connection to the target: framing in, PDUs out, the login phase, then Full Feature Phase dispatch
 * (RFC 7143 6, 11). SCSI tasks (behind full-feature.ts), task management and Text Requests live in their own
 * modules; this file owns the socket.
 */
export class Connection implements FaultPort, TmfConnection {
  readonly id = nextConnectionId++;
  readonly address: ConnectionAddress;
  state: 'login' | 'full' | 'closed' = 'login';
  session: Session<Connection> | undefined;
  cid = 0;
  /** Next StatSN to hand out (RFC 7143 4.2.2.2). */
  statSN = 0;
  headerDigest = false;
  dataDigest = false;
  /** Ended by a successful Logout: its session's end is not an I_T nexus loss. */
  loggedOut = false;
  readonly tasks: ScsiTaskHandler;
  private readonly reader: PduReader;
  private readonly login: LoginMachine;
  private corked = false;
  private readonly uncork = (): void => {
    this.corked = false;
    this.socket.uncork();
  };
  private loginTimer: NodeJS.Timeout | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private pingTtt = 0;
  private nextTtt = 1;
  private readonly textRequests: TextRequests;
  private closeWaiters: (() => void)[] = [];
  /** Fault injection on this connection's PDUs (server/faults), when the target was given a fault engine. */
  private readonly faults: PduFaultPath | undefined;

  constructor(
    private readonly socket: Socket,
    readonly ctx: TargetContext<Connection, Session<Connection>>,
    readonly portalGroupTag: number,
  ) {
    this.address = {
      localAddress: socket.localAddress ?? '',
      localPort: socket.localPort ?? 0,
      remoteAddress: socket.remoteAddress ?? '',
      remotePort: socket.remotePort ?? 0,
    };
    this.login = new LoginMachine({
      ...ctx.loginPolicy(portalGroupTag),
      sessionExists: (tsih) => ctx.sessionExists(tsih),
      chapRefusal: (name) => ctx.authThrottle.refusal(name, this.address.remoteAddress),
    });
    this.tasks = new ScsiTaskHandler(this);
    this.textRequests = new TextRequests(this);
    this.faults = ctx.faults?.attach(this);
    this.reader = new PduReader({
      pdu: (pdu) => this.receive(pdu),
      error: (err) => this.framingError(err),
      place: (bhs, length) => (this.state === 'full' && opcodeOf(bhs) === Opcode.ScsiDataOut ? this.tasks.placeDataOut(bhs, length) : undefined),
    });
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.reader.push(chunk));
    socket.on('error', () => this.close('socket error'));
    socket.on('close', () => this.close('peer closed'));
    socket.on('drain', () => {
      if (this.state !== 'closed') socket.resume();
    });
    this.loginTimer = setTimeout(() => this.close('login timed out'), LIMITS.loginTimeoutSeconds * 1000);
    this.loginTimer.unref();
    ctx.sessionEvent(this, 'connected', `from ${this.address.remoteAddress}:${this.address.remotePort}`);
  }

  get tsih(): number {
    return this.session?.tsih ?? 0;
  }

  get expCmdSN(): number {
    return this.session?.expCmdSN ?? 0;
  }

  get maxCmdSN(): number {
    return this.session?.maxCmdSN ?? 0;
  }

  allocTtt(): number {
    const t = this.nextTtt;
    // Never 0 (Wireshark takes it for bogus) nor 0xffffffff (the reserved tag).
    this.nextTtt = this.nextTtt >= 0x7fffffff ? 1 : this.nextTtt + 1;
    return t;
  }

  /** Takes the next StatSN for a status-bearing PDU. */
  takeStatSN(): number {
    const sn = this.statSN;
    this.statSN = snAdd(this.statSN, 1);
    return sn;
  }

  /**
   * Queues a PDU. `onFlushed` runs once its bytes have left for the kernel, or once they never will (the socket
   * was destroyed, the connection had closed already, or a fault rule dropped it): the data budget
   * (data-budget.ts) is released there.
   */
  send(pdu: Pdu, onFlushed?: () => void): void {
    if (this.state === 'closed') {
      onFlushed?.();
      return;
    }
    // One property read when no fault rule exists.
    if (this.ctx.faults?.active && this.faults!.out(pdu, onFlushed)) return;
    this.transmit(pdu, onFlushed);
  }

  /** Writes the PDU (FaultPort: `corrupt` makes one digest wrong on the wire, for fault injection). */
  transmit(pdu: Pdu, onFlushed?: () => void, corrupt?: DigestCorruption): void {
    if (this.state === 'closed') {
      onFlushed?.();
      return;
    }
    this.ctx.pduEvent(this, 'out', pdu);
    if (!this.corked) {
      // Gather every PDU produced in this turn of the event loop (all the store completions libuv delivered
      // together) into one writev: on loopback each socket write costs the peer's whole TCP receive path.
      this.corked = true;
      this.socket.cork();
      setImmediate(this.uncork);
    }
    let ok = true;
    const parts = serializePdu(pdu, this.headerDigest, this.dataDigest);
    if (corrupt) corruptDigest(parts, corrupt);
    const last = parts.length - 1;
    for (let i = 0; i < last; i++) ok = this.socket.write(parts[i]!);
    // The callback on the last part only: it runs once every byte of the PDU has reached the kernel.
    ok = this.socket.write(parts[last]!, onFlushed);
    // A slow reader must not make us buffer without bound: stop reading its commands until it drains.
    if (!ok) this.socket.pause();
  }

  sendReject(reason: number, bhs: Buffer, detail: string): void {
    this.ctx.sessionEvent(this, 'protocol-error', `Reject (reason 0x${reason.toString(16)}): ${detail}`);
    this.send(
      encodeReject({
        reason,
        statSN: this.takeStatSN(),
        expCmdSN: this.expCmdSN,
        maxCmdSN: this.maxCmdSN,
        dataSN: 0,
        header: Buffer.from(bhs),
      }),
    );
  }

  /** Bytes the socket has handed to the kernel so far (queued ones not counted): a peer that reads makes it grow. */
  get flushedBytes(): number {
    return this.socket.bytesWritten - this.socket.writableLength;
  }

  /** Closes at once without waiting to flush: for a peer that does not read (its queued data is freed). */
  cut(why: string): void {
    this.close(why);
    this.socket.destroy();
  }

  /** Closes the connection; tasks on it are dropped, the session ends with its last connection (ERL 0). */
  close(why: string): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    clearTimeout(this.loginTimer);
    clearTimeout(this.idleTimer);
    this.reader.stop();
    this.tasks.abortAll();
    this.faults?.close();
    this.socket.destroySoon();
    this.ctx.connectionClosed(this, why);
    for (const w of this.closeWaiters) w();
  }

  /** Ends the connection once everything written so far has left. */
  private endAfterFlush(why: string): void {
    this.socket.end(() => this.close(why));
  }

  whenClosed(): Promise<void> {
    return this.state === 'closed' ? Promise.resolve() : new Promise((r) => this.closeWaiters.push(r));
  }

  private framingError(err: FramingError): void {
    switch (err.kind) {
      case 'data-digest':
        // ERL 0 cannot recover the lost data within the connection (RFC 7143 7.8): say why, then drop it.
        this.sendReject(RejectReason.DataDigestError, err.pdu.bhs, 'data digest mismatch');
        this.endAfterFlush('data digest error');
        return;
      case 'header-digest':
        this.close('header digest error');
        return;
      case 'data-too-long':
        this.close(`data segment of ${err.length} bytes exceeds MaxRecvDataSegmentLength ${err.limit}`);
        return;
      case 'ahs-too-long':
        this.close(`AHS of ${err.length} bytes exceeds the limit`);
        return;
    }
  }

  private receive(pdu: Pdu): void {
    this.ctx.pduEvent(this, 'in', pdu);
    if (this.ctx.faults?.active && this.faults!.in(pdu)) return;
    this.dispatch(pdu);
  }

  // ---- FaultPort (pdu-faults.ts) ----

  get closed(): boolean {
    return this.state === 'closed';
  }

  commandOf(itt: number): { lun: number; cdb: Uint8Array } | undefined {
    return this.tasks.get(itt)?.cmd;
  }

  digestFailed(kind: DigestCorruption, pdu: Pdu): void {
    this.reader.stop();
    this.framingError(kind === 'header' ? { kind: 'header-digest', bhs: pdu.bhs } : { kind: 'data-digest', pdu });
  }

  kill(how: 'reset' | 'fin', why: string): void {
    if (how === 'reset') this.socket.resetAndDestroy();
    else this.socket.end();
    this.close(why);
  }

  /** Handles a received PDU (already in the trace). */
  dispatch(pdu: Pdu): void {
    try {
      if (this.state === 'login') this.receiveLogin(pdu);
      else if (this.state === 'full') this.receiveFull(pdu);
    } catch (err) {
      // A decoding bug must cost this connection at most, never the process.
      this.ctx.log(`connection ${this.id}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      this.close('internal error');
    }
  }

  private resetIdleTimer(): void {
    if (this.idleTimer) {
      this.idleTimer.refresh();
      return;
    }
    this.idleTimer = setTimeout(() => this.ping(), LIMITS.nopInIntervalSeconds * 1000);
    this.idleTimer.unref();
  }

  /** Target-initiated NOP-In (RFC 7143 11.19): checks an idle initiator is still there. */
  private ping(): void {
    if (this.state !== 'full') return;
    if (this.pingTtt !== 0) {
      this.close('no NOP-Out answer to our ping');
      return;
    }
    this.pingTtt = this.allocTtt();
    this.send(
      encodeNopIn({
        immediate: false,
        lun: 0,
        itt: RESERVED_TAG,
        ttt: this.pingTtt,
        sn: this.statSN,
        expSN: this.expCmdSN,
        maxCmdSN: this.maxCmdSN,
        data: Buffer.alloc(0),
      }),
    );
    this.idleTimer = setTimeout(() => this.ping(), LIMITS.nopInTimeoutSeconds * 1000);
    this.idleTimer.unref();
  }

  // ---- login phase ----

  private receiveLogin(pdu: Pdu): void {
    if (opcodeOf(pdu.bhs) !== Opcode.LoginRequest) {
      this.close(`${opcodeOf(pdu.bhs).toString(16)} before login completed`);
      return;
    }
    const req = decodeLoginRequest(pdu);
    if (this.login.stage === undefined) {
      this.statSN = req.expStatSN;
      this.cid = req.cid;
    }
    const step = this.login.step(req);
    if (step.status !== 0) {
      if (step.wrongSecret) this.ctx.authThrottle.failed(this.login.initiatorName, this.address.remoteAddress);
      this.failLogin(req, step.status, step.reason ?? 'login refused', step.authFailure === true, step.answers);
      return;
    }
    let tsih = 0;
    let expCmdSN = req.cmdSN;
    if (step.complete) {
      const bound = this.ctx.bindSession(this, this.login, req);
      if (typeof bound === 'number') {
        this.failLogin(req, bound, 'session binding refused', false, []);
        return;
      }
      this.session = bound;
      tsih = bound.tsih;
      expCmdSN = bound.expCmdSN;
    }
    const maxCmdSN = this.session ? this.session.maxCmdSN : snAdd(req.cmdSN, LIMITS.commandWindow - 1);
    this.send(
      encodeLoginResponse({
        transit: step.transit,
        continue: false,
        csg: step.csg,
        nsg: step.transit ? step.nsg : 0,
        versionMax: 0,
        versionActive: 0,
        isid: req.isid,
        tsih: tsih || req.tsih,
        itt: req.itt,
        statSN: this.takeStatSN(),
        expCmdSN,
        maxCmdSN,
        statusClass: 0,
        statusDetail: 0,
        data: encodeKeys(step.answers),
      }),
    );
    if (step.complete) {
      // Digests start with the first PDU after the final Login Response (RFC 7143 13.1).
      const p = this.login.params;
      this.headerDigest = this.reader.headerDigest = p.headerDigest;
      this.dataDigest = this.reader.dataDigest = p.dataDigest;
      this.state = 'full';
      clearTimeout(this.loginTimer);
      this.resetIdleTimer();
      this.ctx.sessionEvent(
        this,
        'login',
        `${this.login.sessionType} session, TSIH ${tsih}, HeaderDigest=${p.headerDigest ? 'CRC32C' : 'None'} DataDigest=${p.dataDigest ? 'CRC32C' : 'None'}`,
      );
    }
  }

  private failLogin(req: LoginRequestPdu, status: number, reason: string, delay: boolean, answers: KeyValue[]): void {
    this.ctx.sessionEvent(this, 'login-failed', `${reason} (status 0x${status.toString(16).padStart(4, '0')})`, this.login.initiatorName);
    const respond = (): void => {
      this.send(
        encodeLoginResponse({
          transit: false,
          continue: false,
          csg: req.csg,
          nsg: 0,
          versionMax: 0,
          versionActive: 0,
          isid: req.isid,
          tsih: 0,
          itt: req.itt,
          statSN: this.takeStatSN(),
          expCmdSN: req.cmdSN,
          maxCmdSN: req.cmdSN,
          statusClass: status >> 8,
          statusDetail: status & 0xff,
          data: encodeKeys(answers),
        }),
      );
      this.endAfterFlush(`login failed: ${reason}`);
    };
    // Stop reading while the answer waits: nothing more from this initiator matters.
    this.reader.stop();
    if (delay) setTimeout(respond, AUTH_FAILURE_DELAY_MS).unref();
    else respond();
  }

  // ---- Full Feature Phase ----

  private receiveFull(pdu: Pdu): void {
    const session = this.session!;
    this.resetIdleTimer();
    const op = opcodeOf(pdu.bhs);
    switch (op) {
      case Opcode.ScsiDataOut:
        this.tasks.dataOut(pdu);
        return;
      case Opcode.ScsiCommand:
        if (session.type === 'Discovery') return this.sendReject(RejectReason.ProtocolError, pdu.bhs, 'SCSI Command in a discovery session');
        this.tasks.command(pdu);
        return;
      case Opcode.NopOut:
        return this.nopOut(pdu);
      case Opcode.TextRequest:
        return this.textRequests.receive(pdu);
      case Opcode.TaskManagementRequest:
        if (session.type === 'Discovery') return this.sendReject(RejectReason.ProtocolError, pdu.bhs, 'Task Management in a discovery session');
        return handleTaskManagement(this, pdu);
      case Opcode.LogoutRequest:
        return this.logout(pdu);
      case Opcode.Snack:
        // ERL 0 has no SNACK (RFC 7143 11.16).
        return this.sendReject(RejectReason.ProtocolError, pdu.bhs, 'SNACK at ErrorRecoveryLevel 0');
      case Opcode.LoginRequest:
        return this.sendReject(RejectReason.ProtocolError, pdu.bhs, 'Login Request in Full Feature Phase');
      default:
        return this.sendReject(RejectReason.CommandNotSupported, pdu.bhs, `opcode 0x${op.toString(16)}`);
    }
  }

  /** Runs `fn` in CmdSN order; non-immediate requests reopen the window when answered. */
  admit(cmdSN: number, immediate: boolean, fn: () => void): boolean {
    return this.session!.admit(cmdSN, immediate, fn);
  }

  private nopOut(pdu: Pdu): void {
    const n = decodeNop(pdu);
    if (n.itt === RESERVED_TAG) {
      // An answer to our ping (RFC 7143 11.18.3); it takes no CmdSN and gets no answer.
      if (n.ttt !== RESERVED_TAG && n.ttt === this.pingTtt) this.pingTtt = 0;
      return;
    }
    if (n.ttt !== RESERVED_TAG) return this.sendReject(RejectReason.ProtocolError, pdu.bhs, 'NOP-Out with ITT and TTT both set');
    const data = n.data.length > this.login.params.maxSendDataSegmentLength ? n.data.subarray(0, this.login.params.maxSendDataSegmentLength) : n.data;
    const echo = Buffer.from(data);
    this.admit(n.sn, n.immediate, () => {
      this.send(
        encodeNopIn({
          immediate: false,
          lun: n.lun,
          itt: n.itt,
          ttt: RESERVED_TAG,
          sn: this.takeStatSN(),
          expSN: this.expCmdSN,
          maxCmdSN: this.maxCmdSN,
          data: echo,
        }),
      );
      if (!n.immediate) this.session!.release();
    });
  }

  private logout(pdu: Pdu): void {
    const l = decodeLogoutRequest(pdu);
    this.admit(l.cmdSN, l.immediate, () => {
      let response = 0;
      if (l.reason === 2)
        response = 2; // connection recovery needs ERL 2
      else if (l.reason === 1 && l.cid !== this.cid) response = 1;
      else if (l.reason > 2) return this.sendReject(RejectReason.InvalidPduField, pdu.bhs, `logout reason ${l.reason}`);
      void this.tasks.drain().then(() => {
        if (!l.immediate) this.session?.release();
        this.send(
          encodeLogoutResponse({
            response,
            itt: l.itt,
            statSN: this.takeStatSN(),
            expCmdSN: this.expCmdSN,
            maxCmdSN: this.maxCmdSN,
            time2Wait: 0,
            time2Retain: 0,
          }),
        );
        if (response === 0) {
          this.ctx.sessionEvent(this, 'logout', l.reason === 0 ? 'session closed by initiator' : 'connection closed by initiator');
          this.reader.stop();
          this.loggedOut = true;
          this.endAfterFlush('logged out');
        }
      });
    });
  }

  /** The settled parameters (valid once in Full Feature Phase). */
  get params() {
    return this.login.params;
  }

  get initiatorName(): string {
    return this.login.initiatorName;
  }
}

export { LoginStatus, Stage };
