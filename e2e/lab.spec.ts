/**
 * The lab in the browser, end to end: a real gateway and target (global-setup.ts), Debian's Chromium, outside
 * initiators (qemu-io, iscsi-perf) making traffic the page must show.
 */
import { readFileSync } from 'node:fs';
import { expect, openLab, qemuIo, shot, terminalText, test } from './fixtures.ts';

test.describe.configure({ mode: 'serial' });

test('the page loads with the lab status and no console errors', async ({ page }) => {
  await openLab(page);
  await expect(page.getByTestId('target-iqn')).toHaveText('iqn.2026-11.org.iscsi-lab:lab');
  await expect(page.getByTestId('portals')).toHaveText(new RegExp(`^${process.env.ISCSI_LAB_E2E_PORTAL!.replace(/\./g, '\\.')}$`));
  await expect(page.getByTestId('luns')).toContainText('0: 64.0 MiB');
  await expect(page.getByTestId('sessions')).toHaveText(/^\d+$/);
  await expect(page.getByTestId('dropped')).toHaveText('0');
  for (const tab of ['I/O composer', 'PDU inspector', 'Encapsulation', 'Console', 'Capture']) await expect(page.getByRole('tab', { name: tab })).toBeVisible();
  await shot(page, '01-loaded');
});

test('composer: a write then a read of the same blocks round-trips the data', async ({ page }) => {
  await openLab(page);
  const text = `round trip ${Date.now()}`;
  await page.getByTestId('io-op-write').check();
  await page.getByTestId('io-lba').fill('100');
  await page.getByTestId('io-blocks').fill('2');
  await page.getByTestId('io-mode-text').check();
  await page.getByTestId('io-text').fill(text);
  await page.getByTestId('io-run').click();
  await expect(page.getByTestId('io-status')).toHaveText('GOOD');
  // The write shows up in the timeline as the gateway's WRITE(16).
  await expect(page.locator('[data-testid=timeline] .row', { hasText: 'WRITE(16) LBA 100 ×2' }).first()).toBeVisible();

  await page.getByTestId('io-op-read').check();
  await page.getByTestId('io-run').click();
  await expect(page.getByTestId('io-status')).toHaveText('GOOD');
  await expect(page.getByTestId('io-data-text')).toHaveText(text);
  // Hex + ASCII dump: the first bytes as hex, the text in the ASCII column.
  const hex = [...new TextEncoder().encode(text.slice(0, 8))].map((b) => b.toString(16).padStart(2, '0'));
  const firstRow = page.getByTestId('io-data-hex').locator('.hrow').first();
  await expect(firstRow).toContainText(hex.join(''));
  await expect(firstRow).toContainText(text.slice(0, 16));
  await shot(page, '02-composer-read');

  // A bad request is a readable error, not a crash.
  await page.getByTestId('io-lba').fill('999999999');
  await page.getByTestId('io-run').click();
  await expect(page.getByTestId('io-error')).toContainText('runs past the end of LUN 0');
});

