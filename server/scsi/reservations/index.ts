/**
 * The reservations engine: SPC-2 RESERVE/RELEASE and SPC-4 persistent reservations for every logical unit of
 * the target, behind the ReservationsHook the SCSI target calls. State is per logical unit; SPC-2 reservations and
 * persistent ones exclude each other (SPC-2 5.5.1), so at most one kind is ever in force on a logical unit.
 */
import { be32 } from '../cdb.ts';
import { CheckCondition, Sense, buildSense } from '../sense.ts';
import { ScsiStatus, type ItNexus, type ScsiCommand, type ScsiResponse } from '../types.ts';
import { Op, isSpc2Opcode, persistentConflict, spc2Conflict } from './access-rules.ts';
import type { ReservationsHook } from './hook.ts';
import { conflict, type UnitAttentionCode } from './outcomes.ts';
import { load, save } from './persist.ts';
import { executePrin } from './prin.ts';
import { executeProut } from './prout.ts';
import { executeSpc2 } from './spc2.ts';
import { admitsRegistrants, emptyState, isHolder, registrationFor, type LuState, type Registration } from './state.ts';

/**
 * Asks the SCSI target to establish a unit attention condition (SAM-5 5.14) on logical unit `lun` for the I_T
 * nexus `nexusId`, with sense key UNIT ATTENTION and the given ASC/ASCQ. The engine calls it once per affected
 * nexus, always with a concrete nexus id (it never passes 'all-but'; that form — every nexus except `except` —
 * is reserved for future use). The codes it establishes (SPC-4 5.12.11):
 *   2Ah/03h RESERVATIONS PREEMPTED   — PROUT CLEAR, to every other registrant
 *   2Ah/04h RESERVATIONS RELEASED    — a registrants-only/all-registrants reservation was released or its holder
 *                                      unregistered, or PREEMPT changed the reservation type; to the other registrants
 *   2Ah/05h REGISTRATIONS PREEMPTED  — PREEMPT (AND ABORT) removed this nexus's registration
 * The nexus may not be logged in right now (registrations outlive I_T nexus loss): keep the condition until a
 * nexus with that id shows up, or drop it if the target does not keep state for absent nexuses.
 */
type UnitAttentionCallback = (lun: number, nexusId: string | 'all-but', asc: number, ascq: number, except?: string) => void;

interface ReservationsOptions {
  /** Logical units 0 .. lunCount-1 get independent reservation state. */
  readonly lunCount: number;
  /**
   * Where APTPL state of each logical unit lives. When given, REPORT CAPABILITIES advertises PTPL_C, state is
   * loaded from it at construction and rewritten after every PROUT while APTPL is active (deleted when not).
   * When absent, a REGISTER with APTPL = 1 gets INVALID FIELD IN PARAMETER LIST.
   */
  readonly statePath?: (lun: number) => string;
  readonly onUnitAttention?: UnitAttentionCallback;
}

export class Reservations implements ReservationsHook {
  /** By LUN; undefined for a LUN removed at run time. */
  private readonly luns: (LuState | undefined)[];
  /** Every I_T nexus seen and not yet lost: UA fan-out for ALL_TG_PT and REGISTER AND MOVE destinations. */
  private readonly known = new Map<string, ItNexus>();

  constructor(private readonly options: ReservationsOptions) {
    this.luns = Array.from({ length: options.lunCount }, (_, lun) => (options.statePath ? load(options.statePath(lun)) : emptyState()));
  }

  conflicts(lun: number, cdb: Uint8Array, nexus: ItNexus): boolean {
    const s = this.luns[lun];
    if (!s) return false;
    this.known.set(nexus.id, nexus);
    const op = cdb[0] ?? 0;
    if (s.spc2Holder !== undefined) {
      // SPC-2 5.5.1: a RESERVE-d logical unit refuses PRIN/PROUT from everyone, the holder included
      if (op === Op.PersistentReserveIn || op === Op.PersistentReserveOut) return true;
      return s.spc2Holder !== nexus.id && spc2Conflict(cdb);
    }
    if (isSpc2Opcode(op)) return s.registrations.size > 0;
    const res = s.reservation;
    if (!res) return false;
    const reg = registrationFor(s, nexus);
    if (isHolder(s, reg)) return false;
    if (reg && admitsRegistrants(res.type)) return false;
    return persistentConflict(res.type, cdb);
  }

