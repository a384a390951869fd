import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, freePort } from './target.ts';

/** One `iscsi-lab serve` child on free ports, as users start it. */
export interface Serve {
  proc: ChildProcess;
  http: number;
  port: number;
  labUrl: string;
  dir: string;
  out(): string;
  /** SIGTERM, the exit code, the temporary folder removed. */
  stop(): Promise<number | null>;
}

/**
 * `extra` flags may say `$DIR` for the serve's temporary folder (its cwd). A port taken between the check and the
 * bind (other test runs on this machine) is retried on fresh ports.
 */
export async function startServe(httpHost: string, extra: string[]): Promise<Serve> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startServeOnce(httpHost, extra);
    } catch (err) {
      if (attempt >= 3 || !/EADDRINUSE/.test(String(err))) throw err;
    }
  }
}

async function startServeOnce(httpHost: string, extra: string[]): Promise<Serve> {
  const dir = mkdtempSync(join(tmpdir(), 'iscsi-lab-serve-'));
  const http = await freePort();
  const port = await freePort();
  const proc = spawn(CLI, ['serve', '--http', `${httpHost}:${http}`, '--portal', `127.0.0.1:${port}`, ...extra.map((a) => a.replace('$DIR', dir))], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`serve did not start: ${out}`)), 20_000);
    proc.once('exit', (code) => {
      clearTimeout(t);
      rmSync(dir, { recursive: true, force: true });
      reject(new Error(`serve exited ${code}: ${out}`));
    });
    proc.stdout!.on('data', () => {
      if (/^ready /m.test(out)) {
        clearTimeout(t);
        resolve();
      }
    });
  });
  return {
    proc,
    http,
    port,
    dir,
    labUrl: /^lab (\S+)$/m.exec(out)![1]!,
    out: () => out,
    async stop() {
      const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
      proc.kill('SIGTERM');
      const code = await exited;
      rmSync(dir, { recursive: true, force: true });
      return code;
    },
  };
}

export interface RawResponse {
  status: number;
  body: string;
  headers: Record<string, unknown>;
}

/** One HTTP request sent exactly as given (path unnormalised, any Host, Origin or content type). */
export function rawRequest(port: number, method: string, path: string, headers: Record<string, string> = {}, body?: string | Buffer): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers }, (res) => {
      let text = '';
      res
        .setEncoding('utf8')
        .on('data', (d: string) => (text += d))
        .on('end', () => resolve({ status: res.statusCode ?? 0, body: text, headers: res.headers }));
    });
    req.on('error', reject);
    req.end(body);
  });
}
