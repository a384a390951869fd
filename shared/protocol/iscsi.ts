/**
 * iSCSI PDU decoding for display (RFC 7143 11): opcode names, the PDU's byte layout, and a field tree for every
 * BHS with byte offsets, driven by one table of field specs per opcode. Names follow RFC 7143 (as Wireshark
 * shows them): "InitiatorTaskTag", "ExpectedDataTransferLength", "CmdSN", ...
 */
import { hex, hex32, padOf, u16, u24, u32 } from './bytes.ts';
import { decodeCdb } from './cdb.ts';
import { shiftFields, type FieldNode } from './fields.ts';
import { decodeSense, type DecodedSense } from './sense.ts';
import { scsiStatusName } from './scsi-opcodes.ts';
import { parseTextPairs, type TextPair } from './text-keys.ts';

export const BHS_LENGTH = 48;
export const DIGEST_LENGTH = 4;
export const RESERVED_TAG = 0xffffffff;

// The opcodes themselves, their names and mask live in iscsi-opcodes.ts.
import { iscsiOpcodeName, iscsiOpcodeOf, isInitiatorOpcode } from './iscsi-opcodes.ts';
export { ISCSI_OPCODE_NAMES, iscsiOpcodeName, iscsiOpcodeOf, isInitiatorOpcode } from './iscsi-opcodes.ts';

export const LOGIN_STAGE_NAMES: readonly string[] = ['SecurityNegotiation', 'LoginOperationalNegotiation', 'Reserved', 'FullFeaturePhase'];

export const TMF_FUNCTION_NAMES: Readonly<Record<number, string>> = {
  1: 'ABORT TASK',
  2: 'ABORT TASK SET',
  3: 'CLEAR ACA',
  4: 'CLEAR TASK SET',
  5: 'LOGICAL UNIT RESET',
  6: 'TARGET WARM RESET',
  7: 'TARGET COLD RESET',
  8: 'TASK REASSIGN',
};

export const TMF_RESPONSE_NAMES: Readonly<Record<number, string>> = {
  0: 'Function complete',
  1: 'Task does not exist',
  2: 'LUN does not exist',
  3: 'Task still allegiant',
  4: 'Task allegiance reassignment not supported',
  5: 'Task management function not supported',
  6: 'Function authorization failed',
  255: 'Function rejected',
};

export const REJECT_REASON_NAMES: Readonly<Record<number, string>> = {
  0x01: 'Reserved',
  0x02: 'Data (payload) digest error',
  0x03: 'SNACK Reject',
  0x04: 'Protocol Error',
  0x05: 'Command not supported',
  0x06: 'Immediate command reject - too many immediate commands',
  0x07: 'Task in progress',
  0x08: 'Invalid data ack',
  0x09: 'Invalid PDU field',
  0x0a: 'Long op reject - cannot generate TTT - out of resources',
  0x0b: 'Deprecated',
  0x0c: 'Waiting for Logout',
};

export const LOGOUT_REASON_NAMES: Readonly<Record<number, string>> = {
  0: 'Close session',
  1: 'Close connection',
  2: 'Remove connection for recovery',
};

export const LOGOUT_RESPONSE_NAMES: Readonly<Record<number, string>> = {
  0: 'Connection or session closed successfully',
  1: 'CID not found',
  2: 'Connection recovery is not supported',
  3: 'Cleanup failed for various reasons',
};

export const SCSI_RESPONSE_NAMES: Readonly<Record<number, string>> = { 0: 'Command Completed at Target', 1: 'Target Failure' };

export const TASK_ATTRIBUTE_NAMES: readonly string[] = ['Untagged', 'Simple', 'Ordered', 'Head of Queue', 'ACA'];

export const ASYNC_EVENT_NAMES: Readonly<Record<number, string>> = {
  0: 'SCSI Async Event',
  1: 'Logout requested',
  2: 'Connection drop',
  3: 'Session drop',
  4: 'Renegotiation requested',
  255: 'Vendor specific',
};

