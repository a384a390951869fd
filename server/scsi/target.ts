/**
 * The SCSI target device (SAM-5 4.6): logical units behind one dispatcher. `execute` takes a command the transport
 * assembled and always answers with a response: failures become CHECK CONDITION with sense built from one table
 * (sense.ts), in the format the LU's control mode page asks for.
 *
 * Dispatch order (SAM-5 5.14 / SPC-4 5.x): LUN exists -> unit attention (except INQUIRY, REPORT LUNS,
 * REQUEST SENSE) -> operation code known -> reservation conflict -> sanitize in progress (SBC-4 4.11.3) -> medium
 * present -> sanitize failure mode -> the command's own checks.
 */
import { StoreMediumError, type BlockStore } from '../store/types.ts';
import { Tap } from '../taps/tap.ts';
import { NO_STEP_HOLD, type StepHold } from '../taps/step-hold.ts';
import type { CommandContext, Handler, TargetInfo } from './context.ts';
import type { ScsiEvent, StoreEvent } from './events.ts';
import { LogicalUnit } from './logical-unit.ts';
import { CATCH_ALL, OPCODES, OpcodeIndex, reservationCatchAll, reservationEntries, type OpcodeEntry } from './opcodes.ts';
import type { ReservationsHook } from './reservations/hook.ts';
import { OPCODE_SANITIZE, configureSanitize, sanitizeFailed, sanitizeProgress, stopSanitize } from './sbc/sanitize.ts';
import { CheckCondition, Sense, SenseKey, buildSense, parseSense, type SenseReason } from './sense.ts';
import { inquiryNoLun } from './spc/inquiry.ts';
import { reportLuns } from './spc/report-luns.ts';
import { requestSenseNoLun } from './spc/request-sense.ts';
import { TappedStore } from './tapped-store.ts';
import { ScsiStatus, TaskManagementFunction, type ItNexus, type ScsiCommand, type ScsiResponse } from './types.ts';

export interface LunOptions {
  store: BlockStore;
  /** Removable medium (INQUIRY RMB): START STOP UNIT can eject/load, PREVENT ALLOW MEDIUM REMOVAL applies. */
  removable?: boolean;
  /** Write protected: writes fail with DATA PROTECT, MODE SENSE reports WP. */
  readOnly?: boolean;
  /** log2(logical blocks per physical block), 0-15 (READ CAPACITY(16) LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT). */
  physicalBlockExponent?: number;
}

interface ScsiTargetOptions {
  /** iSCSI target name (IQN): used for VPD page 83 designators and unit serial numbers. */
  targetName: string;
  /** LUN n is luns[n]. */
  luns: LunOptions[];
  /** T10 vendor identification (at most 8 characters), default "ISCSILAB". */
  vendor?: string;
  /** Product identification (at most 16 characters). */
  product?: string;
  /** How many target ports (portals) reach these LUs, numbered 1..n as iSCSI numbers its portal groups (default 1). */
  targetPorts?: number;
  /** Reservations engine: RESERVE/RELEASE and PERSISTENT RESERVE IN/OUT go to it, and it vetoes conflicting commands. */
  reservations?: ReservationsHook;
  /**
   * Least time a SANITIZE takes, in milliseconds (default 10 s): its passes are paced over it, so initiators see
   * SANITIZE IN PROGRESS and a rising progress indication even on a small LUN (libiscsi's Sanitize.Reset needs the
   * operation still running seconds after it started). 0 runs it at store speed.
   */
  sanitizeMinDurationMs?: number;
  /** Step mode's hold before each LUN's cache and store (server/taps/step-gate.ts); default: never held. */
  stepHold?: StepHold;
}

const DEFAULT_SANITIZE_MIN_DURATION_MS = 10_000;

const OPCODE_INQUIRY = 0x12;
const OPCODE_REQUEST_SENSE = 0x03;
const OPCODE_REPORT_LUNS = 0xa0;

