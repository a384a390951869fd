/**
 * POST /api/admin (server/gateway/admin-routes.ts): the running target's management API, one change per request.
 * `target` defaults to the first target. Mistakes answer 400/404/409 `{error}` and change nothing. GET /api/config
 * answers the resulting configuration as the document `--config FILE` starts from.
 */

/** A target as `add-target` takes it: the same shape GET /api/config writes a target in. */
export interface AdminTargetSpec {
  readonly iqn: string;
  readonly luns: readonly {
    readonly path: string;
    readonly sizeBytes: number;
    readonly thin?: boolean;
    readonly removable?: boolean;
    readonly readOnly?: boolean;
    readonly physicalBlockSize?: number;
  }[];
  readonly chap?: { readonly user: string; readonly secret: string };
  readonly mutualChap?: { readonly user: string; readonly secret: string };
  readonly acl?: readonly string[];
}

/**
 * GET /api/config answer: the document `iscsi-lab target|serve --config FILE` starts from ({version, portals,
 * allowTargetReset, limits, cache?, targets}). Its keys are the config file's format (server/config/config-file.ts),
 * which checks them as it reads a file; here it is an object of JSON values.
 */
export type ConfigDocument = Readonly<Record<string, unknown>>;

export type AdminRequest =
  /** `lun`: "PATH:SIZE[,thin][,removable][,readonly][,physical=BYTES]", checked exactly as `--lun` is. */
  | { readonly action: 'add-lun'; readonly target?: string; readonly lun: string }
  /** The target's last LUN; its tasks end with TASK ABORTED. */
  | { readonly action: 'remove-lun'; readonly target?: string; readonly lun: number }
  /** Grows only; CAPACITY DATA HAS CHANGED to its nexuses. */
  | { readonly action: 'resize-lun'; readonly target?: string; readonly lun: number; readonly size: string }
  /** [] lets any initiator in. */
  | { readonly action: 'set-acl'; readonly target?: string; readonly acl: readonly string[] }
  /** "USER:SECRET", or null for none. */
  | { readonly action: 'set-chap'; readonly target?: string; readonly chap: string | null; readonly mutualChap?: string | null }
  | { readonly action: 'add-target'; readonly spec: AdminTargetSpec }
  /** Not the first; its sessions end. */
  | { readonly action: 'remove-target'; readonly target: string };

export type AdminAnswer =
  | { readonly target: string; readonly lun: number }
  | { readonly target: string; readonly removed: number | true }
  | { readonly target: string; readonly lun: number; readonly blocks: number }
  | { readonly target: string; readonly acl: readonly string[] }
  | { readonly target: string; readonly chap: boolean; readonly mutualChap: boolean }
  | { readonly target: string; readonly added: true };
