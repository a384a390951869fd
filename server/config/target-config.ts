/**
 * The target configuration: what run-target builds and owns, whether it came from command-line flags
 * (server/cli), a saved document (config-file.ts) or the management API. One target's LUNs, CHAP and ACL, and the
 * instance's portals, limits, cache and fault rules.
 */
import type { TargetLimits } from '../iscsi/target.ts';
import type { FaultRuleInput } from '../../shared/api/faults.ts';
import type { CacheConfig } from '../store/cache/config.ts';

export interface LunSpec {
  path: string;
  sizeBytes: number;
  thin: boolean;
  removable: boolean;
  readOnly: boolean;
  /**
   * Physical block size in bytes (`physical=4096`): a power of two from the 512-byte logical block up to 2^15
   * logical blocks. READ CAPACITY(16) reports it as LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT. Default 512.
   */
  physicalBlockSize?: number;
}

/** One target of the instance: its name, LUNs, CHAP and ACL (`--iqn` and the target flags after it). */
export interface TargetSpec {
  iqn: string;
  luns: LunSpec[];
  chap?: { user: string; secret: string };
  mutualChap?: { user: string; secret: string };
  acl: string[];
}

/** The instance: the first target's settings at the top level, portals and limits shared by every target. */
export interface TargetConfig extends TargetSpec {
  portals: { host: string; port: number }[];
  /** Targets after the first, each opened by another `--iqn` (same portals; their own LUNs, CHAP and ACL). */
  moreTargets?: TargetSpec[];
  /** Block cache per LUN (`--cache SIZE`, `--cache-mode`, `--cache-policy`, `--readahead`); size 0: none. */
  cache?: CacheConfig;
  /** `--max-sessions`, `--max-connections`, `--max-commands`; unset ones keep the target's defaults. */
  limits?: Partial<TargetLimits>;
  /** `--fault ACTION[:key=value,...]`, repeatable: rules active from the start (shared/api/faults.ts). */
  faults?: FaultRuleInput[];
  /**
   * `--allow-target-reset`: carry out TARGET WARM / COLD RESET from any initiator. Without it they are refused with
   * "function rejected" (LIO's default), so one initiator cannot drop every other's commands and sessions.
   */
  allowTargetReset?: boolean;
}
