/**
 * COMPARE AND WRITE (SBC-3 5.2): data-out holds N blocks of verify data then N blocks of write data. Under the
 * LUN's range lock (so no other write to these blocks lands between compare and write), the medium is compared
 * with the verify data; on a difference nothing is written and the command ends in MISCOMPARE DURING VERIFY
 * OPERATION with the offset of the first differing byte in INFORMATION.
 */
import { FLAG_FUA, be64 } from '../cdb.ts';
import type { CommandContext } from '../context.ts';
import { CheckCondition, Sense, invalidField } from '../sense.ts';
import { ScsiStatus, type ScsiResponse } from '../types.ts';
import { checkRange, checkWritable, firstDifference, rejectProtection } from './common.ts';
import { MAX_COMPARE_AND_WRITE_BLOCKS } from './limits.ts';

export async function compareAndWrite(ctx: CommandContext): Promise<ScsiResponse> {
  const { cdb, lu, cmd } = ctx;
  rejectProtection(cdb);
  const lba = be64(cdb, 2);
  const blocks = cdb[13]!;
  checkRange(lu, lba, blocks);
  if (blocks > MAX_COMPARE_AND_WRITE_BLOCKS) throw invalidField(13);
  const blockSize = lu.store.blockSize;
  const half = blocks * blockSize;
  const wanted = 2 * half;
  const data = cmd.dataOut ?? new Uint8Array(0);
  // The data-out must be exactly verify + write data; a different size means the CDB and the transfer disagree.
  if (data.length !== wanted || cmd.expectedLength !== wanted) throw invalidField(13);
  checkWritable(lu);
  if (blocks === 0) return { status: ScsiStatus.Good, dataOutWanted: 0 };
  const release = await lu.lock.acquire(lba, blocks);
  try {
    const medium = await lu.store.read(lba, blocks, ctx.io);
    const at = firstDifference(data, medium, half);
    if (at >= 0) throw new CheckCondition(Sense.MiscompareDuringVerify, { information: at });
    await lu.store.write(lba, data.subarray(half, wanted), (cdb[1]! & FLAG_FUA) !== 0 || !lu.mode.wce, ctx.io);
  } finally {
    release();
  }
  return { status: ScsiStatus.Good, dataOutWanted: wanted };
}
