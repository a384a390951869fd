/**
 * WRITE SAME(10/16) (SBC-3 5.42, 5.43): one block of data-out written to a range. NUMBER OF LOGICAL BLOCKS 0
 * means "to the end of the medium" (we report WSNZ = 0). With UNMAP on a thin LUN and an all-zero block (or NDOB),
 * the range is unmapped instead: unmapped blocks read as zeros (LBPRZ), so the result is the same data.
 * A non-zero block with UNMAP is written, because unmapping it would change what the initiator reads back.
 */
import { be16, be32, be64 } from '../cdb.ts';
import type { CommandContext } from '../context.ts';
import type { LogicalUnit } from '../logical-unit.ts';
import { CheckCondition, Sense, invalidField } from '../sense.ts';
import { ScsiStatus, type ScsiResponse } from '../types.ts';
import { checkRange, checkWritable, rejectProtection } from './common.ts';
import { blockLimits } from './limits.ts';

const OPCODE_WRITE_SAME_16 = 0x93;
const ANCHOR = 0x10;
const UNMAP = 0x08;
const PBDATA = 0x04;
const LBDATA = 0x02;
const NDOB = 0x01; // WRITE SAME(16) only
/** Bytes written per store call when replicating the block, so a huge range never needs a huge buffer. */
const CHUNK_BYTES = 1 << 20;

export async function writeSame(ctx: CommandContext): Promise<ScsiResponse> {
  const { cdb, lu, cmd } = ctx;
  const is16 = cdb[0] === OPCODE_WRITE_SAME_16;
  const lba = is16 ? be64(cdb, 2) : be32(cdb, 2);
  let blocks = is16 ? be32(cdb, 10) : be16(cdb, 7);
  const flags = cdb[1]!;
  const ndob = is16 && (flags & NDOB) !== 0;
  rejectProtection(cdb);
  // PBDATA / LBDATA ask for protection or LBA stamping we do not do; ANCHOR needs ANC_SUP, which we do not report.
  if (flags & (PBDATA | LBDATA)) throw invalidField(1, flags & PBDATA ? 2 : 1);
  if (flags & ANCHOR) throw invalidField(1, 4);
  if (!is16 && flags & NDOB) throw invalidField(1, 0);
  checkRange(lu, lba, blocks);
  if (blocks === 0) blocks = lu.store.blockCount - lba;
  if (blocks > blockLimits(lu).maxWriteSame) throw invalidField(is16 ? 10 : 7);
  // Write protection first: a read-only LUN answers DATA PROTECT whatever else is wrong with the request.
  checkWritable(lu);
  // SBC-3 5.42: UNMAP without LBPWS/LBPWS10 (thick LUNs) is an invalid field, not a silent plain write.
  if (flags & UNMAP && !lu.thin) throw invalidField(1, 3);
  const blockSize = lu.store.blockSize;
  const wanted = ndob ? 0 : blockSize;
  if (!ndob && (cmd.dataOut?.length ?? 0) !== blockSize) {
    // The data-out must be exactly one block (SBC-3 5.42): anything else is a malformed command.
    throw new CheckCondition(Sense.InvalidFieldInCdb, { field: { cdb: true, byte: is16 ? 10 : 7 } });
  }
  if (blocks === 0) return { status: ScsiStatus.Good, dataOutWanted: wanted };
  const block = ndob ? new Uint8Array(blockSize) : cmd.dataOut!.subarray(0, blockSize);
  const release = await lu.lock.acquire(lba, blocks);
  try {
    if ((flags & UNMAP) !== 0 && lu.thin && isZero(block)) await lu.store.unmap(lba, blocks);
    else await replicate(lu, lba, blocks, block);
  } finally {
    release();
  }
  return { status: ScsiStatus.Good, dataOutWanted: wanted };
}

async function replicate(lu: LogicalUnit, lba: number, blocks: number, block: Uint8Array): Promise<void> {
  const blockSize = block.length;
  const perChunk = Math.max(1, Math.min(blocks, Math.floor(CHUNK_BYTES / blockSize)));
  const chunk = new Uint8Array(perChunk * blockSize);
  for (let i = 0; i < perChunk; i++) chunk.set(block, i * blockSize);
  for (let done = 0; done < blocks; ) {
    const n = Math.min(perChunk, blocks - done);
    await lu.store.write(lba + done, chunk.subarray(0, n * blockSize), !lu.mode.wce);
    done += n;
  }
}

function isZero(block: Uint8Array): boolean {
  for (let i = 0; i < block.length; i++) if (block[i] !== 0) return false;
  return true;
}
