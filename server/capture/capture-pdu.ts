/**
 * An iSCSI PDU of a capture file as the lab's readers hand it on: BHS, AHS and data segment apart (RFC 7143 11.2),
 * from the PDU's wire bytes with the digests negotiated on its connection.
 */
import { BHS_LENGTH } from '../../shared/protocol/iscsi.ts';
import { u24 } from '../../shared/protocol/bytes.ts';
import type { Direction } from '../../shared/trace/schema.ts';

/** One iSCSI PDU out of a capture, split: what replay's task extraction needs (read-capture.ts CapturedPdu fits it). */
export interface CapturePdu {
  /** Position in the capture (for messages). */
  readonly index: number;
  readonly direction: Direction;
  readonly connectionId: number;
  readonly bhs: Uint8Array;
  readonly ahs: Uint8Array;
  /** Data segment without padding or digest. */
  readonly data: Uint8Array;
  /** false when a digest was present and wrong. */
  readonly digestsOk?: boolean;
}

/** Builds CapturePdus from wire bytes (BHS, AHS, header digest, data, padding, data digest), e.g. JSON Lines rawHex. */
export function pduFromWire(
  bytes: Uint8Array,
  meta: { index: number; direction: Direction; connectionId: number; headerDigest: boolean; dataDigest: boolean },
): CapturePdu | undefined {
  if (bytes.length < BHS_LENGTH) return undefined;
  const ahsLength = bytes[4]! * 4;
  const dataLength = u24(bytes, 5);
  const dataStart = BHS_LENGTH + ahsLength + (meta.headerDigest ? 4 : 0);
  if (dataStart + dataLength > bytes.length) return undefined;
  return {
    index: meta.index,
    direction: meta.direction,
    connectionId: meta.connectionId,
    bhs: bytes.subarray(0, BHS_LENGTH),
    ahs: bytes.subarray(BHS_LENGTH, BHS_LENGTH + ahsLength),
    data: bytes.subarray(dataStart, dataStart + dataLength),
  };
}
