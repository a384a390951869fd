/**
 * One direction of a captured TCP connection put back in order (RFC 9293 3.4: bytes are placed by sequence
 * number, with 32-bit wrap-around): retransmitted bytes are trimmed, segments captured out of order are held until
 * the hole before them fills. A hole that never fills (the capture missed a segment) is declared lost as soon as
 * the receiver acknowledges bytes beyond it (it got what we never saw), or when more than HOLD_BYTES wait behind
 * it, or at the end of the capture; the splitter is then told how many bytes are missing.
 */
import type { PduSplitter } from './pdu-splitter.ts';

/** Bytes held behind a hole before it is declared lost even without an acknowledgement (one-sided captures). */
export const HOLD_BYTES = 8 * 1024 * 1024;

interface Held {
  readonly bytes: Uint8Array;
  readonly frame: number;
  readonly timeNs: bigint;
}

export class TcpStream {
  private nextSeq: number | undefined;
  private readonly held = new Map<number, Held>();
  private heldBytes = 0;
  /** Captured segments that carried no new byte (retransmissions). */
  retransmitted = 0;
  /** Holes declared lost. */
  holes = 0;

  constructor(readonly splitter: PduSplitter) {}

  private isn: number | undefined;

  /** A SYN: the first data byte is ISN + 1. */
  syn(seq: number): void {
    if (this.isn === seq) return;
    this.isn = seq;
    this.nextSeq = (seq + 1) >>> 0;
  }

  /** A SYN for this stream's own ISN (retransmitted) rather than a new connection reusing the addresses. */
  sameSyn(seq: number): boolean {
    return this.isn === seq;
  }

  get started(): boolean {
    return this.nextSeq !== undefined;
  }

  segment(seq: number, payload: Uint8Array, frame: number, timeNs: bigint): void {
    if (payload.length === 0) return;
    this.nextSeq ??= seq;
    const rel = (seq - this.nextSeq) | 0;
    if (rel < 0) {
      if (-rel >= payload.length) {
        this.retransmitted++;
        return;
      }
      this.deliver(payload.subarray(-rel), frame, timeNs);
    } else if (rel > 0) {
      const old = this.held.get(seq);
      if (!old || old.bytes.length < payload.length) {
        this.heldBytes += payload.length - (old?.bytes.length ?? 0);
        this.held.set(seq, { bytes: payload.slice(), frame, timeNs });
      }
      if (this.heldBytes > HOLD_BYTES) this.declareHole();
      return;
    } else this.deliver(payload, frame, timeNs);
  }

  /** The other direction acknowledged up to `ack`: a hole it covers was received, so the capture lost it. */
  acknowledged(ack: number): void {
    if (this.nextSeq === undefined || this.held.size === 0) return;
    if (((ack - this.nextSeq) | 0) > 0) this.declareHole();
  }

  /** End of the capture: whatever still waits behind holes is delivered after them. */
  finish(): void {
    while (this.held.size > 0) this.declareHole();
  }

  private deliver(bytes: Uint8Array, frame: number, timeNs: bigint): void {
    this.nextSeq = (this.nextSeq! + bytes.length) >>> 0;
    this.splitter.push(bytes, frame, timeNs);
    this.pullHeld();
  }

  /** Held segments that now start at or before the next expected byte. */
  private pullHeld(): void {
    for (let again = true; again && this.held.size > 0;) {
      again = false;
      for (const [seq, h] of this.held) {
        const rel = (seq - this.nextSeq!) | 0;
        if (rel > 0) continue;
        this.held.delete(seq);
        this.heldBytes -= h.bytes.length;
        if (-rel < h.bytes.length) {
          const rest = h.bytes.subarray(-rel);
          this.nextSeq = (this.nextSeq! + rest.length) >>> 0;
          this.splitter.push(rest, h.frame, h.timeNs);
        }
        again = true;
      }
    }
  }

  /** Gives up on the bytes before the earliest held segment and carries on from it. */
  private declareHole(): void {
    let first: number | undefined;
    let firstRel = Infinity;
    for (const seq of this.held.keys()) {
      const rel = (seq - this.nextSeq!) | 0;
      if (rel < firstRel) [first, firstRel] = [seq, rel];
    }
    if (first === undefined) return;
    const h = this.held.get(first)!;
    this.holes++;
    this.splitter.gap(firstRel, h.frame, h.timeNs);
    this.nextSeq = first;
    this.pullHeld();
  }
}
