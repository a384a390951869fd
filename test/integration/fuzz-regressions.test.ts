// What `npm run fuzz` found, kept as tests against the real target over TCP.
import { describe, expect, it } from 'vitest';
import { serializePdu } from '../../server/iscsi/framing.ts';
import { opcodeOf } from '../../server/iscsi/pdu.ts';
import { Opcode } from '../../server/iscsi/constants.ts';
import { encodeNopOut } from '../../server/iscsi/pdu/nop.ts';
import { encodeTaskManagementRequest } from '../../server/iscsi/pdu/task-management.ts';
import { RawSession } from '../helpers/raw-session.ts';
import { useInProcessTarget } from '../helpers/in-process-target.ts';

const lab = useInProcessTarget('fuzz-regressions');
const IQN = lab.iqn;

describe('fuzz findings', () => {
  // Seed 20261125, batch 3: a Task Management Function Request whose header, digest already computed, had one bit
  // flipped in DataSegmentLength (0 -> 16384). The target believed the length, waited for 16 KiB of data that never
  // came, swallowed the next PDUs as that data and never checked the header digest: the connection hung.
  it('checks the header digest before believing the lengths in that header: a corrupted length drops the connection at once', async () => {
    const s = await RawSession.open(lab.port);
    await s.login(IQN, 'iqn.2026-11.org.iscsi-lab:digests', '800000000d01', true);
    expect(s.digests).toBe(true);
    const tmf = encodeTaskManagementRequest({
      immediate: true,
      function: 3,
      lun: 0,
      itt: 0x10d,
      referencedTaskTag: 0xffffffff,
      cmdSN: 1,
      expStatSN: s.expStatSN,
      refCmdSN: 0,
      expDataSN: 0,
    });
    const framed = Buffer.concat(serializePdu(tmf, true, true));
    framed[6]! ^= 0x40; // DataSegmentLength 0 -> 16384, after the digest was computed
    const probe = Buffer.concat(
      serializePdu(
        encodeNopOut({ immediate: true, lun: 0, itt: 0x77, ttt: 0xffffffff, sn: 1, expSN: s.expStatSN, maxCmdSN: 0, data: Buffer.alloc(0) }),
        true,
        true,
      ),
    );
    const started = Date.now();
    s.socket.write(Buffer.concat([framed, probe]));
    expect(await s.next(() => true, 3000), 'nothing is answered after a bad header digest').toBeUndefined();
    expect(s.closed, 'the connection is dropped (RFC 7143 7.8), not left waiting for 16 KiB').toBe(true);
    expect(Date.now() - started).toBeLessThan(1000);
    // The target serves the next session.
    const fresh = await RawSession.open(lab.port);
    await fresh.login(IQN, 'iqn.2026-11.org.iscsi-lab:after', '800000000d02', true);
    fresh.send(encodeNopOut({ immediate: true, lun: 0, itt: 0x78, ttt: 0xffffffff, sn: 1, expSN: fresh.expStatSN, maxCmdSN: 0, data: Buffer.alloc(0) }));
    const pong = await fresh.next();
    expect(pong && opcodeOf(pong.bhs)).toBe(Opcode.NopIn);
    fresh.close();
  });
});
