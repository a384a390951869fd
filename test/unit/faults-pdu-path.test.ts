// The PDU fault path of one connection against a recording FaultPort: what goes out, what is handled, in what order.
import { describe, expect, it } from 'vitest';
import { FaultEngine, type FaultEvent } from '../../server/faults/engine.ts';
import { ConnectionFaults, type DigestCorruption, type FaultPort } from '../../server/faults/pdu-path.ts';
import type { Pdu } from '../../server/iscsi/pdu.ts';

/** A PDU with the opcode, ITT and DataSN set, and a data segment of `data` bytes. */
function pdu(opcode: number, itt: number, dataSN = 0, data = 0): Pdu {
  const bhs = Buffer.alloc(48);
  bhs[0] = opcode;
  bhs.writeUInt32BE(itt, 16);
  bhs.writeUInt32BE(dataSN, 36);
  return { bhs, ahs: Buffer.alloc(0), data: Buffer.alloc(data, 0xaa) };
}

const DATA_IN = 0x25;
const SCSI_RESPONSE = 0x21;
const DATA_OUT = 0x05;
const SCSI_COMMAND = 0x01;

function setup(digests = false) {
  const engine = new FaultEngine();
  const events: FaultEvent[] = [];
  engine.tap.subscribe((e) => events.push(e));
  const sent: { pdu: Pdu; corrupt?: DigestCorruption }[] = [];
  const handled: Pdu[] = [];
  const port: FaultPort & { killed?: string; digest?: DigestCorruption } = {
    id: 7,
    tsih: 3,
    headerDigest: digests,
    dataDigest: digests,
    closed: false,
    commandOf: (itt) => (itt === 0x10 ? { lun: 0, cdb: Buffer.from([0x28, 0, 0, 0, 0, 100, 0, 0, 8, 0]) } : undefined),
    transmit(p, onFlushed, corrupt) {
      if (!this.closed) sent.push({ pdu: p, corrupt });
      onFlushed?.();
    },
    dispatch: (p) => handled.push(p),
    digestFailed(kind) {
      this.digest = kind;
    },
    kill(how, why) {
      this.killed = `${how}: ${why}`;
    },
  };
  return { engine, events, sent, handled, port, faults: new ConnectionFaults(engine, port) };
}

