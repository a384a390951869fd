/**
 * CDB decoding for the trace (SBC-3 5.x, SPC-4 6.x): name, LBA, transfer length in blocks, allocation or parameter
 * list length, FUA/DPO, and a field tree with byte offsets inside the CDB.
 */
import { u16, u24, u32, u64 } from './bytes.ts';
import type { FieldNode } from './fields.ts';
import { cdbLengthOfGroup, lookupScsiOpcode, scsiOpcodeName, type CdbLayout } from './scsi-opcodes.ts';

export interface DecodedCdb {
  readonly opcode: number;
  readonly serviceAction?: number;
  /** T10 name, e.g. "READ(10)". */
  readonly name: string;
  readonly cdbLength: number;
  readonly lba?: number;
  /** Transfer length in logical blocks (READ/WRITE/VERIFY/WRITE SAME/SYNCHRONIZE CACHE/COMPARE AND WRITE). */
  readonly blocks?: number;
  /** Allocation length (data-in commands) in bytes. */
  readonly allocationLength?: number;
  /** Parameter list length (data-out commands such as UNMAP, MODE SELECT(10)) in bytes. */
  readonly parameterListLength?: number;
  readonly fua?: boolean;
  readonly dpo?: boolean;
  /** The CDB's fields, offsets from CDB byte 0. */
  readonly fields: FieldNode[];
}

const DPO_BIT = 0x10;
const FUA_BIT = 0x08;

const num = (name: string, offset: number, length: number, value: number): FieldNode => ({ name, offset, length, value, display: String(value) });
const bit = (name: string, offset: number, mask: number, byte: number): FieldNode => {
  const value = (byte & mask) !== 0;
  return { name, offset, length: 1, mask, value, display: value ? 'set' : 'not set' };
};

