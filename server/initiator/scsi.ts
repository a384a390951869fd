import type { CommandOptions, InitiatorSession, ScsiResult } from './session.ts';
import { decodeSense } from '../../shared/protocol/sense.ts';
import { scsiStatusName } from '../../shared/protocol/scsi-opcodes.ts';

/** CDB builders and result checks for the commands the lab's own tools issue (SPC-4, SBC-3). */

export class ScsiError extends Error {
  constructor(
    readonly command: string,
    readonly result: ScsiResult,
  ) {
    super(`${command}: ${describeStatus(result)}`);
  }
}

/** Sense key, ASC and ASCQ from fixed or descriptor sense data (decoded by shared/protocol/sense.ts). */
export function parseSense(sense: Uint8Array): { key: number; asc: number; ascq: number } | undefined {
  const d = decodeSense(sense);
  return d ? { key: d.key, asc: d.asc, ascq: d.ascq } : undefined;
}

/** "GOOD", or "CHECK CONDITION, ILLEGAL REQUEST: INVALID FIELD IN CDB (ASC 0x24 ASCQ 0x00)". */
export function describeStatus(r: ScsiResult): string {
  const status = scsiStatusName(r.status);
  const s = r.sense ? decodeSense(r.sense) : undefined;
  if (!s) return status;
  const hex = `ASC 0x${s.asc.toString(16).padStart(2, '0')} ASCQ 0x${s.ascq.toString(16).padStart(2, '0')}`;
  // Unknown codes already read as the hex pair; known ones get it in parentheses.
  return `${status}, ${s.keyName}: ${s.text}${s.text === hex ? '' : ` (${hex})`}`;
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

export function read16(s: InitiatorSession, lun: number, lba: bigint, blocks: number, blockSize: number, extra: CommandOptions = {}): Promise<ScsiResult> {
  const cdb = Buffer.alloc(16);
  cdb[0] = 0x88;
  cdb.writeBigUInt64BE(lba, 2);
  cdb.writeUInt32BE(blocks, 10);
  return s.command(lun, cdb, { ...extra, readLength: blocks * blockSize });
}

export function write16(
  s: InitiatorSession,
  lun: number,
  lba: bigint,
  data: Buffer,
  blockSize: number,
  fua = false,
  extra: CommandOptions = {},
): Promise<ScsiResult> {
  const cdb = Buffer.alloc(16);
  cdb[0] = 0x8a;
  cdb[1] = fua ? 0x08 : 0;
  cdb.writeBigUInt64BE(lba, 2);
  cdb.writeUInt32BE(data.length / blockSize, 10);
  return s.command(lun, cdb, { ...extra, dataOut: data });
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
