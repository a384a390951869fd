import { crc32c as nativeCrc32c } from '@node-rs/crc32';

/**
 * CRC32C as iSCSI digests use it (RFC 7143 11.1, B.4): the standard CRC32C value, placed on the wire
 * little-endian. The native implementation runs at several GB/s, which matters for data digests.
 */
export function crc32c(data: Uint8Array): number {
  return nativeCrc32c(data as Buffer) >>> 0;
}

/** CRC32C over several pieces as if they were one buffer (header + AHS, data + padding). */
export function crc32cParts(parts: readonly Uint8Array[]): number {
  let crc = 0;
  for (const part of parts) crc = nativeCrc32c(part as Buffer, crc);
  return crc >>> 0;
}
