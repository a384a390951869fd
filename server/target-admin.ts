/**
 * The running target's management operations (POST /api/admin, server/gateway/admin-routes.ts): LUNs added and
 * removed, ACLs and CHAP changed at run time, as targetcli and SPDK's RPCs do. Each change is made to the running
 * target and to its configuration, so GET /api/config saves what runs.
 */
import type { LunSpec, TargetConfig, TargetSpec } from './cli/args.ts';
import type { IscsiTargetEntry } from './iscsi/target-context.ts';
import type { RunningScsiTarget, RunningTarget } from './run-target.ts';
import { withCache } from './store/cache/config.ts';
import { openFileStore } from './store/file-store.ts';

export class AdminError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

interface Found {
  spec: TargetSpec;
  built: RunningScsiTarget;
  entry: IscsiTargetEntry;
}

export class TargetAdmin {
  constructor(
    private readonly running: RunningTarget,
    private readonly config: TargetConfig,
  ) {}

  private find(iqn: string): Found {
    const specs = [this.config, ...(this.config.moreTargets ?? [])];
    const i = specs.findIndex((t) => t.iqn === iqn);
    const entry = this.running.iscsi.targets.get(iqn);
    if (i < 0 || !entry) throw new AdminError(404, `no target named ${iqn} (targets: ${specs.map((t) => t.iqn).join(', ')})`);
    return { spec: specs[i]!, built: this.running.targets[i]!, entry };
  }

  /** Adds `lun` as the target's next LUN; returns its number. Initiators see it after REPORTED LUNS DATA HAS CHANGED. */
  async addLun(iqn: string, lun: LunSpec): Promise<number> {
    const { spec, built } = this.find(iqn);
    const all = [this.config, ...(this.config.moreTargets ?? [])].flatMap((t) => t.luns);
    if (all.some((l) => l.path === lun.path)) throw new AdminError(409, `${lun.path} is a LUN already`);
    const file = await openFileStore({ path: lun.path, sizeBytes: lun.sizeBytes, thin: lun.thin, readOnly: lun.readOnly }).catch((err: unknown) => {
      throw new AdminError(400, `cannot open ${lun.path}: ${(err as Error).message}`);
    });
    const { store, cache } = withCache(file, this.config.cache, { readOnly: lun.readOnly });
    const number = spec.luns.length;
    // In the configuration first: the LU's reservation state finds its APTPL file by the spec's path.
    spec.luns.push(lun);
    built.stores.push(store);
    built.caches.push(cache);
    try {
      built.scsi.addLogicalUnit(number, {
        store, removable: lun.removable, readOnly: lun.readOnly,
        physicalBlockExponent: Math.log2((lun.physicalBlockSize ?? store.blockSize) / store.blockSize),
      });
    } catch (err) {
      spec.luns.pop();
      built.stores.pop();
      built.caches.pop();
      await store.close();
      throw new AdminError(400, `LUN ${number}: ${(err as Error).message}`);
    }
    return number;
  }

  /**
   * Removes a LUN: its tasks end with TASK ABORTED, its data is flushed and closed. Only the target's last LUN, so
   * LUN numbers stay dense (what GET /api/config saves and the lab's views index by), and never the only one.
   */
  async removeLun(iqn: string, lun: number): Promise<void> {
    const { spec, built, entry } = this.find(iqn);
    if (spec.luns.length <= 1) throw new AdminError(409, `${iqn} has only LUN 0: a target keeps at least one LUN`);
    if (lun !== spec.luns.length - 1) throw new AdminError(409, `only the last LUN (${spec.luns.length - 1}) can be removed, not ${lun}`);
    await this.running.iscsi.abortLun(entry, lun);
    await built.scsi.removeLogicalUnit(lun);
    spec.luns.pop();
    built.stores.pop();
    built.caches.pop();
  }

  /** The initiator names allowed into normal sessions from now on (empty: anyone); sessions already in stay. */
  setAcl(iqn: string, acl: string[]): void {
    const { spec, entry } = this.find(iqn);
    spec.acl = [...acl];
    entry.acl = [...acl];
  }

  /** CHAP (and mutual CHAP) for logins from now on; undefined turns it off. Sessions already in stay. */
  setChap(iqn: string, chap: TargetSpec['chap'], mutualChap: TargetSpec['mutualChap']): void {
    const { spec, entry } = this.find(iqn);
    if (mutualChap && !chap) throw new AdminError(400, 'mutual CHAP needs CHAP as well');
    spec.chap = chap;
    spec.mutualChap = mutualChap;
    entry.chap = chap;
    entry.mutualChap = mutualChap;
  }
}
