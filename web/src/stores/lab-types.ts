/** What the lab store (lab.svelte.ts) keeps per task and per connection, and what an uploaded capture shown in place of the live trace is. */
import type { GapMark } from '../../../shared/api/capture.ts';
import type { PduTraceEvent, ScsiSummary } from '../../../shared/trace/schema.ts';

/** One SCSI task (or Login/Text/NOP/TMF exchange): its PDUs in order. */
export interface TaskInfo {
  readonly id: number;
  readonly connectionId: number;
  readonly itt: number | undefined;
  /** The request that opened it (SCSI Command, Login Request...). */
  first: PduTraceEvent;
  scsi: ScsiSummary | undefined;
  readonly pdus: PduTraceEvent[];
  latencyNs: number | undefined;
}

export interface ConnectionInfo {
  readonly id: number;
  tsih: number;
  initiatorName: string;
  readonly initiator: string;
  readonly target: string;
}

/** An uploaded capture shown in place of the live trace. */
export interface OfflineTrace {
  readonly id: string;
  readonly name: string;
  readonly format: string;
  readonly pdus: number;
  readonly warnings: readonly string[];
  /** Gaps in the capture, each shown before the event (seq) read after it. */
  readonly gaps?: readonly GapMark[];
}
