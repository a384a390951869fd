/**
 * The encapsulation stepper's model: one SCSI task (from the trace) walked along the data path, stage by stage,
 * each stage with the bytes it wraps around the previous layer's, its overhead, and the time it took (from the
 * trace's timestamps). TCP/IP/Ethernet are modelled for a standard 1500-byte MTU link: the lab runs on loopback,
 * where the kernel would use one 64 KiB segment, which teaches nothing about a real network.
 */
import type { PduTraceEvent, ScsiSummary, StoreTraceEvent } from '../../../shared/trace/schema.ts';
import { BHS_LENGTH } from '../../../shared/protocol/iscsi.ts';
import { decodeCdb } from '../../../shared/protocol/cdb.ts';

export type LayerId = 'app' | 'fs' | 'scsi' | 'iscsi' | 'tcp' | 'ip' | 'eth' | 'target' | 'cache' | 'store' | 'data';

/** Standard Ethernet numbers (IEEE 802.3, RFC 791, RFC 9293 + RFC 7323 timestamps as Linux sends them). */
export const ETH_HEADER = 14;
export const ETH_FCS = 4;
/** Preamble + SFD (8) and the inter-frame gap (12): on the wire, not in a capture. */
export const ETH_PHY = 20;
export const IP_HEADER = 20;
export const TCP_HEADER = 20;
export const TCP_TIMESTAMPS = 12;
export const MTU = 1500;
export const MSS = MTU - IP_HEADER - TCP_HEADER - TCP_TIMESTAMPS; // 1448

/** One coloured band in a stage's picture: a header, the wrapped payload, or a trailer. */
export interface Band {
  readonly label: string;
  readonly bytes: number;
  readonly layer: LayerId;
  /** True for the part that is the previous layer's whole output. */
  readonly inner?: boolean;
}

export interface HexBlock {
  readonly label: string;
  readonly bytes: Uint8Array;
  readonly layer: LayerId;
  /** Bytes the block stands for but does not show. */
  readonly more?: number;
}

export interface Stage {
  readonly id: string;
  readonly title: string;
  readonly layer: LayerId;
  readonly where: 'initiator' | 'network' | 'target';
  readonly explain: string;
  readonly bands: readonly Band[];
  /** Bytes this stage adds around what it carries. */
  readonly overhead: number;
  /** The application's payload the overhead is measured against. */
  readonly payload: number;
  /** Time this stage took, from trace timestamps (undefined when the trace cannot tell). */
  readonly durationNs?: number;
  readonly timeNote?: string;
  readonly facts: readonly (readonly [string, string])[];
  readonly hex: readonly HexBlock[];
}

export interface StepperInput {
  readonly pdus: readonly PduTraceEvent[];
  readonly scsi: ScsiSummary;
  readonly blockSize: number;
  readonly raw: (seq: number) => Uint8Array | undefined;
  readonly storeEvents: readonly StoreTraceEvent[];
}

interface CacheReportLike {
  policy?: string;
  mode?: string;
  ranges?: { lba: number; blocks: number; outcome: string }[];
  lookupMs?: number;
}

const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);
const headerBytes = (p: PduTraceEvent): number => p.lengths.total - p.lengths.data;