export class ScsiTarget {
  readonly taps: { readonly scsi: Tap<ScsiEvent>; readonly store: Tap<StoreEvent> } = {
    scsi: new Tap<ScsiEvent>('scsi'),
    store: new Tap<StoreEvent>('store'),
  };
  private readonly units = new Map<number, LogicalUnit>();
  private readonly index: OpcodeIndex;
  private info: TargetInfo;
  private readonly reservations: ReservationsHook | undefined;
  private readonly sanitizeMinDurationMs: number;
  private readonly stepHold: StepHold;

  constructor(opts: ScsiTargetOptions) {
    this.reservations = opts.reservations;
    this.sanitizeMinDurationMs = opts.sanitizeMinDurationMs ?? DEFAULT_SANITIZE_MIN_DURATION_MS;
    this.stepHold = opts.stepHold ?? NO_STEP_HOLD;
    opts.luns.forEach((l, lun) => this.units.set(lun, this.makeUnit(lun, l)));
    // Without a reservations engine, RESERVE/RELEASE and PERSISTENT RESERVE IN/OUT are simply not implemented.
    const entries: OpcodeEntry[] = [...OPCODES];
    const catchAll: OpcodeEntry[] = [...CATCH_ALL];
    if (this.reservations) {
      const hook = this.reservations;
      const viaHook: Handler = (ctx) => hook.execute(ctx.lu.lun, ctx.cmd);
      entries.push(...reservationEntries(viaHook));
      catchAll.push(...reservationCatchAll(viaHook));
    }
    this.index = new OpcodeIndex(entries, catchAll);
    this.info = {
      targetName: opts.targetName,
      vendor: opts.vendor ?? 'ISCSILAB',
      product: opts.product ?? 'iSCSI Lab LUN',
      revision: '0001',
      luns: [...this.units.keys()].sort((a, b) => a - b),
      opcodes: entries,
      targetPorts: Array.from({ length: Math.max(1, opts.targetPorts ?? 1) }, (_, i) => i + 1),
    };
  }

  /** The LU behind `lun` (tests, UI); undefined when there is none. */
  logicalUnit(lun: number): LogicalUnit | undefined {
    return this.units.get(lun);
  }

  hasLun(lun: number): boolean {
    return this.units.has(lun);
  }

  private makeUnit(lun: number, l: LunOptions): LogicalUnit {
    const store = new TappedStore(l.store, lun, this.taps.store, this.stepHold);
    const lu = new LogicalUnit(lun, store, l.removable ?? false, l.readOnly ?? false, l.physicalBlockExponent ?? 0);
    configureSanitize(lu, { minDurationMs: this.sanitizeMinDurationMs });
    return lu;
  }

  /**
   * Adds a logical unit at run time (the management API). Every nexus that knows an LU of this target is told the
   * inventory changed (REPORTED LUNS DATA HAS CHANGED, SPC-4 6.33), so it rescans with REPORT LUNS.
   */
  addLogicalUnit(lun: number, l: LunOptions): void {
    if (this.units.has(lun)) throw new Error(`LUN ${lun} exists already`);
    this.units.set(lun, this.makeUnit(lun, l));
    this.reservations?.attachLun(lun);
    this.inventoryChanged();
  }

  /**
   * Removes a logical unit at run time; the transport has aborted its tasks. Its store is closed (flushed) here.
   * The other LUs' nexuses get REPORTED LUNS DATA HAS CHANGED.
   */
  async removeLogicalUnit(lun: number): Promise<void> {
    const lu = this.units.get(lun);
    if (!lu) throw new Error(`no LUN ${lun}`);
    await stopSanitize(lu);
    this.units.delete(lun);
    this.reservations?.detachLun(lun);
    this.inventoryChanged();
    await lu.store.close();
  }

  /**
   * Grows a logical unit's capacity at run time; every nexus that knows it gets CAPACITY DATA HAS CHANGED (SBC-3
   * 4.x, as LIO does on a resize), so it reads the capacity again.
   */
  async growLogicalUnit(lun: number, blockCount: number): Promise<void> {
    const lu = this.units.get(lun);
    if (!lu) throw new Error(`no LUN ${lun}`);
    if (!lu.store.grow) throw new Error(`LUN ${lun} cannot grow`);
    await lu.store.grow(blockCount);
    lu.establishUnitAttention(Sense.CapacityDataChanged);
  }

