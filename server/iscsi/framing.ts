import { BHS_LENGTH, DIGEST_LENGTH, LIMITS } from './constants.ts';
import { crc32c, crc32cParts } from './crc32c.ts';
import { ahsLengthOf, dataSegmentLengthOf, padOf, type Pdu } from './pdu.ts';

/** Why framing gave up on a byte stream, or flagged one PDU. */
export type FramingError =
  | { kind: 'header-digest'; bhs: Buffer }
  | { kind: 'data-digest'; pdu: Pdu }
  | { kind: 'data-too-long'; bhs: Buffer; length: number; limit: number }
  | { kind: 'ahs-too-long'; bhs: Buffer; length: number };

interface FramingSink {
  pdu(pdu: Pdu, rawLength: number): void;
  /**
   * Where a large data segment that arrived across several received chunks should be gathered: exactly
   * `dataLength` bytes (for a Data-Out, the command's own buffer at the PDU's offset), or undefined to let framing
   * gather it into a buffer of its own. Saves allocating and copying a joined PDU per large Data-Out.
   */
  place?(bhs: Buffer, dataLength: number): Buffer | undefined;
  /** After a fatal error the reader stops; `data-digest` is not fatal (the PDU is skipped, the stream stays in sync). */
  error(err: FramingError): void;
}

const ZERO_PAD = Buffer.alloc(4);
const EMPTY = Buffer.alloc(0);
/** Smaller data segments are gathered by framing as before: asking where to put them costs more than the copy. */
const PLACE_MIN_BYTES = 16 * 1024;

/**
 * Bytes -> PDUs (RFC 7143 11.2). Holds received chunks until one whole PDU is present, then hands it on with
 * its data segment sliced, not copied, whenever the segment lies inside one chunk.
 * Digests are switched on after login by setting `headerDigest` / `dataDigest`.
 */
export class PduReader {
  headerDigest = false;
  dataDigest = false;
  /** Largest data segment accepted; anything longer is refused before it is buffered. */
  maxDataSegmentLength: number = LIMITS.maxRecvDataSegmentLength;
  private chunks: Buffer[] = [];
  private buffered = 0;
  private stopped = false;
  /** The header of the PDU being gathered passed its digest check (done once, not on every chunk). */
  private headerChecked = false;

  constructor(private readonly sink: FramingSink) {}

  push(chunk: Buffer): void {
    if (this.stopped) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    while (!this.stopped && this.buffered >= BHS_LENGTH) {
      const bhs = this.peek(BHS_LENGTH);
      const ahsLength = ahsLengthOf(bhs);
      const dataLength = dataSegmentLengthOf(bhs);
      if (ahsLength > LIMITS.maxAhsLength) return this.fail({ kind: 'ahs-too-long', bhs: Buffer.from(bhs), length: ahsLength });
      if (dataLength > this.maxDataSegmentLength)
        return this.fail({ kind: 'data-too-long', bhs: Buffer.from(bhs), length: dataLength, limit: this.maxDataSegmentLength });
      const hd = this.headerDigest ? DIGEST_LENGTH : 0;
      // Within the limits, a header's lengths are believed only once its digest checks: a corrupted DataSegmentLength
      // must not make us wait for data that never comes (found by npm run fuzz).
      if (hd && !this.headerChecked) {
        if (this.buffered < BHS_LENGTH + ahsLength + hd) return;
        const header = this.peek(BHS_LENGTH + ahsLength + hd);
        if (crc32c(header.subarray(0, BHS_LENGTH + ahsLength)) !== header.readUInt32LE(BHS_LENGTH + ahsLength))
          return this.fail({ kind: 'header-digest', bhs: Buffer.from(bhs) });
        this.headerChecked = true;
      }
      const dd = this.dataDigest && dataLength > 0 ? DIGEST_LENGTH : 0;
      const pad = padOf(dataLength);
      const total = BHS_LENGTH + ahsLength + hd + dataLength + pad + dd;
      if (this.buffered < total) return;
      this.headerChecked = false;
      const target = dataLength >= PLACE_MIN_BYTES && this.chunks[0]!.length < total ? this.sink.place?.(bhs, dataLength) : undefined;
      if (target) this.framePlaced(target, ahsLength, hd, dataLength, pad, dd);
      else this.frame(this.take(total), ahsLength, hd, dataLength, pad, dd);
    }
  }

  /** Stops reading (after a fatal error or when the connection closes). */
  stop(): void {
    this.stopped = true;
    this.chunks = [];
    this.buffered = 0;
  }