export function buildStages(input: StepperInput): Stage[] {
  const { pdus, scsi, blockSize } = input;
  const cmd = pdus.find((p) => p.opcode === 0x01) ?? pdus[0]!;
  const isWrite = cmd.fields.W === true || /^WRITE|COMPARE/.test(scsi.opcodeName);
  const blocks = scsi.blocks ?? 0;
  const edtl = typeof cmd.fields.ExpectedDataTransferLength === 'number' ? cmd.fields.ExpectedDataTransferLength : blocks * blockSize;
  const payload = edtl || blocks * blockSize;
  const lba = scsi.lba ?? 0;
  const i2t = pdus.filter((p) => p.direction === 'i2t');
  const t2i = pdus.filter((p) => p.direction === 't2i');
  const dataOut = pdus.filter((p) => p.opcode === 0x05);
  const r2ts = pdus.filter((p) => p.opcode === 0x31);
  const dataIn = pdus.filter((p) => p.opcode === 0x25);
  const response = pdus.find((p) => p.opcode === 0x21) ?? dataIn.find((p) => p.fields.S === true);
  const end = response ?? pdus.at(-1)!;
  const cmdRaw = input.raw(cmd.seq);

  // The stream the data travels in: i2t for writes (command + Data-Out), t2i for reads (Data-In + status).
  const dataDir = isWrite ? i2t : t2i;
  const wireBytes = sum(dataDir.map((p) => p.lengths.total));
  const iscsiHeaders = sum(dataDir.map(headerBytes));
  const segments = pduSegments(dataDir);
  const tcpOverhead = segments * (TCP_HEADER + TCP_TIMESTAMPS);
  const ipOverhead = segments * IP_HEADER;
  const ethOverhead = segments * (ETH_HEADER + ETH_FCS);
  const dataPdu = (isWrite ? dataOut[0] ?? cmd : dataIn[0]) ?? cmd;
  const firstDataRaw = input.raw(dataPdu.seq);
  const dataStart = BHS_LENGTH + dataPdu.lengths.ahs + dataPdu.lengths.headerDigest;
  const dataSample = firstDataRaw && dataPdu.lengths.data ? firstDataRaw.subarray(dataStart, Math.min(firstDataRaw.length, dataStart + Math.min(64, dataPdu.lengths.data))) : undefined;
  const dataHex: HexBlock[] = dataSample ? [{ label: `payload (first ${dataSample.length} bytes)`, bytes: dataSample, layer: 'data', more: payload - dataSample.length }] : [];

  const store = matchStore(input.storeEvents, scsi, isWrite, cmd.timeNs, end.timeNs);
  const cache = (store as unknown as { cache?: CacheReportLike } | undefined)?.cache;
  const tcp = cmd.tcp;
  const initiator = `${tcp.src}:${tcp.srcPort}`;
  const target = `${tcp.dst}:${tcp.dstPort}`;

  const stages: Stage[] = [];
  const verb = isWrite ? 'write' : 'read';

  stages.push({
    id: 'app', title: 'Application', layer: 'app', where: 'initiator',
    explain: `A program asks to ${verb} ${payload} bytes at byte offset ${lba * blockSize} of the disk. It knows nothing of SCSI or iSCSI: it hands over (or asks for) a buffer.`,
    bands: [{ label: `${payload} bytes of data`, bytes: payload, layer: 'data', inner: true }],
    overhead: 0, payload, facts: [['call', `${verb}(fd, buf, ${payload}) at offset ${lba * blockSize}`]], hex: isWrite ? dataHex : [],
    timeNote: 'before the target sees anything: not in the trace',
  });

  stages.push({
    id: 'fs', title: 'File system / block layer', layer: 'fs', where: 'initiator',
    explain: `The block layer turns the byte range into logical blocks: offset ${lba * blockSize} ÷ ${blockSize} = LBA ${lba}, ${payload} ÷ ${blockSize} = ${blocks} blocks. (On a file system, a file offset is first mapped to disk blocks and metadata I/O may follow; here the initiator writes the raw device.)`,
    bands: [{ label: `${blocks} × ${blockSize}-byte blocks`, bytes: payload, layer: 'data', inner: true }],
    overhead: 0, payload, facts: [['LBA', String(lba)], ['blocks', String(blocks)], ['block size', `${blockSize} bytes`]], hex: [],
  });

  const cdbBytes = cmdRaw ? cmdRaw.subarray(32, 48) : undefined;
  const cdbLen = cdbBytes ? decodeCdb(cdbBytes).cdbLength : 16;
  stages.push({
    id: 'scsi', title: `SCSI command: ${scsi.opcodeName}`, layer: 'scsi', where: 'initiator',
    explain: `The SCSI layer describes the I/O as a Command Descriptor Block: operation code, LBA, transfer length and flags (${scsi.fua ? 'FUA set' : 'FUA not set'}). The data travels separately; the CDB is ${cdbLen} bytes.`,
    bands: [{ label: `CDB ${cdbLen}`, bytes: cdbLen, layer: 'scsi' }, { label: `data ${payload}`, bytes: payload, layer: 'data', inner: true }],
    overhead: cdbLen, payload,
    facts: [['operation', scsi.opcodeName], ['LBA', String(lba)], ['TRANSFER LENGTH', `${blocks} blocks`], ['FUA', scsi.fua ? 'set' : 'not set']],
    hex: cdbBytes ? [{ label: 'CDB', bytes: cdbBytes.subarray(0, cdbLen), layer: 'scsi' }] : [],
  });

  const pduList = dataDir.map((p) => `${p.opcodeName} ${p.lengths.total} B`).slice(0, 6).join(', ') + (dataDir.length > 6 ? `, … (${dataDir.length} PDUs)` : '');
  const hd = sum(dataDir.map((p) => p.lengths.headerDigest + p.lengths.dataDigest));
  const pad = sum(dataDir.map((p) => p.lengths.padding));
  const ahs = sum(dataDir.map((p) => p.lengths.ahs));
  stages.push({
    id: 'iscsi', title: 'iSCSI PDUs', layer: 'iscsi', where: 'initiator',
    explain: isWrite
      ? `iSCSI puts the CDB in a 48-byte Basic Header Segment (SCSI Command PDU, ITT ${tagOf(cmd)}), then carries the data in ${dataOut.length ? `${dataOut.length} Data-Out PDU(s)${r2ts.length ? ` after ${r2ts.length} R2T(s)` : ''}` : 'the command itself (immediate data)'}, each with its own BHS. The ${cdbLen}-byte CDB sits inside the first BHS, so it is not counted twice.`
      : `iSCSI puts the CDB in a 48-byte Basic Header Segment (SCSI Command PDU, ITT ${tagOf(cmd)}); the target answers with ${dataIn.length} Data-In PDU(s), each with its own BHS${response && response.opcode === 0x21 ? ' and a SCSI Response' : ', the last carrying the status (S bit)'}.`,
    bands: [
      { label: `BHS ${dataDir.length}×48`, bytes: dataDir.length * BHS_LENGTH, layer: 'iscsi' },
      ...(ahs ? [{ label: `AHS ${ahs}`, bytes: ahs, layer: 'iscsi' as const }] : []),
      ...(hd ? [{ label: `digests ${hd}`, bytes: hd, layer: 'iscsi' as const }] : []),
      { label: `data ${payload}`, bytes: payload, layer: 'data', inner: true },
      ...(pad ? [{ label: `pad ${pad}`, bytes: pad, layer: 'iscsi' as const }] : []),
    ],
    // The CDB already counted above rides inside the first BHS.
    overhead: iscsiHeaders - cdbLen, payload,
    facts: [['PDUs carrying the data', pduList], ['header digest', cmd.headerDigest ? 'CRC32C' : 'none'], ['data digest', cmd.dataDigest ? 'CRC32C' : 'none'], ['bytes on the iSCSI stream', String(wireBytes)]],
    hex: cmdRaw ? [{ label: 'SCSI Command BHS', bytes: cmdRaw.subarray(0, BHS_LENGTH), layer: 'iscsi' }] : [],
    durationNs: isWrite && dataOut.length ? dataOut.at(-1)!.timeNs - cmd.timeNs : undefined,
    timeNote: isWrite && dataOut.length ? 'command to last Data-Out, as the target received them' : undefined,
  });

  const tcpHeader = synthTcpHeader(isWrite ? tcp.srcPort : tcp.dstPort, isWrite ? tcp.dstPort : tcp.srcPort);
  stages.push({
    id: 'tcp', title: `TCP segments (${segments})`, layer: 'tcp', where: 'network',
    explain: `TCP cuts the ${wireBytes}-byte iSCSI stream into segments of at most ${MSS} bytes (MSS for a ${MTU}-byte MTU with timestamps) and adds a ${TCP_HEADER + TCP_TIMESTAMPS}-byte header to each: ports, sequence and acknowledgement numbers, window. iSCSI PDUs do not line up with segments.`,
    bands: [{ label: `TCP ${segments}×${TCP_HEADER + TCP_TIMESTAMPS}`, bytes: tcpOverhead, layer: 'tcp' }, { label: `iSCSI ${wireBytes}`, bytes: wireBytes, layer: 'iscsi', inner: true }],
    overhead: tcpOverhead, payload,
    facts: [['ports', isWrite ? `${tcp.srcPort} → ${tcp.dstPort}` : `${tcp.dstPort} → ${tcp.srcPort}`], ['segments', String(segments)], ['MSS', `${MSS} bytes`]],
    hex: [{ label: 'TCP header (first segment, modelled)', bytes: tcpHeader, layer: 'tcp' }],
  });

  const ipHeader = synthIpHeader(isWrite ? tcp.src : tcp.dst, isWrite ? tcp.dst : tcp.src, Math.min(MSS, wireBytes) + TCP_HEADER + TCP_TIMESTAMPS + IP_HEADER);
  stages.push({
    id: 'ip', title: 'IP packets', layer: 'ip', where: 'network',
    explain: `Each segment becomes an IPv4 packet with a ${IP_HEADER}-byte header: source and destination address, protocol 6 (TCP), TTL, checksum.`,
    bands: [{ label: `IP ${segments}×${IP_HEADER}`, bytes: ipOverhead, layer: 'ip' }, { label: `TCP ${tcpOverhead}`, bytes: tcpOverhead, layer: 'tcp' }, { label: `iSCSI ${wireBytes}`, bytes: wireBytes, layer: 'iscsi', inner: true }],
    overhead: ipOverhead, payload,
    facts: [['addresses', isWrite ? `${tcp.src} → ${tcp.dst}` : `${tcp.dst} → ${tcp.src}`], ['packets', String(segments)]],
    hex: [{ label: 'IPv4 header (modelled)', bytes: ipHeader, layer: 'ip' }],
  });

  stages.push({
    id: 'eth', title: 'Ethernet frames', layer: 'eth', where: 'network',
    explain: `Each packet goes out in an Ethernet frame: ${ETH_HEADER}-byte header (MAC addresses, EtherType 0x0800) and a ${ETH_FCS}-byte FCS trailer; on the cable each frame also costs ${ETH_PHY} bytes of preamble and inter-frame gap.`,
    bands: [
      { label: `Eth ${segments}×${ETH_HEADER}`, bytes: segments * ETH_HEADER, layer: 'eth' },
      { label: `IP ${ipOverhead}`, bytes: ipOverhead, layer: 'ip' },
      { label: `TCP ${tcpOverhead}`, bytes: tcpOverhead, layer: 'tcp' },
      { label: `iSCSI ${wireBytes}`, bytes: wireBytes, layer: 'iscsi', inner: true },
      { label: `FCS ${segments}×${ETH_FCS}`, bytes: segments * ETH_FCS, layer: 'eth' },
    ],
    overhead: ethOverhead, payload,
    facts: [['frames', String(segments)], ['bytes in frames', String(wireBytes + tcpOverhead + ipOverhead + ethOverhead)], ['on the cable (+preamble, gap)', String(wireBytes + tcpOverhead + ipOverhead + ethOverhead + segments * ETH_PHY)]],
    hex: [{ label: 'Ethernet header (modelled)', bytes: synthEthHeader(), layer: 'eth' }],
  });

  const firstAfterCmd = (isWrite ? r2ts[0] ?? dataOut[0] : dataIn[0]) ?? end;
  stages.push({
    id: 'target', title: 'Target receives the command', layer: 'target', where: 'target',
    explain: `The target (${target}) reads the 48-byte BHS from the TCP stream, ${cmd.headerDigest ? 'checks the header digest, ' : ''}checks CmdSN ${String(cmd.fields.CmdSN ?? '?')} against its window, decodes the CDB and ${isWrite ? (r2ts.length ? 'sends an R2T asking for the data' : 'gathers the data that follows') : 'starts the read'}.`,
    bands: [{ label: 'BHS 48', bytes: 48, layer: 'iscsi' }, { label: `CDB ${cdbLen}`, bytes: cdbLen, layer: 'scsi' }],
    overhead: 0, payload,
    durationNs: firstAfterCmd !== cmd ? firstAfterCmd.timeNs - cmd.timeNs : undefined,
    timeNote: `command received → ${firstAfterCmd.opcodeName}`,
    facts: [['from', initiator], ['ITT', tagOf(cmd)], ['CmdSN', String(cmd.fields.CmdSN ?? '')], ['received at', `${(cmd.timeNs / 1e9).toFixed(6)} s`]],
    hex: [],
  });

  stages.push({
    id: 'cache', title: 'Cache lookup', layer: 'cache', where: 'target',
    explain: cache
      ? `The block cache (${cache.policy ?? '?'}, ${cache.mode ?? '?'}) looks up LBAs ${lba}–${lba + blocks - 1}: ${(cache.ranges ?? []).map((r) => `${r.lba}+${r.blocks} ${r.outcome}`).join(', ') || 'no ranges reported'}.`
      : 'No cache report in this trace: the target went straight to the store (or its cache does not report per I/O yet).',
    bands: [{ label: `${blocks} blocks looked up`, bytes: payload, layer: 'cache', inner: true }],
    overhead: 0, payload,
    durationNs: cache?.lookupMs !== undefined ? cache.lookupMs * 1e6 : undefined,
    facts: cache ? [['policy', cache.policy ?? '?'], ['mode', cache.mode ?? '?']] : [],
    hex: [],
  });

  stages.push({
    id: 'store', title: `Store ${verb}`, layer: 'store', where: 'target',
    explain: store
      ? `The LUN's backing file is ${isWrite ? 'written with pwrite' : 'read with pread'} at byte ${store.lba * blockSize} (${store.blocks} blocks)${store.fua ? ', then fdatasync for FUA' : ''}.`
      : `No store event matched this command in the trace (the page may have joined after it, or a cache answered).`,
    bands: [{ label: `${payload} bytes ${isWrite ? 'to' : 'from'} the file`, bytes: payload, layer: 'store', inner: true }],
    overhead: 0, payload,
    durationNs: store?.durationNs,
    timeNote: store ? 'measured by the store tap' : undefined,
    facts: store ? [['kind', store.kind], ['LBA', String(store.lba)], ['blocks', String(store.blocks)], ['FUA', store.fua ? 'yes' : 'no'], ...(store.error ? [['error', store.error] as const] : [])] : [],
    hex: isWrite ? [] : dataHex,
  });

  const backPdus = isWrite ? t2i.filter((p) => p.opcode === 0x21) : t2i;
  const backStart = isWrite ? (dataOut.at(-1) ?? cmd) : (dataIn[0] ?? cmd);
  stages.push({
    id: 'data', title: isWrite ? 'Status back (SCSI Response)' : 'Data-In back', layer: 'iscsi', where: 'target',
    explain: isWrite
      ? `With the data stored, the target sends a SCSI Response PDU (48-byte BHS, no data) with status ${scsi.statusName ?? '?'}${scsi.sense ? ` and sense ${scsi.sense.keyName}: ${scsi.sense.text}` : ''}.`
      : `The target wraps the blocks in ${dataIn.length} Data-In PDU(s) (48-byte BHS each, DataSN, BufferOffset) and sends them back down the same TCP/IP/Ethernet layers; status ${scsi.statusName ?? '?'} ${response?.opcode === 0x21 ? 'in a SCSI Response' : 'rides in the last Data-In (S bit)'}.`,
    bands: isWrite
      ? [{ label: 'BHS 48', bytes: 48, layer: 'iscsi' }]
      : [{ label: `BHS ${dataIn.length}×48`, bytes: dataIn.length * 48, layer: 'iscsi' }, { label: `data ${payload}`, bytes: payload, layer: 'data', inner: true }],
    overhead: sum(backPdus.map(headerBytes)), payload,
    durationNs: end.timeNs - backStart.timeNs,
    timeNote: `${backStart.opcodeName} → ${end.opcodeName}`,
    facts: [['PDUs', backPdus.map((p) => p.opcodeName).slice(0, 4).join(', ') + (backPdus.length > 4 ? ', …' : '')], ['status', scsi.statusName ?? '?']],
    hex: response ? rawHead(input.raw(response.seq), 'Response BHS') : [],
  });

  stages.push({
    id: 'done', title: 'Back at the application', layer: 'app', where: 'initiator',
    explain: `The initiator matches ITT ${tagOf(cmd)} to the waiting request and completes the ${verb}: ${payload} bytes ${isWrite ? 'written' : 'read'} with status ${scsi.statusName ?? '?'}.`,
    bands: [{ label: `${payload} bytes`, bytes: payload, layer: 'data', inner: true }],
    overhead: 0, payload,
    durationNs: end.latencyNs ?? end.timeNs - cmd.timeNs,
    timeNote: 'whole command, as the target saw it (command in → status out)',
    facts: [['status', scsi.statusName ?? '?'], ['total iSCSI header bytes (both ways)', String(sum(pdus.map(headerBytes)))], ['PDUs in this task', String(pdus.length)]],
    hex: [],
  });
  return stages;
}

