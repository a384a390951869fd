// `iscsi-lab serve` (target + gateway) as a child process, for tests that need the gateway in its own process.
import { spawn, type ChildProcess } from 'node:child_process';
import { CLI, freePort } from './target.ts';

export interface Serve {
  readonly proc: ChildProcess;
  /** http://127.0.0.1:PORT */
  readonly base: string;
  readonly port: number;
  readonly iqn: string;
  url(lun?: number): string;
  /** SIGTERM, resolves with the exit code. */
  stop(): Promise<number | null>;
}

export const SERVE_IQN = 'iqn.2026-11.org.iscsi-lab:lab';

export async function startServe(cwd: string, args: string[]): Promise<Serve> {
  const http = await freePort();
  const port = await freePort();
  const proc = spawn(CLI, ['serve', '--http', `127.0.0.1:${http}`, '--portal', `127.0.0.1:${port}`, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`serve did not start: ${out}`)), 30_000);
    proc.once('exit', (code) => reject(new Error(`serve exited ${code}: ${out}`)));
    proc.stdout!.on('data', () => {
      if (/^ready /m.test(out)) {
        clearTimeout(t);
        resolve();
      }
    });
  });
  return {
    proc, base: `http://127.0.0.1:${http}`, port, iqn: SERVE_IQN,
    url: (lun = 0) => `iscsi://127.0.0.1:${port}/${SERVE_IQN}/${lun}`,
    stop: () =>
      new Promise((resolve) => {
        if (proc.exitCode !== null) return resolve(proc.exitCode);
        proc.once('exit', (code) => resolve(code));
        proc.kill('SIGTERM');
      }),
  };
}
