/**
 * Projector mode at 1920x1080, as a teacher shows the lab to a room: every text and button passes WCAG AA contrast
 * (axe-core's color-contrast rule, injected into the page), the inspector's field list gets real width, the heat
 * map takes the theme's colours, NOPs are hidden by default, and the keyboard works (a visible focus ring on the
 * timeline, arrow keys across the tabs).
 */
import { createRequire } from 'node:module';
import type { Page } from '@playwright/test';
import { expect, openLab, shot, test } from './fixtures.ts';

const require = createRequire(import.meta.url);
const AXE = require.resolve('axe-core/axe.min.js');

test.use({ viewport: { width: 1920, height: 1080 } });

interface AxeResult {
  violations: { id: string; nodes: { target: string[]; failureSummary?: string }[] }[];
}

/** axe-core's colour contrast check over what the page shows now; returns the failing nodes, described. */
async function contrastViolations(page: Page): Promise<string[]> {
  if (!(await page.evaluate(() => 'axe' in window))) await page.addScriptTag({ path: AXE });
  const r = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run(ctx: Document, opts: object): Promise<AxeResult> } }).axe;
    return axe.run(document, { runOnly: { type: 'rule', values: ['color-contrast'] }, resultTypes: ['violations'] });
  });
  return r.violations.flatMap((v) => v.nodes.map((n) => `${n.target.join(' ')}: ${n.failureSummary ?? ''}`));
}

async function projectorOn(page: Page): Promise<void> {
  await openLab(page);
  await page.getByTestId('projector-toggle').check();
  await expect(page.locator('html')).toHaveClass(/projector/);
}

test("projector mode at 1920x1080 passes axe's contrast check on every tab", async ({ page, request }) => {
  await request.post('/api/io', { data: { lun: 0, op: 'write', lba: 300, blocks: 1, data: { text: 'projector' } } });
  await request.post('/api/io', { data: { lun: 0, op: 'read', lba: 300, blocks: 1 } });
  await projectorOn(page);
  // a PDU selected, so the inspector and the stepper have something to show
  await page.locator('[data-testid=timeline] .row[data-opcode="SCSI Command"]').last().click();
  const failures: string[] = [];
  for (const tab of ['I/O composer', 'PDU inspector', 'Encapsulation', 'Console', 'Capture', 'Cache']) {
    await page.getByRole('tab', { name: tab, exact: true }).click();
    await expect(page.getByRole('tab', { name: tab, exact: true })).toHaveAttribute('aria-selected', 'true');
    await page.waitForTimeout(300);
    for (const f of await contrastViolations(page)) failures.push(`[${tab}] ${f}`);
  }
  await shot(page, '50-projector-1920');
  expect(failures).toEqual([]);
});

test("projector mode: the inspector's field list is readable, the heat map follows the theme, NOPs are hidden", async ({ page, request }) => {
  await request.post('/api/io', { data: { lun: 0, op: 'read', lba: 0, blocks: 1 } });
  await projectorOn(page);
  await expect(page.getByTestId('filter-hide-nops')).toBeChecked();
  await expect(page.locator('[data-testid=timeline] .row[data-opcode^="NOP"]')).toHaveCount(0);

  await page.locator('[data-testid=timeline] .row[data-opcode="SCSI Command"]').last().click();
  await expect(page.getByRole('tab', { name: 'PDU inspector' })).toHaveAttribute('aria-selected', 'true');
  const tree = page.getByTestId('inspector').locator('.treepane');
  await expect(tree).toBeVisible();
  const width = await tree.evaluate((el) => el.getBoundingClientRect().width);
  // 26em at projector's 20px type, at least: a field name, its value and its bits side by side
  expect(width).toBeGreaterThanOrEqual(520);

  await page.getByRole('tab', { name: 'Cache', exact: true }).click();
  const empty = page.locator('[data-testid=cache-heatmap] rect[data-state="empty"]').first();
  await expect(empty).toBeVisible();
  const [fill, theme] = await empty.evaluate((el) => [
    getComputedStyle(el).fill,
    getComputedStyle(document.documentElement).getPropertyValue('--heat-empty').trim(),
  ]);
  // projector's empty cell is the theme's dark grey (#262626), not the light theme's (or a hard-coded) colour
  expect(theme).toBe('#262626');
  expect(fill).toBe('rgb(38, 38, 38)');

  // Turning projector mode off brings the NOPs back (the default of the normal view).
  await page.getByTestId('projector-toggle').uncheck();
  await expect(page.getByTestId('filter-hide-nops')).not.toBeChecked();
});

test('keyboard: the timeline shows a focus ring, and arrow keys move across the tabs', async ({ page }) => {
  await projectorOn(page);
  const tl = page.getByTestId('timeline');
  await tl.focus();
  await page.keyboard.press('ArrowDown'); // keyboard use: :focus-visible applies
  const ring = await tl.evaluate((el) => {
    const s = getComputedStyle(el);
    return { style: s.outlineStyle, width: parseFloat(s.outlineWidth), colour: s.outlineColor };
  });
  expect(ring.style).not.toBe('none');
  expect(ring.width).toBeGreaterThanOrEqual(2);

  const composerTab = page.getByRole('tab', { name: 'I/O composer' });
  await composerTab.click();
  await expect(composerTab).toHaveAttribute('tabindex', '0');
  await expect(page.getByRole('tab', { name: 'PDU inspector' })).toHaveAttribute('tabindex', '-1');
  await composerTab.focus();
  await page.keyboard.press('ArrowRight');
  await expect(page.getByRole('tab', { name: 'PDU inspector' })).toHaveAttribute('aria-selected', 'true');
  await expect(page.getByRole('tab', { name: 'PDU inspector' })).toBeFocused();
  await page.keyboard.press('ArrowLeft');
  await page.keyboard.press('ArrowLeft'); // wraps to the last tab
  await expect(page.getByRole('tablist', { name: 'Views' }).getByRole('tab').last()).toHaveAttribute('aria-selected', 'true');
  await page.keyboard.press('Home');
  await expect(composerTab).toHaveAttribute('aria-selected', 'true');
  await expect(composerTab).toBeFocused();
});
