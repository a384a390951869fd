/**
 * Step mode: the gateway's initiator and the target really hold one I/O between stages until Next is pressed
 * (server/taps/step-gate.ts). Checked through the API and the trace, not only the page.
 */
import type { APIRequestContext } from '@playwright/test';
import { expect, openLab, shot, test } from './fixtures.ts';
import { IscsiOpcode } from '../shared/protocol/iscsi-opcodes.ts';

const LBA = 300;

interface JsonlPdu {
  type: string;
  opcode?: number;
  taskId?: number;
  scsi?: { opcodeName?: string; lba?: number };
}

/** The trace's WRITE(16) commands at LBA. */
async function writes(request: APIRequestContext): Promise<{ events: JsonlPdu[]; commands: JsonlPdu[] }> {
  const events = (await (await request.get('/api/capture.jsonl')).text())
    .trim()
    .split('\n')
    .slice(1)
    .map((l) => JSON.parse(l) as JsonlPdu);
  return {
    events,
    commands: events.filter((e) => e.type === 'pdu' && e.opcode === IscsiOpcode.ScsiCommand && e.scsi?.opcodeName === 'WRITE(16)' && e.scsi.lba === LBA),
  };
}

/** Opcodes of the PDUs of the nth WRITE(16) at LBA the trace holds ([] while there is none). */
async function pdusOfWrite(request: APIRequestContext, nth: number): Promise<number[]> {
  const { events, commands } = await writes(request);
  const cmd = commands[nth];
  if (!cmd) return [];
  return events.filter((e) => e.type === 'pdu' && e.taskId === cmd.taskId).map((e) => e.opcode!);
}

async function readText(request: APIRequestContext): Promise<string> {
  const r = (await (await request.post('/api/io', { data: { lun: 0, op: 'read', lba: LBA, blocks: 1 } })).json()) as { dataHex: string };
  return Buffer.from(r.dataHex, 'hex').toString('utf8').replace(/\0+$/, '');
}

test('a stepped WRITE waits at each stage until Next, in every open browser', async ({ page, browser, request }) => {
  await request.post('/api/io', { data: { lun: 0, op: 'write', lba: LBA, blocks: 1, data: { text: 'before stepping' } } });
  const nth = (await writes(request)).commands.length;
  await openLab(page);
  const other = await browser.newPage();
  await openLab(other);

  await page.getByTestId('io-op-write').check();
  await page.getByTestId('io-lba').fill(String(LBA));
  await page.getByTestId('io-blocks').fill('1');
  await page.getByTestId('io-mode-text').check();
  await page.getByTestId('io-text').fill('stepped write');
  await page.getByTestId('io-step').check();
  await page.getByTestId('io-run').click();

  const stage = page.getByTestId('step-stage');
  await expect(stage).toHaveAttribute('data-stage', 'initiator-send');
  await expect(other.getByTestId('step-stage')).toHaveAttribute('data-stage', 'initiator-send');
  expect(((await (await request.get('/api/step')).json()) as { stage: string }).stage).toBe('initiator-send');
  // Held for real: well after the click, the I/O has no result and the target has not seen the command.
  await page.waitForTimeout(1500);
  await expect(page.getByTestId('io-run')).toHaveText(/Stepping/);
  expect(await pdusOfWrite(request, nth)).toEqual([]);
  expect(await readText(request)).toBe('before stepping');

  await page.getByTestId('step-next').click();
  await expect(stage).toHaveAttribute('data-stage', 'target-received');
  await expect(stage).toContainText(/ITT 0x[0-9a-f]{8}/);
  expect(await pdusOfWrite(request, nth)).toContain(0x01); // the SCSI Command is on the wire now
  expect(await readText(request)).toBe('before stepping'); // ...but not executed

  await page.getByTestId('step-next').click();
  await expect(stage).toHaveAttribute('data-stage', 'store-access');
  await expect(stage).toContainText(/cache \(\w+, write-back\): \d+ of 1 cache blocks/);
  await expect(other.getByTestId('step-stage')).toHaveAttribute('data-stage', 'store-access');
  await shot(page, '30-step-mode-store');
  expect(await readText(request)).toBe('before stepping');

  // Next lets it execute; the target then holds the response: the data is written, no SCSI Response yet.
  await other.getByTestId('step-next').click(); // any browser may press Next
  await expect(stage).toHaveAttribute('data-stage', 'target-respond');
  expect(await readText(request)).toBe('stepped write');
  expect(await pdusOfWrite(request, nth)).not.toContain(0x21);

  await page.getByTestId('step-next').click();
  await expect(stage).toHaveAttribute('data-stage', 'initiator-receive');
  await expect.poll(() => pdusOfWrite(request, nth)).toContain(0x21);
  await expect(page.getByTestId('io-run')).toHaveText(/Stepping/);
  await expect(page.getByTestId('io-status')).toHaveCount(0);

  await page.getByTestId('step-next').click();
  await expect(page.getByTestId('io-status')).toHaveText('GOOD');
  await expect(page.getByTestId('step-result')).toHaveText('done: GOOD');
  await expect(other.getByTestId('step-result')).toHaveText('done: GOOD');
  expect(((await (await request.get('/api/step')).json()) as { passed: string[] }).passed).toEqual([
    'initiator-send',
    'target-received',
    'store-access',
    'target-respond',
    'initiator-receive',
  ]);
  await shot(page, '31-step-mode-done');
  // The same I/O in the encapsulation stepper, from the trace: its WRITE(16) at this LBA.
  await page.getByTestId('step-layers').click();
  await expect(page.getByTestId('stepper-task')).toHaveValue(/\d+/);
  await expect(page.getByTestId('stepper-task').locator('option:checked')).toContainText(`WRITE(16) LBA ${LBA} ×1`);
  await page.getByTestId('step-dismiss').click();
  await expect(page.getByTestId('step-bar')).toHaveCount(0);
  await other.close();
});

test('a step nobody continues times out and the I/O completes; a second stepped I/O meanwhile is refused', async ({ request }) => {
  const started = Date.now();
  const pending = request.post('/api/io', { data: { lun: 0, op: 'read', lba: LBA, blocks: 1, step: true, stepTimeoutMs: 1500 } });
  await expect.poll(async () => ((await (await request.get('/api/step')).json()) as { stage?: string }).stage).toBe('initiator-send');
  const busy = await request.post('/api/io', { data: { lun: 0, op: 'read', lba: 0, blocks: 1, step: true } });
  expect(busy.status()).toBe(409);
  expect(((await busy.json()) as { error: string }).error).toContain('a stepped I/O is already in progress');
  // I/O without step mode is not held meanwhile.
  expect(await readText(request)).toBe('stepped write');
  const r = (await (await pending).json()) as { ok: boolean; stepped: { timedOut: boolean; passed: string[] } };
  const tookMs = Date.now() - started;
  expect(r.ok).toBe(true);
  expect(r.stepped.timedOut).toBe(true);
  expect(r.stepped.passed).toEqual(['initiator-send']);
  expect(tookMs).toBeGreaterThanOrEqual(1400);
  test.info().annotations.push({ type: 'timed-out stepped I/O answered after', description: `${tookMs} ms` });
  const next = await request.post('/api/step', { data: { action: 'next' } });
  expect(next.status()).toBe(409);
});
