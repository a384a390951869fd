/**
 * A PDU's wire form as the connection sent or received it: BHS, AHS, header digest, data, padding, data digest
 * (RFC 7143 11.1), rebuilt from the decoded PDU for the trace ring and captures.
 */
import { crc32c, crc32cParts } from '../iscsi/crc32c.ts';
import type { PduEvent } from '../iscsi/events.ts';
import { padOf } from '../iscsi/pdu.ts';

export type WireInput = Pick<PduEvent, 'pdu' | 'headerDigest' | 'dataDigest'>;

/** Bytes of the PDU's wire form. */
export function wireLength(e: WireInput): number {
  const { bhs, ahs, data } = e.pdu;
  return bhs.length + ahs.length + (e.headerDigest ? 4 : 0) + data.length + padOf(data.length) + (e.dataDigest && data.length > 0 ? 4 : 0);
}

/** One copy of the PDU in wire form, digests computed as the connection sends or checked them (RFC 7143 11.1). */
export function wireBytes(e: WireInput): Uint8Array {
  const out = new Uint8Array(wireLength(e));
  writeWire(e, out);
  return out;
}

/** Writes the wire form into `out` (exactly wireLength(e) bytes; `out` may hold old bytes: every one is written). */
export function writeWire(e: WireInput, out: Uint8Array): void {
  const { bhs, ahs, data } = e.pdu;
  const headerLength = bhs.length + ahs.length;
  out.set(bhs, 0);
  if (ahs.length) out.set(ahs, bhs.length);
  let o = headerLength;
  if (e.headerDigest) {
    new DataView(out.buffer, out.byteOffset).setUint32(o, crc32c(out.subarray(0, headerLength)), true);
    o += 4;
  }
  if (data.length) {
    out.set(data, o);
    const end = o + data.length + padOf(data.length);
    if (end > o + data.length) out.fill(0, o + data.length, end); // the arena is not zeroed
    if (e.dataDigest) new DataView(out.buffer, out.byteOffset).setUint32(end, crc32cParts([out.subarray(o, end)]), true);
  }
}
