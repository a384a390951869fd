// Re-framing real captured packets under another link layer (raw IP, BSD null, 802.1Q VLAN), written as classic
// pcap: the captures people bring from other systems, made from real traffic. tshark reads the results as well.
import { writeFileSync } from 'node:fs';

export interface Frame {
  readonly timeNs: bigint;
  readonly data: Uint8Array;
}

const ETH_TYPE_OFFSET = 12;
const ETH_HEADER = 14;

/** Classic pcap, nanosecond magic, little-endian. */
export function writePcap(file: string, linkType: number, frames: readonly Frame[]): void {
  const parts: Uint8Array[] = [];
  const head = Buffer.alloc(24);
  head.writeUInt32LE(0xa1b23c4d, 0);
  head.writeUInt16LE(2, 4);
  head.writeUInt16LE(4, 6);
  head.writeUInt32LE(262144, 16);
  head.writeUInt32LE(linkType, 20);
  parts.push(head);
  for (const f of frames) {
    const rec = Buffer.alloc(16);
    rec.writeUInt32LE(Number(f.timeNs / 1_000_000_000n), 0);
    rec.writeUInt32LE(Number(f.timeNs % 1_000_000_000n), 4);
    rec.writeUInt32LE(f.data.length, 8);
    rec.writeUInt32LE(f.data.length, 12);
    parts.push(rec, f.data);
  }
  writeFileSync(file, Buffer.concat(parts));
}

/** The IP packet of an Ethernet frame (no VLAN tags in the input). */
export const stripEthernet = (f: Frame): Frame => ({ timeNs: f.timeNs, data: f.data.subarray(ETH_HEADER) });

/** BSD null header: the address family in the capturing host's (here little-endian) byte order. */
export function nullFramed(f: Frame, family: number): Frame {
  const ip = f.data.subarray(ETH_HEADER);
  const out = new Uint8Array(4 + ip.length);
  new DataView(out.buffer).setUint32(0, family, true);
  out.set(ip, 4);
  return { timeNs: f.timeNs, data: out };
}

/** An 802.1Q tag (VLAN `vid`) inserted before the EtherType. */
export function vlanTagged(f: Frame, vid: number): Frame {
  const out = new Uint8Array(f.data.length + 4);
  out.set(f.data.subarray(0, ETH_TYPE_OFFSET), 0);
  out[12] = 0x81;
  out[13] = 0x00;
  out[14] = (vid >> 8) & 0x0f;
  out[15] = vid & 0xff;
  out.set(f.data.subarray(ETH_TYPE_OFFSET), 16);
  return { timeNs: f.timeNs, data: out };
}
