import { Bhs, FINAL_BIT, IMMEDIATE_BIT, Opcode } from '../constants.ts';
import { isImmediate, newPdu, type Pdu } from '../pdu.ts';

/** Logout Request (RFC 7143 11.14). Reason: 0 close the session, 1 close the connection, 2 remove for recovery. */
export interface LogoutRequestPdu {
  immediate: boolean;
  reason: number;
  itt: number;
  cid: number;
  cmdSN: number;
  expStatSN: number;
}

/** Logout Response (RFC 7143 11.15). Response: 0 success, 1 CID not found, 2 recovery not supported, 3 cleanup failed. */
export interface LogoutResponsePdu {
  response: number;
  itt: number;
  statSN: number;
  expCmdSN: number;
  maxCmdSN: number;
  time2Wait: number;
  time2Retain: number;
}

const REASON_MASK = 0x7f;

export function decodeLogoutRequest(pdu: Pdu): LogoutRequestPdu {
  const b = pdu.bhs;
  return {
    immediate: isImmediate(b),
    reason: b[Bhs.Flags]! & REASON_MASK,
    itt: b.readUInt32BE(Bhs.Itt),
    cid: b.readUInt16BE(Bhs.Word20),
    cmdSN: b.readUInt32BE(Bhs.Word24),
    expStatSN: b.readUInt32BE(Bhs.Word28),
  };
}

export function encodeLogoutRequest(l: LogoutRequestPdu): Pdu {
  const pdu = newPdu(Opcode.LogoutRequest | (l.immediate ? IMMEDIATE_BIT : 0));
  const b = pdu.bhs;
  b[Bhs.Flags] = FINAL_BIT | (l.reason & REASON_MASK);
  b.writeUInt32BE(l.itt, Bhs.Itt);
  b.writeUInt16BE(l.cid, Bhs.Word20);
  b.writeUInt32BE(l.cmdSN, Bhs.Word24);
  b.writeUInt32BE(l.expStatSN, Bhs.Word28);
  return pdu;
}

const TIME2WAIT = 40;
const TIME2RETAIN = 42;

export function encodeLogoutResponse(l: LogoutResponsePdu): Pdu {
  const pdu = newPdu(Opcode.LogoutResponse);
  const b = pdu.bhs;
  b[Bhs.Flags] = FINAL_BIT;
  b[2] = l.response;
  b.writeUInt32BE(l.itt, Bhs.Itt);
  b.writeUInt32BE(l.statSN, Bhs.Word24);
  b.writeUInt32BE(l.expCmdSN, Bhs.Word28);
  b.writeUInt32BE(l.maxCmdSN, Bhs.Word32);
  b.writeUInt16BE(l.time2Wait, TIME2WAIT);
  b.writeUInt16BE(l.time2Retain, TIME2RETAIN);
  return pdu;
}

export function decodeLogoutResponse(pdu: Pdu): LogoutResponsePdu {
  const b = pdu.bhs;
  return {
    response: b[2]!,
    itt: b.readUInt32BE(Bhs.Itt),
    statSN: b.readUInt32BE(Bhs.Word24),
    expCmdSN: b.readUInt32BE(Bhs.Word28),
    maxCmdSN: b.readUInt32BE(Bhs.Word32),
    time2Wait: b.readUInt16BE(TIME2WAIT),
    time2Retain: b.readUInt16BE(TIME2RETAIN),
  };
}
