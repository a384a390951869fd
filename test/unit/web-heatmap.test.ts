import { describe, expect, it } from 'vitest';
import { cellLbas, heatCells, hitRates } from '../../web/src/lib/heatmap.ts';
import type { CacheMap } from '../../web/src/lib/api.ts';

const base: Omit<CacheMap, 'ranges' | 'exact'> = { lun: 0, policy: 'lru', mode: 'write-back', blockBytes: 4096, lbaBytes: 512, lunBlocks: 131072 };

describe('heat map cells', () => {
  it('cuts a LUN into whole cache blocks, at most MAX_CELLS of them', () => {
    expect(cellLbas(131072, 8)).toBe(64);
    expect(cellLbas(64, 8)).toBe(8);
  });

  it('an exact dirty run lands in its cell only, with the right fractions', () => {
    const cells = heatCells({ ...base, exact: true, ranges: [{ lba: 40960, blocks: 16, cached: 2, dirty: 2 }] }, [], 0);
    expect(cells).toHaveLength(2048);
    const c = cells.find((x) => x.lba === 40960)!;
    expect(c.cached).toBeCloseTo(2 / 8);
    expect(c.dirty).toBeCloseTo(2 / 8);
    expect(cells.filter((x) => x.cached > 0)).toHaveLength(1);
  });

  it('marks recent reads and writes by age', () => {
    const cells = heatCells(
      { ...base, exact: true, ranges: [] },
      [
        { kind: 'write', lba: 0, blocks: 128, wallMs: 1000 },
        { kind: 'read', lba: 64, blocks: 1, wallMs: 1500 },
      ],
      2000,
    );
    expect(cells[0]!.writeAgoMs).toBe(1000);
    expect(cells[1]!.writeAgoMs).toBe(1000);
    expect(cells[1]!.readAgoMs).toBe(500);
    expect(cells[2]!.writeAgoMs).toBe(Infinity);
  });
});

describe('hit rate over time', () => {
  it('is hits over lookups per interval, null when idle', () => {
    const r = hitRates([
      { t: 0, hits: 0, misses: 0, readaheadHits: 0 },
      { t: 1, hits: 3, misses: 1, readaheadHits: 0 },
      { t: 2, hits: 3, misses: 1, readaheadHits: 0 },
    ]);
    expect(r).toEqual([
      { t: 1, rate: 0.75, lookups: 4 },
      { t: 2, rate: null, lookups: 0 },
    ]);
  });
});
