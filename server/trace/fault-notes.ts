/**
 * Injected faults in the trace: each fault event tied to the PDU it acted on (by connection and ITT, looked up in
 * the PDU ring), and the latest ones kept as pcapng comments on those PDUs.
 */
import type { FaultEvent } from '../faults/engine.ts';
import type { FaultTraceEvent } from '../../shared/trace/schema.ts';
import type { PduRing } from './pdu-ring.ts';

/** How far back (PDUs) a fault looks for the PDU it acted on. */
const FAULT_PDU_SEARCH = 4096;
/** Fault events kept for pcapng comments (few: faults are rare by nature). */
const MAX_FAULT_NOTES = 1000;
/** Where the ITT sits in a BHS (RFC 7143 11.2.1). */
const ITT_OFFSET = 16;

/** The trace event of an injected fault, with the seq and task of the PDU it acted on when the ring still holds it. */
export function faultTraceEvent(e: FaultEvent, seq: number, at: { timeNs: number; wallMs: number }, ring: PduRing): FaultTraceEvent {
  let pduSeq: number | undefined;
  let taskId: number | undefined;
  if (e.connectionId !== undefined) {
    const stop = Math.max(ring.first, ring.next - FAULT_PDU_SEARCH);
    for (let o = ring.next - 1; o >= stop; o--) {
      const r = ring.row(o);
      if (ring.connectionId[r] !== e.connectionId) continue;
      const bytes = ring.bytes(o);
      if (e.itt !== undefined && new DataView(bytes.buffer, bytes.byteOffset).getUint32(ITT_OFFSET) !== e.itt) continue;
      pduSeq = ring.seq[r];
      taskId = ring.taskId[r] || undefined;
      break;
    }
  }
  return {
    type: 'fault',
    seq,
    ...at,
    ruleId: e.ruleId,
    action: e.action,
    detail: e.detail,
    connectionId: e.connectionId,
    tsih: e.tsih,
    itt: e.itt,
    taskId,
    pduSeq,
    lun: e.lun,
    lba: e.lba,
    blocks: e.blocks,
  };
}

/** The latest fault events, as pcapng comments keyed by the seq of the PDU each acted on. */
export class FaultNotes {
  private events: FaultTraceEvent[] = [];

  add(event: FaultTraceEvent): void {
    this.events.push(event);
    if (this.events.length > MAX_FAULT_NOTES) this.events.shift();
  }

  notes(): Map<number, string> {
    const notes = new Map<number, string>();
    for (const f of this.events) {
      if (f.pduSeq === undefined) continue;
      const note = `fault (rule ${f.ruleId}, ${f.action}): ${f.detail}`;
      const before = notes.get(f.pduSeq);
      notes.set(f.pduSeq, before ? `${before}; ${note}` : note);
    }
    return notes;
  }
}
