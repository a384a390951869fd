// The /ws contract's encoding (shared/api/ws.ts) and binary layout (shared/api/ws-frames.ts), without a gateway.
import { describe, expect, it } from 'vitest';
import { encodeWsEventsParts, encodeWsMessage, WS_EVENTS_PREFIX, type WsEventsMessage } from '../../shared/api/ws.ts';
import {
  RAW_BATCH_HEADER_LENGTH,
  RAW_BATCH_MAGIC,
  RAW_BATCH_VERSION,
  RAW_FRAME_FLAG_T2I,
  RAW_FRAME_HEADER_LENGTH,
  RAW_FRAME_MAGIC,
} from '../../shared/api/ws-frames.ts';
import { encodeRawBatch } from '../../shared/trace/raw-batch.ts';
import { MAX_CAPTURE_UPLOAD_BYTES, MAX_JSONL_UPLOAD_BYTES, describeUploadCap } from '../../shared/api/capture.ts';
import { MAX_CAPTURE_UPLOAD_BYTES as GATEWAY_CAP } from '../../server/capture/capture-store.ts';
import { MAX_REPLAY_UPLOAD_BYTES } from '../../server/gateway/upload-limits.ts';
import { MAX_UPLOAD_BYTES as UI_CAP } from '../../web/src/lib/api.ts';
import type { TraceEvent } from '../../shared/trace/schema.ts';
import { contractKeys, contractMismatch } from '../helpers/contract.ts';

const events = [
  { type: 'session', seq: 7, timeNs: 1, connectionId: 1, kind: 'login' },
  { type: 'store', seq: 8, timeNs: 2, text: 'quote " and \\ and \u2028' },
] as unknown as TraceEvent[];

describe('/ws events message in two parts (one encoding of the events for every browser)', () => {
  it('head + tail is exactly the typed message encoded whole', () => {
    const message: WsEventsMessage = { type: 'events', dropped: 3, sampled: 12, every: 4, events };
    const parts = encodeWsEventsParts(events);
    const text = parts.head({ dropped: 3, sampled: 12, every: 4 }) + parts.tail;
    expect(text).toBe(encodeWsMessage(message));
    expect(JSON.parse(text)).toEqual(message);
  });

  it('starts with the prefix the page spots it by, with no events as well', () => {
    const parts = encodeWsEventsParts([]);
    const text = parts.head({ dropped: 0, sampled: 0, every: 1 }) + parts.tail;
    expect(text.startsWith(WS_EVENTS_PREFIX)).toBe(true);
    expect(contractMismatch(contractKeys<WsEventsMessage>({ type: true, dropped: true, sampled: true, every: true, events: true }), JSON.parse(text))).toEqual(
      [],
    );
  });
});

describe('binary frames keep their layout, numbered by the contract', () => {
  it('a batch of one t2i frame has the contract magic, version, header lengths and flag', () => {
    const bytes = new Uint8Array([1, 2, 3, 4, 5]);
    const batch = encodeRawBatch([{ seq: 0x01020304, direction: 't2i', headerDigest: false, dataDigest: false, bytes }]);
    expect(batch[0]).toBe(RAW_BATCH_MAGIC);
    expect(batch[1]).toBe(RAW_BATCH_VERSION);
    const frame = batch.subarray(RAW_BATCH_HEADER_LENGTH + 4);
    expect(frame[0]).toBe(RAW_FRAME_MAGIC);
    expect(frame[2]).toBe(RAW_FRAME_FLAG_T2I);
    expect([...frame.subarray(4, 8)]).toEqual([1, 2, 3, 4]);
    expect([...frame.subarray(RAW_FRAME_HEADER_LENGTH)]).toEqual([...bytes]);
    expect(batch.length).toBe(RAW_BATCH_HEADER_LENGTH + 4 + RAW_FRAME_HEADER_LENGTH + bytes.length);
  });
});

describe('upload caps: one number for the gateway and the UI', () => {
  it('the gateway refuses and the UI warns at the contract caps', () => {
    expect(GATEWAY_CAP).toBe(MAX_CAPTURE_UPLOAD_BYTES);
    expect(UI_CAP).toBe(MAX_CAPTURE_UPLOAD_BYTES);
    expect(MAX_REPLAY_UPLOAD_BYTES).toBe(MAX_JSONL_UPLOAD_BYTES);
    expect(describeUploadCap(MAX_CAPTURE_UPLOAD_BYTES)).toBe('2 GiB');
    expect(describeUploadCap(MAX_JSONL_UPLOAD_BYTES)).toBe('64 MiB');
  });
});

describe('contractMismatch', () => {
  const keys = contractKeys<{ a: number; b?: string }>({ a: true, b: false });
  it('accepts an answer with the required keys, optional ones or not', () => {
    expect(contractMismatch(keys, { a: 1 })).toEqual([]);
    expect(contractMismatch(keys, { a: 1, b: 'x' })).toEqual([]);
  });
  it('names a missing key and a key the contract lacks', () => {
    expect(contractMismatch(keys, { b: 'x', c: 2 })).toEqual(['missing a', 'not in the contract: c']);
  });
});
