import { Bhs, FINAL_BIT, IMMEDIATE_BIT, Opcode } from '../constants.ts';
import { decodeLun, encodeLun, isImmediate, newPdu, type Pdu } from '../pdu.ts';

/** NOP-Out and NOP-In (RFC 7143 11.18, 11.19): one layout, requests carry CmdSN/ExpStatSN, answers StatSN/ExpCmdSN/MaxCmdSN. */
export interface NopPdu {
  immediate: boolean;
  lun: number;
  itt: number;
  ttt: number;
  /** NOP-Out: CmdSN. NOP-In: StatSN. */
  sn: number;
  /** NOP-Out: ExpStatSN. NOP-In: ExpCmdSN. */
  expSN: number;
  /** NOP-In only. */
  maxCmdSN: number;
  /** Ping data, echoed back. */
  data: Buffer;
}

function encodeNop(opcode: number, n: NopPdu): Pdu {
  const pdu = newPdu(opcode | (n.immediate ? IMMEDIATE_BIT : 0), n.data);
  const b = pdu.bhs;
  b[Bhs.Flags] = FINAL_BIT;
  encodeLun(b, n.lun);
  b.writeUInt32BE(n.itt, Bhs.Itt);
  b.writeUInt32BE(n.ttt, Bhs.Word20);
  b.writeUInt32BE(n.sn, Bhs.Word24);
  b.writeUInt32BE(n.expSN, Bhs.Word28);
  if (opcode === Opcode.NopIn) b.writeUInt32BE(n.maxCmdSN, Bhs.Word32);
  return pdu;
}

export function decodeNop(pdu: Pdu): NopPdu {
  const b = pdu.bhs;
  return {
    immediate: isImmediate(b),
    lun: decodeLun(b),
    itt: b.readUInt32BE(Bhs.Itt),
    ttt: b.readUInt32BE(Bhs.Word20),
    sn: b.readUInt32BE(Bhs.Word24),
    expSN: b.readUInt32BE(Bhs.Word28),
    maxCmdSN: b.readUInt32BE(Bhs.Word32),
    data: pdu.data,
  };
}

export const encodeNopOut = (n: NopPdu): Pdu => encodeNop(Opcode.NopOut, n);
export const encodeNopIn = (n: NopPdu): Pdu => encodeNop(Opcode.NopIn, { ...n, immediate: false });
