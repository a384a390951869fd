import { Bhs, FINAL_BIT, Opcode } from '../constants.ts';
import { decodeLun, encodeLun, newPdu, type Pdu } from '../pdu.ts';

/** Ready To Transfer (RFC 7143 11.8). */
export interface R2TPdu {
  lun: number;
  itt: number;
  ttt: number;
  statSN: number;
  expCmdSN: number;
  maxCmdSN: number;
  r2tSN: number;
  bufferOffset: number;
  desiredDataTransferLength: number;
}

export function encodeR2T(r: R2TPdu): Pdu {
  const pdu = newPdu(Opcode.R2T);
  const b = pdu.bhs;
  b[Bhs.Flags] = FINAL_BIT;
  encodeLun(b, r.lun);
  b.writeUInt32BE(r.itt, Bhs.Itt);
  b.writeUInt32BE(r.ttt, Bhs.Word20);
  b.writeUInt32BE(r.statSN, Bhs.Word24);
  b.writeUInt32BE(r.expCmdSN, Bhs.Word28);
  b.writeUInt32BE(r.maxCmdSN, Bhs.Word32);
  b.writeUInt32BE(r.r2tSN, Bhs.Word36);
  b.writeUInt32BE(r.bufferOffset, Bhs.Word40);
  b.writeUInt32BE(r.desiredDataTransferLength, Bhs.Word44);
  return pdu;
}

export function decodeR2T(pdu: Pdu): R2TPdu {
  const b = pdu.bhs;
  return {
    lun: decodeLun(b),
    itt: b.readUInt32BE(Bhs.Itt),
    ttt: b.readUInt32BE(Bhs.Word20),
    statSN: b.readUInt32BE(Bhs.Word24),
    expCmdSN: b.readUInt32BE(Bhs.Word28),
    maxCmdSN: b.readUInt32BE(Bhs.Word32),
    r2tSN: b.readUInt32BE(Bhs.Word36),
    bufferOffset: b.readUInt32BE(Bhs.Word40),
    desiredDataTransferLength: b.readUInt32BE(Bhs.Word44),
  };
}
