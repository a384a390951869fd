/**
 * CDB field decoding: big-endian integers and the LBA / transfer length / flag fields of the 6-, 10-, 12- and
 * 16-byte READ/WRITE-family CDBs (SBC-3 5.x). Numbers, not bigints: LBAs past 2^53 are out of range anyway, and
 * a 64-bit LBA decodes to a value > 2^53 that range checks reject.
 */

export function be16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}

export function be32(b: Uint8Array, o: number): number {
  return b[o]! * 0x1000000 + ((b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!);
}

export function be64(b: Uint8Array, o: number): number {
  return be32(b, o) * 0x100000000 + be32(b, o + 4);
}

export function put16(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 8) & 0xff;
  b[o + 1] = v & 0xff;
}

export function put32(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 24) & 0xff;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}

export function put64(b: Uint8Array, o: number, v: number): void {
  put32(b, o, Math.floor(v / 0x100000000));
  put32(b, o + 4, v >>> 0);
}

/** The fields every READ/WRITE/VERIFY-family CDB carries, decoded by CDB size. */
interface BlockCdb {
  readonly lba: number;
  readonly blocks: number;
  /** Byte 1 of 10/12/16-byte CDBs: RDPROTECT/WRPROTECT/VRPROTECT (bits 7-5), DPO (4), FUA (3), BYTCHK (2-1). */
  readonly flags: number;
}

export const FLAG_FUA = 0x08;

/** SBC-3 5.x: READ(6)/WRITE(6) carry a 21-bit LBA and an 8-bit length where 0 means 256 blocks. */
export function decodeBlockCdb(cdb: Uint8Array): BlockCdb {
  switch (groupLength(cdb[0]!)) {
    case 6:
      return { lba: ((cdb[1]! & 0x1f) << 16) | be16(cdb, 2), blocks: cdb[4] === 0 ? 256 : cdb[4]!, flags: 0 };
    case 10:
      return { lba: be32(cdb, 2), blocks: be16(cdb, 7), flags: cdb[1]! };
    case 12:
      return { lba: be32(cdb, 2), blocks: be32(cdb, 6), flags: cdb[1]! };
    default:
      return { lba: be64(cdb, 2), blocks: be32(cdb, 10), flags: cdb[1]! };
  }
}

/** CDB length by operation code group (SPC-4 4.2.5.1): 0 -> 6, 1/2 -> 10, 4 -> 16, 5 -> 12. */
function groupLength(opcode: number): number {
  switch (opcode >> 5) {
    case 0:
      return 6;
    case 1:
    case 2:
      return 10;
    case 4:
      return 16;
    case 5:
      return 12;
    default:
      return 0; // group 3 (variable / reserved) and vendor-specific groups 6, 7
  }
}
