// The target-wide budget for data in flight (server/iscsi/data-budget.ts, --max-data-in-flight), against the real
// CLI over real TCP: 16 initiators that ask for large READs and never read the answers, and 8 that withhold the
// last Data-Out of their WRITEs, cannot take the target's memory past the budget (+200 MiB for the process
// itself); a well-behaved initiator is served all along; a large command past the budget gets BUSY; and once the
// hogs have held their data without progress for STALL_MS they are cut until the budget is out of pressure.
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { InitiatorSession } from '../../server/initiator/session.ts';
import { clearUnitAttentions, read16, write16 } from '../../server/initiator/scsi.ts';
import { Opcode } from '../../server/iscsi/constants.ts';
import { opcodeOf } from '../../server/iscsi/pdu.ts';
import { encodeDataOut } from '../../server/iscsi/pdu/data.ts';
import { decodeR2T } from '../../server/iscsi/pdu/r2t.ts';
import { encodeScsiCommand } from '../../server/iscsi/pdu/scsi-command.ts';
import { STALL_MS } from '../../server/iscsi/data-budget.ts';
import { RawSession } from '../helpers/raw-session.ts';
import { startTarget, type RunningTarget } from '../helpers/target.ts';

const IQN = 'iqn.2026-11.org.iscsi-lab:budget';
const MiB = 1 << 20;
const BUDGET = 512 * MiB;
const BLOCK = 512;
const CHUNK = 8 * MiB;
/**
 * The non-readers' READs and the budget probe: the largest a command is charged (LIMITS.maxWriteBytes). A READ this
 * large never completes into the kernel's socket buffers of a peer that does not read, so what the hogs hold never
 * shrinks, and once one of them was refused the budget has less than this left: the probe's BUSY is certain.
 */
const READ_CHUNK = 32 * MiB;
let target: RunningTarget | undefined;
const hogs: RawSession[] = [];

