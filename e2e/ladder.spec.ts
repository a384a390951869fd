/**
 * The ladder diagram of a 1 MiB WRITE made by the lab's TypeScript initiator offering InitialR2T=Yes and
 * ImmediateData=No: the SCSI Command carries no data, the target asks for every byte with R2Ts of MaxBurstLength,
 * each answered by Data-Out at the R2T's offsets, then the SCSI Response. Clicking an arrow opens that PDU in the
 * inspector; Export SVG saves the picture.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect, iscsiUrl, openLab, shot, test } from './fixtures.ts';

const run = promisify(execFile);
const LBA = 40_960;
const BYTES = 1024 * 1024;

test('ladder of a 1 MiB WRITE with InitialR2T=Yes: SCSI Command, R2Ts, Data-Outs at the R2T offsets, SCSI Response', async ({ page }) => {
  const dir = mkdtempSync(join(tmpdir(), 'ladder-'));
  const file = join(dir, 'mib.bin');
  writeFileSync(file, Buffer.alloc(BYTES, 0x4c));
  await openLab(page);
  await run('./bin/iscsi-lab.cjs', ['write', iscsiUrl(), '--lba', String(LBA), '--file', file, '--initial-r2t', '--no-immediate-data'], { timeout: 60_000 });

  await page.getByRole('tab', { name: 'Ladder' }).click();
  const task = page.getByTestId('ladder-task');
  const option = task.locator('option', { hasText: `WRITE(16) LBA ${LBA} ×2048` }).first();
  await expect(option).toBeAttached();
  await task.selectOption((await option.getAttribute('value'))!);

  const arrows = page.getByTestId('ladder-arrow');
  await expect(arrows.last()).toHaveAttribute('data-name', 'SCSI Response');
  const rows = await arrows.evaluateAll((els) =>
    els.map((e) => ({ name: e.getAttribute('data-name')!, range: e.getAttribute('data-range')!, text: e.textContent ?? '' })),
  );
  expect(rows[0]!.name).toBe('SCSI Command');
  expect(rows[0]!.text).toContain(`WRITE(16) LBA ${LBA} ×2048`);
  // ImmediateData=No: the command carries no data segment.
  expect(rows[0]!.range).toBe('');
  expect(rows.at(-1)!.text).toContain('GOOD');

  const r2ts = rows.filter((r) => r.name === 'R2T');
  const dataOuts = rows.filter((r) => r.name === 'SCSI Data-Out');
  expect(r2ts.length).toBeGreaterThanOrEqual(1);
  expect(dataOuts.length).toBeGreaterThanOrEqual(r2ts.length);
  const parse = (range: string): [number, number] => {
    const m = /^offset (\d+) len (\d+)$/.exec(range);
    expect(m, range).not.toBeNull();
    return [Number(m![1]), Number(m![2])];
  };
  // The R2Ts ask for the whole 1 MiB, back to back from offset 0 (with InitialR2T=No the first 64 KiB would have
  // gone unsolicited and the first R2T would start at 65536).
  let want = 0;
  for (const r of r2ts) {
    const [off, len] = parse(r.range);
    expect(off).toBe(want);
    want += len;
  }
  expect(want).toBe(BYTES);
  // The Data-Outs deliver exactly those bytes, in order, each after the R2T it answers.
  let sent = 0;
  let seenR2t = 0;
  for (const r of rows) {
    if (r.name === 'R2T') seenR2t += parse(r.range)[1];
    if (r.name !== 'SCSI Data-Out') continue;
    const [off, len] = parse(r.range);
    expect(off).toBe(sent);
    sent += len;
    expect(sent, 'no Data-Out before its R2T').toBeLessThanOrEqual(seenR2t);
  }
  expect(sent).toBe(BYTES);
  test.info().annotations.push({ type: 'ladder', description: rows.map((r) => `${r.name}${r.range ? ` ${r.range}` : ''}`).join(' | ') });
  await page.setViewportSize({ width: 1440, height: 900 });
  await shot(page, '70-ladder-1mib-write-initial-r2t');

  // Export: an SVG file with the same arrows.
  const download = page.waitForEvent('download');
  await page.getByTestId('ladder-export').click();
  const saved = join(dir, 'ladder.svg');
  await (await download).saveAs(saved);
  const svg = readFileSync(saved, 'utf8');
  expect(svg).toContain('<svg');
  expect(svg).toContain('xmlns="http://www.w3.org/2000/svg"');
  expect(svg.match(/>R2T</g)?.length ?? 0).toBe(r2ts.length);

  // Click the first R2T: the inspector opens on it.
  await arrows
    .filter({ has: page.locator('text', { hasText: /^R2T/ }) })
    .first()
    .click();
  await expect(page.getByRole('tab', { name: 'PDU inspector' })).toHaveAttribute('aria-selected', 'true');
  await expect(page.getByTestId('inspector-opcode')).toHaveText('R2T');

  // Projector mode.
  await page.getByRole('tab', { name: 'Ladder' }).click();
  await page.getByTestId('projector-toggle').check();
  await shot(page, '71-ladder-projector');
});
