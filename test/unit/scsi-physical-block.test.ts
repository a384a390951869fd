import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UsageError } from '../../server/config/usage-error.ts';
import { parseLun } from '../../server/config/values.ts';
import { ScsiStatus } from '../../server/scsi/types.ts';
import { be, cdb, read10 } from '../helpers/cdb.ts';
import { BS, fill, makeHarness, type Harness } from '../helpers/scsi-harness.ts';

describe('--lun ...,physical=BYTES', () => {
  it('takes a power-of-two multiple of the 512-byte logical block', () => {
    expect(parseLun('/tmp/a.img:64M,thin,physical=4096')).toMatchObject({ thin: true, physicalBlockSize: 4096 });
    expect(parseLun('/tmp/a.img:64M,physical=4K').physicalBlockSize).toBe(4096);
    expect(parseLun('/tmp/a.img:64M,physical=16M').physicalBlockSize).toBe(16 << 20);
    expect(parseLun('/tmp/a.img:64M').physicalBlockSize).toBeUndefined();
  });

  it('refuses sizes that are no whole power of two of logical blocks, with the reason', () => {
    for (const bad of ['3000', '256', '0', 'big', String(512 * 2 ** 16)]) {
      expect(() => parseLun(`/tmp/a.img:64M,physical=${bad}`)).toThrow(UsageError);
    }
    expect(() => parseLun('/tmp/a.img:64M,physical=1536')).toThrow(/power of two/);
  });
});

describe('a LUN with 4 KiB physical blocks', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await makeHarness([{ thin: true, physicalBlockExponent: 3 }, { thin: true }]);
  });
  afterEach(() => h.close());

  const rc16 = (lun: number) => h.run(cdb(0x9e, 0x10, ...be(0, 8), ...be(32, 4)), { lun }).then((r) => r.dataIn!);
  const blockLimits = (lun: number) => h.run(cdb(0x12, 1, 0xb0, 0, 64), { lun }).then((r) => new DataView(r.dataIn!.buffer));

  it('READ CAPACITY(16) reports LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT 3, lowest aligned LBA 0', async () => {
    const d = await rc16(0);
    expect([d[13]! & 0x0f, d[14]! & 0x3f, d[15]]).toEqual([3, 0, 0]);
    expect((await rc16(1))[13]! & 0x0f).toBe(0);
  });

  it('Block Limits: optimal transfer and unmap granularity of one physical block', async () => {
    const l = await blockLimits(0);
    expect([l.getUint16(6), l.getUint32(28)]).toEqual([8, 8]);
    const plain = await blockLimits(1);
    expect([plain.getUint16(6), plain.getUint32(28)]).toEqual([1, 1]);
  });

  it('an unmapping WRITE SAME of part of a physical block unmaps just those blocks', async () => {
    await h.run(cdb(0x2a, 0, ...be(0, 4), 0, ...be(8, 2)), { data: fill(8, 0x77) });
    const r = await h.run(cdb(0x41, 0x08, ...be(3, 4), 0, ...be(2, 2)), { data: fill(1, 0x77) });
    expect(r.status).toBe(ScsiStatus.Good);
    const blocks = (await h.run(read10(0, 8))).dataIn!;
    const firstByteOfEach = Array.from({ length: 8 }, (_, i) => blocks[i * BS]);
    expect(firstByteOfEach).toEqual([0x77, 0x77, 0x77, 0, 0, 0x77, 0x77, 0x77]);
  });
});
