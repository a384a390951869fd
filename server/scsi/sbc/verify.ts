/**
 * VERIFY(10/12/16) (SBC-3 5.29-5.31). BYTCHK 00b: check the medium only (nothing to check on a file beyond the
 * range); 01b: compare the data-out with the medium; 11b: compare one block of data-out with every block.
 * A difference is MISCOMPARE DURING VERIFY OPERATION with the data-out offset of the first differing byte in
 * INFORMATION.
 */
import { decodeBlockCdb } from '../cdb.ts';
import type { CommandContext } from '../context.ts';
import { CheckCondition, Sense, invalidField } from '../sense.ts';
import { ScsiStatus, type ScsiResponse } from '../types.ts';
import { checkRange, firstDifference, rejectProtection } from './common.ts';
import { MAX_TRANSFER_BLOCKS } from './limits.ts';

const BYTCHK_SHIFT = 1;
const BYTCHK_NONE = 0;
const BYTCHK_ALL = 1;
const BYTCHK_ONE_BLOCK = 3;

export async function verify(ctx: CommandContext): Promise<ScsiResponse> {
  const { cdb, lu, cmd } = ctx;
  const { lba, blocks } = decodeBlockCdb(cdb);
  rejectProtection(cdb);
  const bytchk = (cdb[1]! >> BYTCHK_SHIFT) & 0x03;
  if (bytchk !== BYTCHK_NONE && bytchk !== BYTCHK_ALL && bytchk !== BYTCHK_ONE_BLOCK) throw invalidField(1, 2);
  checkRange(lu, lba, blocks);
  if (blocks > MAX_TRANSFER_BLOCKS) throw invalidField(7);
  const blockSize = lu.store.blockSize;
  if (bytchk === BYTCHK_NONE) return { status: ScsiStatus.Good, dataOutWanted: 0 };
  const wanted = bytchk === BYTCHK_ALL ? blocks * blockSize : blocks > 0 ? blockSize : 0;
  if (blocks === 0) return { status: ScsiStatus.Good, dataOutWanted: wanted };
  const data = cmd.dataOut ?? new Uint8Array(0);
  if (data.length < wanted) {
    // Without the data-out there is nothing to compare against: refuse rather than report a false GOOD.
    throw new CheckCondition(Sense.InvalidFieldInInformationUnit);
  }
  const medium = await lu.store.read(lba, blocks, ctx.io);
  if (bytchk === BYTCHK_ALL) {
    const at = firstDifference(data, medium, wanted);
    if (at >= 0) throw new CheckCondition(Sense.MiscompareDuringVerify, { information: at });
  } else {
    for (let i = 0; i < blocks; i++) {
      const at = firstDifference(data, medium.subarray(i * blockSize), blockSize);
      if (at >= 0) throw new CheckCondition(Sense.MiscompareDuringVerify, { information: i * blockSize + at });
    }
  }
  return { status: ScsiStatus.Good, dataOutWanted: wanted };
}
