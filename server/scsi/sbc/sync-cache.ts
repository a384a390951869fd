/**
 * SYNCHRONIZE CACHE(10/16) (SBC-3 5.22, 5.23): everything written before is made durable (fdatasync of the
 * whole image, which covers any range asked for) before GOOD. IMMED is honoured by simply finishing first.
 */
import { decodeBlockCdb } from '../cdb.ts';
import type { CommandContext } from '../context.ts';
import { good } from '../context.ts';
import type { ScsiResponse } from '../types.ts';
import { checkRange } from './common.ts';

export async function synchronizeCache(ctx: CommandContext): Promise<ScsiResponse> {
  const { lba, blocks } = decodeBlockCdb(ctx.cdb);
  checkRange(ctx.lu, lba, blocks);
  await ctx.lu.store.flush(ctx.io);
  return good();
}
