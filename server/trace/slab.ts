/**
 * Bump allocation of recorded PDU bytes from shared 1 MiB slabs. One ArrayBuffer per recorded PDU meant one
 * backing store to allocate, track and finalize per PDU, and the collector spent more time on those than the
 * recorder spent copying; views into a slab cost one small object each and the slab is freed as a whole once the
 * ring has let go of every PDU in it.
 */
const SLAB_BYTES = 1 << 20;
/** Bigger PDUs get their own buffer: a slab is never dominated by one PDU. */
const OWN_BUFFER_FROM = SLAB_BYTES / 4;

export class Slab {
  private slab = new Uint8Array(0);
  private used = 0;

  /** `n` bytes of uninitialised memory: the caller writes every one of them. */
  take(n: number): Uint8Array {
    if (n >= OWN_BUFFER_FROM) return Buffer.allocUnsafeSlow(n);
    if (this.used + n > this.slab.length) {
      // Not zero-filled: clearing 1 MiB every few hundred PDUs showed in the recorder's profile.
      this.slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
      this.used = 0;
    }
    const out = this.slab.subarray(this.used, this.used + n);
    // Keep 8-byte alignment so DataView reads of the copy stay cheap.
    this.used += (n + 7) & ~7;
    return out;
  }
}
