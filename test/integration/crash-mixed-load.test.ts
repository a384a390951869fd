// Crash safety under a mixed load, through the real CLI with a write-back cache that also flushes in the background:
// three sessions, six writers, each owning its own 4 KiB slots, doing WRITE(16) of exactly 4 KiB (plain and FUA),
// SYNCHRONIZE CACHE, UNMAP and COMPARE AND WRITE, until the target is killed with SIGKILL at a random moment; then
// restart and read every slot back. 20 cycles. Each slot must hold exactly one of:
//   - its last durable version (FUA acknowledged, or acknowledged before a SYNCHRONIZE CACHE that completed), or
//   - a version written after that (acknowledged or still in flight at the kill),
// never an older version (a durable write lost) and never a mix of two (a torn 4 KiB write).
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InitiatorSession } from '../../server/initiator/session.ts';
import { clearUnitAttentions, describeStatus, read16, synchronizeCache10, write16 } from '../../server/initiator/scsi.ts';
import { startTarget, type RunningTarget } from '../helpers/target.ts';

const IQN = 'iqn.2026-11.org.iscsi-lab:crash';
const BS = 512;
const SLOT_BLOCKS = 8; // 4 KiB
const SLOT_BYTES = SLOT_BLOCKS * BS;
const SESSIONS = 3;
const WRITERS_PER_SESSION = 2;
const SLOTS_PER_WRITER = 24;
const WRITERS = SESSIONS * WRITERS_PER_SESSION;
const SLOTS = WRITERS * SLOTS_PER_WRITER;
const CYCLES = 20;
const FIRST_LBA = 2048;

interface Version {
  data: Buffer;
  what: string;
  acked: boolean;
}

interface Slot {
  /** What the file is known to hold for sure. */
  durable: Buffer;
  durableWhat: string;
  /** Written since, oldest first: any of them may be what the file holds after a crash. */
  pending: Version[];
}

const slots: Slot[] = Array.from({ length: SLOTS }, () => ({ durable: Buffer.alloc(SLOT_BYTES), durableWhat: 'never written', pending: [] }));
const lbaOf = (slot: number) => FIRST_LBA + slot * SLOT_BLOCKS;
let nextId = 1;

/** A version's bytes: its id and position in every 4 bytes, so any mix of two versions shows. */
function content(id: number): Buffer {
  const b = Buffer.alloc(SLOT_BYTES);
  for (let i = 0; i < SLOT_BYTES; i += 4) b.writeUInt32LE((id * 2654435761 + i) >>> 0, i);
  return b;
}

/** The slot's newest content as the target must return it now (reads see acknowledged writes). */
const current = (s: Slot): Buffer => [...s.pending].reverse().find((v) => v.acked)?.data ?? s.durable;

function durableNow(s: Slot, v: Version): void {
  const i = s.pending.indexOf(v);
  s.durable = v.data;
  s.durableWhat = v.what;
  s.pending.splice(0, i + 1);
}

function cdbUnmap(lba: number, blocks: number): { cdb: Buffer; data: Buffer } {
  const data = Buffer.alloc(24);
  data.writeUInt16BE(22, 0);
  data.writeUInt16BE(16, 2);
  data.writeBigUInt64BE(BigInt(lba), 8);
  data.writeUInt32BE(blocks, 16);
  const cdb = Buffer.alloc(10);
  cdb[0] = 0x42;
  cdb.writeUInt16BE(data.length, 7);
  return { cdb, data };
}

function cdbCompareAndWrite(lba: number, fua: boolean): Buffer {
  const cdb = Buffer.alloc(16);
  cdb[0] = 0x89;
  cdb[1] = fua ? 0x08 : 0;
  cdb.writeBigUInt64BE(BigInt(lba), 2);
  cdb[13] = 1;
  return cdb;
}

/** Slots where acknowledged, unsynchronized writes were lost (write-back is real) or a later write survived. */
const outcome = { unsyncedLost: 0, laterSurvived: 0 };
const counts = { write: 0, fua: 0, sync: 0, unmap: 0, caw: 0, readback: 0 };
const failures: string[] = [];

