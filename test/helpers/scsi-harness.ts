// A ScsiTarget over real file-backed LUNs in a fresh temporary directory, with the command runner and sense
// checks the SCSI unit tests share. Commands go through ScsiTarget.execute exactly as the iSCSI layer sends them.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { Reservations } from '../../server/scsi/reservations/index.ts';
import { parseSense } from '../../server/scsi/sense.ts';
import { ScsiTarget, type LunOptions } from '../../server/scsi/target.ts';
import { ScsiStatus, TaskAttribute, type ItNexus, type ScsiResponse } from '../../server/scsi/types.ts';
import { openFileStore, type FileStore } from '../../server/store/file-store.ts';

export const BS = 512;
export const TARGET_NAME = 'iqn.2026-11.org.iscsi-lab:test';
export const nexusA: ItNexus = { id: 'iqn.a,i,0x1,t,0x1', initiatorName: 'iqn.a', initiatorPort: 'iqn.a,i,0x1', relativeTargetPort: 1 };
export const nexusB: ItNexus = { id: 'iqn.b,i,0x2,t,0x1', initiatorName: 'iqn.b', initiatorPort: 'iqn.b,i,0x2', relativeTargetPort: 1 };

type HarnessLun = Omit<LunOptions, 'store'> & { thin?: boolean; blocks?: number };

interface RunOptions {
  lun?: number;
  data?: Uint8Array;
  nexus?: ItNexus;
  edtl?: number;
}

export interface Harness {
  readonly target: ScsiTarget;
  readonly stores: FileStore[];
  run(c: Uint8Array, opts?: RunOptions): Promise<ScsiResponse>;
  close(): Promise<void>;
}

/**
 * `reservations`: attach the real reservations engine (RESERVE/RELEASE, PERSISTENT RESERVE IN/OUT, conflicts);
 * `targetPorts`: how many target ports (portals) reach the LUs (ALUA, MULTIP).
 */
export async function makeHarness(luns: HarnessLun[], opts: { reservations?: boolean; targetPorts?: number } = {}): Promise<Harness> {
  const dir = await mkdtemp(join(tmpdir(), 'scsi-test-'));
  const stores: FileStore[] = [];
  for (const [i, l] of luns.entries()) {
    stores.push(await openFileStore({ path: join(dir, `l${i}.img`), sizeBytes: (l.blocks ?? 1024) * BS, thin: l.thin ?? false }));
  }
  const target = new ScsiTarget({
    targetName: TARGET_NAME,
    luns: luns.map((l, i) => ({ store: stores[i]!, removable: l.removable, readOnly: l.readOnly, physicalBlockExponent: l.physicalBlockExponent })),
    reservations: opts.reservations ? new Reservations({ lunCount: luns.length }) : undefined,
    targetPorts: opts.targetPorts,
  });
  const loggedIn = loginOnce(target);
  return {
    target,
    stores,
    run: async (c, opts = {}) => {
      await loggedIn(opts.nexus ?? nexusA, opts.lun ?? 0);
      return target.execute({
        nexus: opts.nexus ?? nexusA,
        lun: opts.lun ?? 0,
        cdb: c,
        attribute: TaskAttribute.Simple,
        expectedLength: opts.edtl ?? opts.data?.length ?? 4096,
        readBit: !opts.data,
        writeBit: !!opts.data,
        dataOut: opts.data,
      });
    },
    close: async () => {
      await target.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * What an initiator does once after login (libiscsi, the Linux kernel): TEST UNIT READY until no unit attention is
 * left, so a test's first command on a nexus meets the LU the way real initiators do, past the new nexus's POWER ON
 * notice. The returned function does it once per nexus and LUN; later unit attentions (resets...) stay visible.
 */
export function loginOnce(target: ScsiTarget): (nexus: ItNexus, lun: number) => Promise<void> {
  const done = new Set<string>();
  return async (nexus, lun) => {
    const key = `${nexus.id}/${lun}`;
    if (done.has(key)) return;
    done.add(key);
    if (!target.logicalUnit(lun)) return;
    for (let i = 0; i < 10; i++) {
      const r = await target.execute({
        nexus,
        lun,
        cdb: new Uint8Array(6),
        attribute: TaskAttribute.Simple,
        expectedLength: 0,
        readBit: false,
        writeBit: false,
      });
      if (r.status !== ScsiStatus.CheckCondition || (r.sense![2]! & 0x0f) !== 0x06) return;
    }
  };
}

export function senseOf(r: ScsiResponse): ReturnType<typeof parseSense> {
  expect(r.status).toBe(ScsiStatus.CheckCondition);
  return parseSense(r.sense!);
}

/** Sense-key specific bytes (fixed format bytes 15-17): SKSV, C/D, BPV, bit and the field pointer. */
export function fieldPointer(r: ScsiResponse): { cdb: boolean; byte: number } {
  const s = r.sense!;
  expect(s[15]! & 0x80).toBe(0x80);
  return { cdb: (s[15]! & 0x40) !== 0, byte: (s[16]! << 8) | s[17]! };
}

export function fill(blocks: number, byte: number): Uint8Array {
  return new Uint8Array(blocks * BS).fill(byte);
}