// ---- the byte layout of one PDU ------------------------------------------------------------------------------

/** Sizes of each part of one PDU on the wire (RFC 7143 11.2). */
export interface PduLengths {
  readonly bhs: number;
  readonly ahs: number;
  readonly headerDigest: number;
  readonly data: number;
  readonly padding: number;
  readonly dataDigest: number;
  readonly total: number;
}

/** Layout from a BHS and the connection's digest settings. */
export function pduLengths(bhs: Uint8Array, headerDigest: boolean, dataDigest: boolean): PduLengths {
  const ahs = (bhs[4] ?? 0) * 4;
  const data = u24(bhs, 5);
  const hd = headerDigest ? DIGEST_LENGTH : 0;
  const padding = padOf(data);
  const dd = dataDigest && data > 0 ? DIGEST_LENGTH : 0;
  return { bhs: BHS_LENGTH, ahs, headerDigest: hd, data, padding, dataDigest: dd, total: BHS_LENGTH + ahs + hd + data + padding + dd };
}

// ---- the BHS field table --------------------------------------------------------------------------------------

type Kind = 'u8' | 'u16' | 'u24' | 'u32' | 'sn' | 'tag' | 'lun' | 'isid' | 'hex';

interface FieldSpec {
  readonly name: string;
  readonly offset: number;
  readonly length: number;
  readonly kind?: Kind;
  /** Bit field within the byte at offset. */
  readonly mask?: number;
  readonly names?: Readonly<Record<number, string>> | readonly string[];
}

const f = (name: string, offset: number, length: number, kind?: Kind, names?: FieldSpec['names']): FieldSpec => ({ name, offset, length, kind, names });
const b = (name: string, mask: number, names?: FieldSpec['names']): FieldSpec => ({ name, offset: 1, length: 1, mask, names });

const LUN = f('LUN', 8, 8, 'lun');
const ITT = f('InitiatorTaskTag', 16, 4, 'tag');
const TTT = f('TargetTransferTag', 20, 4, 'tag');
const CMDSN = f('CmdSN', 24, 4, 'sn');
const EXPSTATSN = f('ExpStatSN', 28, 4, 'sn');
const STATSN = f('StatSN', 24, 4, 'sn');
const EXPCMDSN = f('ExpCmdSN', 28, 4, 'sn');
const MAXCMDSN = f('MaxCmdSN', 32, 4, 'sn');
const F = b('F', 0x80);
const STAGES = [b('T', 0x80), b('C', 0x40), b('CSG', 0x0c, LOGIN_STAGE_NAMES), b('NSG', 0x03, LOGIN_STAGE_NAMES)];

