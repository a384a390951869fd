/**
 * pcap and pcapng files -> packets, read as a stream of chunks so a capture of any size passes through a bounded
 * buffer (a record larger than a chunk is joined from several). pcapng: every section (SHB) with its own byte
 * order and interfaces, each interface's if_tsresol; Enhanced, Simple and the obsolete Packet Blocks. Classic pcap:
 * microsecond and nanosecond magics, either byte order.
 */
import { closeSync, openSync, readSync } from 'node:fs';

export class CaptureFormatError extends Error {
  override name = 'CaptureFormatError';
}

export interface Packet {
  readonly linkType: number;
  /** ns since the Unix epoch (0 when the format records no time, as in a Simple Packet Block). */
  readonly timeNs: bigint;
  /** The captured bytes; valid only until the next packet is read (copy what must be kept). */
  readonly data: Uint8Array;
}

const BLOCK_SHB = 0x0a0d0d0a;
const BLOCK_IDB = 0x00000001;
const BLOCK_PB = 0x00000002;
const BLOCK_SPB = 0x00000003;
const BLOCK_EPB = 0x00000006;
const BYTE_ORDER_MAGIC = 0x1a2b3c4d;
const OPT_ENDOFOPT = 0;
const OPT_IF_TSRESOL = 9;
const PCAP_HEADER = 24;
const PCAP_RECORD_HEADER = 16;
const PCAP_LINKTYPE_OFFSET = 20;
const PCAPNG_MIN_BLOCK = 12;
/** A block or record bigger than this is corruption, not a packet (pcapng's own readers cap far lower). */
const MAX_RECORD = 256 * 1024 * 1024;
export const READ_CHUNK = 4 * 1024 * 1024;

const pad4 = (n: number): number => (n + 3) & ~3;

/** Pulls bytes from chunks on demand: `need(n)` makes n bytes available at `pos`. */
class ChunkCursor {
  buf: Uint8Array = new Uint8Array(0);
  pos = 0;
  /** File offset of buf[0], for error messages. */
  base = 0;
  private done = false;
  constructor(private readonly chunks: Iterator<Uint8Array>) {}

  get offset(): number {
    return this.base + this.pos;
  }

  need(n: number): boolean {
    while (this.buf.length - this.pos < n && !this.done) {
      const next = this.chunks.next();
      if (next.done) {
        this.done = true;
        break;
      }
      const rest = this.buf.subarray(this.pos);
      this.base += this.pos;
      this.pos = 0;
      this.buf = rest.length === 0 ? next.value : Buffer.concat([rest, next.value]);
    }
    return this.buf.length - this.pos >= n;
  }

  view(): DataView {
    return new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  }
}

/** Packets of a pcap or pcapng file given as chunks (in order). */
export function* packetsOf(chunks: Iterable<Uint8Array>): Generator<Packet> {
  const c = new ChunkCursor(chunks[Symbol.iterator]());
  if (!c.need(4)) throw new CaptureFormatError('file too short for pcap or pcapng');
  const magicLE = c.view().getUint32(0, true);
  if (magicLE === BLOCK_SHB) yield* pcapngPackets(c);
  else yield* pcapPackets(c, magicLE);
}

/** Packets of a file on disk, read in READ_CHUNK pieces (the file is never held whole). */
export function* packetsOfFile(path: string): Generator<Packet> {
  const fd = openSync(path, 'r');
  try {
    yield* packetsOf(fileChunks(fd));
  } finally {
    closeSync(fd);
  }
}

function* fileChunks(fd: number): Generator<Uint8Array> {
  for (;;) {
    // A fresh buffer each time: the cursor may still hold views into the previous one.
    const b = Buffer.allocUnsafe(READ_CHUNK);
    const n = readSync(fd, b, 0, READ_CHUNK, null);
    if (n === 0) return;
    yield b.subarray(0, n);
  }
}

