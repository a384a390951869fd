import { describe, expect, it } from 'vitest';
import { srtCsv, StatsCollector } from '../../server/capture/srt.ts';

/** A BHS: opcode, flags, and the fields the collector reads. */
function bhs(opcode: number, o: { flags?: number; itt?: number; cdb0?: number; isid?: number[]; tsih?: number; dataLength?: number } = {}): Uint8Array {
  const b = new Uint8Array(48);
  b[0] = opcode;
  b[1] = o.flags ?? 0;
  const dl = o.dataLength ?? 0;
  b[5] = dl >> 16;
  b[6] = (dl >> 8) & 0xff;
  b[7] = dl & 0xff;
  if (o.isid) b.set(o.isid, 8);
  if (o.tsih !== undefined) new DataView(b.buffer).setUint16(14, o.tsih);
  new DataView(b.buffer).setUint32(16, o.itt ?? 0);
  if (o.cdb0 !== undefined) b[32] = o.cdb0;
  return b;
}

const LOGIN_FINAL = 0x80 | 0x04 | 0x03; // T, CSG operational, NSG full feature
const login = (connectionId: number, isid: number[], tsih: number, timeNs = 0) => ({
  connectionId,
  timeNs,
  bhs: bhs(0x23, { flags: LOGIN_FINAL, isid, tsih }),
});
const read = (connectionId: number, itt: number, t0: number, t1: number) => [
  { connectionId, timeNs: t0, bhs: bhs(0x01, { flags: 0xc0, itt, cdb0: 0x28 }) },
  { connectionId, timeNs: t1, bhs: bhs(0x25, { flags: 0x81, itt, dataLength: 512 }) },
];

describe('statistics per session', () => {
  it('splits SRT and rates by session (ISID + TSIH of the final Login Response); connections of one session add up', () => {
    const c = new StatsCollector(1_000);
    const a = [0x80, 1, 2, 3, 0, 0];
    const b = [0x80, 9, 9, 9, 0, 0];
    for (const p of [login(0, a, 1), login(1, b, 2), login(2, a, 1), ...read(0, 7, 10, 30), ...read(1, 7, 20, 120), ...read(2, 7, 40, 50)]) c.add(p);
    const s = c.result();
    expect(s.srt.map((r) => [r.name, r.calls])).toEqual([['READ(10)', 3]]);
    expect(s.sessions.map((x) => [x.session, x.connections, x.srt[0]!.calls, x.srt[0]!.maxNs])).toEqual([
      ['ISID 0x800102030000 TSIH 1', [0, 2], 2, 20],
      ['ISID 0x800909090000 TSIH 2', [1], 1, 100],
    ]);
    expect(s.sessions[0]!.buckets.reduce((n, x) => n + x.readBytes, 0)).toBe(1024);
    const csv = srtCsv(s).trim().split('\n');
    expect(csv).toEqual([
      'session,opcode,procedure,calls,with_sense,min_s,max_s,avg_s,sum_s,p50_s,p90_s,p99_s',
      expect.stringMatching(/^all,40,READ\(10\),3,0,/),
      expect.stringMatching(/^ISID 0x800102030000 TSIH 1,40,READ\(10\),2,0,/),
      expect.stringMatching(/^ISID 0x800909090000 TSIH 2,40,READ\(10\),1,0,/),
    ]);
  });

  it('a connection whose login the capture lacks is a session of its own', () => {
    const c = new StatsCollector();
    for (const p of read(5, 1, 0, 10)) c.add(p);
    expect(c.result().sessions.map((x) => x.session)).toEqual(['connection 5']);
  });
});
