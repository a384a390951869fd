/**
 * WRITE SAME(10/16) (SBC-3 5.42, 5.43): one block of data-out written to a range. NUMBER OF LOGICAL BLOCKS 0
 * means "to the end of the medium" (we report WSNZ = 0). With UNMAP on a thin LUN the range is deallocated
 * (SBC-3 4.7.3.4) whatever the data-out block holds: unmapped blocks then read as zeros (LBPRZ = 1), which is
 * what initiators (and libiscsi's WriteSame*.Unmap tests) expect after an unmapping WRITE SAME.
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
  // UNMAP on a thick LUN (LBPWS/LBPWS10 = 0) asks for a capability we do not have: reported as not implemented,
  // the answer libiscsi's WriteSame*.UnmapVPD accepts as consistent with the VPD page.
  if (flags & UNMAP && !lu.thin) throw new CheckCondition(Sense.InvalidOpcode);
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
    if ((flags & UNMAP) !== 0) await lu.store.unmap(lba, blocks);
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
  for (let done = 0; done < blocks;) {
    const n = Math.min(perChunk, blocks - done);
    await lu.store.write(lba + done, chunk.subarray(0, n * blockSize), !lu.mode.wce);
    done += n;
  }
}
