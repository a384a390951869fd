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
import { encodeLogoutRequest } from '../server/iscsi/pdu/logout.ts';
import { decodeR2T } from '../server/iscsi/pdu/r2t.ts';
import { serializePdu } from '../server/iscsi/framing.ts';
import type { Finding } from './fuzz-codecs.ts';
import { completeFrames, mutate, Rng, withDigests } from './fuzz-mutate.ts';
import { CAPTURED_I2T, dataOutFor, loginSeed, sessionSeed, type JoinTarget, type OpenR2T } from './fuzz-seeds.ts';

/** Longer than the 1 s delay on a failed authentication, short enough to find a stall quickly. */
const HANG_MS = 4000;
const PROBE_ITT_BASE = 0x7e000000;

interface LiveTarget {
  port: number;
  iqn: string;
  /** Fault rules are active (--faults): the target may answer the fuzz sessions' own logins with garbage on purpose. */
  faultsActive?: boolean;
}

interface Worker {
  id: number;
  rng: Rng;
  session?: RawSession;
  itt: number;
  logins: number;
  /** Logins of this worker that negotiated header and data digests. */
  digestLogins: number;
  /** R2Ts the target sent this worker's session and nobody answered yet. */
  r2ts: OpenR2T[];
}

export interface LiveStats {
  cases: number;
  preLogin: number;
  inSession: number;
  closedByTarget: number;
  logins: number;
  digestLogins: number;
}

/** What a case sent, kept briefly so an internal error in the target's log can be matched to recent inputs. */
export type RecentCases = string[];

async function reaction(s: RawSession, pred: (p: Pdu) => boolean): Promise<Pdu | 'closed' | 'silent'> {
  const p = await s.next(pred, HANG_MS);
  if (p) return p;
  return s.closed ? 'closed' : 'silent';
}

