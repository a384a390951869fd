/**
 * Per-logical-unit reservation state: the SPC-2 RESERVE holder and the SPC-4 persistent reservation model
 * (registrations, the reservation, PRgeneration). Pure data plus the holder/registrant predicates every other
 * file needs; no I/O.
 */
import type { ItNexus } from '../types.ts';

/** SPC-4 table 168 (PERSISTENT RESERVE OUT TYPE field). Values 0, 2 and 4 are obsolete/reserved. */
export const enum PrType {
  WriteExclusive = 0x1,
  ExclusiveAccess = 0x3,
  WriteExclusiveRegistrantsOnly = 0x5,
  ExclusiveAccessRegistrantsOnly = 0x6,
  WriteExclusiveAllRegistrants = 0x7,
  ExclusiveAccessAllRegistrants = 0x8,
}

export const LU_SCOPE = 0x0;

export function isValidType(t: number): t is PrType {
  return t === 0x1 || t === 0x3 || t === 0x5 || t === 0x6 || t === 0x7 || t === 0x8;
}

/** SPC-4 5.12.10: with an all-registrants type every registered I_T nexus is a reservation holder. */
export function isAllRegistrants(t: PrType): boolean {
  return t === PrType.WriteExclusiveAllRegistrants || t === PrType.ExclusiveAccessAllRegistrants;
}

/** Registrants-only and all-registrants types let every registered I_T nexus through (SPC-4 table 66). */
export function admitsRegistrants(t: PrType): boolean {
  return t >= PrType.WriteExclusiveRegistrantsOnly;
}

/** The Exclusive Access family also blocks reads from non-holders; the Write Exclusive family only writes. */
export function isExclusiveAccess(t: PrType): boolean {
  return t === PrType.ExclusiveAccess || t === PrType.ExclusiveAccessRegistrantsOnly || t === PrType.ExclusiveAccessAllRegistrants;
}

export interface Registration {
  key: bigint;
  /** The I_T nexus that registered (SPC-4 registers I_T nexuses, not initiators). */
  readonly nexusId: string;
  readonly initiatorName: string;
  readonly initiatorPort: string;
  readonly relativeTargetPort: number;
  /** Registered through every target port of this initiator port (SPC-4 6.16.3 ALL_TG_PT). */
  readonly allTgPt: boolean;
}

interface PersistentReservation {
  readonly type: PrType;
  /** The holding registration's nexus id; for all-registrants types the nexus that created it (informational). */
  holder: string;
}

export interface LuState {
  /** SPC-2 RESERVE(6)/(10) holder, by nexus id. Never persisted: SPC-2 reservations do not survive resets. */
  spc2Holder?: string;
  /** SPC-4 PRGENERATION: bumped by every PROUT that changes registrations (6.15.2), wraps at 2^32. */
  generation: number;
  /** Registrations by the registering nexus id. Insertion order is what READ KEYS reports. */
  registrations: Map<string, Registration>;
  reservation?: PersistentReservation;
  /** Activate Persist Through Power Loss, as last set by a REGISTER-family service action. */
  aptpl: boolean;
}

export function emptyState(): LuState {
  return { generation: 0, registrations: new Map(), aptpl: false };
}

export function bumpGeneration(s: LuState): void {
  s.generation = (s.generation + 1) >>> 0;
}

/** The registration that covers `nexus`: its own, or an ALL_TG_PT one made by the same initiator port. */
export function registrationFor(s: LuState, nexus: ItNexus): Registration | undefined {
  const own = s.registrations.get(nexus.id);
  if (own) return own;
  for (const r of s.registrations.values()) {
    if (r.allTgPt && r.initiatorPort === nexus.initiatorPort) return r;
  }
  return undefined;
}

export function isHolder(s: LuState, reg: Registration | undefined): boolean {
  const res = s.reservation;
  if (!res || !reg) return false;
  return isAllRegistrants(res.type) || res.holder === reg.nexusId;
}
