/**
 * The contract between a SCSI transport (iSCSI today) and the SCSI target (SAM-5 terms). SCSI knows nothing of
 * iSCSI: the transport hands it a command with its data-out already gathered, and turns the response into PDUs.
 */
import type { TaskIdentity } from '../store/types.ts';

/** An I_T nexus (SAM-5 4.7): one initiator port talking to one target port. iSCSI builds it from the session. */
export interface ItNexus {
  /** Unique and stable for the life of the nexus: "<initiator name>,i,0x<ISID>" + ",t,0x<TPGT>" in iSCSI. */
  readonly id: string;
  /** The initiator's name (iSCSI InitiatorName), which persistent reservations and ACLs key on. */
  readonly initiatorName: string;
  /** The initiator port identifier, i.e. "<InitiatorName>,i,0x<ISID>" (SPC-4 TransportID format 01b). */
  readonly initiatorPort: string;
  /** Relative target port identifier (1-based), for VPD page 83 and reservations across portals. */
  readonly relativeTargetPort: number;
}

/** SAM-5 task attributes, as carried in the iSCSI SCSI Command ATTR field. */
export const enum TaskAttribute {
  Untagged = 0,
  Simple = 1,
  Ordered = 2,
  HeadOfQueue = 3,
  Aca = 4,
}

export interface ScsiCommand {
  readonly nexus: ItNexus;
  readonly lun: number;
  /** The CDB, exactly as long as the transport received it (16 bytes, or more with an extended CDB AHS). */
  readonly cdb: Uint8Array;
  readonly attribute: TaskAttribute;
  /** Expected Data Transfer Length from the transport: bytes the initiator will send (write) or accept (read). */
  readonly expectedLength: number;
  /** Transport direction bits (iSCSI R and W). */
  readonly readBit: boolean;
  readonly writeBit: boolean;
  /**
   * Data-out gathered by the transport: exactly `expectedLength` bytes for a write (fewer only if the initiator
   * sent fewer). A command that needs more than this must use only what is here and report the shortfall through
   * `dataOutWanted` (the transport turns it into an overflow residual).
   */
  readonly dataOut?: Uint8Array;
  /**
   * Fired by the transport when the task is aborted (ABORT TASK, task set / LU / target reset, connection loss).
   * Handlers that wait on a long operation which outlives the command (SANITIZE with IMMED = 0) stop waiting; the
   * response is then discarded. Optional: a transport without aborts leaves it unset.
   */
  readonly abort?: AbortWatch;
  /** The transport's name for this task (connection + task tag), for joining trace events by identity. */
  readonly task?: TaskIdentity;
}

/**
 * How a long-running command learns that its task was aborted. The transport's own task record implements it, so
 * the common case (nobody watches) costs no allocation; AbortController/AbortSignal cost ~3% of a 4 KiB write.
 */
export interface AbortWatch {
  readonly aborted: boolean;
  /** Calls `fn` once when the task is aborted; the returned function cancels that. */
  onAbort(fn: () => void): () => void;
}

export const enum ScsiStatus {
  Good = 0x00,
  CheckCondition = 0x02,
  ConditionMet = 0x04,
  Busy = 0x08,
  ReservationConflict = 0x18,
  TaskSetFull = 0x28,
  AcaActive = 0x30,
  TaskAborted = 0x40,
}

export interface ScsiResponse {
  status: ScsiStatus;
  /** Sense data (fixed or descriptor format) for CHECK CONDITION. */
  sense?: Uint8Array;
  /**
   * Data-in the command produced, at its natural length (e.g. the allocation length's worth, or the blocks read).
   * If longer than `expectedLength`, the transport sends only `expectedLength` bytes and reports an overflow.
   */
  dataIn?: Uint8Array;
  /** For data-out commands: the bytes the CDB called for, so the transport can report the residual. */
  dataOutWanted?: number;
}

/** SAM-5 task management functions the SCSI target itself must act on (aborts are the transport's job). */
export const enum TaskManagementFunction {
  AbortTask = 1,
  AbortTaskSet = 2,
  ClearAca = 3,
  ClearTaskSet = 4,
  LogicalUnitReset = 5,
  TargetWarmReset = 6,
  TargetColdReset = 7,
}
