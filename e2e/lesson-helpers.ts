/** Doing what lesson steps ask, the way a student would: the composer, the timeline, the inspector, the stepper. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from '@playwright/test';
import { expect } from './fixtures.ts';
import { freePort } from '../test/helpers/target.ts';

export async function composerIo(
  page: Page,
  op: 'read' | 'write',
  lba: number,
  blocks: number,
  opts: { text?: string; pattern?: boolean; fua?: boolean } = {},
): Promise<void> {
  await page.getByRole('tab', { name: 'I/O composer' }).click();
  await page.getByTestId(`io-op-${op}`).check();
  await page.getByTestId('io-lba').fill(String(lba));
  await page.getByTestId('io-blocks').fill(String(blocks));
  const fua = page.getByTestId('io-fua');
  if ((await fua.isChecked()) !== (opts.fua ?? false)) await fua.click();
  if (op === 'write') {
    if (opts.pattern) await page.getByTestId('io-mode-pattern').check();
    else {
      await page.getByTestId('io-mode-text').check();
      await page.getByTestId('io-text').fill(opts.text ?? 'lesson');
    }
  }
  await page.getByTestId('io-run').click();
  await expect(page.getByTestId('io-status')).toHaveText('GOOD');
}

/** The step's check passed (the bar says so), then Next. */
export async function passAndNext(page: Page): Promise<void> {
  await expect(page.getByTestId('lesson-check')).toHaveAttribute('data-passed', 'true');
  await page.getByTestId('lesson-next').click();
}

export async function expectStep(page: Page, lesson: string, step: number): Promise<void> {
  await expect(page.getByTestId('lesson-bar')).toHaveAttribute('data-lesson', lesson);
  await expect(page.getByTestId('lesson-bar')).toHaveAttribute('data-step', String(step));
}

/** Clicks a timeline row of this opcode whose text has `text` (the newest). */
export async function selectRow(page: Page, opcodeName: string, text?: string): Promise<void> {
  const rows = page.locator(`[data-testid=timeline] .row[data-opcode="${opcodeName}"]`, text ? { hasText: text } : {});
  await rows.last().click();
}

/** Clicks the field of that name in the inspector's tree. */
export async function clickField(page: Page, name: string): Promise<void> {
  await expect(page.getByTestId('inspector-opcode')).toBeVisible();
  await page.locator(`[data-testid=field-tree] .frow[data-field="${name}"]`).first().click();
}

/** Walks the stepper forward until it shows `stage`. */
export async function stepperTo(page: Page, stage: string): Promise<void> {
  for (let i = 0; i < 20; i++) {
    if ((await page.getByTestId('stepper-stage').getAttribute('data-stage')) === stage) return;
    await page.getByTestId('stepper-next').click();
  }
  throw new Error(`the stepper never reached stage ${stage}`);
}

interface ExtraLab {
  url: string;
  portal: string;
  iqn: string;
  stop(): Promise<void>;
}

/** A second lab with its own flags (e.g. --chap), on free ports, for the lessons the shared lab cannot show. */
export async function startExtraLab(flags: string[]): Promise<ExtraLab> {
  const http = await freePort();
  const iscsi = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'iscsi-lab-lesson-'));
  const child: ChildProcess = spawn(
    './bin/iscsi-lab.cjs',
    ['serve', '--http', `127.0.0.1:${http}`, '--portal', `127.0.0.1:${iscsi}`, '--lun', `${join(dir, 'lun0.img')}:16M`, '--cache', '4M', ...flags],
    {
      cwd: new URL('..', import.meta.url).pathname,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const ready = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`extra lab not ready in 30 s: ${out}`)), 30_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /^ready (\S+)$/m.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once('exit', (code) => reject(new Error(`extra lab exited (${code}): ${out}`)));
  });
  const iqn = /^iscsi:\/\/[^/]+\/([^/]+)\//.exec(ready)![1]!;
  return {
    url: `http://127.0.0.1:${http}`,
    portal: `127.0.0.1:${iscsi}`,
    iqn,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
