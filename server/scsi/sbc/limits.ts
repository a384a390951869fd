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
const MAX_UNMAP_BLOCKS = 1024 * 1024;
const MAX_UNMAP_DESCRIPTORS = 256;
/**
 * Blocks per WRITE ATOMIC(16) (4 MiB at 512-byte blocks): the whole write is held in one buffer and done in one
 * store call under the range lock, so this bounds what one atomic command pins; libiscsi's WriteAtomic16 tests
 * write up to 256 blocks.
 */
const MAX_ATOMIC_TRANSFER_BLOCKS = 8192;

interface BlockLimits {
  maxCompareAndWrite: number;
  optimalGranularity: number;
  maxTransfer: number;
  optimalTransfer: number;
  maxPrefetch: number;
  maxUnmapBlocks: number;
  maxUnmapDescriptors: number;
  optimalUnmapGranularity: number;
  maxWriteSame: number;
  /** SBC-4 6.6.4 atomic fields: 0 in alignment / granularity = no requirement. */
  maxAtomicTransfer: number;
  atomicAlignment: number;
  atomicGranularity: number;
  /** With ATOMIC BOUNDARY: the whole write is atomic anyway, so any boundary up to the maximum is honoured. */
  maxAtomicTransferWithBoundary: number;
  maxAtomicBoundary: number;
}

export function blockLimits(lu: LogicalUnit): BlockLimits {
  // The physical block size (LogicalUnit.physicalBlockExponent, `--lun ...,physical=BYTES`; default one logical
  // block). With 4 KiB physical blocks libiscsi 1.19 runs its unaligned-unmap tests, but its GetLBAStatus.UnmapSingle
  // then expects a descriptor that does not contain the requested LBA, which no correct GET LBA STATUS (SBC-3 5.6)
  // can return: scripts/conformance.sh runs only the tests that need LBPPB > 1 on such a LUN.
  const physical = 2 ** lu.physicalBlockExponent;
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
    maxAtomicTransfer: MAX_ATOMIC_TRANSFER_BLOCKS,
    // Atomic writes in whole physical blocks, so no physical block is ever left half written.
    atomicAlignment: physical > 1 ? physical : 0,
    atomicGranularity: physical > 1 ? physical : 0,
    maxAtomicTransferWithBoundary: MAX_ATOMIC_TRANSFER_BLOCKS,
    maxAtomicBoundary: MAX_ATOMIC_TRANSFER_BLOCKS,
  };
}
