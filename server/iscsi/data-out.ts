import { LIMITS, RESERVED_TAG } from './constants.ts';
import type { DataOutPdu } from './pdu/data.ts';
import type { SessionParams } from './negotiation.ts';
import { writeBuffers } from './write-buffers.ts';

/** One R2T the target has sent and is collecting data for (RFC 7143 11.8). */
interface OpenR2T {
  ttt: number;
  offset: number;
  length: number;
  received: number;
  nextDataSN: number;
}

export type DataOutResult =
  | { kind: 'more' }
  /** Every byte of the write has arrived. */
  | { kind: 'complete' }
  /** Send these R2Ts now. */
  | { kind: 'r2t'; r2ts: { ttt: number; r2tSN: number; offset: number; length: number }[] }
  | { kind: 'error'; reason: string };

/**
 * Gathers one write command's data-out: immediate data, the unsolicited burst, then solicited bursts through
 * R2Ts (RFC 7143 4.2.5.2, 11.7, 11.8), checking DataSN order and buffer offsets as it goes.
 */
export class DataOutCollector {
  readonly buffer: Buffer;
  /** The buffer came from writeBuffers and goes back there when SCSI is done with the command. */
  readonly pooled: boolean;
  received = 0;
  private unsolicitedEnd: number;
  private unsolicitedDone: boolean;
  private unsolicitedDataSN = 0;
  private nextR2TOffset: number;
  private r2tSN = 0;
  private open: OpenR2T[] = [];
  /** R2Ts wait until the command has passed CmdSN ordering. */
  started = false;

  constructor(
    readonly expectedLength: number,
    immediate: Buffer,
    finalBit: boolean,
    private readonly params: SessionParams,
    private readonly allocTtt: () => number,
  ) {
    if (immediate.length >= expectedLength) {
      // All the data came with the command (the common small write): use it where it lies.
      this.buffer = immediate.subarray(0, expectedLength);
      this.pooled = false;
    } else {
      ({ buffer: this.buffer, pooled: this.pooled } = writeBuffers.take(expectedLength));
      immediate.copy(this.buffer, 0, 0, immediate.length);
    }
    this.received = Math.min(immediate.length, expectedLength);
    // With InitialR2T=No the initiator may send up to FirstBurstLength unsolicited, unless the command's F bit says
    // it sends nothing beyond the immediate data.
    this.unsolicitedEnd = !params.initialR2T && !finalBit ? Math.min(params.firstBurstLength, expectedLength) : this.received;
    this.unsolicitedDone = this.received >= this.unsolicitedEnd;
    this.nextR2TOffset = this.unsolicitedEnd;
  }

  static tooLarge(expectedLength: number): boolean {
    return expectedLength > LIMITS.maxWriteBytes;
  }

  get complete(): boolean {
    return this.received >= this.expectedLength;
  }

  /** R2Ts to send once the command may proceed and after each burst; empty if none are due. */
  nextR2Ts(): { ttt: number; r2tSN: number; offset: number; length: number }[] {
    const out: { ttt: number; r2tSN: number; offset: number; length: number }[] = [];
    if (!this.started || !this.unsolicitedDone) return out;
    while (this.nextR2TOffset < this.expectedLength && this.open.length < this.params.maxOutstandingR2T) {
      const length = Math.min(this.params.maxBurstLength, this.expectedLength - this.nextR2TOffset);
      const r2t: OpenR2T = { ttt: this.allocTtt(), offset: this.nextR2TOffset, length, received: 0, nextDataSN: 0 };
      this.open.push(r2t);
      out.push({ ttt: r2t.ttt, r2tSN: this.r2tSN++, offset: r2t.offset, length });
      this.nextR2TOffset += length;
    }
    return out;
  }

  /**
   * Where a Data-Out with these fields may gather its data in place (framing's `place`): the slice of the command's
   * buffer that accept() would copy it into, or undefined when accept() would refuse it (nothing is written
   * before its checks pass).
   */
  placement(ttt: number, dataSN: number, bufferOffset: number, length: number): Buffer | undefined {
    if (ttt === RESERVED_TAG) {
      if (this.unsolicitedDone || dataSN !== this.unsolicitedDataSN || bufferOffset !== this.received || bufferOffset + length > this.unsolicitedEnd)
        return undefined;
    } else {
      const r2t = this.open.find((r) => r.ttt === ttt);
      if (!r2t || dataSN !== r2t.nextDataSN || bufferOffset !== r2t.offset + r2t.received || r2t.received + length > r2t.length) return undefined;
    }
    return this.buffer.subarray(bufferOffset, bufferOffset + length);
  }

  /** Copies the data into the command's buffer, unless framing already gathered it there (placement). */
  private store(d: DataOutPdu): void {
    const inPlace = d.data.buffer === this.buffer.buffer && d.data.byteOffset === this.buffer.byteOffset + d.bufferOffset;
    if (!inPlace) d.data.copy(this.buffer, d.bufferOffset);
  }

  accept(d: DataOutPdu): DataOutResult {
    const len = d.data.length;
    if (d.ttt === RESERVED_TAG) {
      if (this.unsolicitedDone) return { kind: 'error', reason: 'unsolicited Data-Out after the unsolicited burst ended' };
      if (d.dataSN !== this.unsolicitedDataSN) return { kind: 'error', reason: `DataSN ${d.dataSN}, expected ${this.unsolicitedDataSN}` };
      if (d.bufferOffset !== this.received || d.bufferOffset + len > this.unsolicitedEnd)
        return { kind: 'error', reason: `unsolicited Data-Out at offset ${d.bufferOffset}+${len} outside ${this.received}..${this.unsolicitedEnd}` };
      this.unsolicitedDataSN++;
      this.store(d);
      this.received += len;
      if (d.final || this.received >= this.unsolicitedEnd) {
        this.unsolicitedDone = true;
        // A short unsolicited burst (F early) leaves a gap the R2Ts must cover.
        this.nextR2TOffset = this.received;
      }
    } else {
      const r2t = this.open.find((r) => r.ttt === d.ttt);
      if (!r2t) return { kind: 'error', reason: `Data-Out for unknown TTT 0x${d.ttt.toString(16)}` };
      if (d.dataSN !== r2t.nextDataSN) return { kind: 'error', reason: `DataSN ${d.dataSN}, expected ${r2t.nextDataSN}` };
      // DataPDUInOrder=Yes: each PDU continues exactly where the last one ended.
      if (d.bufferOffset !== r2t.offset + r2t.received || r2t.received + len > r2t.length)
        return { kind: 'error', reason: `Data-Out offset ${d.bufferOffset}+${len} outside R2T ${r2t.offset}+${r2t.length}` };
      r2t.nextDataSN++;
      this.store(d);
      r2t.received += len;
      this.received += len;
      if (r2t.received >= r2t.length) this.open = this.open.filter((r) => r !== r2t);
      else if (d.final) return { kind: 'error', reason: 'Data-Out sequence ended before the R2T was satisfied' };
    }
    if (this.complete) return { kind: 'complete' };
    const r2ts = this.nextR2Ts();
    return r2ts.length ? { kind: 'r2t', r2ts } : { kind: 'more' };
  }
}
