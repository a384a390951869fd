/**
 * REQUEST SENSE (SPC-4 6.39): returns a pending unit attention for this nexus (and clears it), otherwise
 * NO SENSE, or the "sense" of the LU's state (medium not present). DESC selects the format.
 */
import type { CommandContext } from '../context.ts';
import { withAllocation } from '../context.ts';
import { Sense, buildSense, invalidField, type SenseReason } from '../sense.ts';
import type { ScsiResponse } from '../types.ts';

const DESC = 0x01;

export function requestSense(ctx: CommandContext): ScsiResponse {
  const { cdb, lu, cmd } = ctx;
  if (cdb[1]! & ~DESC) throw invalidField(1);
  let reason: SenseReason = lu.takeUnitAttention(cmd.nexus.id) ?? Sense.NoSense;
  if (reason === Sense.NoSense && !lu.mediumLoaded) reason = Sense.MediumNotPresent;
  return withAllocation(buildSense(reason, {}, (cdb[1]! & DESC) !== 0), cdb[4]!);
}

/** REQUEST SENSE to a LUN that does not exist: GOOD, with LOGICAL UNIT NOT SUPPORTED as the sense data. */
export function requestSenseNoLun(cdb: Uint8Array): ScsiResponse {
  return withAllocation(buildSense(Sense.LunNotSupported, {}, (cdb[1]! & DESC) !== 0), cdb[4]!);
}
