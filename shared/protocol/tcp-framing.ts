/**
 * The one model of how iSCSI PDUs travel in TCP/IPv4/Ethernet that the lab shows: the pcapng export
 * (server/trace/pcapng.ts) writes its synthesized frames with it, and the encapsulation stepper counts with it, so a
 * number on screen is the number tshark reports for the exported capture.
 *
 * The model: Ethernet II (14-byte header, IEEE 802.3), IPv4 without options (20 bytes, RFC 791), TCP without
 * options (20 bytes, RFC 9293), a 1500-byte MTU, so an MSS of 1460 payload bytes; each PDU starts a new segment
 * (it is sent as soon as it is built) and spans as many as its length needs; the target side uses port 3260 (the
 * port IANA assigned to iSCSI, which Wireshark keys on), whatever port the lab really listens on. A real
 * Linux stack adds 12 bytes of TCP timestamps and coalesces PDUs; on loopback it sends 64 KiB segments: the lab
 * models a plain 1500-byte Ethernet link instead, which is what teaches something.
 */

export const ETH_HEADER = 14;
/** Frame check sequence: on the cable, not in a capture (captures end before it). */
export const ETH_FCS = 4;
/** Preamble + start delimiter (8) and the inter-frame gap (12): on the cable only. */
export const ETH_PHY = 20;
export const IPV4_HEADER = 20;
export const TCP_HEADER = 20;
export const MTU = 1500;
/** Payload bytes per segment: MTU - IPv4 header - TCP header. */
export const MSS = MTU - IPV4_HEADER - TCP_HEADER;
/** The target side's TCP port in the model (and in every exported capture). */
export const ISCSI_PORT = 3260;
/** Bytes each segment adds around its payload in a captured frame. */
export const FRAME_OVERHEAD = ETH_HEADER + IPV4_HEADER + TCP_HEADER;

/** One line for the screen: the model in words. */
export const FRAMING_MODEL_TEXT =
  `Ethernet II ${ETH_HEADER} B + IPv4 ${IPV4_HEADER} B + TCP ${TCP_HEADER} B (no options) per segment, MSS ${MSS} for a ${MTU}-byte MTU, ` +
  `each PDU starts a segment, target port ${ISCSI_PORT}: the same model as the pcapng export`;

/**
 * The initiator side's port in the model: its real port, unless that is the target's port (an initiator on the
 * same host bound to 3260 would make both ends look like the target), then a stand-in per connection.
 */
export function modelInitiatorPort(realPort: number, connectionId: number, targetPort = ISCSI_PORT): number {
  return realPort === targetPort ? 65000 + (connectionId % 500) : realPort;
}

/** Payload sizes of the segments one PDU of `bytes` bytes is sent in. */
export function segmentSizes(bytes: number, mss = MSS): number[] {
  if (!Number.isInteger(mss) || mss <= 0) throw new RangeError(`MSS must be a positive integer, not ${mss}`);
  const out: number[] = [];
  let left = bytes;
  do {
    const n = Math.min(mss, left);
    out.push(n);
    left -= n;
  } while (left > 0);
  return out;
}

/** One direction's share of an I/O in the model: what its PDUs cost on the wire. */
export interface TripFraming {
  readonly pdus: number;
  readonly segments: number;
  /** TCP payload: the PDUs' own bytes (headers, digests, data, padding). */
  readonly tcpPayload: number;
  readonly tcpHeaders: number;
  readonly ipHeaders: number;
  readonly ethHeaders: number;
  /** Bytes of all the frames as a capture holds them (no FCS). */
  readonly frameBytes: number;
  /** Frame bytes plus FCS, preamble and gap: what the cable carries. */
  readonly cableBytes: number;
}

/** The framing of PDUs of the given wire lengths, sent one after another in one direction. */
export function frameTrip(pduLengths: readonly number[], mss = MSS): TripFraming {
  let segments = 0;
  let tcpPayload = 0;
  for (const n of pduLengths) {
    segments += segmentSizes(n, mss).length;
    tcpPayload += n;
  }
  const frameBytes = tcpPayload + segments * FRAME_OVERHEAD;
  return {
    pdus: pduLengths.length,
    segments,
    tcpPayload,
    tcpHeaders: segments * TCP_HEADER,
    ipHeaders: segments * IPV4_HEADER,
    ethHeaders: segments * ETH_HEADER,
    frameBytes,
    cableBytes: frameBytes + segments * (ETH_FCS + ETH_PHY),
  };
}