  async execute(lun: number, cmd: ScsiCommand): Promise<ScsiResponse> {
    const s = this.luns[lun];
    if (!s) return checkCondition(new CheckCondition(Sense.LunNotSupported));
    this.known.set(cmd.nexus.id, cmd.nexus);
    const op = cmd.cdb[0] ?? 0;
    try {
      if (isSpc2Opcode(op)) return executeSpc2(s, cmd.cdb, cmd.nexus);
      if (op === Op.PersistentReserveIn) {
        if (s.spc2Holder !== undefined) return conflict();
        return executePrin(s, cmd.cdb, { persistThroughPowerLoss: this.options.statePath !== undefined });
      }
      if (op === Op.PersistentReserveOut) {
        const wanted = be32(cmd.cdb, 5);
        if (s.spc2Holder !== undefined) return { ...conflict(), dataOutWanted: wanted };
        const response = executeProut(
          {
            state: s,
            nexus: cmd.nexus,
            persistCapable: this.options.statePath !== undefined,
            knownNexuses: () => this.known.values(),
            notify: (reg, code) => this.notify(lun, reg, code),
          },
          cmd.cdb,
          cmd.dataOut ?? new Uint8Array(0),
        );
        if (response.status === ScsiStatus.Good) this.persist(lun, s);
        return { ...response, dataOutWanted: wanted };
      }
      return checkCondition(new CheckCondition(Sense.InvalidOpcode));
    } catch (e) {
      if (e instanceof CheckCondition) {
        const r = checkCondition(e);
        return op === Op.PersistentReserveOut ? { ...r, dataOutWanted: be32(cmd.cdb, 5) } : r;
      }
      throw e;
    }
  }

  /**
   * SAM-5 6.3: every reset releases SPC-2 reservations. Persistent reservations survive LU and warm resets; a
   * cold reset is a power-on (RFC 7143 11.5.1), after which only APTPL state survives (SPC-4 5.12.5).
   */
  reset(lun: number | 'all', kind: 'lu' | 'warm' | 'cold'): void {
    const targets = lun === 'all' ? this.luns.map((_, i) => i) : [lun];
    for (const i of targets) {
      const s = this.luns[i];
      if (!s) continue;
      s.spc2Holder = undefined;
      if (kind === 'cold' && !s.aptpl) this.luns[i] = emptyState();
    }
  }

  /** SPC-2 reservations belong to the I_T nexus and die with it; registrations are persistent and stay. */
  nexusLost(nexus: ItNexus): void {
    this.known.delete(nexus.id);
    for (const s of this.luns) if (s?.spc2Holder === nexus.id) s.spc2Holder = undefined;
  }

  attachLun(lun: number): void {
    this.luns[lun] = this.options.statePath ? load(this.options.statePath(lun)) : emptyState();
  }

  detachLun(lun: number): void {
    this.luns[lun] = undefined;
  }

  private notify(lun: number, reg: Registration, code: UnitAttentionCode): void {
    const cb = this.options.onUnitAttention;
    if (!cb) return;
    const ids = new Set([reg.nexusId]);
    if (reg.allTgPt) for (const n of this.known.values()) if (n.initiatorPort === reg.initiatorPort) ids.add(n.id);
    for (const id of ids) cb(lun, id, code.asc, code.ascq);
  }

  private persist(lun: number, s: LuState): void {
    if (!this.options.statePath) return;
    try {
      save(this.options.statePath(lun), s);
    } catch {
      throw new CheckCondition(Sense.InternalTargetFailure);
    }
  }
}

function checkCondition(e: CheckCondition): ScsiResponse {
  return { status: ScsiStatus.CheckCondition, sense: buildSense(e.reason, e.details) };
}
