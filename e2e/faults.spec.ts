/**
 * The Faults tab against the real gateway and target: one click runs "connection killed mid-write" (a
 * kill-connection rule on the first Data-Out, a 1 MiB write through the lab's initiator, a read back), and the page
 * shows the fault marker on the timeline row of the Data-Out it hit, the reconnect, and the completed, verified write.
 */
import { expect, openLab, shot, terminalText, test } from './fixtures.ts';

interface FaultList {
  faults: { id: number; action: string; hits: number }[];
}

test('scenario "Connection killed mid-write": fault marker, reconnect, completed write', async ({ page }) => {
  await page.request.delete('/api/faults', { headers: { 'content-type': 'application/json' } });
  await openLab(page);
  await page.getByRole('tab', { name: 'Faults' }).click();
  await expect(page.getByText('No rules: the target runs clean.')).toBeVisible();

  await page.getByRole('button', { name: 'Connection killed mid-write' }).click();
  const log = page.getByLabel('Scenario log');
  await expect(log.locator('li[data-kind=result]', { hasText: 'write completed and verified' })).toBeVisible({ timeout: 30_000 });
  // What the lab initiator did: lost its connection, logged in again, wrote again.
  await expect(log.locator('li[data-kind=recovery]', { hasText: 'connection lost' })).toBeVisible();
  await expect(log.locator('li[data-kind=recovery]', { hasText: /logged in again .*retrying the command/ })).toBeVisible();
  // What the trace saw: the fault and a new login on a new connection.
  await expect(log.locator('li[data-kind=fault]', { hasText: /kill-connection|SCSI Data-Out ITT 0x[0-9a-f]+ received: connection killed/ })).toBeVisible();
  await expect(log.locator('li[data-kind=session]', { hasText: 'closed (fault: kill-connection on SCSI Data-Out' })).toBeVisible();
  await expect(log.locator('li[data-kind=session]', { hasText: 'reconnect: logged in' })).toHaveCount(1);

  // The rule fired once and is listed with its hit.
  const list = (await (await page.request.get('/api/faults')).json()) as FaultList;
  const rule = list.faults.find((f) => f.action === 'kill-connection');
  expect(rule?.hits).toBe(1);
  await expect(page.getByRole('row', { name: /kill-connection pdu=SCSI Data-Out \(hits 1 of 1\)/ })).toBeVisible();

  // The timeline marks the Data-Out the fault acted on.
  const marked = page.locator('[data-seq]', { has: page.locator('.fault-mark') });
  await expect(marked.first()).toBeVisible();
  await expect(marked.first()).toHaveAttribute('data-opcode', 'SCSI Data-Out');
  // From the list of injected faults to the PDU in the timeline.
  await page.getByRole('button', { name: 'show PDU' }).first().click();
  await expect(marked.first()).toHaveAttribute('aria-selected', 'true');
  await shot(page, '20-faults-killed-mid-write');

  // Clean up for the specs that follow.
  await page.getByRole('button', { name: 'Clear all' }).click();
  await expect(page.getByText('No rules: the target runs clean.')).toBeVisible();
});

test('scenarios "Lost SCSI Response", "Medium error" and "Slow disk" each show their recovery or outcome', async ({ page }) => {
  await page.request.delete('/api/faults', { headers: { 'content-type': 'application/json' } });
  await openLab(page);
  await page.getByRole('tab', { name: 'Faults' }).click();
  const log = page.getByLabel('Scenario log');

  await page.getByRole('button', { name: 'Lost SCSI Response' }).click();
  await expect(log.locator('li[data-kind=result]', { hasText: 'write completed and verified' })).toBeVisible({ timeout: 30_000 });
  await expect(log.locator('li[data-kind=recovery]', { hasText: /^timed out: no status for ITT 0x[0-9a-f]+ within 2000 ms$/ })).toBeVisible();
  await expect(log.locator('li[data-kind=recovery]', { hasText: /^ABORT TASK for ITT 0x[0-9a-f]+: Task does not exist$/ })).toBeVisible();
  await expect(log.locator('li[data-kind=fault]', { hasText: /SCSI Response ITT 0x[0-9a-f]+ dropped/ })).toBeVisible();
  // The ABORT TASK is in the timeline too.
  await expect(page.locator('[data-opcode="SCSI Task Management Function Request"]').first()).toBeVisible();

  await page.getByRole('button', { name: 'Medium error' }).click();
  await expect(log.locator('li[data-kind=result]', { hasText: 'the application sees an I/O error (EIO)' })).toContainText('MEDIUM ERROR');
  await expect(log.locator('li[data-kind=fault]', { hasText: /store read of LBA 14336 x8 on LUN 0 failed/ })).toBeVisible();

  await page.getByRole('button', { name: 'Slow disk' }).click();
  await expect(log.locator('li[data-kind=result]', { hasText: /first read \d+ ms, re-read \d+ ms: the cache hid the slow disk/ })).toBeVisible({
    timeout: 30_000,
  });
  // The scenarios leave nothing that can still act: count=1 rules are spent, the open-ended ones deleted.
  const left = ((await (await page.request.get('/api/faults')).json()) as { faults: { action: string; count: number; hits: number }[] }).faults;
  expect(left.map((f) => `${f.action} ${f.hits}/${f.count}`)).toEqual(['drop 1/1']);
});

test('rules form: add, refuse with the reason, delete', async ({ page }) => {
  await page.request.delete('/api/faults', { headers: { 'content-type': 'application/json' } });
  await openLab(page);
  await page.getByRole('tab', { name: 'Faults' }).click();
  await page.getByLabel('Fault rule').fill('delay:pdu=NOP-In,delayMs=10');
  await page.getByRole('button', { name: 'Add rule' }).click();
  await expect(page.getByRole('row', { name: /delay pdu=NOP-In delayMs=10/ })).toBeVisible();
  await page.getByLabel('Fault rule').fill('delay:pdu=Nope');
  await page.getByRole('button', { name: 'Add rule' }).click();
  await expect(page.getByRole('alert')).toContainText('unknown PDU "Nope"');
  await page.getByRole('button', { name: /Delete rule \d+/ }).click();
  await expect(page.getByText('No rules: the target runs clean.')).toBeVisible();
});

test('console: fault add, list, clear', async ({ page }) => {
  await page.request.delete('/api/faults', { headers: { 'content-type': 'application/json' } });
  await openLab(page);
  await page.getByRole('tab', { name: 'Console' }).click();
  await page.locator('[data-testid=console] .xterm').click();
  const run = async (line: string, expected: RegExp): Promise<void> => {
    await page.keyboard.type('clear');
    await page.keyboard.press('Enter');
    await page.keyboard.type(line);
    await page.keyboard.press('Enter');
    await expect.poll(() => terminalText(page)).toMatch(expected);
  };
  await run('fault add store-error:lun=0,lbaFrom=2048,lbaTo=2055', /rule (\d+): store-error lun=0 lbaFrom=2048 lbaTo=2055/);
  await run('fault list', /\d+\s+store-error lun=0 lbaFrom=2048 lbaTo=2055 \(hits 0 of 1\)/);
  await run('fault add drop:pdu=Nope', /unknown PDU "Nope"/);
  await run('fault clear', /1 rules deleted/);
  const list = (await (await page.request.get('/api/faults')).json()) as FaultList;
  expect(list.faults).toEqual([]);
});
