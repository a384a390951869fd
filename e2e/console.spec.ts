/**
 * The console's commands against the real lab: each one does what `help` says, over the gateway's API and the
 * lab's own initiator, and a mistake is one readable line.
 */
import type { Page } from '@playwright/test';
import { expect, openLab, shot, terminalText, test } from './fixtures.ts';

async function run(page: Page, line: string, expected: string | RegExp): Promise<string> {
  await page.keyboard.type('clear');
  await page.keyboard.press('Enter');
  await page.keyboard.type(line);
  await page.keyboard.press('Enter');
  if (typeof expected === 'string') await expect.poll(() => terminalText(page)).toContain(expected);
  else await expect.poll(() => terminalText(page)).toMatch(expected);
  const text = await terminalText(page);
  expect(text).not.toMatch(/at \w+ \(|TypeError|undefined is not|\[object Object\]/);
  return text;
}

test('every console command works against the lab', async ({ page }) => {
  await openLab(page);
  await page.getByRole('tab', { name: 'Console' }).click();
  await page.locator('[data-testid=console] .xterm').click();

  const help = await run(page, 'help', 'Lab commands');
  for (const c of ['help', 'luns', 'sessions', 'inquiry', 'readcap', 'read', 'write', 'cache', 'trace', 'capture', 'replay', 'step']) {
    expect(help).toMatch(new RegExp(`^\\s+${c}\\b`, 'm'));
  }
  await run(page, 'help step', 'step [last|TASK] | step read|write LBA');
  await run(page, 'luns', /LUN 0\s+64\.0 MiB\s+131072 × 512 B/);
  await run(page, 'write 900 console was here', /GOOD — 512 bytes/);
  await run(page, 'sessions', /TSIH \d+\s+Normal\s+iqn\.2026-11\.org\.iscsi-lab:gateway/);
  await run(page, 'inquiry', /T10 VENDOR IDENTIFICATION\s+\S+/);
  await run(page, 'inquiry 0 --vpd 0x80', /VPD page 0x80: \d+ bytes/);
  await run(page, 'readcap', 'RETURNED LOGICAL BLOCK ADDRESS 131071, LOGICAL BLOCK LENGTH IN BYTES 512');
  await run(page, 'read 900', 'console was here');

  // cache: counters, then a live change, checked through the API.
  await run(page, 'cache', /LUN 0: (LRU|2Q|ARC), write-(back|through)/);
  const before = ((await (await page.request.get('/api/stats')).json()) as { luns: { cache: { policy: string } }[] }).luns[0]!.cache.policy;
  await run(page, 'cache policy arc', 'LUN 0: now ARC');
  expect(((await (await page.request.get('/api/stats')).json()) as { luns: { cache: { policy: string } }[] }).luns[0]!.cache.policy).toBe('arc');
  await run(page, `cache policy ${before}`, `now ${before.toUpperCase()}`);
  await run(page, 'cache policy fifo', 'cache: policy must be lru, 2q or arc, not "fifo"');

  await run(page, 'trace stats', /PDUs \d+, events \d+/);
  await run(page, 'trace pause', 'timeline paused');
  await run(page, 'trace resume', 'timeline live');

  // capture open -> the file chooser; the chosen capture replaces the timeline; replay compares it.
  const pcapng = await (await page.request.get('/api/capture.pcapng')).body();
  const chooser = page.waitForEvent('filechooser');
  await run(page, 'capture open', 'choose a pcapng, pcap or JSON Lines file');
  await (await chooser).setFiles({ name: 'console.pcapng', mimeType: 'application/octet-stream', buffer: pcapng });
  await expect(page.getByTestId('offline-banner')).toContainText('console.pcapng');
  await page.getByRole('tab', { name: 'Console' }).click();
  await page.locator('[data-testid=console] .xterm').click();
  await run(page, 'replay', /replayed \d+ commands, \d+ differences/);
  await page.getByTestId('go-live').click();
  await page.locator('[data-testid=console] .xterm').click();

  // step: a real held I/O driven from the console.
  await run(page, 'step read 900', 'held before it is sent');
  await run(page, 'step status', 'held at stage 1/5 initiator-send');
  for (const stage of ['target-received', 'store-access', 'target-respond', 'initiator-receive']) {
    await run(page, 'step next', new RegExp(`held at stage \\d/5 ${stage}|running to the next stage`));
    await expect.poll(async () => ((await (await page.request.get('/api/step')).json()) as { stage?: string }).stage).toBe(stage);
  }
  await run(page, 'step next', 'step mode I/O done');
  await expect.poll(() => terminalText(page)).toMatch(/GOOD — 512 bytes/);
  await run(page, 'step next', 'step: no stepped I/O is in progress');
  await run(page, 'step last', 'stepping through task');
  await page.getByRole('tab', { name: 'Console' }).click();
  await page.locator('[data-testid=console] .xterm').click();
  await run(page, 'step sideways', 'step: TASK must be a number, not "sideways"');
  await shot(page, '50-console');
});
