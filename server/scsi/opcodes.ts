/**
 * The commands this target implements, by T10 name (SPC-4 / SBC-3 opcode tables), with what the dispatcher
 * needs to know about each: CDB length, handler, whether it touches the medium, whether it is exempt from unit
 * attentions. REPORT SUPPORTED OPERATION CODES reports exactly this table.
 */
import type { Handler, OpcodeEntry } from './context.ts';

export type { OpcodeEntry } from './context.ts';
import { compareAndWrite } from './sbc/compare-and-write.ts';
import { getLbaStatus } from './sbc/get-lba-status.ts';
import { orWrite } from './sbc/orwrite.ts';
import { prefetch } from './sbc/prefetch.ts';
import { preventAllowMediumRemoval } from './sbc/prevent-allow.ts';
import { read } from './sbc/read.ts';
import { readCapacity10, readCapacity16 } from './sbc/read-capacity.ts';
import { readDefectData } from './sbc/read-defect-data.ts';
import { OPCODE_SANITIZE, SanitizeAction, sanitize } from './sbc/sanitize.ts';
import { startStopUnit } from './sbc/start-stop.ts';
import { synchronizeCache } from './sbc/sync-cache.ts';
import { unmap } from './sbc/unmap.ts';
import { verify } from './sbc/verify.ts';
import { write, writeAndVerify } from './sbc/write.ts';
import { writeSame } from './sbc/write-same.ts';
import { writeAtomic16 } from './sbc/write-atomic.ts';
import { RCR_COPY_STATUS, RCR_OPERATING_PARAMETERS } from './spc/copy-manager.ts';
import { extendedCopy } from './spc/extended-copy.ts';
import { inquiry } from './spc/inquiry.ts';
import { modeSelect10, modeSelect6 } from './spc/mode-select.ts';
import { modeSense10, modeSense6 } from './spc/mode-sense.ts';
import { reportSupportedOpcodes } from './spc/report-supported-opcodes.ts';
import { SA_REPORT_TARGET_PORT_GROUPS, reportTargetPortGroups } from './spc/report-target-port-groups.ts';
import { receiveCopyResults } from './spc/receive-copy-results.ts';
import { requestSense } from './spc/request-sense.ts';
import { testUnitReady } from './spc/test-unit-ready.ts';
import { reportLuns } from './spc/report-luns.ts';

const reportLunsHandler: Handler = (ctx) => reportLuns(ctx.cdb, ctx.target);

