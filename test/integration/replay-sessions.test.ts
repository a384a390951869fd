/**
 * A multi-initiator capture replays with its meaning: two sessions record an SPC-2 reservation conflict (A
 * reserves, B's WRITE gets RESERVATION CONFLICT, A releases, B's WRITE passes). Replayed one session per recorded
 * connection, nothing differs; squeezed through one session (the old way), B's conflict disappears.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTarget, type RunningTarget } from '../../server/run-target.ts';
import { TraceRecorder } from '../../server/trace/recorder.ts';
import { recordedToPcapng } from '../../server/trace/pcapng.ts';
import { InitiatorSession } from '../../server/initiator/session.ts';
import { replayCapture } from '../../server/replay/replay.ts';

const IQN = 'iqn.2026-11.org.iscsi-lab:replay-sessions';
const STATUS_GOOD = 0x00;
const STATUS_RESERVATION_CONFLICT = 0x18;
let dir: string;
let target: RunningTarget;
let capture: Uint8Array;

const RESERVE6 = new Uint8Array([0x16, 0, 0, 0, 0, 0]);
const RELEASE6 = new Uint8Array([0x17, 0, 0, 0, 0, 0]);
const WRITE10 = new Uint8Array([0x2a, 0, 0, 0, 0, 8, 0, 0, 1, 0]);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'iscsi-lab-replay-sessions-'));
  target = await startTarget(
    {
      portals: [{ host: '127.0.0.1', port: 0 }],
      iqn: IQN,
      luns: [{ path: join(dir, 'lun0.img'), sizeBytes: 8 << 20, thin: false, removable: false, readOnly: false }],
      acl: [],
    },
    () => undefined,
  );
  const port = target.iscsi.listening[0]!.port;
  const login = (): Promise<InitiatorSession> =>
    InitiatorSession.login({ host: '127.0.0.1', port, targetName: IQN, initiatorName: 'iqn.2026-11.org.iscsi-lab:two-hosts' });
  const a = await login();
  const b = await login();
  // Each new nexus first hears of the power-on: clear it outside the recording.
  for (const s of [a, b]) await s.command(0, new Uint8Array(6)).catch(() => undefined);
  const recorder = new TraceRecorder({ iscsi: target.iscsi, scsi: target.scsi });
  const release = recorder.start();
  const block = Buffer.alloc(512, 0x42);
  expect((await a.command(0, RESERVE6)).status).toBe(STATUS_GOOD);
  expect((await b.command(0, WRITE10, { dataOut: block })).status).toBe(STATUS_RESERVATION_CONFLICT);
  expect((await a.command(0, WRITE10, { dataOut: block })).status).toBe(STATUS_GOOD);
  expect((await a.command(0, RELEASE6)).status).toBe(STATUS_GOOD);
  expect((await b.command(0, WRITE10, { dataOut: block })).status).toBe(STATUS_GOOD);
  release();
  capture = recordedToPcapng(recorder.recent(), recorder.startWallMs);
  recorder.close();
  await a.logout();
  await b.logout();
}, 30_000);

afterAll(async () => {
  await target?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('replay per recorded session', () => {
  const url = (): string => `iscsi://127.0.0.1:${target.iscsi.listening[0]!.port}/${IQN}/0`;

  it('replays each recorded connection as its own session: the reservation conflict comes back', async () => {
    const r = await replayCapture(capture, url());
    expect(r.commands).toBe(5);
    expect(r.lines).toEqual(['replayed 5 commands, 0 differences']);
  });

  it('through one session the conflict is lost, which is why sessions are kept apart', async () => {
    const r = await replayCapture(capture, url(), { sessions: 'one' });
    expect(r.differences).toBeGreaterThan(0);
    expect(r.lines.join('\n')).toMatch(/command 2 WRITE\(10\).*RESERVATION CONFLICT vs GOOD/);
  });
});
