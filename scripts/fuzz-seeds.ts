/**
 * Valid PDUs for the fuzzer to bend: the captured real ones (test/fixtures/pdus.ts, from libiscsi and qemu against
 * Debian's tgt) and ones built for the live session at hand, with its CmdSN, so that a mutation lands inside the
 * command window and reaches the code behind the framing.
 */
import { serializePdu } from '../server/iscsi/framing.ts';
import type { Pdu } from '../server/iscsi/pdu.ts';
import { encodeDataOut } from '../server/iscsi/pdu/data.ts';
import { encodeLoginRequest } from '../server/iscsi/pdu/login.ts';
import { encodeLogoutRequest } from '../server/iscsi/pdu/logout.ts';
import { encodeNopOut } from '../server/iscsi/pdu/nop.ts';
import { encodeScsiCommand } from '../server/iscsi/pdu/scsi-command.ts';
import { encodeTaskManagementRequest } from '../server/iscsi/pdu/task-management.ts';
import { encodeTextRequest } from '../server/iscsi/pdu/text.ts';
import { encodeKeys, type KeyValue } from '../server/iscsi/text-keys.ts';
import { pdus } from '../test/fixtures/pdus.ts';
import type { Rng } from './fuzz-mutate.ts';

const wire = (pdu: Pdu): Buffer => Buffer.concat(serializePdu(pdu, false, false));

/** Captured PDUs without digests (the live sessions negotiate none), initiator-to-target ones first. */
export const CAPTURED_I2T: readonly Buffer[] = pdus.filter((p) => p.dir === 'i2t' && !p.headerDigest && !p.dataDigest).map((p) => Buffer.from(p.hex, 'hex'));
/** Every captured PDU, both directions, digests included: for the codecs alone. */
export const CAPTURED_ALL: readonly { bytes: Buffer; headerDigest: boolean; dataDigest: boolean }[] = pdus.map((p) => ({
  bytes: Buffer.from(p.hex, 'hex'),
  headerDigest: p.headerDigest === true,
  dataDigest: p.dataDigest === true,
}));

/** A logged-in session another connection may try to join or reinstate (RFC 7143 6.3.4, 6.3.5). */
export interface JoinTarget {
  tsih: number;
  isid: string;
  initiatorName: string;
}

/**
 * A Login Request as the first PDU on a connection: operational or security stage, normal or discovery; with
 * `join`, naming a live session (its TSIH for a new connection, or TSIH 0 and its ISID to reinstate it).
 */
export function loginSeed(rng: Rng, targetName: string, initiatorName: string, join?: JoinTarget): Buffer {
  const discovery = rng.chance(0.2);
  const security = rng.chance(0.3);
  const keys: KeyValue[] = [['InitiatorName', join?.initiatorName ?? initiatorName]];
  if (!discovery) keys.push(['TargetName', targetName]);
  keys.push(['SessionType', discovery ? 'Discovery' : 'Normal']);
  if (security) keys.push(['AuthMethod', rng.pick(['None', 'CHAP,None', 'None,CHAP'])]);
  else keys.push(['HeaderDigest', 'None'], ['DataDigest', 'None'], ['MaxRecvDataSegmentLength', '262144'], ['ImmediateData', 'Yes'], ['InitialR2T', 'No']);
  const isid = Buffer.from(join?.isid ?? '80fa00000000', 'hex');
  if (!join) isid.writeUInt16BE(rng.int(0x10000), 4);
  return wire(
    encodeLoginRequest({
      transit: rng.chance(0.9),
      continue: rng.chance(0.05),
      csg: security ? 0 : 1,
      nsg: security ? 1 : 3,
      versionMax: 0,
      versionMin: 0,
      isid,
      tsih: join && rng.chance(0.7) ? join.tsih : 0,
      itt: rng.int(0x10000),
      cid: rng.int(3),
      cmdSN: rng.int(8),
      expStatSN: 0,
      data: encodeKeys(keys),
    }),
  );
}

