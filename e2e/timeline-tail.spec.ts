/**
 * The timeline's live tail: a user who scrolls up just as the list jumps to the tail stays where they scrolled
 * (the jump must not re-assert itself once the rows they scrolled to are laid out), and ↓ Latest takes them back.
 */
import { spawn } from 'node:child_process';
import type { Locator } from '@playwright/test';
import { expect, iscsiUrl, openLab, test } from './fixtures.ts';

/** Scroll offset left below the viewport: 0 at the tail. */
const gapBelow = (scroller: Locator) => scroller.evaluate((el) => el.scrollHeight - el.scrollTop - el.clientHeight);

test('a scroll up made just as the timeline reaches its tail is kept, and ↓ Latest goes back', async ({ page }) => {
  test.setTimeout(90_000);
  // Enough PDUs that the page's snapshot (the most recent ~1000 of the gateway's ring) fills many screens.
  const perf = spawn('iscsi-perf', ['-t', '1', '-m', '8', '-b', '1', iscsiUrl()], { stdio: 'ignore' });
  expect(await new Promise<number | null>((r) => perf.once('exit', r))).toBe(0);

  // Each attempt on a fresh page: rows the list has never laid out are what made the jump re-assert itself.
  for (let attempt = 0; attempt < 3; attempt++) {
    await openLab(page);
    const count = page.getByTestId('timeline-count');
    await expect.poll(async () => Number(/^(\d+) PDUs$/.exec((await count.textContent())!.trim())?.[1] ?? 0)).toBeGreaterThan(800);
    const scroller = page.getByTestId('timeline').locator('div[style*="overflow-y"]').first();
    // Narrowing and widening the view makes the list jump to its (new) tail.
    await page.getByTestId('filter-opcode').fill('Data-In');
    await expect(count).toHaveText(/ of \d+ PDUs/);
    await page.getByTestId('filter-opcode').fill('');
    await expect(count).toHaveText(/^\d+ PDUs$/);

    // The frame the tail is reached, the user scrolls well up, then a few frames pass.
    const target = await scroller.evaluate(async (el) => {
      const frame = () => new Promise((r) => requestAnimationFrame(r));
      while (el.scrollHeight - el.scrollTop - el.clientHeight > 1) await frame();
      el.scrollTop = Math.round(el.scrollHeight * 0.9);
      const top = el.scrollTop;
      for (let i = 0; i < 10; i++) await frame();
      await new Promise((r) => setTimeout(r, 300));
      return top;
    });
    expect(Math.abs((await scroller.evaluate((el) => el.scrollTop)) - target), `attempt ${attempt}: the scroll up was undone`).toBeLessThan(2);
    await expect(page.getByTestId('follow')).toBeVisible();

    await page.getByTestId('follow').click();
    await expect(page.getByTestId('follow')).toBeHidden();
    await expect.poll(() => gapBelow(scroller)).toBeLessThan(2);
  }
});

test('projector mode (taller rows, a new list) keeps the timeline on its live tail', async ({ page }) => {
  const perf = spawn('iscsi-perf', ['-t', '1', '-m', '8', '-b', '1', iscsiUrl()], { stdio: 'ignore' });
  expect(await new Promise<number | null>((r) => perf.once('exit', r))).toBe(0);
  await openLab(page);
  await expect.poll(async () => Number(/^(\d+) PDUs$/.exec((await page.getByTestId('timeline-count').textContent())!.trim())?.[1] ?? 0)).toBeGreaterThan(800);
  const scroller = page.getByTestId('timeline').locator('div[style*="overflow-y"]').first();
  for (const [on, rowH] of [
    [true, 32],
    [false, 22],
  ] as const) {
    await page.getByTestId('projector-toggle').setChecked(on);
    // The newest row is laid out at its new height, with its bottom on the viewport's bottom edge.
    await expect
      .poll(() =>
        scroller.evaluate((el) => {
          const rows = [...el.querySelectorAll<HTMLElement>('.row[data-seq]')];
          const last = rows.reduce((a, b) => (Number(a.dataset.seq) > Number(b.dataset.seq) ? a : b));
          return {
            height: last.offsetHeight,
            below: Math.round(last.getBoundingClientRect().bottom - el.getBoundingClientRect().bottom),
            gap: Math.round(el.scrollHeight - el.scrollTop - el.clientHeight),
          };
        }),
      )
      .toEqual({ height: rowH, below: 0, gap: 0 });
    await expect(page.getByTestId('follow')).toBeHidden();
  }
});
