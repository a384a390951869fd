/**
 * Issue 15 point 6: when events arrive faster than the page can show them, the timeline switches to an explicit
 * sampled view ("showing 1 in N; full trace in the capture"), the page keeps answering clicks, tab switches,
 * filters and scrolls, and it switches back once the flood is over. (How fast it answers is measured by
 * `npm run bench -- ui`, not here: speed is never asserted in tests.)
 */
import { spawn } from 'node:child_process';
import { expect, iscsiUrl, openLab, shot, test } from './fixtures.ts';

test.use({ trace: 'off' });

test('a flood switches the timeline to a sampled view and back, and the page keeps working meanwhile', async ({ page }) => {
  test.setTimeout(90_000);
  await openLab(page);
  const banner = page.getByTestId('sampled-banner');
  await expect(banner).toBeHidden();

  const perf = spawn('iscsi-perf', ['-t', '12', '-m', '32', '-b', '1', iscsiUrl()], { stdio: 'ignore' });
  const exited = new Promise<number | null>((r) => perf.once('exit', r));
  try {
    await expect(banner).toBeVisible({ timeout: 15_000 });
    await expect(banner).toContainText(/showing 1 in \d+; full trace in the capture/);
    const n = Number(/showing 1 in (\d+)/.exec((await banner.textContent()) ?? '')![1]);
    expect(n).toBeGreaterThanOrEqual(2);

    // The page still does what it is asked, mid-flood.
    await page.getByRole('tab', { name: 'Cache', exact: true }).click();
    await expect(page.getByRole('tab', { name: 'Cache', exact: true })).toHaveAttribute('aria-selected', 'true');
    await expect(page.getByTestId('cache-inspector')).toBeVisible();
    await page.getByRole('tab', { name: 'PDU inspector' }).click();
    await expect(page.locator('#panel-inspector')).toBeVisible();
    await page.getByTestId('filter-opcode').fill('Data-In');
    await expect(page.getByTestId('timeline')).toHaveAttribute('data-filter', 'Data-In');
    await expect(page.locator('[data-testid=timeline] .row').first()).toHaveAttribute('data-opcode', 'SCSI Data-In');
    await page.getByTestId('filter-opcode').fill('');
    await expect(page.getByTestId('timeline')).toHaveAttribute('data-filter', '');
    const scroller = page.getByTestId('timeline').locator('div[style*="overflow-y"]').first();
    await scroller.evaluate((el) => (el.scrollTop = 0));
    await expect(page.getByTestId('follow')).toBeVisible();
    await shot(page, '12-sampled-view');

    // The banner's capture link is the full trace.
    await expect(banner.getByRole('link', { name: 'pcapng' })).toHaveAttribute('href', '/api/capture.pcapng');
  } finally {
    if (perf.exitCode === null) perf.kill('SIGTERM');
  }
  await exited;
  // Quiet again: back to every PDU, no banner.
  await expect(banner).toBeHidden({ timeout: 15_000 });
});
