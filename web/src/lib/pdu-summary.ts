/** One-line descriptions of PDUs for the timeline's columns. */
import type { PduTraceEvent, ScsiSummary } from '../../../shared/trace/schema.ts';
import { LOGIN_STAGE_NAMES } from '../../../shared/protocol/iscsi.ts';
import { IscsiOpcode } from '../../../shared/protocol/iscsi-opcodes.ts';

const SHORT_OPCODE: Readonly<Record<number, string>> = {
  [IscsiOpcode.TaskManagementRequest]: 'Task Mgmt Request',
  [IscsiOpcode.TaskManagementResponse]: 'Task Mgmt Response',
  [IscsiOpcode.AsyncMessage]: 'Async Message',
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
    case IscsiOpcode.ScsiCommand:
      return e.scsi ? scsiCommandText(e.scsi) : 'SCSI command';
    case IscsiOpcode.ScsiResponse: {
      const s = e.scsi;
      const status = s?.statusName ?? `status 0x${(num(e, 'Status') ?? 0).toString(16)}`;
      const sense = s?.sense ? ` ${s.sense.keyName}: ${s.sense.text}` : '';
      return `${s ? s.opcodeName + ' → ' : ''}${status}${sense}`;
    }
    case IscsiOpcode.ScsiDataIn:
    case IscsiOpcode.ScsiDataOut: {
      const off = num(e, 'BufferOffset') ?? 0;
      let t = `${e.scsi ? e.scsi.opcodeName + ' ' : ''}offset ${off} +${e.lengths.data}`;
      if (e.opcode === IscsiOpcode.ScsiDataIn && e.fields.S === true) t += ` → ${e.scsi?.statusName ?? 'status'}`;
      return t;
    }
    case IscsiOpcode.R2T:
      return `${e.scsi ? e.scsi.opcodeName + ' ' : ''}R2TSN ${num(e, 'R2TSN') ?? 0} offset ${num(e, 'BufferOffset') ?? 0} want ${num(e, 'DesiredDataTransferLength') ?? 0}`;
    case IscsiOpcode.LoginRequest:
    case IscsiOpcode.LoginResponse: {
      const csg = LOGIN_STAGE_NAMES[num(e, 'CSG') ?? 0] ?? '?';
      const nsg = e.fields.T ? ` → ${stageShort(LOGIN_STAGE_NAMES[num(e, 'NSG') ?? 0] ?? '?')}` : '';
      const cls = num(e, 'StatusClass');
      const st = e.opcode === IscsiOpcode.LoginResponse && cls ? ` status ${cls}/${num(e, 'StatusDetail') ?? 0}` : '';
      return `${stageShort(csg)}${nsg}${st} (${e.keys?.length ?? 0} keys)`;
    }
    case IscsiOpcode.TextRequest:
    case IscsiOpcode.TextResponse:
      return (e.keys ?? [])
        .map(([k, v]) => `${k}=${v}`)
        .join(' ')
        .slice(0, 80);
    case IscsiOpcode.TaskManagementRequest:
    case IscsiOpcode.TaskManagementResponse:
      return String(e.fields.Function ?? e.fields.Response ?? '');
    case IscsiOpcode.Reject:
      return `reason ${String(e.fields.Reason ?? '')}`;
    default:
      return '';
  }
}

function stageShort(stage: string): string {
  return stage === 'SecurityNegotiation'
    ? 'Security'
    : stage === 'LoginOperationalNegotiation'
      ? 'Operational'
      : stage === 'FullFeaturePhase'
        ? 'FullFeature'
        : stage;
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
