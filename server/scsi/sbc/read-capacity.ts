/**
 * READ CAPACITY(10) (SBC-3 5.16) and READ CAPACITY(16) (SBC-3 5.17): last LBA and block length; the 16-byte
 * form adds the physical block exponent and LBPME/LBPRZ for thin LUNs.
 */
import { be32, put32, put64 } from '../cdb.ts';
import type { CommandContext } from '../context.ts';
import { withAllocation } from '../context.ts';
import { invalidField } from '../sense.ts';
import { ScsiStatus, type ScsiResponse } from '../types.ts';

const PMI = 0x01;
const LBPME = 0x80;
const LBPRZ = 0x40;

export function readCapacity10(ctx: CommandContext): ScsiResponse {
  const { cdb, lu } = ctx;
  // Without PMI the LOGICAL BLOCK ADDRESS field must be zero (SBC-3 5.16.1; PMI itself is obsolete in SBC-3).
  if (!(cdb[8]! & PMI) && be32(cdb, 2) !== 0) throw invalidField(2);
  const d = new Uint8Array(8);
  put32(d, 0, Math.min(lu.store.blockCount - 1, 0xffffffff));
  put32(d, 4, lu.store.blockSize);
  return { status: ScsiStatus.Good, dataIn: d };
}

export function readCapacity16(ctx: CommandContext): ScsiResponse {
  const { cdb, lu } = ctx;
  const d = new Uint8Array(32);
  put64(d, 0, lu.store.blockCount - 1);
  put32(d, 8, lu.store.blockSize);
  d[13] = lu.physicalBlockExponent & 0x0f; // LOWEST ALIGNED LOGICAL BLOCK ADDRESS (bytes 14-15) stays 0
  if (lu.thin) d[14] = LBPME | LBPRZ;
  return withAllocation(d, be32(cdb, 10));
}
