/**
 * One direction of one TCP connection, as reassembled bytes, cut into iSCSI PDUs; and what to do when bytes are
 * missing. A lost segment (or a capture that starts mid-transfer) must cost only the PDUs it touched:
 *
 * - While in step, the BHS gives each PDU's length (RFC 7143 11.2), so the next PDU's start is known.
 * - A gap inside a PDU whose header arrived: that PDU is lost, but its length says where the next one starts; if
 *   that start lies beyond the gap, reading carries on there (after checking a plausible BHS stands there).
 * - Otherwise (the gap swallowed a header, or the capture began mid-stream) the splitter hunts: it looks for an
 *   offset holding a plausible BHS (plausible-bhs.ts) followed by more plausible BHSs exactly where the lengths say
 *   (CHAIN_PDUS of them, or up to the end of the capture). Header digests, when negotiated, are checked too.
 *
 * Each gap is reported once, with the bytes the capture lacked and the captured bytes skipped to find step again.
 */
import { BHS_LENGTH, DIGEST_LENGTH } from '../../shared/protocol/iscsi.ts';
import type { Direction } from '../../shared/trace/schema.ts';
import { MAX_DATA_SEGMENT, plausibleBhs, pduTotalAt } from './plausible-bhs.ts';

/** PDUs in a row that must line up before a hunted offset is believed (fewer at the very end of a capture). */
export const CHAIN_PDUS = 3;
/** The largest PDU hunting will wait for to confirm a candidate. */
const MAX_PDU = BHS_LENGTH + 255 * 4 + 2 * DIGEST_LENGTH + MAX_DATA_SEGMENT + 3;

/** Digest settings of the connection; login negotiation (read-capture.ts) changes them as PDUs pass. */
export interface ConnectionDigests {
  headerDigest: boolean;
  dataDigest: boolean;
  /** false when the login was not captured: hunting then tries every digest combination. */
  known: boolean;
}

export interface SplitGap {
  /** Bytes the capture lacks (TCP sequence numbers never seen); 0 for a capture that starts mid-stream. */
  lostBytes: number;
  /** Captured bytes discarded before step was found again (the rest of a torn PDU, or hunted-over bytes). */
  skippedBytes: number;
  /** Why: 'lost segment', 'capture starts mid-stream', 'not a PDU boundary'. */
  reason: string;
  /** Frame whose bytes ended the gap (where reading resumed, or the last frame). */
  frame: number;
  timeNs: bigint;
}

export interface SplitterSink {
  pdu(bytes: Uint8Array, direction: Direction, frame: number, timeNs: bigint): void;
  gap(gap: SplitGap): void;
}

type State = 'synced' | 'skip' | 'verify' | 'hunt' | 'ignored';

const DIGEST_COMBOS: readonly (readonly [boolean, boolean])[] = [
  [false, false],
  [true, false],
  [true, true],
  [false, true],
];

export class PduSplitter {
  private chunks: Uint8Array[] = [];
  private buffered = 0;
  private state: State;
  private skipLeft = 0;
  private openGap: SplitGap | undefined;
  /** Hunting resumes here (offsets before it were rejected). */
  private scanFrom = 0;
  /** Stream offsets: bytes consumed (taken or discarded) and pushed so far. */
  private consumed = 0;
  private pushed = 0;
  /** Where each pushed piece ends, with its frame: a PDU is dated by the frame that brought its last byte. */
  private marks: { end: number; frame: number; timeNs: bigint }[] = [];
  /** PDUs cut so far. */
  pdus = 0;
  /** Bytes hunted over before the first PDU. */
  private huntedBeforeFirst = 0;

  constructor(
    private readonly sink: SplitterSink,
    private readonly conn: ConnectionDigests,
    /** Known from the port or from a PDU already seen; undefined lets content decide. */
    public direction: Direction | undefined,
    /** true when the stream's first byte is known to start a PDU (the SYN was captured). */
    atBoundary: boolean,
    /** A stream that yields no PDU within this many bytes is not iSCSI: the rest is ignored (content detection). */
    private readonly giveUpBytes = Infinity,
  ) {
    this.state = atBoundary ? 'synced' : 'hunt';
    if (!atBoundary) this.openGap = { lostBytes: 0, skippedBytes: 0, reason: 'capture starts mid-stream', frame: 0, timeNs: 0n };
  }