  private inventoryChanged(): void {
    this.info = { ...this.info, luns: [...this.units.keys()].sort((a, b) => a - b) };
    const nexuses = new Set<string>();
    for (const lu of this.units.values()) for (const id of lu.knownNexuses()) nexuses.add(id);
    for (const lu of this.units.values()) for (const id of nexuses) lu.queueUnitAttention(id, Sense.ReportedLunsDataChanged);
  }

  async execute(cmd: ScsiCommand): Promise<ScsiResponse> {
    const started = this.taps.scsi.active ? performance.now() : 0;
    const lu = this.units.get(cmd.lun);
    let response: ScsiResponse;
    try {
      response = await this.dispatch(cmd, lu);
    } catch (err) {
      response = this.failure(err, cmd, lu);
    }
    if (this.taps.scsi.active) this.emitCommand(cmd, response, started);
    return response;
  }

  async taskManagement(fn: TaskManagementFunction, nexus: ItNexus, lun: number): Promise<void> {
    if (this.taps.scsi.active) this.taps.scsi.emit({ kind: 'task-management', nexusId: nexus.id, lun, fn });
    // SAM-5 6.3.2, 6.3.3: the reset's unit attention is established for every I_T nexus, the requester's included
    // (as LIO does; libiscsi's MultipathIO.Reset checks the requester's path too).
    switch (fn) {
      case TaskManagementFunction.LogicalUnitReset: {
        // The LU's state goes back to defaults and every nexus learns about it.
        this.units.get(lun)?.reset(Sense.LunResetOccurred, true);
        this.reservations?.reset(lun, 'lu');
        break;
      }
      case TaskManagementFunction.TargetWarmReset:
        this.resetAll(Sense.TargetResetOccurred);
        this.reservations?.reset('all', 'warm');
        break;
      case TaskManagementFunction.TargetColdReset:
        this.resetAll(Sense.PowerOnOccurred);
        this.reservations?.reset('all', 'cold');
        break;
      default:
        // Aborts and CLEAR TASK SET act on the transport's task list; CLEAR ACA has no state here (no NACA).
        break;
    }
  }

  /**
   * Establishes a unit attention (sense key UNIT ATTENTION, `asc`/`ascq`) on `lun` for one nexus: how the
   * reservations engine reports RESERVATIONS PREEMPTED / RELEASED / REGISTRATIONS PREEMPTED (SPC-4 5.12.11).
   * With `nexusId` 'all-but', every nexus known to the LU except `except` gets it.
   */
  unitAttention(lun: number, nexusId: string | 'all-but', asc: number, ascq: number, except?: string): void {
    const lu = this.units.get(lun);
    if (!lu) return;
    const reason: SenseReason = { key: SenseKey.UnitAttention, asc, ascq, name: `UNIT ATTENTION ${asc.toString(16)}/${ascq.toString(16)}` };
    if (nexusId === 'all-but') lu.establishUnitAttention(reason, except);
    else lu.queueUnitAttention(nexusId, reason);
  }

  /** The nexus ended: by logout (`loss` false), or by a dropped connection / session reinstatement (`loss` true). */
  nexusLost(nexus: ItNexus, loss = false): void {
    if (this.taps.scsi.active) this.taps.scsi.emit({ kind: 'nexus-lost', nexusId: nexus.id });
    for (const lu of this.units.values()) lu.nexusLost(nexus.id, loss);
    this.reservations?.nexusLost(nexus);
  }

