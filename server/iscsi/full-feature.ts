/**
 * The Full Feature Phase behind a narrow interface: what SCSI task handling (scsi-tasks.ts) needs of the connection
 * it runs on, and of that connection's session and target. A Connection provides it over its socket; a unit test
 * provides it with a list of sent PDUs (test/unit/iscsi-scsi-tasks.test.ts), so tasks run without sockets.
 */
import type { DataBudget } from './data-budget.ts';
import type { SessionParams } from './negotiation.ts';
import type { Pdu } from './pdu.ts';
import type { IscsiTargetEntry } from './target-context.ts';
import type { ItNexus } from '../scsi/types.ts';
import type { StepHold } from '../taps/step-hold.ts';

/** The session a task's command window and I_T nexus belong to (session.ts). */
export interface TaskSession {
  /** Commands outstanding at most: immediate commands beyond it are rejected. */
  readonly window: number;
  readonly nexus: ItNexus;
  /** The target it logged in to: its SCSI target device runs the commands. */
  readonly target: IscsiTargetEntry;
  /** A non-immediate command finished: its CmdSN window slot reopens. */
  release(): void;
}

/** What the target instance lends every connection's tasks. */
export interface TaskContext {
  /** The target-wide budget for command data in flight (data-budget.ts). */
  readonly dataBudget: DataBudget;
  /** Step mode's holds (server/taps/step-gate.ts); never armed unless a stepped I/O runs. */
  readonly stepHold: StepHold;
  log(message: string): void;
}

/** One connection as its SCSI tasks see it. */
export interface TaskConnection {
  readonly id: number;
  readonly initiatorName: string;
  /** Only 'full' may carry Data-In, R2T and SCSI Response. */
  readonly state: 'login' | 'full' | 'closed';
  readonly session: TaskSession | undefined;
  readonly ctx: TaskContext;
  /** The settled operational parameters (immediate data, burst lengths, segment lengths). */
  readonly params: SessionParams;
  /** The next StatSN, not taken (R2T carries it without advancing it). */
  readonly statSN: number;
  readonly expCmdSN: number;
  readonly maxCmdSN: number;
  /** Bytes the socket has handed to the kernel: a peer that reads makes it grow (the budget's progress check). */
  readonly flushedBytes: number;
  allocTtt(): number;
  takeStatSN(): number;
  /** Queues a PDU; `onFlushed` runs once its bytes left for the kernel, or never will. */
  send(pdu: Pdu, onFlushed?: () => void): void;
  sendReject(reason: number, bhs: Buffer, detail: string): void;
  /** Runs `fn` in CmdSN order (RFC 7143 4.2.2.1); false when the request fell outside the window. */
  admit(cmdSN: number, immediate: boolean, fn: () => void): boolean;
  /** Closes at once, for a peer that holds data without progress. */
  cut(why: string): void;
}
