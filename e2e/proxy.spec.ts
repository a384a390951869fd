/**
 * The UI in front of `iscsi-lab proxy --http`: Debian's tgt behind the proxy, iscsi-inq through it, and the page
 * shows the relayed PDUs and says its source is the proxy; the lab under test says its source is its own target.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, openLab, shot, test } from './fixtures.ts';
import { startTgt, type Tgt } from '../test/helpers/tgt.ts';
import { CLI, freePort } from '../test/helpers/target.ts';
import { explain, run } from '../test/helpers/exec.ts';

let dir: string;
let tgt: Tgt;
let proxy: ChildProcess;
let proxyPort: number;
let labUrl: string;

test.beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'iscsi-lab-e2e-proxy-'));
  tgt = await startTgt(dir);
  proxyPort = await freePort();
  const http = await freePort();
  proxy = spawn(CLI, ['proxy', '--listen', `127.0.0.1:${proxyPort}`, '--target', `127.0.0.1:${tgt.port}`, '--http', `127.0.0.1:${http}`], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proxy.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`proxy did not start: ${out}`)), 30_000);
    proxy.stdout!.on('data', () => {
      if (/^ready proxy /m.test(out)) {
        clearTimeout(t);
        resolve();
      }
    });
  });
  labUrl = `http://127.0.0.1:${http}/`;
});

test.afterAll(async () => {
  if (proxy && proxy.exitCode === null) {
    const exited = new Promise((r) => proxy.once('exit', r));
    proxy.kill('SIGTERM');
    await exited;
  }
  await tgt?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('the lab under test shows its own target as the source', async ({ page }) => {
  await openLab(page);
  await expect(page.getByTestId('trace-source')).toHaveText('own target');
});

test('behind iscsi-lab proxy --http the timeline shows the relayed PDUs and names the proxy as source', async ({ page }) => {
  await page.goto(labUrl);
  await expect(page.getByTestId('ws-state')).toHaveText(/live/);
  await expect(page.getByTestId('trace-source')).toHaveText(`proxy 127.0.0.1:${proxyPort} → 127.0.0.1:${tgt.port}`);
  const r = await run('iscsi-inq', [`iscsi://127.0.0.1:${proxyPort}/${tgt.iqn}/1`]);
  expect(r.code, explain(r)).toBe(0);
  await expect(page.locator('[data-testid=timeline] .row[data-opcode="SCSI Command"]', { hasText: 'INQUIRY' }).first()).toBeVisible();
  await expect(page.locator('[data-testid=timeline] .row[data-opcode="Login Response"]').first()).toBeVisible();
  await shot(page, '30-proxy-timeline');
});
