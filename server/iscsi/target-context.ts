import type { Connection } from './connection.ts';
import type { LoginMachine } from './login.ts';
import type { LoginPolicy } from './login.ts';
import type { LoginRequestPdu } from './pdu/login.ts';
import type { Session } from './session.ts';
import type { KeyValue } from './text-keys.ts';
import type { SessionEventKind } from './events.ts';
import type { Pdu } from './pdu.ts';
import type { AuthThrottle } from './auth-throttle.ts';
import type { DataBudget } from './data-budget.ts';
import type { ItNexus, ScsiCommand, ScsiResponse, TaskManagementFunction } from '../scsi/types.ts';

/** What the iSCSI layer needs from the SCSI target below it. */
export interface ScsiBackend {
  execute(cmd: ScsiCommand): Promise<ScsiResponse>;
  taskManagement(fn: TaskManagementFunction, nexus: ItNexus, lun: number): Promise<void>;
  nexusLost(nexus: ItNexus): void;
}

/** What a connection needs from the target that owns it: policy, session registry, SCSI, taps. */
export interface TargetContext {
  readonly scsi: ScsiBackend;
  readonly lunCount: number;
  loginPolicy(portalGroupTag: number): Omit<LoginPolicy, 'sessionExists'>;
  /** Failed CHAP logins counted across connections, per initiator name and source address. */
  readonly authThrottle: AuthThrottle;
  /** The target-wide budget for the data of commands in flight, read and write (`--max-data-in-flight`). */
  readonly dataBudget: DataBudget;
  sessionExists(tsih: number): boolean;
  /** Creates, joins or reinstates the session at the end of login; a number is a login status refusing it. */
  bindSession(conn: Connection, login: LoginMachine, req: LoginRequestPdu): Session | number;
  connectionClosed(conn: Connection, why: string): void;
  /** SendTargets answer (RFC 7143 13.3, Appendix C). */
  sendTargets(value: string, sessionType: 'Normal' | 'Discovery', portalGroupTag: number): KeyValue[];
  /** Every connection of every session, for task management that reaches across sessions. */
  connections(): Iterable<Connection>;
  /** TARGET COLD RESET: drop every connection after the response has gone. */
  coldReset(): void;
  pduEvent(conn: Connection, direction: 'in' | 'out', pdu: Pdu): void;
  sessionEvent(conn: Connection, kind: SessionEventKind, detail: string, initiatorName?: string): void;
  log(message: string): void;
}
