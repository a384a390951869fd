/**
 * The recorder's PDU ring: every recorded PDU's bytes in one preallocated byte arena used circularly, and its
 * metadata and task correlation in typed-array columns, one row per PDU.
 *
 * Why not one object per PDU: the ring holds ~20k PDUs, which at 50k PDUs/s all survive a few young-generation
 * collections and get promoted, and the collector then spent more time on them than the target spent on the I/O
 * (profiled: ~10 us of ~45 us per 4 KiB read went to the recorder's records). Rows in typed arrays and bytes in a
 * reused arena cost no allocation and nothing to collect; objects are built only for the few PDUs someone reads.
 *
 * Rows are addressed by ordinal (0, 1, 2 ... for each PDU pushed): row = ordinal % capacity. The arena is
 * allocated on first use and its bytes are overwritten as the ring wraps, so views handed out by `bytes()` are
 * valid only until the next push: readers copy what they keep.
 */
import type { ConnectionAddress } from '../iscsi/events.ts';

export const FLAG_T2I = 1;
export const FLAG_HEADER_DIGEST = 2;
export const FLAG_DATA_DIGEST = 4;
/** The PDU ends a SCSI task with status (SCSI Response, Data-In with S). */
export const FLAG_ENDING = 8;
/** The stored bytes are the whole wire form; without it they are the BHS and the start of the data segment. */
export const FLAG_WIRE = 16;

/** Smallest arena: one BHS. */
const MIN_ARENA = 48;

export class PduRing {
  readonly seq: Float64Array;
  readonly timeNs: Float64Array;
  readonly connectionId: Float64Array;
  readonly tsih: Float64Array;
  readonly flags: Uint8Array;
  readonly taskId: Float64Array;
  /** NaN: none. */
  readonly latencyNs: Float64Array;
  /** Ordinal of the task's SCSI Command; -1: none. */
  readonly taskRef: Float64Array;
  /** Per row, the connection's addresses (one shared object per connection, so no allocation per PDU). */
  readonly address: (ConnectionAddress | undefined)[];
  private readonly offset: Float64Array;
  private readonly length: Float64Array;
  private arena: Uint8Array | undefined;
  private readonly arenaBytes: number;
  /** Where the next PDU's bytes go. */
  private head = 0;
  private held = 0;
  /** Ordinal of the oldest row held, and of the next row to write. */
  first = 0;
  next = 0;
  /** Rows evicted to make room since creation. */
  evicted = 0;

  constructor(
    readonly capacity: number,
    maxBytes: number,
  ) {
    this.seq = new Float64Array(capacity);
    this.timeNs = new Float64Array(capacity);
    this.connectionId = new Float64Array(capacity);
    this.tsih = new Float64Array(capacity);
    this.flags = new Uint8Array(capacity);
    this.taskId = new Float64Array(capacity);
    this.latencyNs = new Float64Array(capacity);
    this.taskRef = new Float64Array(capacity);
    this.address = new Array<ConnectionAddress | undefined>(capacity).fill(undefined);
    this.offset = new Float64Array(capacity);
    this.length = new Float64Array(capacity);
    this.arenaBytes = Math.max(MIN_ARENA, maxBytes);
  }

  get count(): number {
    return this.next - this.first;
  }

  /** Bytes the held rows occupy. */
  get bytesHeld(): number {
    return this.held;
  }

  /** Largest PDU that can be stored whole. */
  get maxPduBytes(): number {
    return this.arenaBytes;
  }

  /**
   * Makes room for a row with `n` bytes (n <= maxPduBytes) and returns the row's ordinal; write its bytes into
   * `bytes(ordinal)` and its columns before the next push.
   */
  push(n: number): number {
    const arena = (this.arena ??= Buffer.allocUnsafeSlow(this.arenaBytes));
    if (this.count === this.capacity) this.evictOldest();
    if (this.count === 0) this.head = 0;
    let start = this.head;
    if (start + n > arena.length) {
      // Wrap: everything stored at or after the head is older than what sits before it; it goes first.
      while (this.count > 0 && this.offset[this.first % this.capacity]! >= this.head) this.evictOldest();
      start = 0;
    }
    // Then whatever the new bytes would overwrite (always the oldest rows, laid out right after the head).
    while (this.count > 0) {
      const r = this.first % this.capacity;
      const o = this.offset[r]!;
      if (o < start + n && o + this.length[r]! > start) this.evictOldest();
      else break;
    }
    const ordinal = this.next++;
    const row = ordinal % this.capacity;
    this.offset[row] = start;
    this.length[row] = n;
    this.head = start + n;
    this.held += n;
    return ordinal;
  }

  has(ordinal: number): boolean {
    return ordinal >= this.first && ordinal < this.next;
  }

  row(ordinal: number): number {
    return ordinal % this.capacity;
  }

  /** The stored bytes of a held row: a view, valid until the next push. */
  bytes(ordinal: number): Uint8Array {
    const r = ordinal % this.capacity;
    const o = this.offset[r]!;
    return this.arena!.subarray(o, o + this.length[r]!);
  }

  /** Oldest held ordinal whose seq is greater than `seq` (next if none). */
  firstAfter(seq: number): number {
    let lo = this.first;
    let hi = this.next;
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      if (this.seq[mid % this.capacity]! > seq) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  clear(): void {
    for (let o = this.first; o < this.next; o++) this.address[o % this.capacity] = undefined;
    this.first = this.next;
    this.held = 0;
    this.head = 0;
  }

  private evictOldest(): void {
    const r = this.first % this.capacity;
    this.held -= this.length[r]!;
    this.address[r] = undefined;
    this.first++;
    this.evicted++;
  }
}
