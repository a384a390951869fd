/**
 * Wraps a LUN's BlockStore so every call can be reported on the store tap, and a stepped I/O held before it reaches
 * the cache and store (the step hold handed in by whoever runs the target, server/taps/step-hold.ts). With no listener and no stepping the wrapper costs two property
 * reads per call.
 */
import type { Tap } from '../taps/tap.ts';
import type { StepHold } from '../taps/step-hold.ts';
import type { BlockStore, IoTrace, WriteCacheControl } from '../store/types.ts';
import type { StoreEvent } from './events.ts';

export class TappedStore implements BlockStore {
  constructor(
    private readonly inner: BlockStore,
    private readonly lun: number,
    private readonly tap: Tap<StoreEvent>,
    private readonly stepHold: StepHold,
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

  grow(blockCount: number): Promise<void> {
    if (!this.inner.grow) return Promise.reject(new Error("this LUN's store cannot grow"));
    return this.inner.grow(blockCount);
  }

  read(lba: number, blocks: number, io?: IoTrace): Promise<Uint8Array> {
    const held = this.stepHold.armed ? this.stepHold.beforeStore(this.lun, lba, blocks) : undefined;
    if (held) return held.then(() => this.read(lba, blocks, io));
    if (!this.tap.active) return this.inner.read(lba, blocks);
    const trace: IoTrace = below(io);
    return this.traced('read', lba, blocks, false, this.inner.read(lba, blocks, trace), trace, io);
  }

  write(lba: number, data: Uint8Array, fua: boolean, io?: IoTrace): Promise<void> {
    const held = this.stepHold.armed ? this.stepHold.beforeStore(this.lun, lba, data.length / this.inner.blockSize) : undefined;
    if (held) return held.then(() => this.write(lba, data, fua, io));
    if (!this.tap.active) return this.inner.write(lba, data, fua);
    const trace: IoTrace = below(io);
    return this.traced('write', lba, data.length / this.inner.blockSize, fua, this.inner.write(lba, data, fua, trace), trace, io);
  }

  flush(io?: IoTrace): Promise<void> {
    if (!this.tap.active) return this.inner.flush();
    const trace: IoTrace = below(io);
    return this.traced('flush', 0, 0, false, this.inner.flush(trace), trace, io);
  }

  unmap(lba: number, blocks: number, io?: IoTrace): Promise<void> {
    if (!this.tap.active) return this.inner.unmap(lba, blocks);
    const trace: IoTrace = below(io);
    return this.traced('unmap', lba, blocks, false, this.inner.unmap(lba, blocks, trace), trace, io);
  }

  mapping(lba: number, maxBlocks: number): Promise<{ mapped: boolean; blocks: number }> {
    return this.inner.mapping(lba, maxBlocks);
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  /**
   * `trace` is filled in by a cache below (what it did for this call) and travels in the event as `cache`; `io`
   * comes from above and names the task (its own object: the caller may reuse it for several calls).
   */
  private async traced<T>(
    kind: StoreEvent['kind'],
    lba: number,
    blocks: number,
    fua: boolean,
    op: Promise<T>,
    trace: IoTrace,
    io: IoTrace | undefined,
  ): Promise<T> {
    const start = performance.now();
    const task = io?.task;
    try {
      const result = await op;
      this.tap.emit({ kind, lun: this.lun, lba, blocks, fua, durationMs: performance.now() - start, cache: trace.cache, task });
      return result;
    } catch (err) {
      this.tap.emit({ kind, lun: this.lun, lba, blocks, fua, durationMs: performance.now() - start, error: String(err), cache: trace.cache, task });
      throw err;
    }
  }
}

/** What the layers below get: a fresh report for the cache to fill, naming the task (fault rules tie to it). */
function below(io: IoTrace | undefined): IoTrace {
  return io?.task ? { task: io.task } : {};
}
