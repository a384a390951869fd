/**
 * PRE-FETCH(10/16) (SBC-3 5.7, 5.8). The store reads through the OS page cache, which we cannot pin, so
 * we report GOOD ("the cache could not hold all the blocks") rather than CONDITION MET: the range is checked,
 * nothing is promised. With IMMED the answer is the same.
 */
import { decodeBlockCdb } from '../cdb.ts';
import type { CommandContext } from '../context.ts';
import { good } from '../context.ts';
import type { ScsiResponse } from '../types.ts';
import { checkRange } from './common.ts';

export function prefetch(ctx: CommandContext): ScsiResponse {
  const { lba, blocks } = decodeBlockCdb(ctx.cdb);
  checkRange(ctx.lu, lba, blocks);
  return good();
}
