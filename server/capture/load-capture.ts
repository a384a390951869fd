/**
 * A capture file of any format the lab reads, whole and in memory: pcapng or classic pcap (read-capture.ts) or this
 * lab's JSON Lines trace with raw bytes, recognised by its first bytes; its iSCSI PDUs for replay. Uploads of any
 * size go through the on-disk index instead (index-capture.ts); both hand on the same CapturePdu.
 */
import { readCapture, type CaptureResult } from './read-capture.ts';
import { CaptureFormatError } from './packet-file.ts';
import { pduFromWire, type CapturePdu } from './capture-pdu.ts';
import { parseJsonl, JsonlFormatError, type ParsedJsonl } from '../trace/jsonl.ts';

export type CaptureFormat = 'pcapng' | 'pcap' | 'jsonl';

/** Not a file the lab reads as a capture, or a damaged one: the user's mistake, said in the message. */
export class UnreadableCaptureError extends Error {}
/** A readable capture without a single iSCSI PDU: the message says what it holds instead. */
export class NoIscsiError extends Error {}

const PCAPNG_MAGIC = 0x0a0d0d0a;
const PCAP_MAGICS = new Set([0xa1b2c3d4, 0xa1b23c4d, 0xd4c3b2a1, 0x4d3cb2a1]);

/** pcapng, pcap or JSON Lines, by the first bytes. */
export function detectFormat(file: Uint8Array): CaptureFormat {
  if (file.length >= 4) {
    const magic = new DataView(file.buffer, file.byteOffset, 4).getUint32(0, false);
    if (magic === PCAPNG_MAGIC) return 'pcapng';
    if (PCAP_MAGICS.has(magic)) return 'pcap';
  }
  let i = 0;
  if (file[0] === 0xef && file[1] === 0xbb && file[2] === 0xbf) i = 3; // UTF-8 BOM
  while (i < file.length && (file[i] === 0x20 || file[i] === 0x0a || file[i] === 0x0d || file[i] === 0x09)) i++;
  if (file[i] === 0x7b) return 'jsonl'; // '{'
  throw new UnreadableCaptureError("not a capture: expected pcapng, pcap or this lab's JSON Lines trace");
}

/** A capture file decoded as what it is: this lab's JSON Lines trace, or the packets of a pcap/pcapng file. */
export type DecodedCapture =
  { readonly format: 'jsonl'; readonly jsonl: ParsedJsonl } | { readonly format: 'pcapng' | 'pcap'; readonly capture: CaptureResult };

/** Detects and parses a capture file; any format mistake is an UnreadableCaptureError saying what is wrong. */
export function decodeCapture(file: Uint8Array): DecodedCapture {
  const format = detectFormat(file);
  try {
    return format === 'jsonl' ? { format, jsonl: parseJsonl(new TextDecoder().decode(file)) } : { format, capture: readCapture(file) };
  } catch (err) {
    if (err instanceof JsonlFormatError) throw new UnreadableCaptureError(`bad JSON Lines trace: ${err.message}`);
    if (err instanceof CaptureFormatError) throw new UnreadableCaptureError(`bad ${format} file: ${err.message}`);
    throw err;
  }
}

/** A capture's iSCSI PDUs, read from a file of any format (loadCapture) or from an indexed upload. */
export interface LoadedCapture {
  readonly format: CaptureFormat;
  readonly pdus: CapturePdu[];
  readonly warnings: string[];
}

/** The iSCSI PDUs of a capture file, whatever its format. */
export function loadCapture(file: Uint8Array): LoadedCapture {
  const read = decodeCapture(file);
  const format = read.format;
  if (read.format === 'jsonl') {
    const parsed = read.jsonl;
    const pdus: CapturePdu[] = [];
    const warnings: string[] = [];
    let withoutRaw = 0;
    for (const e of parsed.events) {
      if (e.type !== 'pdu') continue;
      const raw = parsed.raw.get(e.seq);
      const p =
        raw && pduFromWire(raw, { index: e.seq, direction: e.direction, connectionId: e.connectionId, headerDigest: e.headerDigest, dataDigest: e.dataDigest });
      if (p) pdus.push(p);
      else withoutRaw++;
    }
    if (pdus.length === 0 && withoutRaw > 0) {
      throw new UnreadableCaptureError('this JSON Lines trace carries no raw PDU bytes (rawHex): export it with raw bytes, or as pcapng, to replay it');
    }
    if (withoutRaw > 0) warnings.push(`${withoutRaw} PDU lines carry no raw bytes; commands they belong to are skipped or incomplete`);
    return { format, pdus, warnings };
  }
  const c = read.capture;
  if (c.pdus.length === 0) throw new NoIscsiError(noIscsiReason(c));
  return { format, pdus: c.pdus, warnings: c.warnings };
}

/** Why a pcap/pcapng file yielded no iSCSI PDU, in the terms a user can check. */
export function noIscsiReason(c: CaptureResult): string {
  if (c.packets === 0) return 'the capture holds no packets';
  if (c.tcpPackets === 0) return `none of the capture's ${c.packets} packets is TCP over IPv4 or IPv6 on a link type this reader knows`;
  return `no iSCSI PDUs among the capture's ${c.packets} packets (${c.tcpPackets} TCP): no connection on port 3260, and none whose bytes look like iSCSI`;
}
