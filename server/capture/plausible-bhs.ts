/**
 * Is there an iSCSI Basic Header Segment at this offset? The test a reader uses to find its footing again after
 * lost bytes or when a capture starts mid-stream (as Wireshark's iSCSI dissector does with its "bogus PDU"
 * checks): the opcode must be one the sender's side may send, the flag bits RFC 7143 11.x reserves must be zero,
 * PDUs that never carry data must say length 0, and only a SCSI Command may carry an AHS. With header digests
 * negotiated the CRC32C must match, which no random data does by chance.
 */
import { crc32c } from '../iscsi/crc32c.ts';
import { BHS_LENGTH, DIGEST_LENGTH } from '../../shared/protocol/iscsi.ts';
import type { Direction } from '../../shared/trace/schema.ts';
import { IscsiOpcode, ISCSI_OPCODE_MASK } from '../../shared/protocol/iscsi-opcodes.ts';

const FINAL = 0x80;
/** Text Request/Response byte 1: F, C, then six reserved bits (11.10.1). */
const TEXT_RESERVED_FLAGS = 0x3f;
const IMMEDIATE = 0x40;
/** Byte 0 bit 7 is reserved in every PDU (RFC 7143 11.2.1). */
const BYTE0_RESERVED = 0x80;
/** The largest data segment a PDU may declare: MaxRecvDataSegmentLength's ceiling (RFC 7143 13.12). */
export const MAX_DATA_SEGMENT = 0xffffff;
/** Longest AHS a SCSI Command plausibly carries (an extended CDB of up to 260 bytes plus a bidirectional AHS). */
const MAX_AHS_WORDS = 80;

/** Per opcode: is byte 1 (the flags) valid, and may the PDU carry a data segment? */
interface OpcodeRule {
  readonly direction: Direction;
  readonly flags: (b1: number) => boolean;
  readonly data: boolean;
}

const exactlyFinal = (b1: number): boolean => b1 === FINAL;
const finalSet = (b1: number): boolean => (b1 & FINAL) !== 0;

const RULES: ReadonlyMap<number, OpcodeRule> = new Map<number, OpcodeRule>([
  [IscsiOpcode.NopOut, { direction: 'i2t', flags: exactlyFinal, data: true }],
  // 11.3.1: F, R, W, two reserved bits, ATTR (0..4 defined).
  [IscsiOpcode.ScsiCommand, { direction: 'i2t', flags: (b) => (b & 0x18) === 0 && (b & 0x07) <= 4, data: true }],
  [IscsiOpcode.TaskManagementRequest, { direction: 'i2t', flags: (b) => finalSet(b) && (b & 0x7f) >= 1 && (b & 0x7f) <= 8, data: false }],
  // 11.12.1: T, C, two reserved bits, CSG, NSG; Wireshark likewise insists on the immediate bit (0x43).
  [IscsiOpcode.LoginRequest, { direction: 'i2t', flags: (b) => (b & 0x30) === 0 && (b & 0x0c) !== 0x08, data: true }],
  [IscsiOpcode.TextRequest, { direction: 'i2t', flags: (b) => (b & TEXT_RESERVED_FLAGS) === 0, data: true }],
  [IscsiOpcode.ScsiDataOut, { direction: 'i2t', flags: (b) => (b & 0x7f) === 0, data: true }],
  [IscsiOpcode.LogoutRequest, { direction: 'i2t', flags: (b) => finalSet(b) && (b & 0x7f) <= 3, data: false }],
  [IscsiOpcode.Snack, { direction: 'i2t', flags: (b) => finalSet(b) && (b & 0x70) === 0 && (b & 0x0f) <= 3, data: false }],
  [IscsiOpcode.NopIn, { direction: 't2i', flags: exactlyFinal, data: true }],
  // 11.4.1: F set, o u O U, bit 0 and bits 5-6 reserved.
  [IscsiOpcode.ScsiResponse, { direction: 't2i', flags: (b) => finalSet(b) && (b & 0x61) === 0, data: true }],
  [IscsiOpcode.TaskManagementResponse, { direction: 't2i', flags: exactlyFinal, data: false }],
  [IscsiOpcode.LoginResponse, { direction: 't2i', flags: (b) => (b & 0x30) === 0 && (b & 0x0c) !== 0x08, data: true }],
  [IscsiOpcode.TextResponse, { direction: 't2i', flags: (b) => (b & TEXT_RESERVED_FLAGS) === 0, data: true }],
  // 11.7.1: F A, three reserved bits, O U S.
  [IscsiOpcode.ScsiDataIn, { direction: 't2i', flags: (b) => (b & 0x38) === 0, data: true }],
  [IscsiOpcode.LogoutResponse, { direction: 't2i', flags: exactlyFinal, data: false }],
  [IscsiOpcode.R2T, { direction: 't2i', flags: exactlyFinal, data: false }],
  [IscsiOpcode.AsyncMessage, { direction: 't2i', flags: exactlyFinal, data: true }],
  [IscsiOpcode.Reject, { direction: 't2i', flags: exactlyFinal, data: true }],
]);

