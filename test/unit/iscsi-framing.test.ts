import { describe, expect, it } from 'vitest';
import { PduReader, serializePdu, type FramingError } from '../../server/iscsi/framing.ts';
import { encodeScsiCommand, decodeScsiCommand } from '../../server/iscsi/pdu/scsi-command.ts';
import { encodeNopOut } from '../../server/iscsi/pdu/nop.ts';
import type { Pdu } from '../../server/iscsi/pdu.ts';
import { crc32c } from '../../server/iscsi/crc32c.ts';

function collect(headerDigest: boolean, dataDigest: boolean) {
  const pdus: Pdu[] = [];
  const errors: FramingError[] = [];
  const reader = new PduReader({
    pdu: (p) => pdus.push({ bhs: Buffer.from(p.bhs), ahs: Buffer.from(p.ahs), data: Buffer.from(p.data) }),
    error: (e) => errors.push(e),
  });
  reader.headerDigest = headerDigest;
  reader.dataDigest = dataDigest;
  return { reader, pdus, errors };
}

const write = encodeScsiCommand(
  {
    immediate: false,
    final: true,
    read: false,
    write: true,
    attribute: 1,
    lun: 0,
    itt: 7,
    expectedDataTransferLength: 5,
    cmdSN: 3,
    expStatSN: 2,
    cdb: Buffer.from('2a000000000100000100', 'hex'),
  },
  Buffer.from('hello'),
);
const nop = encodeNopOut({ immediate: true, lun: 0, itt: 9, ttt: 0xffffffff, sn: 4, expSN: 2, maxCmdSN: 0, data: Buffer.from('ping!!') });

describe('CRC32C', () => {
  it('matches RFC 7143 B.4: 32 bytes of zeros give aa 36 91 8a on the wire', () => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(crc32c(Buffer.alloc(32)));
    expect(b.toString('hex')).toBe('aa36918a');
  });
});

describe('PduReader', () => {
  for (const [hd, dd] of [
    [false, false],
    [true, false],
    [true, true],
  ] as const) {
    it(`reassembles two PDUs split at every byte offset (HeaderDigest=${hd} DataDigest=${dd})`, () => {
      const stream = Buffer.concat([...serializePdu(write, hd, dd), ...serializePdu(nop, hd, dd)]);
      // 48 BHS + 5 data + 3 pad (+ digests) for the first, 48 + 6 + 2 for the second.
      expect(stream.length).toBe(56 + 56 + (hd ? 8 : 0) + (dd ? 8 : 0));
      for (let cut = 0; cut <= stream.length; cut++) {
        const { reader, pdus, errors } = collect(hd, dd);
        reader.push(stream.subarray(0, cut));
        reader.push(stream.subarray(cut));
        expect(errors).toEqual([]);
        expect(pdus.length).toBe(2);
        expect(pdus[0]!.data.toString()).toBe('hello');
        expect(decodeScsiCommand(pdus[0]!).itt).toBe(7);
        expect(pdus[1]!.data.toString()).toBe('ping!!');
      }
    });
  }

  it('feeds one byte at a time', () => {
    const stream = Buffer.concat(serializePdu(write, true, true));
    const { reader, pdus } = collect(true, true);
    for (const byte of stream) reader.push(Buffer.from([byte]));
    expect(pdus.length).toBe(1);
  });

  it('stops on a header digest error', () => {
    const stream = Buffer.concat(serializePdu(write, true, false));
    stream[20]! ^= 1;
    const { reader, pdus, errors } = collect(true, false);
    reader.push(stream);
    expect(pdus).toEqual([]);
    expect(errors[0]?.kind).toBe('header-digest');
  });

  it('reports a data digest error without losing sync', () => {
    const bad = Buffer.concat(serializePdu(write, false, true));
    bad[50]! ^= 0xff; // inside "hello"
    const { reader, pdus, errors } = collect(false, true);
    reader.push(Buffer.concat([bad, ...serializePdu(nop, false, true)]));
    expect(errors.map((e) => e.kind)).toEqual(['data-digest']);
    expect(pdus.length).toBe(1);
    expect(pdus[0]!.data.toString()).toBe('ping!!');
  });

  it('refuses a data segment beyond MaxRecvDataSegmentLength before buffering it', () => {
    const bhs = Buffer.from(write.bhs);
    bhs.writeUIntBE(0xffffff, 5, 3);
    const { reader, errors } = collect(false, false);
    reader.push(bhs);
    expect(errors[0]).toMatchObject({ kind: 'data-too-long', length: 0xffffff });
  });
});

describe('PduReader placement (large data segments gathered where the sink says)', () => {
  const data = Buffer.from(Uint8Array.from({ length: 40_000 + 2 }, (_, i) => (i * 7) & 0xff));
  const big = encodeNopOut({ immediate: true, lun: 0, itt: 11, ttt: 0xffffffff, sn: 5, expSN: 2, maxCmdSN: 0, data });
  for (const dd of [false, true]) {
    it(`copies a segment spanning chunks straight into the placed buffer, digest checked (DataDigest=${dd})`, () => {
      const target = Buffer.alloc(data.length);
      const got: Pdu[] = [];
      const errors: FramingError[] = [];
      const asked: number[] = [];
      const reader = new PduReader({
        pdu: (p) => got.push(p),
        error: (e) => errors.push(e),
        place: (bhs, length) => (asked.push(bhs.readUInt32BE(16), length), target),
      });
      reader.dataDigest = dd;
      const stream = Buffer.concat(serializePdu(big, false, dd));
      for (let off = 0; off < stream.length; off += 4096) reader.push(stream.subarray(off, off + 4096));
      expect(errors).toEqual([]);
      expect(asked).toEqual([11, data.length]);
      expect(got.length).toBe(1);
      expect(got[0]!.data).toBe(target);
      expect(target.equals(data)).toBe(true);
      expect(got[0]!.bhs.readUInt32BE(16)).toBe(11);
    });
  }

  it('reports a data digest error on a placed segment', () => {
    const target = Buffer.alloc(data.length);
    const errors: FramingError[] = [];
    const reader = new PduReader({ pdu: () => {}, error: (e) => errors.push(e), place: () => target });
    reader.dataDigest = true;
    const stream = Buffer.concat(serializePdu(big, false, true));
    stream[stream.length - 1]! ^= 0xff;
    for (let off = 0; off < stream.length; off += 4096) reader.push(stream.subarray(off, off + 4096));
    expect(errors.map((e) => e.kind)).toEqual(['data-digest']);
  });
});
