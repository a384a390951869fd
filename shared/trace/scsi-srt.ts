/**
 * SCSI service response time (SRT) per opcode, the way Wireshark's `tshark -z scsi,srt,0` counts it: a call is a
 * SCSI Command matched to the PDU that carried its status (SCSI Response, or a SCSI Data-In with the S bit) by
 * identity (connection + Initiator Task Tag, RFC 7143 11.2.1.8), never by time; its SRT is the time between the two.
 * Commands without a status in the window, and statuses whose command fell out of it, are not calls.
 *
 * The one place for these rules: `SrtAccumulator` works on bytes (the capture indexer and the live ring's
 * /api/trace/srt feed it, server/capture/srt.ts), `scsiSrt` on trace events (the UI's table of what it holds).
 *
 * Two Wireshark behaviours are reproduced on purpose, so the counts equal tshark's for the same capture, and the
 * calls they leave out are counted apart:
 * - a SCSI Response that carries sense data (a CHECK CONDITION, e.g. the unit attention a new nexus gets):
 *   Wireshark 4.0's iSCSI dissector decodes the sense itself and never hands that response to the SCSI layer;
 * - a status riding on a Data-In whose INQUIRY data Wireshark's dissector cannot read to the end, so it stops before
 *   it reads the status: standard data cut by the allocation length (libiscsi and qemu ask for 64 bytes first) or
 *   shorter than the SPC-3 layout it always reads through the 8th version descriptor (74 bytes: tgt's full answer
 *   holds 66), "SCSI transfer limited due to allocation_length too small". A VPD page cut shorter than its PAGE
 *   LENGTH (qemu asks for 64 bytes of the Device Identification page first) is marked malformed but still counted:
 *   tshark's SRT tap has its response by then (checked against tgt + qemu captures, Wireshark 4.0.17).
 */
import type { PduTraceEvent } from './schema.ts';
import { IscsiOpcode } from '../protocol/iscsi-opcodes.ts';

const OP_SCSI_DATA_IN = 0x25;

export interface SrtRow {
  /** SCSI operation code (Wireshark's "Index"). */
  readonly opcode: number;
  /** T10 name: "READ(16)". */
  readonly name: string;
  readonly calls: number;
  /** Commands answered with sense data: not in `calls` (tshark leaves them out too). */
  readonly withSense: number;
  /** INQUIRYs whose status came on data tshark's dissector cannot read to the end (see above): not in `calls` either. */
  readonly truncatedInquiry: number;
  readonly minNs: number;
  readonly maxNs: number;
  readonly avgNs: number;
  readonly sumNs: number;
  /** Nearest-rank percentiles (Wireshark has none: these are the lab's addition). */
  readonly p50Ns: number;
  readonly p90Ns: number;
  readonly p99Ns: number;
}

/** Nearest-rank percentile of ascending values. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

const OP_INQUIRY = 0x12;
const EVPD_BIT = 0x01;
/** Standard INQUIRY data: byte 4 is the ADDITIONAL LENGTH (n - 4), SPC-4 6.6.2. */
const INQUIRY_ADDITIONAL_LENGTH = 4;
/** Wireshark 4.0 reads standard INQUIRY data through VERSION DESCRIPTOR 8 (bytes 72-73), however long the data says it is. */
const WIRESHARK_STANDARD_INQUIRY_BYTES = 74;
/** Bytes of the data segment the rule needs. */
export const INQUIRY_HEAD_BYTES = INQUIRY_ADDITIONAL_LENGTH + 1;
/** Response times kept per opcode for percentiles; beyond it, a uniform sample (reservoir) stands in. */
const SAMPLE_CAP = 100_000;

/**
 * The status came on a Data-In holding standard INQUIRY data that Wireshark's dissector reads past its end (see above).
 * `cdb`: the command's CDB (its first two bytes suffice); `dataLength`: the Data-In's DataSegmentLength;
 * `data`: the start of its data segment (INQUIRY_HEAD_BYTES suffice).
 */
export function standardInquiryTsharkCannotRead(cdb: Uint8Array, dataLength: number, data: Uint8Array): boolean {
  if (cdb.length < 2 || cdb[0] !== OP_INQUIRY || (cdb[1]! & EVPD_BIT) !== 0) return false;
  if (dataLength <= INQUIRY_ADDITIONAL_LENGTH || data.length <= INQUIRY_ADDITIONAL_LENGTH) return false;
  return dataLength < WIRESHARK_STANDARD_INQUIRY_BYTES || dataLength < INQUIRY_ADDITIONAL_LENGTH + 1 + data[INQUIRY_ADDITIONAL_LENGTH]!;
}

/** How a task ended, as the accumulator needs it. */
interface SrtStatus {
  readonly timeNs: number;
  /** A SCSI Response with a data segment (sense data). */
  readonly withSense: boolean;
  /** For a status on a Data-In: its DataSegmentLength and the first bytes of its data (for the INQUIRY rule). */
  readonly dataIn?: { readonly length: number; readonly head: Uint8Array };
}

interface Acc {
  name: string;
  calls: number;
  withSense: number;
  truncatedInquiry: number;
  min: number;
  max: number;
  sum: number;
  samples: number[];
}

/** Commands and statuses in, one row per opcode out. Keys name a task: connection + ITT. */
export class SrtAccumulator {
  private readonly open = new Map<string, { cdb: Uint8Array; name: string; timeNs: number }>();
  private readonly byOpcode = new Map<number, Acc>();

  /** `cdb` is kept (a view is fine only if its bytes outlive the command: pass a copy of the first 2 bytes otherwise). */
  command(key: string, cdb: Uint8Array, name: string, timeNs: number): void {
    // A reused tag replaces the older, unanswered command (as a dissector matching the newest request would).
    this.open.set(key, { cdb, name, timeNs });
  }

