/**
 * UNMAP (SBC-3 5.28): a parameter list of (LBA, count) descriptors to deallocate. Only thin LUNs implement it;
 * on thick LUNs the command is unsupported (so initiators and libiscsi see "not implemented").
 */
import { be16, be32, be64 } from '../cdb.ts';
import type { CommandContext } from '../context.ts';
import { CheckCondition, Sense, invalidField, invalidParameter } from '../sense.ts';
import { ScsiStatus, type ScsiResponse } from '../types.ts';
import { checkWritable } from './common.ts';
import { blockLimits } from './limits.ts';

const ANCHOR = 0x01;
const HEADER = 8;
const DESCRIPTOR = 16;

export async function unmap(ctx: CommandContext): Promise<ScsiResponse> {
  const { cdb, lu, cmd } = ctx;
  if (!lu.thin) throw new CheckCondition(Sense.InvalidOpcode);
  if (cdb[1]! & ANCHOR) throw invalidField(1, 0);
  const listLength = be16(cdb, 7);
  if (listLength === 0) return { status: ScsiStatus.Good, dataOutWanted: 0 };
  // SBC-3 5.28: a parameter list too short for its header is a PARAMETER LIST LENGTH ERROR.
  if (listLength < HEADER) throw new CheckCondition(Sense.ParameterListLengthError);
  const data = cmd.dataOut ?? new Uint8Array(0);
  if (data.length < listLength) throw new CheckCondition(Sense.ParameterListLengthError);
  checkWritable(lu);
  const descriptorBytes = Math.min(be16(data, 2), listLength - HEADER);
  const count = Math.floor(descriptorBytes / DESCRIPTOR);
  const limits = blockLimits(lu);
  if (count > limits.maxUnmapDescriptors) throw invalidParameter(2);
  const ranges: { lba: number; blocks: number }[] = [];
  let total = 0;
  for (let i = 0; i < count; i++) {
    const o = HEADER + i * DESCRIPTOR;
    const lba = be64(data, o);
    const blocks = be32(data, o + 8);
    if (lba + blocks > lu.store.blockCount) throw new CheckCondition(Sense.LbaOutOfRange);
    total += blocks;
    if (blocks > 0) ranges.push({ lba, blocks });
  }
  if (total > limits.maxUnmapBlocks) throw invalidParameter(HEADER + 8);
  for (const r of ranges) {
    const release = await lu.lock.acquire(r.lba, r.blocks);
    try {
      await lu.store.unmap(r.lba, r.blocks, ctx.io);
    } finally {
      release();
    }
  }
  return { status: ScsiStatus.Good, dataOutWanted: listLength };
}
