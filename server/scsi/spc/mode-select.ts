/**
 * MODE SELECT(6) and MODE SELECT(10) (SPC-4 6.9, 6.10): accepts the caching and control pages and applies their
 * changeable bits (WCE, D_SENSE, SWP); every other bit must match the current value.
 * A change establishes MODE PARAMETERS CHANGED for the other I_T nexuses (SPC-4 7.5.1). WCE switches a block
 * cache between write-back and write-through (LogicalUnit.applyMode).
 */
import { be16 } from '../cdb.ts';
import type { CommandContext } from '../context.ts';
import { good } from '../context.ts';
import { CheckCondition, Sense, invalidField, invalidParameter } from '../sense.ts';
import type { ScsiResponse } from '../types.ts';
import { changeableMask, currentPage, findPage } from './mode-pages.ts';

const PF = 0x10;
const SP = 0x01;
const SPF = 0x40;

export function modeSelect6(ctx: CommandContext): Promise<ScsiResponse> {
  return modeSelect(ctx, ctx.cdb[4]!, 4);
}

export function modeSelect10(ctx: CommandContext): Promise<ScsiResponse> {
  return modeSelect(ctx, be16(ctx.cdb, 7), 8);
}

async function modeSelect(ctx: CommandContext, listLength: number, headerLength: number): Promise<ScsiResponse> {
  const { cdb, lu, cmd } = ctx;
  if (cdb[1]! & SP) throw new CheckCondition(Sense.SavingParametersNotSupported, { field: { cdb: true, byte: 1, bit: 0 } });
  if (listLength === 0) return { ...good(), dataOutWanted: 0 };
  if (!(cdb[1]! & PF)) throw invalidField(1, 4); // only the SPC page format is understood
  const data = cmd.dataOut ?? new Uint8Array(0);
  if (data.length < listLength || listLength < headerLength) {
    throw new CheckCondition(Sense.ParameterListLengthError);
  }
  const list = data.subarray(0, listLength);
  const descriptorLength = headerLength === 4 ? list[3]! : be16(list, 6);
  let o = headerLength + descriptorLength;
  if (o > list.length) throw new CheckCondition(Sense.ParameterListLengthError);
  const next = { ...lu.mode };
  while (o < list.length) {
    if (o + 2 > list.length) throw new CheckCondition(Sense.ParameterListLengthError);
    const code = list[o]! & 0x3f;
    if (list[o]! & SPF) throw invalidParameter(o, 6);
    const def = findPage(code);
    if (!def) throw invalidParameter(o, 5);
    const length = list[o + 1]! + 2;
    if (length !== def.length) throw invalidParameter(o + 1);
    if (o + length > list.length) throw new CheckCondition(Sense.ParameterListLengthError);
    const page = list.subarray(o, o + length);
    const mask = changeableMask(def);
    const current = currentPage(def, lu.mode);
    for (let i = 2; i < length; i++) {
      if ((page[i]! & ~mask[i]!) !== (current[i]! & ~mask[i]!)) throw invalidParameter(o + i);
    }
    def.apply?.(page, next);
    o += length;
  }
  const changed = next.dSense !== lu.mode.dSense || next.swp !== lu.mode.swp || next.wce !== lu.mode.wce;
  // WCE switches the LU's write cache, if its store has one (write-back <-> write-through).
  await lu.applyMode(next);
  if (changed) lu.establishUnitAttention(Sense.ModeParametersChanged, cmd.nexus.id);
  return { ...good(), dataOutWanted: listLength };
}
