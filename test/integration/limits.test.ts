// The target's limits, each against the real CLI over real TCP: what happens one past the limit, and that
// everyone else is still served.
// - --max-sessions: one login too many gets Login Response 0x0302 "out of resources" (RFC 7143 11.13.5).
// - --max-commands: the CmdSN window (MaxCmdSN) never opens past N outstanding commands; a command beyond it is
//   ignored until one finishes (RFC 7143 4.2.2.1); immediate commands, which skip the window, get Reject 0x06.
// - --max-connections: slowloris logins (a byte now and then) make room for a real login; logged-in connections
//   fill the table and the next connection is refused; the login timeout ends a login that never finishes.
// - A slow reader (asks for data, never reads it) cannot make the target buffer without bound.
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { InitiatorSession } from '../../server/initiator/session.ts';
import { clearUnitAttentions, inquiry, read16 } from '../../server/initiator/scsi.ts';
import { Opcode } from '../../server/iscsi/constants.ts';
import { opcodeOf } from '../../server/iscsi/pdu.ts';
import { encodeDataOut } from '../../server/iscsi/pdu/data.ts';
import { encodeLoginRequest } from '../../server/iscsi/pdu/login.ts';
import { decodeNop, encodeNopOut } from '../../server/iscsi/pdu/nop.ts';
import { decodeR2T } from '../../server/iscsi/pdu/r2t.ts';
import { decodeReject } from '../../server/iscsi/pdu/reject.ts';
import { encodeScsiCommand } from '../../server/iscsi/pdu/scsi-command.ts';
import { encodeTextRequest } from '../../server/iscsi/pdu/text.ts';
import { decodeScsiResponse } from '../../server/iscsi/pdu/scsi-response.ts';
import { serializePdu } from '../../server/iscsi/framing.ts';
import { encodeKeys } from '../../server/iscsi/text-keys.ts';
import { read10, write10 } from '../helpers/cdb.ts';
import { RawSession } from '../helpers/raw-session.ts';
import { startTarget, type RunningTarget } from '../helpers/target.ts';
import { parseTargetArgs } from '../../server/config/target-flags.ts';
import { UsageError } from '../../server/config/usage-error.ts';
import { TARGET_LIMITS } from '../../server/iscsi/target.ts';
import { defaultDataInFlight } from '../../server/iscsi/data-budget.ts';

const IQN = 'iqn.2026-11.org.iscsi-lab:limits';
let target: RunningTarget | undefined;
const sockets: Socket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  if (target) expect(await target.stop()).toEqual({ code: 0, signal: null });
  target = undefined;
});

async function start(args: string[]): Promise<RunningTarget> {
  target = await startTarget({ iqn: IQN, args });
  return target;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A fresh session that logs in, clears its unit attention, INQUIRY and READ: "the target still serves". */
async function serves(port: number, name = 'iqn.2026-11.org.iscsi-lab:fresh'): Promise<InitiatorSession> {
  const s = await InitiatorSession.login({ host: '127.0.0.1', port, targetName: IQN, initiatorName: name, isid: randomIsid() });
  await clearUnitAttentions(s, 0);
  expect((await inquiry(s, 0)).subarray(8, 16).toString()).toBe('ISCSILAB');
  expect((await read16(s, 0, 0n, 8, 512)).status).toBe(0);
  return s;
}

let isidCounter = 0x100;
function randomIsid(): Buffer {
  const b = Buffer.from('80000000aa00', 'hex');
  b.writeUInt16BE(isidCounter++ & 0xffff, 4);
  return b;
}

function command(s: RawSession, itt: number, cmdSN: number, cdb: Uint8Array, o: { read?: number; write?: number; immediate?: boolean } = {}) {
  return encodeScsiCommand({
    immediate: o.immediate ?? false,
    final: true,
    read: o.read !== undefined,
    write: o.write !== undefined,
    attribute: 1,
    lun: 0,
    itt,
    expectedDataTransferLength: o.read ?? o.write ?? 0,
    cmdSN,
    expStatSN: s.expStatSN,
    cdb: Buffer.from(cdb),
  });
}

const nop = (s: RawSession, itt: number, cmdSN: number) =>
  encodeNopOut({ immediate: false, lun: 0, itt, ttt: 0xffffffff, sn: cmdSN, expSN: s.expStatSN, maxCmdSN: 0, data: Buffer.alloc(0) });

function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]) * 1024;
}

