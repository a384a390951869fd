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

/**
 * One iSCSI session's share: its connections' commands. A session is named by ISID and TSIH of its final Login
 * Response (RFC 7143 11.13: a session is the initiator's ISID with the target's TSIH); a connection whose login
 * the capture does not hold is a session of its own, named by its connection id.
 */
export interface SessionStats {
  /** "ISID 0x023d00000001 TSIH 3", or "connection 4" when the capture lacks its login. */
  readonly session: string;
  /** The capture's connection ids (PDU events' connectionId) of this session. */
  readonly connections: readonly number[];
  readonly srt: readonly SrtRow[];
  readonly buckets: readonly RateBucket[];
}

export interface CaptureStats {
  /** Every opcode with a status, rows of only left-out calls (calls 0) included. */
  readonly srt: readonly SrtRow[];
  readonly buckets: readonly RateBucket[];
  readonly bucketNs: number;
  /** The same per session, in the order their first command appears. */
  readonly sessions: readonly SessionStats[];
}
