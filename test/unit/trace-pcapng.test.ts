import { describe, expect, it } from 'vitest';
import { PcapngWriter, type PcapPdu } from '../../server/trace/pcapng.ts';
import { readCapture } from '../../server/capture/read-capture.ts';
import { packetsOf } from '../../server/capture/packet-file.ts';
import { buildTcpFrame, checksumsOk, LINKTYPE_ETHERNET, parseTcpFrame, TCP_ACK, TCP_PSH } from '../../server/trace/packets.ts';
import { wireBytes } from '../../server/trace/recorder.ts';
import { encodeLoginRequest, encodeLoginResponse } from '../../server/iscsi/pdu/login.ts';
import { encodeScsiCommand } from '../../server/iscsi/pdu/scsi-command.ts';
import { encodeDataIn } from '../../server/iscsi/pdu/data.ts';
import { encodeKeys } from '../../server/iscsi/text-keys.ts';
import type { Pdu } from '../../server/iscsi/pdu.ts';

const I2T = { src: '127.0.0.1', srcPort: 41000, dst: '127.0.0.1', dstPort: 3311 };
const T2I = { src: '127.0.0.1', srcPort: 3311, dst: '127.0.0.1', dstPort: 41000 };
const isid = Buffer.from('400001370000', 'hex');

function session(digests: boolean): { pdus: PcapPdu[]; wire: Uint8Array[] } {
  const dg = digests ? 'CRC32C' : 'None';
  const seq: [Pdu, 'i2t' | 't2i', boolean][] = [
    [
      encodeLoginRequest({
        transit: true,
        continue: false,
        csg: 1,
        nsg: 3,
        versionMax: 0,
        versionMin: 0,
        isid,
        tsih: 0,
        itt: 1,
        cid: 0,
        cmdSN: 1,
        expStatSN: 0,
        data: encodeKeys([
          ['InitiatorName', 'iqn.x'],
          ['HeaderDigest', 'CRC32C,None'],
          ['DataDigest', 'CRC32C,None'],
        ]),
      }),
      'i2t',
      false,
    ],
    [
      encodeLoginResponse({
        transit: true,
        continue: false,
        csg: 1,
        nsg: 3,
        versionMax: 0,
        versionActive: 0,
        isid,
        tsih: 9,
        itt: 1,
        statSN: 0,
        expCmdSN: 1,
        maxCmdSN: 64,
        statusClass: 0,
        statusDetail: 0,
        data: encodeKeys([
          ['HeaderDigest', dg],
          ['DataDigest', dg],
        ]),
      }),
      't2i',
      false,
    ],
    [
      encodeScsiCommand({
        immediate: false,
        final: true,
        read: true,
        write: false,
        attribute: 1,
        lun: 0,
        itt: 2,
        expectedDataTransferLength: 5000,
        cmdSN: 1,
        expStatSN: 1,
        cdb: Buffer.from('28000000000000000a00000000000000', 'hex'),
      }),
      'i2t',
      digests,
    ],
    [
      encodeDataIn({
        final: true,
        acknowledge: false,
        lun: 0,
        itt: 2,
        ttt: 0xffffffff,
        statSN: 1,
        expCmdSN: 2,
        maxCmdSN: 65,
        dataSN: 0,
        bufferOffset: 0,
        status: 0,
        overflow: false,
        underflow: true,
        residualCount: 3,
        data: Buffer.alloc(4997, 0x5a),
      }),
      't2i',
      digests,
    ],
  ];
  const wire = seq.map(([pdu, , d]) => wireBytes({ pdu, headerDigest: d, dataDigest: d }));
  const pdus = seq.map(([, direction], i): PcapPdu => ({
    direction,
    connectionId: 1,
    tcp: direction === 'i2t' ? I2T : T2I,
    timeNs: 1_700_000_000_000_000_000n + BigInt(i * 1000),
    bytes: wire[i]!,
    comment: `pdu ${i}`,
  }));
  return { pdus, wire };
}

