/**
 * Captured frame -> TCP segment, for every link layer people really capture on: Ethernet II (with 802.1Q / 802.1ad
 * VLAN tags), Linux cooked v1 and v2 (`tcpdump -i any`), BSD null / OpenBSD loop (macOS `lo0`), and raw IP. The
 * network layer is IPv4 (options skipped) or IPv6 (extension headers walked, RFC 8200 4); fragments other than the
 * first are not TCP we could place, so they are left out.
 */

export const LINKTYPE_NULL = 0;
export const LINKTYPE_ETHERNET = 1;
export const LINKTYPE_RAW = 101;
/** OpenBSD loopback: like NULL, but the family is big-endian. */
export const LINKTYPE_LOOP = 108;
export const LINKTYPE_LINUX_SLL = 113;
export const LINKTYPE_IPV4 = 228;
export const LINKTYPE_IPV6 = 229;
export const LINKTYPE_LINUX_SLL2 = 276;

const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;
/** 802.1Q, 802.1ad and the older QinQ tag value: each adds 4 bytes before the real EtherType. */
const VLAN_TAGS = new Set([0x8100, 0x88a8, 0x9100]);
const ETH_TYPE_OFFSET = 12;
const SLL_TYPE_OFFSET = 14;
const SLL_HEADER = 16;
const SLL2_HEADER = 20;
const NULL_HEADER = 4;

const IPPROTO_TCP = 6;
const IPV4_MIN_HEADER = 20;
const IPV6_HEADER = 40;
const TCP_MIN_HEADER = 20;
/** IPv6 extension headers that can stand before TCP (RFC 8200 4.1). */
const IPV6_HOP_BY_HOP = 0;
const IPV6_ROUTING = 43;
const IPV6_FRAGMENT = 44;
const IPV6_DEST_OPTIONS = 60;
const IPV6_MAX_EXTENSIONS = 8;
/** BSD address families for IPv6 differ by OS (NetBSD/OpenBSD 24, FreeBSD 28, macOS 30). */
const BSD_AF_INET = 2;
const BSD_AF_INET6 = new Set([24, 28, 30]);

export interface TcpSegment {
  readonly src: string;
  readonly dst: string;
  readonly srcPort: number;
  readonly dstPort: number;
  readonly seq: number;
  readonly ack: number;
  readonly flags: number;
  /** Points into the frame: copy it if it must outlive the frame's buffer. */
  readonly payload: Uint8Array;
}

const be16 = (b: Uint8Array, o: number): number => (b[o]! << 8) | b[o + 1]!;
const be32 = (b: Uint8Array, o: number): number => ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;

/** Where the IP header starts in a frame of `linkType`, or -1 when the frame carries no IP. */
function ipOffset(frame: Uint8Array, linkType: number): number {
  switch (linkType) {
    case LINKTYPE_ETHERNET: {
      let o = ETH_TYPE_OFFSET;
      while (o + 2 <= frame.length && VLAN_TAGS.has(be16(frame, o))) o += 4;
      if (o + 2 > frame.length) return -1;
      const type = be16(frame, o);
      return type === ETHERTYPE_IPV4 || type === ETHERTYPE_IPV6 ? o + 2 : -1;
    }
    case LINKTYPE_RAW:
    case LINKTYPE_IPV4:
    case LINKTYPE_IPV6:
      return 0;
    case LINKTYPE_NULL:
    case LINKTYPE_LOOP: {
      if (frame.length < NULL_HEADER) return -1;
      // NULL is in the capturing host's byte order, LOOP in network order: accept either reading.
      const le = frame[0]! | (frame[1]! << 8);
      const be = be32(frame, 0);
      const family = le !== 0 ? le : be;
      return family === BSD_AF_INET || BSD_AF_INET6.has(family) ? NULL_HEADER : -1;
    }
    case LINKTYPE_LINUX_SLL:
      return frame.length >= SLL_HEADER && isIpType(be16(frame, SLL_TYPE_OFFSET)) ? SLL_HEADER : -1;
    case LINKTYPE_LINUX_SLL2:
      return frame.length >= SLL2_HEADER && isIpType(be16(frame, 0)) ? SLL2_HEADER : -1;
    default:
      return -1;
  }
}

const isIpType = (t: number): boolean => t === ETHERTYPE_IPV4 || t === ETHERTYPE_IPV6;

/** The TCP segment a captured frame carries, or undefined for anything else (ARP, UDP, fragments, truncated). */
export function parseTcpSegment(frame: Uint8Array, linkType: number): TcpSegment | undefined {
  const ip = ipOffset(frame, linkType);
  if (ip < 0 || ip >= frame.length) return undefined;
  const version = frame[ip]! >> 4;
  let tcp: number;
  let end: number;
  let src: string;
  let dst: string;
  if (version === 4) {
    if (frame.length < ip + IPV4_MIN_HEADER || frame[ip + 9] !== IPPROTO_TCP) return undefined;
    // A later fragment holds no TCP header (RFC 791: fragment offset in 8-byte units).
    if ((be16(frame, ip + 6) & 0x1fff) !== 0) return undefined;
    tcp = ip + (frame[ip]! & 0x0f) * 4;
    // Total length 0 happens with TCP segmentation offload: trust the captured length then.
    const total = be16(frame, ip + 2);
    end = total === 0 ? frame.length : Math.min(ip + total, frame.length);
    src = ipv4Text(frame, ip + 12);
    dst = ipv4Text(frame, ip + 16);
  } else if (version === 6) {
    if (frame.length < ip + IPV6_HEADER) return undefined;
    let next = frame[ip + 6]!;
    let o = ip + IPV6_HEADER;
    for (let i = 0; i < IPV6_MAX_EXTENSIONS && next !== IPPROTO_TCP; i++) {
      if (o + 8 > frame.length) return undefined;
      if (next === IPV6_FRAGMENT) {
        if ((be16(frame, o + 2) & 0xfff8) !== 0) return undefined;
        next = frame[o]!;
        o += 8;
      } else if (next === IPV6_HOP_BY_HOP || next === IPV6_ROUTING || next === IPV6_DEST_OPTIONS) {
        next = frame[o]!;
        o += (frame[o + 1]! + 1) * 8;
      } else return undefined;
    }
    if (next !== IPPROTO_TCP) return undefined;
    tcp = o;
    const payloadLength = be16(frame, ip + 4);
    end = payloadLength === 0 ? frame.length : Math.min(ip + IPV6_HEADER + payloadLength, frame.length);
    src = ipv6Text(frame, ip + 8);
    dst = ipv6Text(frame, ip + 24);
  } else return undefined;
  if (tcp + TCP_MIN_HEADER > end) return undefined;
  const dataOffset = (frame[tcp + 12]! >> 4) * 4;
  if (dataOffset < TCP_MIN_HEADER || tcp + dataOffset > end) return undefined;
  return {
    src,
    dst,
    srcPort: be16(frame, tcp),
    dstPort: be16(frame, tcp + 2),
    seq: be32(frame, tcp + 4),
    ack: be32(frame, tcp + 8),
    flags: frame[tcp + 13]!,
    payload: frame.subarray(tcp + dataOffset, end),
  };
}

export const ipv4Text = (b: Uint8Array, o: number): string => `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;

/** RFC 5952 text: lower case, leading zeros dropped, the longest run of two or more zero groups as "::". */
export function ipv6Text(b: Uint8Array, o: number): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(be16(b, o + i * 2));
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) [bestStart, bestLen] = [i, j - i];
    i = j;
  }
  const hex = (g: number[]): string => g.map((x) => x.toString(16)).join(':');
  if (bestStart < 0) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLen))}`;
}