/** Opcodes that only an initiator sends with the immediate bit; Login Request always has it (RFC 7143 11.12). */
const IMMEDIATE_ALLOWED = new Set<number>([
  IscsiOpcode.NopOut,
  IscsiOpcode.ScsiCommand,
  IscsiOpcode.TaskManagementRequest,
  IscsiOpcode.LoginRequest,
  IscsiOpcode.TextRequest,
  IscsiOpcode.LogoutRequest,
]);

/** The direction a plausible BHS at `o` was sent in, or undefined when it is not one. */
export function plausibleBhs(buf: Uint8Array, o: number, direction: Direction | undefined, headerDigest: boolean): Direction | undefined {
  const b0 = buf[o]!;
  if (b0 & BYTE0_RESERVED) return undefined;
  const opcode = b0 & ISCSI_OPCODE_MASK;
  const rule = RULES.get(opcode);
  if (!rule || (direction && rule.direction !== direction)) return undefined;
  if (b0 & IMMEDIATE ? !IMMEDIATE_ALLOWED.has(opcode) : opcode === IscsiOpcode.LoginRequest) return undefined;
  if (!rule.flags(buf[o + 1]!)) return undefined;
  const ahsWords = buf[o + 4]!;
  if (ahsWords > 0 && (opcode !== IscsiOpcode.ScsiCommand || ahsWords > MAX_AHS_WORDS)) return undefined;
  const dataLength = (buf[o + 5]! << 16) | (buf[o + 6]! << 8) | buf[o + 7]!;
  if (!rule.data && dataLength !== 0) return undefined;
  // R2T and Data-Out/Data-In carry a target transfer tag; an R2T's is never the reserved value (11.8.3).
  if (opcode === IscsiOpcode.R2T && buf[o + 20] === 0xff && buf[o + 21] === 0xff && buf[o + 22] === 0xff && buf[o + 23] === 0xff) return undefined;
  if (headerDigest) {
    const end = o + BHS_LENGTH + ahsWords * 4;
    if (end + DIGEST_LENGTH > buf.length) return undefined;
    const want = buf[end]! | (buf[end + 1]! << 8) | (buf[end + 2]! << 16) | (buf[end + 3]! << 24);
    if (crc32c(buf.subarray(o, end)) !== want >>> 0) return undefined;
  }
  return rule.direction;
}

/** Wire length of the PDU whose BHS is at `o`. */
export function pduTotalAt(buf: Uint8Array, o: number, headerDigest: boolean, dataDigest: boolean): number {
  const ahs = buf[o + 4]! * 4;
  const data = (buf[o + 5]! << 16) | (buf[o + 6]! << 8) | buf[o + 7]!;
  const padded = (data + 3) & ~3;
  return BHS_LENGTH + ahs + (headerDigest ? DIGEST_LENGTH : 0) + padded + (dataDigest && data > 0 ? DIGEST_LENGTH : 0);
}
