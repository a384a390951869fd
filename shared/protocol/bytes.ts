/**
 * Byte helpers for shared code (server and browser): Uint8Array in, numbers out, big-endian as SCSI and iSCSI
 * put them on the wire. No Buffer, no node: imports.
 */

export const u16 = (b: Uint8Array, o: number): number => ((b[o] ?? 0) << 8) | (b[o + 1] ?? 0);
export const u24 = (b: Uint8Array, o: number): number => ((b[o] ?? 0) << 16) | ((b[o + 1] ?? 0) << 8) | (b[o + 2] ?? 0);
export const u32 = (b: Uint8Array, o: number): number => (((b[o] ?? 0) << 24) | ((b[o + 1] ?? 0) << 16) | ((b[o + 2] ?? 0) << 8) | (b[o + 3] ?? 0)) >>> 0;

/** 64-bit big-endian as a number: exact up to 2^53, which covers every LBA a 512-byte-block LUN can have below 4 EiB. */
export function u64(b: Uint8Array, o: number): number {
  return u32(b, o) * 0x1_0000_0000 + u32(b, o + 4);
}

export function hex(b: Uint8Array, start = 0, end = b.length): string {
  let s = '';
  for (let i = start; i < end && i < b.length; i++) s += (b[i]! < 16 ? '0' : '') + b[i]!.toString(16);
  return s;
}

export const hex32 = (n: number): string => `0x${(n >>> 0).toString(16).padStart(8, '0')}`;

export function fromHex(text: string): Uint8Array {
  const clean = text.replace(/[^0-9a-fA-F]/g, '');
  const out = new Uint8Array(clean.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** Bytes of padding that bring a data segment to a 4-byte boundary (RFC 7143 11.2.4). */
export const padOf = (length: number): number => (4 - (length & 3)) & 3;
