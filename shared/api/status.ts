/**
 * GET /api/status (also the `status` of the /ws snapshot and /ws `status` answer): the lab's target, portals, LUNs
 * with sizes and options, and sessions. No secrets. Built by server/gateway/api.ts, shown by the UI.
 */

export interface LabLun {
  readonly lun: number;
  readonly path: string;
  readonly sizeBytes: number;
  readonly blockSize: number;
  readonly blocks: number;
  readonly thin: boolean;
  readonly removable: boolean;
  readonly readOnly: boolean;
  /** `--lun ...,physical=BYTES`; the logical block size when not given. */
  readonly physicalBlockSize: number;
}

export interface LabConnectionInfo {
  readonly id: number;
  /** "HOST:PORT" of the initiator and of the target side. */
  readonly remote: string;
  readonly local: string;
}

export interface LabSession {
  readonly tsih: number;
  readonly type: 'Normal' | 'Discovery';
  readonly initiatorName: string;
  readonly targetName: string;
  /** ISID as hex. */
  readonly isid: string;
  readonly connections: readonly LabConnectionInfo[];
  readonly headerDigest: boolean | string;
  readonly dataDigest: boolean | string;
}

export interface LabPortal {
  readonly host: string;
  readonly port: number;
  readonly portalGroupTag: number;
}

/** A target after the first (`--iqn` ... `--iqn` ...): listed, while the lab's views, I/O and cache use the first. */
export interface LabMoreTarget {
  readonly iqn: string;
  readonly chap: boolean;
  readonly mutualChap: boolean;
  readonly acl?: readonly string[];
  readonly luns: readonly Omit<LabLun, 'blocks' | 'physicalBlockSize'>[];
}

export interface LabStatus {
  readonly target: { readonly iqn: string; readonly url: string; readonly chap: boolean; readonly mutualChap: boolean; readonly acl?: readonly string[] };
  readonly portals: readonly LabPortal[];
  readonly luns: readonly LabLun[];
  readonly moreTargets: readonly LabMoreTarget[];
  readonly sessions: readonly LabSession[];
}

/** Every error answer of /api: a 4xx or 5xx with the reason, never a stack. */
export interface ApiErrorAnswer {
  readonly error: string;
}
