/**
 * The EXTENDED COPY(LID1) parameter list (SPC-4 6.4.3): a 16-byte header, CSCD (target) descriptors, segment
 * descriptors, inline data. Decoded and checked as a whole before anything is copied, so a bad list changes
 * nothing; list-level mistakes are ILLEGAL REQUEST with the sense codes SPC-4 6.4.3 names for them.
 */
import { be16, be32, be64 } from '../cdb.ts';
import { CheckCondition, Sense, invalidParameter } from '../sense.ts';
import {
  MAX_DESCRIPTOR_LIST_LENGTH,
  MAX_SEGMENT_DESCRIPTORS,
  MAX_TARGET_DESCRIPTORS,
  SEGMENT_BLOCK_TO_BLOCK,
  SEGMENT_BLOCK_TO_BLOCK_OFFSETS,
  TARGET_IDENTIFICATION,
} from './copy-manager.ts';

const HEADER = 16;
const LIST_ID_USAGE_RESERVED = 0x01;
/** LIST ID USAGE 00b: hold the copy status for RECEIVE COPY RESULTS. */
const LIST_ID_USAGE_HOLD = 0x00;
/** LIST ID USAGE 11b: the LIST IDENTIFIER means nothing (SNLID). */
const LIST_ID_USAGE_NONE = 0x03;
const BLOCK_TO_BLOCK_LENGTH = 0x18; // DESCRIPTOR LENGTH of a block -> block segment (SPC-4 6.4.6.5)
const BLOCK_TO_BLOCK_OFFSETS_LENGTH = 0x1c; // ... of a block -> block segment with byte offsets (SPC-4 6.4.6.7)

/** An identification descriptor CSCD (type E4h, SPC-4 6.4.5.7): names an LU by one of its VPD 83h designators. */
export interface TargetDescriptor {
  /** Offset in the parameter list, for sense field pointers. */
  readonly offset: number;
  /** NUL (obsolete in SPC-4, honoured as SPC-3 defined it): a null device, never read or written. */
  readonly nul: boolean;
  readonly deviceType: number;
  readonly codeSet: number;
  readonly association: number;
  readonly designatorType: number;
  readonly designator: Uint8Array;
  /** DISK BLOCK LENGTH of the block device type specific parameters. */
  readonly blockLength: number;
}

/** A block device to block device segment (type 02h, SPC-4 6.4.6.5; or 0Ah, 6.4.6.7, sized in bytes). */
export interface BlockSegment {
  readonly offset: number;
  readonly source: number;
  readonly destination: number;
  /** NUMBER OF BLOCKS (type 02h); for type 0Ah, `bytes` / the source LU's block size, set when planned. */
  readonly blocks: number;
  /** NUMBER OF BYTES of a type 0Ah segment (its byte offsets are 0: others are refused). */
  readonly bytes?: number;
  readonly sourceLba: number;
  readonly destinationLba: number;
}

interface CopyParameters {
  readonly listId: number;
  /** The list identifier names this copy (LIST ID USAGE 00b or 10b): RECEIVE COPY RESULTS can ask about it. */
  readonly identified: boolean;
  readonly hold: boolean;
  readonly targets: readonly TargetDescriptor[];
  readonly segments: readonly BlockSegment[];
}

/** `data` holds at least `length` bytes (the CDB's PARAMETER LIST LENGTH), length >= 1. */
export function parseCopyParameters(data: Uint8Array, length: number): CopyParameters {
  if (length < HEADER) throw new CheckCondition(Sense.ParameterListLengthError);
  const targetBytes = be16(data, 2);
  const segmentBytes = be32(data, 8);
  const inlineBytes = be32(data, 12);
  if (targetBytes + segmentBytes > MAX_DESCRIPTOR_LIST_LENGTH) throw new CheckCondition(Sense.ParameterListLengthError);
  if (HEADER + targetBytes + segmentBytes + inlineBytes > length) throw new CheckCondition(Sense.ParameterListLengthError);
  const usage = (data[1]! >> 3) & 0x03;
  if (usage === LIST_ID_USAGE_RESERVED) throw invalidParameter(1, 3);
  const targets = parseTargets(data, HEADER, targetBytes);
  const segments = parseSegments(data, HEADER + targetBytes, segmentBytes);
  return { listId: data[0]!, identified: usage !== LIST_ID_USAGE_NONE, hold: usage === LIST_ID_USAGE_HOLD, targets, segments };
}

