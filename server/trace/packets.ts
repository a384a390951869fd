/**
 * Synthesized Ethernet II / IPv4 / TCP framing for pcapng export, and the parsing side for replay.
 * Checksums as RFC 791 (IPv4 header) and RFC 793 (TCP with the pseudo-header) define them.
 */

export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_VLAN = 0x8100;
export const IPPROTO_TCP = 6;
// Header sizes: the lab's one framing model (the stepper counts with the same numbers).
import { ETH_HEADER, IPV4_HEADER, TCP_HEADER } from '../../shared/protocol/tcp-framing.ts';
export { ETH_HEADER, IPV4_HEADER, TCP_HEADER };

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;

export interface TcpSegmentSpec {
  srcMac: Uint8Array;
  dstMac: Uint8Array;
  /** 4 bytes. */
  srcIp: Uint8Array;
  dstIp: Uint8Array;
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  ipId: number;
  window?: number;
  payload: Uint8Array;
}

/** One's complement sum of 16-bit words (RFC 1071), folded, not yet inverted. */
function sum16(b: Uint8Array, start: number, end: number, acc = 0): number {
  let s = acc;
  let i = start;
  for (; i + 1 < end; i += 2) s += (b[i]! << 8) | b[i + 1]!;
  if (i < end) s += b[i]! << 8;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

/** Builds one Ethernet frame carrying one TCP segment. */
export function buildTcpFrame(s: TcpSegmentSpec): Uint8Array {
  const ipLength = IPV4_HEADER + TCP_HEADER + s.payload.length;
  const out = new Uint8Array(ETH_HEADER + ipLength);
  const dv = new DataView(out.buffer);
  out.set(s.dstMac, 0);
  out.set(s.srcMac, 6);
  dv.setUint16(12, ETHERTYPE_IPV4);
  const ip = ETH_HEADER;
  out[ip] = 0x45; // version 4, IHL 5
  dv.setUint16(ip + 2, ipLength);
  dv.setUint16(ip + 4, s.ipId & 0xffff);
  dv.setUint16(ip + 6, 0x4000); // DF
  out[ip + 8] = 64; // TTL
  out[ip + 9] = IPPROTO_TCP;
  out.set(s.srcIp, ip + 12);
  out.set(s.dstIp, ip + 16);
  dv.setUint16(ip + 10, ~sum16(out, ip, ip + IPV4_HEADER) & 0xffff);
  const tcp = ip + IPV4_HEADER;
  dv.setUint16(tcp, s.srcPort);
  dv.setUint16(tcp + 2, s.dstPort);
  dv.setUint32(tcp + 4, s.seq >>> 0);
  dv.setUint32(tcp + 8, s.ack >>> 0);
  out[tcp + 12] = (TCP_HEADER / 4) << 4;
  out[tcp + 13] = s.flags;
  dv.setUint16(tcp + 14, s.window ?? 0xffff);
  out.set(s.payload, tcp + TCP_HEADER);
  // Pseudo-header: source, destination, zero + protocol, TCP length.
  let acc = sum16(out, ip + 12, ip + 20);
  acc = sum16(new Uint8Array([0, IPPROTO_TCP, (TCP_HEADER + s.payload.length) >> 8, (TCP_HEADER + s.payload.length) & 0xff]), 0, 4, acc);
  acc = sum16(out, tcp, out.length, acc);
  const ck = ~acc & 0xffff;
  dv.setUint16(tcp + 16, ck === 0 ? 0xffff : ck);
  return out;
}

/** Verifies the IPv4 header checksum and the TCP checksum of a frame built above (tests). */
export function checksumsOk(frame: Uint8Array, ipOffset = ETH_HEADER): { ip: boolean; tcp: boolean } {
  const ihl = (frame[ipOffset]! & 0x0f) * 4;
  const total = (frame[ipOffset + 2]! << 8) | frame[ipOffset + 3]!;
  const ipOk = sum16(frame, ipOffset, ipOffset + ihl) === 0xffff;
  const tcpLen = total - ihl;
  let acc = sum16(frame, ipOffset + 12, ipOffset + 20);
  acc = sum16(new Uint8Array([0, IPPROTO_TCP, tcpLen >> 8, tcpLen & 0xff]), 0, 4, acc);
  acc = sum16(frame, ipOffset + ihl, ipOffset + total, acc);
  return { ip: ipOk, tcp: acc === 0xffff };
}

/** "127.0.0.1", "::ffff:127.0.0.1" -> 4 bytes; other addresses (IPv6) map to a stable 10.x.y.z stand-in. */
export function ipv4Bytes(address: string): Uint8Array {
  const m = /(?:^|:)(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(address);
  if (m) return new Uint8Array([Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4])]);
  let h = 2166136261;
  for (let i = 0; i < address.length; i++) h = Math.imul(h ^ address.charCodeAt(i), 16777619) >>> 0;
  return new Uint8Array([10, (h >>> 16) & 0xff, (h >>> 8) & 0xff, (h & 0xfe) | 1]);
}

