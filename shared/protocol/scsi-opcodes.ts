/**
 * SCSI operation codes by T10 name (SPC-4 Annex E / SBC-3 table 13), with their CDB lengths. Shared by the trace
 * recorder and the UI; the target's own dispatch table (server/scsi/opcodes.ts) lists only what it implements.
 */

export interface ScsiOpcodeInfo {
  readonly opcode: number;
  /** Set for commands selected by opcode + service action (byte 1 bits 4-0). */
  readonly serviceAction?: number;
  readonly name: string;
  readonly cdbLength: number;
  /** How the CDB carries LBA and transfer length: see cdb.ts. */
  readonly layout?: CdbLayout;
  /** Moves data from initiator to target (a write of some kind). */
  readonly dataOut?: boolean;
}

/**
 * CDB shapes that carry an LBA and a length (SBC-3 4.x): where the fields sit.
 * `rw6`: 21-bit LBA in bytes 1-3, 8-bit length in byte 4 (0 means 256).
 * `rw10`/`rw12`/`rw16`: LBA at 2 (4 or 8 bytes), length after it; `ws`: WRITE SAME; `caw`: COMPARE AND WRITE (length in byte 13).
 * `sync10`/`sync16`: SYNCHRONIZE CACHE, 0 blocks means "to the end".
 */
export type CdbLayout = 'rw6' | 'rw10' | 'rw12' | 'rw16' | 'caw' | 'unmap' | 'alloc6' | 'alloc10' | 'alloc12' | 'alloc16' | 'param10';

const op = (opcode: number, name: string, cdbLength: number, layout?: CdbLayout, dataOut?: boolean): ScsiOpcodeInfo => ({
  opcode,
  name,
  cdbLength,
  layout,
  dataOut,
});
const sa = (opcode: number, serviceAction: number, name: string, cdbLength: number, layout?: CdbLayout, dataOut?: boolean): ScsiOpcodeInfo => ({
  opcode,
  serviceAction,
  name,
  cdbLength,
  layout,
  dataOut,
});

