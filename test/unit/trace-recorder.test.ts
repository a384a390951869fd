import { describe, expect, it } from 'vitest';
import { Tap } from '../../server/trace/tap.ts';
import { TraceQueue, TraceRecorder } from '../../server/trace/recorder.ts';
import type { PduEvent, SessionEvent } from '../../server/iscsi/events.ts';
import type { ScsiEvent, StoreEvent } from '../../server/scsi/events.ts';
import type { Pdu } from '../../server/iscsi/pdu.ts';
import { encodeScsiCommand } from '../../server/iscsi/pdu/scsi-command.ts';
import { encodeR2T } from '../../server/iscsi/pdu/r2t.ts';
import { encodeDataOut } from '../../server/iscsi/pdu/data.ts';
import { encodeScsiResponse } from '../../server/iscsi/pdu/scsi-response.ts';
import { encodeNopOut } from '../../server/iscsi/pdu/nop.ts';
import { decodeRawFrame, encodeRawFrame, RawFrameError, type PduTraceEvent } from '../../shared/trace/schema.ts';

function rig(opts: { ringPdus?: number; ringBytes?: number } = {}) {
  const iscsi = { taps: { pdu: new Tap<PduEvent>('pdu'), session: new Tap<SessionEvent>('session') } };
  const scsi = { taps: { scsi: new Tap<ScsiEvent>('scsi'), store: new Tap<StoreEvent>('store') } };
  const rec = new TraceRecorder({ iscsi, scsi, ...opts });
  let t = 0n;
  const address = { localAddress: '127.0.0.1', localPort: 3260, remoteAddress: '127.0.0.1', remotePort: 40000 };
  const send = (direction: 'in' | 'out', pdu: Pdu, connectionId = 1) => {
    if (iscsi.taps.pdu.active)
      iscsi.taps.pdu.emit({ direction, connectionId, tsih: 1, address, timeNs: rec.startNs + (t += 1000n), pdu, headerDigest: false, dataDigest: false });
  };
  return { iscsi, scsi, rec, send };
}

const write = (itt: number, cmdSN: number) =>
  encodeScsiCommand({ immediate: false, final: true, read: false, write: true, attribute: 1, lun: 0, itt, expectedDataTransferLength: 1024, cmdSN, expStatSN: 1, cdb: Buffer.from('2a000000001000000200000000000000', 'hex') });
const r2t = (itt: number) => encodeR2T({ lun: 0, itt, ttt: 7, statSN: 1, expCmdSN: 2, maxCmdSN: 9, r2tSN: 0, bufferOffset: 0, desiredDataTransferLength: 1024 });
const dataOut = (itt: number, data: Buffer) => encodeDataOut({ final: true, lun: 0, itt, ttt: 7, expStatSN: 1, dataSN: 0, bufferOffset: 0, data });
const response = (itt: number) => encodeScsiResponse({ response: 0, status: 0, itt, statSN: 1, expCmdSN: 2, maxCmdSN: 9, expDataSN: 0, overflow: false, underflow: false, residualCount: 0 });

