import { describe, expect, it } from 'vitest';
import { decodeCdb } from '../../shared/protocol/cdb.ts';
import { fromHex } from '../../shared/protocol/bytes.ts';
import { decodeSense } from '../../shared/protocol/sense.ts';
import { findField, type FieldNode } from '../../shared/protocol/fields.ts';
import { bhsValues, decodeBhsFields, decodePduTree, flattenBhs, pduLengths } from '../../shared/protocol/iscsi.ts';
import { pdus as capturedPdus } from '../fixtures/pdus.ts';
import { parseTextPairs } from '../../shared/protocol/text-keys.ts';
import { scsiOpcodeName } from '../../shared/protocol/scsi-opcodes.ts';
import { encodeScsiCommand, decodeScsiCommand } from '../../server/iscsi/pdu/scsi-command.ts';
import { encodeDataIn, decodeDataIn } from '../../server/iscsi/pdu/data.ts';
import { encodeR2T } from '../../server/iscsi/pdu/r2t.ts';
import { encodeLoginResponse } from '../../server/iscsi/pdu/login.ts';
import { encodeScsiResponse } from '../../server/iscsi/pdu/scsi-response.ts';
import { encodeKeys } from '../../server/iscsi/text-keys.ts';
import { serializePdu } from '../../server/iscsi/framing.ts';
import { buildSense, Sense } from '../../server/scsi/sense.ts';

describe('CDB decoding', () => {
  const cases: [string, string, Record<string, unknown>][] = [
    ['READ(6)', '08 01 02 03 00 00', { name: 'READ(6)', lba: 0x10203, blocks: 256, cdbLength: 6 }],
    ['READ(10)', '28 00 00 00 10 00 00 00 08 00', { name: 'READ(10)', lba: 4096, blocks: 8, fua: false, dpo: false, cdbLength: 10 }],
    ['WRITE(10) FUA', '2a 08 00 00 00 00 00 02 58 00', { name: 'WRITE(10)', lba: 0, blocks: 600, fua: true, dpo: false }],
    ['READ(12)', 'a8 10 00 00 00 20 00 00 01 00 00 00', { name: 'READ(12)', lba: 32, blocks: 256, dpo: true }],
    ['WRITE(16)', '8a 08 00 00 00 01 00 00 00 00 00 00 00 80 00 00', { name: 'WRITE(16)', lba: 2 ** 32, blocks: 128, fua: true, cdbLength: 16 }],
    ['READ(16)', '88 00 00 00 00 00 00 00 12 34 00 00 00 01 00 00', { name: 'READ(16)', lba: 0x1234, blocks: 1 }],
    ['COMPARE AND WRITE', '89 00 00 00 00 00 00 00 00 07 00 00 00 01 00 00', { name: 'COMPARE AND WRITE', lba: 7, blocks: 1 }],
    ['SYNCHRONIZE CACHE(10)', '35 00 00 00 00 00 00 00 00 00', { name: 'SYNCHRONIZE CACHE(10)', lba: 0, blocks: 0 }],
    ['TEST UNIT READY', '00 00 00 00 00 00', { name: 'TEST UNIT READY', cdbLength: 6 }],
    ['INQUIRY VPD 0x83', '12 01 83 00 40 00', { name: 'INQUIRY', allocationLength: 64 }],
    ['READ CAPACITY(16)', '9e 10 00 00 00 00 00 00 00 00 00 00 00 20 00 00', { name: 'READ CAPACITY(16)', serviceAction: 0x10, allocationLength: 32 }],
    ['REPORT LUNS', 'a0 00 00 00 00 00 00 00 10 00 00 00', { name: 'REPORT LUNS', allocationLength: 4096 }],
    ['UNMAP', '42 00 00 00 00 00 00 00 18 00', { name: 'UNMAP', parameterListLength: 24 }],
    ['WRITE SAME(16)', '93 00 00 00 00 00 00 00 00 10 00 00 00 08 00 00', { name: 'WRITE SAME(16)', lba: 16, blocks: 8 }],
  ];
  for (const [label, hex, expected] of cases) {
    it(label, () => expect(decodeCdb(fromHex(hex))).toMatchObject(expected));
  }

  it('gives each field its bytes: READ(10) LBA at 2..5, TRANSFER LENGTH at 7..8, FUA a bit of byte 1', () => {
    const d = decodeCdb(fromHex('28 08 00 00 10 00 00 00 08 00'));
    expect(findField(d.fields, 'LOGICAL BLOCK ADDRESS')).toMatchObject({ offset: 2, length: 4, value: 4096 });
    expect(findField(d.fields, 'TRANSFER LENGTH')).toMatchObject({ offset: 7, length: 2, value: 8 });
    expect(findField(d.fields, 'FUA')).toMatchObject({ offset: 1, mask: 0x08, value: true });
    expect(findField(d.fields, 'CONTROL')).toMatchObject({ offset: 9 });
  });

  it('names unknown opcodes and service actions without throwing', () => {
    expect(scsiOpcodeName(fromHex('c0'))).toBe('OPCODE 0xc0');
    expect(scsiOpcodeName(fromHex('9e 1f'))).toBe('SERVICE ACTION IN(16) SA 0x1f');
    expect(decodeCdb(fromHex('c0 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00')).cdbLength).toBe(16);
  });
});

