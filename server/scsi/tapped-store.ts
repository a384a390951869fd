/**
 * Wraps a LUN's BlockStore so every call can be reported on the store tap. With no listener the wrapper costs one
 * property read per call.
 */
import type { Tap } from '../trace/tap.ts';
import type { BlockStore } from '../store/types.ts';
import type { StoreEvent } from './events.ts';

export class TappedStore implements BlockStore {
  constructor(
    private readonly inner: BlockStore,
    private readonly lun: number,
    private readonly tap: Tap<StoreEvent>,
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

  read(lba: number, blocks: number): Promise<Uint8Array> {
    if (!this.tap.active) return this.inner.read(lba, blocks);
    return this.traced('read', lba, blocks, false, this.inner.read(lba, blocks));
  }

  write(lba: number, data: Uint8Array, fua: boolean): Promise<void> {
    if (!this.tap.active) return this.inner.write(lba, data, fua);
    return this.traced('write', lba, data.length / this.inner.blockSize, fua, this.inner.write(lba, data, fua));
  }

  flush(): Promise<void> {
    if (!this.tap.active) return this.inner.flush();
    return this.traced('flush', 0, 0, false, this.inner.flush());
  }

  unmap(lba: number, blocks: number): Promise<void> {
    if (!this.tap.active) return this.inner.unmap(lba, blocks);
    return this.traced('unmap', lba, blocks, false, this.inner.unmap(lba, blocks));
  }

  mapping(lba: number, maxBlocks: number): Promise<{ mapped: boolean; blocks: number }> {
    return this.inner.mapping(lba, maxBlocks);
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  private async traced<T>(kind: StoreEvent['kind'], lba: number, blocks: number, fua: boolean, op: Promise<T>): Promise<T> {
    const start = performance.now();
    try {
      const result = await op;
      this.tap.emit({ kind, lun: this.lun, lba, blocks, fua, durationMs: performance.now() - start });
      return result;
    } catch (err) {
      this.tap.emit({ kind, lun: this.lun, lba, blocks, fua, durationMs: performance.now() - start, error: String(err) });
      throw err;
    }
  }
}
