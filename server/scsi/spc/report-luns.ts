/**
 * REPORT LUNS (SPC-4 6.33). LUNs below 256 use the peripheral device addressing method, larger ones flat
 * space addressing (SAM-5 4.7.7).
 */
import { be32, put32 } from '../cdb.ts';
import type { TargetInfo } from '../context.ts';
import { withAllocation } from '../context.ts';
import { invalidField } from '../sense.ts';
import type { ScsiResponse } from '../types.ts';

const MIN_ALLOCATION = 16; // SPC-4 6.33: smaller allocation lengths are an invalid field
const SELECT_ALL_LOGICAL_UNITS = 0x02;
const FLAT_SPACE = 0x40;

export function reportLuns(cdb: Uint8Array, target: TargetInfo): ScsiResponse {
  const select = cdb[2]!;
  if (select > SELECT_ALL_LOGICAL_UNITS) throw invalidField(2);
  const allocation = be32(cdb, 6);
  if (allocation < MIN_ALLOCATION) throw invalidField(6);
  const d = new Uint8Array(8 + 8 * target.luns.length);
  put32(d, 0, 8 * target.luns.length);
  target.luns.forEach((lun, i) => encodeLun(d, 8 + 8 * i, lun));
  return withAllocation(d, allocation);
}

function encodeLun(d: Uint8Array, offset: number, lun: number): void {
  if (lun < 256) {
    d[offset + 1] = lun;
  } else {
    d[offset] = FLAT_SPACE | ((lun >> 8) & 0x3f);
    d[offset + 1] = lun & 0xff;
  }
}
