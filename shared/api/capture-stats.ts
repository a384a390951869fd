/**
 * GET /api/capture/upload/ID/stats and GET /api/trace/srt: service response times per SCSI opcode (the rules of
 * shared/trace/scsi-srt.ts), throughput and IOPS per time bucket. Built by server/capture/srt.ts, shown by the UI.
 */
import type { SrtRow } from '../trace/scsi-srt.ts';

export type { SrtRow };

export interface RateBucket {
  /** Bucket start, ns since the capture's first packet. */
  readonly startNs: number;
  readonly readBytes: number;
  readonly writeBytes: number;
  /** Commands whose status arrived in the bucket. */
  readonly commands: number;
}

export interface CaptureStats {
  /** Every opcode with a status, rows of only left-out calls (calls 0) included. */
  readonly srt: readonly SrtRow[];
  readonly buckets: readonly RateBucket[];
  readonly bucketNs: number;
}