describe('ConnectionFaults', () => {
  it('drops one outgoing SCSI Response and reports it, then lets the next pass', () => {
    const { engine, events, faults } = setup();
    engine.add({ action: 'drop', match: { pdu: 'SCSI Response' } });
    expect(faults.out(pdu(SCSI_RESPONSE, 0x10))).toBe(true);
    expect(faults.out(pdu(SCSI_RESPONSE, 0x11))).toBe(false);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ ruleId: 1, action: 'drop', connectionId: 7, tsih: 3, itt: 0x10 });
    expect(events[0]!.detail).toBe('SCSI Response ITT 0x10 dropped by the target (never sent)');
  });

  it('reorders: the held Data-In goes after the next PDU of its task, not before a PDU of another task', () => {
    const { engine, sent, faults } = setup();
    engine.add({ action: 'reorder', match: { pdu: 'Data-In' } });
    expect(faults.out(pdu(DATA_IN, 0x10, 0))).toBe(true);
    expect(engine.active).toBe(true); // still holding one, though the rule is spent
    expect(faults.out(pdu(DATA_IN, 0x99, 0))).toBe(false); // another task: passes untouched
    expect(faults.out(pdu(DATA_IN, 0x10, 1))).toBe(true);
    expect(sent.map((s) => s.pdu.bhs.readUInt32BE(36))).toEqual([1, 0]);
    expect(engine.active).toBe(false);
  });

  it('corrupts a digest only when it is negotiated, and a field by one', () => {
    const off = setup(false);
    off.engine.add({ action: 'corrupt-header-digest', match: {} });
    off.faults.out(pdu(SCSI_RESPONSE, 0x10));
    expect(off.sent[0]!.corrupt).toBeUndefined();
    expect(off.events[0]!.detail).toMatch(/no header digest negotiated/);

    const on = setup(true);
    on.engine.add({ action: 'corrupt-data-digest', match: {} });
    on.engine.add({ action: 'corrupt-field', match: {}, field: 'DataSN' });
    on.faults.out(pdu(DATA_IN, 0x10, 4, 512));
    expect(on.sent[0]!.corrupt).toBe('data');
    const original = pdu(DATA_IN, 0x10, 4, 512);
    on.faults.out(original);
    expect(on.sent[1]!.pdu.bhs.readUInt32BE(36)).toBe(5);
    expect(original.bhs.readUInt32BE(36)).toBe(4); // the caller's PDU is left as it was
  });

  it('incoming: duplicate handles twice, kill-connection ends it, a digest fault fails the connection', () => {
    const { engine, handled, port, faults } = setup();
    engine.add({ action: 'duplicate', match: { pdu: 'SCSI Command' } });
    expect(faults.in(pdu(SCSI_COMMAND, 0x20))).toBe(true);
    expect(handled).toHaveLength(2);
    engine.add({ action: 'corrupt-header-digest', match: { direction: 'in' } });
    expect(faults.in(pdu(DATA_OUT, 0x10))).toBe(true);
    expect(port.digest).toBe('header');
    engine.add({ action: 'kill-connection', match: { pdu: 'Data-Out' }, how: 'fin' });
    expect(faults.in(pdu(DATA_OUT, 0x10))).toBe(true);
    expect(port.killed).toBe('fin: fault: kill-connection on SCSI Data-Out ITT 0x10');
  });

  it('matches by the opcode and LBA range of the task (the open command on the connection)', () => {
    const { engine, faults } = setup();
    engine.add({ action: 'drop', match: { opcode: 'READ(10)', lbaFrom: 107, lbaTo: 107 }, count: 0 });
    expect(faults.out(pdu(DATA_IN, 0x10))).toBe(true); // READ(10) LBA 100 x8 covers 107
    expect(faults.out(pdu(DATA_IN, 0x11))).toBe(false); // no open command with that ITT
  });

  it('delay sends a copy later, and nothing once the connection has closed', async () => {
    const { engine, sent, events, port, faults } = setup();
    engine.add({ action: 'delay', match: { pdu: 'SCSI Response' }, delayMs: 20, count: 2 });
    const first = pdu(SCSI_RESPONSE, 0x10);
    expect(faults.out(first)).toBe(true);
    first.bhs.writeUInt32BE(0xdead, 16); // the caller reuses its buffer: the delayed copy must not change
    expect(sent).toHaveLength(0);
    await new Promise((r) => setTimeout(r, 60));
    expect(sent.map((s) => s.pdu.bhs.readUInt32BE(16))).toEqual([0x10]);
    expect(events.at(-1)!.detail).toBe('SCSI Response ITT 0x10 sent 20 ms late');
    faults.out(pdu(SCSI_RESPONSE, 0x11));
    (port as { closed: boolean }).closed = true;
    await new Promise((r) => setTimeout(r, 60));
    expect(sent).toHaveLength(1);
  });

  it("calls the sender's onFlushed exactly once for every PDU it takes, sent or not (the data budget depends on it)", async () => {
    const { engine, port, faults } = setup();
    const flushed: string[] = [];
    const cb = (name: string) => () => flushed.push(name);
    engine.add({ action: 'drop', match: { pdu: 'SCSI Response' } });
    faults.out(pdu(SCSI_RESPONSE, 1), cb('drop'));
    engine.add({ action: 'duplicate', match: { pdu: 'SCSI Response' } });
    faults.out(pdu(SCSI_RESPONSE, 2), cb('duplicate'));
    engine.add({ action: 'reorder', match: { pdu: 'Data-In' } });
    faults.out(pdu(DATA_IN, 3, 0), cb('reordered'));
    faults.out(pdu(DATA_IN, 3, 1), cb('overtaking'));
    engine.add({ action: 'reorder', match: { pdu: 'Data-In' } });
    faults.out(pdu(DATA_IN, 4, 0), cb('held at close'));
    engine.add({ action: 'delay', match: { pdu: 'SCSI Response' }, delayMs: 10 });
    faults.out(pdu(SCSI_RESPONSE, 5), cb('delayed past close'));
    engine.add({ action: 'kill-connection', match: { pdu: 'SCSI Response' } });
    faults.out(pdu(SCSI_RESPONSE, 6), cb('kill'));
    (port as { closed: boolean }).closed = true;
    faults.close();
    await new Promise((r) => setTimeout(r, 40));
    expect(flushed.sort()).toEqual(['delayed past close', 'drop', 'duplicate', 'held at close', 'kill', 'overtaking', 'reordered'].sort());
  });
});
