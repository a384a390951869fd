/**
 * The fuzzer's mutations: a seeded random source and the ways one valid PDU (wire bytes, no digests) is bent into
 * an invalid one. Most mutations aim at the fields a target must distrust (RFC 7143 11.2): opcode, flags, the
 * two length fields, ITT/TTT, CmdSN, the CDB and the key=value text; the rest flip bits, cut, extend and splice.
 */
import { BHS_LENGTH, Bhs, LIMITS } from '../server/iscsi/constants.ts';
import { padOf } from '../server/iscsi/pdu.ts';
import { serializePdu } from '../server/iscsi/framing.ts';

/** mulberry32: small, fast, and the same sequence for the same seed, so a finding can be replayed. */
export class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
}

const INTERESTING_8 = [0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff];
const INTERESTING_32 = [0, 1, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff, 0x1000, 0xffff, 0x10000];
const DSL_VALUES = [
  0,
  1,
  3,
  47,
  48,
  512,
  8192,
  65536,
  LIMITS.maxRecvDataSegmentLength - 1,
  LIMITS.maxRecvDataSegmentLength,
  LIMITS.maxRecvDataSegmentLength + 1,
  0xffffff,
];
/** Every opcode an initiator may send, some target opcodes, and unassigned ones. */
const OPCODES = [0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x10, 0x1c, 0x1d, 0x1e, 0x20, 0x21, 0x25, 0x3f, 0x07, 0x0f, 0x11, 0x2a];
/** First CDB bytes worth hitting: the commands this target implements, and some it does not. */
const SCSI_OPCODES = [
  0x00, 0x03, 0x08, 0x0a, 0x12, 0x15, 0x16, 0x17, 0x1a, 0x1b, 0x1e, 0x25, 0x28, 0x2a, 0x2e, 0x2f, 0x34, 0x35, 0x37, 0x41, 0x42, 0x48, 0x4c, 0x4d, 0x55, 0x5a,
  0x5e, 0x5f, 0x7f, 0x83, 0x88, 0x89, 0x8a, 0x8e, 0x8f, 0x90, 0x91, 0x93, 0x9e, 0xa0, 0xa3, 0xa8, 0xaa, 0xb7, 0xc0, 0xff,
];
const TEXT_VALUES = [
  '',
  'Yes',
  'No',
  'None',
  'CRC32C',
  'CRC32C,None',
  'Reject',
  'Irrelevant',
  'NotUnderstood',
  '0',
  '1',
  '-1',
  '4294967296',
  '99999999999999999999',
  '0x',
  '0xzz',
  '0b',
  '0b!!',
  '512',
  '16777215',
  'x'.repeat(9000),
  'CHAP',
  'CHAP,None',
  'Normal',
  'Discovery',
  'All',
  '\u00ff\u0000',
  '\ud800',
];
const TEXT_KEYS = [
  'InitiatorName',
  'TargetName',
  'SessionType',
  'AuthMethod',
  'HeaderDigest',
  'DataDigest',
  'MaxConnections',
  'InitialR2T',
  'ImmediateData',
  'MaxRecvDataSegmentLength',
  'MaxBurstLength',
  'FirstBurstLength',
  'DefaultTime2Wait',
  'DefaultTime2Retain',
  'MaxOutstandingR2T',
  'DataPDUInOrder',
  'DataSequenceInOrder',
  'ErrorRecoveryLevel',
  'SendTargets',
  'CHAP_A',
  'CHAP_N',
  'CHAP_R',
  'CHAP_I',
  'CHAP_C',
  'X-vendor.key',
  'TaskReporting',
  'iSCSIProtocolLevel',
  'k'.repeat(70),
];

/** How long the frame starting at `at` says it is (header + data + padding), or undefined if its BHS is cut. */
function frameLength(buf: Buffer, at = 0): number | undefined {
  if (buf.length - at < BHS_LENGTH) return undefined;
  const dsl = buf.readUIntBE(at + Bhs.DataSegmentLength, 3);
  return BHS_LENGTH + buf[at + Bhs.TotalAhsLength]! * 4 + dsl + padOf(dsl);
}

/**
 * Pads the last frame out to the length its BHS declares, so the target sees whole PDUs and a probe sent after
 * them is read as its own PDU. Frames the target refuses by length (over its limits) are left as they are: it
 * must drop the connection without waiting for their bytes.
 */
