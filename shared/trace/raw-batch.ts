/**
 * Raw PDU frames batched into one binary WebSocket message: the hub sends one message per flush instead of one per
 * PDU (thousands a second under load), which saves the browser a message event, and the socket a frame, per PDU.
 *
 *   0  u8   magic 0x62 ('b')
 *   1  u8   batch version (1)
 *   2  u16  reserved (0)
 *   4  u32  number of frames
 *   8  ...  per frame: u32 length, then the frame exactly as encodeRawFrame writes it (schema.ts)
 *
 * Big-endian; the numbers live in shared/api/ws-frames.ts. A single frame (magic 0x69) is still valid on its own; readers accept both.
 */
import { decodeRawFrame, encodeRawFrame, type RawPduFrame } from './schema.ts';
import { RAW_BATCH_FRAME_PREFIX as LENGTH, RAW_BATCH_HEADER_LENGTH as HEADER, RAW_BATCH_MAGIC, RAW_BATCH_VERSION, RAW_FRAME_MAGIC } from '../api/ws-frames.ts';

export { RAW_BATCH_MAGIC, RAW_BATCH_VERSION };

export class RawBatchError extends Error {}

export type RawFrameInput = Parameters<typeof encodeRawFrame>[0];

/** One message holding `frames`, each cut to `maxBytes` of PDU. */
export function encodeRawBatch(frames: readonly RawFrameInput[], maxBytes = Number.MAX_SAFE_INTEGER): Uint8Array {
  const encoded = frames.map((f) => encodeRawFrame(f, maxBytes));
  let size = HEADER;
  for (const e of encoded) size += LENGTH + e.length;
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  out[0] = RAW_BATCH_MAGIC;
  out[1] = RAW_BATCH_VERSION;
  dv.setUint32(4, encoded.length);
  let o = HEADER;
  for (const e of encoded) {
    dv.setUint32(o, e.length);
    out.set(e, o + LENGTH);
    o += LENGTH + e.length;
  }
  return out;
}

/** The frames of a batch (or of a single-frame message); their bytes are views into `message`. */
export function decodeRawMessage(message: Uint8Array): RawPduFrame[] {
  if (message[0] === RAW_FRAME_MAGIC) return [decodeRawFrame(message)];
  if (message.length < HEADER || message[0] !== RAW_BATCH_MAGIC) throw new RawBatchError(`not a raw frame batch (magic 0x${(message[0] ?? 0).toString(16)})`);
  if (message[1] !== RAW_BATCH_VERSION) throw new RawBatchError(`unknown raw batch version ${message[1]}`);
  const dv = new DataView(message.buffer, message.byteOffset, message.byteLength);
  const count = dv.getUint32(4);
  const frames: RawPduFrame[] = [];
  let o = HEADER;
  for (let i = 0; i < count; i++) {
    if (o + LENGTH > message.length) throw new RawBatchError(`raw batch cut short at frame ${i} of ${count}`);
    const len = dv.getUint32(o);
    if (o + LENGTH + len > message.length) throw new RawBatchError(`raw batch frame ${i} runs past the end (${len} bytes)`);
    frames.push(decodeRawFrame(message.subarray(o + LENGTH, o + LENGTH + len)));
    o += LENGTH + len;
  }
  return frames;
}
