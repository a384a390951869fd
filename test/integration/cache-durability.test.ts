// Write-back durability through the real CLI (`iscsi-lab target ... --cache 16M --cache-mode write-back`), driven
// by the TypeScript initiator:
// - SIGKILL in the middle of a write load, restart, >= 10 times: every write acknowledged with FUA, or followed by
//   a completed SYNCHRONIZE CACHE, reads back intact (and some unsynced writes were indeed lost: write-back is real).
// - SIGTERM flushes all dirty data: written without FUA, not yet in the file, SIGTERM, in the file, read back.
// The background write-back timer is off (--cache-flush-interval 0) so unsynced data really stays in the cache.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clearUnitAttentions, read16, synchronizeCache10, write16 } from '../../server/initiator/scsi.ts';
import { InitiatorSession } from '../../server/initiator/session.ts';
import { CLI } from '../helpers/target.ts';

const HOST = '127.0.0.1';
const KILL_PORT = 3322;
const TERM_PORT = 3323;
const IQN = 'iqn.2026-11.org.iscsi-lab:cache-durability';
const INITIATOR = 'iqn.2026-11.org.iscsi-lab:cache-test-initiator';
const BS = 512;
const CYCLES = 10;

interface Target {
  proc: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr(): string;
}

async function startTarget(port: number, lunPath: string): Promise<Target> {
  const args = [
    'target',
    '--portal',
    `${HOST}:${port}`,
    '--iqn',
    IQN,
    '--lun',
    `${lunPath}:256M`,
    '--cache',
    '16M',
    '--cache-mode',
    'write-back',
    '--cache-flush-interval',
    '0',
  ];
  const proc = spawn(CLI, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => proc.once('exit', (code, signal) => r({ code, signal })));
  const target: Target = { proc, exited, stderr: () => err };
  running.add(target);
  void exited.then(() => running.delete(target));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ready line\n${out}\n${err}`)), 20_000);
    const check = (): void => {
      if (/^ready /m.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    };
    proc.stdout!.on('data', check);
    void exited.then((e) => {
      clearTimeout(timer);
      reject(new Error(`target exited before ready (${e.code}/${e.signal})\n${out}\n${err}`));
    });
  });
  return target;
}

async function login(port: number): Promise<InitiatorSession> {
  const s = await InitiatorSession.login({ host: HOST, port, targetName: IQN, initiatorName: INITIATOR });
  await clearUnitAttentions(s, 0);
  return s;
}

/** Distinct content per write: its id in every 4 bytes, so a misplaced or torn block shows. */
function content(id: number, blocks: number): Buffer {
  const b = Buffer.alloc(blocks * BS);
  for (let i = 0; i < b.length; i += 4) b.writeUInt32LE((id * 2654435761 + i) >>> 0, i);
  return b;
}

/** The bytes of a write's LBAs as they are in the image file now. */
function onDisk(path: string, w: Written): Buffer {
  const b = Buffer.alloc(w.blocks * BS);
  const fd = openSync(path, 'r');
  try {
    readSync(fd, b, 0, b.length, w.lba * BS);
  } finally {
    closeSync(fd);
  }
  return b;
}

interface Written {
  id: number;
  lba: number;
  blocks: number;
}

async function verify(s: InitiatorSession, writes: Written[]): Promise<string[]> {
  const bad: string[] = [];
  for (let i = 0; i < writes.length; i += 16) {
    await Promise.all(
      writes.slice(i, i + 16).map(async (w) => {
        const r = await read16(s, 0, BigInt(w.lba), w.blocks, BS);
        if (r.status !== 0 || !r.data?.equals(content(w.id, w.blocks))) bad.push(`write ${w.id} at LBA ${w.lba} (+${w.blocks})`);
      }),
    );
  }
  return bad;
}

/** Targets still running: a failed assertion must not leave one behind holding its port. */
const running = new Set<Target>();

describe('block cache write-back durability (CLI target)', () => {
  let dir: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'iscsi-lab-cache-dur-'));
  });
  afterAll(async () => {
    for (const t of running) {
      t.proc.kill('SIGKILL');
      await t.exited;
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it(`SIGKILL during a write-back write load, ${CYCLES} times: FUA and synchronized writes survive`, async () => {
    const lun = join(dir, 'kill.img');
    const durable: Written[] = [];
    const unsynced: Written[] = [];
    let nextLba = 0;
    let nextId = 1;
    for (let cycle = 0; cycle <= CYCLES; cycle++) {
      const t = await startTarget(KILL_PORT, lun);
      const s = await login(KILL_PORT);
      const bad = await verify(s, durable);
      expect(bad, `cycle ${cycle}: acknowledged-durable writes lost after SIGKILL`).toEqual([]);
      if (cycle === CYCLES) {
        await s.logout().catch(() => undefined);
        t.proc.kill('SIGTERM');
        await t.exited;
        break;
      }
      // The load: 4 writers; a quarter of the writes with FUA, the rest plain with a SYNCHRONIZE CACHE every few.
      let stop = false;
      let acked = 0;
      const worker = async (w: number): Promise<void> => {
        const plain: Written[] = [];
        for (let i = 0; !stop; i++) {
          const blocks = 1 + ((w * 7 + i * 3) % 24);
          const rec: Written = { id: nextId++, lba: nextLba, blocks };
          nextLba += blocks + (i % 3);
          const fua = (i + w) % 4 === 0;
          const r = await write16(s, 0, BigInt(rec.lba), content(rec.id, blocks), BS, fua);
          if (r.status !== 0) throw new Error(`write failed: status ${r.status}`);
          acked++;
          if (fua) durable.push(rec);
          else {
            plain.push(rec);
            unsynced.push(rec);
          }
          if (i % 5 === 4) {
            const covered = plain.splice(0);
            const sr = await synchronizeCache10(s, 0);
            if (sr.status !== 0) throw new Error(`SYNCHRONIZE CACHE failed: status ${sr.status}`);
            durable.push(...covered);
            for (const c of covered) unsynced.splice(unsynced.indexOf(c), 1);
          }
        }
      };
      const load = Promise.allSettled([0, 1, 2, 3].map(worker));
      // Kill at some point in the load, once it is really going.
      const until = Date.now() + 150 + ((cycle * 97) % 250);
      while (Date.now() < until || acked < 20) await new Promise((r) => setTimeout(r, 5));
      t.proc.kill('SIGKILL');
      stop = true;
      const e = await t.exited;
      expect(e.signal).toBe('SIGKILL');
      await load;
      s.close();
    }
    expect(durable.length).toBeGreaterThan(CYCLES * 20);
    // Write-back was really on: some acknowledged but unsynchronized writes never reached the file.
    const lost = unsynced.filter((w) => !onDisk(lun, w).equals(content(w.id, w.blocks)));
    expect(lost.length).toBeGreaterThan(0);
  }, 90_000);

  it('SIGTERM writes back all dirty data before the target exits', async () => {
    const lun = join(dir, 'term.img');
    const t = await startTarget(TERM_PORT, lun);
    const s = await login(TERM_PORT);
    const writes: Written[] = [];
    for (let i = 0; i < 32; i++) {
      const w: Written = { id: 10_000 + i, lba: 1000 + i * 130, blocks: 128 }; // 64 KiB each, 2 MiB in all
      const r = await write16(s, 0, BigInt(w.lba), content(w.id, w.blocks), BS, false);
      expect(r.status).toBe(0);
      writes.push(w);
    }
    const inFile = (w: Written) => onDisk(lun, w).equals(content(w.id, w.blocks));
    // Still only in the cache (no FUA, no SYNCHRONIZE CACHE, no timer).
    expect(writes.filter(inFile).length).toBe(0);
    await s.logout();
    t.proc.kill('SIGTERM');
    const e = await t.exited;
    expect(e, t.stderr()).toEqual({ code: 0, signal: null });
    expect(writes.filter((w) => !inFile(w)).map((w) => w.id)).toEqual([]);
    // And through a restarted target.
    const again = await startTarget(TERM_PORT, lun);
    const s2 = await login(TERM_PORT);
    expect(await verify(s2, writes)).toEqual([]);
    await s2.logout().catch(() => undefined);
    again.proc.kill('SIGTERM');
    await again.exited;
  }, 30_000);
});