export function completeFrames(buf: Buffer): Buffer {
  let at = 0;
  for (;;) {
    if (at === buf.length) return buf;
    // A cut BHS is padded out, and then whatever length it declares is honoured like any other.
    if (buf.length - at < BHS_LENGTH) buf = Buffer.concat([buf, Buffer.alloc(BHS_LENGTH - (buf.length - at))]);
    const len = frameLength(buf, at)!;
    const dsl = buf.readUIntBE(at + Bhs.DataSegmentLength, 3);
    if (dsl > LIMITS.maxRecvDataSegmentLength || buf[at + Bhs.TotalAhsLength]! * 4 > LIMITS.maxAhsLength) return buf.subarray(0, at + BHS_LENGTH);
    if (buf.length - at < len) return Buffer.concat([buf, Buffer.alloc(len - (buf.length - at))]);
    at += len;
  }
}

/**
 * Adds header and data digests (CRC32C) to whole frames, as a session that negotiated them sends, and now and then
 * spoils one: the target must drop the connection on a bad header digest and Reject a bad data digest (RFC 7143 7.8).
 * A frame cut short by completeFrames (over a limit) goes as it is.
 */
export function withDigests(buf: Buffer, rng: Rng): Buffer {
  const out: Buffer[] = [];
  for (let at = 0; at < buf.length;) {
    const len = frameLength(buf, at);
    if (len === undefined || at + len > buf.length) {
      out.push(buf.subarray(at));
      break;
    }
    const ahsEnd = at + BHS_LENGTH + buf[at + Bhs.TotalAhsLength]! * 4;
    const dsl = buf.readUIntBE(at + Bhs.DataSegmentLength, 3);
    const pdu = { bhs: buf.subarray(at, at + BHS_LENGTH), ahs: buf.subarray(at + BHS_LENGTH, ahsEnd), data: buf.subarray(ahsEnd, ahsEnd + dsl) };
    const framed = Buffer.concat(serializePdu(pdu, true, true));
    if (rng.chance(0.03)) {
      // Not TotalAHSLength: until the AHS it names has arrived, no target can check the digest that follows it.
      let at2 = rng.int(framed.length);
      if (at2 === Bhs.TotalAhsLength) at2++;
      if (at2 < framed.length) framed[at2]! ^= 1 << rng.int(8);
    }
    out.push(framed);
    at += len;
  }
  return Buffer.concat(out);
}

/** Sets DataSegmentLength to the bytes actually present after the header (so a data mutation stays framed). */
function fixLength(buf: Buffer): void {
  if (buf.length < BHS_LENGTH) return;
  const data = Math.max(0, buf.length - BHS_LENGTH - buf[Bhs.TotalAhsLength]! * 4);
  buf.writeUIntBE(Math.min(data, 0xffffff), Bhs.DataSegmentLength, 3);
}

function mutateText(data: Buffer, rng: Rng): Buffer {
  const pairs = data
    .toString('latin1')
    .split('\0')
    .filter((p) => p !== '');
  switch (rng.int(6)) {
    case 0: // change a value
      if (pairs.length) {
        const i = rng.int(pairs.length);
        pairs[i] = `${pairs[i]!.split('=')[0]}=${rng.pick(TEXT_VALUES)}`;
      }
      break;
    case 1: // add a key, known or not, maybe a repeat
      pairs.splice(rng.int(pairs.length + 1), 0, `${rng.pick(TEXT_KEYS)}=${rng.pick(TEXT_VALUES)}`);
      break;
    case 2: // drop one
      if (pairs.length) pairs.splice(rng.int(pairs.length), 1);
      break;
    case 3: // no '=' at all
      pairs.push(rng.pick(TEXT_KEYS));
      break;
    case 4: // lose the terminating NUL
      return Buffer.from(pairs.join('\0'), 'latin1');
    default: // a repeated key
      if (pairs.length) pairs.push(pairs[rng.int(pairs.length)]!);
  }
  return Buffer.from(pairs.map((p) => `${p}\0`).join(''), 'utf8');
}

/** One mutation of a whole PDU; `others` are PDUs to splice in. The result may be any length. */
export function mutate(pdu: Buffer, rng: Rng, others: readonly Buffer[]): Buffer {
  let b: Buffer = Buffer.from(pdu);
  const rounds = 1 + (rng.chance(0.3) ? rng.int(3) : 0);
  for (let r = 0; r < rounds; r++) b = mutateOnce(b, rng, others);
  return b;
}

