import { InitiatorSession } from '../initiator/session.ts';
import { clearUnitAttentions, describeStatus, inquiry, parseSense, read16, readCapacity16, write16 } from '../initiator/scsi.ts';
import type { LoginOptions } from '../initiator/login.ts';
import type { CommandOptions, ScsiResult } from '../initiator/session.ts';
import type { StepGate, StepStageId } from '../taps/step-gate.ts';
import type { IoResult } from '../../shared/api/io.ts';

export interface IoRequest {
  lun: number;
  op: 'read' | 'write';
  lba: number;
  blocks: number;
  /** For writes: the bytes, already padded or not (the tail of the last block is zero-filled). */
  data?: Buffer;
  fua?: boolean;
  /** Step mode: hold the I/O at each stage until Next (POST /api/step) or the timeout. */
  step?: boolean;
  stepTimeoutMs?: number;
  /** How long to wait for the status before ABORT TASK and a retry (default DEFAULT_COMMAND_TIMEOUT_MS). */
  timeoutMs?: number;
}

export type { IoResult };

/** The lab initiator's command timeout: long enough for a slow disk, short enough to watch a recovery happen. */
export const DEFAULT_COMMAND_TIMEOUT_MS = 5000;
/** Retries after a timeout, and logins again after a lost connection, per I/O. */
const MAX_RETRIES = 2;

/** Largest I/O the API runs in one request: big enough for a lesson, small enough to answer as JSON. */
export const MAX_API_IO_BLOCKS = 2048;

/**
 * The lab's own initiator: one session to the lab's target, logged in on first use and again after a drop, so the
 * API and console issue real SCSI commands over real TCP (and show up in the trace like any outside initiator).
 */
export class LabInitiator {
  private session: Promise<InitiatorSession> | undefined;
  private blockSizes = new Map<number, number>();
  private cleared = new WeakMap<InitiatorSession, Set<number>>();
  /** Stepped I/Os run on their own session (its own initiator name), so the target holds only those. */
  private stepper: LabInitiator | undefined;

  constructor(
    private readonly login: LoginOptions,
    /** The running target's step gate (server/run-target.ts): stepped I/Os arm it, the target holds at it. */
    private readonly stepGate: StepGate,
    /** Time out, abort and retry commands (off for stepped I/O, which waits for Next as long as the user likes). */
    private readonly recover = true,
  ) {}

  private async get(): Promise<InitiatorSession> {
    if (this.session) {
      const s = await this.session.catch(() => undefined);
      if (s && !s.closed) return s;
    }
    // Every command of the lab's session, UNIT ATTENTION clearing included, survives a lost status.
    this.session = InitiatorSession.login(this.login).then((s) => {
      if (this.recover) s.recovery = { timeoutMs: DEFAULT_COMMAND_TIMEOUT_MS, retries: MAX_RETRIES };
      return s;
    });
    return this.session;
  }

  /** The session, with any unit attention for this LUN cleared first (a new nexus may get a power-on one). */
  private async forLun(lun: number): Promise<InitiatorSession> {
    const s = await this.get();
    if (!this.cleared.has(s)) this.cleared.set(s, new Set());
    const done = this.cleared.get(s)!;
    if (!done.has(lun)) {
      await clearUnitAttentions(s, lun);
      done.add(lun);
    }
    return s;
  }

  async blockSize(lun: number): Promise<number> {
    const known = this.blockSizes.get(lun);
    if (known) return known;
    const cap = await readCapacity16(await this.forLun(lun), lun);
    this.blockSizes.set(lun, cap.blockSize);
    return cap.blockSize;
  }

  /** INQUIRY through the lab's session: standard data, or a VPD page (throws ScsiError on CHECK CONDITION). */
  async inquiry(lun: number, page?: number): Promise<Buffer> {
    return inquiry(await this.forLun(lun), lun, page);
  }

  /** READ CAPACITY(16) through the lab's session. */
  async readCapacity(lun: number): Promise<{ blocks: bigint; blockSize: number; thin: boolean }> {
    return readCapacity16(await this.forLun(lun), lun);
  }

