/**
 * REPORT TARGET PORT GROUPS (SPC-4 6.35; MAINTENANCE IN, service action 0Ah): asymmetric logical unit access
 * (ALUA, SPC-4 5.15). Each portal is one target port and its own target port group (TPG number = relative
 * target port identifier = iSCSI TPGT), and every group is active/optimized: the access is "asymmetric" only in
 * name, which is what implicit ALUA (TPGS 01b in standard INQUIRY) allows, and what lets multipath initiators
 * (dm-multipath's alua handler, ESXi) group paths by port. SET TARGET PORT GROUPS is not implemented (explicit
 * ALUA, TPGS 10b, is not claimed), so it is answered INVALID COMMAND OPERATION CODE like any unknown command.
 */
import { be32, put16, put32 } from '../cdb.ts';
import type { CommandContext } from '../context.ts';
import { withAllocation } from '../context.ts';
import { invalidField } from '../sense.ts';
import type { ScsiResponse } from '../types.ts';

export const SA_REPORT_TARGET_PORT_GROUPS = 0x0a;
const PARAMETER_DATA_FORMAT_SHIFT = 5;
const FORMAT_LENGTH_ONLY = 0; // header: RETURN DATA LENGTH only
const FORMAT_EXTENDED = 1; // header: also FORMAT TYPE and IMPLICIT TRANSITION TIME
const STATE_ACTIVE_OPTIMIZED = 0x0;
const AO_SUP = 0x01; // the one state this target's groups support
const GROUP_DESCRIPTOR_LENGTH = 8;
const PORT_DESCRIPTOR_LENGTH = 4;
const HEADER_LENGTH = 4;
const EXTENDED_HEADER_LENGTH = 8;

export function reportTargetPortGroups(ctx: CommandContext): ScsiResponse {
  const { cdb, target } = ctx;
  const format = cdb[1]! >> PARAMETER_DATA_FORMAT_SHIFT;
  if (format !== FORMAT_LENGTH_ONLY && format !== FORMAT_EXTENDED) throw invalidField(1, 7);
  const header = format === FORMAT_EXTENDED ? EXTENDED_HEADER_LENGTH : HEADER_LENGTH;
  const ports = target.targetPorts;
  const d = new Uint8Array(header + ports.length * (GROUP_DESCRIPTOR_LENGTH + PORT_DESCRIPTOR_LENGTH));
  // RETURN DATA LENGTH counts the bytes after the 4-byte field itself, whatever the header format.
  put32(d, 0, d.length - HEADER_LENGTH);
  if (format === FORMAT_EXTENDED) d[4] = FORMAT_EXTENDED << 4; // IMPLICIT TRANSITION TIME 0: no transitions happen
  let at = header;
  for (const port of ports) {
    d[at] = STATE_ACTIVE_OPTIMIZED; // PREF 0: no group is preferred over another
    d[at + 1] = AO_SUP;
    put16(d, at + 2, port); // TARGET PORT GROUP: one group per port, numbered as the port
    d[at + 7] = 1; // TARGET PORT COUNT
    put16(d, at + GROUP_DESCRIPTOR_LENGTH + 2, port); // RELATIVE TARGET PORT IDENTIFIER
    at += GROUP_DESCRIPTOR_LENGTH + PORT_DESCRIPTOR_LENGTH;
  }
  return withAllocation(d, be32(cdb, 6));
}
