/** Shared builders for the reservations tests: real CDB and parameter-list bytes, two (or more) I_T nexuses. */
import type { Reservations } from '../../server/scsi/reservations/index.ts';
import { TaskAttribute, type ItNexus, type ScsiCommand, type ScsiResponse } from '../../server/scsi/types.ts';

export function nexus(name: string, isid = '23d000000001', tpgt = 1): ItNexus {
  const initiatorPort = `${name},i,0x${isid}`;
  return { id: `${initiatorPort},t,0x${tpgt.toString(16).padStart(4, '0')}`, initiatorName: name, initiatorPort, relativeTargetPort: tpgt };
}

export const A = nexus('iqn.2026-11.org.test:a');
export const B = nexus('iqn.2026-11.org.test:b');

export function command(n: ItNexus, cdb: number[], dataOut?: Uint8Array, expectedLength = dataOut?.length ?? 0): ScsiCommand {
  const c = new Uint8Array(16);
  c.set(cdb);
  return {
    nexus: n,
    lun: 0,
    cdb: c,
    attribute: TaskAttribute.Simple,
    expectedLength,
    readBit: dataOut === undefined && expectedLength > 0,
    writeBit: dataOut !== undefined,
    ...(dataOut ? { dataOut } : {}),
  };
}

export const reserve6 = (): number[] => [0x16, 0, 0, 0, 0, 0];
export const release6 = (): number[] => [0x17, 0, 0, 0, 0, 0];
export const reserve10 = (): number[] => [0x56, 0, 0, 0, 0, 0, 0, 0, 0, 0];
export const release10 = (): number[] => [0x57, 0, 0, 0, 0, 0, 0, 0, 0, 0];
export const tur = (): number[] => [0x00, 0, 0, 0, 0, 0];
export const inquiry = (): number[] => [0x12, 0, 0, 0, 36, 0];
export const modeSense6 = (): number[] => [0x1a, 0, 0x3f, 0, 0xff, 0];
export const read10 = (): number[] => [0x28, 0, 0, 0, 0, 1, 0, 0, 1, 0];
export const write10 = (): number[] => [0x2a, 0, 0, 0, 0, 1, 0, 0, 1, 0];
export const readCapacity10 = (): number[] => [0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0];
export const syncCache10 = (): number[] => [0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0];

export const enum Sa {
  Register = 0,
  Reserve = 1,
  Release = 2,
  Clear = 3,
  Preempt = 4,
  PreemptAndAbort = 5,
  RegisterAndIgnore = 6,
  RegisterAndMove = 7,
}

export function prinCdb(sa: number, allocation = 0x2000): number[] {
  return [0x5e, sa, 0, 0, 0, 0, 0, allocation >> 8, allocation & 0xff, 0];
}

export function proutCdb(sa: number, type = 0, listLength = 24, scope = 0): number[] {
  return [0x5f, sa, (scope << 4) | type, 0, 0, (listLength >>> 24) & 0xff, (listLength >> 16) & 0xff, (listLength >> 8) & 0xff, listLength & 0xff, 0];
}

export function proutParams(key: bigint, sark: bigint, flags = 0): Uint8Array {
  const p = new Uint8Array(24);
  const v = new DataView(p.buffer);
  v.setBigUint64(0, key);
  v.setBigUint64(8, sark);
  p[20] = flags;
  return p;
}

export function senseOf(sense: Uint8Array | undefined): [number, number, number] {
  if (!sense) return [-1, -1, -1];
  return [sense[2]! & 0x0f, sense[12]!, sense[13]!];
}

const RESERVATION_OPCODES = new Set([0x16, 0x17, 0x56, 0x57, 0x5e, 0x5f]);

/**
 * What the SCSI target does with one command: ask conflicts() first, route reservation opcodes to execute(), and
 * let anything else succeed (standing in for the real command).
 */
export async function run(r: Reservations, n: ItNexus, cdb: number[], data?: Uint8Array): Promise<ScsiResponse> {
  const cmd = command(n, cdb, data);
  if (r.conflicts(0, cmd.cdb, n)) return { status: 0x18 };
  if (!RESERVATION_OPCODES.has(cdb[0]!)) return { status: 0 };
  return r.execute(0, cmd);
}

export async function send(r: Reservations, n: ItNexus, cdb: number[], data?: Uint8Array): Promise<number> {
  return (await run(r, n, cdb, data)).status;
}