export const SCSI_OPCODES: readonly ScsiOpcodeInfo[] = [
  op(0x00, 'TEST UNIT READY', 6),
  op(0x01, 'REZERO UNIT', 6),
  op(0x03, 'REQUEST SENSE', 6, 'alloc6'),
  op(0x04, 'FORMAT UNIT', 6),
  op(0x07, 'REASSIGN BLOCKS', 6),
  op(0x08, 'READ(6)', 6, 'rw6'),
  op(0x0a, 'WRITE(6)', 6, 'rw6', true),
  op(0x0b, 'SEEK(6)', 6),
  op(0x12, 'INQUIRY', 6, 'alloc6'),
  op(0x15, 'MODE SELECT(6)', 6, undefined, true),
  op(0x16, 'RESERVE(6)', 6),
  op(0x17, 'RELEASE(6)', 6),
  op(0x1a, 'MODE SENSE(6)', 6, 'alloc6'),
  op(0x1b, 'START STOP UNIT', 6),
  op(0x1c, 'RECEIVE DIAGNOSTIC RESULTS', 6),
  op(0x1d, 'SEND DIAGNOSTIC', 6, undefined, true),
  op(0x1e, 'PREVENT ALLOW MEDIUM REMOVAL', 6),
  op(0x25, 'READ CAPACITY(10)', 10),
  op(0x28, 'READ(10)', 10, 'rw10'),
  op(0x2a, 'WRITE(10)', 10, 'rw10', true),
  op(0x2b, 'SEEK(10)', 10),
  op(0x2e, 'WRITE AND VERIFY(10)', 10, 'rw10', true),
  op(0x2f, 'VERIFY(10)', 10, 'rw10'),
  op(0x34, 'PRE-FETCH(10)', 10, 'rw10'),
  op(0x35, 'SYNCHRONIZE CACHE(10)', 10, 'rw10'),
  op(0x37, 'READ DEFECT DATA(10)', 10),
  op(0x3b, 'WRITE BUFFER', 10, undefined, true),
  op(0x3c, 'READ BUFFER(10)', 10),
  op(0x41, 'WRITE SAME(10)', 10, 'rw10', true),
  op(0x42, 'UNMAP', 10, 'param10', true),
  op(0x48, 'SANITIZE', 10, 'param10', true),
  op(0x4c, 'LOG SELECT', 10, undefined, true),
  op(0x4d, 'LOG SENSE', 10, 'alloc10'),
  op(0x55, 'MODE SELECT(10)', 10, 'param10', true),
  op(0x56, 'RESERVE(10)', 10),
  op(0x57, 'RELEASE(10)', 10),
  op(0x5a, 'MODE SENSE(10)', 10, 'alloc10'),
  sa(0x5e, 0x00, 'PERSISTENT RESERVE IN(READ KEYS)', 10, 'alloc10'),
  sa(0x5e, 0x01, 'PERSISTENT RESERVE IN(READ RESERVATION)', 10, 'alloc10'),
  sa(0x5e, 0x02, 'PERSISTENT RESERVE IN(REPORT CAPABILITIES)', 10, 'alloc10'),
  sa(0x5e, 0x03, 'PERSISTENT RESERVE IN(READ FULL STATUS)', 10, 'alloc10'),
  sa(0x5f, 0x00, 'PERSISTENT RESERVE OUT(REGISTER)', 10, undefined, true),
  sa(0x5f, 0x01, 'PERSISTENT RESERVE OUT(RESERVE)', 10, undefined, true),
  sa(0x5f, 0x02, 'PERSISTENT RESERVE OUT(RELEASE)', 10, undefined, true),
  sa(0x5f, 0x03, 'PERSISTENT RESERVE OUT(CLEAR)', 10, undefined, true),
  sa(0x5f, 0x04, 'PERSISTENT RESERVE OUT(PREEMPT)', 10, undefined, true),
  sa(0x5f, 0x05, 'PERSISTENT RESERVE OUT(PREEMPT AND ABORT)', 10, undefined, true),
  sa(0x5f, 0x06, 'PERSISTENT RESERVE OUT(REGISTER AND IGNORE EXISTING KEY)', 10, undefined, true),
  sa(0x5f, 0x07, 'PERSISTENT RESERVE OUT(REGISTER AND MOVE)', 10, undefined, true),
  op(0x7f, 'VARIABLE LENGTH CDB', 32),
  op(0x83, 'EXTENDED COPY', 16, undefined, true),
  op(0x84, 'RECEIVE COPY RESULTS', 16),
  op(0x88, 'READ(16)', 16, 'rw16'),
  op(0x89, 'COMPARE AND WRITE', 16, 'caw', true),
  op(0x8a, 'WRITE(16)', 16, 'rw16', true),
  op(0x8b, 'ORWRITE(16)', 16, 'rw16', true),
  op(0x8e, 'WRITE AND VERIFY(16)', 16, 'rw16', true),
  op(0x8f, 'VERIFY(16)', 16, 'rw16'),
  op(0x90, 'PRE-FETCH(16)', 16, 'rw16'),
  op(0x91, 'SYNCHRONIZE CACHE(16)', 16, 'rw16'),
  op(0x93, 'WRITE SAME(16)', 16, 'rw16', true),
  op(0x9c, 'WRITE ATOMIC(16)', 16, undefined, true), // LBA at 2, ATOMIC BOUNDARY at 10, TRANSFER LENGTH at 12: no shared layout
  sa(0x9e, 0x10, 'READ CAPACITY(16)', 16, 'alloc16'),
  sa(0x9e, 0x12, 'GET LBA STATUS', 16, 'alloc16'),
  op(0xa0, 'REPORT LUNS', 12, 'alloc12'),
  sa(0xa3, 0x05, 'REPORT IDENTIFYING INFORMATION', 12, 'alloc12'),
  sa(0xa3, 0x0a, 'REPORT TARGET PORT GROUPS', 12, 'alloc12'),
  sa(0xa3, 0x0c, 'REPORT SUPPORTED OPERATION CODES', 12, 'alloc12'),
  sa(0xa3, 0x0d, 'REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS', 12, 'alloc12'),
  sa(0xa3, 0x0f, 'REPORT TIMESTAMP', 12, 'alloc12'),
  sa(0xa4, 0x0a, 'SET TARGET PORT GROUPS', 12, undefined, true),
  op(0xa8, 'READ(12)', 12, 'rw12'),
  op(0xaa, 'WRITE(12)', 12, 'rw12', true),
  op(0xae, 'WRITE AND VERIFY(12)', 12, 'rw12', true),
  op(0xaf, 'VERIFY(12)', 12, 'rw12'),
  op(0xb7, 'READ DEFECT DATA(12)', 12),
];

