/**
 * Mistakes are refused clearly and never look like results: a write with more data than its blocks hold (API,
 * composer, console), a new error replacing the previous result, and `help` fitted to the terminal's width.
 */
import type { Page } from '@playwright/test';
import { expect, openLab, terminalText, test } from './fixtures.ts';

const LBA = 960;
const LONG = 'x'.repeat(520); // 8 bytes more than one 512-byte block

async function readText(page: Page): Promise<string> {
  const r = (await (await page.request.post('/api/io', { data: { lun: 0, op: 'read', lba: LBA, blocks: 1 } })).json()) as { dataHex: string };
  return Buffer.from(r.dataHex, 'hex').toString('utf8').replace(/\0+$/, '');
}

test('a write with more data than its blocks is refused with a 400 naming both sizes, and writes nothing', async ({ page }) => {
  await openLab(page);
  expect((await page.request.post('/api/io', { data: { lun: 0, op: 'write', lba: LBA, blocks: 1, data: { text: 'before' } } })).ok()).toBe(true);
  const r = await page.request.post('/api/io', { data: { lun: 0, op: 'write', lba: LBA, blocks: 1, data: { text: LONG } } });
  expect(r.status()).toBe(400);
  expect(((await r.json()) as { error: string }).error).toBe(
    'write data is 520 bytes but 1 block(s) of 512 bytes hold 512: ask for 2 blocks or send less data',
  );
  const hex = await page.request.post('/api/io', { data: { lun: 0, op: 'write', lba: LBA, blocks: 1, data: { hex: 'ab'.repeat(513) } } });
  expect(hex.status()).toBe(400);
  expect(await readText(page)).toBe('before');
  // Shorter data is still fine (the rest of the block is zero-filled).
  expect((await page.request.post('/api/io', { data: { lun: 0, op: 'write', lba: LBA, blocks: 2, data: { text: LONG } } })).ok()).toBe(true);
});

test('composer: the refusal replaces the previous result on screen', async ({ page }) => {
  await openLab(page);
  await page.getByRole('tab', { name: 'I/O composer' }).click();
  await page.getByTestId('io-op-read').check();
  await page.getByTestId('io-lba').fill(String(LBA));
  await page.getByTestId('io-run').click();
  await expect(page.getByTestId('io-result')).toBeVisible();

  await page.getByTestId('io-op-write').check();
  await page.getByTestId('io-mode-text').check();
  await page.getByTestId('io-text').fill(LONG);
  await page.getByTestId('io-blocks').fill('1');
  await page.getByTestId('io-run').click();
  await expect(page.getByTestId('io-error')).toContainText('write data is 520 bytes but 1 block(s) of 512 bytes hold 512');
  await expect(page.getByTestId('io-result')).toHaveCount(0);

  // A form mistake also replaces a result.
  await page.getByTestId('io-blocks').fill('2');
  await page.getByTestId('io-run').click();
  await expect(page.getByTestId('io-status')).toHaveText('GOOD');
  await expect(page.getByTestId('io-error')).toHaveCount(0);
  await page.getByTestId('io-lba').fill('nope');
  await page.getByTestId('io-run').click();
  await expect(page.getByTestId('io-error')).toContainText('LBA must be a whole number');
  await expect(page.getByTestId('io-result')).toHaveCount(0);
});

async function consoleRun(page: Page, line: string): Promise<void> {
  await page.keyboard.type('clear');
  await page.keyboard.press('Enter');
  await page.keyboard.type(line);
  await page.keyboard.press('Enter');
}

/** The words on the terminal's visible rows. */
const words = async (page: Page): Promise<Set<string>> => new Set((await terminalText(page)).split(/\s+/).filter(Boolean));

test('console: the refusal is one red line, cache reset; help fits the terminal at any width, cut between words only', async ({ page }) => {
  await page.setViewportSize({ width: 1600, height: 1600 });
  await openLab(page);
  await page.getByRole('tab', { name: 'Console' }).click();
  await page.locator('[data-testid=console] .xterm').click();
  await consoleRun(page, `write ${LBA} ${LONG} --blocks 1`);
  await expect.poll(() => terminalText(page)).toContain('write: write data is 520 bytes but 1 block(s) of 512 bytes hold 512');

  // The cache counters reset from the console too (POST /api/cache/reset-stats).
  await consoleRun(page, 'cache 0 reset');
  await expect.poll(() => terminalText(page)).toContain('LUN 0: counters reset (hits 0, misses 0); cached blocks kept');

  await consoleRun(page, 'help');
  await expect.poll(() => terminalText(page)).toMatch(/clears\.\s+lab>/);
  expect(await terminalText(page)).toContain('Lab commands');
  const wide = await words(page);
  for (const width of [900, 560]) {
    await page.setViewportSize({ width, height: 1000 });
    await page.locator('[data-testid=console] .xterm').click();
    await consoleRun(page, 'help');
    await expect.poll(() => terminalText(page)).toMatch(/clears\.\s+lab>/);
    // A word cut at the terminal's edge would leave pieces that are no word of the help text.
    const pieces = [...(await words(page))].filter((w) => !wide.has(w));
    expect(pieces, `help at ${width} px`).toEqual([]);
  }
});
