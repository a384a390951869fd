/**
 * The seam between the SCSI target and the reservations engine (SPC-2 RESERVE/RELEASE and SPC-4 persistent
 * reservations). The target calls `conflicts` before every command and routes the reservation opcodes to `execute`.
 */
import type { ItNexus, ScsiCommand, ScsiResponse } from '../types.ts';

export interface ReservationsHook {
  /** Called before every command: returns true if the command must get RESERVATION CONFLICT for this nexus. */
  conflicts(lun: number, cdb: Uint8Array, nexus: ItNexus): boolean;
  /** Handles RESERVE(6)/RELEASE(6)/RESERVE(10)/RELEASE(10)/PERSISTENT RESERVE IN/OUT. */
  execute(lun: number, cmd: ScsiCommand): Promise<ScsiResponse>;
  reset(lun: number | 'all', kind: 'lu' | 'warm' | 'cold'): void;
  nexusLost(nexus: ItNexus): void;
  /** A logical unit added at run time gets its (fresh, or persisted APTPL) reservation state; a removed one loses it. */
  attachLun(lun: number): void;
  detachLun(lun: number): void;
}
