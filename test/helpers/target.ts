// Starts the real target the way a user does, `bin/iscsi-lab.cjs target ...`, on free ports with its LUN files
// in a fresh temporary directory; waits for its one `ready iscsi://HOST:PORT/IQN/0` line; stops it with SIGTERM
// and reports how it exited (the CLI promises exit 0 after finishing in-flight commands and flushing LUNs).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLI = join(REPO_ROOT, 'bin', 'iscsi-lab.cjs');
const HOST = '127.0.0.1';

interface LunOptions {
  /** e.g. '64M' */
  size: string;
  thin?: boolean;
  removable?: boolean;
  readonly?: boolean;
  /** an existing image to serve (kept, data reused); default: a new file in the target's directory */
  path?: string;
}

interface TargetOptions {
  iqn?: string;
  luns?: LunOptions[];
  /** how many portals (each on its own free port); default 1 */
  portals?: number;
  chap?: { user: string; secret: string };
  mutualChap?: { user: string; secret: string };
  acl?: string[];
  /** more target flags, appended as given (e.g. ['--max-sessions', '2']) */
  args?: string[];
  /** directory for LUN files and logs; default a new temporary one, removed by stop() */
  dir?: string;
  /** ms to wait for `ready`; default 20 s */
  readyTimeoutMs?: number;
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface RunningTarget {
  iqn: string;
  host: string;
  /** first portal's port */
  port: number;
  ports: number[];
  dir: string;
  /** LUN image paths, by LUN number */
  lunPaths: string[];
  /** the exact `ready` line's URL */
  readyUrl: string;
  /** the target's command line arguments after `target` */
  args: string[];
  proc: ChildProcess;
  /** iscsi://HOST:PORT/IQN/LUN through portal `portal` (0-based), with optional CHAP credentials */
  url(lun?: number, opts?: { portal?: number; user?: string; secret?: string }): string;
  /** iscsi://HOST:PORT (no target): for discovery */
  portalUrl(portal?: number): string;
  stdout(): string;
  stderr(): string;
  /** still running (has not exited) */
  alive(): boolean;
  /** SIGTERM, wait for exit (SIGKILL after timeoutMs, default 15 s); removes the temporary directory unless keepDir */
  stop(opts?: { timeoutMs?: number; keepDir?: boolean }): Promise<Exit>;
}

const DEFAULT_IQN = 'iqn.2026-11.org.iscsi-lab:test';
const PORT_BASE = Number(process.env.ISCSI_LAB_PORT_BASE ?? 3290);
let nextPortHint = PORT_BASE;

function portIsFree(port: number): Promise<boolean> {
  return new Promise((res) => {
    const srv = createServer();
    srv.once('error', () => res(false));
    srv.listen({ port, host: HOST, exclusive: true }, () => srv.close(() => res(true)));
  });
}

/** The next port at or after ISCSI_LAB_PORT_BASE (default 3290) that nothing listens on. */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 2000; i++) {
    const port = nextPortHint++;
    if (nextPortHint > PORT_BASE + 2000) nextPortHint = PORT_BASE;
    if (await portIsFree(port)) return port;
  }
  throw new Error(`no free port from ${PORT_BASE}`);
}

function lunArg(l: LunOptions, path: string): string {
  return `${path}:${l.size}${l.thin ? ',thin' : ''}${l.removable ? ',removable' : ''}${l.readonly ? ',readonly' : ''}`;
}

/** Starts `iscsi-lab target` and resolves once it printed `ready`; rejects with its output if it did not. */
export async function startTarget(opts: TargetOptions = {}): Promise<RunningTarget> {
  let lastError: unknown;
  // a free port can be taken between the check and the target's listen(): try a few times
  for (let attempt = 0; attempt < 4; attempt++) {
    try {
      return await startOnce(opts);
    } catch (e) {
      lastError = e;
      if (!/EADDRINUSE|address already in use/i.test(String(e))) throw e;
    }
  }
  throw lastError;
}

async function startOnce(opts: TargetOptions): Promise<RunningTarget> {
  const iqn = opts.iqn ?? DEFAULT_IQN;
  const ownDir = opts.dir === undefined;
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'iscsi-lab-test-'));
  const luns = opts.luns ?? [{ size: '64M' }];
  const lunPaths = luns.map((l, i) => l.path ?? join(dir, `lun${i}.img`));
  const ports: number[] = [];
  for (let i = 0; i < (opts.portals ?? 1); i++) ports.push(await freePort());
  const args = [
    ...ports.flatMap((p) => ['--portal', `${HOST}:${p}`]),
    '--iqn',
    iqn,
    ...luns.flatMap((l, i) => ['--lun', lunArg(l, lunPaths[i]!)]),
    ...(opts.chap ? ['--chap', `${opts.chap.user}:${opts.chap.secret}`] : []),
    ...(opts.mutualChap ? ['--mutual-chap', `${opts.mutualChap.user}:${opts.mutualChap.secret}`] : []),
    ...(opts.acl ?? []).flatMap((a) => ['--acl', a]),
    ...(opts.args ?? []),
  ];
  const proc = spawn(CLI, ['target', ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<Exit>((res) => proc.once('exit', (code, signal) => res({ code, signal })));
  let hasExited = false;
  void exited.then(() => (hasExited = true));

  const readyUrl = await new Promise<string>((res, rej) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      rej(new Error(`target did not print ready within ${opts.readyTimeoutMs ?? 20_000} ms\nstdout: ${out}\nstderr: ${err}`));
    }, opts.readyTimeoutMs ?? 20_000);
    const onData = () => {
      const m = /^ready (\S+)$/m.exec(out);
      if (m) {
        clearTimeout(timer);
        proc.stdout!.off('data', onData);
        res(m[1]!);
      }
    };
    proc.stdout!.on('data', onData);
    void exited.then((e) => {
      clearTimeout(timer);
      rej(new Error(`target exited (code ${e.code}, signal ${e.signal}) before ready\nargs: ${args.join(' ')}\nstdout: ${out}\nstderr: ${err}`));
    });
  }).catch((e: unknown) => {
    if (ownDir) rmSync(dir, { recursive: true, force: true });
    throw e;
  });

  const url: RunningTarget['url'] = (lun = 0, o = {}) => {
    const cred = o.user !== undefined ? `${o.user}${o.secret !== undefined ? `%${o.secret}` : ''}@` : '';
    return `iscsi://${cred}${HOST}:${ports[o.portal ?? 0]}/${iqn}/${lun}`;
  };
  return {
    iqn,
    host: HOST,
    port: ports[0]!,
    ports,
    dir,
    lunPaths,
    readyUrl,
    args,
    proc,
    url,
    portalUrl: (portal = 0) => `iscsi://${HOST}:${ports[portal]}`,
    stdout: () => out,
    stderr: () => err,
    alive: () => !hasExited,
    async stop({ timeoutMs = 15_000, keepDir = false } = {}) {
      if (!hasExited) proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
      const e = await exited;
      clearTimeout(timer);
      if (ownDir && !keepDir) rmSync(dir, { recursive: true, force: true });
      return e;
    },
  };
}