async function preLoginCase(w: Worker, t: LiveTarget, findings: Finding[], recent: RecentCases, stats: LiveStats, others: Worker[]): Promise<void> {
  const rng = w.rng;
  // Sometimes aim at another worker's live session: a second connection to it, or its reinstatement.
  const victim = rng.chance(0.2) ? rng.pick(others).session : undefined;
  const join: JoinTarget | undefined = victim && !victim.closed ? { tsih: victim.tsih, isid: victim.isid, initiatorName: victim.initiatorName } : undefined;
  const seed = loginSeed(rng, t.iqn, `iqn.2026-11.org.iscsi-lab:fuzz-pre-${w.id}`, join);
  const raw = rng.chance(0.1) ? rng.bytes(rng.int(300)) : rng.chance(0.05) ? seed : mutate(seed, rng, CAPTURED_I2T);
  const bytes = completeFrames(raw);
  remember(recent, 'pre-login', bytes);
  const s = await RawSession.open(t.port);
  try {
    if (bytes.length === 0) return;
    s.socket.write(bytes);
    // Every whole PDU before login gets a Login Response or the connection closes.
    const r = await reaction(s, () => true);
    if (r === 'silent')
      findings.push({ kind: 'hang', detail: `no answer to a pre-login PDU within ${HANG_MS} ms`, hex: bytes.subarray(0, 512).toString('hex') });
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
  // Every third worker negotiates header and data digests: its PDUs go out framed with CRC32C (or a spoilt one).
  await s.login(t.iqn, `iqn.2026-11.org.iscsi-lab:fuzz-${w.id}`, isid.toString('hex'), w.id % 3 === 0);
  s.cmdSN = s.window.expCmdSN;
  w.r2ts = [];
  w.session = s;
  w.logins++;
  if (s.digests) w.digestLogins++;
  return s;
}

async function inSessionCase(w: Worker, t: LiveTarget, findings: Finding[], recent: RecentCases, stats: LiveStats): Promise<void> {
  const rng = w.rng;
  const s = await sessionFor(w, t);
  w.itt = (w.itt + 1) & 0xffffff;
  const point = { cmdSN: s.cmdSN, expStatSN: s.expStatSN, itt: 0x100 + w.itt, targetName: t.iqn };
  // Half the time an open R2T is answered (its Data-Out then bent like any seed): the data-out path gets deep.
  const r2t = w.r2ts.length && rng.chance(0.5) ? w.r2ts.splice(rng.int(w.r2ts.length), 1)[0]! : undefined;
  const seeds = r2t ? dataOutFor(r2t, point) : sessionSeed(rng, point);
  let raw: Buffer;
  if (rng.chance(0.05)) raw = rng.bytes(rng.int(200));
  // eslint-disable-next-line no-dupe-else-if -- a second, independent draw (the seeds' sequence depends on it)
  else if (rng.chance(0.05)) raw = Buffer.concat(seeds);
  else {
    const i = rng.int(seeds.length);
    raw = Buffer.concat(seeds.map((b, j) => (j === i ? completeFrames(mutate(b, rng, CAPTURED_I2T)) : b)));
  }
  const bytes = s.digests ? withDigests(completeFrames(raw), rng) : completeFrames(raw);
  remember(recent, `session ${w.id}${s.digests ? ' (digests)' : ''}`, bytes);
  const probeItt = PROBE_ITT_BASE + (w.itt & 0xffffff);
  const nop = encodeNopOut({ immediate: true, lun: 0, itt: probeItt, ttt: 0xffffffff, sn: s.cmdSN, expSN: s.expStatSN, maxCmdSN: 0, data: Buffer.alloc(0) });
  const probe = Buffer.concat(serializePdu(nop, s.digests, s.digests));
  s.socket.write(Buffer.concat([bytes, probe]));
  const r = await reaction(s, (p) => opcodeOf(p.bhs) === Opcode.NopIn && p.bhs.readUInt32BE(16) === probeItt);
  if (r === 'silent') {
    findings.push({
      kind: 'hang',
      detail: `no answer to an immediate NOP-Out after a session PDU within ${HANG_MS} ms`,
      hex: bytes.subarray(0, 512).toString('hex'),
    });
    s.close();
  } else if (r === 'closed') stats.closedByTarget++;
  else {
    // Follow the window: the probe's NOP-In carries ExpCmdSN (RFC 7143 11.19), so the next seed lands in it.
    s.cmdSN = decodeNop(r).expSN;
  }
  // Of what else came back (Data-In, Reject...), only R2Ts are kept, to be answered.
  for (const p of s.received)
    if (opcodeOf(p.bhs) === Opcode.R2T && w.r2ts.length < 16) {
      const d = decodeR2T(p);
      w.r2ts.push({ itt: d.itt, ttt: d.ttt, offset: d.bufferOffset, length: Math.min(d.desiredDataTransferLength, 1 << 20) });
    }
  s.received.length = 0;
}

function remember(recent: RecentCases, where: string, bytes: Buffer): void {
  recent.push(`${where}: ${bytes.subarray(0, 256).toString('hex')}`);
  if (recent.length > 64) recent.shift();
}

/** Runs `cases` live cases over `workers` concurrent connections. */
export async function fuzzLive(t: LiveTarget, cases: number, workers: Worker[], findings: Finding[], recent: RecentCases, stats: LiveStats): Promise<void> {
  let next = 0;
  await Promise.all(
    workers.map(async (w) => {
      while (next < cases) {
        next++;
        stats.cases++;
        try {
          if (w.rng.chance(0.25)) {
            stats.preLogin++;
            await preLoginCase(w, t, findings, recent, stats, workers);
          } else {
            stats.inSession++;
            await inSessionCase(w, t, findings, recent, stats);
          }
        } catch (err) {
          // A login the fuzz session itself needs failing is the target's problem only if a fresh session fails too:
          // the health check after the batch decides. Here it just costs a reconnect.
          w.session?.close();
          w.session = undefined;
          if (!t.faultsActive && !/login failed|ECONNRESET|EPIPE|no Login Response/.test(String(err))) throw err;
        }
      }
    }),
  );
}

export function makeWorkers(count: number, seed: number): Worker[] {
  return Array.from({ length: count }, (_, i) => ({ id: i + 1, rng: new Rng(seed * 7919 + i), itt: 0, logins: 0, digestLogins: 0, r2ts: [] }));
}

/**
 * Ends every worker's session with a Logout, which waits for the session's running commands (RFC 7143 11.14): a
 * SCSI command that never finishes shows here as a Logout Response that never comes.
 */
export async function logoutWorkers(workers: Worker[], findings: Finding[], recent: RecentCases): Promise<void> {
  await Promise.all(
    workers.map(async (w) => {
      const s = w.session;
      w.session = undefined;
      if (!s || s.closed) return;
      s.received.length = 0;
      s.send(encodeLogoutRequest({ immediate: true, reason: 0, itt: 0x7dffffff, cid: 0, cmdSN: s.cmdSN, expStatSN: s.expStatSN }));
      const r = await reaction(s, (p) => opcodeOf(p.bhs) === Opcode.LogoutResponse);
      if (r === 'silent')
        findings.push({
          kind: 'hang',
          detail: `session of fuzz worker ${w.id}: no Logout Response within ${HANG_MS} ms (a command that never finishes?)`,
          hex: recent.join('\n'),
        });
      s.close();
    }),
  );
}

export function closeWorkers(workers: Worker[]): void {
  for (const w of workers) {
    w.session?.close();
    w.session = undefined;
  }
}
