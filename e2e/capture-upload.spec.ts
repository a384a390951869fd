/**
 * Uploading a capture to step through offline, and replaying it against the lab's target: the gateway decodes the
 * file (server/gateway/upload-routes.ts) and re-issues its SCSI commands through server/replay.
 */
import { expect, openLab, shot, test } from './fixtures.ts';
import { IscsiOpcode } from '../shared/protocol/iscsi-opcodes.ts';

const LBA = 777;

async function io(page: import('@playwright/test').Page, body: Record<string, unknown>): Promise<void> {
  const r = await page.request.post('/api/io', { data: { lun: 0, blocks: 1, lba: LBA, ...body } });
  expect(((await r.json()) as { ok: boolean }).ok).toBe(true);
}

test('an uploaded pcapng replaces the live timeline, inspectable, until Back to live', async ({ page }) => {
  await openLab(page);
  await io(page, { op: 'write', data: { text: 'uploaded pcapng' } });
  await io(page, { op: 'read' });
  const pcapng = await (await page.request.get('/api/capture.pcapng')).body();

  await page.getByRole('tab', { name: 'Capture' }).click();
  await page.getByTestId('upload-input').setInputFiles({ name: 'lab.pcapng', mimeType: 'application/octet-stream', buffer: pcapng });
  await expect(page.getByTestId('offline-banner')).toContainText('OFFLINE: lab.pcapng');
  const pdus = Number((await page.getByTestId('offline-loaded').innerText()).match(/(\d+) PDUs/)![1]);
  expect(pdus).toBeGreaterThanOrEqual(4);
  // The page holds exactly the file's PDUs, and new live traffic does not mix in.
  await expect(page.getByTestId('pdu-count')).toHaveText(String(pdus));
  const readRow = page.locator('[data-testid=timeline] .row[data-opcode="SCSI Command"]', { hasText: `READ(16) LBA ${LBA} ×1` }).last();
  await expect(readRow).toBeVisible();
  await io(page, { op: 'read' });
  await expect(page.getByTestId('offline-loaded')).toContainText('live batches skipped');
  await expect(page.getByTestId('pdu-count')).toHaveText(String(pdus));

  // The inspector decodes the uploaded bytes: READ(16)'s opcode 0x88 is CDB byte 0 at PDU offset 32.
  await readRow.click();
  await page.getByRole('tab', { name: 'PDU inspector' }).click();
  await expect(page.getByTestId('inspector-opcode')).toHaveText('SCSI Command');
  await expect(page.getByTestId('inspector-hex').locator('.b[data-off="32"]')).toHaveText('88');
  await shot(page, '20-offline-inspector');

  await page.getByTestId('go-live').click();
  await expect(page.getByTestId('offline-banner')).toHaveCount(0);
  // Live again: the ring's newest READ (issued while offline) is back.
  await expect(page.locator('[data-testid=timeline] .row', { hasText: `READ(16) LBA ${LBA} ×1` })).not.toHaveCount(0);
});

test('replaying a recorded READ after the data changed shows the difference', async ({ page }) => {
  await openLab(page);
  await io(page, { op: 'write', data: { text: 'as recorded' } });
  await io(page, { op: 'read' });
  // The READ's PDUs alone (as if recorded on another day), from the JSON Lines export with raw bytes.
  const lines = (await (await page.request.get('/api/capture.jsonl')).text()).trim().split('\n');
  const events = lines.slice(1).map((l) => JSON.parse(l) as { type: string; opcode?: number; taskId?: number; scsi?: { lba?: number; opcodeName?: string } });
  const cmd = events.filter((e) => e.type === 'pdu' && e.opcode === IscsiOpcode.ScsiCommand && e.scsi?.opcodeName === 'READ(16)' && e.scsi.lba === LBA).at(-1)!;
  const task = lines.slice(1).filter((_, i) => events[i]!.type === 'pdu' && events[i]!.taskId === cmd.taskId);
  expect(task.length).toBeGreaterThanOrEqual(2);
  const jsonl = [lines[0], ...task].join('\n') + '\n';

  await io(page, { op: 'write', data: { text: 'changed since' } });
  await page.getByRole('tab', { name: 'Capture' }).click();
  await page.getByTestId('upload-input').setInputFiles({ name: 'read-only.jsonl', mimeType: 'application/x-ndjson', buffer: Buffer.from(jsonl) });
  await expect(page.getByTestId('offline-loaded')).toContainText(`${task.length} PDUs`);
  await page.getByTestId('replay-button').click();
  await expect(page.getByTestId('replay-summary')).toHaveText('replayed 1 commands, 1 differences');
  const row = page.locator('[data-testid=replay-results] tr[data-differs=true]');
  await expect(row).toHaveCount(1);
  await expect(row).toContainText(`READ(16) LBA ${LBA}`);
  await expect(row).toContainText(`first difference at byte 0 (LBA ${LBA})`);
  await shot(page, '21-replay-differences');
  // The difference links to its recorded PDUs: the SCSI Command opens in the inspector.
  await row.getByTestId('replay-show-pdu').click();
  await page.getByRole('tab', { name: 'PDU inspector' }).click();
  await expect(page.getByTestId('inspector-opcode')).toHaveText('SCSI Command');
  await page.getByRole('tab', { name: 'Capture' }).click();
  // Mapped explicitly to lab LUN 0 (as a tgt capture naming LUN 1 would need), the replay gives the same answer.
  await page.getByTestId('replay-lun-map').selectOption('0');
  await page.getByTestId('replay-button').click();
  await expect(page.getByTestId('replay-summary')).toHaveText('replayed 1 commands, 1 differences');

  // Put the recorded data back: the same replay now matches.
  await io(page, { op: 'write', data: { text: 'as recorded' } });
  await page.getByTestId('replay-button').click();
  await expect(page.getByTestId('replay-summary')).toHaveText('replayed 1 commands, 0 differences');
  await page.getByTestId('go-live').click();
});

