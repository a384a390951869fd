/** One-line descriptions of PDUs for the timeline's columns. */
import type { PduTraceEvent, ScsiSummary } from '../../../shared/trace/schema.ts';
import { LOGIN_STAGE_NAMES } from '../../../shared/protocol/iscsi.ts';

const SHORT_OPCODE: Readonly<Record<number, string>> = {
  0x02: 'Task Mgmt Request',
  0x22: 'Task Mgmt Response',
  0x32: 'Async Message',
};

/** The opcode as the timeline shows it (RFC 7143 names, two long ones shortened). */
export const opcodeLabel = (e: PduTraceEvent): string => SHORT_OPCODE[e.opcode] ?? e.opcodeName;

/** "WRITE(10) LBA 8 ×16" */
export function scsiCommandText(s: ScsiSummary): string {
  let t = s.opcodeName;
  if (s.lun !== undefined && s.lun !== 0) t += ` LUN ${s.lun}`;
  if (s.lba !== undefined) t += ` LBA ${s.lba}`;
  if (s.blocks !== undefined) t += ` ×${s.blocks}`;
  if (s.fua) t += ' FUA';
  return t;
}

const num = (e: PduTraceEvent, k: string): number | undefined => {
  const v = e.fields[k];
  return typeof v === 'number' ? v : undefined;
};

/** What this PDU means, in a few words: the SCSI command, its status, the data range, the login stage... */
export function pduDetail(e: PduTraceEvent): string {
  switch (e.opcode) {
    case 0x01:
      return e.scsi ? scsiCommandText(e.scsi) : 'SCSI command';
    case 0x21: {
      const s = e.scsi;
      const status = s?.statusName ?? `status 0x${(num(e, 'Status') ?? 0).toString(16)}`;
      const sense = s?.sense ? ` ${s.sense.keyName}: ${s.sense.text}` : '';
      return `${s ? s.opcodeName + ' → ' : ''}${status}${sense}`;
    }
    case 0x25:
    case 0x05: {
      const off = num(e, 'BufferOffset') ?? 0;
      let t = `${e.scsi ? e.scsi.opcodeName + ' ' : ''}offset ${off} +${e.lengths.data}`;
      if (e.opcode === 0x25 && e.fields.S === true) t += ` → ${e.scsi?.statusName ?? 'status'}`;
      return t;
    }
    case 0x31:
      return `${e.scsi ? e.scsi.opcodeName + ' ' : ''}R2TSN ${num(e, 'R2TSN') ?? 0} offset ${num(e, 'BufferOffset') ?? 0} want ${num(e, 'DesiredDataTransferLength') ?? 0}`;
    case 0x03:
    case 0x23: {
      const csg = LOGIN_STAGE_NAMES[num(e, 'CSG') ?? 0] ?? '?';
      const nsg = e.fields.T ? ` → ${stageShort(LOGIN_STAGE_NAMES[num(e, 'NSG') ?? 0] ?? '?')}` : '';
      const cls = num(e, 'StatusClass');
      const st = e.opcode === 0x23 && cls ? ` status ${cls}/${num(e, 'StatusDetail') ?? 0}` : '';
      return `${stageShort(csg)}${nsg}${st} (${e.keys?.length ?? 0} keys)`;
    }
    case 0x04:
    case 0x24:
      return (e.keys ?? []).map(([k, v]) => `${k}=${v}`).join(' ').slice(0, 80);
    case 0x02:
    case 0x22:
      return String(e.fields.Function ?? e.fields.Response ?? '');
    case 0x3f:
      return `reason ${String(e.fields.Reason ?? '')}`;
    default:
      return '';
  }
}

function stageShort(stage: string): string {
  return stage === 'SecurityNegotiation' ? 'Security' : stage === 'LoginOperationalNegotiation' ? 'Operational' : stage === 'FullFeaturePhase' ? 'FullFeature' : stage;
}

/** CmdSN for requests, StatSN for responses ("" when the PDU has neither). */
export function snText(e: PduTraceEvent): string {
  const cmd = num(e, 'CmdSN');
  const stat = num(e, 'StatSN');
  if (e.direction === 'i2t') return cmd !== undefined ? `C ${cmd}` : '';
  return stat !== undefined ? `S ${stat}` : '';
}

export function ittText(e: PduTraceEvent): string {
  const itt = num(e, 'InitiatorTaskTag');
  if (itt === undefined) return '';
  return itt === 0xffffffff ? 'ffffffff' : itt.toString(16).padStart(8, '0');
}

/** A stable colour per task id (golden-angle hues so neighbours differ). */
export function taskHue(taskId: number | undefined): number | undefined {
  return taskId === undefined ? undefined : Math.round((taskId * 137.508) % 360);
}
