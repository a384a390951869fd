// ALUA (SPC-4 5.15): implicit asymmetric access with one target port group per target port, all active/optimized;
// INQUIRY's TPGS and MULTIP bits, the port and group designators of VPD page 83, REPORT TARGET PORT GROUPS.
import { afterEach, describe, expect, it } from 'vitest';
import { cdb, be } from '../helpers/cdb.ts';
import { makeHarness, nexusA, senseOf, type Harness } from '../helpers/scsi-harness.ts';
import type { ItNexus } from '../../server/scsi/types.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const rtpg = (alloc: number, format = 0) => cdb(0xa3, (format << 5) | 0x0a, 0, 0, 0, 0, ...be(alloc, 4), 0, 0);
const nexusOnPort2: ItNexus = { ...nexusA, id: 'iqn.a,i,0x1,t,0x2', relativeTargetPort: 2 };

/** Designators of a VPD page 83 answer: [association|type byte, body]. */
function designators(page: Uint8Array): [number, number[]][] {
  const out: [number, number[]][] = [];
  for (let at = 4; at < page.length; at += 4 + page[at + 3]!) out.push([page[at + 1]! & 0x3f, [...page.subarray(at + 4, at + 4 + page[at + 3]!)]]);
  return out;
}

describe('ALUA', () => {
  it('standard INQUIRY claims implicit ALUA (TPGS 01b); MULTIP only with several ports', async () => {
    h = await makeHarness([{}]);
    const one = (await h.run(cdb(0x12, 0, 0, 0, 96))).dataIn!;
    expect((one[5]! >> 4) & 0x03).toBe(0b01);
    expect(one[6]! & 0x10).toBe(0);
    await h.close();
    h = await makeHarness([{}], { targetPorts: 2 });
    expect((await h.run(cdb(0x12, 0, 0, 0, 96))).dataIn![6]! & 0x10).toBe(0x10);
  });

  it('VPD page 83 names the LU (NAA) and the asking port and its group, within 64 bytes', async () => {
    h = await makeHarness([{}], { targetPorts: 2 });
    const page = (await h.run(cdb(0x12, 1, 0x83, 0, 255), { nexus: nexusOnPort2 })).dataIn!;
    expect(page.length).toBeLessThanOrEqual(64);
    const d = designators(page);
    expect(d.map(([t]) => t)).toEqual([0x03, 0x14, 0x15]); // NAA (LU), relative target port, target port group
    expect(d[1]![1]).toEqual([0, 0, 0, 2]);
    expect(d[2]![1]).toEqual([0, 0, 0, 2]);
  });

  it('REPORT TARGET PORT GROUPS: one active/optimized group per port; truncated at the allocation length', async () => {
    h = await makeHarness([{}], { targetPorts: 2 });
    const full = (await h.run(rtpg(1024))).dataIn!;
    expect([...full]).toEqual([0, 0, 0, 24, 0x00, 0x01, 0, 1, 0, 0, 0, 1, /* port */ 0, 0, 0, 1, 0x00, 0x01, 0, 2, 0, 0, 0, 1, /* port */ 0, 0, 0, 2]);
    const cut = (await h.run(rtpg(8))).dataIn!;
    expect([...cut]).toEqual([0, 0, 0, 24, 0x00, 0x01, 0, 1]);
    const extended = (await h.run(rtpg(1024, 1))).dataIn!;
    expect([...extended.subarray(0, 8)]).toEqual([0, 0, 0, 28, 0x10, 0, 0, 0]);
    expect(senseOf(await h.run(rtpg(1024, 2)))).toMatchObject({ key: 5, asc: 0x24 });
  });

  it('SET TARGET PORT GROUPS is not implemented (no explicit ALUA): INVALID COMMAND OPERATION CODE', async () => {
    h = await makeHarness([{}]);
    expect(senseOf(await h.run(cdb(0xa4, 0x0a, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0), { data: new Uint8Array(4) }))).toMatchObject({ key: 5, asc: 0x20 });
  });
});
