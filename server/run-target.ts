import { IscsiTarget } from './iscsi/target.ts';
import { ScsiTarget } from './scsi/target.ts';
import { Reservations } from './scsi/reservations/index.ts';
import type { BlockCache } from './store/cache/block-cache.ts';
import { withCache } from './store/cache/config.ts';
import { openFileStore } from './store/file-store.ts';
import type { BlockStore } from './store/types.ts';
import type { TargetConfig, TargetSpec } from './config/target-config.ts';

/** One target of the instance, built: its SCSI target device and what each LUN serves. */
export interface RunningScsiTarget {
  iqn: string;
  scsi: ScsiTarget;
  stores: BlockStore[];
  caches: (BlockCache | undefined)[];
}
import { FaultEngine } from './faults/engine.ts';
import { FaultyStore } from './faults/faulty-store.ts';
import { pduFaultsOf } from './faults/pdu-path.ts';
import { StepGate } from './taps/step-gate.ts';

export interface RunningTarget {
  iscsi: IscsiTarget;
  /** The first target's SCSI target device (the lab's gateway, trace and API work on it). */
  scsi: ScsiTarget;
  /** What each LUN of the first target serves: its block cache when it has one, else the file store. */
  stores: BlockStore[];
  /** Each LUN's block cache (stats, map, POST /api/cache), undefined without `--cache`. */
  caches: (BlockCache | undefined)[];
  /** Fault rules (`--fault`, /api/faults): empty unless set, and then free. */
  faults: FaultEngine;
  /** Step mode (POST /api/io with step): this target's own gate, handed to its iSCSI and SCSI layers. */
  stepGate: StepGate;
  /** Every target, the first one first (`--iqn` ... `--iqn` ...). */
  targets: RunningScsiTarget[];
  /** iscsi://HOST:PORT/IQN/0 for the first portal and target. */
  url: string;
  /** Finishes in-flight commands, flushes every LUN to disk and closes everything. */
  stop(): Promise<void>;
}

/** Opens one target's LUN files and builds its SCSI target device on them. */
export async function buildScsiTarget(spec: TargetSpec, config: TargetConfig, faults?: FaultEngine, stepGate?: StepGate): Promise<RunningScsiTarget> {
  const files: BlockStore[] = [];
  try {
    for (const l of spec.luns) files.push(await openFileStore({ path: l.path, sizeBytes: l.sizeBytes, thin: l.thin, readOnly: l.readOnly }));
  } catch (err) {
    await Promise.all(files.map((s) => s.close()));
    throw err;
  }
  // The block cache (step 2 of the read path, "cache scheduling") sits between SCSI and each file store. Store
  // faults wrap both sides of it: slow-store below (the cache can hide a slow disk), errors above (always seen).
  const cached = files.map((f, i) => withCache(faults ? new FaultyStore(f, i, faults, 'latency') : f, config.cache, { readOnly: spec.luns[i]!.readOnly }));
  const stores = cached.map((c, i) => (faults ? new FaultyStore(c.store, i, faults, 'errors') : c.store));
  const caches = cached.map((c) => c.cache);
  // Reservations raise unit attentions on the LU, which exists only once the SCSI target does: late-bound.
  let scsiRef: ScsiTarget | undefined;
  const reservations = new Reservations({
    lunCount: spec.luns.length,
    // APTPL state lives beside each LUN image, so persistent reservations survive a restart (SPC-4 5.12.4).
    statePath: (lun) => `${spec.luns[lun]!.path}.pr.json`,
    onUnitAttention: (lun, nexusId, asc, ascq, except) => scsiRef?.unitAttention(lun, nexusId, asc, ascq, except),
  });
  const scsi = new ScsiTarget({
    targetName: spec.iqn,
    luns: spec.luns.map((l, i) => ({
      store: stores[i]!,
      removable: l.removable,
      readOnly: l.readOnly,
      physicalBlockExponent: Math.log2((l.physicalBlockSize ?? stores[i]!.blockSize) / stores[i]!.blockSize),
    })),
    reservations,
    targetPorts: config.portals.length,
    stepHold: stepGate,
  });
  scsiRef = scsi;
  return { iqn: spec.iqn, scsi, stores, caches };
}

/** Opens the LUN files, builds SCSI and iSCSI on top of them and starts listening on every portal. */
export async function startTarget(config: TargetConfig, log?: (m: string) => void): Promise<RunningTarget> {
  const faults = new FaultEngine();
  for (const rule of config.faults ?? []) faults.add(rule);
  const stepGate = new StepGate();
  const targets: RunningScsiTarget[] = [];
  try {
    for (const spec of [config, ...(config.moreTargets ?? [])]) targets.push(await buildScsiTarget(spec, config, faults, stepGate));
  } catch (err) {
    await Promise.all(targets.map((t) => t.scsi.close()));
    throw err;
  }
  const [first, ...more] = targets;
  const { scsi, stores, caches } = first!;
  const specs = config.moreTargets ?? [];
  const iscsi = new IscsiTarget({
    targetName: config.iqn,
    portals: config.portals,
    scsi,
    chap: config.chap,
    mutualChap: config.mutualChap,
    acl: config.acl,
    moreTargets: more.map((t, i) => ({
      targetName: t.iqn,
      scsi: t.scsi,
      chap: specs[i]!.chap,
      mutualChap: specs[i]!.mutualChap,
      acl: specs[i]!.acl,
    })),
    limits: config.limits,
    allowTargetReset: config.allowTargetReset ?? false,
    faults: pduFaultsOf(faults),
    stepHold: stepGate,
    log,
  });
  const closeAll = async (): Promise<void> => {
    const results = await Promise.allSettled(targets.map((t) => t.scsi.close()));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  };
  try {
    await iscsi.listen();
  } catch (err) {
    await iscsi.close();
    await closeAll();
    throw err;
  }
  const firstPortal = iscsi.listening[0]!;
  const host = firstPortal.host.includes(':') ? `[${firstPortal.host}]` : firstPortal.host;
  return {
    iscsi,
    scsi,
    stores,
    caches,
    faults,
    stepGate,
    targets,
    url: `iscsi://${host}:${firstPortal.port}/${config.iqn}/0`,
    async stop() {
      await iscsi.close();
      await closeAll();
    },
  };
}