function loginBytes(isid: string): Buffer {
  const pdu = encodeLoginRequest({
    transit: true,
    continue: false,
    csg: 1,
    nsg: 3,
    versionMax: 0,
    versionMin: 0,
    isid: Buffer.from(isid, 'hex'),
    tsih: 0,
    itt: 1,
    cid: 0,
    cmdSN: 1,
    expStatSN: 0,
    data: encodeKeys([
      ['InitiatorName', 'iqn.2026-11.org.iscsi-lab:slowloris'],
      ['TargetName', IQN],
      ['SessionType', 'Normal'],
    ]),
  });
  return Buffer.concat(serializePdu(pdu, false, false));
}

/** A login that sends `first` bytes at once and then one byte every `everyMs`: never finishing in time. */
async function slowloris(port: number, first: number, everyMs: number): Promise<{ socket: Socket; closedAt: Promise<number> }> {
  const socket = connect(port, '127.0.0.1');
  sockets.push(socket);
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  socket.on('error', () => undefined);
  const bytes = loginBytes('80000000bb01');
  socket.write(bytes.subarray(0, first));
  let at = first;
  const timer = setInterval(() => {
    if (at < bytes.length && !socket.destroyed) socket.write(bytes.subarray(at, ++at));
  }, everyMs);
  const closedAt = new Promise<number>((r) =>
    socket.once('close', () => {
      clearInterval(timer);
      r(Date.now());
    }),
  );
  return { socket, closedAt };
}

describe('limit flags', () => {
  const base = ['--iqn', 'iqn.2026-11.org.iscsi-lab:x', '--lun', 'x.img:64M'];
  it('parse into the target config; unset ones keep the defaults', () => {
    expect(parseTargetArgs([...base, '--max-sessions', '3', '--max-connections=10', '--max-commands', '16']).limits).toEqual({
      maxSessions: 3,
      maxConnections: 10,
      maxCommands: 16,
    });
    expect(parseTargetArgs(base).limits).toEqual({});
    expect(TARGET_LIMITS).toEqual({ maxSessions: 64, maxConnections: 256, maxCommands: 128, maxDataInFlight: defaultDataInFlight() });
    expect(parseTargetArgs([...base, '--max-data-in-flight', '512M']).limits).toEqual({ maxDataInFlight: 512 << 20 });
    // An eighth of memory, from 128 MiB to 1 GiB.
    expect([defaultDataInFlight(512 << 20), defaultDataInFlight(4 * 1024 ** 3), defaultDataInFlight(64 * 1024 ** 3)]).toEqual([
      128 << 20,
      512 << 20,
      1024 << 20,
    ]);
  });
  it.each([
    ['--max-sessions', '0'],
    ['--max-sessions', '65536'],
    ['--max-commands', 'many'],
    ['--max-commands', '1e3'],
    ['--max-connections', '-1'],
    ['--max-connections', ''],
    ['--max-data-in-flight', '1M'],
    ['--max-data-in-flight', '1e9'],
    ['--max-data-in-flight', '1000T'],
    ['--max-data-in-flight', ''],
  ])('refuses %s %j with a usage error', (flag, value) => {
    expect(() => parseTargetArgs([...base, flag, value])).toThrow(UsageError);
  });
});

