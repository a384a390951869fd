/**
 * RECEIVE COPY RESULTS(LID1) (SPC-4 6.18): COPY STATUS (00h) of an EXTENDED COPY this I_T nexus sent with the
 * CDB's LIST IDENTIFIER, and OPERATING PARAMETERS (03h), the copy manager's limits (copy-manager.ts). The other
 * service actions (RECEIVE DATA, FAILED SEGMENT DETAILS) have nothing to report here: no segment type this copy
 * manager implements holds data, and failures are reported in the EXTENDED COPY's own sense data.
 */
import { be32, put16, put32 } from '../cdb.ts';
import type { CommandContext } from '../context.ts';
import { withAllocation } from '../context.ts';
import { invalidField } from '../sense.ts';
import type { ScsiResponse } from '../types.ts';
import {
  IMPLEMENTED_DESCRIPTORS,
  MAX_CONCURRENT_COPIES,
  MAX_DESCRIPTOR_LIST_LENGTH,
  MAX_SEGMENT_BLOCKS,
  MAX_SEGMENT_DESCRIPTORS,
  MAX_TARGET_DESCRIPTORS,
  RCR_COPY_STATUS,
  RCR_OPERATING_PARAMETERS,
  type CopyStatus,
} from './copy-manager.ts';

/** SNLID: LIST ID USAGE 11b (no list identifier) is supported. */
const SNLID = 0x01;

export function receiveCopyResults(ctx: CommandContext): ScsiResponse {
  const { cdb, lu, cmd } = ctx;
  const allocation = be32(cdb, 10);
  switch (cdb[1]! & 0x1f) {
    case RCR_COPY_STATUS: {
      const status = lu.copyResults.get(cmd.nexus.id, cdb[2]!);
      // No copy with this list identifier is running or held for this nexus (SPC-4 6.18.2).
      if (!status) throw invalidField(2);
      return withAllocation(copyStatus(status), allocation);
    }
    case RCR_OPERATING_PARAMETERS:
      return withAllocation(operatingParameters(lu.store.blockSize), allocation);
    default:
      throw invalidField(1, 4);
  }
}

function copyStatus(status: CopyStatus): Uint8Array {
  const d = new Uint8Array(12);
  put32(d, 0, d.length - 4);
  d[4] = status.state; // HDD = 0: no held data was discarded
  put16(d, 5, Math.min(status.segmentsProcessed, 0xffff));
  // TRANSFER COUNT UNITS: the smallest power of 1024 that lets the count fit 32 bits
  let units = 0;
  let count = status.bytesTransferred;
  while (count > 0xffffffff) {
    count = Math.ceil(count / 1024);
    units++;
  }
  d[7] = units;
  put32(d, 8, count);
  return d;
}

function operatingParameters(blockSize: number): Uint8Array {
  const d = new Uint8Array(44 + IMPLEMENTED_DESCRIPTORS.length);
  put32(d, 0, d.length - 4);
  d[4] = SNLID;
  put16(d, 8, MAX_TARGET_DESCRIPTORS);
  put16(d, 10, MAX_SEGMENT_DESCRIPTORS);
  put32(d, 12, MAX_DESCRIPTOR_LIST_LENGTH);
  put32(d, 16, MAX_SEGMENT_BLOCKS * blockSize); // MAXIMUM SEGMENT LENGTH, bytes
  // 20-23 MAXIMUM INLINE DATA LENGTH, 24-27 HELD DATA LIMIT, 28-31 MAXIMUM STREAM DEVICE TRANSFER SIZE: 0, no
  // segment type that uses them is implemented.
  put16(d, 34, MAX_CONCURRENT_COPIES);
  d[36] = MAX_CONCURRENT_COPIES;
  d[37] = Math.log2(blockSize); // DATA SEGMENT GRANULARITY (log2 bytes): whole blocks
  d[43] = IMPLEMENTED_DESCRIPTORS.length;
  d.set(IMPLEMENTED_DESCRIPTORS, 44);
  return d;
}
