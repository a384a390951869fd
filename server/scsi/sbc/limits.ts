/**
 * The limits this target advertises in the Block Limits VPD page (SBC-3 6.5.3) and enforces in the commands.
 * One place, so what we promise and what we check cannot drift apart.
 */
import type { LogicalUnit } from '../logical-unit.ts';

/**
 * Blocks per READ/WRITE command: 32 MiB at 512-byte blocks bounds one command's buffer, and still admits the
 * 65536-block writes libiscsi's WriteSame16.Unmap issues without looking at the limit.
 */
export const MAX_TRANSFER_BLOCKS = 65536;
/** The NUMBER OF LOGICAL BLOCKS field of COMPARE AND WRITE is one byte. */
export const MAX_COMPARE_AND_WRITE_BLOCKS = 255;
export const MAX_UNMAP_BLOCKS = 1024 * 1024;
export const MAX_UNMAP_DESCRIPTORS = 256;
/**
 * log2(logical blocks per physical block), READ CAPACITY(16) LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT.
 * Kept at 0: with 3 (4 KiB physical blocks) libiscsi 1.19 runs its unaligned-unmap tests, which pass, but its
 * GetLBAStatus.UnmapSingle then expects a descriptor that does not contain the requested LBA, which no correct
 * GET LBA STATUS (SBC-3 5.6) can return.
 */
export const PHYSICAL_BLOCK_EXPONENT = 0;

export interface BlockLimits {
  maxCompareAndWrite: number;
  optimalGranularity: number;
  maxTransfer: number;
  optimalTransfer: number;
  maxPrefetch: number;
  maxUnmapBlocks: number;
  maxUnmapDescriptors: number;
  optimalUnmapGranularity: number;
  maxWriteSame: number;
}

export function blockLimits(lu: LogicalUnit): BlockLimits {
  const physical = 1 << PHYSICAL_BLOCK_EXPONENT;
  return {
    maxCompareAndWrite: MAX_COMPARE_AND_WRITE_BLOCKS,
    optimalGranularity: physical,
    maxTransfer: MAX_TRANSFER_BLOCKS,
    optimalTransfer: 2048,
    maxPrefetch: MAX_TRANSFER_BLOCKS,
    maxUnmapBlocks: lu.thin ? MAX_UNMAP_BLOCKS : 0,
    maxUnmapDescriptors: lu.thin ? MAX_UNMAP_DESCRIPTORS : 0,
    optimalUnmapGranularity: lu.thin ? physical : 0,
    // WRITE SAME needs one block of data-out at most, so the whole LUN in one command is fine.
    maxWriteSame: lu.store.blockCount,
  };
}
