/**
 * The latency waterfall and the SRT table: an uncached READ spends time in the store (pread), the same READ again
 * is a cache hit with no store time; the SRT table of a capture counts what `tshark -q -z scsi,srt,0` counts for it.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect, iscsiUrl, openLab, qemuIo, shot, test } from './fixtures.ts';
import { composerIo } from './lesson-helpers.ts';

const run = promisify(execFile);
const LBA = 50_000;

test('waterfall: an uncached READ has a store segment, the cached one does not', async ({ page }) => {
  await openLab(page);
  // Earlier specs (a random-read flood, readahead) may have cached LBA's block: empty the cache, then restore its size.
  const before = (await (await page.request.get('/api/stats')).json()) as { luns: { cache: { sizeBytes: number } }[] };
  for (const sizeBytes of [0, before.luns[0]!.cache.sizeBytes]) {
    const r = await page.request.post('/api/cache', { data: { lun: 0, sizeBytes } });
    expect(r.ok(), await r.text()).toBe(true);
  }
  await composerIo(page, 'read', LBA, 8);
  await composerIo(page, 'read', LBA, 8);
  await page.getByRole('tab', { name: 'Waterfall' }).click();
  const rows = page.locator(`[data-testid=waterfall-row][data-label="READ(16) LBA ${LBA} ×8"]`);
  await expect(rows).toHaveCount(2);
  // Newest first: the second read (cached), then the first (uncached).
  const cached = rows.nth(0);
  const uncached = rows.nth(1);
  await expect(uncached).toHaveAttribute('data-cache', /miss/);
  await expect(cached).toHaveAttribute('data-cache', 'hit');
  const ns = async (row: typeof cached, seg: string): Promise<number> => Number(await row.getAttribute(`data-${seg}-ns`));
  const attrs = (row: typeof cached) =>
    row.evaluate((e) => Object.fromEntries([...e.attributes].filter((a) => a.name.startsWith('data-')).map((a) => [a.name, a.value])));
  test.info().annotations.push({ type: 'waterfall rows', description: JSON.stringify([await attrs(uncached), await attrs(cached)]) });
  expect(await ns(uncached, 'store'), 'the miss read the LUN file').toBeGreaterThan(0);
  expect(await ns(cached, 'store'), 'the hit did not touch the store').toBe(0);
  expect(await ns(uncached, 'lookup')).toBeGreaterThanOrEqual(0);
  expect(Number(await uncached.getAttribute('data-total-ns'))).toBeGreaterThan(0);
  // Every row's segments add up to its measured total (command received -> status sent), to the rounding of each.
  for (const row of [cached, uncached]) {
    let sum = 0;
    for (const s of ['request', 'queue', 'lookup', 'store', 'sync', 'cache', 'answer']) sum += await ns(row, s);
    expect(Math.abs(sum - Number(await row.getAttribute('data-total-ns')))).toBeLessThanOrEqual(10);
  }
  await page.setViewportSize({ width: 1440, height: 900 });
  await shot(page, '72-waterfall');
  await page.getByTestId('projector-toggle').check();
  await shot(page, '73-waterfall-projector');
});

test('SRT table of a capture: the same calls per opcode as tshark -q -z scsi,srt,0', async ({ page }) => {
  await openLab(page);
  // Several opcodes from two initiators: qemu-io (READ(10)/WRITE(10)/SYNCHRONIZE CACHE, INQUIRY...) and the lab's.
  await qemuIo('write -P 7 1M 64k');
  await qemuIo('read 1M 64k');
  await qemuIo('flush');
  await run('iscsi-inq', [iscsiUrl()], { timeout: 30_000 });
  await composerIo(page, 'read', LBA + 100, 4);
  const pcapng = await (await page.request.get('/api/capture.pcapng')).body();
  const dir = mkdtempSync(join(tmpdir(), 'srt-'));
  const file = join(dir, 'capture.pcapng');
  writeFileSync(file, pcapng);
  const { stdout } = await run('tshark', ['-r', file, '-q', '-z', 'scsi,srt,0'], { maxBuffer: 64 * 1024 * 1024 });
  // "  136  Read(16)   3   0.000183 ...": Index (the opcode), Procedure, Calls, Min, Max, Avg, Sum.
  const tshark = new Map<number, number>();
  for (const line of stdout.split('\n')) {
    const m = /^\s+(\d+)\s+.+?\s+(\d+)\s+\d+\.\d+\s+\d+\.\d+\s+\d+\.\d+\s+\d+\.\d+\s*$/.exec(line);
    if (m) tshark.set(Number(m[1]), Number(m[2]));
  }
  expect(tshark.size, stdout).toBeGreaterThanOrEqual(4);

  await page.getByRole('tab', { name: 'Capture' }).click();
  await page.getByTestId('upload-input').setInputFiles({ name: 'srt.pcapng', mimeType: 'application/octet-stream', buffer: pcapng });
  await expect(page.getByTestId('offline-banner')).toContainText('OFFLINE: srt.pcapng');
  await page.getByRole('tab', { name: 'Waterfall' }).click();
  const rows = page.getByTestId('srt-row');
  await expect(rows.first()).toBeVisible();
  const ours = new Map<number, number>(
    await rows.evaluateAll((els) => els.map((e) => [Number(e.getAttribute('data-opcode')), Number(e.getAttribute('data-calls'))] as [number, number])),
  );
  test.info().annotations.push({ type: 'SRT calls (lab = tshark)', description: JSON.stringify([...ours]) });
  expect(ours).toEqual(tshark);
  await page.setViewportSize({ width: 1440, height: 900 });
  await shot(page, '74-srt-table');
});
