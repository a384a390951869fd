/**
 * The binary /ws messages' layout constants: raw PDU bytes travel as binary frames beside the JSON events (never
 * base64). shared/trace/schema.ts (one frame) and shared/trace/raw-batch.ts (a batch of frames) encode and decode
 * them with these numbers; the layout itself is written out there. Big-endian, as the protocol itself.
 */

/** One raw PDU: u8 magic, u8 version, u8 flags, u8 reserved, u32 seq, u32 original length, then the bytes. */
export const RAW_FRAME_MAGIC = 0x69;
export const RAW_FRAME_VERSION = 1;
export const RAW_FRAME_HEADER_LENGTH = 12;
export const RAW_FRAME_FLAG_TRUNCATED = 0x01;
export const RAW_FRAME_FLAG_T2I = 0x02;
export const RAW_FRAME_FLAG_HEADER_DIGEST = 0x04;
export const RAW_FRAME_FLAG_DATA_DIGEST = 0x08;

/** A batch of frames: u8 magic, u8 version, u16 reserved, u32 frame count, then per frame u32 length and the frame. */
export const RAW_BATCH_MAGIC = 0x62;
export const RAW_BATCH_VERSION = 1;
export const RAW_BATCH_HEADER_LENGTH = 8;
/** Bytes before each frame of a batch: its length. */
export const RAW_BATCH_FRAME_PREFIX = 4;
