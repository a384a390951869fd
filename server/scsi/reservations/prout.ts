/**
 * PERSISTENT RESERVE OUT (SPC-4 6.16) and the state changes of SPC-4 5.12.5 - 5.12.11. Each service action
 * returns GOOD or RESERVATION CONFLICT, or throws a CheckCondition for malformed CDBs and parameter lists.
 */
import { be16, be32 } from '../cdb.ts';
import { CheckCondition, Sense, invalidField, invalidParameter } from '../sense.ts';
import type { ItNexus, ScsiResponse } from '../types.ts';
import { InvalidReleaseOfPersistentReservation, UnitAttention, conflict, good, type UnitAttentionCode } from './outcomes.ts';
import {
  LU_SCOPE,
  admitsRegistrants,
  bumpGeneration,
  isAllRegistrants,
  isHolder,
  isValidType,
  registrationFor,
  type LuState,
  type PrType,
  type Registration,
} from './state.ts';

const enum ProutAction {
  Register = 0x00,
  Reserve = 0x01,
  Release = 0x02,
  Clear = 0x03,
  Preempt = 0x04,
  PreemptAndAbort = 0x05,
  RegisterAndIgnoreExistingKey = 0x06,
  RegisterAndMove = 0x07,
}

interface ProutContext {
  readonly state: LuState;
  readonly nexus: ItNexus;
  /** APTPL = 1 is only accepted when state can be persisted (REPORT CAPABILITIES PTPL_C). */
  readonly persistCapable: boolean;
  /** I_T nexuses seen on this target, so REGISTER AND MOVE can resolve a TransportID to one. */
  readonly knownNexuses: () => Iterable<ItNexus>;
  /** Establishes a unit attention for the I_T nexus(es) a registration covers. */
  readonly notify: (reg: Registration, code: UnitAttentionCode) => void;
}

// Basic parameter list (SPC-4 table 170)
const BASIC_LENGTH = 24;
const SPEC_I_PT = 0x08;
const ALL_TG_PT = 0x04;
const APTPL = 0x01;
// REGISTER AND MOVE parameter list (SPC-4 table 172)
const MOVE_UNREG = 0x02;

interface Basic {
  readonly key: bigint;
  readonly sark: bigint;
  readonly flags: number;
}

export function executeProut(ctx: ProutContext, cdb: Uint8Array, data: Uint8Array): ScsiResponse {
  const action = (cdb[1] ?? 0) & 0x1f;
  if (action > ProutAction.RegisterAndMove) throw invalidField(1, 4);
  const scope = (cdb[2] ?? 0) >> 4;
  const type = (cdb[2] ?? 0) & 0x0f;
  const needsType = action === ProutAction.Reserve || action === ProutAction.Preempt || action === ProutAction.PreemptAndAbort;
  if (needsType && scope !== LU_SCOPE) throw invalidField(2, 7);
  if (needsType && !isValidType(type)) throw invalidField(2, 3);

  const listLength = be32(cdb, 5);
  if (action === ProutAction.RegisterAndMove) return registerAndMove(ctx, listLength, data);
  if (listLength !== BASIC_LENGTH || data.length < BASIC_LENGTH) {
    // SPEC_I_PT would allow a longer list; report what is wrong with it rather than its length
    if (data.length >= BASIC_LENGTH && (data[20]! & SPEC_I_PT) !== 0) throw invalidParameter(20, 3);
    throw new CheckCondition(Sense.ParameterListLengthError);
  }
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const p: Basic = { key: view.getBigUint64(0), sark: view.getBigUint64(8), flags: data[20]! };
  const s = ctx.state;
  const reg = registrationFor(s, ctx.nexus);

  if (action === ProutAction.Register || action === ProutAction.RegisterAndIgnoreExistingKey) {
    // SPC-4 6.16.3: this target does not implement SPEC_I_PT (REPORT CAPABILITIES SIP_C = 0)
    if ((p.flags & SPEC_I_PT) !== 0) throw invalidParameter(20, 3);
    if ((p.flags & APTPL) !== 0 && !ctx.persistCapable) throw invalidParameter(20, 0);
    return register(ctx, reg, p, action === ProutAction.RegisterAndIgnoreExistingKey);
  }
  // SPC-4 5.12.2: only a registered I_T nexus quoting its own key may do anything else
  if (!reg || reg.key !== p.key) return conflict();
  switch (action) {
    case ProutAction.Reserve:
      return reserve(s, reg, type as PrType);
    case ProutAction.Release:
      return release(ctx, reg, scope, type);
    case ProutAction.Clear:
      return clear(ctx, reg);
    default:
      // PREEMPT AND ABORT differs only in aborting the preempted nexuses' tasks, which is the transport's job
      return preempt(ctx, reg, p.sark, type as PrType);
  }
}

