/**
 * The file-system stage on its own lab (it rewrites the LUN's first 4 MiB): a file written from the page becomes
 * WRITE(16)s of file data and ext2 metadata; the LUN then holds a volume e2fsck passes with the file in it, read
 * back over iSCSI; clicking the file shows its data write in the timeline.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect, shot, test } from './fixtures.ts';
import { startExtraLab } from './lesson-helpers.ts';

const run = promisify(execFile);
const TEXT = 'Stage one: an application wrote this file; stage two: ext2 chose the blocks.';

test('a file becomes data and metadata block writes; the LUN holds a real ext2 volume with it', async ({ page }) => {
  const lab = await startExtraLab([]);
  try {
    await page.setViewportSize({ width: 1440, height: 900 });
    await page.goto(lab.url);
    await expect(page.getByTestId('ws-state')).toHaveText(/live/);
    await page.getByRole('tab', { name: 'File system' }).click();
    await page.getByTestId('fs-name').fill('story.txt');
    await page.getByTestId('fs-text').fill(TEXT);
    await page.getByTestId('fs-write').click();
    const file = page.locator('[data-testid=fs-file][data-name="story.txt"]');
    await expect(file).toBeVisible({ timeout: 30_000 });
    const rows = file.getByTestId('fs-write-row');
    const kinds = await rows.evaluateAll((els) => els.map((e) => e.getAttribute('data-kind')));
    expect(kinds).toEqual(expect.arrayContaining(['file data', 'inode table', 'inode bitmap', 'block bitmap', 'superblock', 'root directory']));
    const dataLba = Number(await file.locator('[data-testid=fs-write-row][data-kind="file data"]').getAttribute('data-lba'));

    // The file's data block holds the text, read back through the target.
    const read = await page.request.post(`${lab.url}/api/io`, { data: { lun: 0, op: 'read', lba: dataLba, blocks: 1 } });
    const hex = ((await read.json()) as { dataHex: string }).dataHex;
    expect(Buffer.from(hex, 'hex').subarray(0, TEXT.length).toString()).toBe(TEXT);

    // The whole volume, copied off the LUN over iSCSI, is ext2 that e2fsck passes, with the file in it.
    const dir = mkdtempSync(join(tmpdir(), 'fs-stage-'));
    const img = join(dir, 'volume.img');
    await run('./bin/iscsi-lab.cjs', ['dd', '--if', `iscsi://${lab.portal}/${lab.iqn}/0`, '--of', img, '--count', '8192'], { timeout: 60_000 });
    await run('e2fsck', ['-fn', img]);
    const { stdout } = await run('debugfs', ['-R', 'cat /story.txt', img]);
    expect(stdout).toBe(TEXT);

    // Clicking the file: the timeline filters on its data LBA and selects that WRITE.
    await file.getByTestId('fs-file-open').click();
    await expect(page.getByTestId('filter-lba')).toHaveValue(String(dataLba));
    await expect(page.locator('[data-testid=timeline] .row[aria-selected="true"]')).toContainText(`WRITE(16) LBA ${dataLba} ×2`);
    await shot(page, '77-fs-stage');
    await page.getByTestId('projector-toggle').check();
    await shot(page, '78-fs-stage-projector');
  } finally {
    await lab.stop();
  }
});
