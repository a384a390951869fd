/**
 * Checks shared by the block commands (SBC-3 4.x): LBA range, protection fields, write protection.
 */
import type { LogicalUnit } from '../logical-unit.ts';
import { CheckCondition, Sense, invalidField } from '../sense.ts';

/** SBC-3 4.5: blocks [lba, lba + blocks) must lie within the medium; a zero-length access must still name a valid LBA. */
export function checkRange(lu: LogicalUnit, lba: number, blocks: number): void {
  const count = lu.store.blockCount;
  if (lba + blocks > count || (blocks === 0 && lba >= count)) {
    throw new CheckCondition(Sense.LbaOutOfRange, { information: lba <= 0xffffffff ? lba : undefined });
  }
}

/**
 * RDPROTECT/WRPROTECT/VRPROTECT/ORPROTECT (byte 1 bits 7-5): this target never formats with protection
 * information, so any non-zero value is an invalid field (SBC-3 5.x tables "... for a logical unit that is not
 * formatted with protection information").
 */
export function rejectProtection(cdb: Uint8Array): void {
  if ((cdb[1]! & 0xe0) !== 0) throw invalidField(1, 7);
}

/** DATA PROTECT / WRITE PROTECTED (SBC-3 4.11) for configured read-only LUNs and control mode page SWP. */
export function checkWritable(lu: LogicalUnit): void {
  if (lu.writeProtected) throw new CheckCondition(Sense.WriteProtected);
}

/** Offset of the first differing byte, or -1 when `a` and `b` agree over `length` bytes. */
export function firstDifference(a: Uint8Array, b: Uint8Array, length: number): number {
  if (Buffer.from(a.buffer, a.byteOffset, length).equals(Buffer.from(b.buffer, b.byteOffset, length))) return -1;
  for (let i = 0; i < length; i++) if (a[i] !== b[i]) return i;
  return -1;
}