/** Opcodes whose meaning depends on the service action in byte 1. */
const SERVICE_ACTION_OPCODES: ReadonlySet<number> = new Set(SCSI_OPCODES.filter((e) => e.serviceAction !== undefined).map((e) => e.opcode));
const BY_OPCODE = new Map<number, ScsiOpcodeInfo>();
const BY_SA = new Map<number, ScsiOpcodeInfo>();
for (const e of SCSI_OPCODES) {
  if (e.serviceAction === undefined) BY_OPCODE.set(e.opcode, e);
  else BY_SA.set((e.opcode << 8) | e.serviceAction, e);
}

/** CDB length from the group code (SPC-4 4.2.5.1): 6, 10, 10, reserved, 16, 12, vendor, vendor. */
export function cdbLengthOfGroup(opcode: number): number {
  switch (opcode >> 5) {
    case 0:
      return 6;
    case 1:
    case 2:
      return 10;
    case 4:
      return 16;
    case 5:
      return 12;
    case 3:
      return opcode === 0x7f ? 32 : 16;
    default:
      return 16;
  }
}

/** The table entry for a CDB, or undefined for opcodes (or service actions) not in the table. */
export function lookupScsiOpcode(cdb: Uint8Array): ScsiOpcodeInfo | undefined {
  const opcode = cdb[0] ?? 0;
  if (SERVICE_ACTION_OPCODES.has(opcode)) return BY_SA.get((opcode << 8) | ((cdb[1] ?? 0) & 0x1f));
  return BY_OPCODE.get(opcode);
}

/** A name for any CDB: the T10 name, or "SERVICE ACTION IN(16) 0x1f" / "OPCODE 0xc0" for ones not in the table. */
export function scsiOpcodeName(cdb: Uint8Array): string {
  const e = lookupScsiOpcode(cdb);
  if (e) return e.name;
  const opcode = cdb[0] ?? 0;
  const hex = (n: number) => `0x${n.toString(16).padStart(2, '0')}`;
  if (SERVICE_ACTION_OPCODES.has(opcode)) {
    const base = {
      0x5e: 'PERSISTENT RESERVE IN',
      0x5f: 'PERSISTENT RESERVE OUT',
      0x9e: 'SERVICE ACTION IN(16)',
      0xa3: 'MAINTENANCE IN',
      0xa4: 'MAINTENANCE OUT',
    }[opcode];
    return `${base ?? `OPCODE ${hex(opcode)}`} SA ${hex((cdb[1] ?? 0) & 0x1f)}`;
  }
  return `OPCODE ${hex(opcode)}`;
}

/** SCSI status codes (SAM-5 5.3.1). */
export const SCSI_STATUS_NAMES: Readonly<Record<number, string>> = {
  0x00: 'GOOD',
  0x02: 'CHECK CONDITION',
  0x04: 'CONDITION MET',
  0x08: 'BUSY',
  0x18: 'RESERVATION CONFLICT',
  0x28: 'TASK SET FULL',
  0x30: 'ACA ACTIVE',
  0x40: 'TASK ABORTED',
};

export const scsiStatusName = (status: number): string => SCSI_STATUS_NAMES[status] ?? `STATUS 0x${status.toString(16).padStart(2, '0')}`;
