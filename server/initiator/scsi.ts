import type { InitiatorSession, ScsiResult } from './session.ts';

/** CDB builders and result checks for the commands the lab's own tools issue (SPC-4, SBC-3). */

export class ScsiError extends Error {
  constructor(readonly command: string, readonly result: ScsiResult) {
    super(`${command}: ${describeStatus(result)}`);
  }
}

const STATUS_NAMES: Record<number, string> = {
  0x00: 'GOOD', 0x02: 'CHECK CONDITION', 0x04: 'CONDITION MET', 0x08: 'BUSY', 0x18: 'RESERVATION CONFLICT',
  0x28: 'TASK SET FULL', 0x30: 'ACA ACTIVE', 0x40: 'TASK ABORTED',
};
const SENSE_KEYS = [
  'NO SENSE', 'RECOVERED ERROR', 'NOT READY', 'MEDIUM ERROR', 'HARDWARE ERROR', 'ILLEGAL REQUEST', 'UNIT ATTENTION', 'DATA PROTECT',
  'BLANK CHECK', 'VENDOR SPECIFIC', 'COPY ABORTED', 'ABORTED COMMAND', 'RESERVED', 'VOLUME OVERFLOW', 'MISCOMPARE', 'COMPLETED',
];
const ASC_TEXT: Record<number, string> = {
  0x0400: 'LOGICAL UNIT NOT READY', 0x1100: 'UNRECOVERED READ ERROR', 0x1d00: 'MISCOMPARE DURING VERIFY OPERATION',
  0x2000: 'INVALID COMMAND OPERATION CODE', 0x2100: 'LOGICAL BLOCK ADDRESS OUT OF RANGE', 0x2400: 'INVALID FIELD IN CDB',
  0x2500: 'LOGICAL UNIT NOT SUPPORTED', 0x2600: 'INVALID FIELD IN PARAMETER LIST', 0x2700: 'WRITE PROTECTED',
  0x2900: 'POWER ON, RESET, OR BUS DEVICE RESET OCCURRED', 0x2a01: 'MODE PARAMETERS CHANGED', 0x3a00: 'MEDIUM NOT PRESENT',
  0x4b00: 'DATA PHASE ERROR',
};

/** Sense key, ASC and ASCQ from fixed (70h/71h) or descriptor (72h/73h) sense data. */
export function parseSense(sense: Uint8Array): { key: number; asc: number; ascq: number } | undefined {
  const code = sense[0]! & 0x7f;
  if ((code === 0x70 || code === 0x71) && sense.length >= 14) return { key: sense[2]! & 0x0f, asc: sense[12]!, ascq: sense[13]! };
  if ((code === 0x72 || code === 0x73) && sense.length >= 4) return { key: sense[1]! & 0x0f, asc: sense[2]!, ascq: sense[3]! };
  return undefined;
}

export function describeStatus(r: ScsiResult): string {
  const status = STATUS_NAMES[r.status] ?? `status 0x${r.status.toString(16)}`;
  const s = r.sense ? parseSense(r.sense) : undefined;
  if (!s) return status;
  const code = (s.asc << 8) | s.ascq;
  const hex = `ASC 0x${s.asc.toString(16).padStart(2, '0')} ASCQ 0x${s.ascq.toString(16).padStart(2, '0')}`;
  return `${status}, ${SENSE_KEYS[s.key]}: ${ASC_TEXT[code] ?? hex}${ASC_TEXT[code] ? ` (${hex})` : ''}`;
}

async function ok(name: string, p: Promise<ScsiResult>): Promise<ScsiResult> {
  const r = await p;
  if (r.status !== 0) throw new ScsiError(name, r);
  return r;
}

export async function inquiry(s: InitiatorSession, lun: number, page?: number): Promise<Buffer> {
  const len = 255;
  const cdb = Buffer.from([0x12, page === undefined ? 0 : 1, page ?? 0, 0, len, 0]);
  return (await ok('INQUIRY', s.command(lun, cdb, { readLength: len }))).data ?? Buffer.alloc(0);
}

export async function readCapacity16(s: InitiatorSession, lun: number): Promise<{ blocks: bigint; blockSize: number; thin: boolean }> {
  const cdb = Buffer.alloc(16);
  cdb[0] = 0x9e;
  cdb[1] = 0x10;
  cdb.writeUInt32BE(32, 10);
  const d = (await ok('READ CAPACITY(16)', s.command(lun, cdb, { readLength: 32 }))).data!;
  return { blocks: d.readBigUInt64BE(0) + 1n, blockSize: d.readUInt32BE(8), thin: (d[14]! & 0x80) !== 0 };
}

export async function reportLuns(s: InitiatorSession): Promise<number[]> {
  const cdb = Buffer.alloc(12);
  cdb[0] = 0xa0;
  cdb.writeUInt32BE(4096, 6);
  const d = (await ok('REPORT LUNS', s.command(0, cdb, { readLength: 4096 }))).data!;
  const n = Math.min(d.readUInt32BE(0) / 8, (d.length - 8) / 8);
  const luns: number[] = [];
  for (let i = 0; i < n; i++) {
    const b0 = d[8 + i * 8]!;
    luns.push(((b0 & 0x3f) << 8) | d[9 + i * 8]!);
  }
  return luns;
}

export function read16(s: InitiatorSession, lun: number, lba: bigint, blocks: number, blockSize: number): Promise<ScsiResult> {
  const cdb = Buffer.alloc(16);
  cdb[0] = 0x88;
  cdb.writeBigUInt64BE(lba, 2);
  cdb.writeUInt32BE(blocks, 10);
  return s.command(lun, cdb, { readLength: blocks * blockSize });
}

export function write16(s: InitiatorSession, lun: number, lba: bigint, data: Buffer, blockSize: number, fua = false): Promise<ScsiResult> {
  const cdb = Buffer.alloc(16);
  cdb[0] = 0x8a;
  cdb[1] = fua ? 0x08 : 0;
  cdb.writeBigUInt64BE(lba, 2);
  cdb.writeUInt32BE(data.length / blockSize, 10);
  return s.command(lun, cdb, { dataOut: data });
}

export function synchronizeCache10(s: InitiatorSession, lun: number): Promise<ScsiResult> {
  return s.command(lun, Buffer.from([0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
}

export { ok as expectGood };

const MAX_UNIT_ATTENTIONS = 8;

/**
 * Clears pending unit attentions (power on, reset, parameters changed) the way libiscsi does after login:
 * TEST UNIT READY until it stops answering UNIT ATTENTION. Many targets (Debian's tgt among them) raise a
 * power-on unit attention for every new I_T nexus, which would otherwise fail the first real command.
 */
export async function clearUnitAttentions(s: InitiatorSession, lun: number): Promise<void> {
  for (let i = 0; i < MAX_UNIT_ATTENTIONS; i++) {
    const r = await s.command(lun, Buffer.alloc(6));
    const sense = r.sense ? parseSense(r.sense) : undefined;
    if (r.status !== 2 || sense?.key !== 6) return;
  }
}
