/**
 * GET LBA STATUS (SBC-3 5.6): mapped / deallocated runs starting at the requested LBA, as many descriptors as
 * the allocation length holds (bounded, so one command never walks a whole huge map).
 */
import { be32, be64, put32, put64 } from '../cdb.ts';
import type { CommandContext } from '../context.ts';
import { withAllocation } from '../context.ts';
import { CheckCondition, Sense } from '../sense.ts';
import type { ScsiResponse } from '../types.ts';

const HEADER = 8;
const DESCRIPTOR = 16;
const MAX_DESCRIPTORS = 64;
const STATUS_MAPPED = 0;
const STATUS_DEALLOCATED = 1;
/** Longest run one descriptor reports: the NUMBER OF LOGICAL BLOCKS field is 32 bits. */
const MAX_RUN = 0xffffffff;

export async function getLbaStatus(ctx: CommandContext): Promise<ScsiResponse> {
  const { cdb, lu } = ctx;
  const lba = be64(cdb, 2);
  const allocation = be32(cdb, 10);
  if (lba >= lu.store.blockCount) throw new CheckCondition(Sense.LbaOutOfRange);
  const wanted = Math.max(1, Math.min(MAX_DESCRIPTORS, Math.floor((allocation - HEADER) / DESCRIPTOR)));
  const runs: { lba: number; blocks: number; mapped: boolean }[] = [];
  for (let at = lba; at < lu.store.blockCount && runs.length < wanted;) {
    const run = await lu.store.mapping(at, MAX_RUN);
    runs.push({ lba: at, blocks: run.blocks, mapped: run.mapped });
    at += run.blocks;
  }
  const d = new Uint8Array(HEADER + DESCRIPTOR * runs.length);
  put32(d, 0, d.length - 4); // PARAMETER DATA LENGTH excludes itself
  runs.forEach((r, i) => {
    const o = HEADER + DESCRIPTOR * i;
    put64(d, o, r.lba);
    put32(d, o + 8, r.blocks);
    d[o + 12] = r.mapped ? STATUS_MAPPED : STATUS_DEALLOCATED;
  });
  return withAllocation(d, allocation);
}
