/**
 * READ DEFECT DATA(10/12) (SBC-3 5.12, 5.13): a file has no grown or primary defects, so the list is always
 * empty, reported in the format asked for with the P/G list valid bits echoed.
 */
import { be16, be32 } from '../cdb.ts';
import type { CommandContext } from '../context.ts';
import { withAllocation } from '../context.ts';
import type { ScsiResponse } from '../types.ts';

const OPCODE_READ_DEFECT_DATA_12 = 0xb7;
const LISTS_AND_FORMAT = 0x1f; // REQ_PLIST, REQ_GLIST, DEFECT LIST FORMAT

export function readDefectData(ctx: CommandContext): ScsiResponse {
  const { cdb } = ctx;
  if (cdb[0] === OPCODE_READ_DEFECT_DATA_12) {
    const d = new Uint8Array(8);
    d[1] = cdb[1]! & LISTS_AND_FORMAT;
    return withAllocation(d, be32(cdb, 6));
  }
  const d = new Uint8Array(4);
  d[1] = cdb[2]! & LISTS_AND_FORMAT;
  return withAllocation(d, be16(cdb, 7));
}