export const OPCODES: readonly OpcodeEntry[] = [
  { opcode: 0x00, name: 'TEST UNIT READY', cdbLength: 6, handler: testUnitReady, mediaAccess: true },
  { opcode: 0x03, name: 'REQUEST SENSE', cdbLength: 6, handler: requestSense, ignoresUnitAttention: true, duringSanitize: true },
  { opcode: 0x08, name: 'READ(6)', cdbLength: 6, handler: read, mediaAccess: true },
  { opcode: 0x0a, name: 'WRITE(6)', cdbLength: 6, handler: write, mediaAccess: true },
  { opcode: 0x12, name: 'INQUIRY', cdbLength: 6, handler: inquiry, ignoresUnitAttention: true, duringSanitize: true },
  { opcode: 0x15, name: 'MODE SELECT(6)', cdbLength: 6, handler: modeSelect6 },
  { opcode: 0x1a, name: 'MODE SENSE(6)', cdbLength: 6, handler: modeSense6 },
  { opcode: 0x1b, name: 'START STOP UNIT', cdbLength: 6, handler: startStopUnit },
  { opcode: 0x1e, name: 'PREVENT ALLOW MEDIUM REMOVAL', cdbLength: 6, handler: preventAllowMediumRemoval },
  { opcode: 0x25, name: 'READ CAPACITY(10)', cdbLength: 10, handler: readCapacity10, mediaAccess: true },
  { opcode: 0x28, name: 'READ(10)', cdbLength: 10, handler: read, mediaAccess: true },
  { opcode: 0x2a, name: 'WRITE(10)', cdbLength: 10, handler: write, mediaAccess: true },
  { opcode: 0x2e, name: 'WRITE AND VERIFY(10)', cdbLength: 10, handler: writeAndVerify, mediaAccess: true },
  { opcode: 0x2f, name: 'VERIFY(10)', cdbLength: 10, handler: verify, mediaAccess: true },
  { opcode: 0x34, name: 'PRE-FETCH(10)', cdbLength: 10, handler: prefetch, mediaAccess: true },
  { opcode: 0x35, name: 'SYNCHRONIZE CACHE(10)', cdbLength: 10, handler: synchronizeCache, mediaAccess: true },
  { opcode: 0x37, name: 'READ DEFECT DATA(10)', cdbLength: 10, handler: readDefectData, mediaAccess: true },
  { opcode: 0x41, name: 'WRITE SAME(10)', cdbLength: 10, handler: writeSame, mediaAccess: true },
  { opcode: 0x42, name: 'UNMAP', cdbLength: 10, handler: unmap, mediaAccess: true },
  ...sanitizeEntries(),
  { opcode: 0x55, name: 'MODE SELECT(10)', cdbLength: 10, handler: modeSelect10 },
  { opcode: 0x5a, name: 'MODE SENSE(10)', cdbLength: 10, handler: modeSense10 },
  { opcode: 0x83, serviceAction: 0x00, name: 'EXTENDED COPY(LID1)', cdbLength: 16, handler: extendedCopy, mediaAccess: true },
  { opcode: 0x84, serviceAction: RCR_COPY_STATUS, name: 'RECEIVE COPY RESULTS(COPY STATUS)', cdbLength: 16, handler: receiveCopyResults },
  { opcode: 0x84, serviceAction: RCR_OPERATING_PARAMETERS, name: 'RECEIVE COPY RESULTS(OPERATING PARAMETERS)', cdbLength: 16, handler: receiveCopyResults },
  { opcode: 0x88, name: 'READ(16)', cdbLength: 16, handler: read, mediaAccess: true },
  { opcode: 0x89, name: 'COMPARE AND WRITE', cdbLength: 16, handler: compareAndWrite, mediaAccess: true },
  { opcode: 0x8a, name: 'WRITE(16)', cdbLength: 16, handler: write, mediaAccess: true },
  { opcode: 0x8b, name: 'ORWRITE(16)', cdbLength: 16, handler: orWrite, mediaAccess: true },
  { opcode: 0x8e, name: 'WRITE AND VERIFY(16)', cdbLength: 16, handler: writeAndVerify, mediaAccess: true },
  { opcode: 0x8f, name: 'VERIFY(16)', cdbLength: 16, handler: verify, mediaAccess: true },
  { opcode: 0x90, name: 'PRE-FETCH(16)', cdbLength: 16, handler: prefetch, mediaAccess: true },
  { opcode: 0x91, name: 'SYNCHRONIZE CACHE(16)', cdbLength: 16, handler: synchronizeCache, mediaAccess: true },
  { opcode: 0x93, name: 'WRITE SAME(16)', cdbLength: 16, handler: writeSame, mediaAccess: true },
  { opcode: 0x9c, name: 'WRITE ATOMIC(16)', cdbLength: 16, handler: writeAtomic16, mediaAccess: true },
  { opcode: 0x9e, serviceAction: 0x10, name: 'READ CAPACITY(16)', cdbLength: 16, handler: readCapacity16, mediaAccess: true },
  { opcode: 0x9e, serviceAction: 0x12, name: 'GET LBA STATUS', cdbLength: 16, handler: getLbaStatus, mediaAccess: true },
  { opcode: 0xa0, name: 'REPORT LUNS', cdbLength: 12, handler: reportLunsHandler, ignoresUnitAttention: true, duringSanitize: true },
  { opcode: 0xa3, serviceAction: SA_REPORT_TARGET_PORT_GROUPS, name: 'REPORT TARGET PORT GROUPS', cdbLength: 12, handler: reportTargetPortGroups },
  { opcode: 0xa3, serviceAction: 0x0c, name: 'REPORT SUPPORTED OPERATION CODES', cdbLength: 12, handler: reportSupportedOpcodes },
  { opcode: 0xa8, name: 'READ(12)', cdbLength: 12, handler: read, mediaAccess: true },
  { opcode: 0xaa, name: 'WRITE(12)', cdbLength: 12, handler: write, mediaAccess: true },
  { opcode: 0xae, name: 'WRITE AND VERIFY(12)', cdbLength: 12, handler: writeAndVerify, mediaAccess: true },
  { opcode: 0xaf, name: 'VERIFY(12)', cdbLength: 12, handler: verify, mediaAccess: true },
  { opcode: 0xb7, name: 'READ DEFECT DATA(12)', cdbLength: 12, handler: readDefectData, mediaAccess: true },
];

/**
 * SANITIZE (SBC-3 5.30) by service action, so RSOC lists each one: BLOCK ERASE and CRYPTO ERASE only on thin LUNs
 * (they leave the LUN unmapped, which needs logical block provisioning; see sbc/sanitize.ts). Byte 1: IMMED, AUSE and the service action; bytes 7-8 the
 * parameter list length; bytes 2-6 are reserved.
 */
