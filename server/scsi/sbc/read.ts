/**
 * READ(6/10/12/16) (SBC-3 5.8-5.11). DPO and FUA are accepted: the store reads through the OS page cache, and a
 * FUA read (which must not be served from a volatile cache holding data newer than the medium) needs nothing
 * extra because the page cache is coherent with the file.
 */
import { decodeBlockCdb } from '../cdb.ts';
import type { CommandContext } from '../context.ts';
import { good } from '../context.ts';
import { invalidField } from '../sense.ts';
import { ScsiStatus, type ScsiResponse } from '../types.ts';
import { checkRange, rejectProtection } from './common.ts';
import { MAX_TRANSFER_BLOCKS } from './limits.ts';

export async function read(ctx: CommandContext): Promise<ScsiResponse> {
  const { cdb, lu } = ctx;
  const { lba, blocks } = decodeBlockCdb(cdb);
  if (cdb.length > 6 && cdb[0] !== 0x08) rejectProtection(cdb);
  checkRange(lu, lba, blocks);
  if (blocks > MAX_TRANSFER_BLOCKS) throw invalidField(cdb[0] === 0x08 ? 4 : 7);
  if (blocks === 0) return good();
  return { status: ScsiStatus.Good, dataIn: await lu.atomic.read(lba, blocks, () => lu.store.read(lba, blocks, ctx.io)) };
}
