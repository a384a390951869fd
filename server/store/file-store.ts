/**
 * File-backed block store: one image file per LUN. Small reads the page cache serves are synchronous, others go
 * through the libuv pool (see SYNC_READ_MAX_BYTES: a disk read must not stall the event loop for long); small
 * writes are copied into the page cache synchronously (see SYNC_WRITE_MAX_BYTES);
 * fdatasync for FUA and SYNCHRONIZE CACHE runs on its own thread (datasync-thread.ts). Thin LUNs keep an allocation map beside the image (see allocation-map.ts).
 */
import type { FileHandle } from 'node:fs/promises';
import { mkdir, open, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { readSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { datasyncThread } from './datasync-thread.ts';
import { AllocationMap } from './allocation-map.ts';
import type { BlockStore } from './types.ts';

interface FileStoreOptions {
  path: string;
  sizeBytes: number;
  /** Logical block size in bytes (default 512). */
  blockSize?: number;
  thin: boolean;
  /** Open the image read-only: writes and unmaps reject. */
  readOnly?: boolean;
}

/** Counters for tests and the UI: how often the store touched stable storage. */
interface FileStoreStats {
  reads: number;
  writes: number;
  datasyncs: number;
  mapSaves: number;
}

const DEFAULT_BLOCK_SIZE = 512;
/** Largest zero-fill chunk UNMAP writes at once, so unmapping a whole LUN does not allocate the LUN's size. */
const ZERO_CHUNK_BYTES = 1 << 20;
/** A dirty allocation map is saved at most this long after the change even without a flush. */
const MAP_SAVE_DELAY_MS = 1000;
/**
 * Writes up to this size are a synchronous pwrite on the event loop. A buffered 4 KiB pwrite costs a few
 * microseconds; handing it to the libuv pool and back costs ~15 us of CPU (thread wake-ups, completion, promise)
 * and was the largest item of the write-path profile (notes in docs/performance.md). A buffered write only
 * blocks when the kernel throttles dirty pages, and then every path to that disk is throttled anyway. Larger
 * writes keep the loop free through the pool.
 */
const SYNC_WRITE_MAX_BYTES = 64 * 1024;

/**
 * Reads up to this size are a synchronous pread while the page cache serves them. Handing a 4 KiB read to the
 * pool cost ~9 us of the event loop's time per read (a thread wake-up each, on this 2-core VM), a third of the
 * target's whole cost of a random 4 KiB read; a pread from the page cache costs ~2 us. A read that takes longer
 * than SLOW_SYNC_READ_MS and moved the process's block input count came from the disk: reads of that LUN then go
 * through the pool for SYNC_READ_BACKOFF_MS, so on a cold disk the loop stalls for at most one disk read per
 * backoff period. (Slow alone is not enough: on a busy 2-core machine a cached read is often descheduled.)
 */
const SYNC_READ_MAX_BYTES = 64 * 1024;
const SLOW_SYNC_READ_MS = 0.25;
const SYNC_READ_BACKOFF_MS = 1000;

/**
 * Opens (creating sparse if missing, with parent directories) the image at `path`.
 * If the file exists it is reused with its data; if it is smaller than `sizeBytes` it is extended (sparse), if
 * larger it keeps its size: the LUN is max(existing, requested) rounded down to whole blocks.
 */
export async function openFileStore(opts: FileStoreOptions): Promise<FileStore> {
  const blockSize = opts.blockSize ?? DEFAULT_BLOCK_SIZE;
  if (!Number.isInteger(blockSize) || blockSize < 512 || (blockSize & (blockSize - 1)) !== 0) {
    throw new Error(`block size ${blockSize}: must be a power of two >= 512`);
  }
  const existing = await stat(opts.path).catch(() => null);
  if (existing?.isBlockDevice()) return openBlockDevice(opts, blockSize, existing.rdev);
  if (opts.sizeBytes <= 0 && !existing) throw new Error(`${opts.path}: no such file or block device, and no size given to create it`);
  if (existing && !existing.isFile()) throw new Error(`${opts.path}: neither a regular file nor a block device`);
  await mkdir(dirname(opts.path), { recursive: true });
  const fresh = existing === null;
  const size = Math.max(existing?.size ?? 0, opts.sizeBytes);
  const blockCount = Math.floor(size / blockSize);
  if (blockCount < 1) throw new Error(`${opts.path}: size ${size} is smaller than one ${blockSize}-byte block`);

  if (!existing || existing.size < size) {
    // Create or extend sparse (ftruncate leaves a hole): done writable even for a read-only LUN.
    const fh = await open(opts.path, fresh ? 'w+' : 'r+');
    try {
      await fh.truncate(size);
    } finally {
      await fh.close();
    }
  }
  const fh = await open(opts.path, opts.readOnly ? 'r' : 'r+');
  let map: AllocationMap | null = null;
  if (opts.thin) {
    // The map on disk lags the image (it is saved on flush and every second): after a crash it may call blocks
    // unmapped that hold data, and an UNMAP trusting it would skip zeroing them. So a map is trusted only if the
    // process that had the LUN open closed it (it removes the open marker after its last map save).
    const crashed =
      !fresh &&
      (await stat(openMarkerPath(opts.path)).then(
        () => true,
        () => false,
      ));
    if (!crashed) map = await AllocationMap.load(mapPath(opts.path), blockSize, blockCount);
    // A fresh image holds nothing; an image found without a trustworthy map may hold anything: all mapped.
    map ??= AllocationMap.create(blockCount, !fresh);
  }
  const store = new FileStore(fh, opts.path, blockSize, blockCount, map, opts.readOnly ?? false);
  if (map && !opts.readOnly) {
    await store.flush();
    await writeFile(openMarkerPath(opts.path), `${process.pid}\n`);
  }
  return store;
}

/**
 * A block device LUN (`--lun /dev/sdX`): its size is the device's (a SIZE, when given, may only be smaller: the LUN is
 * then the device's first SIZE bytes). Never truncated. Thin provisioning would keep a map file beside the device
 * (in /dev): refused, as is a device whose size cannot be read.
 */
async function openBlockDevice(opts: FileStoreOptions, blockSize: number, rdev: number): Promise<FileStore> {
  if (opts.thin) throw new Error(`${opts.path}: a block device LUN cannot be thin (its allocation map would live in ${dirname(opts.path)})`);
  const deviceBytes = await blockDeviceBytes(opts.path, rdev);
  if (opts.sizeBytes > deviceBytes) throw new Error(`${opts.path}: SIZE ${opts.sizeBytes} is larger than the device (${deviceBytes} bytes)`);
  const size = opts.sizeBytes > 0 ? opts.sizeBytes : deviceBytes;
  const blockCount = Math.floor(size / blockSize);
  if (blockCount < 1) throw new Error(`${opts.path}: device of ${deviceBytes} bytes is smaller than one ${blockSize}-byte block`);
  const fh = await open(opts.path, opts.readOnly ? 'r' : 'r+');
  return new FileStore(fh, opts.path, blockSize, blockCount, null, opts.readOnly ?? false);
}

/** A block device's size from sysfs (/sys/dev/block/MAJOR:MINOR/size counts 512-byte sectors on Linux). */
async function blockDeviceBytes(path: string, rdev: number): Promise<number> {
  // Linux dev_t: minor is bits 0-7 and 20-31, major bits 8-19 (and 32+, never reached by device numbers in use).
  const major = (rdev >>> 8) & 0xfff;
  const minor = (rdev & 0xff) | ((rdev >>> 12) & 0xfff00);
  const sysfs = `/sys/dev/block/${major}:${minor}/size`;
  const text = await readFile(sysfs, 'utf8').catch((err: unknown) => {
    throw new Error(`${path}: cannot read the block device's size from ${sysfs}: ${String(err)}`);
  });
  const sectors = Number(text.trim());
  if (!Number.isSafeInteger(sectors) || sectors <= 0) throw new Error(`${path}: block device size ${JSON.stringify(text.trim())} in ${sysfs}`);
  return sectors * 512;
}

export function mapPath(imagePath: string): string {
  return `${imagePath}.map`;
}

/** Present while a process has the thin LUN open for writing; a crash leaves it behind. */
function openMarkerPath(imagePath: string): string {
  return `${imagePath}.map.open`;
}

export class FileStore implements BlockStore {
  readonly thin: boolean;
  readonly stats: FileStoreStats = { reads: 0, writes: 0, datasyncs: 0, mapSaves: 0 };
  private mapTimer: NodeJS.Timeout | undefined;
  private mapSave: Promise<void> = Promise.resolve();
  private closed = false;
  /** performance.now() from which small reads may be synchronous again (after one came from the disk). */
  private syncReadsFrom = 0;
  /** The process's block input count (getrusage ru_inblock) when last looked at. */
  private inblock = process.resourceUsage().fsRead;

  constructor(
    private readonly fh: FileHandle,
    readonly path: string,
    readonly blockSize: number,
    /** Grows with grow(); never shrinks. */
    public blockCount: number,
    private readonly map: AllocationMap | null,
    readonly readOnly: boolean,
  ) {
    this.thin = map !== null;
  }

  /**
   * Grows the image to `blockCount` blocks (sparse: ftruncate). Not for thin LUNs (the allocation map has a fixed
   * size), read-only ones, or block devices (their size is the device's).
   */
  async grow(blockCount: number): Promise<void> {
    if (!Number.isSafeInteger(blockCount) || blockCount <= this.blockCount)
      throw new Error(`${this.path}: ${blockCount} blocks is no larger than ${this.blockCount}`);
    if (this.map) throw new Error(`${this.path}: a thin LUN cannot be resized yet`);
    if (this.readOnly) throw new Error(`${this.path}: read-only`);
    if ((await this.fh.stat()).isBlockDevice()) throw new Error(`${this.path}: a block device has the device's size`);
    await this.fh.truncate(blockCount * this.blockSize);
    this.blockCount = blockCount;
  }

  async read(lba: number, blocks: number): Promise<Uint8Array> {
    this.checkRange(lba, blocks);
    const length = blocks * this.blockSize;
    const buf = Buffer.allocUnsafe(length);
    let done = 0;
    if (length <= SYNC_READ_MAX_BYTES && !this.closed) {
      const start = performance.now();
      if (start >= this.syncReadsFrom) {
        const position = lba * this.blockSize;
        while (done < length) {
          const n = readSync(this.fh.fd, buf, done, length - done, position + done);
          if (n === 0) break;
          done += n;
        }
        if (done < length) buf.fill(0, done); // past the end of a file someone truncated under us: zeros
        const took = performance.now() - start;
        if (took > SLOW_SYNC_READ_MS) this.slowSyncRead(start + took);
        this.stats.reads++;
        return buf;
      }
    }
    while (done < length) {
      const { bytesRead } = await this.fh.read(buf, done, length - done, lba * this.blockSize + done);
      if (bytesRead === 0) {
        buf.fill(0, done); // past the end of a file someone truncated under us: zeros, not garbage
        break;
      }
      done += bytesRead;
    }
    this.stats.reads++;
    return buf;
  }

  /**
   * A synchronous read took long: from the disk, or only descheduled on a busy machine? Only the first says to
   * back off, and only then does the process's block input count (reads that went to a device) move.
   */
  private slowSyncRead(now: number): void {
    const inblock = process.resourceUsage().fsRead;
    if (inblock === this.inblock) return;
    this.inblock = inblock;
    this.syncReadsFrom = now + SYNC_READ_BACKOFF_MS;
  }

  async write(lba: number, data: Uint8Array, fua: boolean): Promise<void> {
    this.checkWritable();
    if (data.length % this.blockSize !== 0) throw new Error(`write of ${data.length} bytes: not whole blocks`);
    const blocks = data.length / this.blockSize;
    this.checkRange(lba, blocks);
    await this.writeAll(data, lba * this.blockSize);
    this.stats.writes++;
    if (this.map) {
      this.map.set(lba, blocks, true);
      this.scheduleMapSave();
    }
    if (fua) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.closed) return;
    if (!this.readOnly) {
      await datasyncThread.datasync(this.fh.fd);
      this.stats.datasyncs++;
    }
    await this.saveMap();
  }

  async unmap(lba: number, blocks: number): Promise<void> {
    this.checkWritable();
    this.checkRange(lba, blocks);
    // Zero what holds data (on a thick LUN: everything), so later reads return zeros and the file keeps only
    // what initiators wrote. Runs already unmapped are zeros in the file already.
    const runs = this.map ? [...this.map.mappedRuns(lba, blocks)] : [{ lba, blocks }];
    const zeros = Buffer.alloc(Math.min(ZERO_CHUNK_BYTES, blocks * this.blockSize));
    for (const run of runs) {
      let offset = run.lba * this.blockSize;
      const end = (run.lba + run.blocks) * this.blockSize;
      while (offset < end) {
        const n = Math.min(zeros.length, end - offset);
        await this.writeAll(zeros.subarray(0, n), offset);
        offset += n;
      }
    }
    if (this.map) {
      this.map.set(lba, blocks, false);
      this.scheduleMapSave();
    }
  }

  async mapping(lba: number, maxBlocks: number): Promise<{ mapped: boolean; blocks: number }> {
    this.checkRange(lba, 1);
    const limit = Math.max(1, Math.min(maxBlocks, this.blockCount - lba));
    if (!this.map) return { mapped: true, blocks: limit };
    return this.map.run(lba, limit);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    clearTimeout(this.mapTimer);
    await this.flush();
    this.closed = true;
    await this.fh.close();
    // The map on disk is now exact: the next open may trust it.
    if (this.map && !this.readOnly) await unlink(openMarkerPath(this.path)).catch(() => undefined);
  }

  private async writeAll(data: Uint8Array, position: number): Promise<void> {
    let done = 0;
    if (data.length <= SYNC_WRITE_MAX_BYTES) {
      while (done < data.length) done += writeSync(this.fh.fd, data, done, data.length - done, position + done);
      return;
    }
    while (done < data.length) {
      const { bytesWritten } = await this.fh.write(data, done, data.length - done, position + done);
      done += bytesWritten;
    }
  }

  private scheduleMapSave(): void {
    if (this.mapTimer || this.readOnly) return;
    this.mapTimer = setTimeout(() => {
      this.mapTimer = undefined;
      this.saveMap().catch((err) => process.emitWarning(`${this.path}: saving allocation map: ${String(err)}`));
    }, MAP_SAVE_DELAY_MS);
    this.mapTimer.unref();
  }

  /** Saves are chained so two never write the temp file at once. */
  private saveMap(): Promise<void> {
    const map = this.map;
    if (!map || this.readOnly) return Promise.resolve();
    this.mapSave = this.mapSave
      .catch(() => undefined)
      .then(async () => {
        if (!map.isDirty) return;
        await map.save(mapPath(this.path), this.blockSize);
        this.stats.mapSaves++;
      });
    return this.mapSave;
  }

  private checkRange(lba: number, blocks: number): void {
    if (!Number.isInteger(lba) || !Number.isInteger(blocks) || lba < 0 || blocks < 0 || lba + blocks > this.blockCount) {
      throw new RangeError(`blocks [${lba}, +${blocks}) outside LUN of ${this.blockCount} blocks`);
    }
  }

  private checkWritable(): void {
    if (this.readOnly) throw new Error(`${this.path}: store is read-only`);
    if (this.closed) throw new Error(`${this.path}: store is closed`);
  }
}