/** One writer's load on its own slots until `stop()`; every status must be GOOD and every read-back exact. */
async function writer(s: InitiatorSession, w: number, rng: () => number, stopped: () => boolean): Promise<void> {
  const mine = (i: number) => w * SLOTS_PER_WRITER + i;
  while (!stopped()) {
    const slotNo = mine(Math.floor(rng() * SLOTS_PER_WRITER));
    const slot = slots[slotNo]!;
    const lba = lbaOf(slotNo);
    const r = rng();
    if (r < 0.1) {
      // SYNCHRONIZE CACHE: what every writer had acknowledged when it was issued is durable once it completes.
      const covered = slots.map((x) => [...x.pending].reverse().find((v) => v.acked));
      const res = await synchronizeCache10(s, 1);
      if (res.status !== 0) throw new Error(`SYNCHRONIZE CACHE: ${describeStatus(res)}`);
      counts.sync++;
      covered.forEach((v, i) => v && slots[i]!.pending.includes(v) && durableNow(slots[i]!, v));
    } else if (r < 0.2) {
      const v: Version = { data: Buffer.alloc(SLOT_BYTES), what: `UNMAP #${nextId++}`, acked: false };
      slot.pending.push(v);
      const u = cdbUnmap(lba, SLOT_BLOCKS);
      const res = await s.command(1, u.cdb, { dataOut: u.data });
      if (res.status !== 0) throw new Error(`UNMAP: ${describeStatus(res)}`);
      v.acked = true;
      counts.unmap++;
    } else if (r < 0.3 && slot.pending.length === 0) {
      // COMPARE AND WRITE block 0 of a slot whose content is settled: compare with it, write a new first block.
      const id = nextId++;
      const fua = rng() < 0.5;
      const next = Buffer.from(slot.durable);
      content(id).copy(next, 0, 0, BS);
      const v: Version = { data: next, what: `COMPARE AND WRITE #${id}${fua ? ' FUA' : ''}`, acked: false };
      slot.pending.push(v);
      const res = await s.command(1, cdbCompareAndWrite(lba, fua), { dataOut: Buffer.concat([slot.durable.subarray(0, BS), next.subarray(0, BS)]) });
      if (res.status !== 0) throw new Error(`COMPARE AND WRITE: ${describeStatus(res)}`);
      v.acked = true;
      counts.caw++;
      if (fua) durableNow(slot, v);
    } else if (r < 0.35) {
      const res = await read16(s, 1, BigInt(lba), SLOT_BLOCKS, BS);
      if (res.status !== 0 || !res.data?.equals(current(slot))) failures.push(`read-back of slot ${slotNo} differs from the last acknowledged write`);
      counts.readback++;
    } else {
      const id = nextId++;
      const fua = r > 0.75;
      const v: Version = { data: content(id), what: `WRITE #${id}${fua ? ' FUA' : ''}`, acked: false };
      slot.pending.push(v);
      const res = await write16(s, 1, BigInt(lba), v.data, BS, fua);
      if (res.status !== 0) throw new Error(`WRITE: ${describeStatus(res)}`);
      v.acked = true;
      if (fua) {
        counts.fua++;
        durableNow(slot, v);
      } else counts.write++;
    }
  }
}