/** CSCD descriptor length by type code (SPC-4 table 107): 32 bytes, but 64 for IPv6 (EAh) and IP copy service (EBh). */
function targetLength(type: number): number | undefined {
  if (type >= 0xe0 && type <= 0xe9) return 32;
  if (type === 0xea || type === 0xeb) return 64;
  return undefined;
}

function parseTargets(data: Uint8Array, start: number, bytes: number): TargetDescriptor[] {
  const found: { offset: number; type: number }[] = [];
  for (let o = start; o < start + bytes;) {
    const type = data[o]!;
    const size = targetLength(type);
    if (size === undefined) throw new CheckCondition(Sense.UnsupportedTargetDescriptorType, { field: { cdb: false, byte: o } });
    if (o + size > start + bytes) throw invalidParameter(2);
    found.push({ offset: o, type });
    o += size;
  }
  if (found.length > MAX_TARGET_DESCRIPTORS) throw new CheckCondition(Sense.TooManyTargetDescriptors);
  return found.map(({ offset: o, type }) => {
    if (type !== TARGET_IDENTIFICATION) throw new CheckCondition(Sense.UnsupportedTargetDescriptorType, { field: { cdb: false, byte: o } });
    // Byte 1 bits 7-6 (LU ID TYPE) are ignored: SPC-4 6.4.5.1 gives them meaning only in CSCD descriptors that
    // carry a LU IDENTIFIER field, which an identification descriptor (E4h) does not.
    const designatorLength = data[o + 7]!;
    if (designatorLength > 20) throw invalidParameter(o + 7);
    return {
      offset: o,
      nul: (data[o + 1]! & 0x20) !== 0,
      deviceType: data[o + 1]! & 0x1f,
      codeSet: data[o + 4]! & 0x0f,
      association: (data[o + 5]! >> 4) & 0x03,
      designatorType: data[o + 5]! & 0x0f,
      designator: data.slice(o + 8, o + 8 + designatorLength),
      blockLength: (data[o + 29]! << 16) | (data[o + 30]! << 8) | data[o + 31]!,
    };
  });
}

function parseSegments(data: Uint8Array, start: number, bytes: number): BlockSegment[] {
  const found: { offset: number; type: number; length: number }[] = [];
  for (let o = start; o < start + bytes;) {
    if (o + 4 > start + bytes) throw invalidParameter(8);
    const length = be16(data, o + 2);
    if (o + 4 + length > start + bytes) throw invalidParameter(o + 2);
    found.push({ offset: o, type: data[o]!, length });
    o += 4 + length;
  }
  if (found.length > MAX_SEGMENT_DESCRIPTORS) throw new CheckCondition(Sense.TooManySegmentDescriptors);
  return found.map(({ offset: o, type, length }) => {
    if (type === SEGMENT_BLOCK_TO_BLOCK_OFFSETS) {
      if (length !== BLOCK_TO_BLOCK_OFFSETS_LENGTH) throw invalidParameter(o + 2);
      // Byte offsets inside a block would need partial-block copies; whole blocks are all this copy manager moves.
      if (be16(data, o + 28) !== 0) throw invalidParameter(o + 28);
      if (be16(data, o + 30) !== 0) throw invalidParameter(o + 30);
      return {
        offset: o,
        source: be16(data, o + 4),
        destination: be16(data, o + 6),
        blocks: 0,
        bytes: be32(data, o + 8),
        sourceLba: be64(data, o + 12),
        destinationLba: be64(data, o + 20),
      };
    }
    if (type !== SEGMENT_BLOCK_TO_BLOCK) throw new CheckCondition(Sense.UnsupportedSegmentDescriptorType, { field: { cdb: false, byte: o } });
    if (length !== BLOCK_TO_BLOCK_LENGTH) throw invalidParameter(o + 2);
    return {
      offset: o,
      source: be16(data, o + 4),
      destination: be16(data, o + 6),
      blocks: be16(data, o + 10),
      sourceLba: be64(data, o + 12),
      destinationLba: be64(data, o + 20),
    };
  });
}
