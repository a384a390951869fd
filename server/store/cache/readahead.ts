/**
 * Sequential stream detection for readahead. A small table of streams (each: where the next read would start if
 * the stream goes on); a read that starts where a stream ends continues it. From the second consecutive read of a
 * stream on, the detector asks for the window after the read to be prefetched, and asks again only once the
 * reader has used half of what was fetched ahead, so a stream costs one prefetch per half window.
 * Several interleaved streams (two sessions copying two files) are tracked independently.
 */

/** Streams tracked at once; the least recently continued one is replaced. */
const MAX_STREAMS = 8;
/** A read continues a stream from its second request on. */
const SEQUENTIAL_AFTER = 2;

interface Stream {
  /** LBA right after the stream's last read. */
  next: number;
  /** Consecutive reads seen. */
  reads: number;
  /** Prefetched (or asked for) up to here, exclusive. */
  aheadUntil: number;
  lastUse: number;
}

export interface PrefetchRange {
  lba: number;
  blocks: number;
}

export class SequentialDetector {
  private readonly streams: Stream[] = [];
  private clock = 0;

  /**
   * @param windowBlocks how far ahead to read, in LBAs (0: never)
   * @param limitBlocks the LUN's block count: prefetch stops at the end
   */
  constructor(
    public windowBlocks: number,
    /** Grows with the LUN (BlockCache.grow). */
    public limitBlocks: number,
  ) {}

  /** Records a read; returns the range to prefetch now, if any. */
  observe(lba: number, blocks: number): PrefetchRange | undefined {
    this.clock++;
    const end = lba + blocks;
    let s = this.streams.find((x) => x.next === lba);
    if (!s) {
      s = this.newStream();
      s.next = end;
      s.reads = 1;
      s.aheadUntil = end;
      s.lastUse = this.clock;
      return undefined;
    }
    s.next = end;
    s.reads++;
    s.lastUse = this.clock;
    if (this.windowBlocks <= 0 || s.reads < SEQUENTIAL_AFTER) return undefined;
    // Ahead of the reader by less than half a window: fetch up to a full window past this read.
    if (s.aheadUntil - end >= this.windowBlocks / 2) return undefined;
    const from = Math.max(s.aheadUntil, end);
    const to = Math.min(end + this.windowBlocks, this.limitBlocks);
    s.aheadUntil = Math.max(s.aheadUntil, to);
    if (to <= from) return undefined;
    return { lba: from, blocks: to - from };
  }

  /** Streams currently tracked (diagnostics, tests). */
  get streamCount(): number {
    return this.streams.length;
  }

  private newStream(): Stream {
    if (this.streams.length < MAX_STREAMS) {
      const s: Stream = { next: 0, reads: 0, aheadUntil: 0, lastUse: 0 };
      this.streams.push(s);
      return s;
    }
    let oldest = this.streams[0]!;
    for (const s of this.streams) if (s.lastUse < oldest.lastUse) oldest = s;
    return oldest;
  }
}
