/**
 * `npm run bench -- soak [--sessions 64] [--depth 32] [--seconds 300] [--cache 64M]`: many sessions at full queue
 * depth for minutes, every write read back and checked, the target's memory sampled all along.
 *
 * Starts `iscsi-lab target` on a 1 GiB sparse LUN with a write-back cache, opens N sessions of the TypeScript
 * initiator (N initiator names, so N I_T nexuses), each with `depth` workers. Each worker owns its own slice of the
 * LUN (so a read can be checked against the worker's last write) and loops: WRITE(16) 4 KiB of a stamped pattern
 * at a random LBA of its slice, READ(16) it back, compare. Every 5 s: ops/s, errors, the target's RSS.
 * Ends with one summary line; exit 1 on any error, mismatch or a target that died.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { InitiatorSession } from '../server/initiator/session.ts';
import { clearUnitAttentions, describeStatus, read16, write16 } from '../server/initiator/scsi.ts';
import { parseCacheSize } from '../server/store/cache/config.ts';

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}
const sessions = Number(flag('--sessions', '64'));
const depth = Number(flag('--depth', '32'));
const seconds = Number(flag('--seconds', '300'));
const cacheBytes = parseCacheSize(flag('--cache', '64M'));
const BLOCK = 512;
const IO_BLOCKS = 8;
const LUN_BYTES = 1 << 30;

const root = new URL('..', import.meta.url).pathname;
const dir = await mkdtemp(join(tmpdir(), 'iscsi-lab-soak-'));
const port = 3300 + Math.floor(Math.random() * 200);
const iqn = 'iqn.2026-11.org.iscsi-lab:soak';
// With SOAK_NODE_FLAGS the target runs as `node FLAGS bin/iscsi-lab.cjs` (without the launcher's own flags unless
// you repeat them); without, as users run it.
const nodeFlags = (process.env.SOAK_NODE_FLAGS ?? '').split(' ').filter(Boolean);
const cli = join(root, 'bin/iscsi-lab.cjs');
const target = spawn(
  nodeFlags.length ? process.execPath : cli,
  [
    ...(nodeFlags.length ? [...nodeFlags, cli] : []),
    'target',
    '--portal',
    `127.0.0.1:${port}`,
    '--iqn',
    iqn,
    '--lun',
    `${join(dir, 'lun0.img')}:1G`,
    '--cache',
    String(cacheBytes),
    '--cache-mode',
    'write-back',
  ],
  { stdio: ['ignore', 'pipe', process.env.SOAK_NODE_FLAGS ? 'pipe' : 'inherit'] },
);
let targetExited = false;
target.on('exit', () => (targetExited = true));
const lines = createInterface({ input: target.stdout! });
// Node flags (e.g. --trace-gc) may print before and after the ready line: keep the last of those lines.
const extra: string[] = [];
await new Promise<void>((resolve, reject) => {
  lines.on('line', (line) => {
    if (line.startsWith('ready ')) return resolve();
    extra.push(line);
    if (extra.length > 20) extra.shift();
  });
  target.once('exit', (code) => reject(new Error(`soak: target exited (${code}): ${extra.join(' | ')}`)));
});

async function rssMiB(): Promise<number> {
  const status = await readFile(`/proc/${target.pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

let ops = 0;
let errors = 0;
let mismatches = 0;
let stop = false;
const firstError: string[] = [];
const note = (msg: string) => {
  if (firstError.length < 5) firstError.push(msg);
};

const slices = sessions * depth;
const sliceBlocks = Math.floor(LUN_BYTES / BLOCK / slices / IO_BLOCKS) * IO_BLOCKS;

async function worker(s: InitiatorSession, slice: number): Promise<void> {
  const base = slice * sliceBlocks;
  const data = Buffer.alloc(IO_BLOCKS * BLOCK);
  let stamp = 0;
  while (!stop) {
    const lba = base + Math.floor(Math.random() * (sliceBlocks / IO_BLOCKS)) * IO_BLOCKS;
    stamp++;
    for (let o = 0; o < data.length; o += 8) {
      data.writeUInt32BE(slice, o);
      data.writeUInt32BE(stamp, o + 4);
    }
    try {
      const w = await write16(s, 0, BigInt(lba), data, BLOCK);
      if (w.status !== 0) throw new Error(`WRITE(16) LBA ${lba}: ${describeStatus(w)}`);
      const r = await read16(s, 0, BigInt(lba), IO_BLOCKS, BLOCK);
      if (r.status !== 0) throw new Error(`READ(16) LBA ${lba}: ${describeStatus(r)}`);
      if (!r.data?.equals(data)) {
        mismatches++;
        note(`slice ${slice} LBA ${lba}: read back differs from the write just acknowledged`);
      }
      ops += 2;
    } catch (err) {
      errors++;
      note(String(err));
      if (stop || targetExited) return;
    }
  }
}

const rssStart = await rssMiB();
let rssPeak = rssStart;
const open: InitiatorSession[] = [];
for (let i = 0; i < sessions; i++) {
  const s = await InitiatorSession.login({
    host: '127.0.0.1',
    port,
    targetName: iqn,
    initiatorName: `iqn.2026-11.org.iscsi-lab:soak-${i}`,
  });
  await clearUnitAttentions(s, 0);
  open.push(s);
}
const started = performance.now();
const workers = open.flatMap((s, i) => Array.from({ length: depth }, (_, d) => worker(s, i * depth + d)));
console.log(`soak: ${sessions} sessions x depth ${depth}, ${seconds} s, cache ${cacheBytes >> 20} MiB write-back, RSS at start ${rssStart.toFixed(0)} MiB`);
let lastOps = 0;
const timer = setInterval(async () => {
  const rss = await rssMiB().catch(() => 0);
  rssPeak = Math.max(rssPeak, rss);
  const t = (performance.now() - started) / 1000;
  console.log(
    `  ${t.toFixed(0).padStart(4)} s  ${Math.round((ops - lastOps) / 5)
      .toString()
      .padStart(7)} ops/s  errors ${errors}  mismatches ${mismatches}  RSS ${rss.toFixed(0)} MiB`,
  );
  lastOps = ops;
}, 5000);
await new Promise((r) => setTimeout(r, seconds * 1000));
stop = true;
const total = (performance.now() - started) / 1000;
await Promise.all(workers);
clearInterval(timer);
const rssEnd = await rssMiB().catch(() => 0);
await Promise.all(open.map((s) => s.logout().catch(() => undefined)));
target.kill('SIGTERM');
await once(target, 'exit');
await rm(dir, { recursive: true, force: true });
for (const e of firstError) console.log(`  first errors: ${e}`);
if (process.env.SOAK_NODE_FLAGS) for (const l of extra) console.log(`  target: ${l}`);
console.log(
  `soak: ${ops} ops in ${total.toFixed(0)} s (${Math.round(ops / total)} ops/s), errors ${errors}, mismatches ${mismatches}, ` +
    `target RSS start ${rssStart.toFixed(0)} MiB, peak ${rssPeak.toFixed(0)} MiB, end ${rssEnd.toFixed(0)} MiB`,
);
process.exit(errors || mismatches ? 1 : 0);
