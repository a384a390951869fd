/**
 * The stepper's network stages: one direction of an I/O (its PDUs) framed in TCP, IPv4 and Ethernet with the lab's
 * one framing model (shared/protocol/tcp-framing.ts), plus modelled header bytes to look at.
 */
import { ETH_FCS, ETH_HEADER, ETH_PHY, IPV4_HEADER, ISCSI_PORT, MSS, MTU, TCP_HEADER, frameTrip } from '../../../shared/protocol/tcp-framing.ts';
import type { PduTraceEvent } from '../../../shared/trace/schema.ts';
import type { Stage, Trip } from './stage-types.ts';

const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);

/** The trip of `pdus` (one direction), with ports as the model writes them: the target side is always 3260. */
export function tripOf(direction: Trip['direction'], pdus: readonly PduTraceEvent[], initiatorPort: number): Trip {
  const out = direction === 'out';
  return {
    direction,
    framing: frameTrip(pdus.map((p) => p.lengths.total)),
    srcPort: out ? initiatorPort : ISCSI_PORT,
    dstPort: out ? ISCSI_PORT : initiatorPort,
    pdus: pdus.map((p) => p.opcodeName),
  };
}

/** Outbound: TCP, then IP, then Ethernet, one stage each (the layering is the lesson). */
export function outboundStages(trip: Trip, addr: { initiator: string; target: string }, payload: number, what: string): Stage[] {
  const f = trip.framing;
  const iscsi = f.tcpPayload;
  return [
    {
      id: 'tcp-out',
      title: `TCP segments out (${f.segments})`,
      layer: 'tcp',
      where: 'network',
      explain: `TCP carries the ${iscsi} bytes of ${what} in ${f.segments} segment(s) of at most ${MSS} payload bytes (MSS of a ${MTU}-byte MTU) and adds a ${TCP_HEADER}-byte header to each: ports, sequence and acknowledgement numbers, window, checksum. Each PDU starts a new segment here, as in the capture export.`,
      bands: [
        { label: `TCP ${f.segments}×${TCP_HEADER}`, bytes: f.tcpHeaders, layer: 'tcp' },
        { label: `iSCSI ${iscsi}`, bytes: iscsi, layer: 'iscsi', inner: true },
      ],
      overhead: f.tcpHeaders,
      payload,
      trip,
      facts: [
        ['MSS', `${MSS} bytes`],
        ['PDUs', summarize(trip.pdus)],
      ],
      hex: [{ label: 'TCP header (first segment, modelled)', bytes: synthTcpHeader(trip.srcPort, trip.dstPort), layer: 'tcp' }],
    },
    {
      id: 'ip-out',
      title: 'IP packets out',
      layer: 'ip',
      where: 'network',
      explain: `Each segment becomes an IPv4 packet with a ${IPV4_HEADER}-byte header: source and destination address, protocol 6 (TCP), TTL, checksum.`,
      bands: [
        { label: `IP ${f.segments}×${IPV4_HEADER}`, bytes: f.ipHeaders, layer: 'ip' },
        { label: `TCP ${f.tcpHeaders}`, bytes: f.tcpHeaders, layer: 'tcp' },
        { label: `iSCSI ${iscsi}`, bytes: iscsi, layer: 'iscsi', inner: true },
      ],
      overhead: f.ipHeaders,
      payload,
      facts: [
        ['addresses', `${addr.initiator} → ${addr.target}`],
        ['packets', String(f.segments)],
      ],
      hex: [
        {
          label: 'IPv4 header (first packet, modelled)',
          bytes: synthIpHeader(addr.initiator, addr.target, Math.min(MSS, iscsi) + TCP_HEADER + IPV4_HEADER),
          layer: 'ip',
        },
      ],
    },
    {
      id: 'eth-out',
      title: 'Ethernet frames out',
      layer: 'eth',
      where: 'network',
      explain: `Each packet goes out in an Ethernet frame with a ${ETH_HEADER}-byte header (MAC addresses, EtherType 0x0800). On the cable each frame also costs a ${ETH_FCS}-byte FCS and ${ETH_PHY} bytes of preamble and gap, which no capture shows.`,
      bands: [
        { label: `Eth ${f.segments}×${ETH_HEADER}`, bytes: f.ethHeaders, layer: 'eth' },
        { label: `IP ${f.ipHeaders}`, bytes: f.ipHeaders, layer: 'ip' },
        { label: `TCP ${f.tcpHeaders}`, bytes: f.tcpHeaders, layer: 'tcp' },
        { label: `iSCSI ${iscsi}`, bytes: iscsi, layer: 'iscsi', inner: true },
      ],
      overhead: f.ethHeaders,
      payload,
      facts: [
        ['frames', String(f.segments)],
        ['bytes in frames (as captured)', String(f.frameBytes)],
        ['on the cable (+FCS, preamble, gap)', String(f.cableBytes)],
      ],
      hex: [{ label: 'Ethernet header (modelled)', bytes: synthEthHeader(), layer: 'eth' }],
    },
  ];
}

