/**
 * Which commands a reservation lets through from an I_T nexus that does not hold it.
 * Persistent reservations: SPC-4 5.12.3 table 66 (SPC commands) and SBC-3 4.17 table 13 (block commands).
 * SPC-2 reservations: SPC-2 5.5.1 — nearly everything conflicts.
 */
import { PrType, isExclusiveAccess } from './state.ts';

export const Op = {
  TestUnitReady: 0x00,
  RequestSense: 0x03,
  Read6: 0x08,
  Inquiry: 0x12,
  Reserve6: 0x16,
  Release6: 0x17,
  StartStopUnit: 0x1b,
  PreventAllow: 0x1e,
  ReadCapacity10: 0x25,
  Read10: 0x28,
  Verify10: 0x2f,
  PreFetch10: 0x34,
  ReadDefectData10: 0x37,
  ReadLong10: 0x3e,
  LogSense: 0x4d,
  Reserve10: 0x56,
  Release10: 0x57,
  PersistentReserveIn: 0x5e,
  PersistentReserveOut: 0x5f,
  Variable: 0x7f,
  AccessControlIn: 0x86,
  AccessControlOut: 0x87,
  Read16: 0x88,
  Verify16: 0x8f,
  PreFetch16: 0x90,
  ServiceActionIn16: 0x9e,
  ReportLuns: 0xa0,
  MaintenanceIn: 0xa3,
  Read12: 0xa8,
  ServiceActionIn12: 0xab,
  Verify12: 0xaf,
  ReadDefectData12: 0xb7,
} as const;

/** What a non-holder gets for one command, before the reservation type is taken into account. */
const enum Access {
  /** Allowed under every reservation type. */
  Allowed,
  /** Reads the medium: allowed through the Write Exclusive family, conflicts under Exclusive Access. */
  ReadOnly,
  /** Conflicts under every reservation type. */
  Conflict,
}

const ALWAYS_ALLOWED: ReadonlySet<number> = new Set([
  Op.TestUnitReady, // SPC-4 table 66 note: allowed since SPC-3
  Op.RequestSense,
  Op.Inquiry,
  Op.ReadCapacity10, // SBC-3 table 13
  Op.LogSense,
  Op.PersistentReserveIn,
  Op.PersistentReserveOut, // its own rules (SPC-4 5.12.2) are applied by execute()
  Op.AccessControlIn,
  Op.AccessControlOut,
  Op.ReportLuns,
]);

const READS: ReadonlySet<number> = new Set([
  Op.Read6,
  Op.Read10,
  Op.Read12,
  Op.Read16,
  Op.Verify10,
  Op.Verify12,
  Op.Verify16,
  Op.PreFetch10,
  Op.PreFetch16,
  Op.ReadDefectData10,
  Op.ReadDefectData12,
  Op.ReadLong10,
]);

// SERVICE ACTION IN(16) service actions
const SA_READ_CAPACITY_16 = 0x10;
const SA_READ_LONG_16 = 0x11;
const SA_GET_LBA_STATUS = 0x12;
const SA_REPORT_REFERRALS = 0x13;
// MAINTENANCE IN: every REPORT ... service action the standards define is informational, hence allowed
const MAINTENANCE_IN_REPORTS: ReadonlySet<number> = new Set([0x05, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f]);
const SA_READ_MEDIA_SERIAL_NUMBER = 0x01;
const SA_READ_32 = 0x0009;
const SA_VERIFY_32 = 0x000a;

function classify(cdb: Uint8Array): Access {
  const op = cdb[0] ?? 0;
  if (ALWAYS_ALLOWED.has(op)) return Access.Allowed;
  if (READS.has(op)) return Access.ReadOnly;
  const sa = (cdb[1] ?? 0) & 0x1f;
  switch (op) {
    case Op.ServiceActionIn16:
      if (sa === SA_READ_CAPACITY_16) return Access.Allowed;
      if (sa === SA_READ_LONG_16 || sa === SA_GET_LBA_STATUS || sa === SA_REPORT_REFERRALS) return Access.ReadOnly;
      return Access.Conflict;
    case Op.MaintenanceIn:
      return MAINTENANCE_IN_REPORTS.has(sa) ? Access.Allowed : Access.Conflict;
    case Op.ServiceActionIn12:
      return sa === SA_READ_MEDIA_SERIAL_NUMBER ? Access.Allowed : Access.Conflict;
    case Op.PreventAllow:
      // Allowing removal never hurts the holder; preventing it would (SBC-3 table 13)
      return ((cdb[4] ?? 0) & 0x03) === 0 ? Access.Allowed : Access.Conflict;
    case Op.StartStopUnit:
      // Only "START=1, no power condition" leaves the medium usable for the holder (SBC-3 table 13)
      return ((cdb[4] ?? 0) & 0xf1) === 0x01 ? Access.Allowed : Access.Conflict;
    case Op.Variable: {
      const vsa = ((cdb[8] ?? 0) << 8) | (cdb[9] ?? 0);
      return vsa === SA_READ_32 || vsa === SA_VERIFY_32 ? Access.ReadOnly : Access.Conflict;
    }
    default:
      // Writes, MODE SENSE/SELECT, SYNCHRONIZE CACHE, buffers, diagnostics, and anything unknown
      return Access.Conflict;
  }
}

/** Conflict decision for a nexus that neither holds the persistent reservation nor is let in as a registrant. */
export function persistentConflict(type: PrType, cdb: Uint8Array): boolean {
  switch (classify(cdb)) {
    case Access.Allowed:
      return false;
    case Access.ReadOnly:
      return isExclusiveAccess(type);
    default:
      return true;
  }
}

/**
 * SPC-2 5.5.1: a logical unit reserved by another I_T nexus rejects everything except the commands SAM-2/SPC-2
 * exempt from reservations — INQUIRY, REPORT LUNS, REQUEST SENSE — plus RELEASE (a no-op from a non-holder) and
 * PREVENT ALLOW MEDIUM REMOVAL with PREVENT=0 (SCSI-2 8.2.1.2 carried forward).
 */
export function spc2Conflict(cdb: Uint8Array): boolean {
  switch (cdb[0]) {
    case Op.Inquiry:
    case Op.ReportLuns:
    case Op.RequestSense:
    case Op.Release6:
    case Op.Release10:
      return false;
    case Op.PreventAllow:
      return ((cdb[4] ?? 0) & 0x03) !== 0;
    default:
      return true;
  }
}

export function isSpc2Opcode(op: number): boolean {
  return op === Op.Reserve6 || op === Op.Release6 || op === Op.Reserve10 || op === Op.Release10;
}
