/**
 * Load: an outside initiator (libiscsi's iscsi-perf) streams thousands of PDUs a second at the target while the
 * page is open; the page must keep receiving them and stay responsive. Its own file so Playwright's trace
 * recording (which would add to the load measured) can be off.
 */
import { spawn } from 'node:child_process';
import { expect, iscsiUrl, openLab, shot, test } from './fixtures.ts';

test.use({ trace: 'off' });

test('the page stays responsive while an outside initiator streams thousands of PDUs a second', async ({ page }) => {
  test.setTimeout(90_000);
  await openLab(page);
  const before = await page.evaluate(() => Number(document.querySelector('[data-testid=pdu-count]')!.textContent));
  const seconds = Number(process.env.ISCSI_LAB_E2E_LOAD_SECONDS ?? 6);
  const perf = spawn('iscsi-perf', ['-t', String(seconds), '-m', '32', '-b', '1', iscsiUrl()], { stdio: ['ignore', 'pipe', 'pipe'] });
  let perfOut = '';
  perf.stdout.on('data', (d: Buffer) => (perfOut += d.toString()));
  perf.stderr.on('data', (d: Buffer) => (perfOut += d.toString()));
  const exited = new Promise<number | null>((r) => perf.once('exit', r));

  // Round trips into the page while the stream runs: each must come back quickly.
  const rtts: number[] = [];
  const rates: number[] = [];
  const t0 = Date.now();
  while (Date.now() - t0 < (seconds - 0.5) * 1000) {
    const s = Date.now();
    const rate = await page.evaluate(() =>
      Number(/\((\d+)\/s\)/.exec(document.querySelector('[data-testid=pdu-count]')!.parentElement!.textContent!)?.[1] ?? 0),
    );
    rtts.push(Date.now() - s);
    rates.push(rate);
    await page.waitForTimeout(50);
  }
  // Scrolling and clicking still work mid-stream.
  const s = Date.now();
  await page.getByRole('tab', { name: 'Capture' }).click();
  await page.getByRole('tab', { name: 'I/O composer' }).click();
  const clickMs = Date.now() - s;
  await shot(page, '10-throughput');
  expect(await exited).toBe(0);
  await page.waitForTimeout(600);
  const after = await page.evaluate(() => Number(document.querySelector('[data-testid=pdu-count]')!.textContent));

  rtts.sort((a, b) => a - b);
  const p90 = rtts[Math.floor(rtts.length * 0.9)]!;
  const p95 = rtts[Math.floor(rtts.length * 0.95)]!;
  const max = rtts.at(-1)!;
  const peak = Math.max(...rates);
  const received = after - before;
  const dropped = Number(await page.getByTestId('dropped').textContent());
  test.info().annotations.push(
    { type: 'PDUs received by the page', description: `${received} in ~${seconds} s, peak ${peak}/s, ${dropped} dropped by back-pressure` },
    {
      type: 'evaluate round trip',
      description: `median ${rtts[rtts.length >> 1]} ms, p90 ${p90} ms, p95 ${p95} ms, max ${max} ms over ${rtts.length} samples; tab clicks ${clickMs} ms`,
    },
  );
  console.log(
    `throughput: ${received} PDUs in ~${seconds} s, peak ${peak}/s, dropped ${dropped}; evaluate RTT median ${rtts[rtts.length >> 1]} ms p90 ${p90} ms p95 ${p95} ms max ${max} ms; clicks ${clickMs} ms`,
  );
  // A flood is shown as a sample (the hub and the page's worker keep whole tasks, one in N: responsive.spec.ts);
  // the page must still have taken in a steady stream of them.
  expect(received, perfOut).toBeGreaterThan(500);
  // The page answers while the stream runs: the typical round trip is short. Not a speed test (the 2-core machine
  // runs the target, the initiator and other work flat out, and its tail moves with that load): how fast clicks,
  // filters and scrolls take effect under a flood is `npm run bench -- ui`'s to measure (p95 <= 300 ms). Here only
  // a page that stopped answering (the 25-31 s clicks of issue 15) fails.
  expect(rtts[rtts.length >> 1]!).toBeLessThan(100);
  expect(max).toBeLessThan(5000);
  expect(clickMs).toBeLessThan(5000);

  // With tens of thousands of PDUs held, a filter over all of them and a jump to the top stay quick.
  const total = await page.getByTestId('timeline-count').textContent();
  const f0 = Date.now();
  await page.getByTestId('filter-opcode').fill('Data-In');
  await expect(page.getByTestId('timeline-count')).toHaveText(/ of \d+ PDUs/);
  const filterMs = Date.now() - f0;
  await expect(page.locator('[data-testid=timeline] .row').first()).toHaveAttribute('data-opcode', 'SCSI Data-In');
  await page.getByTestId('filter-opcode').fill('');
  await expect(page.getByTestId('timeline-count')).toHaveText(/^\d+ PDUs$/);
  // Clearing the filter sends the list back to the tail once the filter's debounce has passed: wait for it, so the
  // scroll below starts from a list that is following the tail.
  const scroller = page.getByTestId('timeline').locator('div[style*="overflow-y"]').first();
  await expect.poll(() => scroller.evaluate((el) => el.scrollHeight - el.scrollTop - el.clientHeight)).toBeLessThan(100);
  const s0 = Date.now();
  await scroller.evaluate((el) => (el.scrollTop = 0));
  // Scrolled away from the tail: the list stops following and offers a way back.
  await expect(page.getByTestId('follow')).toBeVisible();
  const scrollMs = Date.now() - s0;
  test.info().annotations.push({ type: 'with the trace held', description: `${total}: filter ${filterMs} ms, scroll to top ${scrollMs} ms` });
  console.log(`held ${total}: filter ${filterMs} ms, scroll to top ${scrollMs} ms`);
  expect(filterMs).toBeLessThan(2000);
  await shot(page, '11-after-load-top');
});