describe('TraceRecorder', () => {
  it('subscribes to the taps only while a consumer or a hold exists', () => {
    const { iscsi, scsi, rec } = rig();
    expect(iscsi.taps.pdu.active).toBe(false);
    const off = rec.subscribe(() => {});
    expect(iscsi.taps.pdu.active && scsi.taps.store.active).toBe(true);
    const release = rec.start();
    off();
    expect(iscsi.taps.pdu.active).toBe(true);
    release();
    expect(iscsi.taps.pdu.active || scsi.taps.scsi.active).toBe(false);
  });

  it('correlates a write task and copies the raw bytes once (receive buffers are reused)', () => {
    const { rec, send } = rig();
    const seen: PduTraceEvent[] = [];
    rec.subscribe(({ event: e }) => e.type === 'pdu' && seen.push(e));
    const payload = Buffer.alloc(1024, 0x11);
    send('in', write(5, 1));
    send('out', r2t(5));
    send('in', dataOut(5, payload));
    payload.fill(0x22); // the framing layer reuses its buffer
    send('out', response(5));
    send('in', write(6, 2));
    expect(seen.map((e) => e.opcodeName)).toEqual(['SCSI Command', 'R2T', 'SCSI Data-Out', 'SCSI Response', 'SCSI Command']);
    expect(seen.slice(0, 4).map((e) => e.taskId)).toEqual([1, 1, 1, 1]);
    expect(seen[4]!.taskId).toBe(2);
    expect(seen[0]!.scsi).toMatchObject({ opcodeName: 'WRITE(10)', lba: 0x10, blocks: 2 });
    expect(seen[3]).toMatchObject({ latencyNs: 3000, scsi: { opcodeName: 'WRITE(10)', statusName: 'GOOD' } });
    expect(seen[0]!.fields).toMatchObject({ CmdSN: 1, InitiatorTaskTag: 5, ExpectedDataTransferLength: 1024, W: true });
    expect(seen[0]!.tcp).toEqual({ src: '127.0.0.1', srcPort: 40000, dst: '127.0.0.1', dstPort: 3260 });
    const kept = rec.recent().find((p) => p.event.opcodeName === 'SCSI Data-Out')!;
    expect(kept.raw.length).toBe(48 + 1024);
    expect(kept.raw[48]).toBe(0x11);
  });

  it('keeps the ring within its count and byte caps', () => {
    const { rec, send } = rig({ ringPdus: 5, ringBytes: 48 * 3 + 10 });
    const release = rec.start();
    for (let i = 0; i < 10; i++) send('in', encodeNopOut({ immediate: true, lun: 0, itt: i + 1, ttt: 0xffffffff, sn: i, expSN: 0, maxCmdSN: 0, data: Buffer.alloc(0) }));
    release();
    expect(rec.recent().length).toBe(3);
    expect(rec.recent().map((p) => p.event.seq)).toEqual([7, 8, 9]);
    expect(rec.stats()).toMatchObject({ pdus: 10, evictedPdus: 7, ringPdus: 3 });
  });

  it('merges store and session events into the snapshot in seq order, and drops a throwing consumer', () => {
    const { scsi, rec, send } = rig();
    const release = rec.start();
    rec.subscribe(() => {
      throw new Error('boom');
    });
    send('in', write(1, 1));
    scsi.taps.store.emit({ kind: 'write', lun: 0, lba: 16, blocks: 2, fua: false, durationMs: 0.5 });
    send('out', response(1));
    release();
    const snap = rec.snapshot();
    expect(snap.header.version).toBe(1);
    expect(snap.events.map((e) => e.type)).toEqual(['pdu', 'store', 'pdu']);
    expect(snap.events[1]).toMatchObject({ type: 'store', kind: 'write', lba: 16, blocks: 2, durationNs: 500000 });
    expect(rec.stats().consumerErrors).toBe(1);
  });
});

describe('TraceQueue', () => {
  it('drops past its caps and counts the drops', () => {
    const { rec, send } = rig();
    const q = new TraceQueue(2, 1 << 20);
    rec.subscribe(q.consumer);
    for (let i = 0; i < 5; i++) send('in', write(i + 1, i));
    const d = q.drain();
    expect(d.events.length).toBe(2);
    expect(d.dropped).toBe(3);
    expect(q.drain().dropped).toBe(0);
  });
});

describe('raw PDU binary frames', () => {
  it('round trip, with truncation', () => {
    const bytes = new Uint8Array(100).map((_, i) => i);
    const f = decodeRawFrame(encodeRawFrame({ seq: 42, direction: 't2i', headerDigest: true, dataDigest: false, bytes }));
    expect(f).toMatchObject({ seq: 42, direction: 't2i', headerDigest: true, dataDigest: false, originalLength: 100, truncated: false });
    expect([...f.bytes]).toEqual([...bytes]);
    const t = decodeRawFrame(encodeRawFrame({ seq: 1, direction: 'i2t', headerDigest: false, dataDigest: true, bytes }, 48));
    expect(t).toMatchObject({ truncated: true, originalLength: 100, dataDigest: true });
    expect(t.bytes.length).toBe(48);
    expect(() => decodeRawFrame(new Uint8Array(5))).toThrow(RawFrameError);
  });
});