/** Flags (byte 1) and opcode-specific fields (bytes 2-3, 8-47) per opcode (RFC 7143 11.3-11.19). */
const LAYOUTS: Readonly<Record<number, readonly FieldSpec[]>> = {
  0x00: [F, LUN, ITT, TTT, CMDSN, EXPSTATSN],
  0x01: [
    F,
    b('R', 0x40),
    b('W', 0x20),
    b('ATTR', 0x07, TASK_ATTRIBUTE_NAMES),
    LUN,
    ITT,
    f('ExpectedDataTransferLength', 20, 4, 'u32'),
    CMDSN,
    EXPSTATSN,
    f('CDB', 32, 16, 'hex'),
  ],
  0x02: [
    b('Function', 0x7f, TMF_FUNCTION_NAMES),
    LUN,
    ITT,
    f('ReferencedTaskTag', 20, 4, 'tag'),
    CMDSN,
    EXPSTATSN,
    f('RefCmdSN', 32, 4, 'sn'),
    f('ExpDataSN', 36, 4, 'sn'),
  ],
  0x03: [
    ...STAGES,
    f('VersionMax', 2, 1),
    f('VersionMin', 3, 1),
    f('ISID', 8, 6, 'isid'),
    f('TSIH', 14, 2, 'u16'),
    ITT,
    f('CID', 20, 2, 'u16'),
    CMDSN,
    EXPSTATSN,
  ],
  0x04: [F, b('C', 0x40), LUN, ITT, TTT, CMDSN, EXPSTATSN],
  0x05: [F, LUN, ITT, TTT, EXPSTATSN, f('DataSN', 36, 4, 'sn'), f('BufferOffset', 40, 4, 'u32')],
  0x06: [b('ReasonCode', 0x7f, LOGOUT_REASON_NAMES), ITT, f('CID', 20, 2, 'u16'), CMDSN, EXPSTATSN],
  0x10: [F, b('Type', 0x0f, ['Data/R2T', 'Status', 'DataACK', 'R-Data']), LUN, ITT, TTT, EXPSTATSN, f('BegRun', 40, 4, 'u32'), f('RunLength', 44, 4, 'u32')],
  0x20: [F, LUN, ITT, TTT, STATSN, EXPCMDSN, MAXCMDSN],
  0x21: [
    F,
    b('o', 0x10),
    b('u', 0x08),
    b('O', 0x04),
    b('U', 0x02),
    f('Response', 2, 1, 'u8', SCSI_RESPONSE_NAMES),
    f('Status', 3, 1, 'u8'),
    ITT,
    f('SNACKTag', 20, 4, 'tag'),
    STATSN,
    EXPCMDSN,
    MAXCMDSN,
    f('ExpDataSN', 36, 4, 'sn'),
    f('BidiReadResidualCount', 40, 4, 'u32'),
    f('ResidualCount', 44, 4, 'u32'),
  ],
  0x22: [F, f('Response', 2, 1, 'u8', TMF_RESPONSE_NAMES), ITT, STATSN, EXPCMDSN, MAXCMDSN],
  0x23: [
    ...STAGES,
    f('VersionMax', 2, 1),
    f('VersionActive', 3, 1),
    f('ISID', 8, 6, 'isid'),
    f('TSIH', 14, 2, 'u16'),
    ITT,
    STATSN,
    EXPCMDSN,
    MAXCMDSN,
    f('StatusClass', 36, 1),
    f('StatusDetail', 37, 1),
  ],
  0x24: [F, b('C', 0x40), LUN, ITT, TTT, STATSN, EXPCMDSN, MAXCMDSN],
  0x25: [
    F,
    b('A', 0x40),
    b('O', 0x04),
    b('U', 0x02),
    b('S', 0x01),
    f('Status', 3, 1, 'u8'),
    LUN,
    ITT,
    TTT,
    STATSN,
    EXPCMDSN,
    MAXCMDSN,
    f('DataSN', 36, 4, 'sn'),
    f('BufferOffset', 40, 4, 'u32'),
    f('ResidualCount', 44, 4, 'u32'),
  ],
  0x26: [F, f('Response', 2, 1, 'u8', LOGOUT_RESPONSE_NAMES), ITT, STATSN, EXPCMDSN, MAXCMDSN, f('Time2Wait', 40, 2, 'u16'), f('Time2Retain', 42, 2, 'u16')],
  0x31: [F, LUN, ITT, TTT, STATSN, EXPCMDSN, MAXCMDSN, f('R2TSN', 36, 4, 'sn'), f('BufferOffset', 40, 4, 'u32'), f('DesiredDataTransferLength', 44, 4, 'u32')],
  0x32: [
    F,
    LUN,
    ITT,
    STATSN,
    EXPCMDSN,
    MAXCMDSN,
    f('AsyncEvent', 36, 1, 'u8', ASYNC_EVENT_NAMES),
    f('AsyncVCode', 37, 1),
    f('Parameter1', 38, 2, 'u16'),
    f('Parameter2', 40, 2, 'u16'),
    f('Parameter3', 42, 2, 'u16'),
  ],
  0x3f: [F, f('Reason', 2, 1, 'u8', REJECT_REASON_NAMES), ITT, STATSN, EXPCMDSN, MAXCMDSN, f('DataSN/R2TSN', 36, 4, 'sn')],
};