function mutateOnce(b: Buffer, rng: Rng, others: readonly Buffer[]): Buffer {
  const bhs = b.length >= BHS_LENGTH;
  switch (rng.int(14)) {
    case 0: // flip bits anywhere
      for (let i = rng.int(8); i >= 0 && b.length; i--) b[rng.int(b.length)]! ^= 1 << rng.int(8);
      return b;
    case 1: // an interesting byte anywhere
      if (b.length) b[rng.int(b.length)] = rng.pick(INTERESTING_8);
      return b;
    case 2: // opcode (and the immediate bit)
      if (bhs) b[0] = rng.pick(OPCODES) | (rng.chance(0.5) ? 0x40 : 0) | (rng.chance(0.05) ? 0x80 : 0);
      return b;
    case 3: // flags byte
      if (bhs) b[Bhs.Flags] = rng.chance(0.5) ? rng.int(256) : b[Bhs.Flags]! ^ (1 << rng.int(8));
      return b;
    case 4: // TotalAHSLength
      if (bhs) b[Bhs.TotalAhsLength] = rng.chance(0.5) ? rng.int(4) : rng.int(256);
      return b;
    case 5: // DataSegmentLength: a lie, a limit, or the truth
      if (bhs) b.writeUIntBE(rng.pick(DSL_VALUES), Bhs.DataSegmentLength, 3);
      return b;
    case 6: {
      // one of the 32-bit words: LUN halves, ITT, TTT/EDTL, CmdSN, ExpStatSN, and the rest
      if (!bhs) return b;
      const at = rng.pick([8, 12, 16, 20, 24, 28, 32, 36, 40, 44]);
      const v = b.readUInt32BE(at);
      b.writeUInt32BE(rng.chance(0.5) ? rng.pick(INTERESTING_32) : (v + rng.int(9) - 4) >>> 0, at);
      return b;
    }
    case 7: // the CDB: another command, or a length/LBA field bent
      if (bhs) {
        if (rng.chance(0.5)) b[Bhs.Cdb] = rng.pick(SCSI_OPCODES);
        else b[Bhs.Cdb + 1 + rng.int(15)] = rng.chance(0.5) ? rng.pick(INTERESTING_8) : rng.int(256);
      }
      return b;
    case 8: // truncate
      return b.subarray(0, rng.int(b.length + 1));
    case 9: // extend with junk
      return Buffer.concat([b, rng.bytes(1 + rng.int(rng.chance(0.9) ? 64 : 4096))]);
    case 10: {
      // the text keys of a Login or Text PDU (length kept honest)
      if (!bhs) return b;
      const head = BHS_LENGTH + b[Bhs.TotalAhsLength]! * 4;
      const data = b.subarray(Math.min(head, b.length), Math.min(b.length, head + b.readUIntBE(Bhs.DataSegmentLength, 3)));
      const out = Buffer.concat([b.subarray(0, Math.min(head, b.length)), mutateText(data, rng)]);
      fixLength(out);
      return out;
    }
    case 11: // splice: this header with another PDU's tail, or two PDUs back to back
      if (!others.length) return b;
      if (rng.chance(0.5)) return Buffer.concat([b, rng.pick(others)]);
      {
        const o = rng.pick(others);
        const cut = rng.int(Math.min(b.length, o.length) + 1);
        return Buffer.concat([b.subarray(0, cut), o.subarray(cut)]);
      }
    case 12: {
      // data segment bytes changed, length made to match
      if (!bhs) return b;
      const out = Buffer.concat([b, rng.chance(0.5) ? Buffer.alloc(rng.int(1024)) : rng.bytes(rng.int(300))]);
      fixLength(out);
      return out;
    }
    default: // an AHS that lies about its own length (Extended CDB, bidirectional read length, unknown types)
      if (!bhs) return b;
      {
        const words = 1 + rng.int(4);
        const ahs = rng.bytes(words * 4);
        ahs.writeUInt16BE(rng.chance(0.5) ? rng.int(words * 4) : rng.int(0x10000), 0);
        ahs[2] = rng.pick([1, 2, 0, 3, 0x3f, 0xff]);
        const out = Buffer.concat([b.subarray(0, BHS_LENGTH), ahs, b.subarray(BHS_LENGTH + b[Bhs.TotalAhsLength]! * 4)]);
        out[Bhs.TotalAhsLength] = b[Bhs.TotalAhsLength]! + words;
        return out;
      }
  }
}
