/**
 * The block store: what the SCSI layer reads and writes. File-backed LUNs implement it today; the block cache
 * (a later layer) wraps one BlockStore in another with the same interface.
 * LBAs and block counts are plain numbers: 2^53 blocks is far beyond any LUN this lab serves.
 */
export interface BlockStore {
  readonly blockSize: number;
  readonly blockCount: number;
  /** Thin provisioned: UNMAP deallocates, unwritten blocks read as zeros and report as unmapped. */
  readonly thin: boolean;
  /** Reads `blocks` blocks at `lba`. The returned bytes belong to the caller. */
  read(lba: number, blocks: number): Promise<Uint8Array>;
  /** Writes whole blocks at `lba`. With `fua` the data is on stable storage before the promise resolves. */
  write(lba: number, data: Uint8Array, fua: boolean): Promise<void>;
  /** Makes every write that completed before this call durable (fdatasync). */
  flush(): Promise<void>;
  /** Deallocates blocks (thin stores); later reads return zeros. */
  unmap(lba: number, blocks: number): Promise<void>;
  /** Mapping status of the run of blocks starting at `lba` that share one state, at most `maxBlocks` long. */
  mapping(lba: number, maxBlocks: number): Promise<{ mapped: boolean; blocks: number }>;
  close(): Promise<void>;
}