  /** Bytes that follow the previous ones without a hole. */
  push(bytes: Uint8Array, frame: number, timeNs: bigint): void {
    if (bytes.length === 0 || this.state === 'ignored') return;
    let b = bytes;
    if (this.state === 'skip') {
      const n = Math.min(this.skipLeft, b.length);
      this.skipLeft -= n;
      this.openGap!.skippedBytes += n;
      b = b.subarray(n);
      if (this.skipLeft > 0) return;
      this.state = 'verify';
    }
    // Copied: packet buffers are reused by the file reader.
    if (b.length > 0) {
      this.chunks.push(b.slice());
      this.buffered += b.length;
      this.pushed += b.length;
      this.marks.push({ end: this.pushed, frame, timeNs });
    }
    this.drain(frame, timeNs, false);
  }

  /** `lost` bytes are missing before whatever is pushed next. */
  gap(lost: number, frame: number, timeNs: bigint): void {
    if (this.state === 'ignored') return;
    const g = this.openGap ?? { lostBytes: 0, skippedBytes: 0, reason: 'lost segment', frame, timeNs };
    g.lostBytes += lost;
    this.openGap = g;
    if (this.state === 'synced' && this.buffered >= BHS_LENGTH) {
      const head = this.peek(BHS_LENGTH);
      const total = pduTotalAt(head, 0, this.conn.headerDigest, this.conn.dataDigest);
      const remaining = total - this.buffered;
      if (lost < remaining) {
        // Only this PDU is torn: its length tells where the next one begins, beyond the hole.
        g.skippedBytes += this.buffered;
        this.discard(this.buffered);
        this.skipLeft = remaining - lost;
        this.state = this.skipLeft > 0 ? 'skip' : 'verify';
        return;
      }
    }
    if (this.state === 'skip') {
      // The hole falls within bytes we were skipping anyway.
      if (lost < this.skipLeft) {
        this.skipLeft -= lost;
        return;
      }
    }
    g.skippedBytes += this.buffered;
    this.discard(this.buffered);
    this.state = 'hunt';
    this.scanFrom = 0;
  }

  /** End of the capture: a hunted candidate may be confirmed by running exactly to the last byte. */
  end(frame: number, timeNs: bigint): number {
    if (this.state === 'ignored') return 0;
    this.drain(frame, timeNs, true);
    const left = this.buffered;
    if (this.openGap && (this.openGap.lostBytes > 0 || this.openGap.skippedBytes > 0 || left > 0)) {
      this.openGap.skippedBytes += this.state === 'hunt' ? left : 0;
      this.closeGap(frame, timeNs);
    }
    return this.state === 'hunt' ? 0 : left;
  }

  private closeGap(frame: number, timeNs: bigint): void {
    const g = this.openGap;
    this.openGap = undefined;
    if (!g || (g.lostBytes === 0 && g.skippedBytes === 0)) return;
    g.frame = frame;
    g.timeNs = timeNs;
    this.sink.gap(g);
  }

  private drain(frame: number, timeNs: bigint, atEnd: boolean): void {
    for (;;) {
      if (this.state === 'hunt' && !this.hunt(atEnd)) return;
      if (this.state === 'skip') return;
      if (this.buffered < BHS_LENGTH) return;
      const hdLen = this.conn.headerDigest ? BHS_LENGTH + 255 * 4 + DIGEST_LENGTH : BHS_LENGTH;
      const head = this.peek(Math.min(this.buffered, hdLen));
      if (this.state === 'verify' || !plausibleBhs(head, 0, this.direction, false)) {
        const d = plausibleBhs(head, 0, this.direction, this.conn.headerDigest && head.length >= BHS_LENGTH + head[4]! * 4 + DIGEST_LENGTH);
        if (!d) {
          // Not a header where the lengths said one would be: out of step, hunt for the next one.
          this.openGap ??= { lostBytes: 0, skippedBytes: 0, reason: 'not a PDU boundary', frame, timeNs };
          this.state = 'hunt';
          this.scanFrom = 1;
          continue;
        }
        this.state = 'synced';
      }
      const total = pduTotalAt(head, 0, this.conn.headerDigest, this.conn.dataDigest);
      if (this.buffered < total) return;
      const at = this.markFor(this.consumed + total);
      if (this.openGap) this.closeGap(at.frame, at.timeNs);
      const bytes = this.take(total);
      const dir = plausibleBhs(bytes, 0, undefined, false) ?? this.direction ?? 'i2t';
      this.direction ??= dir;
      this.pdus++;
      this.sink.pdu(bytes, dir, at.frame, at.timeNs);
    }
  }

