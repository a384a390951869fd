// Runs outside tools (iscsi-ls, qemu-img, ...) and reports what they did without throwing, so tests can assert on
// exit codes and output alike.
import { execFile, execFileSync } from 'node:child_process';

interface RunResult {
  /** exit code; null when killed by a signal (timeout) */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** the command line, for assertion messages */
  cmd: string;
}

export function run(file: string, args: readonly string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  const cmd = [file, ...args].join(' ');
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      { timeout: opts.timeoutMs ?? 60_000, maxBuffer: 64 * 1024 * 1024, env: opts.env ?? process.env, killSignal: 'SIGKILL' },
      (err, stdout, stderr) => {
        const e = err as (NodeJS.ErrnoException & { code?: number | string; signal?: NodeJS.Signals }) | null;
        if (e && typeof e.code === 'string') {
          // spawn failure (ENOENT...): report it as a failed run with the reason on stderr
          resolve({ code: 127, signal: null, stdout: '', stderr: `${e.code}: ${e.message}`, cmd });
          return;
        }
        resolve({
          code: e ? (typeof e.code === 'number' ? e.code : null) : 0,
          signal: e?.signal ?? null,
          stdout: String(stdout),
          stderr: String(stderr),
          cmd,
        });
      },
    );
  });
}

/** One line for an assertion message: what ran and what it said. */
export function explain(r: RunResult): string {
  return `$ ${r.cmd}\n-> code ${r.code}${r.signal ? ` signal ${r.signal}` : ''}\nstdout: ${r.stdout.slice(-2000)}\nstderr: ${r.stderr.slice(-2000)}`;
}

/** Whether a program is on PATH. */
function haveTool(name: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Throws a clear message when the Debian tools the integration tests drive are missing. */
export function requireTools(...names: string[]): void {
  const missing = names.filter((n) => !haveTool(n));
  if (missing.length > 0) {
    throw new Error(`integration tests need ${missing.join(', ')} on PATH: apt-get install -y libiscsi-bin qemu-utils qemu-block-extra (see .ci/run)`);
  }
}
