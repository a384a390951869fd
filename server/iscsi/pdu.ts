import { BHS_LENGTH, Bhs, IMMEDIATE_BIT } from './constants.ts';
import { ISCSI_OPCODE_MASK } from '../../shared/protocol/iscsi-opcodes.ts';

/** SAM LUN, peripheral (00b) or flat (01b) addressing: the six bits of the LUN under the method bits. */
const LUN_HIGH_BITS = 0x3f;

/**
 * One iSCSI PDU as framing delivers it and as the writer sends it: the 48-byte BHS, any AHS, and the data
 * segment without padding. Digests are a property of the connection, added and checked by framing and writer.
 * `data` is usually a slice of the receive buffer: no copy is made.
 */
export interface Pdu {
  bhs: Buffer;
  ahs: Buffer;
  data: Buffer;
}

const EMPTY = Buffer.alloc(0);

export function newPdu(opcode: number, data: Buffer = EMPTY): Pdu {
  const bhs = Buffer.alloc(BHS_LENGTH);
  bhs[Bhs.Opcode] = opcode;
  setDataSegmentLength(bhs, data.length);
  return { bhs, ahs: EMPTY, data };
}

export const opcodeOf = (bhs: Uint8Array): number => bhs[Bhs.Opcode]! & ISCSI_OPCODE_MASK;
export const isImmediate = (bhs: Uint8Array): boolean => (bhs[Bhs.Opcode]! & IMMEDIATE_BIT) !== 0;
export const ahsLengthOf = (bhs: Uint8Array): number => bhs[Bhs.TotalAhsLength]! * 4;
export const dataSegmentLengthOf = (bhs: Uint8Array): number =>
  (bhs[Bhs.DataSegmentLength]! << 16) | (bhs[Bhs.DataSegmentLength + 1]! << 8) | bhs[Bhs.DataSegmentLength + 2]!;

export function setDataSegmentLength(bhs: Buffer, length: number): void {
  bhs[Bhs.DataSegmentLength] = (length >>> 16) & 0xff;
  bhs[Bhs.DataSegmentLength + 1] = (length >>> 8) & 0xff;
  bhs[Bhs.DataSegmentLength + 2] = length & 0xff;
}

/** Bytes of padding that bring a data segment to a 4-byte boundary (RFC 7143 11.2.4): the shared codec's. */
export { padOf } from '../../shared/protocol/bytes.ts';

/**
 * LUN field encoding (SAM-5 4.6.6): peripheral device addressing below 256, flat space addressing above.
 * Returns -1 for address methods this target does not serve.
 */
export function decodeLun(bhs: Buffer, offset = Bhs.Lun): number {
  const b0 = bhs[offset]!;
  const method = b0 >> 6;
  if (method === 0 && (b0 & LUN_HIGH_BITS) === 0) return bhs[offset + 1]!;
  if (method === 1) return ((b0 & LUN_HIGH_BITS) << 8) | bhs[offset + 1]!;
  return -1;
}

export function encodeLun(bhs: Buffer, lun: number, offset = Bhs.Lun): void {
  if (lun < 256) {
    bhs[offset] = 0;
    bhs[offset + 1] = lun;
  } else {
    bhs[offset] = 0x40 | ((lun >> 8) & LUN_HIGH_BITS);
    bhs[offset + 1] = lun & 0xff;
  }
}

/** RFC 1982 serial number arithmetic on 32 bits, as CmdSN and StatSN comparisons require (RFC 7143 4.2.2.1). */
export function snLessThan(a: number, b: number): boolean {
  return a !== b && (b - a) >>> 0 < 0x80000000;
}
export const snAdd = (a: number, n: number): number => (a + n) >>> 0;
