/**
 * Store faults: a BlockStore wrapper that fails or slows accesses the engine's store rules cover. Two of them sit
 * around each LUN (server/run-target.ts): `errors` above the block cache, so a store-error or flush-error reaches
 * SCSI whatever the cache holds, and `latency` below it, so slow-store slows the disk and the cache can hide it on
 * a re-read. With no store rule the wrapper costs one property read per call.
 */
import { StoreMediumError, type BlockStore, type IoTrace, type WriteCacheControl } from '../store/types.ts';
import type { FaultEngine } from './engine.ts';

type FaultLayer = 'errors' | 'latency';

export class FaultyStore implements BlockStore {
  constructor(
    private readonly inner: BlockStore,
    private readonly lun: number,
    private readonly engine: FaultEngine,
    private readonly layer: FaultLayer,
  ) {}

  get blockSize(): number {
    return this.inner.blockSize;
  }
  get blockCount(): number {
    return this.inner.blockCount;
  }
  get thin(): boolean {
    return this.inner.thin;
  }
  get writeCache(): WriteCacheControl | undefined {
    return this.inner.writeCache;
  }

  read(lba: number, blocks: number, trace?: IoTrace): Promise<Uint8Array> {
    if (!this.engine.storeActive) return this.inner.read(lba, blocks, trace);
    return this.faulted('read', lba, blocks, trace, () => this.inner.read(lba, blocks, trace));
  }

  write(lba: number, data: Uint8Array, fua: boolean, trace?: IoTrace): Promise<void> {
    if (!this.engine.storeActive) return this.inner.write(lba, data, fua, trace);
    return this.faulted('write', lba, data.length / this.inner.blockSize, trace, () => this.inner.write(lba, data, fua, trace));
  }

  flush(trace?: IoTrace): Promise<void> {
    if (!this.engine.storeActive) return this.inner.flush(trace);
    return this.faulted('flush', 0, 0, trace, () => this.inner.flush(trace));
  }

  unmap(lba: number, blocks: number, trace?: IoTrace): Promise<void> {
    return this.inner.unmap(lba, blocks, trace);
  }

  grow(blockCount: number): Promise<void> {
    if (!this.inner.grow) return Promise.reject(new Error("this LUN's store cannot grow"));
    return this.inner.grow(blockCount);
  }

  mapping(lba: number, maxBlocks: number): Promise<{ mapped: boolean; blocks: number }> {
    return this.inner.mapping(lba, maxBlocks);
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  private async faulted<T>(op: 'read' | 'write' | 'flush', lba: number, blocks: number, trace: IoTrace | undefined, run: () => Promise<T>): Promise<T> {
    const e = this.engine;
    // The task this access serves, when the SCSI layer names it (while the trace records): the fault joins it.
    const task = trace?.task ? { connectionId: trace.task.connectionId, itt: trace.task.taskTag } : {};
    if (this.layer === 'latency') {
      const slow = op !== 'flush' ? e.matchStore('slow-store', this.lun, lba, blocks) : undefined;
      if (slow) {
        const ms = slow.delayMs ?? 100;
        e.report({
          ruleId: slow.id,
          action: slow.action,
          detail: `store ${op} of LBA ${lba} x${blocks} on LUN ${this.lun} slowed by ${ms} ms`,
          lun: this.lun,
          lba,
          blocks,
          ...task,
        });
        await new Promise((r) => setTimeout(r, ms));
      }
      return run();
    }
    const rule = op === 'flush' ? e.matchStore('flush-error', this.lun, 0, 0) : e.matchStore('store-error', this.lun, lba, blocks);
    if (!rule) return run();
    const what = op === 'flush' ? `cache flush on LUN ${this.lun}` : `store ${op} of LBA ${lba} x${blocks} on LUN ${this.lun}`;
    e.report({
      ruleId: rule.id,
      action: rule.action,
      detail: `${what} failed (medium error)`,
      lun: this.lun,
      lba: op === 'flush' ? undefined : lba,
      blocks: op === 'flush' ? undefined : blocks,
      ...task,
    });
    throw new StoreMediumError(op, lba, `fault rule ${rule.id}: ${what} failed`);
  }
}