describe('pcapng writer -> reader', () => {
  for (const digests of [false, true]) {
    it(`round trips a session ${digests ? 'with' : 'without'} digests, the Data-In spanning several segments`, () => {
      const { pdus, wire } = session(digests);
      const w = new PcapngWriter();
      for (const p of pdus) w.addPdu(p);
      const file = w.toBytes();
      expect(w.packets).toBe(3 + 1 + 1 + 1 + 4); // handshake, login x2, command, Data-In in 4 segments of <= 1460
      const back = readCapture(file);
      expect(back.warnings).toEqual([]);
      expect(back.pdus.map((p) => p.direction)).toEqual(['i2t', 't2i', 'i2t', 't2i']);
      expect(back.pdus.map((p) => p.headerDigest)).toEqual([false, false, digests, digests]);
      back.pdus.forEach((p, i) => {
        expect(Buffer.from(p.bytes).equals(Buffer.from(wire[i]!))).toBe(true);
        expect(p.digestsOk).toBe(true);
        expect(p.timeNs).toBe(i * 1000);
      });
      // Target port rewritten to 3260; IPv4 and TCP checksums valid; sequence numbers advance by payload.
      const frames = [...packetsOf([file])];
      let expectedSeq: number | undefined;
      for (const f of frames) {
        expect(checksumsOk(f.data)).toEqual({ ip: true, tcp: true });
        const t = parseTcpFrame(f.data, f.linkType)!;
        expect([t.srcPort, t.dstPort]).toContain(3260);
        if (t.dstPort === 3260 && t.payload.length) {
          if (expectedSeq !== undefined) expect(t.seq).toBe(expectedSeq);
          expectedSeq = (t.seq + t.payload.length) >>> 0;
        }
      }
    });
  }

  it('reassembles out-of-order and retransmitted segments from a classic pcap', () => {
    const { wire } = session(false);
    const mac = new Uint8Array(6);
    const ip = new Uint8Array([127, 0, 0, 1]);
    const seg = (i2t: boolean, seq: number, payload: Uint8Array) =>
      buildTcpFrame({
        srcMac: mac,
        dstMac: mac,
        srcIp: ip,
        dstIp: ip,
        srcPort: i2t ? 5000 : 3260,
        dstPort: i2t ? 3260 : 5000,
        seq,
        ack: 0,
        flags: TCP_ACK | TCP_PSH,
        ipId: 0,
        payload,
      });
    const login = wire[0]!;
    const resp = wire[1]!;
    const frames = [
      seg(true, 100, login.subarray(0, 30)),
      seg(true, 140, login.subarray(40)), // ahead of a gap
      seg(true, 100, login.subarray(0, 40)), // retransmission covering the gap
      seg(false, 7, resp),
    ];
    const header = new Uint8Array(24);
    const dv = new DataView(header.buffer);
    dv.setUint32(0, 0xa1b2c3d4, true);
    dv.setUint16(4, 2, true);
    dv.setUint16(6, 4, true);
    dv.setUint32(16, 65535, true);
    dv.setUint32(20, LINKTYPE_ETHERNET, true);
    const parts: Uint8Array[] = [header];
    frames.forEach((f, i) => {
      const rh = new Uint8Array(16);
      const r = new DataView(rh.buffer);
      r.setUint32(0, 1000 + i, true);
      r.setUint32(8, f.length, true);
      r.setUint32(12, f.length, true);
      parts.push(rh, f);
    });
    const file = new Uint8Array(Buffer.concat(parts));
    const back = readCapture(file);
    expect(back.warnings).toEqual([]);
    expect(back.pdus.length).toBe(2);
    expect(Buffer.from(back.pdus[0]!.bytes).equals(Buffer.from(login))).toBe(true);
    expect(back.pdus[0]!.direction).toBe('i2t');
    expect(back.pdus[1]!.direction).toBe('t2i');
  });

  it('refuses files that are neither pcap nor pcapng', () => {
    expect(() => readCapture(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]))).toThrow(/not a pcap/);
  });
});

describe('the one TCP/IP framing model (shared/protocol/tcp-framing.ts)', () => {
  it('counts the segments and frame bytes the pcapng writer really writes, per direction', async () => {
    const { frameTrip, MSS, ISCSI_PORT, segmentSizes } = await import('../../shared/protocol/tcp-framing.ts');
    expect(segmentSizes(2 * MSS + 1)).toEqual([MSS, MSS, 1]);
    expect(segmentSizes(48)).toEqual([48]);
    expect(() => segmentSizes(10, 0)).toThrow(RangeError);
    const { pdus } = session(true);
    const w = new PcapngWriter();
    for (const p of pdus) w.addPdu(p);
    const frames = [...packetsOf([w.toBytes()])].map((p) => ({ p, tcp: parseTcpFrame(p.data, LINKTYPE_ETHERNET)! })).filter((f) => f.tcp.payload.length > 0);
    for (const dir of ['i2t', 't2i'] as const) {
      const model = frameTrip(pdus.filter((p) => p.direction === dir).map((p) => p.bytes.length));
      const written = frames.filter((f) => (f.tcp.dstPort === ISCSI_PORT) === (dir === 'i2t'));
      expect(written.length).toBe(model.segments);
      expect(written.reduce((a, f) => a + f.tcp.payload.length, 0)).toBe(model.tcpPayload);
      expect(written.reduce((a, f) => a + f.p.data.length, 0)).toBe(model.frameBytes);
    }
  });
});
