import { Bhs, FINAL_BIT, IMMEDIATE_BIT, Opcode } from '../constants.ts';
import { decodeLun, encodeLun, isImmediate, newPdu, type Pdu } from '../pdu.ts';

/** SCSI Command (RFC 7143 11.3). */
export interface ScsiCommandPdu {
  immediate: boolean;
  final: boolean;
  read: boolean;
  write: boolean;
  attribute: number;
  lun: number;
  itt: number;
  expectedDataTransferLength: number;
  cmdSN: number;
  expStatSN: number;
  /** 16 bytes from the BHS, or longer with an Extended CDB AHS (RFC 7143 11.3.5). */
  cdb: Buffer;
}

const READ_BIT = 0x40;
const WRITE_BIT = 0x20;
const ATTR_MASK = 0x07;
const CDB_LENGTH = 16;
/** AHS types (RFC 7143 11.2.2.1). */
export const AHS_EXTENDED_CDB = 1;
export const AHS_BIDI_READ_LENGTH = 2;

export function decodeScsiCommand(pdu: Pdu): ScsiCommandPdu {
  const b = pdu.bhs;
  const flags = b[Bhs.Flags]!;
  let cdb = b.subarray(Bhs.Cdb, Bhs.Cdb + CDB_LENGTH);
  const extra = findAhs(pdu.ahs, AHS_EXTENDED_CDB);
  // The AHS length counts its reserved byte; the extra CDB bytes follow it.
  if (extra) cdb = Buffer.concat([cdb, extra.subarray(1)]);
  return {
    immediate: isImmediate(b),
    final: (flags & FINAL_BIT) !== 0,
    read: (flags & READ_BIT) !== 0,
    write: (flags & WRITE_BIT) !== 0,
    attribute: flags & ATTR_MASK,
    lun: decodeLun(b),
    itt: b.readUInt32BE(Bhs.Itt),
    expectedDataTransferLength: b.readUInt32BE(Bhs.Word20),
    cmdSN: b.readUInt32BE(Bhs.Word24),
    expStatSN: b.readUInt32BE(Bhs.Word28),
    cdb,
  };
}

export function encodeScsiCommand(c: ScsiCommandPdu, data?: Buffer): Pdu {
  const pdu = newPdu(Opcode.ScsiCommand | (c.immediate ? IMMEDIATE_BIT : 0), data);
  const b = pdu.bhs;
  b[Bhs.Flags] = (c.final ? FINAL_BIT : 0) | (c.read ? READ_BIT : 0) | (c.write ? WRITE_BIT : 0) | (c.attribute & ATTR_MASK);
  encodeLun(b, c.lun);
  b.writeUInt32BE(c.itt, Bhs.Itt);
  b.writeUInt32BE(c.expectedDataTransferLength, Bhs.Word20);
  b.writeUInt32BE(c.cmdSN, Bhs.Word24);
  b.writeUInt32BE(c.expStatSN, Bhs.Word28);
  c.cdb.copy(b, Bhs.Cdb, 0, Math.min(CDB_LENGTH, c.cdb.length));
  if (c.cdb.length > CDB_LENGTH) {
    const rest = c.cdb.subarray(CDB_LENGTH);
    const ahsLength = rest.length + 1; // + reserved byte
    const ahs = Buffer.alloc(3 + ahsLength + ((4 - ((3 + ahsLength) & 3)) & 3));
    ahs.writeUInt16BE(ahsLength, 0);
    ahs[2] = AHS_EXTENDED_CDB;
    rest.copy(ahs, 4);
    pdu.ahs = ahs;
    b[Bhs.TotalAhsLength] = ahs.length / 4;
  }
  return pdu;
}

/** Returns the body (after length and type) of the first AHS of `type`, or undefined. */
export function findAhs(ahs: Buffer, type: number): Buffer | undefined {
  let off = 0;
  while (off + 3 <= ahs.length) {
    const len = ahs.readUInt16BE(off);
    const t = ahs[off + 2]!;
    const body = ahs.subarray(off + 3, off + 3 + len);
    if (t === type) return body;
    off += (3 + len + 3) & ~3;
  }
  return undefined;
}