function named(names: FieldSpec['names'], v: number): string | undefined {
  if (!names) return undefined;
  return Array.isArray(names) ? (names as readonly string[])[v] : (names as Readonly<Record<number, string>>)[v];
}

function fieldNode(bhs: Uint8Array, s: FieldSpec): FieldNode {
  if (s.mask !== undefined) {
    const byte = bhs[s.offset] ?? 0;
    const shift = Math.log2(s.mask & -s.mask);
    const v = (byte & s.mask) >>> shift;
    const single = (s.mask & (s.mask - 1)) === 0;
    if (single && !s.names) return { name: s.name, offset: s.offset, length: 1, mask: s.mask, value: v === 1, display: v ? 'set' : 'not set' };
    const n = named(s.names, v);
    return { name: s.name, offset: s.offset, length: 1, mask: s.mask, value: v, display: n ? `${n} (${v})` : String(v) };
  }
  const { name, offset, length } = s;
  switch (s.kind) {
    case 'lun':
    case 'isid':
    case 'hex': {
      const h = hex(bhs, offset, offset + length);
      return { name, offset, length, value: h, display: s.kind === 'lun' ? lunDisplay(bhs, offset) : `0x${h}` };
    }
    case 'tag': {
      const v = u32(bhs, offset);
      return { name, offset, length, value: v, display: v === RESERVED_TAG ? '0xffffffff (reserved)' : hex32(v) };
    }
    default: {
      const v = length === 1 ? (bhs[offset] ?? 0) : length === 2 ? u16(bhs, offset) : length === 3 ? u24(bhs, offset) : u32(bhs, offset);
      const n = named(s.names, v);
      return {
        name,
        offset,
        length,
        value: v,
        display: n ? `${n} (${v})` : s.name === 'Status' ? `${scsiStatusName(v)} (0x${v.toString(16).padStart(2, '0')})` : String(v),
      };
    }
  }
}

/** SAM-5 4.6.6: peripheral (method 0) and flat (method 1) addressing as a number; anything else as hex. */
export function lunNumber(bhs: Uint8Array, offset = 8): number | undefined {
  const b0 = bhs[offset] ?? 0;
  const method = b0 >> 6;
  if (method === 0 && (b0 & 0x3f) === 0) return bhs[offset + 1] ?? 0;
  if (method === 1) return ((b0 & 0x3f) << 8) | (bhs[offset + 1] ?? 0);
  return undefined;
}

function lunDisplay(bhs: Uint8Array, offset: number): string {
  const n = lunNumber(bhs, offset);
  return n === undefined ? `0x${hex(bhs, offset, offset + 8)}` : String(n);
}

/**
 * The BHS as a field tree: Opcode (with the I bit for requests), Flags (with its bits as children),
 * TotalAHSLength, DataSegmentLength, then the opcode's own fields. Offsets are BHS bytes (= PDU bytes).
 * A SCSI Command's CDB node has the decoded CDB as children.
 */
export function decodeBhsFields(bhs: Uint8Array): FieldNode[] {
  const opcode = iscsiOpcodeOf(bhs);
  const out: FieldNode[] = [];
  if (isInitiatorOpcode(opcode)) {
    const imm = ((bhs[0] ?? 0) & 0x40) !== 0;
    out.push({ name: 'I', offset: 0, length: 1, mask: 0x40, value: imm, display: imm ? 'Immediate delivery' : 'Queued delivery' });
  }
  out.push({
    name: 'Opcode',
    offset: 0,
    length: 1,
    mask: 0x3f,
    value: opcode,
    display: `${iscsiOpcodeName(opcode)} (0x${opcode.toString(16).padStart(2, '0')})`,
  });
  const specs = LAYOUTS[opcode] ?? [];
  const flagBits = specs.filter((s) => s.mask !== undefined).map((s) => fieldNode(bhs, s));
  out.push({ name: 'Flags', offset: 1, length: 1, value: bhs[1] ?? 0, display: `0x${(bhs[1] ?? 0).toString(16).padStart(2, '0')}`, children: flagBits });
  out.push({ name: 'TotalAHSLength', offset: 4, length: 1, value: bhs[4] ?? 0, display: `${bhs[4] ?? 0} words (${(bhs[4] ?? 0) * 4} bytes)` });
  out.push({ name: 'DataSegmentLength', offset: 5, length: 3, value: u24(bhs, 5), display: String(u24(bhs, 5)) });
  for (const s of specs) {
    if (s.mask !== undefined) continue;
    let node = fieldNode(bhs, s);
    if (opcode === 0x01 && s.name === 'CDB') {
      const cdb = decodeCdb(bhs.subarray(32, 48));
      node = { ...node, display: cdb.name, children: shiftFields(cdb.fields, 32) };
    }
    out.push(node);
  }
  return out.sort((a, b) => a.offset - b.offset);
}

