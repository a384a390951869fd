/**
 * SPC-2 RESERVE(6)/(10) and RELEASE(6)/(10) (SPC-2 7.21, 7.22, 7.16, 7.17): one I_T nexus holds the whole
 * logical unit. Extents and third-party reservations are obsolete or optional and not supported.
 */
import { invalidField } from '../sense.ts';
import type { ItNexus, ScsiResponse } from '../types.ts';
import { Op } from './access-rules.ts';
import { conflict, good } from './outcomes.ts';
import type { LuState } from './state.ts';

const THIRD_PARTY = 0x10; // RESERVE(10)/RELEASE(10) byte 1 bit 4
const LONG_ID = 0x02; // RESERVE(10)/RELEASE(10) byte 1 bit 1

export function executeSpc2(s: LuState, cdb: Uint8Array, nexus: ItNexus): ScsiResponse {
  const op = cdb[0];
  if ((op === Op.Reserve10 || op === Op.Release10) && ((cdb[1] ?? 0) & (THIRD_PARTY | LONG_ID)) !== 0) {
    throw invalidField(1, (cdb[1] ?? 0) & THIRD_PARTY ? 4 : 1);
  }
  // SPC-2 5.5.1: while any persistent reservation registration exists, every RESERVE and RELEASE conflicts,
  // whoever sends it (we report CRH = 0, so the SPC-3 5.6.3 exceptions do not apply).
  if (s.registrations.size > 0) return conflict();
  if (op === Op.Reserve6 || op === Op.Reserve10) {
    // A holder re-reserving is fine (SPC-2 7.21.2: "superseded"); anyone else conflicts.
    if (s.spc2Holder !== undefined && s.spc2Holder !== nexus.id) return conflict();
    s.spc2Holder = nexus.id;
    return good();
  }
  // SPC-2 7.16: RELEASE from a nexus that holds nothing is not an error, it just releases nothing.
  if (s.spc2Holder === nexus.id) s.spc2Holder = undefined;
  return good();
}
