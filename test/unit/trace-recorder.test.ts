import { describe, expect, it } from 'vitest';
import { Tap } from '../../server/taps/tap.ts';
import { TraceRecorder } from '../../server/trace/recorder.ts';
import { PduRing } from '../../server/trace/pdu-ring.ts';
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
  encodeScsiCommand({
    immediate: false,
    final: true,
    read: false,
    write: true,
    attribute: 1,
    lun: 0,
    itt,
    expectedDataTransferLength: 1024,
    cmdSN,
    expStatSN: 1,
    cdb: Buffer.from('2a000000001000000200000000000000', 'hex'),
  });
const r2t = (itt: number) =>
  encodeR2T({ lun: 0, itt, ttt: 7, statSN: 1, expCmdSN: 2, maxCmdSN: 9, r2tSN: 0, bufferOffset: 0, desiredDataTransferLength: 1024 });
const dataOut = (itt: number, data: Buffer) => encodeDataOut({ final: true, lun: 0, itt, ttt: 7, expStatSN: 1, dataSN: 0, bufferOffset: 0, data });
const response = (itt: number) =>
  encodeScsiResponse({ response: 0, status: 0, itt, statSN: 1, expCmdSN: 2, maxCmdSN: 9, expDataSN: 0, overflow: false, underflow: false, residualCount: 0 });

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

  it('joins a store event to its task by connection + ITT, never before the command', () => {
    const { rec, send, scsi } = rig();
    const seen: import('../../shared/trace/schema.ts').TraceEvent[] = [];
    rec.subscribe(({ event: e }) => seen.push(e));
    // Two open writes at the same LBA on two connections: only identity can tell their store calls apart.
    send('in', write(5, 1), 1);
    send('in', write(5, 1), 2);
    // A command stamped 10 s ahead of the recorder's clock: the store event must still not precede it.
    scsi.taps.store.emit({ kind: 'write', lun: 0, lba: 16, blocks: 2, fua: false, durationMs: 0.1, task: { connectionId: 2, taskTag: 5 } });
    scsi.taps.store.emit({ kind: 'write', lun: 0, lba: 16, blocks: 2, fua: false, durationMs: 0.1, task: { connectionId: 1, taskTag: 5 } });
    scsi.taps.store.emit({ kind: 'flush', lun: 0, lba: 0, blocks: 0, fua: false, durationMs: 0.1 });
    scsi.taps.store.emit({ kind: 'write', lun: 0, lba: 16, blocks: 2, fua: false, durationMs: 0.1, task: { connectionId: 3, taskTag: 5 } });
    const cmds = seen.filter((e) => e.type === 'pdu');
    const stores = seen.filter((e) => e.type === 'store');
    expect(stores.map((e) => e.taskId)).toEqual([cmds[1]!.taskId, cmds[0]!.taskId, undefined, undefined]);
    expect(stores[0]!.timeNs).toBeGreaterThanOrEqual(cmds[1]!.timeNs);
  });

  it('stamps a store event no earlier than its command even when the command carries a later clock reading', () => {
    const { rec, scsi, iscsi } = rig();
    const seen: import('../../shared/trace/schema.ts').TraceEvent[] = [];
    rec.subscribe(({ event: e }) => seen.push(e));
    const address = { localAddress: '127.0.0.1', localPort: 3260, remoteAddress: '127.0.0.1', remotePort: 40000 };
    iscsi.taps.pdu.emit({
      direction: 'in',
      connectionId: 1,
      tsih: 1,
      address,
      timeNs: rec.startNs + 10_000_000_000n,
      pdu: write(7, 1),
      headerDigest: false,
      dataDigest: false,
    });
    scsi.taps.store.emit({ kind: 'write', lun: 0, lba: 16, blocks: 2, fua: false, durationMs: 0.1, task: { connectionId: 1, taskTag: 7 } });
    const [cmd, store] = seen;
    expect(store).toMatchObject({ type: 'store', taskId: cmd!.type === 'pdu' ? cmd.taskId : -1 });
    expect(store!.timeNs).toBeGreaterThanOrEqual(cmd!.timeNs);
    expect(store!.seq).toBeGreaterThan(cmd!.seq);
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
    for (let i = 0; i < 10; i++)
      send('in', encodeNopOut({ immediate: true, lun: 0, itt: i + 1, ttt: 0xffffffff, sn: i, expSN: 0, maxCmdSN: 0, data: Buffer.alloc(0) }));
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

describe('TraceRecorder.collect', () => {
  it('takes the newest events of a range, oldest first, and counts the rest as skipped', () => {
    const { rec, scsi, send } = rig();
    const release = rec.start();
    for (let i = 0; i < 5; i++) send('in', write(i + 1, i));
    scsi.taps.store.emit({ kind: 'read', lun: 0, lba: 1, blocks: 1, fua: false, durationMs: 0.1 });
    send('out', response(5));
    release();
    expect(rec.lastSeq).toBe(6);
    const all = rec.collect(-1);
    expect(all.items.map((i) => i.event.seq)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(all.skipped).toBe(0);
    const some = rec.collect(1, 6, 3);
    expect(some.items.map((i) => i.event.type)).toEqual(['pdu', 'store', 'pdu']);
    expect(some.items.map((i) => i.event.seq)).toEqual([4, 5, 6]);
    expect(some.skipped).toBe(2);
    // The response still finds its command in the ring: its summary is decoded on demand.
    expect(some.items[2]!.event).toMatchObject({ taskId: 5, scsi: { opcodeName: 'WRITE(10)', statusName: 'GOOD' } });
    expect(some.items[0]!.raw!.length).toBe(48);
    expect(rec.collect(2, 4).items.map((i) => i.event.seq)).toEqual([3, 4]);
  });

  it('hands push consumers built events while copies from recent() survive the ring wrapping', () => {
    const { rec, send } = rig({ ringPdus: 4 });
    const release = rec.start();
    send('in', dataOut(9, Buffer.alloc(1024, 0x33)));
    const kept = rec.recent();
    for (let i = 0; i < 10; i++) send('in', dataOut(10 + i, Buffer.alloc(1024, i)));
    release();
    expect(kept[0]!.raw[48]).toBe(0x33);
    expect(rec.recent().map((p) => p.raw[48])).toEqual([6, 7, 8, 9]);
  });
});

describe('PduRing', () => {
  it('never lets a held row be overwritten, whatever the sizes (random pushes, every held row checked)', () => {
    let seed = 7;
    const rand = (n: number) => (seed = (seed * 1103515245 + 12345) >>> 0) % n;
    const ring = new PduRing(50, 10_000);
    for (let i = 0; i < 5000; i++) {
      const n = 48 + rand(rand(10) === 0 ? 4000 : 300);
      const o = ring.push(n);
      ring.bytes(o).fill(o & 0xff);
      let held = 0;
      for (let k = ring.first; k < ring.next; k++) {
        const b = ring.bytes(k);
        held += b.length;
        expect(
          b.every((x) => x === (k & 0xff)),
          `row ${k} after push ${i}`,
        ).toBe(true);
      }
      expect(ring.bytesHeld).toBe(held);
      expect(held).toBeLessThanOrEqual(10_000);
      expect(ring.count).toBeLessThanOrEqual(50);
      expect(ring.has(o)).toBe(true);
    }
    expect(ring.evicted).toBeGreaterThan(4000);
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

describe('EventRing', () => {
  it('builds SCSI command and store rows into the events the recorder used to keep, and keeps others whole', async () => {
    const { EventRing } = await import('../../server/trace/event-ring.ts');
    const ring = new EventRing(3, 1000);
    ring.pushCommand(1, 2e6, {
      nexusId: 'iqn.x,0x1',
      lun: 0,
      opcodeName: 'READ(10)',
      status: 2,
      sense: { key: 5, asc: 0x20, ascq: 0 },
      dataInBytes: 0,
      dataOutBytes: 0,
      durationNs: 500,
    });
    ring.pushStore(2, 3e6, { kind: 'write', lun: 1, lba: 8, blocks: 2, fua: true, durationNs: 700, error: undefined, cache: undefined, taskId: 0 });
    ring.pushEvent({ type: 'scsi', seq: 3, timeNs: 4e6, wallMs: 1004, kind: 'nexus-lost', nexusId: 'n' });
    expect(ring.event(0)).toEqual({
      type: 'scsi',
      seq: 1,
      timeNs: 2e6,
      wallMs: 1002,
      kind: 'command',
      nexusId: 'iqn.x,0x1',
      lun: 0,
      opcodeName: 'READ(10)',
      status: 2,
      statusName: 'CHECK CONDITION',
      dataInBytes: 0,
      dataOutBytes: 0,
      durationNs: 500,
      sense: { key: 5, keyName: 'ILLEGAL REQUEST', asc: 0x20, ascq: 0, text: 'INVALID COMMAND OPERATION CODE' },
    });
    expect(ring.event(1)).toEqual({ type: 'store', seq: 2, timeNs: 3e6, wallMs: 1003, kind: 'write', lun: 1, lba: 8, blocks: 2, fua: true, durationNs: 700 });
    expect(ring.event(2)).toMatchObject({ kind: 'nexus-lost', seq: 3 });
    ring.pushStore(4, 5e6, { kind: 'read', lun: 0, lba: 0, blocks: 1, fua: false, durationNs: 1, error: 'EIO', cache: undefined, taskId: 9 });
    expect(ring.length).toBe(3);
    expect(ring.evicted).toBe(1);
    expect([0, 1, 2].map((i) => ring.seq(i))).toEqual([2, 3, 4]);
    expect(ring.event(2)).toMatchObject({ kind: 'read', error: 'EIO', taskId: 9 });
  });
});