/**
 * The flat view of decodeBhsFields (what flattenBhs gives) computed directly, without display text or the CDB
 * subtree: trace events carry only values, and building the tree cost ~18 us per PDU.
 */
export function bhsValues(bhs: Uint8Array): Record<string, number | string | boolean> {
  const opcode = iscsiOpcodeOf(bhs);
  const out: Record<string, number | string | boolean> = {};
  if (isInitiatorOpcode(opcode)) out.I = ((bhs[0] ?? 0) & 0x40) !== 0;
  out.Opcode = opcode;
  const specs = LAYOUTS[opcode] ?? [];
  for (const s of specs) if (s.mask !== undefined) out[s.name] = fieldValue(bhs, s);
  out.TotalAHSLength = bhs[4] ?? 0;
  out.DataSegmentLength = u24(bhs, 5);
  for (const s of specs) if (s.mask === undefined) out[s.name] = fieldValue(bhs, s);
  return out;
}

/** fieldNode's value alone. */
function fieldValue(bhs: Uint8Array, s: FieldSpec): number | string | boolean {
  if (s.mask !== undefined) {
    const v = ((bhs[s.offset] ?? 0) & s.mask) >>> Math.log2(s.mask & -s.mask);
    return (s.mask & (s.mask - 1)) === 0 && !s.names ? v === 1 : v;
  }
  const { offset, length } = s;
  switch (s.kind) {
    case 'lun':
    case 'isid':
    case 'hex':
      return hex(bhs, offset, offset + length);
    case 'tag':
      return u32(bhs, offset);
    default:
      return length === 1 ? (bhs[offset] ?? 0) : length === 2 ? u16(bhs, offset) : length === 3 ? u24(bhs, offset) : u32(bhs, offset);
  }
}

/** Flat view of a BHS tree for trace events: name -> value, flag bits included, CDB children left out. */
export function flattenBhs(tree: readonly FieldNode[]): Record<string, number | string | boolean> {
  const out: Record<string, number | string | boolean> = {};
  for (const n of tree) {
    if (n.name === 'Flags') for (const c of n.children ?? []) out[c.name] = c.value;
    else out[n.name] = n.value;
  }
  return out;
}

// ---- the whole PDU --------------------------------------------------------------------------------------------

/** What a data segment carries, decoded per opcode. */
export interface DataSegmentInfo {
  /** Login and Text: the key=value pairs. */
  readonly keys?: TextPair[];
  /** SCSI Response: sense data (after the 2-byte SenseLength). */
  readonly sense?: DecodedSense;
  readonly senseBytes?: Uint8Array;
}

export function decodeDataSegment(bhs: Uint8Array, data: Uint8Array): DataSegmentInfo {
  const opcode = iscsiOpcodeOf(bhs);
  if (opcode === 0x03 || opcode === 0x04 || opcode === 0x23 || opcode === 0x24) return { keys: parseTextPairs(data) };
  if (opcode === 0x21 && data.length >= 2) {
    const len = u16(data, 0);
    const senseBytes = data.subarray(2, 2 + len);
    return { sense: decodeSense(senseBytes), senseBytes };
  }
  return {};
}

