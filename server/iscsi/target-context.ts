import type { LoginMachine } from './login.ts';
import type { LoginPolicy, TargetAccess } from './login.ts';
import type { LoginRequestPdu } from './pdu/login.ts';
import type { KeyValue } from './text-keys.ts';
import type { SessionEventKind } from './events.ts';
import type { Pdu } from './pdu.ts';
import type { PduFaults } from './pdu-faults.ts';
import type { StepHold } from '../taps/step-hold.ts';
import type { DataBudget } from './data-budget.ts';
import type { AuthThrottle } from './auth-throttle.ts';
import type { ItNexus, ScsiCommand, ScsiResponse, TaskManagementFunction } from '../scsi/types.ts';

/** What the iSCSI layer needs from the SCSI target below it. */
export interface ScsiBackend {
  execute(cmd: ScsiCommand): Promise<ScsiResponse>;
  taskManagement(fn: TaskManagementFunction, nexus: ItNexus, lun: number): Promise<void>;
  /** The I_T nexus ended; `loss`: without a logout (connection dropped, session reinstated). */
  nexusLost(nexus: ItNexus, loss: boolean): void;
  /** The LUN exists now (LUNs come and go through the management API). */
  hasLun(lun: number): boolean;
}

/**
 * One iSCSI target of the instance (RFC 7143 3.2.6: a named target node): its SCSI target device with its LUs, and
 * who may log in to it. An instance serves one or several through the same portals.
 */
export interface IscsiTargetEntry extends TargetAccess {
  readonly scsi: ScsiBackend;
}

/**
 * What a connection needs from the instance that owns it: policy, session registry, targets, taps. `C` and `S` are
 * the connection and session types (connection.ts, session.ts), parameters so this file imports neither.
 */
export interface TargetContext<C, S> {
  /** Fault rules to apply to PDUs (server/faults), when fault injection is wired in. */
  readonly faults?: PduFaults;
  /** TARGET WARM / COLD RESET are carried out (`--allow-target-reset`); otherwise refused with "function rejected". */
  readonly allowTargetReset: boolean;
  loginPolicy(portalGroupTag: number): Omit<LoginPolicy, 'sessionExists'>;
  /** Failed CHAP logins counted across connections, per initiator name and source address. */
  readonly authThrottle: AuthThrottle;
  /** The target-wide budget for the data of commands in flight, read and write (`--max-data-in-flight`). */
  readonly dataBudget: DataBudget;
  /** Step mode: holds the stepped task before it runs and before it answers (never armed unless a stepped I/O runs). */
  readonly stepHold: StepHold;
  sessionExists(tsih: number): boolean;
  /** Creates, joins or reinstates the session at the end of login; a number is a login status refusing it. */
  bindSession(conn: C, login: LoginMachine, req: LoginRequestPdu): S | number;
  connectionClosed(conn: C, why: string): void;
  /** SendTargets answer (RFC 7143 13.3, Appendix C); `own`: the session's target (a normal session's empty value). */
  sendTargets(value: string, sessionType: 'Normal' | 'Discovery', portalGroupTag: number, own: string): KeyValue[];
  /** Every connection of every session, for task management that reaches across sessions. */
  connections(): Iterable<C>;
  /** TARGET COLD RESET of `target`: drop its sessions' connections after the response has gone. */
  coldReset(target: IscsiTargetEntry): void;
  pduEvent(conn: C, direction: 'in' | 'out', pdu: Pdu): void;
  sessionEvent(conn: C, kind: SessionEventKind, detail: string, initiatorName?: string): void;
  log(message: string): void;
}