  /** The task's status; false when no command of this key is open (not a call). `sinceNs` drops older commands. */
  status(key: string, s: SrtStatus, sinceNs = -Infinity): boolean {
    const cmd = this.open.get(key);
    if (!cmd) return false;
    this.open.delete(key);
    if (cmd.timeNs < sinceNs) return true;
    const opcode = cmd.cdb[0]!;
    let a = this.byOpcode.get(opcode);
    if (!a) this.byOpcode.set(opcode, (a = { name: cmd.name, calls: 0, withSense: 0, truncatedInquiry: 0, min: Infinity, max: 0, sum: 0, samples: [] }));
    if (s.withSense) {
      a.withSense++;
      return true;
    }
    if (s.dataIn && standardInquiryTsharkCannotRead(cmd.cdb, s.dataIn.length, s.dataIn.head)) {
      a.truncatedInquiry++;
      return true;
    }
    const srt = Math.max(0, s.timeNs - cmd.timeNs);
    a.calls++;
    a.min = Math.min(a.min, srt);
    a.max = Math.max(a.max, srt);
    a.sum += srt;
    if (a.samples.length < SAMPLE_CAP) a.samples.push(srt);
    else {
      // Reservoir sampling: every response time so far has the same chance to be in the sample.
      const j = Math.floor(Math.random() * a.calls);
      if (j < SAMPLE_CAP) a.samples[j] = srt;
    }
    return true;
  }

  /** One row per opcode seen with a status (rows of only left-out calls included), ordered by opcode as tshark prints. */
  rows(): SrtRow[] {
    return [...this.byOpcode.entries()]
      .sort((x, y) => x[0] - y[0])
      .map(([opcode, a]): SrtRow => {
        const s = a.samples.slice().sort((x, y) => x - y);
        return {
          opcode,
          name: a.name,
          calls: a.calls,
          withSense: a.withSense,
          truncatedInquiry: a.truncatedInquiry,
          minNs: a.calls ? a.min : 0,
          maxNs: a.max,
          avgNs: a.calls ? a.sum / a.calls : 0,
          sumNs: a.sum,
          p50Ns: percentile(s, 50),
          p90Ns: percentile(s, 90),
          p99Ns: percentile(s, 99),
        };
      });
  }
}

export interface SrtTable {
  /** Opcodes with at least one call (tshark lists no others). */
  readonly rows: SrtRow[];
  /** Calls tshark's table leaves out (see above). */
  readonly tsharkSkips: number;
}

/** The table tshark would print for these rows, with what it leaves out summed. */
export function asTsharkTable(rows: readonly SrtRow[]): SrtTable {
  return { rows: rows.filter((r) => r.calls > 0), tsharkSkips: rows.reduce((n, r) => n + r.withSense + r.truncatedInquiry, 0) };
}

interface SrtOptions {
  /** Only commands sent at or after this time (ns, trace clock). */
  readonly sinceNs?: number;
  /** A PDU's wire bytes by seq (BHS first), when kept: lets the table skip what tshark cannot count. */
  readonly raw?: (seq: number) => Uint8Array | undefined;
}

const CDB_OFFSET = 32;

function itt(p: PduTraceEvent): number | undefined {
  const v = p.fields.InitiatorTaskTag;
  return typeof v === 'number' ? v : undefined;
}

/** True for the PDU that ends a SCSI task with its status. */
export function carriesStatus(p: PduTraceEvent): boolean {
  return p.direction === 't2i' && (p.opcode === IscsiOpcode.ScsiResponse || (p.opcode === OP_SCSI_DATA_IN && p.fields.S === true));
}

/** The SRT table of these PDU events (in seq order). The INQUIRY rule applies where `raw` has both PDUs' bytes. */
export function scsiSrt(pdus: Iterable<PduTraceEvent>, opts: SrtOptions = {}): SrtTable {
  const acc = new SrtAccumulator();
  // Raw bytes are asked only for INQUIRY commands and their answers (the UI fetches them on demand).
  const inquiries = new Set<string>();
  for (const p of pdus) {
    const tag = itt(p);
    if (tag === undefined) continue;
    const key = `${p.connectionId}:${tag}`;
    if (p.opcode === IscsiOpcode.ScsiCommand && p.direction === 'i2t' && p.scsi) {
      // The event names only the opcode; an INQUIRY's EVPD bit comes from its raw bytes. A one-byte CDB turns the
      // INQUIRY rule off when they are not at hand.
      const raw = p.scsi.opcode === OP_INQUIRY ? opts.raw?.(p.seq) : undefined;
      if (p.scsi.opcode === OP_INQUIRY) inquiries.add(key);
      else inquiries.delete(key);
      const cdb = raw && raw.length > CDB_OFFSET + 1 ? raw.subarray(CDB_OFFSET, CDB_OFFSET + 2) : Uint8Array.of(p.scsi.opcode);
      acc.command(key, cdb, p.scsi.opcodeName, p.timeNs);
    } else if (carriesStatus(p)) {
      const withSense = p.opcode === IscsiOpcode.ScsiResponse && p.lengths.data > 0;
      const raw = p.opcode === OP_SCSI_DATA_IN && inquiries.delete(key) ? opts.raw?.(p.seq) : undefined;
      const start = p.lengths.bhs + p.lengths.ahs + p.lengths.headerDigest;
      const dataIn = raw ? { length: p.lengths.data, head: raw.subarray(start, start + INQUIRY_HEAD_BYTES) } : undefined;
      acc.status(key, { timeNs: p.timeNs, withSense, dataIn }, opts.sinceNs);
    }
  }
  return asTsharkTable(acc.rows());
}
