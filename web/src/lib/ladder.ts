/**
 * The ladder (sequence) diagram's model: PDUs of one task or one connection as arrows between an initiator column
 * and a target column, each labelled with its RFC 7143 name and the numbers that matter for it (ITT, TTT, CmdSN,
 * StatSN, DataSN, R2TSN, BufferOffset and length). Pure: PDU events in, rows out; the component only draws them.
 */
import type { PduTraceEvent } from '../../../shared/trace/schema.ts';

export interface LadderRow {
  readonly seq: number;
  readonly direction: 'i2t' | 't2i';
  /** "SCSI Command", "R2T"... */
  readonly name: string;
  /** What the arrow carries at the SCSI level: "WRITE(16) LBA 4096 ×2048", "GOOD". */
  readonly scsi?: string;
  /** The numbers written on the arrow, in a stable order: "ITT 0x10", "TTT 0x3", "CmdSN 7"... */
  readonly numbers: readonly string[];
  /** BufferOffset and length, for data-moving PDUs and R2T: "offset 65536 len 262144". */
  readonly range?: string;
  readonly timeNs: number;
}

const hex = (v: number): string => `0x${v.toString(16)}`;

function num(f: PduTraceEvent['fields'], name: string): number | undefined {
  const v = f[name];
  return typeof v === 'number' ? v : undefined;
}

/** The labels of one PDU. */
export function ladderRow(p: PduTraceEvent): LadderRow {
  const f = p.fields;
  const numbers: string[] = [];
  const push = (label: string, v: number | undefined, asHex = false): void => {
    if (v !== undefined) numbers.push(`${label} ${asHex ? hex(v) : v}`);
  };
  push('ITT', num(f, 'InitiatorTaskTag'), true);
  const ttt = num(f, 'TargetTransferTag');
  // 0xffffffff is "no TTT" (RFC 7143 11.7.4): noise on the arrow.
  if (ttt !== undefined && ttt !== 0xffffffff) push('TTT', ttt, true);
  if (p.direction === 'i2t') push('CmdSN', num(f, 'CmdSN'));
  else push('StatSN', num(f, 'StatSN'));
  push('DataSN', num(f, 'DataSN'));
  push('R2TSN', num(f, 'R2TSN'));
  const offset = num(f, 'BufferOffset');
  let range: string | undefined;
  if (p.opcodeName === 'R2T') range = `offset ${offset ?? 0} len ${num(f, 'DesiredDataTransferLength') ?? 0}`;
  else if (offset !== undefined) range = `offset ${offset} len ${p.lengths.data}`;
  else if (p.lengths.data > 0) range = `data ${p.lengths.data}`;
  let scsi: string | undefined;
  if (p.scsi) {
    if (p.opcodeName === 'SCSI Command')
      scsi = `${p.scsi.opcodeName}${p.scsi.lba !== undefined ? ` LBA ${p.scsi.lba}` : ''}${p.scsi.blocks !== undefined ? ` ×${p.scsi.blocks}` : ''}`;
    else if (p.scsi.statusName) scsi = p.scsi.statusName;
  }
  return { seq: p.seq, direction: p.direction, name: p.opcodeName, scsi, numbers, range, timeNs: p.timeNs };
}

/** Vertical placement: uniform steps, or proportional to real time with a floor so labels never overlap. */
export function ladderY(rows: readonly LadderRow[], spacing: 'uniform' | 'time', step: number, maxHeight = step * 60): number[] {
  if (spacing === 'uniform' || rows.length < 2) return rows.map((_, i) => i * step);
  const t0 = rows[0]!.timeNs;
  const span = Math.max(1, rows.at(-1)!.timeNs - t0);
  const scale = maxHeight / span;
  const ys: number[] = [];
  let prev = -step;
  for (const r of rows) {
    const y = Math.max(prev + step, (r.timeNs - t0) * scale);
    ys.push(y);
    prev = y;
  }
  return ys;
}

/** Connection PDUs shown at most (a ladder of thousands of arrows tells nothing). */
export const MAX_LADDER_ROWS = 300;
