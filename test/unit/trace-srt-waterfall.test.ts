/**
 * SRT per opcode (shared/trace/scsi-srt.ts) joins command and status by connection + ITT, and the waterfall
 * (web/src/lib/waterfall.ts) splits one task's time into segments that add up to its measured total.
 */
import { describe, expect, it } from 'vitest';
import { percentile, scsiSrt } from '../../shared/trace/scsi-srt.ts';
import type { PduTraceEvent, StoreTraceEvent } from '../../shared/trace/schema.ts';
import { waterfallRow } from '../../web/src/lib/waterfall.ts';

const TCP = { src: '127.0.0.1', srcPort: 40000, dst: '127.0.0.1', dstPort: 3260 };
let seq = 0;

function pdu(timeNs: number, over: Partial<PduTraceEvent> & Pick<PduTraceEvent, 'opcode' | 'direction'>, data = 0): PduTraceEvent {
  return {
    type: 'pdu',
    seq: ++seq,
    timeNs,
    wallMs: 0,
    connectionId: 1,
    tsih: 1,
    tcp: TCP,
    opcodeName: '',
    immediate: false,
    lengths: { bhs: 48, ahs: 0, headerDigest: 0, data, padding: 0, dataDigest: 0, total: 48 + data },
    headerDigest: false,
    dataDigest: false,
    fields: {},
    rawLength: 48 + data,
    ...over,
  };
}
const cmd = (t: number, itt: number, opcode: number, name: string, conn = 1) =>
  pdu(t, {
    opcode: 0x01,
    direction: 'i2t',
    connectionId: conn,
    opcodeName: 'SCSI Command',
    fields: { InitiatorTaskTag: itt },
    scsi: { opcode, opcodeName: name, lba: 8, blocks: 8 },
  });
const rsp = (t: number, itt: number, conn = 1) =>
  pdu(t, { opcode: 0x21, direction: 't2i', connectionId: conn, opcodeName: 'SCSI Response', fields: { InitiatorTaskTag: itt } });
const dataIn = (t: number, itt: number, s: boolean, data = 64) =>
  pdu(t, { opcode: 0x25, direction: 't2i', opcodeName: 'SCSI Data-In', fields: { InitiatorTaskTag: itt, S: s } }, data);

describe('SCSI SRT', () => {
  it('counts a call per command matched to its status by connection + ITT, not by time', () => {
    const pdus = [
      cmd(0, 1, 0x88, 'READ(16)'),
      cmd(10, 1, 0x8a, 'WRITE(16)', 2),
      dataIn(20, 1, false),
      dataIn(30, 1, true),
      rsp(45, 1, 2),
      cmd(50, 2, 0x00, 'TEST UNIT READY'), // never answered: not a call
      rsp(60, 9), // no command: not a call
    ];
    const { rows } = scsiSrt(pdus);
    expect(rows.map((r) => [r.opcode, r.calls, r.minNs])).toEqual([
      [0x88, 1, 30],
      [0x8a, 1, 35],
    ]);
    expect(scsiSrt(pdus, { sinceNs: 5 }).rows.map((r) => r.opcode)).toEqual([0x8a]);
  });

  it('leaves out, as tshark does, a call whose SCSI Response carries sense data', () => {
    const withSense = pdu(9, { opcode: 0x21, direction: 't2i', opcodeName: 'SCSI Response', fields: { InitiatorTaskTag: 3 } }, 20);
    expect(scsiSrt([cmd(0, 3, 0x00, 'TEST UNIT READY'), withSense])).toMatchObject({ rows: [], tsharkSkips: 1 });
  });

  it('nearest-rank percentiles', () => {
    const v = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    expect([percentile(v, 50), percentile(v, 90), percentile(v, 99)]).toEqual([5, 9, 10]);
  });

  it('leaves out, as tshark does, an INQUIRY whose Data-In with status holds standard data cut by the allocation length or shorter than 74 bytes', () => {
    const c = cmd(0, 5, 0x12, 'INQUIRY');
    const d = dataIn(10, 5, true, 64);
    const cdb = new Uint8Array(48);
    cdb[32] = 0x12;
    const full = new Uint8Array(48 + 64);
    full[48 + 4] = 69; // ADDITIONAL LENGTH: 74 bytes exist, 64 were asked for
    const raw = (s: number) => (s === c.seq ? cdb : s === d.seq ? full : undefined);
    expect(scsiSrt([c, d], { raw })).toMatchObject({ rows: [], tsharkSkips: 1 });
    full[48 + 4] = 59; // 64 bytes exist: nothing cut, but tshark's dissector reads 74 (tgt's whole answer is 66)
    expect(scsiSrt([c, d], { raw })).toMatchObject({ rows: [], tsharkSkips: 1 });
    const c2 = cmd(20, 6, 0x12, 'INQUIRY');
    const d2 = dataIn(30, 6, true, 74);
    const whole = new Uint8Array(48 + 74);
    whole[48 + 4] = 69; // all 74 bytes there: counted
    const raw2 = (s: number) => (s === c2.seq ? cdb : s === d2.seq ? whole : undefined);
    expect(scsiSrt([c2, d2], { raw: raw2 }).rows[0]?.calls).toBe(1);
  });
});

describe('waterfall', () => {
  it('splits a READ into queue, cache lookup, store, cache work and answer that add up to its total', () => {
    const c = cmd(1_000, 7, 0x88, 'READ(16)');
    const d = dataIn(9_000, 7, true);
    const store: StoreTraceEvent = {
      type: 'store',
      seq: ++seq,
      timeNs: 7_000,
      wallMs: 0,
      kind: 'read',
      lun: 0,
      lba: 8,
      blocks: 8,
      fua: false,
      durationNs: 4_000,
      taskId: 1,
      cache: {
        policy: '2q',
        mode: 'write-back',
        ranges: [{ lba: 8, blocks: 8, outcome: 'miss' }],
        lookupMs: 0.0005,
        storeReadMs: 0.003,
        storeWriteMs: 0,
        flushMs: 0,
      },
    };
    const row = waterfallRow(1, [c, d], [store])!;
    expect(row.ns).toEqual({ request: 0, queue: 2_000, lookup: 500, store: 3_000, sync: 0, cache: 500, answer: 2_000 });
    expect(Object.values(row.ns).reduce((a, b) => a + b, 0)).toBe(row.totalNs);
    expect(row.cache).toBe('miss');
    expect(waterfallRow(1, [c], [store]), 'no status yet').toBeUndefined();
  });
});
