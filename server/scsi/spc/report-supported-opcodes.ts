/**
 * REPORT SUPPORTED OPERATION CODES (SPC-4 6.35): all commands (reporting options 000b), or one command by
 * opcode (001b), opcode + service action (010b), or either (011b); with RCTD, command timeouts descriptors.
 */
import { be16, be32, put16, put32 } from '../cdb.ts';
import type { CommandContext } from '../context.ts';
import { withAllocation } from '../context.ts';
import type { OpcodeEntry } from '../context.ts';
import { invalidField } from '../sense.ts';
import type { ScsiResponse } from '../types.ts';

const RCTD = 0x80;
const ALL_COMMANDS = 0;
const ONE_OPCODE = 1;
const ONE_SERVICE_ACTION = 2;
const ONE_EITHER = 3;
const SERVACTV = 0x01;
const CTDP = 0x02;
const SUPPORT_NOT_SUPPORTED = 0x01;
const SUPPORT_STANDARD = 0x03;
const TIMEOUTS_DESCRIPTOR_LENGTH = 12;

export function reportSupportedOpcodes(ctx: CommandContext): ScsiResponse {
  const { cdb } = ctx;
  const rctd = (cdb[2]! & RCTD) !== 0;
  const options = cdb[2]! & 0x07;
  const opcode = cdb[3]!;
  const serviceAction = be16(cdb, 4);
  const allocation = be32(cdb, 6);
  // Per LU: some service actions exist only where the LU can honour them (SANITIZE BLOCK ERASE on thin LUNs).
  const table = ctx.target.opcodes.filter((e) => e.supported?.(ctx.lu) ?? true);
  switch (options) {
    case ALL_COMMANDS:
      return withAllocation(allCommands(table, rctd), allocation);
    case ONE_OPCODE: {
      if (table.some((e) => e.opcode === opcode && e.serviceAction !== undefined)) throw invalidField(2);
      return withAllocation(
        oneCommand(
          table.find((e) => e.opcode === opcode),
          rctd,
        ),
        allocation,
      );
    }
    case ONE_SERVICE_ACTION: {
      if (table.some((e) => e.opcode === opcode && e.serviceAction === undefined)) throw invalidField(2);
      return withAllocation(oneCommand(findSa(table, opcode, serviceAction), rctd), allocation);
    }
    case ONE_EITHER: {
      const plain = table.find((e) => e.opcode === opcode && e.serviceAction === undefined);
      if (plain && serviceAction !== 0) throw invalidField(4);
      return withAllocation(oneCommand(plain ?? findSa(table, opcode, serviceAction), rctd), allocation);
    }
    default:
      throw invalidField(2);
  }
}

function findSa(table: readonly OpcodeEntry[], opcode: number, sa: number): OpcodeEntry | undefined {
  return table.find((e) => e.opcode === opcode && e.serviceAction === sa);
}

function allCommands(table: readonly OpcodeEntry[], rctd: boolean): Uint8Array {
  const size = 8 + (rctd ? TIMEOUTS_DESCRIPTOR_LENGTH : 0);
  const sorted = [...table].sort((a, b) => a.opcode - b.opcode || (a.serviceAction ?? 0) - (b.serviceAction ?? 0));
  const d = new Uint8Array(4 + size * sorted.length);
  put32(d, 0, d.length - 4);
  sorted.forEach((e, i) => {
    const o = 4 + size * i;
    d[o] = e.opcode;
    put16(d, o + 2, e.serviceAction ?? 0);
    d[o + 5] = (e.serviceAction !== undefined ? SERVACTV : 0) | (rctd ? CTDP : 0);
    put16(d, o + 6, e.cdbLength);
    if (rctd) timeouts(d, o + 8);
  });
  return d;
}

function oneCommand(entry: OpcodeEntry | undefined, rctd: boolean): Uint8Array {
  if (!entry) {
    const d = new Uint8Array(4);
    d[1] = SUPPORT_NOT_SUPPORTED;
    return d;
  }
  const usage = usageData(entry);
  const d = new Uint8Array(4 + usage.length + (rctd ? TIMEOUTS_DESCRIPTOR_LENGTH : 0));
  d[1] = (rctd ? 0x80 : 0) | SUPPORT_STANDARD; // CTDP is bit 7 here
  put16(d, 2, usage.length);
  d.set(usage, 4);
  if (rctd) timeouts(d, 4 + usage.length);
  return d;
}

/** Command timeouts descriptor (SPC-4 6.35.4): no command-specific timeouts; nominal and recommended 0 = none. */
function timeouts(d: Uint8Array, o: number): void {
  put16(d, o, TIMEOUTS_DESCRIPTOR_LENGTH - 2);
}

/**
 * CDB usage data (SPC-4 6.35.3): byte 0 is the opcode, then a bit set for each CDB bit the device server looks at.
 * The table may give it exactly; otherwise every bit of every byte but the CONTROL byte is reported as used,
 * with the service action's own bits in byte 1.
 */
function usageData(entry: OpcodeEntry): Uint8Array {
  if (entry.usage) return Uint8Array.from(entry.usage);
  const u = new Uint8Array(entry.cdbLength);
  u.fill(0xff, 1, entry.cdbLength - 1);
  u[0] = entry.opcode;
  if (entry.serviceAction !== undefined) u[1] = 0x1f;
  u[entry.cdbLength - 1] = 0x00; // CONTROL: no NACA / linked commands
  return u;
}
