// Debian's tgt (tgtd) as a reference target for tests: its own control port and portal, one file-backed LUN 1.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { explain, requireTools, run } from './exec.ts';
import { freePort } from './target.ts';

export interface Tgt {
  readonly host: string;
  readonly port: number;
  readonly iqn: string;
  /** iscsi://HOST:PORT/IQN/1 */
  readonly url: string;
  /** `tgtadm --lld iscsi ARGS` against this tgtd. */
  admin(...args: string[]): Promise<void>;
  stop(): Promise<void>;
}

/** Starts tgtd on `host` (127.0.0.1 or ::1) with a `sizeMiB` LUN 1 in `dir`. */
export async function startTgt(dir: string, opts: { host?: string; sizeMiB?: number; iqn?: string } = {}): Promise<Tgt> {
  requireTools('tgtd', 'tgtadm');
  const host = opts.host ?? '127.0.0.1';
  const iqn = opts.iqn ?? 'iqn.2026-11.org.iscsi-lab:tgt-reference';
  const port = await freePort();
  // Its own control port, so it never meets another tgtd on this machine.
  const control = String(1000 + (port % 8000));
  const tgtadm = (...args: string[]) => run('tgtadm', ['-C', control, '--lld', 'iscsi', ...args]);
  const image = join(dir, `tgt-${port}.img`);
  writeFileSync(image, Buffer.alloc(0));
  await run('truncate', ['-s', `${opts.sizeMiB ?? 16}M`, image]);
  const portal = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  const tgtd: ChildProcess = spawn('tgtd', ['-f', '-C', control, '--iscsi', `portal=${portal}`], { stdio: 'ignore' });
  for (let i = 0; i < 50; i++) {
    if ((await tgtadm('--op', 'show', '--mode', 'target')).code === 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  for (const args of [
    ['--op', 'new', '--mode', 'target', '--tid', '1', '-T', iqn],
    ['--op', 'new', '--mode', 'logicalunit', '--tid', '1', '--lun', '1', '-b', image],
    ['--op', 'bind', '--mode', 'target', '--tid', '1', '-I', 'ALL'],
  ]) {
    const r = await tgtadm(...args);
    if (r.code !== 0) {
      tgtd.kill('SIGKILL');
      throw new Error(`tgtadm failed\n${explain(r)}`);
    }
  }
  return {
    host,
    port,
    iqn,
    url: `iscsi://${host.includes(':') ? `[${host}]` : host}:${port}/${iqn}/1`,
    async admin(...args: string[]) {
      const r = await tgtadm(...args);
      if (r.code !== 0) throw new Error(`tgtadm failed\n${explain(r)}`);
    },
    async stop() {
      await tgtadm('--op', 'delete', '--force', '--mode', 'target', '--tid', '1');
      await run('tgtadm', ['-C', control, '--op', 'delete', '--mode', 'system']);
      tgtd.kill('SIGKILL');
    },
  };
}
