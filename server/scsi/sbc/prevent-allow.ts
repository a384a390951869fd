/**
 * PREVENT ALLOW MEDIUM REMOVAL (SBC-3 5.11): PREVENT 01b holds the medium for this I_T nexus, 00b releases
 * this nexus' hold. Removal stays prevented while any nexus holds it; resets and nexus loss release holds
 * (see LogicalUnit.reset / nexusLost).
 */
import type { CommandContext } from '../context.ts';
import { good } from '../context.ts';
import { invalidField } from '../sense.ts';
import type { ScsiResponse } from '../types.ts';

export function preventAllowMediumRemoval(ctx: CommandContext): ScsiResponse {
  const { cdb, lu, cmd } = ctx;
  const prevent = cdb[4]! & 0x03;
  // 10b and 11b are obsolete (medium changer) in SBC-3.
  if (prevent > 1) throw invalidField(4, 1);
  lu.setPrevent(cmd.nexus.id, prevent === 1);
  return good();
}
