import { Bhs, FINAL_BIT, IMMEDIATE_BIT, Opcode } from '../constants.ts';
import { decodeLun, encodeLun, isImmediate, newPdu, type Pdu } from '../pdu.ts';

/** Text Request and Text Response (RFC 7143 11.10, 11.11) share one layout but for the sequence numbers. */
export interface TextPdu {
  immediate: boolean;
  final: boolean;
  continue: boolean;
  lun: number;
  itt: number;
  ttt: number;
  /** Request: CmdSN. Response: StatSN. */
  sn: number;
  /** Request: ExpStatSN. Response: ExpCmdSN. */
  expSN: number;
  /** Response only: MaxCmdSN. */
  maxCmdSN: number;
  data: Buffer;
}

const CONTINUE_BIT = 0x40;

function encodeText(opcode: number, t: TextPdu): Pdu {
  const pdu = newPdu(opcode | (t.immediate ? IMMEDIATE_BIT : 0), t.data);
  const b = pdu.bhs;
  b[Bhs.Flags] = (t.final ? FINAL_BIT : 0) | (t.continue ? CONTINUE_BIT : 0);
  encodeLun(b, t.lun);
  b.writeUInt32BE(t.itt, Bhs.Itt);
  b.writeUInt32BE(t.ttt, Bhs.Word20);
  b.writeUInt32BE(t.sn, Bhs.Word24);
  b.writeUInt32BE(t.expSN, Bhs.Word28);
  if (opcode === Opcode.TextResponse) b.writeUInt32BE(t.maxCmdSN, Bhs.Word32);
  return pdu;
}

export function decodeText(pdu: Pdu): TextPdu {
  const b = pdu.bhs;
  const f = b[Bhs.Flags]!;
  return {
    immediate: isImmediate(b),
    final: (f & FINAL_BIT) !== 0,
    continue: (f & CONTINUE_BIT) !== 0,
    lun: decodeLun(b),
    itt: b.readUInt32BE(Bhs.Itt),
    ttt: b.readUInt32BE(Bhs.Word20),
    sn: b.readUInt32BE(Bhs.Word24),
    expSN: b.readUInt32BE(Bhs.Word28),
    maxCmdSN: b.readUInt32BE(Bhs.Word32),
    data: pdu.data,
  };
}

export const encodeTextRequest = (t: TextPdu): Pdu => encodeText(Opcode.TextRequest, t);
export const encodeTextResponse = (t: TextPdu): Pdu => encodeText(Opcode.TextResponse, { ...t, immediate: false });