export function decodeCdb(cdb: Uint8Array): DecodedCdb {
  const opcode = cdb[0] ?? 0;
  const info = lookupScsiOpcode(cdb);
  const name = scsiOpcodeName(cdb);
  const cdbLength = info?.cdbLength ?? cdbLengthOfGroup(opcode);
  const fields: FieldNode[] = [{ name: 'OPERATION CODE', offset: 0, length: 1, value: opcode, display: `${name} (0x${opcode.toString(16).padStart(2, '0')})` }];
  if (info?.serviceAction !== undefined)
    fields.push({ name: 'SERVICE ACTION', offset: 1, length: 1, mask: 0x1f, value: info.serviceAction, display: `0x${info.serviceAction.toString(16)}` });
  const out: { -readonly [K in keyof DecodedCdb]: DecodedCdb[K] } = { opcode, name, cdbLength, fields };
  if (info?.serviceAction !== undefined) out.serviceAction = info.serviceAction;
  const layout: CdbLayout | undefined = info?.layout;
  const flags = (): void => {
    const b1 = cdb[1] ?? 0;
    out.dpo = (b1 & DPO_BIT) !== 0;
    out.fua = (b1 & FUA_BIT) !== 0;
    fields.push(bit('DPO', 1, DPO_BIT, b1), bit('FUA', 1, FUA_BIT, b1));
  };
  switch (layout) {
    case 'rw6': {
      // SBC-3 5.8: 21-bit LBA, and a TRANSFER LENGTH of 0 means 256 blocks.
      const lba = u24(cdb, 1) & 0x1fffff;
      const raw = cdb[4] ?? 0;
      out.lba = lba;
      out.blocks = raw === 0 ? 256 : raw;
      fields.push({ name: 'LOGICAL BLOCK ADDRESS', offset: 1, length: 3, value: lba, display: String(lba) });
      fields.push({ name: 'TRANSFER LENGTH', offset: 4, length: 1, value: raw, display: raw === 0 ? '0 (256 blocks)' : String(raw) });
      break;
    }
    case 'rw10': {
      flags();
      out.lba = u32(cdb, 2);
      out.blocks = u16(cdb, 7);
      fields.push(num('LOGICAL BLOCK ADDRESS', 2, 4, out.lba), num(lengthName(opcode), 7, 2, out.blocks));
      break;
    }
    case 'rw12': {
      flags();
      out.lba = u32(cdb, 2);
      out.blocks = u32(cdb, 6);
      fields.push(num('LOGICAL BLOCK ADDRESS', 2, 4, out.lba), num(lengthName(opcode), 6, 4, out.blocks));
      break;
    }
    case 'rw16': {
      flags();
      out.lba = u64(cdb, 2);
      out.blocks = u32(cdb, 10);
      fields.push(num('LOGICAL BLOCK ADDRESS', 2, 8, out.lba), num(lengthName(opcode), 10, 4, out.blocks));
      break;
    }
    case 'caw': {
      // SBC-3 5.2: NUMBER OF LOGICAL BLOCKS in byte 13; the data-out buffer holds twice that (verify + write).
      flags();
      out.lba = u64(cdb, 2);
      out.blocks = cdb[13] ?? 0;
      fields.push(num('LOGICAL BLOCK ADDRESS', 2, 8, out.lba), num('NUMBER OF LOGICAL BLOCKS', 13, 1, out.blocks));
      break;
    }
    case 'alloc6': {
      // INQUIRY and REQUEST SENSE / MODE SENSE(6): INQUIRY has a 2-byte allocation length (SPC-4 6.6).
      if (opcode === 0x12) {
        fields.push(bit('EVPD', 1, 0x01, cdb[1] ?? 0), num('PAGE CODE', 2, 1, cdb[2] ?? 0));
        out.allocationLength = u16(cdb, 3);
        fields.push(num('ALLOCATION LENGTH', 3, 2, out.allocationLength));
      } else {
        if (opcode === 0x1a) fields.push(num('PAGE CODE', 2, 1, (cdb[2] ?? 0) & 0x3f));
        out.allocationLength = cdb[4] ?? 0;
        fields.push(num('ALLOCATION LENGTH', 4, 1, out.allocationLength));
      }
      break;
    }
    case 'alloc10': {
      if (opcode === 0x5a) fields.push(num('PAGE CODE', 2, 1, (cdb[2] ?? 0) & 0x3f));
      out.allocationLength = u16(cdb, 7);
      fields.push(num('ALLOCATION LENGTH', 7, 2, out.allocationLength));
      break;
    }
    case 'alloc12': {
      out.allocationLength = u32(cdb, 6);
      fields.push(num('ALLOCATION LENGTH', 6, 4, out.allocationLength));
      break;
    }
    case 'alloc16': {
      if (opcode === 0x9e) {
        out.lba = u64(cdb, 2);
        fields.push(num(info?.serviceAction === 0x12 ? 'STARTING LOGICAL BLOCK ADDRESS' : 'LOGICAL BLOCK ADDRESS', 2, 8, out.lba));
      }
      out.allocationLength = u32(cdb, 10);
      fields.push(num('ALLOCATION LENGTH', 10, 4, out.allocationLength));
      break;
    }
    case 'param10': {
      out.parameterListLength = u16(cdb, 7);
      fields.push(num('PARAMETER LIST LENGTH', 7, 2, out.parameterListLength));
      break;
    }
    default:
      break;
  }
  if (cdbLength <= cdb.length && cdbLength >= 6) {
    const control = cdb[cdbLength - 1] ?? 0;
    if (opcode !== 0x7f) fields.push(num('CONTROL', cdbLength - 1, 1, control));
  }
  return out;
}

/** SBC-3 calls the length field differently per command. */
function lengthName(opcode: number): string {
  switch (opcode) {
    case 0x35:
    case 0x91:
    case 0x34:
    case 0x90:
    case 0x41:
    case 0x93:
      return 'NUMBER OF LOGICAL BLOCKS';
    case 0x2f:
    case 0xaf:
    case 0x8f:
      return 'VERIFICATION LENGTH';
    default:
      return 'TRANSFER LENGTH';
  }
}