/** SPC-4 5.12.7 (REGISTER / REGISTER AND IGNORE EXISTING KEY). */
function register(ctx: ProutContext, reg: Registration | undefined, p: Basic, ignoreKey: boolean): ScsiResponse {
  const s = ctx.state;
  if (!reg) {
    // An unregistered nexus must quote key zero, unless it asks us to ignore the key (table 173)
    if (!ignoreKey && p.key !== 0n) return conflict();
    if (p.sark === 0n) return good(); // nothing to register, nothing to change
    const n = ctx.nexus;
    s.registrations.set(n.id, {
      key: p.sark,
      nexusId: n.id,
      initiatorName: n.initiatorName,
      initiatorPort: n.initiatorPort,
      relativeTargetPort: n.relativeTargetPort,
      allTgPt: (p.flags & ALL_TG_PT) !== 0,
    });
    s.aptpl = (p.flags & APTPL) !== 0;
    bumpGeneration(s);
    return good();
  }
  if (!ignoreKey && p.key !== reg.key) return conflict();
  if (p.sark === 0n) {
    unregister(ctx, reg);
  } else {
    reg.key = p.sark;
    s.aptpl = (p.flags & APTPL) !== 0;
  }
  bumpGeneration(s);
  return good();
}

/** Removing a registration may take the reservation with it (SPC-4 5.12.11.2.2). */
function unregister(ctx: ProutContext, reg: Registration): void {
  const s = ctx.state;
  s.registrations.delete(reg.nexusId);
  const res = s.reservation;
  if (!res) return;
  if (isAllRegistrants(res.type)) {
    // The reservation lives on while any registrant (hence holder) remains
    const next = s.registrations.values().next();
    if (next.done) s.reservation = undefined;
    else if (res.holder === reg.nexusId) res.holder = next.value.nexusId;
    return;
  }
  if (res.holder !== reg.nexusId) return;
  s.reservation = undefined;
  // Registrants of a registrants-only reservation lose their access and must be told
  if (admitsRegistrants(res.type)) notifyAll(ctx, reg, UnitAttention.ReservationsReleased);
}

/** SPC-4 5.12.9: a second RESERVE by a holder is harmless only if it asks for the same thing. */
function reserve(s: LuState, reg: Registration, type: PrType): ScsiResponse {
  const res = s.reservation;
  if (res) return isHolder(s, reg) && res.type === type ? good() : conflict();
  s.reservation = { type, holder: reg.nexusId };
  return good();
}

/** SPC-4 5.12.11.2: only the holder releases; others get GOOD and change nothing. */
function release(ctx: ProutContext, reg: Registration, scope: number, type: number): ScsiResponse {
  const s = ctx.state;
  const res = s.reservation;
  if (!res || !isHolder(s, reg)) return good();
  if (scope !== LU_SCOPE || type !== res.type) throw new CheckCondition(InvalidReleaseOfPersistentReservation);
  s.reservation = undefined;
  if (admitsRegistrants(res.type)) notifyAll(ctx, reg, UnitAttention.ReservationsReleased);
  return good();
}

/** SPC-4 5.12.11.3: drop the reservation and every registration. */
function clear(ctx: ProutContext, reg: Registration): ScsiResponse {
  const s = ctx.state;
  notifyAll(ctx, reg, UnitAttention.ReservationsPreempted);
  s.registrations.clear();
  s.reservation = undefined;
  bumpGeneration(s);
  return good();
}

