/**
 * Allocation bitmap for thin-provisioned file LUNs: one bit per logical block, set once an initiator writes the
 * block, cleared by UNMAP. Node has no fallocate(PUNCH_HOLE), so the image file cannot tell us which blocks are
 * allocated; this map, persisted beside the image (`<image>.map`), is what GET LBA STATUS reports from.
 *
 * The image file stays the truth for data (unmapped blocks are zero-filled there), so a map that is a little
 * stale after a crash only misreports provisioning status, never returns wrong data.
 *
 * File layout (little-endian): magic "ILMAP1\0\0" (8), block size u32, reserved u32, block count f64, then the
 * bitmap, bit (lba & 7) of byte (lba >> 3).
 */
import type { FileHandle } from 'node:fs/promises';
import { open, rename } from 'node:fs/promises';

const MAGIC = 'ILMAP1\0\0';
const HEADER_BYTES = 24;
const OFF_BLOCK_SIZE = 8;
const OFF_BLOCK_COUNT = 16;

export class AllocationMap {
  private dirty = false;

  private constructor(
    private readonly bits: Uint8Array,
    readonly blockCount: number,
  ) {}

  /** A map where every block is unmapped (fresh thin image) or mapped (image found without a map). */
  static create(blockCount: number, mapped: boolean): AllocationMap {
    const bits = new Uint8Array(Math.ceil(blockCount / 8));
    if (mapped) bits.fill(0xff);
    const map = new AllocationMap(bits, blockCount);
    map.dirty = true;
    return map;
  }

  /** Loads `path`; null when missing or unusable (wrong block size, corrupt), so the caller decides the default. */
  static async load(path: string, blockSize: number, blockCount: number): Promise<AllocationMap | null> {
    let fh: FileHandle;
    try {
      fh = await open(path, 'r');
    } catch {
      return null;
    }
    try {
      const content = await fh.readFile();
      if (content.length < HEADER_BYTES || content.toString('latin1', 0, MAGIC.length) !== MAGIC) return null;
      const view = new DataView(content.buffer, content.byteOffset, content.byteLength);
      if (view.getUint32(OFF_BLOCK_SIZE, true) !== blockSize) return null;
      const storedCount = view.getFloat64(OFF_BLOCK_COUNT, true);
      const bits = new Uint8Array(Math.ceil(blockCount / 8));
      // The image may have grown since the map was written: blocks past the old end start unmapped.
      bits.set(content.subarray(HEADER_BYTES, HEADER_BYTES + Math.min(bits.length, Math.ceil(storedCount / 8))));
      const map = new AllocationMap(bits, blockCount);
      if (storedCount > blockCount || storedCount % 8 !== 0) map.clearTail(Math.min(storedCount, blockCount));
      map.dirty = storedCount !== blockCount;
      return map;
    } finally {
      await fh.close();
    }
  }

  get isDirty(): boolean {
    return this.dirty;
  }

  isMapped(lba: number): boolean {
    return (this.bits[lba >>> 3]! & (1 << (lba & 7))) !== 0;
  }

  /** Marks [lba, lba + blocks) mapped or unmapped. */
  set(lba: number, blocks: number, mapped: boolean): void {
    let i = lba;
    const end = lba + blocks;
    // Bit by bit up to a byte boundary, then whole bytes, then the tail.
    for (; i < end && (i & 7) !== 0; i++) this.setBit(i, mapped);
    const fullBytesEnd = end - (end & 7);
    if (i < fullBytesEnd) {
      this.bits.fill(mapped ? 0xff : 0, i >>> 3, fullBytesEnd >>> 3);
      this.dirty = true;
      i = fullBytesEnd;
    }
    for (; i < end; i++) this.setBit(i, mapped);
  }

  /** Length of the run of blocks starting at `lba` sharing its state, capped at `maxBlocks`. */
  run(lba: number, maxBlocks: number): { mapped: boolean; blocks: number } {
    const mapped = this.isMapped(lba);
    const limit = Math.min(this.blockCount, lba + maxBlocks);
    const wholeByte = mapped ? 0xff : 0;
    let i = lba + 1;
    while (i < limit) {
      if ((i & 7) === 0 && i + 8 <= limit && this.bits[i >>> 3] === wholeByte) {
        i += 8;
        continue;
      }
      if (this.isMapped(i) !== mapped) break;
      i++;
    }
    return { mapped, blocks: i - lba };
  }

  /** Mapped LBAs within [lba, lba + blocks), as runs, so UNMAP only zero-fills what holds data. */
  *mappedRuns(lba: number, blocks: number): Generator<{ lba: number; blocks: number }> {
    let i = lba;
    const end = lba + blocks;
    while (i < end) {
      const r = this.run(i, end - i);
      if (r.mapped) yield { lba: i, blocks: r.blocks };
      i += r.blocks;
    }
  }

  /** Writes the map to `path` (via a temp file and rename, so a crash leaves the old or the new map) and syncs. */
  async save(path: string, blockSize: number): Promise<void> {
    if (!this.dirty) return;
    this.dirty = false;
    const header = new Uint8Array(HEADER_BYTES);
    const view = new DataView(header.buffer);
    for (let i = 0; i < MAGIC.length; i++) header[i] = MAGIC.charCodeAt(i);
    view.setUint32(OFF_BLOCK_SIZE, blockSize, true);
    view.setFloat64(OFF_BLOCK_COUNT, this.blockCount, true);
    const tmp = `${path}.tmp`;
    const fh = await open(tmp, 'w');
    try {
      await fh.writev([header, this.bits.slice()]);
      await fh.datasync();
    } catch (err) {
      this.dirty = true;
      throw err;
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  }

  private setBit(lba: number, mapped: boolean): void {
    const byte = lba >>> 3;
    const mask = 1 << (lba & 7);
    const old = this.bits[byte]!;
    const next = mapped ? old | mask : old & ~mask;
    if (next !== old) {
      this.bits[byte] = next;
      this.dirty = true;
    }
  }

  private clearTail(from: number): void {
    for (let i = from; i < this.bits.length * 8; i++) {
      const byte = i >>> 3;
      this.bits[byte] = this.bits[byte]! & ~(1 << (i & 7));
    }
  }
}
