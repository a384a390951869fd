/**
 * Third-party Copy VPD page (8Fh, SPC-4 7.8.17) body: what the copy manager implements (copy-manager.ts), as
 * third-party copy descriptors, each padded to a multiple of four bytes.
 */
import { put16, put32 } from '../cdb.ts';
import {
  IMPLEMENTED_DESCRIPTORS,
  MAX_CONCURRENT_COPIES,
  MAX_DESCRIPTOR_LIST_LENGTH,
  MAX_SEGMENT_BLOCKS,
  MAX_SEGMENT_DESCRIPTORS,
  MAX_TARGET_DESCRIPTORS,
  RCR_COPY_STATUS,
  RCR_OPERATING_PARAMETERS,
} from './copy-manager.ts';

const OPCODE_EXTENDED_COPY = 0x83;
const OPCODE_RECEIVE_COPY_RESULTS = 0x84;
const SA_EXTENDED_COPY_LID1 = 0x00;

const SUPPORTED_COMMANDS = 0x0001;
const PARAMETER_DATA = 0x0004;
const SUPPORTED_DESCRIPTORS = 0x0008;
const SUPPORTED_CSCD_IDS = 0x000c;
const GENERAL_COPY_OPERATIONS = 0x8001;

export function thirdPartyCopyPage(blockSize: number): Uint8Array {
  const commands = [
    [OPCODE_EXTENDED_COPY, 1, SA_EXTENDED_COPY_LID1],
    [OPCODE_RECEIVE_COPY_RESULTS, 2, RCR_COPY_STATUS, RCR_OPERATING_PARAMETERS],
  ].flat();
  const parameterData = new Uint8Array(28);
  put16(parameterData, 4, MAX_TARGET_DESCRIPTORS); // MAXIMUM CSCD DESCRIPTOR COUNT
  put16(parameterData, 6, MAX_SEGMENT_DESCRIPTORS);
  put32(parameterData, 8, MAX_DESCRIPTOR_LIST_LENGTH);
  // 12-15 MAXIMUM INLINE DATA LENGTH: 0
  const general = new Uint8Array(32);
  put32(general, 0, MAX_CONCURRENT_COPIES); // TOTAL CONCURRENT COPIES
  put32(general, 4, MAX_CONCURRENT_COPIES); // MAXIMUM IDENTIFIED CONCURRENT COPIES
  put32(general, 8, MAX_SEGMENT_BLOCKS * blockSize); // MAXIMUM SEGMENT LENGTH
  general[12] = Math.log2(blockSize); // DATA SEGMENT GRANULARITY
  return Buffer.concat([
    descriptor(SUPPORTED_COMMANDS, Uint8Array.of(commands.length, ...commands)),
    descriptor(PARAMETER_DATA, parameterData),
    descriptor(SUPPORTED_DESCRIPTORS, Uint8Array.of(IMPLEMENTED_DESCRIPTORS.length, ...IMPLEMENTED_DESCRIPTORS)),
    descriptor(SUPPORTED_CSCD_IDS, new Uint8Array(2)), // no CSCD descriptor IDs: the list is empty
    descriptor(GENERAL_COPY_OPERATIONS, general),
  ]);
}

/** Type, length, body padded to a multiple of four. */
function descriptor(type: number, body: Uint8Array): Uint8Array {
  const padded = (body.length + 3) & ~3;
  const d = new Uint8Array(4 + padded);
  put16(d, 0, type);
  put16(d, 2, padded);
  d.set(body, 4);
  return d;
}