test('an outside qemu-io WRITE appears in the open page within a second, inspectable byte by byte', async ({ page }) => {
  await openLab(page);
  const out = await qemuIo('write -P 0x5a 4096 4k');
  expect(out).toContain('wrote 4096/4096 bytes at offset 4096');
  const started = Date.now();
  const row = page.locator('[data-testid=timeline] .row[data-opcode="SCSI Command"]', { hasText: 'WRITE(10) LBA 8 ×8' }).last();
  await expect(row).toBeVisible({ timeout: 1000 });
  const seenAfterMs = Date.now() - started;
  test.info().annotations.push({ type: 'qemu-io write visible after', description: `${seenAfterMs} ms` });

  // Inspector: the raw bytes and the decoded tree.
  await row.click();
  await page.getByRole('tab', { name: 'PDU inspector' }).click();
  await expect(page.getByTestId('inspector-opcode')).toHaveText('SCSI Command');
  const hex = page.getByTestId('inspector-hex');
  await expect(hex.locator('[data-off="0"]').first()).toHaveText(/^(01|41)$/);
  // CDB byte 0 at PDU offset 32 is WRITE(10)'s opcode 0x2a.
  await expect(hex.locator('.b[data-off="32"]')).toHaveText('2a');

  // Field -> bytes: hovering LOGICAL BLOCK ADDRESS lights up CDB bytes 2-5 (PDU 34-37), which hold 8.
  await page.locator('[data-field="LOGICAL BLOCK ADDRESS"]').hover();
  const lit = hex.locator('.b.hover');
  await expect(lit).toHaveCount(4);
  await expect(lit).toHaveText(['00', '00', '00', '08']);
  expect(await lit.evaluateAll((els) => els.map((e) => (e as HTMLElement).dataset.off))).toEqual(['34', '35', '36', '37']);
  await shot(page, '03-inspector-field-hover');

  // Byte -> field: clicking byte 17 (inside the ITT) selects InitiatorTaskTag.
  await hex.locator('.b[data-off="17"]').click();
  await expect(page.locator('[data-testid=field-tree] .frow.sel')).toHaveAttribute('data-field', 'InitiatorTaskTag');
  await expect(hex.locator('.b.sel')).toHaveCount(4);
  await shot(page, '04-inspector-byte-click');

  // The task's data: its Data-Out (or immediate data) carries 0x5a bytes.
  const task = page.locator('[data-testid=timeline] .row.same-task');
  expect(await task.count()).toBeGreaterThanOrEqual(2);
});

test('the stepper walks the qemu-io WRITE through every layer and back', async ({ page }) => {
  await openLab(page);
  await qemuIo('write -P 0x33 16384 8k');
  const row = page.locator('[data-testid=timeline] .row[data-opcode="SCSI Command"]', { hasText: 'WRITE(10) LBA 32 ×16' }).last();
  await expect(row).toBeVisible({ timeout: 2000 });
  await row.click();
  await page.getByRole('tab', { name: 'PDU inspector' }).click();
  await page.getByTestId('open-stepper').click();
  const stages = page.getByTestId('stepper-stages').locator('button');
  await expect(stages).toHaveText([
    /Application/,
    /File system/,
    /SCSI command: WRITE\(10\)/,
    /iSCSI: SCSI Command and data out/,
    /TCP segments out/,
    /IP packets out/,
    /Ethernet frames out/,
    /Target receives/,
    /Cache lookup/,
    /Store write/,
    /iSCSI: status back/,
    /Back on the wire/,
    /Back at the application/,
  ]);
  const stage = page.getByTestId('stepper-stage');
  await expect(stage).toHaveAttribute('data-stage', 'app');
  for (const id of ['fs', 'scsi', 'iscsi-out', 'tcp-out', 'ip-out', 'eth-out']) {
    await page.getByTestId('stepper-next').click();
    await expect(stage).toHaveAttribute('data-stage', id);
  }
  // Ethernet: overhead measured against the 8 KiB payload.
  await expect(page.getByTestId('stage-overhead')).toContainText('of 8192-byte payload');
  await shot(page, '05-stepper-ethernet');
  await page.getByTestId('stepper-next').click();
  await page.getByTestId('stepper-next').click();
  await page.getByTestId('stepper-next').click();
  await expect(stage).toHaveAttribute('data-stage', 'store');
  await expect(page.getByTestId('stage-time')).toHaveText(/\d+(\.\d+)? (ns|µs|ms)/);
  for (let i = 0; i < 3; i++) await page.getByTestId('stepper-next').click();
  await expect(stage).toHaveAttribute('data-stage', 'done');
  await expect(page.getByTestId('stage-time')).toHaveText(/\d+(\.\d+)? (µs|ms)/);
  await shot(page, '06-stepper-done');
});

