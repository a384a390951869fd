/**
 * PERSISTENT RESERVE IN (SPC-4 6.15): reports the persistent reservation state. Allowed from every I_T nexus
 * under every reservation type, so nothing here checks who is asking.
 */
import { be16, put16, put32 } from '../cdb.ts';
import { invalidField } from '../sense.ts';
import type { ScsiResponse } from '../types.ts';
import { good } from './outcomes.ts';
import { LU_SCOPE, isAllRegistrants, isHolder, type LuState } from './state.ts';

const enum PrinAction {
  ReadKeys = 0x00,
  ReadReservation = 0x01,
  ReportCapabilities = 0x02,
  ReadFullStatus = 0x03,
}

/** What REPORT CAPABILITIES advertises; it depends on how the engine was configured. */
interface Capabilities {
  /** PTPL_C: APTPL can be honoured, i.e. the engine has somewhere to persist state. */
  readonly persistThroughPowerLoss: boolean;
}

const HEADER = 8;

export function executePrin(s: LuState, cdb: Uint8Array, caps: Capabilities): ScsiResponse {
  const allocation = be16(cdb, 7);
  let data: Uint8Array;
  switch ((cdb[1] ?? 0) & 0x1f) {
    case PrinAction.ReadKeys:
      data = readKeys(s);
      break;
    case PrinAction.ReadReservation:
      data = readReservation(s);
      break;
    case PrinAction.ReportCapabilities:
      data = reportCapabilities(s, caps);
      break;
    case PrinAction.ReadFullStatus:
      data = readFullStatus(s);
      break;
    default:
      // SPC-4 6.15.1: reserved service actions are INVALID FIELD IN CDB (libiscsi PrinServiceactionRange)
      throw invalidField(1, 4);
  }
  // The additional length fields keep their full values; only the transfer is cut (SPC-4 4.2.5.6, 6.15.2)
  return good(data.length > allocation ? data.subarray(0, allocation) : data);
}

function header(s: LuState, additional: number): Uint8Array {
  const out = new Uint8Array(HEADER + additional);
  put32(out, 0, s.generation);
  put32(out, 4, additional);
  return out;
}

/** SPC-4 6.15.2: one 8-byte key per registered I_T nexus. */
function readKeys(s: LuState): Uint8Array {
  const out = header(s, 8 * s.registrations.size);
  let o = HEADER;
  for (const r of s.registrations.values()) {
    new DataView(out.buffer).setBigUint64(o, r.key);
    o += 8;
  }
  return out;
}

/** SPC-4 6.15.3: the reservation, if any; all-registrants reservations report key zero (6.15.3.2). */
function readReservation(s: LuState): Uint8Array {
  const res = s.reservation;
  if (!res) return header(s, 0);
  const out = header(s, 16);
  const key = isAllRegistrants(res.type) ? 0n : (s.registrations.get(res.holder)?.key ?? 0n);
  new DataView(out.buffer).setBigUint64(HEADER, key);
  out[HEADER + 13] = (LU_SCOPE << 4) | res.type;
  return out;
}

// REPORT CAPABILITIES byte 2 and 3 bits (SPC-4 table 162)
const ATP_C = 0x04;
const PTPL_C = 0x01;
const TMV = 0x80;
/** ALLOW COMMANDS 001b: TEST UNIT READY passes WE/EA reservations; nothing promised about the rest. */
const ALLOW_COMMANDS_TUR = 0x1 << 4;
const PTPL_A = 0x01;
// Type mask bits: byte 4 WR_EX_AR(7) EX_AC_RO(6) WR_EX_RO(5) EX_AC(3) WR_EX(1); byte 5 EX_AC_AR(0)
const TYPE_MASK_BYTE4 = 0x80 | 0x40 | 0x20 | 0x08 | 0x02;
const TYPE_MASK_BYTE5 = 0x01;

function reportCapabilities(s: LuState, caps: Capabilities): Uint8Array {
  const out = new Uint8Array(8);
  put16(out, 0, 8);
  // CRH = 0 (SPC-2 RESERVE/RELEASE simply conflict while registrations exist), SIP_C = 0 (no SPEC_I_PT)
  out[2] = ATP_C | (caps.persistThroughPowerLoss ? PTPL_C : 0);
  out[3] = TMV | ALLOW_COMMANDS_TUR | (s.aptpl ? PTPL_A : 0);
  out[4] = TYPE_MASK_BYTE4;
  out[5] = TYPE_MASK_BYTE5;
  return out;
}

// READ FULL STATUS descriptor (SPC-4 table 164)
const DESCRIPTOR = 24;
const ALL_TG_PT = 0x02;
const R_HOLDER = 0x01;

/** SPC-4 6.15.5: every registration with its holder flag and the initiator's TransportID. */
function readFullStatus(s: LuState): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const r of s.registrations.values()) {
    const tid = iscsiTransportId(r.initiatorPort);
    const d = new Uint8Array(DESCRIPTOR + tid.length);
    new DataView(d.buffer).setBigUint64(0, r.key);
    const holder = isHolder(s, r);
    d[12] = (r.allTgPt ? ALL_TG_PT : 0) | (holder ? R_HOLDER : 0);
    if (holder && s.reservation) d[13] = (LU_SCOPE << 4) | s.reservation.type;
    // RELATIVE TARGET PORT IDENTIFIER is not meaningful with ALL_TG_PT (SPC-4 6.15.5)
    put16(d, 18, r.allTgPt ? 0 : r.relativeTargetPort);
    put32(d, 20, tid.length);
    d.set(tid, DESCRIPTOR);
    parts.push(d);
  }
  const body = parts.reduce((n, p) => n + p.length, 0);
  const out = header(s, body);
  let o = HEADER;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

const ISCSI_PROTOCOL = 0x5;
const FORMAT_PORT = 0x40; // FORMAT CODE 01b: iSCSI name + ",i,0x" + ISID (SPC-4 7.6.4.6)

/** An iSCSI initiator-port TransportID, NUL-terminated and padded to a multiple of 4, at least 24 bytes long. */
function iscsiTransportId(initiatorPort: string): Uint8Array {
  const name = new TextEncoder().encode(initiatorPort);
  const padded = Math.max(20, Math.ceil((name.length + 1) / 4) * 4);
  const out = new Uint8Array(4 + padded);
  out[0] = FORMAT_PORT | ISCSI_PROTOCOL;
  put16(out, 2, padded);
  out.set(name, 4);
  return out;
}
