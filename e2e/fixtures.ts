/**
 * Shared test fixtures: every page is watched for console errors and uncaught exceptions (a test fails if any
 * appear), and helpers to reach the lab that global-setup started and to drive outside initiators.
 */
import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { promisify } from 'node:util';
import { test as base, expect, type Page } from '@playwright/test';

const run = promisify(execFile);

const SCREENSHOTS = 'test-results/screenshots';

/** iscsi://127.0.0.1:PORT/IQN/LUN of the lab under test. */
export function iscsiUrl(lun = 0): string {
  const ready = process.env.ISCSI_LAB_E2E_ISCSI;
  if (!ready) throw new Error('global setup did not start the lab (ISCSI_LAB_E2E_ISCSI unset)');
  return ready.replace(/\/\d+$/, `/${lun}`);
}

export async function qemuIo(command: string, lun = 0): Promise<string> {
  const { stdout } = await run('qemu-io', ['-f', 'raw', '-c', command, iscsiUrl(lun)], { timeout: 30_000 });
  return stdout;
}

export async function shot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: `${SCREENSHOTS}/${name}.png` });
}

/** Text on the xterm screen (DOM renderer rows). */
export async function terminalText(page: Page): Promise<string> {
  return (await page.locator('[data-testid=console] .xterm-rows').innerText()).replace(/\u00a0/g, ' ');
}

export const test = base.extend<{ consoleErrors: string[] }>({
  consoleErrors: [
    async ({ page }, use) => {
      const errors: string[] = [];
      page.on('console', (m) => {
        if (m.type() !== 'error') return;
        errors.push(`console.error: ${m.text()}`);
      });
      page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
      await use(errors);
      expect(errors, 'the page logged errors').toEqual([]);
    },
    { auto: true },
  ],
});

export { expect };

/** Opens the lab and waits until its WebSocket is live. */
export async function openLab(page: Page): Promise<void> {
  await page.goto('/');
  await expect(page.getByTestId('ws-state')).toHaveText(/live/);
}
