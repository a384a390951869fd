/**
 * START STOP UNIT (SBC-3 5.20). Power conditions are accepted and ignored (a file has no spindle); LOEJ ejects
 * (START = 0) or loads (START = 1) the medium of a removable LUN, refused while removal is prevented
 * (SBC-3 5.11: both directions, as libiscsi's PreventAllow.Eject checks).
 */
import type { CommandContext } from '../context.ts';
import { good } from '../context.ts';
import { CheckCondition, Sense, invalidField } from '../sense.ts';
import type { ScsiResponse } from '../types.ts';

const START = 0x01;
const LOEJ = 0x02;
const POWER_CONDITION_SHIFT = 4;

export function startStopUnit(ctx: CommandContext): ScsiResponse {
  const { cdb, lu } = ctx;
  const powerCondition = cdb[4]! >> POWER_CONDITION_SHIFT;
  // SBC-3 5.20: with a POWER CONDITION other than START_VALID (0h) the START and LOEJ bits are ignored.
  if (powerCondition !== 0) return good();
  if (!(cdb[4]! & LOEJ)) return good();
  if (!lu.removable) throw invalidField(4, 1);
  if (lu.removalPrevented) throw new CheckCondition(Sense.MediumRemovalPrevented);
  lu.mediumLoaded = (cdb[4]! & START) !== 0;
  return good();
}