function* pcapPackets(c: ChunkCursor, magicLE: number): Generator<Packet> {
  const magicBE = c.view().getUint32(0, false);
  let le: boolean;
  let nano: boolean;
  if (magicLE === 0xa1b2c3d4 || magicLE === 0xa1b23c4d) [le, nano] = [true, magicLE === 0xa1b23c4d];
  else if (magicBE === 0xa1b2c3d4 || magicBE === 0xa1b23c4d) [le, nano] = [false, magicBE === 0xa1b23c4d];
  else throw new CaptureFormatError(`not a pcap or pcapng file (magic 0x${magicLE.toString(16).padStart(8, '0')})`);
  if (!c.need(PCAP_HEADER)) throw new CaptureFormatError('pcap file header cut short');
  // The upper bits of the link-type field carry the FCS length (pcap-savefile(5)).
  const linkType = c.view().getUint32(PCAP_LINKTYPE_OFFSET, le) & 0x0fffffff;
  c.pos += PCAP_HEADER;
  while (c.need(PCAP_RECORD_HEADER)) {
    const dv = c.view();
    const sec = dv.getUint32(c.pos, le);
    const frac = dv.getUint32(c.pos + 4, le);
    const incl = dv.getUint32(c.pos + 8, le);
    if (incl > MAX_RECORD) throw new CaptureFormatError(`pcap record of ${incl} bytes at offset ${c.offset}: the file is damaged`);
    if (!c.need(PCAP_RECORD_HEADER + incl)) return; // cut short while writing: keep what came before
    const start = c.pos + PCAP_RECORD_HEADER;
    yield { linkType, timeNs: BigInt(sec) * 1_000_000_000n + BigInt(frac) * (nano ? 1n : 1000n), data: c.buf.subarray(start, start + incl) };
    c.pos = start + incl;
  }
}

interface Iface {
  linkType: number;
  unitsPerSecond: bigint;
}

function* pcapngPackets(c: ChunkCursor): Generator<Packet> {
  let le = true;
  let ifaces: Iface[] = [];
  while (c.need(PCAPNG_MIN_BLOCK)) {
    let dv = c.view();
    let type = dv.getUint32(c.pos, le);
    if (dv.getUint32(c.pos, true) === BLOCK_SHB) {
      // A new section: its byte-order magic says how to read everything up to the next SHB.
      type = BLOCK_SHB;
      const magic = dv.getUint32(c.pos + 8, true);
      if (magic !== BYTE_ORDER_MAGIC && magic !== 0x4d3c2b1a) throw new CaptureFormatError(`bad pcapng byte-order magic at offset ${c.offset}`);
      le = magic === BYTE_ORDER_MAGIC;
      ifaces = [];
    }
    const len = dv.getUint32(c.pos + 4, le);
    if (len < PCAPNG_MIN_BLOCK || len % 4 !== 0 || len > MAX_RECORD) throw new CaptureFormatError(`bad pcapng block length ${len} at offset ${c.offset}`);
    if (!c.need(len)) return; // the last block was cut short while writing
    dv = c.view();
    const body = c.pos + 8;
    const end = c.pos + len - 4;
    if (type === BLOCK_IDB) {
      ifaces.push({ linkType: dv.getUint16(body, le), unitsPerSecond: tsResolution(c.buf, dv, body + 8, end, le) });
    } else if (type === BLOCK_EPB || type === BLOCK_PB) {
      // EPB: interface u32; PB (obsolete): interface u16 + drops u16. Then timestamp high/low, captured length.
      const ifaceId = type === BLOCK_EPB ? dv.getUint32(body, le) : dv.getUint16(body, le);
      const iface = ifaces[ifaceId];
      const ts = (BigInt(dv.getUint32(body + 4, le)) << 32n) | BigInt(dv.getUint32(body + 8, le));
      const caplen = Math.min(dv.getUint32(body + 12, le), end - (body + 20));
      if (!iface) throw new CaptureFormatError(`packet at offset ${c.offset} names interface ${ifaceId}, which no Interface Description Block declared`);
      yield { linkType: iface.linkType, timeNs: (ts * 1_000_000_000n) / iface.unitsPerSecond, data: c.buf.subarray(body + 20, body + 20 + caplen) };
    } else if (type === BLOCK_SPB) {
      const iface = ifaces[0];
      const caplen = Math.min(dv.getUint32(body, le), end - (body + 4));
      if (iface) yield { linkType: iface.linkType, timeNs: 0n, data: c.buf.subarray(body + 4, body + 4 + caplen) };
    }
    c.pos += len;
  }
}

/** if_tsresol (pcapng 4.2): a power of ten, or of two when the top bit is set; microseconds when absent. */
function tsResolution(buf: Uint8Array, dv: DataView, start: number, end: number, le: boolean): bigint {
  for (let p = start; p + 4 <= end;) {
    const code = dv.getUint16(p, le);
    const olen = dv.getUint16(p + 2, le);
    if (code === OPT_ENDOFOPT) break;
    if (code === OPT_IF_TSRESOL && olen >= 1) {
      const r = buf[p + 4]!;
      return r & 0x80 ? 2n ** BigInt(r & 0x7f) : 10n ** BigInt(r);
    }
    p += 4 + pad4(olen);
  }
  return 1_000_000n;
}
