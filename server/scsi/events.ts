/**
 * What the SCSI layer tells the trace taps. Built only when a tap is active (see server/taps/tap.ts).
 */
import type { CacheIoReport, TaskIdentity } from '../store/types.ts';
import type { ScsiStatus, TaskManagementFunction } from './types.ts';

export interface ScsiCommandEvent {
  readonly kind: 'command';
  readonly nexusId: string;
  readonly lun: number;
  readonly opcode: number;
  /** T10 name, e.g. "READ(10)"; "UNKNOWN" for opcodes the target does not implement. */
  readonly name: string;
  /** The command's own bytes, valid during the listener's call: copy what you keep. */
  readonly cdb: Uint8Array;
  readonly status: ScsiStatus;
  readonly sense?: { readonly key: number; readonly asc: number; readonly ascq: number };
  readonly dataInBytes: number;
  readonly dataOutBytes: number;
  /** Wall time from execute() to its response, in milliseconds (fractional). */
  readonly durationMs: number;
}

export interface ScsiTaskManagementEvent {
  readonly kind: 'task-management';
  readonly nexusId: string;
  readonly lun: number;
  readonly fn: TaskManagementFunction;
}

export interface ScsiNexusLostEvent {
  readonly kind: 'nexus-lost';
  readonly nexusId: string;
}

export type ScsiEvent = ScsiCommandEvent | ScsiTaskManagementEvent | ScsiNexusLostEvent;

export interface StoreEvent {
  readonly kind: 'read' | 'write' | 'flush' | 'unmap';
  readonly lun: number;
  readonly lba: number;
  readonly blocks: number;
  readonly fua: boolean;
  readonly durationMs: number;
  /** Set when the store call failed. */
  readonly error?: string;
  /** Set when a block cache served the call: per-range outcome (hit, miss, readahead hit, partial) and timings. */
  readonly cache?: CacheIoReport;
  /** The task the call served (absent for calls no command made, e.g. a background flush). */
  readonly task?: TaskIdentity;
}