/** What a live session's seeds need: where its command window is. */
interface SessionPoint {
  cmdSN: number;
  expStatSN: number;
  itt: number;
  targetName: string;
}

const CDBS: readonly { cdb: string; read?: number; write?: number; lun?: number }[] = [
  { cdb: '12000000ff00', read: 255 }, // INQUIRY
  { cdb: '12010083ff00', read: 255 }, // INQUIRY, device identification VPD
  { cdb: '000000000000' }, // TEST UNIT READY
  { cdb: 'a0000000000000001000000000', read: 4096 }, // REPORT LUNS
  { cdb: '9e10000000000000000000000020000000', read: 32 }, // READ CAPACITY(16)
  { cdb: '1a003f00ff00', read: 255 }, // MODE SENSE(6), all pages
  { cdb: '28000000001000000800', read: 4096 }, // READ(10) 8 blocks
  { cdb: '8800000000000000002000000010000000', read: 8192 }, // READ(16) 16 blocks
  { cdb: '2a000000004000000800', write: 4096 }, // WRITE(10) 8 blocks
  { cdb: '8a080000000000000050000000080000', write: 4096 }, // WRITE(16) FUA
  { cdb: '35000000000000000000' }, // SYNCHRONIZE CACHE(10)
  { cdb: '89000000000000000060000000010000', write: 1024 }, // COMPARE AND WRITE 1 block
  { cdb: '93000000000000000070000000080000', write: 512 }, // WRITE SAME(16)
  { cdb: '42000000000000001800', write: 24, lun: 1 }, // UNMAP on the thin LUN
  { cdb: '2f000000000000000800' }, // VERIFY(10)
];

function scsiSeed(rng: Rng, p: SessionPoint): Buffer[] {
  const c = rng.pick(CDBS);
  const cdb = Buffer.from(c.cdb.padEnd(32, '0').slice(0, 32), 'hex');
  const write = c.write ?? 0;
  let data = Buffer.alloc(0);
  if (write > 0 && rng.chance(0.6)) data = Buffer.alloc(Math.min(write, rng.pick([write, 512, 1024])), rng.int(256));
  if (cdb[0] === 0x42 && data.length) {
    // UNMAP parameter list: one descriptor, LBA 64, 8 blocks (SBC-3 5.28.2).
    data = Buffer.alloc(24);
    data.writeUInt16BE(22, 0);
    data.writeUInt16BE(16, 2);
    data.writeBigUInt64BE(64n, 8);
    data.writeUInt32BE(8, 16);
  }
  const itt = p.itt;
  const command = wire(
    encodeScsiCommand(
      {
        immediate: rng.chance(0.1),
        final: data.length === write || rng.chance(0.5),
        read: (c.read ?? 0) > 0,
        write: write > 0,
        attribute: rng.int(3),
        lun: c.lun ?? 0,
        itt,
        expectedDataTransferLength: c.read ?? write,
        cmdSN: p.cmdSN,
        expStatSN: p.expStatSN,
        cdb,
      },
      data,
    ),
  );
  if (write === 0 || data.length === write || rng.chance(0.3)) return [command];
  // The rest of the write as unsolicited or "solicited" Data-Out (the TTT a guess: the fuzzer never reads R2Ts).
  const out = wire(
    encodeDataOut({
      final: true,
      lun: c.lun ?? 0,
      itt,
      ttt: rng.chance(0.5) ? 0xffffffff : 1 + rng.int(4),
      expStatSN: p.expStatSN,
      dataSN: 0,
      bufferOffset: data.length,
      data: Buffer.alloc(write - data.length, 0x5a),
    }),
  );
  return [command, out];
}

/** An R2T the target sent (RFC 7143 11.8), to answer with Data-Out that may then be bent. */
export interface OpenR2T {
  itt: number;
  ttt: number;
  offset: number;
  length: number;
}

