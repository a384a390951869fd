/**
 * The overhead meter: the real PDUs of a READ broken down by layer, with frame bytes equal to what tshark counts for
 * the same I/O in /api/capture.pcapng and to the chart's model for that size; the chart over sizes and MTUs; a
 * measured CPU time per I/O.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Page } from '@playwright/test';
import { expect, openLab, shot, test } from './fixtures.ts';
import { composerIo } from './lesson-helpers.ts';

const run = promisify(execFile);

/** Frame bytes tshark counts for the task whose SCSI Command is the newest READ(16) at `lba`. */
async function tsharkFrameBytes(page: Page, lba: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'overhead-'));
  const file = join(dir, 'capture.pcapng');
  writeFileSync(file, await (await page.request.get('/api/capture.pcapng')).body());
  const fields = ['frame.number', 'frame.len', 'iscsi.initiatortasktag', 'iscsi.opcode', 'scsi_sbc.rdwr16.lba', 'tcp.segment', 'tcp.srcport', 'tcp.dstport'];
  const { stdout } = await run('tshark', ['-r', file, '-T', 'fields', '-E', 'separator=/t', '-E', 'aggregator=;', ...fields.flatMap((f) => ['-e', f])], {
    maxBuffer: 256 * 1024 * 1024,
  });
  const rows = stdout
    .trim()
    .split('\n')
    .map((l) => l.split('\t'));
  const byNumber = new Map(rows.map((r) => [r[0]!, r]));
  const cmd = rows.filter((r) => r[4] && Number.parseInt(r[4], 16) === lba && r[3]!.split(';').includes('0x01')).at(-1);
  expect(cmd, `tshark found no READ(16) at LBA ${lba}`).toBeDefined();
  const itt = cmd![2]!.split(';')[0]!;
  // The frames of every PDU with that ITT on that TCP stream (reassembled PDUs list their segments).
  const port = (r: string[]) => (r[6] === '3260' ? r[7] : r[6]);
  const frames = new Set<string>();
  for (const r of rows) if (r[2]!.split(';').includes(itt) && port(r) === port(cmd!)) for (const n of r[5] ? r[5].split(';') : [r[0]!]) frames.add(n);
  return [...frames].reduce((a, n) => a + Number(byNumber.get(n)![1]), 0);
}

test("overhead of a real READ: the bytes tshark counts, the model's, and more data per frame with a bigger I/O or MTU", async ({ page }) => {
  await openLab(page);
  await composerIo(page, 'read', 90_000, 1);
  await page.getByRole('tab', { name: 'Overhead' }).click();
  const real = page.getByTestId('overhead-real');
  await expect(page.getByTestId('overhead-io')).toHaveText('READ(16) LBA 90000 ×1');
  await expect(real).toHaveAttribute('data-payload', '512');
  const small = Number(await real.getAttribute('data-frame-bytes'));
  expect(small).toBe(await tsharkFrameBytes(page, 90_000));
  const cell = (size: number, mtu: number) => page.locator(`[data-testid=overhead-model-cell][data-size="${size}"][data-mtu="${mtu}"]`);
  await expect(cell(512, 1500)).toHaveAttribute('data-frame-bytes', String(small));
  const smallEff = Number(await real.getAttribute('data-efficiency'));
  expect(smallEff).toBeGreaterThan(0.5);
  expect(smallEff).toBeLessThan(0.8);

  await composerIo(page, 'read', 90_000, 2048);
  await page.getByRole('tab', { name: 'Overhead' }).click();
  await expect(page.getByTestId('overhead-io')).toHaveText('READ(16) LBA 90000 ×2048');
  await expect(real).toHaveAttribute('data-payload', String(1024 * 1024));
  const big = Number(await real.getAttribute('data-frame-bytes'));
  expect(big).toBe(await tsharkFrameBytes(page, 90_000));
  await expect(cell(1024 * 1024, 1500)).toHaveAttribute('data-frame-bytes', String(big));
  expect(Number(await real.getAttribute('data-efficiency'))).toBeGreaterThan(smallEff);

  // The model: efficiency grows with the I/O size, and jumbo frames beat 1500 at every size above one frame.
  const eff = async (size: number, mtu: number) => Number(await cell(size, mtu).getAttribute('data-efficiency'));
  let prev = 0;
  for (let size = 512; size <= 1024 * 1024; size *= 2) {
    const e = await eff(size, 1500);
    expect(e).toBeGreaterThan(prev);
    prev = e;
    if (size >= 2048) expect(await eff(size, 9000)).toBeGreaterThan(e);
  }

  await page.getByTestId('overhead-cpu-run').click();
  await expect(page.getByTestId('overhead-cpu')).toBeVisible({ timeout: 30_000 });
  expect(Number(await page.getByTestId('overhead-cpu').getAttribute('data-us'))).toBeGreaterThan(0);
  await page.setViewportSize({ width: 1440, height: 900 });
  await shot(page, '75-overhead');
  await page.getByTestId('projector-toggle').check();
  await shot(page, '76-overhead-projector');
});
