/**
 * ORWRITE(16) (SBC-3 5.15): each byte of the medium becomes (medium OR data-out), atomically with respect to
 * other writes (range lock). Without a BMOP the plain OR is the only operation.
 */
import { FLAG_FUA, decodeBlockCdb } from '../cdb.ts';
import type { CommandContext } from '../context.ts';
import { invalidField } from '../sense.ts';
import { ScsiStatus, type ScsiResponse } from '../types.ts';
import { checkRange, checkWritable, rejectProtection } from './common.ts';
import { MAX_TRANSFER_BLOCKS } from './limits.ts';

export async function orWrite(ctx: CommandContext): Promise<ScsiResponse> {
  const { cdb, lu, cmd } = ctx;
  const { lba, blocks, flags } = decodeBlockCdb(cdb);
  rejectProtection(cdb);
  checkRange(lu, lba, blocks);
  if (blocks > MAX_TRANSFER_BLOCKS) throw invalidField(10);
  checkWritable(lu);
  const blockSize = lu.store.blockSize;
  const wanted = blocks * blockSize;
  const usable = Math.floor(Math.min(wanted, cmd.dataOut?.length ?? 0) / blockSize);
  if (usable === 0) return { status: ScsiStatus.Good, dataOutWanted: wanted };
  const data = cmd.dataOut!;
  const release = await lu.lock.acquire(lba, usable);
  try {
    const medium = await lu.store.read(lba, usable, ctx.io);
    for (let i = 0; i < medium.length; i++) medium[i] = medium[i]! | data[i]!;
    await lu.store.write(lba, medium, (flags & FLAG_FUA) !== 0 || !lu.mode.wce, ctx.io);
  } finally {
    release();
  }
  return { status: ScsiStatus.Good, dataOutWanted: wanted };
}