export const ipv4Text = (b: Uint8Array, o = 0): string => `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;

export interface ParsedTcp {
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  payload: Uint8Array;
}

/** Link types we read (pcap LINKTYPE_*). */
export const LINKTYPE_NULL = 0;
export const LINKTYPE_ETHERNET = 1;
export const LINKTYPE_RAW = 101;
export const LINKTYPE_LINUX_SLL = 113;
export const LINKTYPE_IPV4 = 228;
export const LINKTYPE_LINUX_SLL2 = 276;

/** Finds an IPv4/TCP segment in a captured frame of `linkType`; undefined for anything else. */
export function parseTcpFrame(frame: Uint8Array, linkType: number): ParsedTcp | undefined {
  let ip: number;
  switch (linkType) {
    case LINKTYPE_ETHERNET: {
      let o = 12;
      let type = (frame[o]! << 8) | frame[o + 1]!;
      while (type === ETHERTYPE_VLAN || type === 0x88a8) {
        o += 4;
        type = (frame[o]! << 8) | frame[o + 1]!;
      }
      if (type !== ETHERTYPE_IPV4) return undefined;
      ip = o + 2;
      break;
    }
    case LINKTYPE_RAW:
    case LINKTYPE_IPV4:
      ip = 0;
      break;
    case LINKTYPE_NULL:
      ip = 4;
      break;
    case LINKTYPE_LINUX_SLL:
      if (((frame[14]! << 8) | frame[15]!) !== ETHERTYPE_IPV4) return undefined;
      ip = 16;
      break;
    case LINKTYPE_LINUX_SLL2:
      if (((frame[0]! << 8) | frame[1]!) !== ETHERTYPE_IPV4) return undefined;
      ip = 20;
      break;
    default:
      return undefined;
  }
  if (frame.length < ip + IPV4_HEADER || frame[ip]! >> 4 !== 4 || frame[ip + 9] !== IPPROTO_TCP) return undefined;
  const ihl = (frame[ip]! & 0x0f) * 4;
  const total = Math.min((frame[ip + 2]! << 8) | frame[ip + 3]!, frame.length - ip);
  const tcp = ip + ihl;
  if (tcp + TCP_HEADER > frame.length) return undefined;
  const dv = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const dataOffset = (frame[tcp + 12]! >> 4) * 4;
  return {
    src: ipv4Text(frame, ip + 12),
    dst: ipv4Text(frame, ip + 16),
    srcPort: dv.getUint16(tcp),
    dstPort: dv.getUint16(tcp + 2),
    seq: dv.getUint32(tcp + 4),
    ack: dv.getUint32(tcp + 8),
    flags: frame[tcp + 13]!,
    payload: frame.subarray(tcp + dataOffset, ip + total),
  };
}
