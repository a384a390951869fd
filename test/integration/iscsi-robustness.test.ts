import { describe, expect, it } from 'vitest';
import { RawSession } from '../helpers/raw-session.ts';
import { useInProcessTarget } from '../helpers/in-process-target.ts';
import { encodeNopOut } from '../../server/iscsi/pdu/nop.ts';
import { encodeScsiCommand } from '../../server/iscsi/pdu/scsi-command.ts';
import { decodeReject } from '../../server/iscsi/pdu/reject.ts';
import { decodeScsiResponse } from '../../server/iscsi/pdu/scsi-response.ts';
import { decodeDataIn } from '../../server/iscsi/pdu/data.ts';
import { opcodeOf, newPdu } from '../../server/iscsi/pdu.ts';
import { Opcode } from '../../server/iscsi/constants.ts';
import { encodeTextRequest } from '../../server/iscsi/pdu/text.ts';

const lab = useInProcessTarget('robust');
const IQN = lab.iqn;

const nop = (s: RawSession, itt: number, cmdSN: number, immediate = false) =>
  encodeNopOut({ immediate, lun: 0, itt, ttt: 0xffffffff, sn: cmdSN, expSN: s.expStatSN, maxCmdSN: 0, data: Buffer.alloc(0) });

function inquiry(s: RawSession, itt: number, cmdSN: number) {
  return encodeScsiCommand({
    immediate: false,
    final: true,
    read: true,
    write: false,
    attribute: 1,
    lun: 0,
    itt,
    expectedDataTransferLength: 96,
    cmdSN,
    expStatSN: s.expStatSN,
    cdb: Buffer.from('12000000600000000000000000000000', 'hex'),
  });
}

describe('transport robustness', () => {
  it('answers an unknown opcode with Reject and keeps serving the session', async () => {
    const s = await RawSession.open(lab.port);
    await s.login(IQN);
    const bogus = newPdu(0x1d | 0x40); // vendor-specific initiator opcode
    bogus.bhs.writeUInt32BE(0x77, 16);
    s.send(bogus);
    const r = await s.next();
    expect(r && opcodeOf(r.bhs)).toBe(Opcode.Reject);
    expect(decodeReject(r!).reason).toBe(0x05);
    expect(decodeReject(r!).header.readUInt32BE(16)).toBe(0x77);
    s.send(nop(s, 5, 1));
    const reply = await s.next();
    expect(reply && opcodeOf(reply.bhs)).toBe(Opcode.NopIn);
    s.close();
  });

  it('ignores commands outside the CmdSN window silently (RFC 7143 4.2.2.1)', async () => {
    const s = await RawSession.open(lab.port);
    await s.login(IQN);
    s.send(nop(s, 1, 1000)); // far beyond MaxCmdSN
    s.send(nop(s, 2, 0)); // behind ExpCmdSN
    expect(await s.next(() => true, 500)).toBeUndefined();
    s.send(inquiry(s, 3, 1));
    const d = await s.next();
    expect(d && opcodeOf(d.bhs)).toBe(Opcode.ScsiDataIn);
    const din = decodeDataIn(d!);
    expect(din.status).toBe(0);
    expect(din.data.subarray(8, 16).toString()).toBe('ISCSILAB');
    s.close();
  });

  it('holds a command that arrives ahead of a gap until the gap fills', async () => {
    const s = await RawSession.open(lab.port);
    await s.login(IQN);
    s.send(nop(s, 2, 2));
    expect(await s.next(() => true, 300)).toBeUndefined();
    s.send(nop(s, 1, 1));
    const a = await s.next();
    const b = await s.next();
    expect([a!.bhs.readUInt32BE(16), b!.bhs.readUInt32BE(16)]).toEqual([1, 2]);
    s.close();
  });

  it('drops a connection that declares a data segment beyond MaxRecvDataSegmentLength, and others are unharmed', async () => {
    const good = await RawSession.open(lab.port);
    await good.login(IQN, 'iqn.2026-11.org.iscsi-lab:good', '800000000002');
    const bad = await RawSession.open(lab.port);
    await bad.login(IQN);
    const huge = newPdu(Opcode.NopOut | 0x40);
    huge.bhs.writeUIntBE(16_000_000, 5, 3);
    bad.socket.write(huge.bhs);
    expect(await bad.next(() => true, 2000)).toBeUndefined();
    expect(bad.closed).toBe(true);
    good.send(inquiry(good, 9, 1));
    const r = await good.next();
    expect(r && opcodeOf(r.bhs)).toBe(Opcode.ScsiDataIn);
    good.close();
  });

  it('answers an unsupported opcode with ILLEGAL REQUEST / INVALID COMMAND OPERATION CODE', async () => {
    const s = await RawSession.open(lab.port);
    await s.login(IQN);
    s.send(
      encodeScsiCommand({
        immediate: false,
        final: true,
        read: false,
        write: false,
        attribute: 1,
        lun: 0,
        itt: 4,
        expectedDataTransferLength: 0,
        cmdSN: 1,
        expStatSN: s.expStatSN,
        cdb: Buffer.from('ee000000000000000000000000000000', 'hex'),
      }),
    );
    const r = await s.next();
    const resp = decodeScsiResponse(r!);
    expect(resp.status).toBe(2);
    expect(resp.sense![2]! & 0x0f).toBe(0x05);
    expect(resp.sense![12]).toBe(0x20);
    s.close();
  });

  it('refuses a Text Request with a bad key, bad SendTargets value or bad case with Reject, and answers a good one', async () => {
    const s = await RawSession.open(lab.port);
    await s.login(IQN);
    const text = (itt: number, kv: string) =>
      encodeTextRequest({
        immediate: true,
        final: true,
        continue: false,
        lun: 0,
        itt,
        ttt: 0xffffffff,
        sn: 1,
        expSN: s.expStatSN,
        maxCmdSN: 0,
        data: Buffer.from(`${kv}\0`),
      });
    for (const [i, kv] of ['SendTargetsPlease=All', 'SendTargets=Alle', 'SendTargets=A', 'sENDtARGETS=aLL', 'HeaderDigest=CRC32C'].entries()) {
      s.send(text(0x40 + i, kv));
      const r = await s.next();
      expect(r && opcodeOf(r.bhs), kv).toBe(Opcode.Reject);
      expect(decodeReject(r!).reason, kv).toBe(0x04);
      expect(decodeReject(r!).header.readUInt32BE(16), kv).toBe(0x40 + i);
    }
    for (const [i, kv] of ['SendTargets=All', `SendTargets=${IQN}`, 'SendTargets=iqn.2026-11.org.other:none'].entries()) {
      s.send(text(0x50 + i, kv));
      const r = await s.next();
      expect(r && opcodeOf(r.bhs), kv).toBe(Opcode.TextResponse);
      if (i < 2) expect(r!.data.toString(), kv).toContain(`TargetName=${IQN}`);
      else expect(r!.data.length, kv).toBe(0);
    }
    s.close();
  });

  it('survives random garbage before login', async () => {
    for (let i = 0; i < 20; i++) {
      const s = await RawSession.open(lab.port);
      const junk = Buffer.alloc(200 + i * 13);
      for (let j = 0; j < junk.length; j++) junk[j] = (j * 131 + i * 7) & 0xff;
      s.socket.write(junk);
      await s.next(() => true, 200);
      s.close();
    }
    const s = await RawSession.open(lab.port);
    await s.login(IQN);
    s.send(inquiry(s, 1, 1));
    expect((await s.next()) && true).toBe(true);
    s.close();
  });
});