  private frame(raw: Buffer, ahsLength: number, hd: number, dataLength: number, pad: number, dd: number): void {
    const headerEnd = BHS_LENGTH + ahsLength;
    const bhs = raw.subarray(0, BHS_LENGTH);
    const dataStart = headerEnd + hd;
    const pdu: Pdu = {
      bhs,
      ahs: raw.subarray(BHS_LENGTH, headerEnd),
      data: raw.subarray(dataStart, dataStart + dataLength),
    };
    if (dd) {
      const expected = raw.readUInt32LE(dataStart + dataLength + pad);
      const actual = crc32c(raw.subarray(dataStart, dataStart + dataLength + pad));
      if (actual !== expected) return this.sink.error({ kind: 'data-digest', pdu });
    }
    this.sink.pdu(pdu, raw.length);
  }

  /** Like frame(), with the data segment copied from the chunks straight into `target`. */
  private framePlaced(target: Buffer, ahsLength: number, hd: number, dataLength: number, pad: number, dd: number): void {
    const header = this.take(BHS_LENGTH + ahsLength + hd);
    this.takeInto(target, dataLength);
    const tail = pad + dd ? this.take(pad + dd) : EMPTY;
    const pdu: Pdu = { bhs: header.subarray(0, BHS_LENGTH), ahs: header.subarray(BHS_LENGTH, BHS_LENGTH + ahsLength), data: target };
    if (dd) {
      const expected = tail.readUInt32LE(pad);
      const actual = crc32cParts(pad ? [target, tail.subarray(0, pad)] : [target]);
      if (actual !== expected) return this.sink.error({ kind: 'data-digest', pdu });
    }
    this.sink.pdu(pdu, BHS_LENGTH + ahsLength + hd + dataLength + pad + dd);
  }

  private fail(err: FramingError): void {
    this.stop();
    this.sink.error(err);
  }

  /** The first n buffered bytes, without consuming them (copied only if they span chunks). */
  private peek(n: number): Buffer {
    const first = this.chunks[0]!;
    if (first.length >= n) return first.subarray(0, n);
    return Buffer.concat(this.chunks, this.buffered).subarray(0, n);
  }

  /** Consumes n bytes into `out`. */
  private takeInto(out: Buffer, n: number): void {
    this.buffered -= n;
    let off = 0;
    while (off < n) {
      const c = this.chunks[0]!;
      const want = n - off;
      if (c.length <= want) {
        c.copy(out, off);
        off += c.length;
        this.chunks.shift();
      } else {
        c.copy(out, off, 0, want);
        this.chunks[0] = c.subarray(want);
        off += want;
      }
    }
  }

  /** Consumes n bytes: a slice of the first chunk when it holds them all, else one copy. */
  private take(n: number): Buffer {
    const first = this.chunks[0]!;
    if (first.length < n) {
      const out = Buffer.allocUnsafe(n);
      this.takeInto(out, n);
      return out;
    }
    this.buffered -= n;
    if (first.length === n) this.chunks.shift();
    else this.chunks[0] = first.subarray(n);
    return first.subarray(0, n);
  }
}

/**
 * PDU -> the buffers to write, in order, with digests and padding. The header part is one small new buffer;
 * the data segment is passed through untouched.
 */
export function serializePdu(pdu: Pdu, headerDigest: boolean, dataDigest: boolean): Buffer[] {
  const headerLength = BHS_LENGTH + pdu.ahs.length;
  const header = Buffer.allocUnsafe(headerLength + (headerDigest ? DIGEST_LENGTH : 0));
  pdu.bhs.copy(header, 0);
  if (pdu.ahs.length) pdu.ahs.copy(header, BHS_LENGTH);
  if (headerDigest) header.writeUInt32LE(crc32c(header.subarray(0, headerLength)), headerLength);
  const parts: Buffer[] = [header];
  const dataLength = pdu.data.length;
  if (dataLength === 0) return parts;
  parts.push(pdu.data);
  const pad = padOf(dataLength);
  const padBytes = ZERO_PAD.subarray(0, pad);
  if (pad) parts.push(padBytes);
  if (dataDigest) {
    const digest = Buffer.allocUnsafe(DIGEST_LENGTH);
    digest.writeUInt32LE(crc32cParts(pad ? [pdu.data, padBytes] : [pdu.data]), 0);
    parts.push(digest);
  }
  return parts;
}
