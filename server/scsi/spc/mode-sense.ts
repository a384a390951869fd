/**
 * MODE SENSE(6) and MODE SENSE(10) (SPC-4 6.11, 6.12): header, optional block descriptor, pages.
 * The device-specific parameter carries WP (write protected) and DPOFUA (SBC-3 6.4.1).
 */
import { be16, put16, put32, put64 } from '../cdb.ts';
import type { CommandContext } from '../context.ts';
import { withAllocation } from '../context.ts';
import type { LogicalUnit } from '../logical-unit.ts';
import { CheckCondition, Sense, invalidField } from '../sense.ts';
import type { ScsiResponse } from '../types.ts';
import { PAGE_ALL, PageControl, buildPages } from './mode-pages.ts';

const DBD = 0x08;
const LLBAA = 0x10;
const WP = 0x80;
const DPOFUA = 0x10;
const SUBPAGE_ALL = 0xff;

export function modeSense6(ctx: CommandContext): ScsiResponse {
  const { cdb, lu } = ctx;
  const pages = selectPages(cdb, lu);
  const withDescriptor = !(cdb[1]! & DBD);
  const header = 4;
  const descriptor = withDescriptor ? 8 : 0;
  const d = new Uint8Array(header + descriptor + pages.length);
  d[0] = d.length - 1; // MODE DATA LENGTH excludes itself
  d[2] = deviceSpecific(lu);
  d[3] = descriptor;
  if (withDescriptor) shortDescriptor(d, header, lu);
  d.set(pages, header + descriptor);
  return withAllocation(d, cdb[4]!);
}

export function modeSense10(ctx: CommandContext): ScsiResponse {
  const { cdb, lu } = ctx;
  const pages = selectPages(cdb, lu);
  const withDescriptor = !(cdb[1]! & DBD);
  const long = withDescriptor && (cdb[1]! & LLBAA) !== 0;
  const header = 8;
  const descriptor = withDescriptor ? (long ? 16 : 8) : 0;
  const d = new Uint8Array(header + descriptor + pages.length);
  put16(d, 0, d.length - 2);
  d[3] = deviceSpecific(lu);
  d[4] = long ? 0x01 : 0; // LONGLBA
  put16(d, 6, descriptor);
  if (long) {
    put64(d, header, lu.store.blockCount);
    put32(d, header + 12, lu.store.blockSize);
  } else if (withDescriptor) {
    shortDescriptor(d, header, lu);
  }
  d.set(pages, header + descriptor);
  return withAllocation(d, be16(cdb, 7));
}

function selectPages(cdb: Uint8Array, lu: LogicalUnit): Uint8Array {
  const pc = (cdb[2]! >> 6) as PageControl;
  const pageCode = cdb[2]! & 0x3f;
  const subpage = cdb[3]!;
  // SPC-4 6.11: no saved values here, so PC = 11b cannot be served.
  if (pc === PageControl.Saved) throw new CheckCondition(Sense.SavingParametersNotSupported, { field: { cdb: true, byte: 2, bit: 7 } });
  // We have no subpages; 3Fh/FFh ("all pages and subpages") returns the same as 3Fh/00h.
  if (subpage !== 0 && !(pageCode === PAGE_ALL && subpage === SUBPAGE_ALL)) throw invalidField(3);
  const pages = buildPages(pageCode, lu.mode, pc, lu.defaultMode);
  if (!pages) throw invalidField(2, 5);
  return pages;
}

function deviceSpecific(lu: LogicalUnit): number {
  return (lu.writeProtected ? WP : 0) | DPOFUA;
}

/** Short LBA mode parameter block descriptor (SBC-3 6.4.2): block count saturates at FFFFFFFFh. */
function shortDescriptor(d: Uint8Array, offset: number, lu: LogicalUnit): void {
  put32(d, offset, Math.min(lu.store.blockCount, 0xffffffff));
  put32(d, offset + 4, lu.store.blockSize & 0xffffff);
}