  async io(req: IoRequest): Promise<IoResult> {
    if (req.step) {
      this.stepper ??= new LabInitiator({ ...this.login, initiatorName: `${this.login.initiatorName}-step` }, this.stepGate, false);
      return this.stepper.stepped(req);
    }
    let s = await this.forLun(req.lun);
    const bs = await this.blockSize(req.lun);
    const started = performance.now();
    const data = this.payload(req, bs);
    const recovery: string[] = [];
    const options = { recovery: { timeoutMs: req.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS, retries: MAX_RETRIES, note: (m: string) => recovery.push(m) } };
    let r: ScsiResult;
    for (let attempt = 0; ; attempt++) {
      try {
        r = await this.issue(s, req, bs, data, options);
        break;
      } catch (err) {
        // ERL 0: a lost connection loses its tasks; log in again and issue the command anew (what libiscsi does).
        if (!s.closed || attempt >= MAX_RETRIES) throw err;
        recovery.push(`connection lost: ${err instanceof Error ? err.message : String(err)}`);
        s = await this.forLun(req.lun);
        recovery.push(`logged in again (TSIH ${s.info.tsih}), retrying the command`);
      }
    }
    const result = this.result(req, r, data, performance.now() - started);
    return recovery.length ? { ...result, recovery } : result;
  }

  /** One I/O held at each stage (server/taps/step-gate.ts); the session is ready before the gate is armed. */
  private async stepped(req: IoRequest): Promise<IoResult> {
    const s = await this.forLun(req.lun);
    const bs = await this.blockSize(req.lun);
    const data = this.payload(req, bs);
    const io = `${req.op === 'read' ? 'READ(16)' : 'WRITE(16)'} LBA ${req.lba} ×${req.blocks} on LUN ${req.lun}`;
    let passed: StepStageId[] = [];
    let timedOut = false;
    const off = this.stepGate.onChange((st) => {
      passed = st.passed;
      timedOut = st.timedOut;
    });
    const started = performance.now();
    try {
      const r = await this.stepGate.step(
        { initiatorName: this.login.initiatorName, io, lun: req.lun, lba: req.lba, blocks: req.blocks, timeoutMs: req.stepTimeoutMs },
        async (pause) => {
          await pause('initiator-send', `CDB ${req.op === 'read' ? '88' : '8a'}…, ${req.blocks * bs} bytes ${req.op === 'read' ? 'to read' : 'to write'}`);
          const res = await this.issue(s, req, bs, data);
          await pause('initiator-receive', describeStatus(res));
          return res;
        },
        (res) => describeStatus(res),
      );
      return { ...this.result(req, r, data, performance.now() - started), stepped: { id: this.stepGate.state().id, passed, timedOut } };
    } finally {
      off();
    }
  }

  private payload(req: IoRequest, bs: number): Buffer | undefined {
    if (req.op !== 'write') return undefined;
    const data = Buffer.alloc(req.blocks * bs);
    req.data?.copy(data, 0, 0, Math.min(req.data.length, data.length));
    return data;
  }

  private issue(s: InitiatorSession, req: IoRequest, bs: number, data: Buffer | undefined, extra: CommandOptions = {}): Promise<ScsiResult> {
    return req.op === 'read'
      ? read16(s, req.lun, BigInt(req.lba), req.blocks, bs, extra)
      : write16(s, req.lun, BigInt(req.lba), data!, bs, req.fua === true, extra);
  }

  private result(req: IoRequest, r: ScsiResult, data: Buffer | undefined, durationMs: number): IoResult {
    return {
      ok: r.status === 0,
      status: r.status,
      statusText: describeStatus(r),
      sense: r.sense ? parseSense(r.sense) : undefined,
      dataHex: req.op === 'read' && r.data ? r.data.toString('hex') : undefined,
      bytes: req.op === 'read' ? (r.data?.length ?? 0) : data!.length,
      durationMs,
    };
  }

  async close(): Promise<void> {
    await this.stepper?.close();
    const s = await this.session?.catch(() => undefined);
    await s?.logout().catch(() => undefined);
  }
}