/** The Data-Out sequence that answers an R2T exactly (one PDU per 8 KiB, F on the last). */
export function dataOutFor(r: OpenR2T, p: SessionPoint): Buffer[] {
  const out: Buffer[] = [];
  const seg = 8192;
  for (let off = 0, sn = 0; off < r.length; off += seg, sn++) {
    const n = Math.min(seg, r.length - off);
    out.push(
      wire(
        encodeDataOut({
          final: off + n >= r.length,
          lun: 0,
          itt: r.itt,
          ttt: r.ttt,
          expStatSN: p.expStatSN,
          dataSN: sn,
          bufferOffset: r.offset + off,
          data: Buffer.alloc(n, 0x33),
        }),
      ),
    );
  }
  return out;
}

/** One PDU (or a short sequence) a logged-in initiator could send next, aimed at the session's window. */
export function sessionSeed(rng: Rng, p: SessionPoint): Buffer[] {
  switch (rng.int(10)) {
    case 0:
    case 1:
    case 2:
    case 3:
      return scsiSeed(rng, p);
    case 4:
      return [
        wire(
          encodeNopOut({
            immediate: rng.chance(0.5),
            lun: 0,
            itt: p.itt,
            ttt: 0xffffffff,
            sn: p.cmdSN,
            expSN: p.expStatSN,
            maxCmdSN: 0,
            data: rng.chance(0.3) ? Buffer.alloc(rng.int(600), 0x61) : Buffer.alloc(0),
          }),
        ),
      ];
    case 5:
      return [
        wire(
          encodeDataOut({
            final: rng.chance(0.7),
            lun: 0,
            itt: rng.chance(0.5) ? p.itt - 1 : rng.int(0x100000),
            ttt: rng.pick([0xffffffff, 1, 2, 3]),
            expStatSN: p.expStatSN,
            dataSN: rng.int(3),
            bufferOffset: rng.pick([0, 512, 4096]),
            data: Buffer.alloc(rng.pick([0, 512, 4096])),
          }),
        ),
      ];
    case 6: {
      const keys: KeyValue[] = rng.chance(0.7)
        ? [['SendTargets', rng.pick(['All', '', p.targetName])]]
        : [['MaxRecvDataSegmentLength', String(rng.pick([512, 8192, 262144]))]];
      return [
        wire(
          encodeTextRequest({
            immediate: rng.chance(0.3),
            final: rng.chance(0.9),
            continue: rng.chance(0.1),
            lun: 0,
            itt: p.itt,
            ttt: 0xffffffff,
            sn: p.cmdSN,
            expSN: p.expStatSN,
            maxCmdSN: 0,
            data: encodeKeys(keys),
          }),
        ),
      ];
    }
    case 7:
      // Every function but TARGET COLD RESET, which would also cut the other fuzz sessions (mutations still reach it).
      return [
        wire(
          encodeTaskManagementRequest({
            immediate: rng.chance(0.7),
            function: rng.pick([1, 2, 3, 4, 5, 6, 8, 14]),
            lun: rng.pick([0, 1, 5]),
            itt: p.itt,
            referencedTaskTag: rng.chance(0.5) ? p.itt - 1 : 0xffffffff,
            cmdSN: p.cmdSN,
            expStatSN: p.expStatSN,
            refCmdSN: p.cmdSN - 1,
            expDataSN: 0,
          }),
        ),
      ];
    case 8:
      if (rng.chance(0.3))
        return [
          wire(encodeLogoutRequest({ immediate: rng.chance(0.5), reason: rng.int(4), itt: p.itt, cid: rng.int(2), cmdSN: p.cmdSN, expStatSN: p.expStatSN })),
        ];
      return [loginSeed(rng, p.targetName, 'iqn.2026-11.org.iscsi-lab:fuzz')];
    default:
      return [rng.pick(CAPTURED_I2T)];
  }
}
