/**
 * What a command handler sees: the command, its LU, and read-only facts about the target. Handlers return a
 * response or throw a CheckCondition; they never build sense bytes themselves.
 */
import type { LogicalUnit } from './logical-unit.ts';
import type { IoTrace } from '../store/types.ts';
import { ScsiStatus, type ScsiCommand, type ScsiResponse } from './types.ts';

export interface TargetInfo {
  /** iSCSI target name (IQN): the basis of VPD page 83 designators and unit serial numbers. */
  readonly targetName: string;
  /** T10 vendor identification, at most 8 ASCII characters. */
  readonly vendor: string;
  /** Product identification, at most 16 ASCII characters. */
  readonly product: string;
  /** Product revision level, at most 4 ASCII characters. */
  readonly revision: string;
  /** LUN numbers in ascending order (REPORT LUNS). */
  readonly luns: readonly number[];
  /** The commands this target implements (REPORT SUPPORTED OPERATION CODES). */
  readonly opcodes: readonly OpcodeEntry[];
  /**
   * Relative target port identifiers (1, 2, ... one per portal, = iSCSI TPGT), each also its own target port group
   * (REPORT TARGET PORT GROUPS, VPD page 83); more than one sets INQUIRY's MULTIP bit.
   */
  readonly targetPorts: readonly number[];
}

export interface CommandContext {
  readonly cmd: ScsiCommand;
  readonly cdb: Uint8Array;
  readonly lu: LogicalUnit;
  readonly target: TargetInfo;
  /** Every LU of the target by LUN: an EXTENDED COPY's copy manager reads and writes the LUs its list names. */
  readonly units: ReadonlyMap<number, LogicalUnit>;
  /**
   * Would `cdb` to LU `lun` get RESERVATION CONFLICT from this command's I_T nexus? For commands that reach other
   * LUs than the one addressed (EXTENDED COPY): they may not bypass those LUs' reservations.
   */
  readonly reservationConflict: (lun: number, cdb: Uint8Array) => boolean;
  /**
   * Pass as the last argument of every store call: names the task to the store tap (only set while one listens),
   * so the trace joins the store event to its command by identity.
   */
  readonly io?: IoTrace;
}

export type Handler = (ctx: CommandContext) => Promise<ScsiResponse> | ScsiResponse;

export function good(): ScsiResponse {
  return { status: ScsiStatus.Good };
}

/**
 * Data-in for a command with an ALLOCATION LENGTH: the device server returns no more than the allocation length,
 * and truncation is not an error (SPC-4 4.3.5.6).
 */
export function withAllocation(data: Uint8Array, allocationLength: number): ScsiResponse {
  return {
    status: ScsiStatus.Good,
    dataIn: data.length > allocationLength ? data.subarray(0, allocationLength) : data,
  };
}

/** One row of the target's opcode table (server/scsi/opcodes.ts), which REPORT SUPPORTED OPERATION CODES reads. */
export interface OpcodeEntry {
  readonly opcode: number;
  /** For commands selected by opcode + service action (byte 1 bits 4-0). */
  readonly serviceAction?: number;
  /** T10 name, e.g. "READ(10)". */
  readonly name: string;
  readonly cdbLength: number;
  readonly handler: Handler;
  /** Needs the medium: NOT READY / MEDIUM NOT PRESENT while a removable LUN's medium is ejected. */
  readonly mediaAccess?: boolean;
  /** Reported even with a unit attention pending (SPC-4 / SAM-5 5.14: INQUIRY, REPORT LUNS, REQUEST SENSE). */
  readonly ignoresUnitAttention?: boolean;
  /** Exact CDB usage data for REPORT SUPPORTED OPERATION CODES; generated when absent. */
  readonly usage?: readonly number[];
  /** Still processed while a sanitize is in progress (SBC-4 4.11.3); everything else gets SANITIZE IN PROGRESS. */
  readonly duringSanitize?: boolean;
  /** Whether REPORT SUPPORTED OPERATION CODES lists it for this LU (default: always). */
  readonly supported?: (lu: LogicalUnit) => boolean;
}
