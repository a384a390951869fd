/**
 * Starts the lab once for every spec: `iscsi-lab serve` on free loopback ports with a temporary 64 MiB LUN (16 MiB
 * write-back cache), waits for its `ready` line, and hands the URLs to the tests through the environment (workers inherit it). Returns the
 * teardown, which stops the lab (SIGTERM, as a supervisor would) and removes the LUN.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const READY_TIMEOUT_MS = 30_000;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export default async function globalSetup(): Promise<() => Promise<void>> {
  const httpPort = await freePort();
  const iscsiPort = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'iscsi-lab-e2e-'));
  const lun = join(dir, 'lun0.img');
  const child = spawn(
    './bin/iscsi-lab.cjs',
    [
      'serve',
      '--http',
      `127.0.0.1:${httpPort}`,
      '--portal',
      `127.0.0.1:${iscsiPort}`,
      '--lun',
      `${lun}:64M`,
      // A write-back cache without the background timer: dirty blocks stay dirty until a flush or a mode change, so
      // the cache inspector's test sees them deterministically.
      '--cache',
      '16M',
      '--cache-flush-interval',
      '0',
    ],
    {
      cwd: new URL('..', import.meta.url).pathname,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
    if (process.env.ISCSI_LAB_E2E_VERBOSE) process.stderr.write(d);
  });

  const readyUrl = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`iscsi-lab serve printed no ready line in ${READY_TIMEOUT_MS} ms\n${out}${stderr}`)), READY_TIMEOUT_MS);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /^ready (\S+)$/m.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`iscsi-lab serve exited (${code}) before ready\n${out}${stderr}`));
    });
  });

  process.env.ISCSI_LAB_E2E_URL = `http://127.0.0.1:${httpPort}`;
  process.env.ISCSI_LAB_E2E_ISCSI = readyUrl;
  process.env.ISCSI_LAB_E2E_PORTAL = `127.0.0.1:${iscsiPort}`;

  return async () => {
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  };
}
