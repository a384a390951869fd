/**
 * The running target's management operations (POST /api/admin, server/gateway/admin-routes.ts): LUNs added and
 * removed, ACLs and CHAP changed at run time, as targetcli and SPDK's RPCs do. Each change is made to the running
 * target and to its configuration, so GET /api/config saves what runs.
 */
import type { LunSpec, TargetConfig, TargetSpec } from './config/target-config.ts';
import type { IscsiTargetEntry } from './iscsi/target-context.ts';
import { buildScsiTarget, type RunningScsiTarget, type RunningTarget } from './run-target.ts';
import { withCache } from './store/cache/config.ts';
import { openFileStore } from './store/file-store.ts';

/** Targets one instance serves at most, and LUNs per target, through the API: each opens files and a cache. */
const MAX_TARGETS = 16;
const MAX_LUNS_PER_TARGET = 64;

/**
 * What a LUN path given over HTTP may be. Anyone who may use the lab's page may call the API (in a classroom: every
 * student with the lab URL), and a LUN path is a file the target creates, resizes and serves: over the API it is
 * a plain `NAME.img` in the lab's working folder, never an absolute path, a parent folder, a device or another
 * kind of file. The command line (the machine's owner) keeps every path.
 */
const API_LUN_PATH = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}\.img$/;

function checkApiPath(path: string): void {
  if (!API_LUN_PATH.test(path)) {
    throw new AdminError(400, `LUN path ${JSON.stringify(path.slice(0, 120))}: over the API only a plain NAME.img in the lab's folder (no folder, no device)`);
  }
}

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
    checkApiPath(lun.path);
    if (spec.luns.length >= MAX_LUNS_PER_TARGET)
      throw new AdminError(409, `${iqn} has ${spec.luns.length} LUNs: at most ${MAX_LUNS_PER_TARGET} through the API`);
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
        store,
        removable: lun.removable,
        readOnly: lun.readOnly,
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

  /** Serves one more target (its own LUNs, CHAP, ACL) behind the same portals. */
  async addTarget(spec: TargetSpec): Promise<void> {
    const specs = [this.config, ...(this.config.moreTargets ?? [])];
    if (specs.some((t) => t.iqn === spec.iqn)) throw new AdminError(409, `target ${spec.iqn} exists already`);
    if (specs.length >= MAX_TARGETS) throw new AdminError(409, `${specs.length} targets already: at most ${MAX_TARGETS}`);
    if (spec.luns.length > MAX_LUNS_PER_TARGET) throw new AdminError(400, `target ${spec.iqn}: at most ${MAX_LUNS_PER_TARGET} LUNs`);
    for (const l of spec.luns) checkApiPath(l.path);
    const paths = new Set(specs.flatMap((t) => t.luns.map((l) => l.path)));
    for (const l of spec.luns) if (paths.has(l.path)) throw new AdminError(409, `${l.path} is a LUN already`);
    const built = await buildScsiTarget(spec, this.config, this.running.faults, this.running.stepGate).catch((err: unknown) => {
      throw new AdminError(400, `target ${spec.iqn}: ${(err as Error).message}`);
    });
    this.running.iscsi.addTarget({ targetName: spec.iqn, scsi: built.scsi, chap: spec.chap, mutualChap: spec.mutualChap, acl: [...spec.acl] });
    (this.config.moreTargets ??= []).push(spec);
    this.running.targets.push(built);
  }

  /** Stops serving a target other than the first: its sessions end, its LUNs are flushed and closed. */
  async removeTarget(iqn: string): Promise<void> {
    const { spec, built, entry } = this.find(iqn);
    if (spec === this.config) throw new AdminError(409, `${iqn} is the first target (the lab's own): it stays`);
    this.running.iscsi.removeTarget(entry);
    const i = this.running.targets.indexOf(built);
    this.running.targets.splice(i, 1);
    this.config.moreTargets!.splice(this.config.moreTargets!.indexOf(spec), 1);
    await built.scsi.close();
  }

  /**
   * Grows a LUN to `sizeBytes` (larger only: shrinking would cut data an initiator may still address). The LU's
   * nexuses get CAPACITY DATA HAS CHANGED. Not for thin, read-only or block-device LUNs.
   */
  async resizeLun(iqn: string, lun: number, sizeBytes: number): Promise<number> {
    const { spec, built } = this.find(iqn);
    const store = built.stores[lun];
    if (!store || !spec.luns[lun]) throw new AdminError(404, `${iqn} has no LUN ${lun}`);
    const blocks = sizeBytes / store.blockSize;
    if (!Number.isSafeInteger(blocks) || blocks <= store.blockCount) {
      throw new AdminError(400, `LUN ${lun} holds ${store.blockCount * store.blockSize} bytes: it only grows, in whole ${store.blockSize}-byte blocks`);
    }
    try {
      await built.scsi.growLogicalUnit(lun, blocks);
    } catch (err) {
      throw new AdminError(409, `LUN ${lun}: ${(err as Error).message}`);
    }
    spec.luns[lun]!.sizeBytes = blocks * store.blockSize;
    return blocks;
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