describe('sense decoding', () => {
  it('fixed format with a field pointer, from the target own builder', () => {
    const s = decodeSense(buildSense(Sense.InvalidFieldInCdb, { field: { cdb: true, byte: 2, bit: 3 } }))!;
    expect(s).toMatchObject({
      format: 'fixed',
      key: 5,
      keyName: 'ILLEGAL REQUEST',
      asc: 0x24,
      ascq: 0,
      text: 'INVALID FIELD IN CDB',
      fieldPointer: { cdb: true, byte: 2, bit: 3 },
    });
  });
  it('descriptor format with INFORMATION', () => {
    const s = decodeSense(buildSense(Sense.MiscompareDuringVerify, { information: 17 }, true))!;
    expect(s).toMatchObject({ format: 'descriptor', keyName: 'MISCOMPARE', text: 'MISCOMPARE DURING VERIFY OPERATION', information: 17 });
  });
  it('unknown ASC/ASCQ as numbers', () => {
    expect(decodeSense(fromHex('70 00 06 00 00 00 00 0a 00 00 00 00 7e 42 00 00 00 00'))!.text).toBe('ASC 0x7e ASCQ 0x42');
  });
});

/** Checks a field's bytes in `bytes` equal what the codec decoded. */
function at(tree: readonly FieldNode[], bytes: Uint8Array, name: string): number {
  const f = findField(tree, name);
  expect(f, name).toBeDefined();
  let v = 0;
  for (let i = 0; i < f!.length; i++) v = v * 256 + bytes[f!.offset + i]!;
  if (f!.mask !== undefined) v = (bytes[f!.offset]! & f!.mask) >>> Math.log2(f!.mask & -f!.mask);
  return v;
}