test('a capture bigger than a page is browsed a page at a time', async ({ page }) => {
  await openLab(page);
  // 3 reads of 2048 blocks (1 MiB each): more wire bytes than one page carries (2 MiB).
  for (let i = 0; i < 3; i++) await io(page, { op: 'read', lba: 0, blocks: 2048 });
  const pcapng = await (await page.request.get('/api/capture.pcapng')).body();
  await page.getByRole('tab', { name: 'Capture' }).click();
  await page.getByTestId('upload-input').setInputFiles({ name: 'big.pcapng', mimeType: 'application/octet-stream', buffer: pcapng });
  await expect(page.getByTestId('offline-banner')).toContainText('OFFLINE: big.pcapng');
  const range = page.getByTestId('page-range');
  await expect(range).toHaveText(/^events 1–(\d+) of (\d+)$/);
  const [, to, total] = (await range.innerText()).match(/1–(\d+) of (\d+)/)!.map(Number);
  expect(to).toBeLessThan(total!);
  await expect(page.getByTestId('pdu-count')).toHaveText(String(to));
  await page.getByTestId('page-next').click();
  await expect(range).toHaveText(new RegExp(`^events ${to! + 1}–\\d+ of ${total}$`));
  await page.getByTestId('page-prev').click();
  await expect(range).toHaveText(`events 1–${to} of ${total}`);
  // The upload's service response times: the three 1 MiB READ(16)s among them.
  await page.getByTestId('stats-button').click();
  const readRow = page.locator('[data-testid=stats-table] tr', { hasText: 'READ(16)' });
  await expect(readRow).toBeVisible();
  const allReads = Number(await readRow.locator('td').nth(1).innerText());
  expect(allReads).toBeGreaterThanOrEqual(3);
  // Per session: the sessions' READ(16) calls add up to the whole's.
  const sessions = (await page.getByTestId('stats-session').locator('option').allInnerTexts()).slice(1);
  expect(sessions.length).toBeGreaterThan(0);
  let sum = 0;
  for (const s of sessions) {
    const name = s.replace(/ \(connections? [\d, ]+\)$/, '');
    await page.getByTestId('stats-session').selectOption(name);
    await expect(page.getByTestId('stats-rates')).toContainText(`in session ${name}`);
    const row = page.locator('[data-testid=stats-table] tr', { hasText: 'READ(16)' });
    if (await row.count()) sum += Number(await row.locator('td').nth(1).innerText());
  }
  expect(sum).toBe(allReads);
  await expect(page.getByTestId('stats-csv')).toHaveAttribute('href', /\/api\/capture\/upload\/[0-9a-f-]+\/stats\?format=csv$/);
  await page.getByTestId('go-live').click();
});

test('uploads: not a capture is a 400 with the reason, a JSON Lines trace over 64 MiB is a 413', async ({ request }) => {
  const junk = await request.post('/api/capture/upload?name=notes.txt', { data: Buffer.from('hello, not a capture') });
  expect(junk.status()).toBe(400);
  expect(((await junk.json()) as { error: string }).error).toBe("notes.txt: not a capture: expected pcapng, pcap or this lab's JSON Lines trace");
  const badJsonl = await request.post('/api/capture/upload?name=x.jsonl', { data: Buffer.from('{"type":"header","version":99}\n') });
  expect(badJsonl.status()).toBe(400);
  expect(((await badJsonl.json()) as { error: string }).error).toContain('trace schema version 99');
  const big = await request.post('/api/capture/upload?name=big.jsonl', { data: Buffer.concat([Buffer.from('{'), Buffer.alloc(64 * 1024 * 1024, 0x20)]) });
  expect(big.status()).toBe(413);
  expect(((await big.json()) as { error: string }).error).toBe('a JSON Lines trace is read whole: at most 64 MiB (pcapng has no such limit)');
  const gone = await request.post('/api/replay', { data: { id: 'no-such-upload' } });
  expect(gone.status()).toBe(404);
  // The gateway is still fine afterwards.
  expect((await request.get('/api/status')).ok()).toBe(true);
});
