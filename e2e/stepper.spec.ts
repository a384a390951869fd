/**
 * The encapsulation stepper on ordinary I/O (no step mode) against the lab's 16 MiB block cache: the cache and store
 * steps are filled from the store event joined to the task by identity, and the TCP/IP numbers it shows are those
 * tshark reports for the same I/O in /api/capture.pcapng.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Page } from '@playwright/test';
import { expect, openLab, shot, test } from './fixtures.ts';

const run = promisify(execFile);

/** Runs one READ from the composer and opens it in the stepper. */
async function composerRead(page: Page, lba: number, blocks: number): Promise<void> {
  await page.getByRole('tab', { name: 'I/O composer' }).click();
  await page.getByTestId('io-op-read').check();
  await page.getByTestId('io-lba').fill(String(lba));
  await page.getByTestId('io-blocks').fill(String(blocks));
  await page.getByTestId('io-run').click();
  await expect(page.getByTestId('io-status')).toHaveText('GOOD');
  await page.getByTestId('io-step-through').click();
  await expect(page.getByTestId('stepper-task').locator('option:checked')).toContainText(`READ(16) LBA ${lba} ×${blocks}`);
}

async function openStage(page: Page, id: string): Promise<void> {
  await page.getByTestId('stepper-stages').locator(`button[data-stage="${id}"]`).click();
  await expect(page.getByTestId('stepper-stage')).toHaveAttribute('data-stage', id);
}

test("a cached READ twice: the stepper's cache step says miss, then hit, with the store step filled", async ({ page }) => {
  await openLab(page);
  // 4 KiB-aligned, far from what other specs touch: the first read must miss.
  const lba = 120_000;
  await composerRead(page, lba, 8);
  await openStage(page, 'cache');
  const stage = page.getByTestId('stepper-stage');
  await expect(stage).toContainText(`LBA ${lba}+8: miss`);
  await expect(stage).not.toContainText('No store call');
  await openStage(page, 'store');
  await expect(stage).toContainText('read with pread');
  await expect(page.getByTestId('stage-time')).toHaveText(/\d+(\.\d+)? (ns|µs|ms)/);
  await shot(page, '40-stepper-cache-miss');

  await composerRead(page, lba, 8);
  await openStage(page, 'cache');
  await expect(stage).toContainText(`LBA ${lba}+8: hit`);
  await openStage(page, 'store');
  await expect(stage).toContainText('held every block: the file was not read');
  await expect(page.getByTestId('stage-time')).toHaveText(/\d+(\.\d+)? (ns|µs|ms)/);
  await shot(page, '41-stepper-cache-hit');
});

interface Trip {
  segments: number;
  tcpPayload: number;
  frameBytes: number;
  srcPort: number;
  dstPort: number;
}

async function tripOnScreen(page: Page, stage: string): Promise<Trip> {
  await openStage(page, stage);
  const t = page.getByTestId('stepper-trip');
  const n = async (a: string) => Number(await t.getAttribute(`data-${a}`));
  return {
    segments: await n('segments'),
    tcpPayload: await n('tcp-payload'),
    frameBytes: await n('frame-bytes'),
    srcPort: await n('src-port'),
    dstPort: await n('dst-port'),
  };
}

for (const op of ['read', 'write'] as const) {
  test(`the stepper's TCP/IP numbers for a ${op.toUpperCase()} are the ones tshark reports for it in /api/capture.pcapng`, async ({ page }) => {
    await openLab(page);
    const lba = op === 'read' ? 100_000 : 101_000;
    // READ: 8 KiB of Data-In, several 1460-byte segments back. WRITE: 128 KiB out, past the
    // 64 KiB first burst, so the target asks for the rest with an R2T (back) and Data-Out follows (out).
    const blocks = op === 'read' ? 16 : 256;
    if (op === 'read') await composerRead(page, lba, blocks);
    else {
      expect((await page.request.post('/api/io', { data: { lun: 0, op, lba, blocks, data: { pattern: 0x6b } } })).ok()).toBe(true);
      await page.getByRole('tab', { name: 'Encapsulation' }).click();
      const option = page
        .getByTestId('stepper-task')
        .locator('option', { hasText: `WRITE(16) LBA ${lba} ×${blocks}` })
        .first();
      await expect(option).toBeAttached();
      await page.getByTestId('stepper-task').selectOption((await option.getAttribute('value'))!);
    }
    const out = await tripOnScreen(page, 'tcp-out');
    await expect(page.getByTestId('framing-model')).toContainText('MSS 1460');
    await expect(page.getByTestId('framing-model')).toContainText('target port 3260');
    const back = await tripOnScreen(page, 'net-back');
    await shot(page, `42-stepper-wire-back-${op}`);

    const dir = mkdtempSync(join(tmpdir(), 'stepper-pcap-'));
    const file = join(dir, 'capture.pcapng');
    writeFileSync(file, await (await page.request.get('/api/capture.pcapng')).body());
    const fields = [
      'frame.number',
      'tcp.srcport',
      'tcp.dstport',
      'tcp.len',
      'frame.len',
      'iscsi.initiatortasktag',
      'iscsi.opcode',
      'scsi_sbc.rdwr16.lba',
      'tcp.segment',
    ];
    const { stdout } = await run('tshark', ['-r', file, '-T', 'fields', '-E', 'separator=/t', '-E', 'aggregator=;', ...fields.flatMap((f) => ['-e', f])], {
      maxBuffer: 256 * 1024 * 1024,
    });
    const rows = stdout
      .trim()
      .split('\n')
      .map((l) => l.split('\t'));
    const frames = new Map(rows.map((r) => [r[0]!, r]));
    // The I/O's SCSI Command (the newest at our LBA; tshark 4.0 prints the READ(16)/WRITE(16) LBA in hex, without
    // 0x), then every PDU with its ITT.
    const cmd = rows.filter((r) => r[7] && Number.parseInt(r[7], 16) === lba && r[6]!.split(';').includes('0x01')).at(-1);
    expect(cmd, `tshark found no ${op.toUpperCase()}(16) at LBA ${lba}`).toBeDefined();
    const itt = cmd![5]!.split(';')[0]!;
    const pduFrames = rows.filter((r) => r[5]!.split(';').includes(itt));
    // Each PDU's frames: the segments tshark reassembled it from, or the one frame that held it.
    const segments = new Set<string>();
    for (const r of pduFrames) for (const n of r[8] ? r[8].split(';') : [r[0]!]) segments.add(n);
    const measured = (toTarget: boolean): Trip => {
      const segs = [...segments].map((n) => frames.get(n)!).filter((r) => (Number(r[2]) === 3260) === toTarget);
      return {
        segments: segs.length,
        tcpPayload: segs.reduce((a, r) => a + Number(r[3]), 0),
        frameBytes: segs.reduce((a, r) => a + Number(r[4]), 0),
        srcPort: Number(segs[0]![1]),
        dstPort: Number(segs[0]![2]),
      };
    };
    test.info().annotations.push({ type: `${op} trips (stepper = tshark)`, description: `out ${JSON.stringify(out)}, back ${JSON.stringify(back)}` });
    expect(out).toEqual(measured(true));
    expect(back).toEqual(measured(false));
    // The data's direction spans several 1460-byte segments: the model's numbers are not trivially 1.
    const data = op === 'read' ? back : out;
    expect(data.segments).toBeGreaterThanOrEqual(Math.ceil((blocks * 512) / 1460));
    expect(out.dstPort).toBe(3260);
    if (op === 'write') expect(back.segments, 'R2T and SCSI Response').toBeGreaterThanOrEqual(2);
  });
}
