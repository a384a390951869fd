/**
 * Classroom follow mode: two independent browsers (separate contexts) on the same lab; one presents, the other
 * follows its view, selected PDU and stepper stage through the /ws hub.
 */
import { expect, openLab, shot, terminalText, test } from './fixtures.ts';

const LBA = 555;

test("a follower sees the presenter's tab, selected PDU and stepper stage", async ({ page, browser, request }) => {
  await request.post('/api/io', { data: { lun: 0, op: 'write', lba: LBA, blocks: 2, data: { text: 'follow me' } } });
  await request.post('/api/io', { data: { lun: 0, op: 'read', lba: LBA, blocks: 2 } });
  await openLab(page);
  const ctx = await browser.newContext();
  const viewer = await ctx.newPage();
  const viewerErrors: string[] = [];
  viewer.on('console', (m) => m.type() === 'error' && viewerErrors.push(m.text()));
  viewer.on('pageerror', (e) => viewerErrors.push(e.message));
  await openLab(viewer);

  await viewer.getByTestId('follow-toggle').check();
  await expect(viewer.getByTestId('follow-state')).toHaveText('nobody presents');
  await page.getByTestId('present-toggle').check();
  await expect(page.getByTestId('follow-state')).toHaveText('presenting');
  await expect(viewer.getByTestId('follow-state')).toHaveText('following Presenter');

  // The presenter selects the READ: the viewer's timeline selects the same PDU (same seq: same trace).
  const row = page.locator('[data-testid=timeline] .row[data-opcode="SCSI Command"]', { hasText: `READ(16) LBA ${LBA} ×2` }).last();
  await row.click();
  const seq = await row.getAttribute('data-seq');
  await expect(viewer.locator(`[data-testid=timeline] .row[data-seq="${seq}"]`)).toHaveAttribute('aria-selected', 'true');

  await page.getByRole('tab', { name: 'PDU inspector' }).click();
  await expect(viewer.getByRole('tab', { name: 'PDU inspector' })).toHaveAttribute('aria-selected', 'true');
  await expect(viewer.getByTestId('inspector-opcode')).toHaveText('SCSI Command');
  await expect(viewer.getByTestId('inspector-hex').locator('.b[data-off="32"]')).toHaveText('88');

  // Stepper: the presenter walks three stages; the viewer is on the same task and stage.
  await page.getByRole('tab', { name: 'Encapsulation' }).click();
  await expect(viewer.getByRole('tab', { name: 'Encapsulation' })).toHaveAttribute('aria-selected', 'true');
  for (let i = 0; i < 3; i++) await page.getByTestId('stepper-next').click();
  const stage = await page.getByTestId('stepper-stage').getAttribute('data-stage');
  expect(stage).toBeTruthy();
  await expect(viewer.getByTestId('stepper-stage')).toHaveAttribute('data-stage', stage!);
  await expect(viewer.getByTestId('stepper-task')).toHaveValue(await page.getByTestId('stepper-task').inputValue());
  await shot(viewer, '40-follower');

  // A browser that connects now hears the presentation at once.
  const late = await ctx.newPage();
  await openLab(late);
  await expect(late.getByTestId('follow-state')).toHaveText('presenting: Presenter');
  await late.close();

  // Stopping ends it for everyone; the viewer keeps what it shows.
  await page.getByTestId('present-toggle').uncheck();
  await expect(viewer.getByTestId('follow-state')).toHaveText('nobody presents');
  await expect(viewer.getByTestId('stepper-stage')).toHaveAttribute('data-stage', stage!);
  await ctx.close();
  expect(viewerErrors).toEqual([]);
});

test("a follower sees the presenter's console and composer results, and presenting survives a reload", async ({ page, browser }) => {
  await openLab(page);
  const ctx = await browser.newContext();
  const viewer = await ctx.newPage();
  const viewerErrors: string[] = [];
  viewer.on('pageerror', (e) => viewerErrors.push(e.message));
  await openLab(viewer);
  await viewer.getByTestId('follow-toggle').check();
  await page.getByTestId('present-toggle').check();
  await expect(viewer.getByTestId('follow-state')).toHaveText('following Presenter');

  // Console: the presenter writes and reads a block; the follower's console tab shows the same screen, read-only.
  await page.getByRole('tab', { name: 'Console' }).click();
  await page.locator('[data-testid=console] .xterm').click();
  await page.keyboard.type('write 4321 mirrored console line');
  await page.keyboard.press('Enter');
  await page.keyboard.type('read 4321');
  await page.keyboard.press('Enter');
  await expect.poll(() => terminalText(page)).toContain('mirrored console line');
  await expect(viewer.getByRole('tab', { name: 'Console' })).toHaveAttribute('aria-selected', 'true');
  await expect(viewer.getByTestId('console-mirror')).toContainText('read 4321');
  await expect(viewer.getByTestId('console-mirror')).toContainText('mirrored console line');

  // Composer: the presenter's read result (status and the data) appears in the follower's composer.
  await page.getByRole('tab', { name: 'I/O composer' }).click();
  await page.getByTestId('io-op-read').check();
  await page.getByTestId('io-lba').fill('4321');
  await page.getByTestId('io-blocks').fill('1');
  await page.getByTestId('io-run').click();
  await expect(page.getByTestId('io-data-text')).toContainText('mirrored console line');
  await expect(viewer.getByTestId('io-status')).toHaveText('GOOD');
  await expect(viewer.getByTestId('io-data-text')).toContainText('mirrored console line');
  await expect(viewer.getByTestId('io-lba')).toHaveValue('4321');
  // ...and an error replaces it there too.
  await page.getByTestId('io-lba').fill('not a number');
  await page.getByTestId('io-run').click();
  await expect(viewer.getByTestId('io-error')).toContainText('LBA must be a whole number');

  // Reload the presenter: still presenting, same view; the follower never stopped following.
  await page.getByRole('tab', { name: 'Cache', exact: true }).click();
  await expect(viewer.getByRole('tab', { name: 'Cache', exact: true })).toHaveAttribute('aria-selected', 'true');
  await page.reload();
  await expect(page.getByTestId('ws-state')).toHaveText(/live/);
  await expect(page.getByTestId('present-toggle')).toBeChecked();
  await expect(page.getByTestId('follow-state')).toHaveText('presenting');
  await expect(page.getByRole('tab', { name: 'Cache', exact: true })).toHaveAttribute('aria-selected', 'true');
  await expect(viewer.getByTestId('follow-state')).toHaveText('following Presenter');
  await page.getByRole('tab', { name: 'Capture' }).click();
  await expect(viewer.getByRole('tab', { name: 'Capture' })).toHaveAttribute('aria-selected', 'true');
  // the hub's grace period is over by now, and it did not end the presentation
  await viewer.waitForTimeout(5_500);
  await expect(viewer.getByTestId('follow-state')).toHaveText('following Presenter');
  await page.getByTestId('present-toggle').uncheck();
  await expect(viewer.getByTestId('follow-state')).toHaveText('nobody presents');
  await ctx.close();
  expect(viewerErrors).toEqual([]);
});
