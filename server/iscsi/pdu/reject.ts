import { Bhs, FINAL_BIT, Opcode, RESERVED_TAG } from '../constants.ts';
import { newPdu, type Pdu } from '../pdu.ts';

/** Reject reasons (RFC 7143 11.17.1). */
export const RejectReason = {
  DataDigestError: 0x02,
  SnackReject: 0x03,
  ProtocolError: 0x04,
  CommandNotSupported: 0x05,
  ImmediateCommandRejected: 0x06,
  TaskInProgress: 0x07,
  InvalidDataAck: 0x08,
  InvalidPduField: 0x09,
  LongOperationReject: 0x0a,
  DeprecatedNegotiationReset: 0x0b,
  WaitingForLogout: 0x0c,
} as const;

/** Reject (RFC 7143 11.17): carries the rejected PDU's BHS as its data segment. */
export interface RejectPdu {
  reason: number;
  statSN: number;
  expCmdSN: number;
  maxCmdSN: number;
  dataSN: number;
  /** The BHS of the rejected PDU. */
  header: Buffer;
}

export function encodeReject(r: RejectPdu): Pdu {
  const pdu = newPdu(Opcode.Reject, r.header);
  const b = pdu.bhs;
  b[Bhs.Flags] = FINAL_BIT;
  b[2] = r.reason;
  b.writeUInt32BE(RESERVED_TAG, Bhs.Itt);
  b.writeUInt32BE(r.statSN, Bhs.Word24);
  b.writeUInt32BE(r.expCmdSN, Bhs.Word28);
  b.writeUInt32BE(r.maxCmdSN, Bhs.Word32);
  b.writeUInt32BE(r.dataSN, Bhs.Word36);
  return pdu;
}

export function decodeReject(pdu: Pdu): RejectPdu {
  const b = pdu.bhs;
  return {
    reason: b[2]!,
    statSN: b.readUInt32BE(Bhs.Word24),
    expCmdSN: b.readUInt32BE(Bhs.Word28),
    maxCmdSN: b.readUInt32BE(Bhs.Word32),
    dataSN: b.readUInt32BE(Bhs.Word36),
    header: pdu.data,
  };
}
