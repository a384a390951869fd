/**
 * REQUEST SENSE (SPC-4 6.39): returns a pending unit attention for this nexus (and clears it), otherwise
 * NO SENSE, or the "sense" of the LU's state (sanitize in progress with its progress, medium not present,
 * sanitize failure mode). DESC selects the format.
 */
import type { CommandContext } from '../context.ts';
import { withAllocation } from '../context.ts';
import { sanitizeFailed, sanitizeProgress } from '../sbc/sanitize.ts';
import { Sense, buildSense, invalidField, type SenseDetails, type SenseReason } from '../sense.ts';
import type { ScsiResponse } from '../types.ts';

const DESC = 0x01;

export function requestSense(ctx: CommandContext): ScsiResponse {
  const { cdb, lu, cmd } = ctx;
  if (cdb[1]! & ~DESC) throw invalidField(1);
  let reason: SenseReason = lu.takeUnitAttention(cmd.nexus.id) ?? Sense.NoSense;
  let details: SenseDetails = {};
  const sanitizing = sanitizeProgress(lu);
  if (reason === Sense.NoSense && sanitizing !== undefined) {
    // SPC-4 6.39.2 / SBC-4 4.11.3: a sanitize in progress, with how far it has got.
    reason = Sense.SanitizeInProgress;
    details = { progress: sanitizing };
  }
  if (reason === Sense.NoSense && !lu.mediumLoaded) reason = Sense.MediumNotPresent;
  if (reason === Sense.NoSense && sanitizeFailed(lu)) reason = Sense.SanitizeCommandFailed;
  return withAllocation(buildSense(reason, details, (cdb[1]! & DESC) !== 0), cdb[4]!);
}

/** REQUEST SENSE to a LUN that does not exist: GOOD, with LOGICAL UNIT NOT SUPPORTED as the sense data. */
export function requestSenseNoLun(cdb: Uint8Array): ScsiResponse {
  return withAllocation(buildSense(Sense.LunNotSupported, {}, (cdb[1]! & DESC) !== 0), cdb[4]!);
}
