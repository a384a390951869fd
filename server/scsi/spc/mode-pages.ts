/**
 * Mode pages (SPC-4 7.5, SBC-3 6.4): read-write error recovery (01h), caching (08h), control (0Ah).
 * Each page is built for a page control value (current / changeable / default); MODE SELECT applies the
 * changeable bits back into the LU's ModeParameters.
 */
import { DEFAULT_MODE, type ModeParameters } from '../logical-unit.ts';

export const enum PageControl {
  Current = 0,
  Changeable = 1,
  Default = 2,
  Saved = 3,
}

const PAGE_RW_ERROR_RECOVERY = 0x01;
const PAGE_CACHING = 0x08;
const PAGE_CONTROL = 0x0a;
export const PAGE_ALL = 0x3f;

// Caching page (SBC-3 6.4.5), byte 2
const CACHING_WCE = 0x04;
// Control page (SPC-4 7.5.8)
const CONTROL_D_SENSE = 0x04; // byte 2
const CONTROL_SWP = 0x08; // byte 4
const CONTROL_TAS = 0x40; // byte 5: aborted commands of other nexuses get TASK ABORTED status
const CONTROL_QAM_UNRESTRICTED = 0x10; // byte 3: commands may be reordered (simple tasks)

interface PageDef {
  readonly code: number;
  readonly length: number; // total bytes, header included
  build(page: Uint8Array, values: ModeParameters, pc: PageControl): void;
  /** Copies the changeable bits of `page` (as received in MODE SELECT) into `values`. */
  apply?(page: Uint8Array, values: ModeParameters): void;
}

const PAGES: readonly PageDef[] = [
  {
    code: PAGE_RW_ERROR_RECOVERY,
    length: 12,
    build() {
      // All zero: no retries to configure on a file, nothing changeable.
    },
  },
  {
    code: PAGE_CACHING,
    length: 20,
    build(page, values, pc) {
      if (pc === PageControl.Changeable) page[2] = CACHING_WCE;
      else page[2] = values.wce ? CACHING_WCE : 0;
    },
    apply(page, values) {
      values.wce = (page[2]! & CACHING_WCE) !== 0;
    },
  },
  {
    code: PAGE_CONTROL,
    length: 12,
    build(page, values, pc) {
      if (pc === PageControl.Changeable) {
        page[2] = CONTROL_D_SENSE;
        page[4] = CONTROL_SWP;
        return;
      }
      page[2] = values.dSense ? CONTROL_D_SENSE : 0;
      page[3] = CONTROL_QAM_UNRESTRICTED;
      page[4] = values.swp ? CONTROL_SWP : 0;
      page[5] = CONTROL_TAS;
      page[8] = 0xff; // BUSY TIMEOUT PERIOD: unlimited
      page[9] = 0xff;
    },
    apply(page, values) {
      values.dSense = (page[2]! & CONTROL_D_SENSE) !== 0;
      values.swp = (page[4]! & CONTROL_SWP) !== 0;
    },
  },
];

export function findPage(code: number): PageDef | undefined {
  return PAGES.find((p) => p.code === code);
}

/** The pages MODE SENSE returns for `pageCode` (3Fh: all, ascending), or undefined if we do not have it. */
export function buildPages(
  pageCode: number,
  current: ModeParameters,
  pc: PageControl,
  defaults: Readonly<ModeParameters> = DEFAULT_MODE,
): Uint8Array | undefined {
  const selected = pageCode === PAGE_ALL ? PAGES : PAGES.filter((p) => p.code === pageCode);
  if (selected.length === 0) return undefined;
  const values = pc === PageControl.Default ? { ...defaults } : current;
  const out = new Uint8Array(selected.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const def of selected) {
    const page = out.subarray(o, o + def.length);
    page[0] = def.code;
    page[1] = def.length - 2;
    def.build(page, values, pc);
    o += def.length;
  }
  return out;
}

/** The changeable-bits mask of a page, for checking that MODE SELECT touches nothing else. */
export function changeableMask(def: PageDef): Uint8Array {
  const page = new Uint8Array(def.length);
  page[0] = def.code;
  page[1] = def.length - 2;
  def.build(page, { ...DEFAULT_MODE }, PageControl.Changeable);
  return page;
}

export function currentPage(def: PageDef, values: ModeParameters): Uint8Array {
  const page = new Uint8Array(def.length);
  page[0] = def.code;
  page[1] = def.length - 2;
  def.build(page, values, PageControl.Current);
  return page;
}
