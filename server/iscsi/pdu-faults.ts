/**
 * What fault injection may do to a connection's PDUs, as the connection sees it. The iSCSI layer declares the hook
 * and calls it; the rules (server/faults) implement it and are handed in by whoever runs the target, so this layer
 * never imports the layer that decides faults. Free when unused: `active` is one property read per PDU.
 */
import type { Pdu } from './pdu.ts';

export type DigestCorruption = 'header' | 'data';

/** What a connection offers the fault path. */
export interface FaultPort {
  readonly id: number;
  readonly tsih: number;
  readonly headerDigest: boolean;
  readonly dataDigest: boolean;
  /** The SCSI command of a task still open on this connection. */
  commandOf(itt: number): { lun: number; cdb: Uint8Array } | undefined;
  /**
   * Writes a PDU to the socket now (tapped as sent), optionally with a digest made wrong. `onFlushed` is the
   * sender's "its bytes are gone" callback (the data budget): every PDU the fault path takes calls it exactly once,
   * whether it is sent now, later, or never.
   */
  transmit(pdu: Pdu, onFlushed?: () => void, corrupt?: DigestCorruption): void;
  /** Handles a received PDU now (already tapped). */
  dispatch(pdu: Pdu): void;
  /** Behaves as if a digest check failed on a received PDU (RFC 7143 7.8: at ERL 0 the connection goes). */
  digestFailed(kind: DigestCorruption, pdu: Pdu): void;
  /** Ends the connection: TCP RST or FIN. */
  kill(how: 'reset' | 'fin', why: string): void;
  readonly closed: boolean;
}

/** One connection's fault path: each PDU passes through it while the rules are active. */
export interface PduFaultPath {
  /** An outgoing PDU; true when the fault path took it (sent it itself, later, or never). */
  out(pdu: Pdu, onFlushed?: () => void): boolean;
  /** A received PDU; true when the fault path took it. */
  in(pdu: Pdu): boolean;
  /** The connection is gone: drop what is held. */
  close(): void;
}

/** The fault rules as the target sees them. */
export interface PduFaults {
  /** Some PDU rule may match (or a PDU is held): only then do PDUs go through the path. */
  readonly active: boolean;
  attach(port: FaultPort): PduFaultPath;
}

/** Flips the bits of the header digest (in the first part) or the data digest (the last part) of a serialized PDU. */
export function corruptDigest(parts: Buffer[], kind: DigestCorruption): void {
  const part = kind === 'header' ? parts[0]! : parts[parts.length - 1]!;
  // serializePdu builds the header buffer itself, but the data part may be the caller's: copy before changing.
  const copy = kind === 'header' ? part : Buffer.from(part);
  copy.writeUInt32LE(~copy.readUInt32LE(copy.length - 4) >>> 0, copy.length - 4);
  if (kind === 'data') parts[parts.length - 1] = copy;
}