  async close(): Promise<void> {
    await Promise.all([...this.units.values()].map((lu) => stopSanitize(lu)));
    const results = await Promise.allSettled([...this.units.values()].map((lu) => lu.store.close()));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  private async dispatch(cmd: ScsiCommand, lu: LogicalUnit | undefined): Promise<ScsiResponse> {
    const cdb = cmd.cdb;
    const opcode = cdb[0]!;
    if (!lu) {
      // SPC-4 6.6.2, 6.33, 6.39: these three answer for LUNs that do not exist; everything else is refused.
      if (opcode === OPCODE_INQUIRY) return inquiryNoLun(cdb, this.info);
      if (opcode === OPCODE_REPORT_LUNS) return reportLuns(cdb, this.info);
      if (opcode === OPCODE_REQUEST_SENSE) return requestSenseNoLun(cdb);
      throw new CheckCondition(Sense.LunNotSupported);
    }
    const nexusId = cmd.nexus.id;
    lu.seen(nexusId);
    const entry = this.index.lookup(cdb);
    if (!entry?.ignoresUnitAttention && lu.hasUnitAttention(nexusId)) {
      throw new CheckCondition(lu.takeUnitAttention(nexusId)!);
    }
    if (!entry) throw new CheckCondition(Sense.InvalidOpcode);
    if (this.reservations?.conflicts(lu.lun, cdb, cmd.nexus)) return { status: ScsiStatus.ReservationConflict };
    const sanitizing = sanitizeProgress(lu);
    if (sanitizing !== undefined && !entry.duringSanitize) {
      throw new CheckCondition(Sense.SanitizeInProgress, { progress: sanitizing });
    }
    if (entry.mediaAccess && !lu.mediumLoaded) throw new CheckCondition(Sense.MediumNotPresent);
    // Sanitize failure mode (SBC-4 4.11.4): the medium is unusable until a sanitize succeeds or EXIT FAILURE MODE.
    if (entry.mediaAccess && entry.opcode !== OPCODE_SANITIZE && sanitizeFailed(lu)) {
      throw new CheckCondition(Sense.SanitizeCommandFailed);
    }
    const ctx: CommandContext = {
      cmd,
      cdb,
      lu,
      target: this.info,
      units: this.units,
      reservationConflict: (lun, other) => this.reservations?.conflicts(lun, other, cmd.nexus) ?? false,
      io: cmd.task && this.taps.store.active ? { task: cmd.task } : undefined,
    };
    return entry.handler(ctx);
  }

  private failure(err: unknown, cmd: ScsiCommand, lu: LogicalUnit | undefined): ScsiResponse {
    const descriptor = lu?.mode.dSense ?? false;
    if (err instanceof CheckCondition) {
      return { status: ScsiStatus.CheckCondition, sense: buildSense(err.reason, err.details, descriptor) };
    }
    if (err instanceof StoreMediumError) {
      // SBC-4 4.18.1: the medium could not be read (03/11/00) or written (03/0C/00); INFORMATION holds the LBA.
      const reason = err.op === 'read' ? Sense.UnrecoveredReadError : Sense.WriteError;
      return { status: ScsiStatus.CheckCondition, sense: buildSense(reason, { information: err.lba }, descriptor) };
    }
    // Our bug or an I/O error: HARDWARE ERROR, never ILLEGAL REQUEST (which would blame the initiator).
    const cdbHex = Buffer.from(cmd.cdb).toString('hex');
    console.error(`scsi: lun ${cmd.lun} cdb ${cdbHex} from ${cmd.nexus.id}: internal error:`, err);
    return { status: ScsiStatus.CheckCondition, sense: buildSense(Sense.InternalTargetFailure, {}, descriptor) };
  }

  private resetAll(reason: SenseReason): void {
    for (const lu of this.units.values()) lu.reset(reason, true);
  }

  private emitCommand(cmd: ScsiCommand, response: ScsiResponse, started: number): void {
    const entry = this.index.lookup(cmd.cdb);
    this.taps.scsi.emit({
      kind: 'command',
      nexusId: cmd.nexus.id,
      lun: cmd.lun,
      opcode: cmd.cdb[0]!,
      name: entry?.name ?? 'UNKNOWN',
      cdb: cmd.cdb,
      status: response.status,
      sense: response.sense ? parseSense(response.sense) : undefined,
      dataInBytes: response.dataIn?.length ?? 0,
      dataOutBytes: cmd.dataOut?.length ?? 0,
      durationMs: performance.now() - started,
    });
  }
}
