import { IscsiTarget } from './iscsi/target.ts';
import { ScsiTarget } from './scsi/target.ts';
import { Reservations } from './scsi/reservations/index.ts';
import type { BlockCache } from './store/cache/block-cache.ts';
import { withCache } from './store/cache/config.ts';
import { openFileStore } from './store/file-store.ts';
import type { BlockStore } from './store/types.ts';
import type { TargetConfig } from './cli/args.ts';

export interface RunningTarget {
  iscsi: IscsiTarget;
  scsi: ScsiTarget;
  /** What each LUN serves: its block cache when it has one, else the file store. */
  stores: BlockStore[];
  /** Each LUN's block cache (stats, map, POST /api/cache), undefined without `--cache`. */
  caches: (BlockCache | undefined)[];
  /** iscsi://HOST:PORT/IQN/0 for the first portal. */
  url: string;
  /** Finishes in-flight commands, flushes every LUN to disk and closes everything. */
  stop(): Promise<void>;
}

/** Opens the LUN files, builds SCSI and iSCSI on top of them and starts listening on every portal. */
export async function startTarget(config: TargetConfig, log?: (m: string) => void): Promise<RunningTarget> {
  const files: BlockStore[] = [];
  try {
    for (const l of config.luns) files.push(await openFileStore({ path: l.path, sizeBytes: l.sizeBytes, thin: l.thin, readOnly: l.readOnly }));
  } catch (err) {
    await Promise.all(files.map((s) => s.close()));
    throw err;
  }
  // The block cache (step 2 of the read path, "cache scheduling") sits between SCSI and each file store.
  const cached = files.map((f, i) => withCache(f, config.cache, { readOnly: config.luns[i]!.readOnly }));
  const stores = cached.map((c) => c.store);
  const caches = cached.map((c) => c.cache);
  // Reservations raise unit attentions on the LU, which exists only once the SCSI target does: late-bound.
  let scsiRef: ScsiTarget | undefined;
  const reservations = new Reservations({
    lunCount: config.luns.length,
    // APTPL state lives beside each LUN image, so persistent reservations survive a restart (SPC-4 5.12.4).
    statePath: (lun) => `${config.luns[lun]!.path}.pr.json`,
    onUnitAttention: (lun, nexusId, asc, ascq, except) => scsiRef?.unitAttention(lun, nexusId, asc, ascq, except),
  });
  const scsi = new ScsiTarget({
    targetName: config.iqn,
    luns: config.luns.map((l, i) => ({
      store: stores[i]!,
      removable: l.removable,
      readOnly: l.readOnly,
      physicalBlockExponent: Math.log2((l.physicalBlockSize ?? stores[i]!.blockSize) / stores[i]!.blockSize),
    })),
    reservations,
    targetPorts: config.portals.length,
  });
  scsiRef = scsi;
  const iscsi = new IscsiTarget({
    targetName: config.iqn,
    portals: config.portals,
    scsi,
    lunCount: config.luns.length,
    chap: config.chap,
    mutualChap: config.mutualChap,
    acl: config.acl,
    limits: config.limits,
    allowTargetReset: config.allowTargetReset ?? false,
    log,
  });
  try {
    await iscsi.listen();
  } catch (err) {
    await iscsi.close();
    await scsi.close();
    throw err;
  }
  const first = iscsi.listening[0]!;
  const host = first.host.includes(':') ? `[${first.host}]` : first.host;
  return {
    iscsi,
    scsi,
    stores,
    caches,
    url: `iscsi://${host}:${first.port}/${config.iqn}/0`,
    async stop() {
      await iscsi.close();
      await scsi.close();
    },
  };
}
