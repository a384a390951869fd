import { Bhs, FINAL_BIT, IMMEDIATE_BIT, Opcode } from '../constants.ts';
import { decodeLun, encodeLun, isImmediate, newPdu, type Pdu } from '../pdu.ts';

/** Task Management Function Request (RFC 7143 11.5). */
export interface TaskManagementRequestPdu {
  immediate: boolean;
  /** 1 ABORT TASK ... 7 TARGET COLD RESET, 8 TASK REASSIGN. */
  function: number;
  lun: number;
  itt: number;
  referencedTaskTag: number;
  cmdSN: number;
  expStatSN: number;
  refCmdSN: number;
  expDataSN: number;
}

/** Task Management Function Response (RFC 7143 11.6). */
export interface TaskManagementResponsePdu {
  response: number;
  itt: number;
  statSN: number;
  expCmdSN: number;
  maxCmdSN: number;
}

/** TMF response codes (RFC 7143 11.6.1). */
export const TmfResponse = {
  FunctionComplete: 0,
  TaskDoesNotExist: 1,
  LunDoesNotExist: 2,
  TaskStillAllegiant: 3,
  ReassignmentNotSupported: 4,
  NotSupported: 5,
  AuthorizationFailed: 6,
  Rejected: 255,
} as const;

const FUNCTION_MASK = 0x7f;

export function decodeTaskManagementRequest(pdu: Pdu): TaskManagementRequestPdu {
  const b = pdu.bhs;
  return {
    immediate: isImmediate(b),
    function: b[Bhs.Flags]! & FUNCTION_MASK,
    lun: decodeLun(b),
    itt: b.readUInt32BE(Bhs.Itt),
    referencedTaskTag: b.readUInt32BE(Bhs.Word20),
    cmdSN: b.readUInt32BE(Bhs.Word24),
    expStatSN: b.readUInt32BE(Bhs.Word28),
    refCmdSN: b.readUInt32BE(Bhs.Word32),
    expDataSN: b.readUInt32BE(Bhs.Word36),
  };
}

export function encodeTaskManagementRequest(t: TaskManagementRequestPdu): Pdu {
  const pdu = newPdu(Opcode.TaskManagementRequest | (t.immediate ? IMMEDIATE_BIT : 0));
  const b = pdu.bhs;
  b[Bhs.Flags] = FINAL_BIT | (t.function & FUNCTION_MASK);
  encodeLun(b, t.lun);
  b.writeUInt32BE(t.itt, Bhs.Itt);
  b.writeUInt32BE(t.referencedTaskTag, Bhs.Word20);
  b.writeUInt32BE(t.cmdSN, Bhs.Word24);
  b.writeUInt32BE(t.expStatSN, Bhs.Word28);
  b.writeUInt32BE(t.refCmdSN, Bhs.Word32);
  b.writeUInt32BE(t.expDataSN, Bhs.Word36);
  return pdu;
}

export function encodeTaskManagementResponse(t: TaskManagementResponsePdu): Pdu {
  const pdu = newPdu(Opcode.TaskManagementResponse);
  const b = pdu.bhs;
  b[Bhs.Flags] = FINAL_BIT;
  b[2] = t.response;
  b.writeUInt32BE(t.itt, Bhs.Itt);
  b.writeUInt32BE(t.statSN, Bhs.Word24);
  b.writeUInt32BE(t.expCmdSN, Bhs.Word28);
  b.writeUInt32BE(t.maxCmdSN, Bhs.Word32);
  return pdu;
}

export function decodeTaskManagementResponse(pdu: Pdu): TaskManagementResponsePdu {
  const b = pdu.bhs;
  return {
    response: b[2]!,
    itt: b.readUInt32BE(Bhs.Itt),
    statSN: b.readUInt32BE(Bhs.Word24),
    expCmdSN: b.readUInt32BE(Bhs.Word28),
    maxCmdSN: b.readUInt32BE(Bhs.Word32),
  };
}
