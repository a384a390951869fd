import { describe, expect, it } from 'vitest';
import { DataOutCollector } from '../../server/iscsi/data-out.ts';
import { DEFAULT_PARAMS } from '../../server/iscsi/negotiation.ts';
import type { DataOutPdu } from '../../server/iscsi/pdu/data.ts';

const params = { ...DEFAULT_PARAMS, initialR2T: true, maxBurstLength: 65536, maxOutstandingR2T: 1 };
const dataOut = (ttt: number, dataSN: number, bufferOffset: number, data: Buffer, final = true) =>
  ({ itt: 1, ttt, dataSN, bufferOffset, data, final, lun: 0, expStatSN: 0 }) as unknown as DataOutPdu;

describe('DataOutCollector placement', () => {
  it('offers the slice accept() fills, and accept() takes data already there without copying over it', () => {
    let ttt = 100;
    const c = new DataOutCollector(131072, Buffer.alloc(0), true, params, () => ttt++);
    c.started = true;
    const [r2t] = c.nextR2Ts();
    expect(r2t).toMatchObject({ ttt: 100, offset: 0, length: 65536 });
    // Wrong TTT, DataSN or offset: no placement (nothing may be written before accept's checks pass).
    expect(c.placement(999, 0, 0, 32768)).toBeUndefined();
    expect(c.placement(100, 1, 0, 32768)).toBeUndefined();
    expect(c.placement(100, 0, 4096, 32768)).toBeUndefined();
    expect(c.placement(100, 0, 0, 65536 + 512)).toBeUndefined();
    const place = c.placement(100, 0, 0, 32768)!;
    expect(place.buffer).toBe(c.buffer.buffer);
    place.fill(0xaa);
    expect(c.accept(dataOut(100, 0, 0, place, false))).toEqual({ kind: 'more' });
    // The second PDU of the burst arrives in a buffer of its own: copied in.
    expect(c.accept(dataOut(100, 1, 32768, Buffer.alloc(32768, 0xbb)))).toMatchObject({ kind: 'r2t' });
    expect(c.buffer[0]).toBe(0xaa);
    expect(c.buffer[32767]).toBe(0xaa);
    expect(c.buffer[32768]).toBe(0xbb);
    expect(c.received).toBe(65536);
  });
});
