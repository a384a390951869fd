import { describe, expect, it } from 'vitest';
import { decodeRawMessage, encodeRawBatch, RawBatchError } from '../../shared/trace/raw-batch.ts';
import { encodeRawFrame } from '../../shared/trace/schema.ts';

const pdu = (n: number, len: number) => ({
  seq: n,
  direction: n % 2 ? ('t2i' as const) : ('i2t' as const),
  headerDigest: n === 2,
  dataDigest: false,
  bytes: Uint8Array.from({ length: len }, (_, i) => (i + n) & 0xff),
});

describe('raw frame batches', () => {
  it('round-trips many frames, truncating each to maxBytes', () => {
    const frames = [pdu(1, 48), pdu(2, 600), pdu(3, 0)];
    const out = decodeRawMessage(encodeRawBatch(frames, 100));
    expect(out.map((f) => [f.seq, f.direction, f.headerDigest, f.bytes.length, f.originalLength, f.truncated])).toEqual([
      [1, 't2i', false, 48, 48, false],
      [2, 'i2t', true, 100, 600, true],
      [3, 't2i', false, 0, 0, false],
    ]);
    expect([...out[1]!.bytes.subarray(0, 3)]).toEqual([2, 3, 4]);
  });

  it('still reads a single frame, and refuses a cut or foreign message', () => {
    expect(decodeRawMessage(encodeRawFrame(pdu(7, 48)))[0]!.seq).toBe(7);
    const b = encodeRawBatch([pdu(1, 48), pdu(2, 48)]);
    expect(() => decodeRawMessage(b.subarray(0, b.length - 10))).toThrow(RawBatchError);
    expect(() => decodeRawMessage(Uint8Array.of(0x7b, 0x22))).toThrow('not a raw frame batch');
  });
});
