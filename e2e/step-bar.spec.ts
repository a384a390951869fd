/**
 * Step mode's progress bar names the five steps of the read path, shows the steps a continued I/O ran through
 * unheld as run (not struck out), and a page opened later does not inherit another browser's finished bar. Also
 * the inspector's bit masks: eight positions per byte.
 */
import { expect, openLab, shot, test } from './fixtures.ts';

const LBA = 320;

test('step bar: named steps, Continue shows the rest as run, a new page starts without the old bar', async ({ page, browser, request }) => {
  await openLab(page);
  const pending = request.post('/api/io', { data: { lun: 0, op: 'read', lba: LBA, blocks: 1, step: true } });
  const bar = page.getByTestId('step-bar');
  await expect(page.getByTestId('step-stage')).toHaveAttribute('data-stage', 'initiator-send');
  await expect(bar.locator('li')).toHaveText(['1Command', '2Cache scheduling', '3Read', '4Encapsulation', '5Transmit']);
  await expect(page.getByTestId('step-stage')).toContainText('1. Command');
  await page.getByTestId('step-next').click();
  await expect(page.getByTestId('step-stage')).toHaveAttribute('data-stage', 'target-received');
  await page.getByTestId('step-continue').click();
  await expect(page.getByTestId('step-result')).toHaveText('done: GOOD');
  expect(((await (await pending).json()) as { ok: boolean }).ok).toBe(true);
  const states = await bar.locator('li').evaluateAll((els) => els.map((e) => [e.getAttribute('data-state'), getComputedStyle(e).textDecorationLine]));
  expect(states).toEqual([
    ['held', 'none'],
    ['held', 'none'],
    ['unheld', 'none'],
    ['unheld', 'none'],
    ['unheld', 'none'],
  ]);
  await expect(bar.locator('li[data-state=unheld]').first()).toContainText('ran');
  await shot(page, '32-step-continued');

  // A page opened now never saw that step: no bar (the API still reports it).
  const later = await browser.newPage();
  await openLab(later);
  expect(((await (await request.get('/api/step')).json()) as { done: boolean; id: number }).id).toBeGreaterThan(0);
  await expect(later.getByTestId('ws-state')).toHaveText(/live/);
  await expect(later.getByTestId('step-bar')).toHaveCount(0);
  await later.close();
});

test("inspector: a bit field's mask has 8 positions for its byte", async ({ page }) => {
  await openLab(page);
  await page.request.post('/api/io', { data: { lun: 0, op: 'read', lba: LBA, blocks: 1 } });
  const row = page.locator('[data-testid=timeline] .row[data-opcode="SCSI Command"]', { hasText: `READ(16) LBA ${LBA} ×1` }).last();
  await row.click();
  await page.getByRole('tab', { name: 'PDU inspector' }).click();
  const masks = page.locator('[data-testid=field-tree] .off', { hasText: '•' });
  expect(await masks.count()).toBeGreaterThan(0);
  for (const t of await masks.allInnerTexts()) expect(t).toMatch(/^\[\d+\] [.•]{8}$/);
});
