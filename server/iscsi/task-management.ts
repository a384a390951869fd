import type { TaskConnection, TaskContext, TaskSession } from './full-feature.ts';
import type { ScsiTaskHandler } from './scsi-tasks.ts';
import type { IscsiTargetEntry } from './target-context.ts';
import type { SessionEventKind } from './events.ts';
import type { Pdu } from './pdu.ts';
import { decodeTaskManagementRequest, encodeTaskManagementResponse, TmfResponse } from './pdu/task-management.ts';
import { TMF_FUNCTION_NAMES as TMF_NAMES } from '../../shared/protocol/iscsi.ts';
import { snLessThan } from './pdu.ts';
import { TaskManagementFunction, type ItNexus } from '../scsi/types.ts';

/** A connection as task management sees it: its tasks, its session's other connections, the instance's reach. */
export interface TmfConnection extends TaskConnection {
  readonly tasks: ScsiTaskHandler;
  readonly session: TmfSession | undefined;
  readonly ctx: TmfContext;
}

interface TmfSession extends TaskSession {
  readonly connections: ReadonlySet<TmfConnection>;
}

interface TmfContext extends TaskContext {
  /** TARGET WARM / COLD RESET are carried out (`--allow-target-reset`); otherwise refused. */
  readonly allowTargetReset: boolean;
  /** Every connection of every session: CLEAR TASK SET and the resets reach other nexuses' tasks. */
  connections(): Iterable<TmfConnection>;
  coldReset(target: IscsiTargetEntry): void;
  sessionEvent(conn: TmfConnection, kind: SessionEventKind, detail: string): void;
}

/**
 * Task Management Function Request handling (RFC 7143 11.5, SAM-5 7). The requester's own aborted tasks get no
 * response; other nexuses' tasks aborted by CLEAR TASK SET or a reset get TASK ABORTED status (TAS=1). The TMF
 * response leaves only after SCSI has let go of every affected task, so no write lands after a reset's answer.
 */
export function handleTaskManagement(conn: TmfConnection, pdu: Pdu): void {
  const req = decodeTaskManagementRequest(pdu);
  conn.admit(req.cmdSN, req.immediate, () => {
    void run(conn, req.function, req.lun, req.referencedTaskTag, req.refCmdSN, req.cmdSN).then(
      (response) => reply(response),
      (err: unknown) => {
        conn.ctx.log(`TMF ${TMF_NAMES[req.function] ?? req.function} failed: ${String(err)}`);
        reply(TmfResponse.Rejected);
      },
    );
  });

  function reply(response: number): void {
    if (!req.immediate) conn.session?.release();
    conn.send(encodeTaskManagementResponse({ response, itt: req.itt, statSN: conn.takeStatSN(), expCmdSN: conn.expCmdSN, maxCmdSN: conn.maxCmdSN }));
    conn.ctx.sessionEvent(conn, 'task-management', `${TMF_NAMES[req.function] ?? `function ${req.function}`} LUN ${req.lun}: response ${response}`);
    if (req.function === TaskManagementFunction.TargetColdReset && response === TmfResponse.FunctionComplete) conn.ctx.coldReset(conn.session!.target);
  }
}

async function run(conn: TmfConnection, fn: number, lun: number, refItt: number, refCmdSN: number, cmdSN: number): Promise<number> {
  const ctx = conn.ctx;
  const nexus = conn.session!.nexus;
  // Task management reaches this session's SCSI target device only (SAM-5 7: the LUs of one target).
  const target = conn.session!.target;
  const lunExists = target.scsi.hasLun(lun);
  const sameTarget = (c: TmfConnection): boolean => c.session?.target === target;
  switch (fn) {
    case TaskManagementFunction.AbortTask: {
      const task = conn.tasks.get(refItt);
      if (!task || task.lun !== lun) {
        // RFC 7143 11.5.1: a task not yet received (RefCmdSN still inside the window, before this request)
        // counts as received and aborted; one outside the window does not exist.
        const inWindow = !snLessThan(refCmdSN, conn.expCmdSN) && !snLessThan(conn.maxCmdSN, refCmdSN);
        return inWindow && snLessThan(refCmdSN, cmdSN) ? TmfResponse.FunctionComplete : TmfResponse.TaskDoesNotExist;
      }
      await conn.tasks.abort(task);
      return TmfResponse.FunctionComplete;
    }
    case TaskManagementFunction.AbortTaskSet:
    case TaskManagementFunction.ClearTaskSet:
    case TaskManagementFunction.ClearAca:
    case TaskManagementFunction.LogicalUnitReset: {
      if (!lunExists) return TmfResponse.LunDoesNotExist;
      // ABORT TASK SET reaches this nexus's tasks; the others reach every nexus's tasks on the LU (SAM-5 7.3, 7.4, 7.7).
      const waits =
        fn === TaskManagementFunction.AbortTaskSet
          ? sessionConnections(conn).flatMap((c) => c.tasks.abortWhere((t) => t.lun === lun))
          : fn === TaskManagementFunction.ClearAca
            ? []
            : [...ctx.connections()].filter(sameTarget).flatMap((c) => c.tasks.abortWhere((t) => t.lun === lun, otherNexus(c, nexus)));
      await Promise.all(waits);
      await target.scsi.taskManagement(fn as TaskManagementFunction, nexus, lun);
      return TmfResponse.FunctionComplete;
    }
    case TaskManagementFunction.TargetWarmReset:
    case TaskManagementFunction.TargetColdReset: {
      // One initiator resetting the whole target drops every other initiator's work (and, cold, their sessions):
      // refused unless the target was started with --allow-target-reset, as LIO refuses them by default.
      if (!ctx.allowTargetReset) {
        ctx.log(`${TMF_NAMES[fn]} from ${nexus.initiatorName} refused: the target runs without --allow-target-reset`);
        return TmfResponse.Rejected;
      }
      await Promise.all([...ctx.connections()].filter(sameTarget).flatMap((c) => c.tasks.abortWhere(() => true, otherNexus(c, nexus))));
      await target.scsi.taskManagement(fn as TaskManagementFunction, nexus, lun);
      return TmfResponse.FunctionComplete;
    }
    case 8: // TASK REASSIGN needs ErrorRecoveryLevel 2
      return TmfResponse.ReassignmentNotSupported;
    default:
      return TmfResponse.NotSupported;
  }
}

/** Tasks on `c` belong to another I_T nexus than the TMF's: with TAS=1 they end with TASK ABORTED status (SAM-5 5.3.3). */
function otherNexus(c: TmfConnection, nexus: ItNexus): boolean {
  return c.session !== undefined && c.session.nexus.id !== nexus.id;
}

function sessionConnections(conn: TmfConnection): TmfConnection[] {
  return conn.session ? [...conn.session.connections] : [conn];
}