test('console: help, lab commands, history, completion and readable errors', async ({ page }) => {
  await openLab(page);
  await page.getByRole('tab', { name: 'Console' }).click();
  const term = page.locator('[data-testid=console] .xterm');
  await term.click();
  await page.keyboard.type('help');
  await page.keyboard.press('Enter');
  await expect.poll(() => terminalText(page)).toContain('Lab commands');
  const help = await terminalText(page);
  for (const c of ['luns', 'sessions', 'inquiry', 'readcap', 'read LBA', 'write LBA', 'cache', 'trace', 'capture', 'replay', 'step']) expect(help).toContain(c);

  await page.keyboard.type('frobnicate 1 2');
  await page.keyboard.press('Enter');
  await expect.poll(() => terminalText(page)).toContain('unknown command "frobnicate" — type help for the list');

  await page.keyboard.type('read banana');
  await page.keyboard.press('Enter');
  await expect.poll(() => terminalText(page)).toContain('read: LBA must be a number, not "banana"');

  await page.keyboard.type('write 200 hello console');
  await page.keyboard.press('Enter');
  await expect.poll(() => terminalText(page)).toMatch(/GOOD — 512 bytes/);
  await page.keyboard.type('read 200');
  await page.keyboard.press('Enter');
  await expect.poll(() => terminalText(page)).toContain('hello console');

  // Tab completes a command; up arrow brings back the last line.
  await page.keyboard.type('readc');
  await page.keyboard.press('Tab');
  await page.keyboard.press('Enter');
  await expect.poll(() => terminalText(page)).toContain('RETURNED LOGICAL BLOCK ADDRESS 131071, LOGICAL BLOCK LENGTH IN BYTES 512');
  await page.keyboard.press('ArrowUp');
  await expect.poll(() => terminalText(page)).toMatch(/lab> readcap\s*$/m);
  await page.keyboard.press('Control+C');

  await page.keyboard.type('cache');
  await page.keyboard.press('Enter');
  await expect.poll(() => terminalText(page)).toMatch(/cache: not available yet|LUN 0/);
  await page.keyboard.type('trace');
  await page.keyboard.press('Enter');
  await expect.poll(() => terminalText(page)).toContain('this page');
  const text = await terminalText(page);
  expect(text).not.toMatch(/at \w+ \(|TypeError|undefined is not/);
  await shot(page, '07-console');
});

test('projector mode: large type, high contrast, remembered after a reload', async ({ page }) => {
  await openLab(page);
  const size = () => page.evaluate(() => parseFloat(getComputedStyle(document.documentElement).fontSize));
  const normal = await size();
  await page.getByTestId('projector-toggle').check();
  await expect(page.locator('html')).toHaveClass(/projector/);
  expect(await size()).toBeGreaterThanOrEqual(normal * 1.4);
  expect(await page.evaluate(() => getComputedStyle(document.documentElement).backgroundColor)).toBe('rgb(0, 0, 0)');
  await shot(page, '08-projector');
  await page.reload();
  await expect(page.locator('html')).toHaveClass(/projector/);
  await page.getByTestId('projector-toggle').uncheck();
  await page.reload();
  await expect(page.locator('html')).not.toHaveClass(/projector/);
});

test('capture: the download links return pcapng and JSON Lines', async ({ page }) => {
  await openLab(page);
  await page.getByRole('tab', { name: 'Capture' }).click();
  const [pcap] = await Promise.all([page.waitForEvent('download'), page.getByTestId('download-pcapng').click()]);
  expect(pcap.suggestedFilename()).toMatch(/\.pcapng$/);
  const bytes = readFileSync((await pcap.path())!);
  expect(bytes.subarray(0, 4).toString('hex')).toBe('0a0d0d0a');
  expect(bytes.length).toBeGreaterThan(100);

  const [jsonl] = await Promise.all([page.waitForEvent('download'), page.getByTestId('download-jsonl').click()]);
  const first = readFileSync((await jsonl.path())!, 'utf8').split('\n')[0]!;
  expect(JSON.parse(first)).toMatchObject({ type: 'header', version: 1 });
  await shot(page, '09-capture');
});