/**
 * The whole PDU as wire bytes (BHS, AHS, header digest, data, padding, data digest) -> a tree with one section per
 * part, offsets from the first BHS byte. `raw` may be truncated: sections past its end are still listed.
 */
export function decodePduTree(raw: Uint8Array, headerDigest: boolean, dataDigest: boolean): FieldNode[] {
  const bhs = raw.subarray(0, BHS_LENGTH);
  const L = pduLengths(bhs, headerDigest, dataDigest);
  const opcode = iscsiOpcodeOf(bhs);
  const out: FieldNode[] = [
    { name: 'BHS', offset: 0, length: BHS_LENGTH, value: iscsiOpcodeName(opcode), display: iscsiOpcodeName(opcode), children: decodeBhsFields(bhs) },
  ];
  let o = BHS_LENGTH;
  if (L.ahs) {
    out.push({ name: 'AHS', offset: o, length: L.ahs, value: hex(raw, o, o + L.ahs), display: ahsDisplay(raw.subarray(o, o + L.ahs)) });
    o += L.ahs;
  }
  if (L.headerDigest) {
    out.push({ name: 'HeaderDigest', offset: o, length: 4, value: hex(raw, o, o + 4), display: `0x${hex(raw, o, o + 4)} (CRC32C)` });
    o += 4;
  }
  if (L.data) {
    const data = raw.subarray(o, o + L.data);
    const info = decodeDataSegment(bhs, data);
    const children: FieldNode[] = [];
    for (const k of info.keys ?? []) children.push({ name: k.key, offset: o + k.offset, length: k.length, value: k.value, display: `${k.key}=${k.value}` });
    if (info.senseBytes) {
      children.push({ name: 'SenseLength', offset: o, length: 2, value: info.senseBytes.length, display: String(info.senseBytes.length) });
      if (info.sense) {
        const s = info.sense;
        children.push({
          name: 'SenseData',
          offset: o + 2,
          length: info.senseBytes.length,
          value: hex(info.senseBytes),
          display: `${s.keyName}: ${s.text}`,
          children: [
            { name: 'Sense Key', offset: o + 2 + (s.format === 'fixed' ? 2 : 1), length: 1, mask: 0x0f, value: s.key, display: s.keyName },
            { name: 'ASC/ASCQ', offset: o + 2 + (s.format === 'fixed' ? 12 : 2), length: 2, value: (s.asc << 8) | s.ascq, display: s.text },
          ],
        });
      }
    }
    if (opcode === 0x3f && data.length >= BHS_LENGTH) {
      children.push({
        name: 'Rejected BHS',
        offset: o,
        length: BHS_LENGTH,
        value: hex(data, 0, BHS_LENGTH),
        display: iscsiOpcodeName(iscsiOpcodeOf(data)),
        children: shiftFields(decodeBhsFields(data.subarray(0, BHS_LENGTH)), o),
      });
    }
    out.push({ name: 'DataSegment', offset: o, length: L.data, value: L.data, display: `${L.data} bytes`, children: children.length ? children : undefined });
    o += L.data;
  }
  if (L.padding) {
    out.push({ name: 'Padding', offset: o, length: L.padding, value: L.padding, display: `${L.padding} bytes` });
    o += L.padding;
  }
  if (L.dataDigest) out.push({ name: 'DataDigest', offset: o, length: 4, value: hex(raw, o, o + 4), display: `0x${hex(raw, o, o + 4)} (CRC32C)` });
  return out;
}

/** AHS types (RFC 7143 11.2.2.1). */
function ahsDisplay(ahs: Uint8Array): string {
  const parts: string[] = [];
  for (let o = 0; o + 3 <= ahs.length;) {
    const len = u16(ahs, o);
    const type = ahs[o + 2]!;
    parts.push(
      type === 1 ? `Extended CDB (${len - 1} bytes)` : type === 2 ? `Bidirectional Read Expected Data Transfer Length ${u32(ahs, o + 4)}` : `type ${type}`,
    );
    o += (3 + len + 3) & ~3;
  }
  return parts.join(', ');
}
