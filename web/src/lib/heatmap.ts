/**
 * The cache inspector's heat map: a LUN cut into equal cells, each coloured by how much of it the cache holds,
 * how much of that is dirty, and whether an I/O touched it lately. Pure functions (unit tested).
 */
import type { CacheMap } from './api.ts';

/** What one cell shows. Fractions are of the cell's cache blocks. */
export interface HeatCell {
  readonly index: number;
  readonly lba: number;
  readonly blocks: number;
  cached: number;
  dirty: number;
  /** ms since the newest read/write that touched it (Infinity: none in the window). */
  readAgoMs: number;
  writeAgoMs: number;
}

export interface TouchedRange {
  readonly kind: 'read' | 'write';
  readonly lba: number;
  readonly blocks: number;
  readonly wallMs: number;
}

/** Most cells a map draws: enough to see a 4 KiB write on a small LUN, few enough to redraw each second. */
const MAX_CELLS = 2048;

/** Cell size in LBAs: a whole number of cache blocks, so a cell is never split across one. */
export function cellLbas(lunBlocks: number, lbasPerCacheBlock: number, maxCells = MAX_CELLS): number {
  const cacheBlocks = Math.ceil(lunBlocks / lbasPerCacheBlock);
  return Math.max(1, Math.ceil(cacheBlocks / maxCells)) * lbasPerCacheBlock;
}

/**
 * Cells of a LUN from its cache map and recent I/O. A map range that is not exact (bucketed by the server) spreads
 * its counts evenly over the LBAs it covers, which is what the server's bucket means.
 */
export function heatCells(map: CacheMap, touched: readonly TouchedRange[], nowMs: number, maxCells = MAX_CELLS): HeatCell[] {
  const spb = Math.max(1, Math.round(map.blockBytes / map.lbaBytes));
  const size = cellLbas(map.lunBlocks, spb, maxCells);
  const n = Math.ceil(map.lunBlocks / size);
  const cells: HeatCell[] = [];
  for (let i = 0; i < n; i++) {
    const lba = i * size;
    cells.push({ index: i, lba, blocks: Math.min(size, map.lunBlocks - lba), cached: 0, dirty: 0, readAgoMs: Infinity, writeAgoMs: Infinity });
  }
  const cacheBlocksIn = (c: HeatCell): number => Math.max(1, Math.ceil(c.blocks / spb));
  for (const r of map.ranges) {
    if (r.blocks <= 0) continue;
    const first = Math.floor(r.lba / size);
    const last = Math.min(n - 1, Math.floor((r.lba + r.blocks - 1) / size));
    for (let i = first; i <= last; i++) {
      const c = cells[i]!;
      const overlap = Math.min(r.lba + r.blocks, c.lba + c.blocks) - Math.max(r.lba, c.lba);
      const share = overlap / r.blocks;
      c.cached += (r.cached * share) / cacheBlocksIn(c);
      c.dirty += (r.dirty * share) / cacheBlocksIn(c);
    }
  }
  for (const c of cells) {
    c.cached = Math.min(1, c.cached);
    c.dirty = Math.min(1, c.dirty);
  }
  for (const t of touched) {
    if (t.blocks <= 0) continue;
    const ago = Math.max(0, nowMs - t.wallMs);
    const first = Math.floor(t.lba / size);
    const last = Math.min(n - 1, Math.floor((t.lba + t.blocks - 1) / size));
    for (let i = Math.max(0, first); i <= last; i++) {
      const c = cells[i]!;
      if (t.kind === 'read') c.readAgoMs = Math.min(c.readAgoMs, ago);
      else c.writeAgoMs = Math.min(c.writeAgoMs, ago);
    }
  }
  return cells;
}

/**
 * A cell's fill: the theme's colours (--heat-dirty, --heat-cached, --heat-empty in app.css, so projector mode
 * recolours the map), stronger the more of the cell the cache holds. Dirty wins over cached: it is what a crash
 * would lose.
 */
export function heatFill(c: Pick<HeatCell, 'cached' | 'dirty'>): string {
  const mix = (v: string, f: number): string => `color-mix(in srgb, var(${v}) ${Math.round(f * 100)}%, var(--heat-empty))`;
  if (c.dirty > 0) return mix('--heat-dirty', 0.35 + 0.65 * c.dirty);
  if (c.cached > 0) return mix('--heat-cached', 0.25 + 0.75 * c.cached);
  return 'var(--heat-empty)';
}

/** One sample of a LUN's counters; hit rate over time is the change between two samples. */
export interface CacheSample {
  readonly t: number;
  readonly hits: number;
  readonly misses: number;
  readonly readaheadHits: number;
}

/** Hit rate (0..1) of each interval between consecutive samples; null where no block was looked up. */
export function hitRates(samples: readonly CacheSample[]): { t: number; rate: number | null; lookups: number }[] {
  const out: { t: number; rate: number | null; lookups: number }[] = [];
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1]!;
    const b = samples[i]!;
    const hits = b.hits - a.hits;
    const lookups = hits + (b.misses - a.misses);
    // Counters restart only with the process; a drop means a new lab, not negative traffic.
    out.push({ t: b.t, rate: lookups > 0 && hits >= 0 ? hits / lookups : null, lookups: Math.max(0, lookups) });
  }
  return out;
}
