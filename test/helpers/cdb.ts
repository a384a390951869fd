/** CDB builders for SCSI unit tests: 16-byte CDBs from byte lists, big-endian fields, READ/WRITE shorthands. */

export function cdb(...bytes: number[]): Uint8Array {
  const c = new Uint8Array(16);
  c.set(bytes);
  return c;
}

/** `value` as `size` big-endian bytes (SCSI fields are big-endian, SPC-4 3.5). */
export function be(value: number, size: number): number[] {
  const out: number[] = [];
  for (let i = size - 1; i >= 0; i--) out.push(Math.floor(value / 2 ** (8 * i)) & 0xff);
  return out;
}

export const read10 = (lba: number, n: number): Uint8Array => cdb(0x28, 0, ...be(lba, 4), 0, ...be(n, 2), 0);
export const write10 = (lba: number, n: number, flags = 0): Uint8Array => cdb(0x2a, flags, ...be(lba, 4), 0, ...be(n, 2), 0);
export const read16 = (lba: number, n: number): Uint8Array => cdb(0x88, 0, ...be(lba, 8), ...be(n, 4), 0, 0);
