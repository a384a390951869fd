/** The overhead model (web/src/lib/overhead.ts): PDU shapes of the lab's session and their frames. */
import { describe, expect, it } from 'vitest';
import { modelBreakdown, modelPdus } from '../../web/src/lib/overhead.ts';

describe('overhead model', () => {
  it('a 512-byte READ: SCSI Command out, one Data-In with status back, one frame each', () => {
    const b = modelBreakdown('read', 512, 1500);
    expect(b.pdus).toBe(2);
    expect(b.segments).toBe(2);
    // 48 + 54 out; 48 + 512 + 54 back.
    expect(b.frameBytes).toBe(102 + 614);
    expect(b.payload).toBe(512);
    expect(b.cdb + b.bhs).toBe(96);
  });

  it('a 1 MiB WRITE: 64 KiB immediate, then an R2T and a Data-Out per 256 KiB burst, then SCSI Response', () => {
    const pdus = modelPdus('write', 1024 * 1024);
    expect(pdus.map((p) => p.opcode)).toEqual([0x01, 0x31, 0x05, 0x31, 0x05, 0x31, 0x05, 0x31, 0x05, 0x21]);
    expect(pdus.filter((p) => p.opcode !== 0x31 && p.opcode !== 0x21).reduce((a, p) => a + p.data, 0)).toBe(1024 * 1024);
    expect(modelBreakdown('write', 1024 * 1024, 9000).segments).toBeLessThan(modelBreakdown('write', 1024 * 1024, 1500).segments);
  });
});
