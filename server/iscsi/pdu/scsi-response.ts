import { Bhs, FINAL_BIT, Opcode } from '../constants.ts';
import { newPdu, type Pdu } from '../pdu.ts';

/** SCSI Response (RFC 7143 11.4). */
export interface ScsiResponsePdu {
  /** iSCSI service response: 0 command completed at target, 1 target failure. */
  response: number;
  status: number;
  itt: number;
  statSN: number;
  expCmdSN: number;
  maxCmdSN: number;
  expDataSN: number;
  overflow: boolean;
  underflow: boolean;
  residualCount: number;
  /** Sense data without its 2-byte SenseLength prefix. */
  sense?: Buffer;
}

export const RESPONSE_OVERFLOW = 0x04;
export const RESPONSE_UNDERFLOW = 0x02;

export function encodeScsiResponse(r: ScsiResponsePdu): Pdu {
  let data: Buffer | undefined;
  if (r.sense && r.sense.length > 0) {
    // RFC 7143 11.4.7: SenseLength, then the sense bytes.
    data = Buffer.allocUnsafe(2 + r.sense.length);
    data.writeUInt16BE(r.sense.length, 0);
    r.sense.copy(data, 2);
  }
  const pdu = newPdu(Opcode.ScsiResponse, data);
  const b = pdu.bhs;
  b[Bhs.Flags] = FINAL_BIT | (r.overflow ? RESPONSE_OVERFLOW : 0) | (r.underflow ? RESPONSE_UNDERFLOW : 0);
  b[2] = r.response;
  b[3] = r.status;
  b.writeUInt32BE(r.itt, Bhs.Itt);
  b.writeUInt32BE(r.statSN, Bhs.Word24);
  b.writeUInt32BE(r.expCmdSN, Bhs.Word28);
  b.writeUInt32BE(r.maxCmdSN, Bhs.Word32);
  b.writeUInt32BE(r.expDataSN, Bhs.Word36);
  b.writeUInt32BE(r.residualCount, Bhs.Word44);
  return pdu;
}

export function decodeScsiResponse(pdu: Pdu): ScsiResponsePdu {
  const b = pdu.bhs;
  const flags = b[Bhs.Flags]!;
  let sense: Buffer | undefined;
  if (pdu.data.length >= 2) {
    const len = pdu.data.readUInt16BE(0);
    sense = pdu.data.subarray(2, 2 + len);
  }
  return {
    response: b[2]!,
    status: b[3]!,
    itt: b.readUInt32BE(Bhs.Itt),
    statSN: b.readUInt32BE(Bhs.Word24),
    expCmdSN: b.readUInt32BE(Bhs.Word28),
    maxCmdSN: b.readUInt32BE(Bhs.Word32),
    expDataSN: b.readUInt32BE(Bhs.Word36),
    overflow: (flags & RESPONSE_OVERFLOW) !== 0,
    underflow: (flags & RESPONSE_UNDERFLOW) !== 0,
    residualCount: b.readUInt32BE(Bhs.Word44),
    sense,
  };
}
