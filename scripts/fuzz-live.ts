/**
 * The live target under fuzz: workers send mutated PDUs before login (a fresh connection each) and inside logged-in
 * sessions, each case followed by a probe (an immediate NOP-Out) that must be answered, or the connection closed,
 * within HANG_MS. A silent, open connection after whole PDUs is a hang; a target that exits is a crash; a stack
 * trace in its log is an internal error.
 */
import { RawSession } from '../test/helpers/raw-session.ts';
import { opcodeOf, type Pdu } from '../server/iscsi/pdu.ts';
import { Opcode } from '../server/iscsi/constants.ts';
import { decodeNop, encodeNopOut } from '../server/iscsi/pdu/nop.ts';
import type { Finding } from './fuzz-codecs.ts';
import { completeFrames, mutate, Rng } from './fuzz-mutate.ts';
import { CAPTURED_I2T, loginSeed, sessionSeed, wire } from './fuzz-seeds.ts';

/** Longer than the 1 s delay on a failed authentication, short enough to find a stall quickly. */
const HANG_MS = 4000;
const PROBE_ITT_BASE = 0x7e000000;

export interface LiveTarget {
  port: number;
  iqn: string;
}

export interface Worker {
  id: number;
  rng: Rng;
  session?: RawSession;
  itt: number;
  logins: number;
}

export interface LiveStats {
  cases: number;
  preLogin: number;
  inSession: number;
  closedByTarget: number;
  logins: number;
}

/** What a case sent, kept briefly so an internal error in the target's log can be matched to recent inputs. */
export type RecentCases = string[];

async function reaction(s: RawSession, pred: (p: Pdu) => boolean): Promise<Pdu | 'closed' | 'silent'> {
  const p = await s.next(pred, HANG_MS);
  if (p) return p;
  return s.closed ? 'closed' : 'silent';
}

async function preLoginCase(w: Worker, t: LiveTarget, findings: Finding[], recent: RecentCases, stats: LiveStats): Promise<void> {
  const rng = w.rng;
  const seed = loginSeed(rng, t.iqn, `iqn.2026-11.org.iscsi-lab:fuzz-pre-${w.id}`);
  const raw = rng.chance(0.1) ? rng.bytes(rng.int(300)) : rng.chance(0.05) ? seed : mutate(seed, rng, CAPTURED_I2T);
  const bytes = completeFrames(raw);
  remember(recent, 'pre-login', bytes);
  const s = await RawSession.open(t.port);
  try {
    if (bytes.length === 0) return;
    s.socket.write(bytes);
    // Every whole PDU before login gets a Login Response or the connection closes.
    const r = await reaction(s, () => true);
    if (r === 'silent') findings.push({ kind: 'hang', detail: `no answer to a pre-login PDU within ${HANG_MS} ms`, hex: bytes.subarray(0, 512).toString('hex') });
    if (r === 'closed') stats.closedByTarget++;
  } finally {
    s.close();
  }
}

async function sessionFor(w: Worker, t: LiveTarget): Promise<RawSession> {
  if (w.session && !w.session.closed) return w.session;
  w.session?.close();
  const s = await RawSession.open(t.port);
  const isid = Buffer.from('80fb00000000', 'hex');
  isid.writeUInt16BE(w.id, 4);
  await s.login(t.iqn, `iqn.2026-11.org.iscsi-lab:fuzz-${w.id}`, isid.toString('hex'));
  s.cmdSN = s.window.expCmdSN;
  w.session = s;
  w.logins++;
  return s;
}

async function inSessionCase(w: Worker, t: LiveTarget, findings: Finding[], recent: RecentCases, stats: LiveStats): Promise<void> {
  const rng = w.rng;
  const s = await sessionFor(w, t);
  w.itt = (w.itt + 1) & 0xffffff;
  const seeds = sessionSeed(rng, { cmdSN: s.cmdSN, expStatSN: s.expStatSN, itt: 0x100 + w.itt, targetName: t.iqn });
  let raw: Buffer;
  if (rng.chance(0.05)) raw = rng.bytes(rng.int(200));
  else if (rng.chance(0.05)) raw = Buffer.concat(seeds);
  else {
    const i = rng.int(seeds.length);
    raw = Buffer.concat(seeds.map((b, j) => (j === i ? completeFrames(mutate(b, rng, CAPTURED_I2T)) : b)));
  }
  const bytes = completeFrames(raw);
  remember(recent, `session ${w.id}`, bytes);
  const probeItt = PROBE_ITT_BASE + (w.itt & 0xffffff);
  const probe = wire(encodeNopOut({ immediate: true, lun: 0, itt: probeItt, ttt: 0xffffffff, sn: s.cmdSN, expSN: s.expStatSN, maxCmdSN: 0, data: Buffer.alloc(0) }));
  s.socket.write(Buffer.concat([bytes, probe]));
  const r = await reaction(s, (p) => opcodeOf(p.bhs) === Opcode.NopIn && p.bhs.readUInt32BE(16) === probeItt);
  if (r === 'silent') {
    findings.push({ kind: 'hang', detail: `no answer to an immediate NOP-Out after a session PDU within ${HANG_MS} ms`, hex: bytes.subarray(0, 512).toString('hex') });
    s.close();
  } else if (r === 'closed') stats.closedByTarget++;
  else {
    // Follow the window: the probe's NOP-In carries ExpCmdSN (RFC 7143 11.19), so the next seed lands in it.
    s.cmdSN = decodeNop(r).expSN;
  }
  // What else came back (Data-In, R2T, Reject...) is not kept: only the probe matters.
  s.received.length = 0;
}

function remember(recent: RecentCases, where: string, bytes: Buffer): void {
  recent.push(`${where}: ${bytes.subarray(0, 256).toString('hex')}`);
  if (recent.length > 64) recent.shift();
}

/** Runs `cases` live cases over `workers` concurrent connections. */
export async function fuzzLive(t: LiveTarget, cases: number, workers: Worker[], findings: Finding[], recent: RecentCases, stats: LiveStats): Promise<void> {
  let next = 0;
  await Promise.all(workers.map(async (w) => {
    while (next < cases) {
      next++;
      stats.cases++;
      try {
        if (w.rng.chance(0.25)) {
          stats.preLogin++;
          await preLoginCase(w, t, findings, recent, stats);
        } else {
          stats.inSession++;
          await inSessionCase(w, t, findings, recent, stats);
        }
      } catch (err) {
        // A login the fuzz session itself needs failing is the target's problem only if a fresh session fails too:
        // the health check after the batch decides. Here it just costs a reconnect.
        w.session?.close();
        w.session = undefined;
        if (!/login failed|ECONNRESET|EPIPE|no Login Response/.test(String(err))) throw err;
      }
    }
  }));
}

export function makeWorkers(count: number, seed: number): Worker[] {
  return Array.from({ length: count }, (_, i) => ({ id: i + 1, rng: new Rng(seed * 7919 + i), itt: 0, logins: 0 }));
}

export function closeWorkers(workers: Worker[]): void {
  for (const w of workers) {
    w.session?.close();
    w.session = undefined;
  }
}
