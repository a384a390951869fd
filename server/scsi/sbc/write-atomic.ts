/**
 * WRITE ATOMIC(16) (SBC-4 5.48): bytes 2-9 LBA, 10-11 ATOMIC BOUNDARY, 12-13 TRANSFER LENGTH. The blocks are written
 * in one store call under the LU's range lock, and reads of them wait while it runs (atomic-gate.ts), so no other
 * command ever sees part of the write. The limits it is held to are the Block Limits VPD page's (limits.ts).
 */
import { FLAG_FUA, be16, be64 } from '../cdb.ts';
import type { CommandContext } from '../context.ts';
import { CheckCondition, Sense, invalidField } from '../sense.ts';
import { ScsiStatus, type ScsiResponse } from '../types.ts';
import { checkRange, checkWritable, rejectProtection } from './common.ts';
import { blockLimits } from './limits.ts';

export async function writeAtomic16(ctx: CommandContext): Promise<ScsiResponse> {
  const { cdb, lu, cmd } = ctx;
  const lba = be64(cdb, 2);
  const boundary = be16(cdb, 10);
  const blocks = be16(cdb, 12);
  rejectProtection(cdb);
  checkRange(lu, lba, blocks);
  const limits = blockLimits(lu);
  if (limits.atomicAlignment > 1 && lba % limits.atomicAlignment !== 0) throw invalidField(2);
  if (limits.atomicGranularity > 1 && blocks % limits.atomicGranularity !== 0) throw invalidField(12);
  if (boundary === 0 ? blocks > limits.maxAtomicTransfer : blocks > limits.maxAtomicTransferWithBoundary) throw invalidField(12);
  if (boundary > limits.maxAtomicBoundary) throw invalidField(10);
  checkWritable(lu);
  const blockSize = lu.store.blockSize;
  const wanted = blocks * blockSize;
  if (blocks === 0) return { status: ScsiStatus.Good, dataOutWanted: 0 };
  // All or nothing: a short data-out cannot be written atomically, so nothing is written.
  if ((cmd.dataOut?.length ?? 0) < wanted) throw new CheckCondition(Sense.InvalidFieldInInformationUnit);
  const data = cmd.dataOut!.subarray(0, wanted);
  await lu.atomic.atomicWrite(lba, blocks, () => lu.store.write(lba, data, (cdb[1]! & FLAG_FUA) !== 0 || !lu.mode.wce, ctx.io));
  return { status: ScsiStatus.Good, dataOutWanted: wanted };
}
