/**
 * The cache inspector against the real target's block cache (global-setup starts a 16 MiB write-back cache with no
 * background flush timer, so a write's blocks stay dirty until something flushes them).
 */
import { expect, openLab, shot, test } from './fixtures.ts';

interface Stats {
  luns: { lun: number; cache: { policy: string; mode: string; sizeBytes: number; dirtyBytes: number; hits: number } | null }[];
}

test('heat map shows a write as dirty, a read as hits, and policy/size/mode change live', async ({ page }) => {
  await openLab(page);
  await page.getByRole('tab', { name: 'Cache' }).click();
  await expect(page.getByTestId('cache-summary')).toBeVisible();
  const before = ((await (await page.request.get('/api/stats')).json()) as Stats).luns[0]!.cache!;

  // A write through the lab's initiator: 16 LBAs at 40960 (the heat map's cells are 64 LBAs on a 64 MiB LUN).
  const w = await page.request.post('/api/io', { data: { lun: 0, op: 'write', lba: 40960, blocks: 16, data: { pattern: 0xa5 } } });
  expect(((await w.json()) as { ok: boolean }).ok).toBe(true);
  const cell = page.locator('[data-testid=cache-heatmap] rect[data-lba="40960"]');
  await expect(cell).toHaveAttribute('data-state', 'dirty');
  await expect(cell).toHaveClass(/recent-write/);
  expect(Number(await page.getByTestId('cells-dirty').innerText())).toBeGreaterThan(0);
  // The per-I/O list: the write allocated (or hit) cache blocks.
  const writeRow = page.locator('[data-testid=cache-ios] tr', { hasText: 'WRITE LBA 40960 ×16' }).first();
  await expect(writeRow).toContainText(/write-(allocate|hit) 16/);

  // Reading the same blocks back: every block is a hit, and the cell is marked as recently read too.
  const r = await page.request.post('/api/io', { data: { lun: 0, op: 'read', lba: 40960, blocks: 16 } });
  expect(((await r.json()) as { dataHex: string }).dataHex.slice(0, 8)).toBe('a5a5a5a5');
  const readRow = page.locator('[data-testid=cache-ios] tr', { hasText: 'READ LBA 40960 ×16' }).first();
  await expect(readRow).toContainText('hit 16');
  await expect(cell).toHaveClass(/recent-read/);
  await expect(page.getByTestId('cache-last-rate')).toBeVisible();
  await expect(page.locator('[data-testid=cache-chart] polyline, [data-testid=cache-chart] circle').first()).toBeAttached();
  await shot(page, '10-cache-inspector');

  // Write-through now: the cache writes every dirty block back, so the cell stays cached but is clean.
  await page.getByTestId('cache-mode').selectOption('write-through');
  await expect(page.getByTestId('cache-last-change')).toHaveText('applied: mode write-through');
  await expect(cell).toHaveAttribute('data-state', 'cached');
  await expect(page.getByTestId('cells-dirty')).toHaveText('0');
  let now = ((await (await page.request.get('/api/stats')).json()) as Stats).luns[0]!.cache!;
  expect(now.mode).toBe('write-through');
  expect(now.dirtyBytes).toBe(0);

  // Policy and size, live.
  await page.getByTestId('cache-policy').selectOption('arc');
  await expect(page.getByTestId('cache-last-change')).toHaveText('applied: policy arc');
  await page.getByTestId('cache-size').fill('8M');
  await page.getByTestId('cache-size-apply').click();
  await expect(page.getByTestId('cache-last-change')).toHaveText('applied: size 8M');
  now = ((await (await page.request.get('/api/stats')).json()) as Stats).luns[0]!.cache!;
  expect(now).toMatchObject({ policy: 'arc', sizeBytes: 8 * 1024 * 1024 });

  // A bad size is a readable error and changes nothing.
  await page.getByTestId('cache-size').fill('lots');
  await page.getByTestId('cache-size-apply').click();
  await expect(page.getByTestId('cache-error')).toContainText('size');
  expect(((await (await page.request.get('/api/stats')).json()) as Stats).luns[0]!.cache!.sizeBytes).toBe(8 * 1024 * 1024);
  await shot(page, '11-cache-changed');

  // Leave the lab as the other specs expect it.
  const restore = await page.request.post('/api/cache', { data: { lun: 0, policy: before.policy, mode: before.mode, sizeBytes: before.sizeBytes } });
  expect(restore.ok()).toBe(true);
});

test('Reset counters, then one miss and one hit: the counts move from 0, units are explicit, the chart has a bar per read', async ({ page }) => {
  await openLab(page);
  await page.getByRole('tab', { name: 'Cache' }).click();
  await expect(page.getByTestId('cache-summary')).toBeVisible();
  await page.getByTestId('cache-reset').click();
  await expect(page.getByTestId('cache-last-change')).toHaveText('applied: counters reset');
  await expect(page.getByTestId('cache-hits')).toHaveText('0');
  await expect(page.getByTestId('cache-misses')).toHaveText('0');
  await expect(page.getByTestId('cache-io-bar')).toHaveCount(0);
  // The unit of the summary is stated: 4 KiB cache blocks of 8 LBAs.
  await expect(page.getByTestId('cache-counts')).toContainText('4 KiB = 8 LBAs each');

  // One cache block (8 LBAs at a 4 KiB-aligned LBA nobody else reads): a miss, then a hit.
  const lba = 110_000;
  for (let i = 0; i < 2; i++) {
    const r = await page.request.post('/api/io', { data: { lun: 0, op: 'read', lba, blocks: 8 } });
    expect(r.ok()).toBe(true);
  }
  await expect(page.getByTestId('cache-hits')).toHaveText('1');
  await expect(page.getByTestId('cache-misses')).toHaveText('1');
  await expect(page.getByTestId('cache-hit-rate')).toHaveText('50.0%');
  const bars = page.getByTestId('cache-io-bar');
  await expect(bars).toHaveCount(2);
  await expect(bars.nth(0)).toHaveAttribute('data-share', '0');
  await expect(bars.nth(1)).toHaveAttribute('data-share', '1');
  // The per-I/O list counts LBAs, and says so.
  await expect(page.getByTestId('cache-ios').locator('thead')).toContainText('512-byte LBAs');
  await expect(page.locator('[data-testid=cache-ios] tr', { hasText: `READ LBA ${lba} ×8` }).first()).toContainText('hit 8 LBAs');
  await shot(page, '12-cache-reset-demo');

  // The API route itself: counters to 0, contents kept (the block is still a hit).
  const reset = await page.request.post('/api/cache/reset-stats', { data: { lun: 0 } });
  expect(((await reset.json()) as { luns: { cache: { hits: number; misses: number; usedBytes: number } }[] }).luns[0]!.cache).toMatchObject({
    hits: 0,
    misses: 0,
  });
  await page.request.post('/api/io', { data: { lun: 0, op: 'read', lba, blocks: 8 } });
  const after = ((await (await page.request.get('/api/stats')).json()) as Stats).luns[0]!.cache!;
  expect(after.hits).toBe(1);
  const bad = await page.request.post('/api/cache/reset-stats', { data: { lun: 7 } });
  expect(bad.status()).toBe(400);
});
