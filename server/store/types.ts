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
  read(lba: number, blocks: number, trace?: IoTrace): Promise<Uint8Array>;
  /** Writes whole blocks at `lba`. With `fua` the data is on stable storage before the promise resolves. */
  write(lba: number, data: Uint8Array, fua: boolean, trace?: IoTrace): Promise<void>;
  /** Makes every write that completed before this call durable (fdatasync). */
  flush(trace?: IoTrace): Promise<void>;
  /** Deallocates blocks (thin stores); later reads return zeros. */
  unmap(lba: number, blocks: number, trace?: IoTrace): Promise<void>;
  /** Mapping status of the run of blocks starting at `lba` that share one state, at most `maxBlocks` long. */
  mapping(lba: number, maxBlocks: number): Promise<{ mapped: boolean; blocks: number }>;
  close(): Promise<void>;
  /** Present on stores with a volatile write cache (the block cache); absent: writes go straight to the file. */
  readonly writeCache?: WriteCacheControl;
  /** Grows the store to `blockCount` blocks (a LUN resized at run time); absent or rejecting where it cannot. */
  grow?(blockCount: number): Promise<void>;
}

// ---- block cache additions (server/store/cache/) -------------------------------------------------------------

/** What the cache did for one run of LBAs of one I/O. */
export type CacheRangeOutcome =
  /** read: every requested sector of these blocks was cached */
  | 'hit'
  /** read: cached because sequential readahead fetched it before it was asked for */
  | 'readahead-hit'
  /** read: not cached, read from the store */
  | 'miss'
  /** read: the block was cached but some requested sectors were not (filled from the store) */
  | 'partial'
  /** write: the block was cached and updated (write-back: now dirty) */
  | 'write-hit'
  /** write: the block was not cached and is now (write-back: dirty) */
  | 'write-allocate'
  /** write: no room (every block dirty or busy): written straight to the store */
  | 'bypass';

/** One I/O as the cache saw it: outcomes per LBA run (run-length encoded, bounded) and where the time went. */
export interface CacheIoReport {
  readonly policy: string;
  readonly mode: 'write-back' | 'write-through';
  readonly ranges: { readonly lba: number; readonly blocks: number; readonly outcome: CacheRangeOutcome }[];
  /** More ranges existed than a report carries. */
  readonly truncated?: boolean;
  /** Time in the cache's own bookkeeping (lookup, copy, eviction), ms. */
  readonly lookupMs: number;
  /** Time waiting on store reads (misses, partial fills, in-flight readahead), ms. */
  readonly storeReadMs: number;
  /** Time waiting on store writes (write-through, bypass, write-back of this I/O's dirty blocks), ms. */
  readonly storeWriteMs: number;
  /** Time in fdatasync (FUA, SYNCHRONIZE CACHE), ms. */
  readonly flushMs: number;
}

/**
 * Optional last argument of the BlockStore calls: a layer that wants to know what happened below (the store tap)
 * passes one, and a cache fills in `cache`. Stores that do not cache ignore it.
 */
export interface IoTrace {
  cache?: CacheIoReport;
  /**
   * Passed down, not filled in: the task this call serves, so the trace can join the store event to its SCSI
   * command by identity (never by time). Set by the SCSI layer only while a store tap listens.
   */
  readonly task?: TaskIdentity;
}

/**
 * A task as its transport names it (SAM-5 4.x: the I_T_L_Q nexus's task tag, here the iSCSI connection and ITT):
 * the key the trace recorder already correlates PDUs on.
 */
export interface TaskIdentity {
  readonly connectionId: number;
  readonly taskTag: number;
}

/** A store with a volatile write cache (SBC-3 6.4.5 WCE): what MODE SENSE reports and MODE SELECT changes. */
export interface WriteCacheControl {
  /** True while writes without FUA may complete before they reach the backing file. */
  readonly writeBack: boolean;
  /** Switches write-back on or off; switching off resolves once every dirty block is written and synced. */
  setWriteBack(on: boolean): Promise<void>;
}

/**
 * The medium failed this access (a bad sector, a failed write, a failed cache flush): SCSI reports it as MEDIUM
 * ERROR (SBC-4 4.18: UNRECOVERED READ ERROR for reads, WRITE ERROR for writes and flushes), not as a target bug.
 */
export class StoreMediumError extends Error {
  constructor(
    readonly op: 'read' | 'write' | 'flush',
    /** First LBA of the failed access (the sense INFORMATION field). */
    readonly lba: number,
    message: string,
  ) {
    super(message);
    this.name = 'StoreMediumError';
  }
}
