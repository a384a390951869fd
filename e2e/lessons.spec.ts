/**
 * The lessons, walked to their end in Debian Chromium by doing what each step asks (composer I/O, clicks in the
 * timeline, the inspector, the stepper) against the real target; every check is evaluated on the live trace.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Page } from '@playwright/test';
import { expect, shot, test } from './fixtures.ts';
import { clickField, composerIo, expectStep, passAndNext, selectRow, startExtraLab, stepperTo } from './lesson-helpers.ts';

const run = promisify(execFile);

async function openLesson(page: Page, id: string, base = ''): Promise<void> {
  await page.goto(`${base}/?lesson=${id}`);
  await expect(page.getByTestId('ws-state')).toHaveText(/live/);
  await expectStep(page, id, 1);
}

test('GET /api/lessons lists the lessons and the glossary', async ({ request }) => {
  const res = await request.get('/api/lessons');
  expect(res.ok()).toBe(true);
  const body = (await res.json()) as { lessons: { id: string; title: string; steps: unknown[] }[]; glossary: { term: string }[] };
  expect(body.lessons.length).toBeGreaterThanOrEqual(6);
  expect(body.lessons.map((l) => l.id)).toEqual(expect.arrayContaining(['start-here', 'login-chap', 'write-r2t', 'cache', 'encapsulation-cost']));
  for (const l of body.lessons) expect(l.steps.length, l.id).toBeGreaterThan(2);
  expect(body.glossary.map((g) => g.term)).toEqual(
    expect.arrayContaining(['ITT', 'CmdSN', 'StatSN', 'ExpStatSN', 'R2T', 'DataSN', 'TTT', 'F bit', 'Immediate data', 'Digest']),
  );
});

test('Start here: /?lesson=start-here opens it, progress survives a reload, every step passes on live I/O', async ({ page }) => {
  await page.setViewportSize({ width: 1440, height: 900 });
  await openLesson(page, 'start-here');
  await expect(page.getByTestId('lesson-title')).toHaveText('Start here');
  await shot(page, '60-lesson-start-here');
  await page.getByTestId('projector-toggle').check();
  await shot(page, '60-lesson-start-here-projector');
  await page.getByTestId('projector-toggle').uncheck();
  await page.getByTestId('lesson-next').click();

  // A step does not pass before its action: Next stays disabled.
  await expectStep(page, 'start-here', 2);
  await expect(page.getByTestId('lesson-next')).toBeDisabled();
  await composerIo(page, 'write', 100, 1, { text: 'hello' });
  await passAndNext(page);

  await page.reload();
  await expect(page.getByTestId('ws-state')).toHaveText(/live/);
  await expectStep(page, 'start-here', 3);
  expect(page.url()).toContain('lesson=start-here&step=3');
  await composerIo(page, 'read', 100, 1);
  await passAndNext(page);

  await selectRow(page, 'SCSI Command', 'READ(16) LBA 100 ×1');
  await passAndNext(page);

  await page.getByRole('tab', { name: 'PDU inspector' }).click();
  await clickField(page, 'LOGICAL BLOCK ADDRESS');
  await passAndNext(page);

  await page.getByRole('tab', { name: 'Encapsulation' }).click();
  await stepperTo(page, 'iscsi-back');
  await passAndNext(page);

  await composerIo(page, 'read', 100, 1);
  await expect(page.getByTestId('lesson-check')).toHaveAttribute('data-passed', 'true');
  await expect(page.getByTestId('lesson-check')).toContainText('cache hit');
  await shot(page, '61-lesson-step-done');
  await passAndNext(page);
  await expect(page.getByTestId('lesson-bar')).toHaveCount(0);
  await expect(page.locator('[data-testid=lesson-item][data-lesson=start-here] [data-testid=lesson-done]')).toBeVisible();
  await shot(page, '62-lessons-list');
  await page.getByTestId('projector-toggle').check();
  await shot(page, '62-lessons-list-projector');
});

test('A write with R2T and Data-Out', async ({ page }) => {
  await openLesson(page, 'write-r2t');
  await page.getByTestId('lesson-next').click();
  await composerIo(page, 'write', 4096, 256, { pattern: true });
  await passAndNext(page);
  await selectRow(page, 'R2T', 'WRITE(16)');
  await passAndNext(page);
  await page.getByRole('tab', { name: 'PDU inspector' }).click();
  await clickField(page, 'TargetTransferTag');
  await passAndNext(page);
  await clickField(page, 'BufferOffset');
  await passAndNext(page);
  await selectRow(page, 'SCSI Data-Out');
  await clickField(page, 'DataSN');
  await passAndNext(page);
  await page.getByRole('tab', { name: 'Ladder' }).click();
  await passAndNext(page);
  await expect(page.getByTestId('lesson-bar')).toHaveCount(0);
});

test('Cache: cold, warm, scan, write-back and flush', async ({ page }) => {
  await openLesson(page, 'cache');
  await page.getByTestId('lesson-next').click();
  // Far from every other spec's LBAs: the first read is cold.
  await composerIo(page, 'read', 64_000, 8);
  await passAndNext(page);
  await composerIo(page, 'read', 64_000, 8);
  await passAndNext(page);
  await composerIo(page, 'read', 72_000, 64);
  await composerIo(page, 'read', 72_064, 64);
  await composerIo(page, 'read', 72_128, 64);
  await passAndNext(page);
  await composerIo(page, 'write', 66_000, 8, { text: 'write-back' });
  await passAndNext(page);
  await composerIo(page, 'write', 66_000, 8, { text: 'durable', fua: true });
  await passAndNext(page);
  await expect(page.getByTestId('lesson-bar')).toHaveCount(0);
});

test('What encapsulation costs', async ({ page }) => {
  await openLesson(page, 'encapsulation-cost');
  await page.getByTestId('lesson-next').click();
  await composerIo(page, 'read', 0, 1);
  await passAndNext(page);
  await page.getByTestId('io-step-through').click();
  await stepperTo(page, 'iscsi-back');
  await passAndNext(page);
  await page.getByRole('tab', { name: 'Overhead' }).click();
  await passAndNext(page);
  await composerIo(page, 'read', 0, 2048);
  await passAndNext(page);
  await expect(page.getByTestId('lesson-bar')).toHaveCount(0);
});

test('Counting: ITT, CmdSN, StatSN, DataSN', async ({ page }) => {
  await openLesson(page, 'sequence-numbers');
  await composerIo(page, 'read', 1000, 64);
  await passAndNext(page);
  await selectRow(page, 'SCSI Command', 'READ(16) LBA 1000 ×64');
  await page.getByRole('tab', { name: 'PDU inspector' }).click();
  await clickField(page, 'InitiatorTaskTag');
  await passAndNext(page);
  await clickField(page, 'CmdSN');
  await passAndNext(page);
  await selectRow(page, 'SCSI Data-In', 'READ(16)');
  await clickField(page, 'DataSN');
  await passAndNext(page);
  await clickField(page, 'StatSN');
  await passAndNext(page);
  await page.getByRole('tab', { name: 'Ladder' }).click();
  await passAndNext(page);
  await expect(page.getByTestId('lesson-bar')).toHaveCount(0);
});

test('Login and CHAP, against a lab that asks for CHAP', async ({ page }) => {
  const lab = await startExtraLab(['--chap', 'student:lesson-secret-1']);
  try {
    await openLesson(page, 'login-chap', lab.url);
    await page.getByTestId('lesson-next').click();
    await run('iscsi-inq', [`iscsi://student%lesson-secret-1@${lab.portal}/${lab.iqn}/0`], { timeout: 30_000 });
    await passAndNext(page);
    // The login's PDUs: click Login PDUs (newest first) until the one the step asks for is selected. The page takes
    // trace batches between clicks, so the login's later PDUs may still be on their way: look again until they are.
    const pick = async (opcode: string): Promise<void> => {
      await expect(async () => {
        const rows = page.locator(`[data-testid=timeline] .row[data-opcode="${opcode}"]`);
        for (let i = (await rows.count()) - 1; i >= 0; i--) {
          await rows.nth(i).click();
          if ((await page.getByTestId('lesson-check').getAttribute('data-passed')) === 'true') return;
        }
        throw new Error(`no ${opcode} passes the step`);
      }).toPass({ timeout: 10_000 });
    };
    await pick('Login Request');
    await passAndNext(page);
    await pick('Login Response');
    await passAndNext(page);
    await pick('Login Request');
    await passAndNext(page);
    // The newest Login Request of the operational stage: until it has reached the page (batches wait while the test
    // clicks), the newest match is the security stage's last one (its NSG says Operational too), so look again.
    await expect(async () => {
      await selectRow(page, 'Login Request', 'Operational');
      await page.getByRole('tab', { name: 'PDU inspector' }).click();
      await expect(page.getByTestId('keys')).toContainText('MaxRecvDataSegmentLength', { timeout: 1000 });
    }).toPass({ timeout: 10_000 });
    await clickField(page, 'CSG');
    await passAndNext(page);
    await selectRow(page, 'Login Response', 'FullFeature');
    await clickField(page, 'NSG');
    await shot(page, '63-lesson-login-chap');
    await passAndNext(page);
    await expect(page.getByTestId('lesson-bar')).toHaveCount(0);
  } finally {
    await lab.stop();
  }
});

test("a follower shows the presenter's lesson and step", async ({ page, browser }) => {
  await openLesson(page, 'cache');
  await page.getByTestId('lesson-next').click();
  await expectStep(page, 'cache', 2);
  const ctx = await browser.newContext();
  const viewer = await ctx.newPage();
  await viewer.goto('/');
  await expect(viewer.getByTestId('ws-state')).toHaveText(/live/);
  await viewer.getByTestId('follow-toggle').check();
  await page.getByTestId('present-toggle').check();
  await expectStep(viewer, 'cache', 2);
  await expect(viewer.getByTestId('lesson-instruction')).toContainText('Cold read');
  await page.getByTestId('lesson-back').click();
  await expectStep(viewer, 'cache', 1);
  await page.getByTestId('lesson-next').click();
  await expectStep(viewer, 'cache', 2);
  await shot(viewer, '64-lesson-follower');
  await page.getByTestId('present-toggle').uncheck();
  await ctx.close();
});