/** TCP segments for a run of PDUs sent back to back (one stream; a PDU may span segments). */
function pduSegments(pdus: readonly PduTraceEvent[]): number {
  const bytes = sum(pdus.map((p) => p.lengths.total));
  return Math.max(1, Math.ceil(bytes / MSS));
}

function matchStore(events: readonly StoreTraceEvent[], s: ScsiSummary, isWrite: boolean, fromNs: number, toNs: number): StoreTraceEvent | undefined {
  const kind = isWrite ? 'write' : 'read';
  for (let i = events.length - 1; i >= 0; i--) {
    const e = events[i]!;
    if (e.timeNs < fromNs) break;
    if (e.timeNs > toNs + 1e6) continue;
    if (e.kind === kind && e.lun === (s.lun ?? 0) && e.lba === s.lba) return e;
  }
  return undefined;
}

const tagOf = (p: PduTraceEvent): string => {
  const v = p.fields.InitiatorTaskTag;
  return typeof v === 'number' ? `0x${v.toString(16).padStart(8, '0')}` : '?';
};

function rawHead(raw: Uint8Array | undefined, label: string): HexBlock[] {
  return raw ? [{ label, bytes: raw.subarray(0, BHS_LENGTH), layer: 'iscsi' }] : [];
}

function synthTcpHeader(src: number, dst: number): Uint8Array {
  const h = new Uint8Array(TCP_HEADER + TCP_TIMESTAMPS);
  const dv = new DataView(h.buffer);
  dv.setUint16(0, src);
  dv.setUint16(2, dst);
  dv.setUint32(4, 1);
  dv.setUint32(8, 1);
  h[12] = ((TCP_HEADER + TCP_TIMESTAMPS) / 4) << 4;
  h[13] = 0x18; // ACK | PSH
  dv.setUint16(14, 0xffff);
  h.set([1, 1, 8, 10], TCP_HEADER); // NOP NOP, timestamps option (kind 8, length 10)
  return h;
}

function synthIpHeader(src: string, dst: string, totalLength: number): Uint8Array {
  const h = new Uint8Array(IP_HEADER);
  const dv = new DataView(h.buffer);
  h[0] = 0x45;
  dv.setUint16(2, totalLength);
  h[6] = 0x40; // don't fragment
  h[8] = 64;
  h[9] = 6;
  h.set(ipv4(src), 12);
  h.set(ipv4(dst), 16);
  let c = 0;
  for (let i = 0; i < IP_HEADER; i += 2) c += dv.getUint16(i);
  while (c > 0xffff) c = (c & 0xffff) + (c >>> 16);
  dv.setUint16(10, ~c & 0xffff);
  return h;
}

function ipv4(a: string): number[] {
  const parts = a.split('.').map(Number);
  return parts.length === 4 && parts.every((n) => n >= 0 && n < 256) ? parts : [0, 0, 0, 0];
}

function synthEthHeader(): Uint8Array {
  // Locally administered example MACs (02:...), EtherType IPv4.
  return new Uint8Array([0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00]);
}
