/**
 * Reusable buffers for write data gathered from Data-Out PDUs. A fresh 1 MiB buffer per WRITE left the collector
 * a steady stream of large external allocations, and V8 answers those with full collections: 1 MiB writes spent
 * ~16% of the main thread in GC. Buffers return here once SCSI has finished with the command (the store has
 * copied or written the data by then), by size class, with a cap on what is kept.
 */
const MIN_POOLED_BYTES = 64 * 1024;
const MAX_KEPT_BYTES = 64 * 1024 * 1024;

class WriteBufferPool {
  private readonly free = new Map<number, Buffer[]>();
  private kept = 0;

  /** A buffer of exactly `length` bytes (uninitialised); `pooled` says whether it should be given back. */
  take(length: number): { buffer: Buffer; pooled: boolean } {
    if (length < MIN_POOLED_BYTES) return { buffer: Buffer.allocUnsafe(length), pooled: false };
    const size = sizeClass(length);
    const spare = this.free.get(size)?.pop();
    if (spare) this.kept -= size;
    return { buffer: (spare ?? Buffer.allocUnsafeSlow(size)).subarray(0, length), pooled: true };
  }

  /** Gives back a buffer from take(); nobody may use it afterwards. */
  give(buffer: Buffer): void {
    const size = buffer.buffer.byteLength;
    if (buffer.byteOffset !== 0 || size !== sizeClass(size) || this.kept + size > MAX_KEPT_BYTES) return;
    let list = this.free.get(size);
    if (!list) this.free.set(size, (list = []));
    list.push(Buffer.from(buffer.buffer, 0, size));
    this.kept += size;
  }

  get keptBytes(): number {
    return this.kept;
  }
}

function sizeClass(n: number): number {
  return 2 ** Math.ceil(Math.log2(Math.max(n, MIN_POOLED_BYTES)));
}

/** One pool per process: connections come and go, the buffers stay useful. */
export const writeBuffers = new WriteBufferPool();
