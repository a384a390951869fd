/**
 * APTPL (SPC-4 5.12.5): when the last REGISTER asked for it, registrations and the reservation must survive power
 * loss. We keep them as a small JSON file per logical unit, rewritten atomically after every change.
 * Synchronous on purpose: PROUT is rare, and GOOD must not be reported before the state is durable.
 */
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { emptyState, isValidType, type LuState, type Registration } from './state.ts';

interface SavedRegistration {
  key: string; // 16 hex digits: JSON has no 64-bit integers
  nexusId: string;
  initiatorName: string;
  initiatorPort: string;
  relativeTargetPort: number;
  allTgPt: boolean;
}

interface Saved {
  version: 1;
  generation: number;
  registrations: SavedRegistration[];
  reservation?: { type: number; holder: string };
}

export function save(path: string, s: LuState): void {
  if (!s.aptpl) {
    // Persistence was turned off (or never on): nothing may come back after power loss
    rmSync(path, { force: true });
    return;
  }
  const saved: Saved = {
    version: 1,
    generation: s.generation,
    registrations: [...s.registrations.values()].map((r) => ({ ...r, key: r.key.toString(16).padStart(16, '0') })),
    ...(s.reservation ? { reservation: { type: s.reservation.type, holder: s.reservation.holder } } : {}),
  };
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, JSON.stringify(saved, null, 2));
  renameSync(tmp, path);
}

/** The persisted state, or an empty one if there is none (or it cannot be read: better empty than wrong). */
export function load(path: string): LuState {
  let saved: Saved;
  try {
    saved = JSON.parse(readFileSync(path, 'utf8')) as Saved;
  } catch {
    return emptyState();
  }
  const s = emptyState();
  if (saved.version !== 1 || !Array.isArray(saved.registrations)) return s;
  s.aptpl = true;
  s.generation = saved.generation >>> 0;
  for (const r of saved.registrations) {
    const reg: Registration = {
      key: BigInt(`0x${r.key}`),
      nexusId: r.nexusId,
      initiatorName: r.initiatorName,
      initiatorPort: r.initiatorPort,
      relativeTargetPort: r.relativeTargetPort,
      allTgPt: r.allTgPt,
    };
    s.registrations.set(reg.nexusId, reg);
  }
  const res = saved.reservation;
  if (res && isValidType(res.type) && s.registrations.has(res.holder)) {
    s.reservation = { type: res.type, holder: res.holder };
  }
  return s;
}