describe('target limits', () => {
  it('--max-sessions 2: the third login gets "out of resources" (0x0302), and one more fits once a session ends', async () => {
    const t = await start(['--max-sessions', '2']);
    const a = await RawSession.open(t.port);
    await a.login(IQN, 'iqn.2026-11.org.iscsi-lab:a', '800000000a01');
    const b = await RawSession.open(t.port);
    await b.login(IQN, 'iqn.2026-11.org.iscsi-lab:b', '800000000b01');
    const c = await RawSession.open(t.port);
    await expect(c.login(IQN, 'iqn.2026-11.org.iscsi-lab:c', '800000000c01')).rejects.toThrow('login failed 3/2');
    // A reinstatement (same initiator port) replaces a session rather than adding one: allowed at the limit.
    const a2 = await RawSession.open(t.port);
    await a2.login(IQN, 'iqn.2026-11.org.iscsi-lab:a', '800000000a01');
    b.close();
    await sleep(200);
    const s = await serves(t.port);
    await s.logout();
    a2.close();
    for (const r of [a, b, c]) r.close();
  });

  it('--max-commands 4: MaxCmdSN stays 4 ahead at most; a fifth command waits out of window until one finishes', async () => {
    const t = await start(['--max-commands', '4']);
    const s = await RawSession.open(t.port);
    await s.login(IQN);
    expect((s.window.maxCmdSN - s.window.expCmdSN + 1) >>> 0).toBe(4);
    // Four WRITEs without their data: each gets an R2T and stays outstanding.
    const r2ts = [];
    for (let i = 0; i < 4; i++) {
      s.send(command(s, 0x10 + i, 1 + i, write10(100 + i, 1), { write: 512 }));
      const p = await s.next();
      expect(p && opcodeOf(p.bhs)).toBe(Opcode.R2T);
      r2ts.push(decodeR2T(p!));
    }
    // Four outstanding, CmdSN 1-4 taken: ExpCmdSN 5, MaxCmdSN 4 (window closed, RFC 7143 4.2.2.1).
    expect(r2ts[3]!.expCmdSN).toBe(5);
    expect(r2ts[3]!.maxCmdSN).toBe(4);
    s.send(nop(s, 0x99, 5));
    expect(await s.next(() => true, 500), 'a command past MaxCmdSN is ignored').toBeUndefined();
    // The first WRITE gets its data and completes: the window opens by one.
    s.send(
      encodeDataOut({ final: true, lun: 0, itt: 0x10, ttt: r2ts[0]!.ttt, expStatSN: s.expStatSN, dataSN: 0, bufferOffset: 0, data: Buffer.alloc(512, 7) }),
    );
    const resp = await s.next();
    expect(resp && opcodeOf(resp.bhs)).toBe(Opcode.ScsiResponse);
    expect(decodeScsiResponse(resp!)).toMatchObject({ status: 0, maxCmdSN: 5 });
    s.send(nop(s, 0x99, 5));
    const pong = await s.next();
    expect(pong && opcodeOf(pong.bhs)).toBe(Opcode.NopIn);
    expect(decodeNop(pong!).itt).toBe(0x99);
    s.close();
  });

  it('--max-commands 8: immediate commands past the cap get Reject "too many immediate commands" (0x06)', async () => {
    const t = await start(['--max-commands', '8']);
    const s = await RawSession.open(t.port);
    await s.login(IQN);
    const count = 64;
    const parts = [];
    for (let i = 0; i < count; i++) parts.push(...serializePdu(command(s, 0x100 + i, 1, read10(i, 1), { read: 512, immediate: true }), false, false));
    s.socket.write(Buffer.concat(parts));
    let answered = 0;
    let rejected = 0;
    for (let i = 0; i < count; i++) {
      const p = await s.next();
      if (!p) break;
      if (opcodeOf(p.bhs) === Opcode.Reject) {
        expect(decodeReject(p).reason).toBe(0x06);
        rejected++;
      } else answered++;
    }
    expect(answered + rejected).toBe(count);
    expect(rejected).toBeGreaterThan(0);
    expect(answered).toBeGreaterThanOrEqual(8);
    s.send(command(s, 0x999, 1, read10(0, 1), { read: 512 }));
    expect((await s.next()) && true).toBe(true);
    s.close();
  });

  it('--max-connections 6: slowloris logins make room for real ones; logged-in ones fill it; the login timeout ends the rest', async () => {
    const t = await start(['--max-connections', '6']);
    const loris = [];
    for (let i = 0; i < 6; i++) loris.push(await slowloris(t.port, 20, 700));
    // Table full of half-logins: a real initiator still gets in, at once, by evicting the oldest.
    const started = Date.now();
    const sessions = [await serves(t.port)];
    expect(Date.now() - started).toBeLessThan(5000);
    expect(await Promise.race([loris[0]!.closedAt.then(() => 'closed'), sleep(1000).then(() => 'open')])).toBe('closed');
    // The table fills with logged-in sessions, each pushing out one more slowloris.
    for (let i = 1; i < 6; i++) sessions.push(await serves(t.port, `iqn.2026-11.org.iscsi-lab:s${i}`));
    for (const l of loris) expect(await Promise.race([l.closedAt.then(() => 'closed'), sleep(1000).then(() => 'open')])).toBe('closed');
    // Now six logged-in connections: a seventh is refused outright (closed without an answer).
    await expect(
      InitiatorSession.login({ host: '127.0.0.1', port: t.port, targetName: IQN, initiatorName: 'iqn.2026-11.org.iscsi-lab:seventh' }),
    ).rejects.toThrow();
    await sessions.pop()!.logout();
    await sleep(100);
    sessions.push(await serves(t.port, 'iqn.2026-11.org.iscsi-lab:eighth'));
    for (const s of sessions) await s.logout();
    expect(t.alive()).toBe(true);
  });

  it('ends a login that trickles in a byte at a time after the login timeout (15 s), serving others meanwhile', async () => {
    const t = await start([]);
    const opened = Date.now();
    const l = await slowloris(t.port, 1, 500);
    const s = await serves(t.port);
    await s.logout();
    const closed = await l.closedAt;
    expect(closed - opened).toBeGreaterThan(14_000);
    expect(closed - opened).toBeLessThan(20_000);
  }, 25_000);

  it('a slow reader that asks for 300 MiB with immediate READs and reads none of it does not make the target hold it', async () => {
    const t = await start(['--max-commands', '8']);
    const s = await RawSession.open(t.port);
    await s.login(IQN);
    const before = rssBytes(t.proc.pid!);
    // Stop reading: the socket buffers fill, then the target's writes back up.
    s.socket.pause();
    const blocks = 2048; // 1 MiB per READ
    for (let i = 0; i < 300; i++) {
      // Immediate commands: no CmdSN window to wait for, only the cap on outstanding tasks.
      s.send(command(s, 0x1000 + i, 1, read10((i * blocks) % 65536, blocks), { read: blocks * 512, immediate: true }));
      await sleep(3);
    }
    await sleep(500);
    const after = rssBytes(t.proc.pid!);
    // Others are served meanwhile.
    const fresh = await serves(t.port);
    expect((await read16(fresh, 0, 0n, 2048, 512)).data?.length).toBe(1 << 20);
    await fresh.logout();
    // 8 commands of 1 MiB in flight, plus socket buffers: far below the 300 MiB asked for (without the target
    // pausing its reads while its writes back up, RSS grows by ~230 MiB here).
    expect(after - before, `RSS ${before >> 20} -> ${after >> 20} MiB`).toBeLessThan(64 << 20);
    // And SIGTERM still ends the target (exit 0, checked in afterEach) with the slow reader connected.
    sockets.push(s.socket);
    expect(await t.stop()).toEqual({ code: 0, signal: null });
    target = undefined;
  });

  it('a Text Request continued without end (C bit) is refused past 64 KiB, not gathered without bound', async () => {
    const t = await start([]);
    const s = await RawSession.open(t.port);
    await s.login(IQN);
    const before = rssBytes(t.proc.pid!);
    const chunk = Buffer.alloc(262144, 0x41); // one 'A' key without '=', never finished
    let rejected = 0;
    for (let i = 0; i < 200 && rejected === 0; i++) {
      s.send(
        encodeTextRequest({
          immediate: true,
          final: false,
          continue: true,
          lun: 0,
          itt: 0x500 + i,
          ttt: 0xffffffff,
          sn: 1,
          expSN: s.expStatSN,
          maxCmdSN: 0,
          data: chunk,
        }),
      );
      const p = await s.next();
      if (p && opcodeOf(p.bhs) === Opcode.Reject) rejected++;
      else expect(p && opcodeOf(p.bhs)).toBe(Opcode.TextResponse);
    }
    expect(rejected).toBe(1);
    const after = rssBytes(t.proc.pid!);
    expect(after - before, `RSS ${before >> 20} -> ${after >> 20} MiB`).toBeLessThan(32 << 20);
    // The session goes on: a complete Text Request is answered.
    s.send(
      encodeTextRequest({
        immediate: true,
        final: true,
        continue: false,
        lun: 0,
        itt: 0x900,
        ttt: 0xffffffff,
        sn: 1,
        expSN: s.expStatSN,
        maxCmdSN: 0,
        data: encodeKeys([['SendTargets', '']]),
      }),
    );
    const r = await s.next();
    expect(r && opcodeOf(r.bhs)).toBe(Opcode.TextResponse);
    expect(r!.data.toString()).toContain(`TargetName=${IQN}`);
    s.close();
  });

  it('gathers at most 128 MiB of write data per connection: a write past it gets TASK SET FULL', async () => {
    const t = await start([]);
    const s = await RawSession.open(t.port);
    await s.login(IQN);
    const write16 = (lba: number) => {
      const c = Buffer.alloc(16);
      c[0] = 0x8a;
      c.writeBigUInt64BE(BigInt(lba), 2);
      c.writeUInt32BE(65536, 10); // 32 MiB, the most one command may write
      return c;
    };
    // Four 32 MiB writes wait for their data (R2T), holding 128 MiB between them; the fifth would pass the cap.
    for (let i = 0; i < 5; i++) s.send(command(s, 0x700 + i, 1 + i, write16(0), { write: 32 << 20 }));
    const seen: string[] = [];
    for (let i = 0; i < 5; i++) {
      const p = await s.next();
      if (p && opcodeOf(p.bhs) === Opcode.R2T) seen.push('R2T');
      else if (p && opcodeOf(p.bhs) === Opcode.ScsiResponse) seen.push(`status 0x${decodeScsiResponse(p).status.toString(16)}`);
    }
    expect(seen).toEqual(['R2T', 'R2T', 'R2T', 'R2T', 'status 0x28']);
    // Others are unaffected.
    const fresh = await serves(t.port);
    await fresh.logout();
    s.close();
  });

  it('holds at most 128 MiB of read data per connection for a reader that does not read: past it, TASK SET FULL', async () => {
    const t = await start([]);
    const s = await RawSession.open(t.port);
    await s.login(IQN);
    const before = rssBytes(t.proc.pid!);
    s.socket.pause();
    // 24 READs of 32 MiB in one go (768 MiB), all inside the default window of 128: only the cap stands in the way.
    const parts = [];
    for (let i = 0; i < 24; i++) {
      const c = Buffer.alloc(16);
      c[0] = 0x88;
      c.writeUInt32BE(65536, 10);
      parts.push(...serializePdu(command(s, 0x800 + i, 1 + i, c, { read: 32 << 20 }), false, false));
    }
    s.socket.write(Buffer.concat(parts));
    await sleep(1500);
    const held = rssBytes(t.proc.pid!) - before;
    s.socket.resume();
    let full = 0;
    let good = 0;
    for (let i = 0; i < 24; i++) {
      const p = await s.next((q) => opcodeOf(q.bhs) === Opcode.ScsiResponse || (opcodeOf(q.bhs) === Opcode.ScsiDataIn && (q.bhs[1]! & 0x01) === 1), 10_000);
      if (!p) break;
      if (opcodeOf(p.bhs) === Opcode.ScsiResponse && decodeScsiResponse(p).status === 0x28) full++;
      else good++;
    }
    expect({ good, full }).toEqual({ good: 4, full: 20 });
    expect(held, `RSS grew ${held >> 20} MiB`).toBeLessThan(320 << 20);
    s.close();
  }, 60_000);
});