  /** Looks for the next PDU boundary; true when found (state becomes synced at buffer offset 0). */
  private hunt(atEnd: boolean): boolean {
    const buf = this.peek(this.buffered);
    const combos = this.conn.known ? [[this.conn.headerDigest, this.conn.dataDigest] as const] : DIGEST_COMBOS;
    let i = this.scanFrom;
    for (; i + BHS_LENGTH <= buf.length; i++) {
      let waiting = false;
      for (const [hd, dd] of combos) {
        const r = this.chainAt(buf, i, hd, dd, atEnd);
        if (r === 'yes') {
          this.openGap!.skippedBytes += i;
          this.discard(i);
          this.scanFrom = 0;
          if (!this.conn.known) Object.assign(this.conn, { headerDigest: hd, dataDigest: dd, known: true });
          this.state = 'synced';
          return true;
        }
        if (r === 'wait') waiting = true;
      }
      if (waiting) break;
    }
    // Offsets before i can no longer start a PDU: drop them, keep the rest for more bytes.
    const drop = Math.min(i, Math.max(0, buf.length - BHS_LENGTH + 1));
    this.openGap!.skippedBytes += drop;
    this.discard(drop);
    if (this.pdus === 0 && (this.huntedBeforeFirst += drop) > this.giveUpBytes) {
      this.state = 'ignored';
      this.discard(this.buffered);
      this.openGap = undefined;
      return false;
    }
    this.scanFrom = i - drop;
    return false;
  }

  /** Do plausible PDUs line up from `o`? 'wait' when more bytes are needed to tell. */
  private chainAt(buf: Uint8Array, o: number, hd: boolean, dd: boolean, atEnd: boolean): 'yes' | 'no' | 'wait' {
    let dir = this.direction;
    let at = o;
    for (let n = 0; n < CHAIN_PDUS; n++) {
      if (at === buf.length && atEnd && n > 0) return 'yes';
      if (at + BHS_LENGTH > buf.length) return atEnd ? 'no' : 'wait';
      if (hd && at + BHS_LENGTH + buf[at + 4]! * 4 + DIGEST_LENGTH > buf.length) return atEnd ? 'no' : 'wait';
      const d = plausibleBhs(buf, at, dir, hd);
      if (!d) return 'no';
      dir = d;
      const total = pduTotalAt(buf, at, hd, dd);
      if (total > MAX_PDU) return 'no';
      at += total;
      if (at > buf.length) return atEnd ? 'no' : 'wait';
    }
    if (this.direction === undefined) this.direction = dir;
    return 'yes';
  }

  /** The piece holding stream byte `end - 1`; older pieces are forgotten. */
  private markFor(end: number): { frame: number; timeNs: bigint } {
    let i = 0;
    while (i < this.marks.length - 1 && this.marks[i]!.end < end) i++;
    if (i > 0) this.marks.splice(0, i);
    return this.marks[0]!;
  }

  private peek(n: number): Uint8Array {
    if (this.chunks[0]!.length >= n) return this.chunks[0]!.subarray(0, n);
    const all = Buffer.concat(this.chunks);
    this.chunks = [all];
    return all.subarray(0, n);
  }

  private take(n: number): Uint8Array {
    const first = this.chunks[0]!;
    if (first.length >= n) {
      const out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      this.buffered -= n;
      this.consumed += n;
      return out;
    }
    const all = this.peek(n);
    this.discard(n);
    return all;
  }

  private discard(n: number): void {
    let left = n;
    while (left > 0) {
      const c = this.chunks[0]!;
      if (c.length <= left) {
        left -= c.length;
        this.chunks.shift();
      } else {
        this.chunks[0] = c.subarray(left);
        left = 0;
      }
    }
    this.buffered -= n;
    this.consumed += n;
  }
}