function sanitizeEntries(): OpcodeEntry[] {
  const usage = [OPCODE_SANITIZE, 0xbf, 0, 0, 0, 0, 0, 0xff, 0xff, 0x00];
  const base = { opcode: OPCODE_SANITIZE, cdbLength: 10, handler: sanitize, mediaAccess: true, usage };
  return [
    { ...base, serviceAction: SanitizeAction.Overwrite, name: 'SANITIZE(OVERWRITE)' },
    { ...base, serviceAction: SanitizeAction.BlockErase, name: 'SANITIZE(BLOCK ERASE)', supported: (lu) => lu.thin },
    { ...base, serviceAction: SanitizeAction.CryptoErase, name: 'SANITIZE(CRYPTO ERASE)', supported: (lu) => lu.thin },
    { ...base, serviceAction: SanitizeAction.ExitFailureMode, name: 'SANITIZE(EXIT FAILURE MODE)' },
  ];
}

/**
 * Entries that take every service action of their opcode not listed in OPCODES: the handler judges the service
 * action itself (an unknown SANITIZE service action is INVALID FIELD IN CDB, not an unknown opcode).
 */
export const CATCH_ALL: readonly OpcodeEntry[] = [{ opcode: OPCODE_SANITIZE, name: 'SANITIZE', cdbLength: 10, handler: sanitize, mediaAccess: true }];

/** Reservation commands as the RSOC table lists them when a reservations engine is attached (SPC-4 6.13-6.16). */
export function reservationEntries(handler: Handler): OpcodeEntry[] {
  const entries: OpcodeEntry[] = [
    { opcode: 0x16, name: 'RESERVE(6)', cdbLength: 6, handler },
    { opcode: 0x17, name: 'RELEASE(6)', cdbLength: 6, handler },
    { opcode: 0x56, name: 'RESERVE(10)', cdbLength: 10, handler },
    { opcode: 0x57, name: 'RELEASE(10)', cdbLength: 10, handler },
  ];
  const prIn = ['READ KEYS', 'READ RESERVATION', 'REPORT CAPABILITIES', 'READ FULL STATUS'];
  prIn.forEach((sa, i) => entries.push({ opcode: 0x5e, serviceAction: i, name: `PERSISTENT RESERVE IN(${sa})`, cdbLength: 10, handler }));
  const prOut = ['REGISTER', 'RESERVE', 'RELEASE', 'CLEAR', 'PREEMPT', 'PREEMPT AND ABORT', 'REGISTER AND IGNORE EXISTING KEY', 'REGISTER AND MOVE'];
  prOut.forEach((sa, i) => entries.push({ opcode: 0x5f, serviceAction: i, name: `PERSISTENT RESERVE OUT(${sa})`, cdbLength: 10, handler }));
  return entries;
}

/** PERSISTENT RESERVE IN/OUT with a service action the table does not list: still the engine's to answer. */
export function reservationCatchAll(handler: Handler): OpcodeEntry[] {
  return [
    { opcode: 0x5e, name: 'PERSISTENT RESERVE IN', cdbLength: 10, handler },
    { opcode: 0x5f, name: 'PERSISTENT RESERVE OUT', cdbLength: 10, handler },
  ];
}

/** Service action field (byte 1 bits 4-0) for opcodes that have one. */
function serviceActionOf(cdb: Uint8Array): number {
  return cdb[1]! & 0x1f;
}

/** Index for dispatch: opcode -> plain entry, or opcode -> service action -> entry. */
export class OpcodeIndex {
  private readonly plain = new Map<number, OpcodeEntry>();
  private readonly withSa = new Map<number, Map<number, OpcodeEntry>>();
  private readonly anySa = new Map<number, OpcodeEntry>();

  /**
   * `catchAll`: entries that take every service action of their opcode not listed otherwise (the reservations
   * engine judges PERSISTENT RESERVE IN/OUT service actions itself, including invalid ones).
   */
  constructor(
    readonly entries: readonly OpcodeEntry[],
    catchAll: readonly OpcodeEntry[] = [],
  ) {
    for (const e of catchAll) this.anySa.set(e.opcode, e);
    for (const e of entries) {
      if (e.serviceAction === undefined) this.plain.set(e.opcode, e);
      else {
        let m = this.withSa.get(e.opcode);
        if (!m) this.withSa.set(e.opcode, (m = new Map()));
        m.set(e.serviceAction, e);
      }
    }
  }

  lookup(cdb: Uint8Array): OpcodeEntry | undefined {
    const opcode = cdb[0]!;
    return this.plain.get(opcode) ?? this.withSa.get(opcode)?.get(serviceActionOf(cdb)) ?? this.anySa.get(opcode);
  }
}
