import { Bhs, FINAL_BIT, Opcode } from '../constants.ts';
import { decodeLun, encodeLun, newPdu, type Pdu } from '../pdu.ts';
import { RESPONSE_OVERFLOW, RESPONSE_UNDERFLOW } from './scsi-response.ts';

/** SCSI Data-Out (RFC 7143 11.7). */
export interface DataOutPdu {
  final: boolean;
  lun: number;
  itt: number;
  ttt: number;
  expStatSN: number;
  dataSN: number;
  bufferOffset: number;
  data: Buffer;
}

/** SCSI Data-In (RFC 7143 11.7); with `status` set it carries the command's status (S bit, phase collapse). */
export interface DataInPdu {
  final: boolean;
  acknowledge: boolean;
  lun: number;
  itt: number;
  ttt: number;
  statSN: number;
  expCmdSN: number;
  maxCmdSN: number;
  dataSN: number;
  bufferOffset: number;
  status?: number;
  overflow: boolean;
  underflow: boolean;
  residualCount: number;
  data: Buffer;
}

const ACK_BIT = 0x40;
const STATUS_BIT = 0x01;

export function decodeDataOut(pdu: Pdu): DataOutPdu {
  const b = pdu.bhs;
  return {
    final: (b[Bhs.Flags]! & FINAL_BIT) !== 0,
    lun: decodeLun(b),
    itt: b.readUInt32BE(Bhs.Itt),
    ttt: b.readUInt32BE(Bhs.Word20),
    expStatSN: b.readUInt32BE(Bhs.Word28),
    dataSN: b.readUInt32BE(Bhs.Word36),
    bufferOffset: b.readUInt32BE(Bhs.Word40),
    data: pdu.data,
  };
}

export function encodeDataOut(d: DataOutPdu): Pdu {
  const pdu = newPdu(Opcode.ScsiDataOut, d.data);
  const b = pdu.bhs;
  b[Bhs.Flags] = d.final ? FINAL_BIT : 0;
  encodeLun(b, d.lun);
  b.writeUInt32BE(d.itt, Bhs.Itt);
  b.writeUInt32BE(d.ttt, Bhs.Word20);
  b.writeUInt32BE(d.expStatSN, Bhs.Word28);
  b.writeUInt32BE(d.dataSN, Bhs.Word36);
  b.writeUInt32BE(d.bufferOffset, Bhs.Word40);
  return pdu;
}

export function encodeDataIn(d: DataInPdu): Pdu {
  const pdu = newPdu(Opcode.ScsiDataIn, d.data);
  const b = pdu.bhs;
  const withStatus = d.status !== undefined;
  b[Bhs.Flags] =
    (d.final ? FINAL_BIT : 0) |
    (d.acknowledge ? ACK_BIT : 0) |
    (withStatus ? STATUS_BIT : 0) |
    (withStatus && d.overflow ? RESPONSE_OVERFLOW : 0) |
    (withStatus && d.underflow ? RESPONSE_UNDERFLOW : 0);
  if (withStatus) b[3] = d.status!;
  if (d.acknowledge) encodeLun(b, d.lun);
  b.writeUInt32BE(d.itt, Bhs.Itt);
  b.writeUInt32BE(d.ttt, Bhs.Word20);
  if (withStatus) b.writeUInt32BE(d.statSN, Bhs.Word24);
  b.writeUInt32BE(d.expCmdSN, Bhs.Word28);
  b.writeUInt32BE(d.maxCmdSN, Bhs.Word32);
  b.writeUInt32BE(d.dataSN, Bhs.Word36);
  b.writeUInt32BE(d.bufferOffset, Bhs.Word40);
  if (withStatus) b.writeUInt32BE(d.residualCount, Bhs.Word44);
  return pdu;
}

export function decodeDataIn(pdu: Pdu): DataInPdu {
  const b = pdu.bhs;
  const flags = b[Bhs.Flags]!;
  const withStatus = (flags & STATUS_BIT) !== 0;
  return {
    final: (flags & FINAL_BIT) !== 0,
    acknowledge: (flags & ACK_BIT) !== 0,
    lun: decodeLun(b),
    itt: b.readUInt32BE(Bhs.Itt),
    ttt: b.readUInt32BE(Bhs.Word20),
    statSN: b.readUInt32BE(Bhs.Word24),
    expCmdSN: b.readUInt32BE(Bhs.Word28),
    maxCmdSN: b.readUInt32BE(Bhs.Word32),
    dataSN: b.readUInt32BE(Bhs.Word36),
    bufferOffset: b.readUInt32BE(Bhs.Word40),
    status: withStatus ? b[3]! : undefined,
    overflow: (flags & RESPONSE_OVERFLOW) !== 0,
    underflow: (flags & RESPONSE_UNDERFLOW) !== 0,
    residualCount: b.readUInt32BE(Bhs.Word44),
    data: pdu.data,
  };
}
