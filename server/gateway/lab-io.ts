import { InitiatorSession } from '../initiator/session.ts';
import { clearUnitAttentions, describeStatus, parseSense, read16, readCapacity16, write16 } from '../initiator/scsi.ts';
import type { LoginOptions } from '../initiator/login.ts';

export interface IoRequest {
  lun: number;
  op: 'read' | 'write';
  lba: number;
  blocks: number;
  /** For writes: the bytes, already padded or not (the tail of the last block is zero-filled). */
  data?: Buffer;
  fua?: boolean;
}

export interface IoResult {
  ok: boolean;
  status: number;
  /** "GOOD", or "CHECK CONDITION, ILLEGAL REQUEST: ..." */
  statusText: string;
  sense?: { key: number; asc: number; ascq: number };
  /** Read data as hex (reads only). */
  dataHex?: string;
  bytes: number;
  durationMs: number;
}

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

  constructor(private readonly login: LoginOptions) {}

  private async get(): Promise<InitiatorSession> {
    if (this.session) {
      const s = await this.session.catch(() => undefined);
      if (s && !s.closed) return s;
    }
    this.session = InitiatorSession.login(this.login);
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

  async io(req: IoRequest): Promise<IoResult> {
    const s = await this.forLun(req.lun);
    const bs = await this.blockSize(req.lun);
    const started = performance.now();
    let data: Buffer | undefined;
    if (req.op === 'write') {
      data = Buffer.alloc(req.blocks * bs);
      req.data?.copy(data, 0, 0, Math.min(req.data.length, data.length));
    }
    const r = req.op === 'read'
      ? await read16(s, req.lun, BigInt(req.lba), req.blocks, bs)
      : await write16(s, req.lun, BigInt(req.lba), data!, bs, req.fua === true);
    const durationMs = performance.now() - started;
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
    const s = await this.session?.catch(() => undefined);
    await s?.logout().catch(() => undefined);
  }
}