afterAll(async () => {
  for (const h of hogs) h.close();
  if (target) expect(await target.stop()).toEqual({ code: 0, signal: null });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function rss(pid: number): number {
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
}

function cdb16(op: number, lba: number, blocks: number): Buffer {
  const c = Buffer.alloc(16);
  c[0] = op;
  c.writeBigUInt64BE(BigInt(lba), 2);
  c.writeUInt32BE(blocks, 10);
  return c;
}

async function hog(port: number, i: number): Promise<RawSession> {
  const s = await RawSession.open(port);
  hogs.push(s);
  await s.login(IQN, `iqn.2026-11.org.example:hog-${i}`, `80000000${(0x100 + i).toString(16).padStart(4, '0')}`);
  return s;
}

/** 16 READs of 32 MiB in one go, then never a byte read. */
async function nonReader(port: number, i: number): Promise<void> {
  const s = await hog(port, i);
  s.socket.pause();
  for (let n = 0; n < 16; n++) {
    s.send(
      encodeScsiCommand({
        immediate: false,
        final: true,
        read: true,
        write: false,
        attribute: 1,
        lun: 0,
        itt: 0x100 + n,
        expectedDataTransferLength: READ_CHUNK,
        cmdSN: s.cmdSN++,
        expStatSN: s.expStatSN,
        cdb: cdb16(0x88, (n % 2) * (READ_CHUNK / BLOCK), READ_CHUNK / BLOCK),
      }),
    );
  }
}

/** 4 WRITEs of 8 MiB: every R2T answered with its data except each write's last one. */
async function withholder(port: number, i: number): Promise<void> {
  const s = await hog(port, 100 + i);
  const writes = 4;
  for (let n = 0; n < writes; n++) {
    s.send(
      encodeScsiCommand({
        immediate: false,
        final: true,
        read: false,
        write: true,
        attribute: 1,
        lun: 0,
        itt: 0x200 + n,
        expectedDataTransferLength: CHUNK,
        cmdSN: s.cmdSN++,
        expStatSN: s.expStatSN,
        cdb: cdb16(0x8a, n * (CHUNK / BLOCK), CHUNK / BLOCK),
      }),
    );
  }
  const data = Buffer.alloc(256 * 1024, 0x5a);
  // Answer R2Ts until every write is waiting only for its last burst (or the target refuses or cuts us).
  let waiting = 0;
  while (waiting < writes) {
    const p = await s.next((q) => opcodeOf(q.bhs) === Opcode.R2T || opcodeOf(q.bhs) === Opcode.ScsiResponse, 10_000);
    if (!p) return;
    if (opcodeOf(p.bhs) === Opcode.ScsiResponse) {
      waiting++;
      continue;
    }
    const r = decodeR2T(p);
    if (r.bufferOffset + r.desiredDataTransferLength >= CHUNK) {
      waiting++; // the last burst: withheld
      continue;
    }
    for (let off = 0; off < r.desiredDataTransferLength; off += data.length) {
      const len = Math.min(data.length, r.desiredDataTransferLength - off);
      s.send(
        encodeDataOut({
          final: off + len >= r.desiredDataTransferLength,
          lun: 0,
          itt: r.itt,
          ttt: r.ttt,
          expStatSN: s.expStatSN,
          dataSN: off / data.length,
          bufferOffset: r.bufferOffset + off,
          data: data.subarray(0, len),
        }),
      );
    }
  }
}

describe('data in flight across the whole target', () => {
  it('16 non-readers and 8 Data-Out withholders stay under the budget + 200 MiB; a well-behaved initiator is served; stalled ones are cut', async () => {
    target = await startTarget({ iqn: IQN, args: ['--max-data-in-flight', `${BUDGET / MiB}M`] });
    const t = target;
    const good = await InitiatorSession.login({ host: '127.0.0.1', port: t.port, targetName: IQN, initiatorName: 'iqn.2026-11.org.example:good' });
    await clearUnitAttentions(good, 0);
    const baseline = rss(t.proc.pid!);
    let peak = baseline;
    const sampler = setInterval(() => (peak = Math.max(peak, rss(t.proc.pid!))), 50);
    try {
      // Asked for: 16 x 512 MiB of reads and 8 x 32 MiB of writes, 8.25 GiB against a 512 MiB budget.
      await Promise.all([...Array.from({ length: 8 }, (_, i) => withholder(t.port, i)), ...Array.from({ length: 16 }, (_, i) => nonReader(t.port, i))]);
      await sleep(1500);
      // Meanwhile the well-behaved initiator reads and writes as usual.
      const pattern = Buffer.alloc(64 * 1024, 0xc3);
      for (let n = 0; n < 20; n++) {
        expect((await write16(good, 0, BigInt(120_000 + n * 128), pattern, BLOCK)).status, `write ${n}`).toBe(0);
        const r = await read16(good, 0, BigInt(120_000 + n * 128), 128, BLOCK);
        expect(r.status, `read ${n}`).toBe(0);
        expect(r.data?.equals(pattern)).toBe(true);
      }
      expect(peak, `peak RSS ${peak >> 20} MiB (from ${baseline >> 20} MiB)`).toBeLessThan(BUDGET + 200 * MiB);
      // A large command while the hogs hold the budget: BUSY (nothing else outstanding on its connection).
      expect((await read16(good, 0, 0n, READ_CHUNK / BLOCK, BLOCK)).status).toBe(0x08);
      // The hogs made no progress for STALL_MS while the budget was under pressure: cut, and the budget is free.
      const cuts = () => t.stderr().match(/without progress while the data-in-flight budget is under pressure/g)?.length ?? 0;
      // Cut until the budget is out of pressure (hogs that were refused everything hold nothing and stay).
      const deadline = Date.now() + STALL_MS + 5000;
      while (cuts() === 0 && Date.now() < deadline) await sleep(250);
      await sleep(1500);
      expect(cuts()).toBeGreaterThan(0);
      // The cut ones see it once they read again: their connections are gone.
      for (const h of hogs) h.socket.resume();
      await sleep(1000);
      expect(hogs.filter((h) => h.closed).length).toBe(cuts());
      const big = await read16(good, 0, 0n, CHUNK / BLOCK, BLOCK);
      expect(big.status).toBe(0);
      expect(big.data?.length).toBe(CHUNK);
      expect(peak, `peak RSS ${peak >> 20} MiB`).toBeLessThan(BUDGET + 200 * MiB);
      console.log(
        `data budget ${BUDGET >> 20} MiB: peak RSS ${peak >> 20} MiB (from ${baseline >> 20} MiB) with 8448 MiB asked for; ${cuts()} stalled connections cut`,
      );
    } finally {
      clearInterval(sampler);
    }
    await good.logout();
  }, 60_000);
});