/** SPC-4 5.12.11.4: PREEMPT removes registrations and, if it names the holder, takes over the reservation. */
function preempt(ctx: ProutContext, reg: Registration, sark: bigint, type: PrType): ScsiResponse {
  const s = ctx.state;
  const res = s.reservation;
  if (res && isAllRegistrants(res.type) && sark === 0n) {
    // 5.12.11.4.3: with an all-registrants reservation, key zero preempts every other registrant
    for (const other of [...s.registrations.values()]) {
      if (other === reg) continue;
      s.registrations.delete(other.nexusId);
      ctx.notify(other, UnitAttention.RegistrationsPreempted);
    }
    s.reservation = { type, holder: reg.nexusId };
    bumpGeneration(s);
    return good();
  }
  // Key zero names nobody, since no registration can hold it (6.16.3)
  if (sark === 0n) throw invalidParameter(8);
  const holderKey = res && !isAllRegistrants(res.type) ? s.registrations.get(res.holder)?.key : undefined;
  const victims = [...s.registrations.values()].filter((r) => r.key === sark && r !== reg);
  if (holderKey === sark && res) {
    // 5.12.11.4.3: the preempting nexus becomes the holder, with the type it asked for
    for (const v of victims) s.registrations.delete(v.nexusId);
    s.reservation = { type, holder: reg.nexusId };
    for (const v of victims) ctx.notify(v, UnitAttention.RegistrationsPreempted);
    if (type !== res.type) notifyAll(ctx, reg, UnitAttention.ReservationsReleased);
    bumpGeneration(s);
    return good();
  }
  // 5.12.11.4.4: only registrations go; naming a key nobody holds is a conflict
  if (victims.length === 0) return conflict();
  for (const v of victims) {
    s.registrations.delete(v.nexusId);
    ctx.notify(v, UnitAttention.RegistrationsPreempted);
  }
  if (res && isAllRegistrants(res.type) && victims.some((v) => v.nexusId === res.holder)) res.holder = reg.nexusId;
  bumpGeneration(s);
  return good();
}

/** A unit attention for every registrant other than the one that caused the change. */
function notifyAll(ctx: ProutContext, except: Registration, code: UnitAttentionCode): void {
  for (const r of ctx.state.registrations.values()) if (r !== except) ctx.notify(r, code);
}

const ISCSI_PROTOCOL = 0x5;

/**
 * SPC-4 5.12.8: the holder hands its reservation to another I_T nexus, named by TransportID and relative target
 * port. That nexus must have logged in at least once, since its nexus id is how registrations are keyed here.
 */
function registerAndMove(ctx: ProutContext, listLength: number, data: Uint8Array): ScsiResponse {
  if (listLength < BASIC_LENGTH || data.length < Math.min(listLength, BASIC_LENGTH)) {
    throw new CheckCondition(Sense.ParameterListLengthError);
  }
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const key = view.getBigUint64(0);
  const sark = view.getBigUint64(8);
  const flags = data[17]!;
  const s = ctx.state;
  const reg = registrationFor(s, ctx.nexus);
  if (!reg || reg.key !== key) return conflict();
  const res = s.reservation;
  // Only a single holder can move its reservation; all-registrants ones have no single holder
  if (!res || isAllRegistrants(res.type) || res.holder !== reg.nexusId) return conflict();
  if (sark === 0n) throw invalidParameter(8);
  if ((flags & APTPL) !== 0 && !ctx.persistCapable) throw invalidParameter(17, 0);
  const tidLength = be32(data, 20);
  if (BASIC_LENGTH + tidLength > listLength || BASIC_LENGTH + tidLength > data.length) {
    throw new CheckCondition(Sense.ParameterListLengthError);
  }
  const dest = resolveTransportId(ctx, data.subarray(BASIC_LENGTH, BASIC_LENGTH + tidLength), be16(data, 18));
  if (!dest || dest.id === ctx.nexus.id) throw invalidParameter(BASIC_LENGTH);
  const existing = s.registrations.get(dest.id);
  if (existing) existing.key = sark;
  else
    s.registrations.set(dest.id, {
      key: sark,
      nexusId: dest.id,
      initiatorName: dest.initiatorName,
      initiatorPort: dest.initiatorPort,
      relativeTargetPort: dest.relativeTargetPort,
      allTgPt: false,
    });
  res.holder = dest.id;
  if ((flags & MOVE_UNREG) !== 0) s.registrations.delete(reg.nexusId);
  s.aptpl = (flags & APTPL) !== 0;
  bumpGeneration(s);
  return good();
}

/** iSCSI TransportIDs (SPC-4 7.6.4.6): format 00b names the initiator, 01b names an initiator port. */
function resolveTransportId(ctx: ProutContext, tid: Uint8Array, rtp: number): ItNexus | undefined {
  if (tid.length < 4 || (tid[0]! & 0x0f) !== ISCSI_PROTOCOL) return undefined;
  const format = tid[0]! >> 6;
  const text = new TextDecoder().decode(tid.subarray(4, 4 + be16(tid, 2))).split('\0')[0] ?? '';
  for (const n of ctx.knownNexuses()) {
    if (n.relativeTargetPort !== rtp) continue;
    if (format === 0 && n.initiatorName.toLowerCase() === text.toLowerCase()) return n;
    if (format === 1 && n.initiatorPort.toLowerCase() === text.toLowerCase()) return n;
  }
  return undefined;
}