/** After a restart: each slot holds its durable version or a later one, whole. Returns the problems. */
async function verify(s: InitiatorSession, cycle: number): Promise<string[]> {
  const res = await read16(s, 1, BigInt(FIRST_LBA), SLOTS * SLOT_BLOCKS, BS);
  if (res.status !== 0 || !res.data) return [`READ of all slots: ${describeStatus(res)}`];
  const bad: string[] = [];
  slots.forEach((slot, i) => {
    const got = res.data!.subarray(i * SLOT_BYTES, (i + 1) * SLOT_BYTES);
    const match = got.equals(slot.durable) ? slot.durableWhat : slot.pending.find((v) => got.equals(v.data))?.what;
    if (match === undefined) {
      bad.push(
        `cycle ${cycle}, slot ${i} (LBA ${lbaOf(i)}): neither its durable ${slot.durableWhat} nor any of ${slot.pending.length} later writes ` +
          `(${slot.pending.map((v) => `${v.what}${v.acked ? '' : ' in flight'}`).join(', ')}): a lost or torn write`,
      );
    }
    if (match !== undefined && got.equals(slot.durable) && slot.pending.some((v) => v.acked && !v.data.equals(slot.durable))) outcome.unsyncedLost++;
    else if (match !== undefined && !got.equals(slot.durable)) outcome.laterSurvived++;
    // What survived is what the file holds: the new durable state.
    slot.durable = Buffer.from(got);
    slot.durableWhat = `${match ?? 'garbage'} (after kill ${cycle})`;
    slot.pending = [];
  });
  return bad;
}

function lcg(seed: number): () => number {
  let x = seed >>> 0;
  return () => (x = (Math.imul(x, 1664525) + 1013904223) >>> 0) / 4294967296;
}

const dir = mkdtempSync(join(tmpdir(), 'iscsi-lab-crash-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('crash safety under a mixed write load', () => {
  it(`SIGKILL ${CYCLES} times during WRITE/FUA/SYNCHRONIZE CACHE/UNMAP/COMPARE AND WRITE from ${SESSIONS} sessions: no durable write lost, no 4 KiB write torn`, async () => {
    const luns = [
      { size: '4M', path: join(dir, 'lun0.img') },
      { size: '32M', thin: true, path: join(dir, 'lun1.img') },
    ];
    const args = ['--cache', '8M', '--cache-mode', 'write-back', '--cache-flush-interval', '20'];
    const problems: string[] = [];
    for (let cycle = 0; cycle <= CYCLES; cycle++) {
      const t: RunningTarget = await startTarget({ iqn: IQN, luns, args, dir });
      try {
        const sessions = await Promise.all(
          Array.from({ length: SESSIONS }, async (_, i) => {
            const s = await InitiatorSession.login({ host: t.host, port: t.port, targetName: IQN, initiatorName: `iqn.2026-11.org.iscsi-lab:crash-${i}` });
            await clearUnitAttentions(s, 1);
            return s;
          }),
        );
        if (cycle > 0) problems.push(...(await verify(sessions[0]!, cycle)));
        if (cycle === CYCLES) {
          for (const s of sessions) await s.logout();
          expect(await t.stop({ keepDir: true })).toEqual({ code: 0, signal: null });
          break;
        }
        let stop = false;
        const rng = lcg(cycle * 977 + 1);
        const load = Promise.allSettled(Array.from({ length: WRITERS }, (_, w) => writer(sessions[w % SESSIONS]!, w, lcg(cycle * 131 + w), () => stop)));
        await new Promise((r) => setTimeout(r, 120 + Math.floor(rng() * 300)));
        t.proc.kill('SIGKILL');
        stop = true;
        const results = await load;
        // Writers end with "connection closed" errors; anything else (a failed status) is a finding.
        for (const r of results) if (r.status === 'rejected' && !/clos|reset|EPIPE|ECONNRESET/i.test(String(r.reason))) failures.push(String(r.reason));
        for (const s of sessions) s.close();
      } finally {
        expect((await t.stop({ keepDir: true })).signal === 'SIGKILL' || cycle === CYCLES).toBe(true);
      }
    }
    expect(failures).toEqual([]);
    expect(problems.slice(0, 20), `${problems.length} slots wrong`).toEqual([]);
    // The load really was mixed, and the kills really cut into it: some unsynchronized writes were lost.
    console.log(`crash cycles: ${CYCLES}, ops ${JSON.stringify(counts)}, slots after kills: ${JSON.stringify(outcome)}`);
    expect(outcome.unsyncedLost + outcome.laterSurvived).toBeGreaterThan(0);
    for (const [op, n] of Object.entries(counts)) expect(n, `${op} count ${JSON.stringify(counts)}`).toBeGreaterThan(CYCLES);
  }, 120_000);
});