describe('BHS field tree', () => {
  it('SCSI Command: offsets agree with the codec, CDB decoded at byte 32', () => {
    const pdu = encodeScsiCommand({
      immediate: false,
      final: true,
      read: false,
      write: true,
      attribute: 1,
      lun: 3,
      itt: 0x1234,
      expectedDataTransferLength: 307200,
      cmdSN: 77,
      expStatSN: 5,
      cdb: Buffer.from(fromHex('2a 08 00 00 00 09 00 02 58 00 00 00 00 00 00 00')),
    });
    const tree = decodeBhsFields(pdu.bhs);
    const d = decodeScsiCommand(pdu);
    expect(at(tree, pdu.bhs, 'InitiatorTaskTag')).toBe(d.itt);
    expect(at(tree, pdu.bhs, 'ExpectedDataTransferLength')).toBe(d.expectedDataTransferLength);
    expect(at(tree, pdu.bhs, 'CmdSN')).toBe(d.cmdSN);
    expect(at(tree, pdu.bhs, 'ExpStatSN')).toBe(d.expStatSN);
    expect(at(tree, pdu.bhs, 'W')).toBe(1);
    expect(at(tree, pdu.bhs, 'ATTR')).toBe(1);
    expect(findField(tree, 'LUN')!.display).toBe('3');
    expect(findField(tree, 'Opcode')).toMatchObject({ offset: 0, value: 1, display: 'SCSI Command (0x01)' });
    expect(findField(tree, 'CDB')).toMatchObject({ offset: 32, length: 16, display: 'WRITE(10)' });
    expect(findField(tree, 'LOGICAL BLOCK ADDRESS')).toMatchObject({ offset: 34, length: 4, value: 9 });
    expect(findField(tree, 'TRANSFER LENGTH')).toMatchObject({ offset: 39, length: 2, value: 600 });
  });

  it('Data-In with status, R2T: offsets agree with the codecs', () => {
    const din = encodeDataIn({
      final: true,
      acknowledge: false,
      lun: 0,
      itt: 9,
      ttt: 0xffffffff,
      statSN: 4,
      expCmdSN: 5,
      maxCmdSN: 132,
      dataSN: 2,
      bufferOffset: 16384,
      status: 0,
      overflow: false,
      underflow: true,
      residualCount: 512,
      data: Buffer.alloc(10),
    });
    const t = decodeBhsFields(din.bhs);
    const d = decodeDataIn(din);
    for (const [name, v] of [
      ['StatSN', d.statSN],
      ['ExpCmdSN', d.expCmdSN],
      ['MaxCmdSN', d.maxCmdSN],
      ['DataSN', d.dataSN],
      ['BufferOffset', d.bufferOffset],
      ['ResidualCount', d.residualCount],
      ['S', 1],
      ['U', 1],
      ['F', 1],
    ] as const)
      expect(at(t, din.bhs, name), name).toBe(v);
    expect(findField(t, 'DataSegmentLength')).toMatchObject({ offset: 5, length: 3, value: 10 });
    const r2t = encodeR2T({ lun: 0, itt: 1, ttt: 0x55, statSN: 1, expCmdSN: 2, maxCmdSN: 3, r2tSN: 4, bufferOffset: 65536, desiredDataTransferLength: 241664 });
    const rt = decodeBhsFields(r2t.bhs);
    expect(at(rt, r2t.bhs, 'TargetTransferTag')).toBe(0x55);
    expect(at(rt, r2t.bhs, 'R2TSN')).toBe(4);
    expect(at(rt, r2t.bhs, 'DesiredDataTransferLength')).toBe(241664);
  });

  it('whole PDU tree: Login Response keys, digests and padding placed on the wire bytes', () => {
    const keys = encodeKeys([
      ['HeaderDigest', 'CRC32C'],
      ['MaxRecvDataSegmentLength', '262144'],
    ]);
    const pdu = encodeLoginResponse({
      transit: true,
      continue: false,
      csg: 1,
      nsg: 3,
      versionMax: 0,
      versionActive: 0,
      isid: Buffer.from('400001370000', 'hex'),
      tsih: 7,
      itt: 1,
      statSN: 0,
      expCmdSN: 1,
      maxCmdSN: 128,
      statusClass: 0,
      statusDetail: 0,
      data: keys,
    });
    const wire = Buffer.concat(serializePdu(pdu, true, true));
    const L = pduLengths(wire, true, true);
    expect(L.total).toBe(wire.length);
    const tree = decodePduTree(wire, true, true);
    expect(tree.map((n) => n.name)).toEqual(['BHS', 'HeaderDigest', 'DataSegment', ...(L.padding ? ['Padding'] : []), 'DataDigest']);
    expect(findField(tree, 'HeaderDigest')).toMatchObject({ offset: 48, length: 4 });
    const hd = findField(tree, 'HeaderDigest')!;
    expect(hd.value).toBe(wire.subarray(48, 52).toString('hex'));
    const k = findField(tree, 'MaxRecvDataSegmentLength')!;
    expect(wire.subarray(k.offset, k.offset + k.length).toString()).toBe('MaxRecvDataSegmentLength=262144');
    expect(findField(tree, 'NSG')).toMatchObject({ value: 3, display: 'FullFeaturePhase (3)' });
    expect(findField(tree, 'TSIH')).toMatchObject({ offset: 14, length: 2, value: 7 });
    expect(findField(tree, 'ISID')).toMatchObject({ offset: 8, length: 6, value: '400001370000' });
  });

  it('SCSI Response sense is decoded inside the data segment', () => {
    const pdu = encodeScsiResponse({
      response: 0,
      status: 2,
      itt: 3,
      statSN: 1,
      expCmdSN: 1,
      maxCmdSN: 1,
      expDataSN: 0,
      overflow: false,
      underflow: false,
      residualCount: 0,
      sense: Buffer.from(buildSense(Sense.LbaOutOfRange)),
    });
    const tree = decodePduTree(Buffer.concat(serializePdu(pdu, false, false)), false, false);
    expect(findField(tree, 'Status')!.display).toBe('CHECK CONDITION (0x02)');
    expect(findField(tree, 'SenseData')!.display).toBe('ILLEGAL REQUEST: LOGICAL BLOCK ADDRESS OUT OF RANGE');
    expect(findField(tree, 'SenseLength')).toMatchObject({ offset: 48, length: 2, value: 18 });
  });
});

describe('text keys', () => {
  it('parses pairs with offsets, tolerating junk', () => {
    const pairs = parseTextPairs(new TextEncoder().encode('InitiatorName=iqn.x\0junk\0TargetName=iqn.y\0'));
    expect(pairs.map((p) => [p.key, p.value, p.offset, p.length])).toEqual([
      ['InitiatorName', 'iqn.x', 0, 19],
      ['junk', '', 20, 4],
      ['TargetName', 'iqn.y', 25, 16],
    ]);
    expect(pairs[1]!.error).toBeDefined();
  });
});

describe('bhsValues', () => {
  it('gives exactly the flattened field tree for every captured PDU (it is the fast path of the same decode)', () => {
    for (const f of capturedPdus) {
      const bhs = fromHex(f.hex).subarray(0, 48);
      expect(bhsValues(bhs), f.name).toEqual(flattenBhs(decodeBhsFields(bhs)));
    }
  });
});