/** Back: the answer's PDUs down the target's TCP/IP/Ethernet in one stage, with the same model. */
export function returnStage(trip: Trip, addr: { initiator: string; target: string }, payload: number, back: readonly PduTraceEvent[]): Stage {
  const f = trip.framing;
  const headers = f.tcpHeaders + f.ipHeaders + f.ethHeaders;
  return {
    id: 'net-back',
    title: `Back on the wire (${f.segments} frames)`,
    layer: 'tcp',
    where: 'network',
    explain: `The target's ${trip.pdus.length} PDU(s) (${summarize(trip.pdus)}) go down its own TCP, IP and Ethernet layers: ${f.segments} segment(s), each with TCP ${TCP_HEADER} + IPv4 ${IPV4_HEADER} + Ethernet ${ETH_HEADER} bytes of headers, from ${addr.target} port ${trip.srcPort} to ${addr.initiator} port ${trip.dstPort}.`,
    bands: [
      { label: `Eth ${f.ethHeaders}`, bytes: f.ethHeaders, layer: 'eth' },
      { label: `IP ${f.ipHeaders}`, bytes: f.ipHeaders, layer: 'ip' },
      { label: `TCP ${f.tcpHeaders}`, bytes: f.tcpHeaders, layer: 'tcp' },
      { label: `iSCSI ${f.tcpPayload}`, bytes: f.tcpPayload, layer: 'iscsi', inner: true },
    ],
    overhead: headers,
    payload,
    trip,
    durationNs: back.length > 1 ? back.at(-1)!.timeNs - back[0]!.timeNs : undefined,
    timeNote: back.length > 1 ? `${back[0]!.opcodeName} → ${back.at(-1)!.opcodeName}, as the target sent them` : undefined,
    facts: [
      ['PDUs', summarize(trip.pdus)],
      ['on the cable (+FCS, preamble, gap)', String(f.cableBytes)],
    ],
    hex: [{ label: 'TCP header (first segment, modelled)', bytes: synthTcpHeader(trip.srcPort, trip.dstPort), layer: 'tcp' }],
  };
}

export function summarize(names: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const n of names) counts.set(n, (counts.get(n) ?? 0) + 1);
  return [...counts].map(([n, c]) => (c > 1 ? `${c}× ${n}` : n)).join(', ') || 'none';
}

export const totalBytes = (pdus: readonly PduTraceEvent[]): number => sum(pdus.map((p) => p.lengths.total));

function synthTcpHeader(src: number, dst: number): Uint8Array {
  const h = new Uint8Array(TCP_HEADER);
  const dv = new DataView(h.buffer);
  dv.setUint16(0, src);
  dv.setUint16(2, dst);
  dv.setUint32(4, 1);
  dv.setUint32(8, 1);
  h[12] = (TCP_HEADER / 4) << 4;
  h[13] = 0x18; // ACK | PSH
  dv.setUint16(14, 0xffff);
  return h;
}

function synthIpHeader(src: string, dst: string, totalLength: number): Uint8Array {
  const h = new Uint8Array(IPV4_HEADER);
  const dv = new DataView(h.buffer);
  h[0] = 0x45;
  dv.setUint16(2, totalLength);
  h[6] = 0x40; // don't fragment
  h[8] = 64;
  h[9] = 6;
  h.set(ipv4(src), 12);
  h.set(ipv4(dst), 16);
  let c = 0;
  for (let i = 0; i < IPV4_HEADER; i += 2) c += dv.getUint16(i);
  while (c > 0xffff) c = (c & 0xffff) + (c >>> 16);
  dv.setUint16(10, ~c & 0xffff);
  return h;
}

function ipv4(a: string): number[] {
  const parts = a
    .replace(/^::ffff:/, '')
    .split('.')
    .map(Number);
  return parts.length === 4 && parts.every((n) => n >= 0 && n < 256) ? parts : [0, 0, 0, 0];
}

function synthEthHeader(): Uint8Array {
  // Locally administered example MACs (02:...), EtherType IPv4.
  return new Uint8Array([0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00]);
}
