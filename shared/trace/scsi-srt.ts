/**
 * SCSI service response time (SRT) per opcode, the way Wireshark's `tshark -z scsi,srt,0` counts it: a call is a
 * SCSI Command matched to the PDU that carried its status (SCSI Response, or a SCSI Data-In with the S bit) by
 * identity (connection + Initiator Task Tag, RFC 7143 11.2.1.8), never by time; its SRT is the time between the two.
 * Commands without a status in the window, and statuses whose command fell out of it, are not calls.
 *
 * One Wireshark behaviour is reproduced on purpose, so the counts equal tshark's for the same capture: when the
 * status rides on a Data-In whose standard INQUIRY data was cut short by the command's allocation length (libiscsi
 * asks for 64 bytes first; the lab's answer holds 74), Wireshark's INQUIRY dissector stops with "SCSI transfer limited
 * due to allocation_length too small" before it reads the status, and the call never reaches its SRT table. Such
 * calls are counted apart (`tsharkSkips`) when the raw bytes are at hand. Likewise a SCSI Response that carries
 * sense data (a CHECK CONDITION, e.g. the unit attention a new nexus gets): Wireshark 4.0's iSCSI dissector decodes
 * the sense itself and never hands that response to the SCSI layer, so no SRT is recorded for it.
 */
import type { PduTraceEvent } from './schema.ts';

const OP_SCSI_COMMAND = 0x01;
const OP_SCSI_RESPONSE = 0x21;
const OP_SCSI_DATA_IN = 0x25;

export interface SrtRow {
  /** SCSI operation code (Wireshark's "Index"). */
  readonly opcode: number;
  /** T10 name: "READ(16)". */
  readonly name: string;
  readonly calls: number;
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
const CDB_OFFSET = 32;
const EVPD_BIT = 0x01;
/** Standard INQUIRY data: byte 4 is the ADDITIONAL LENGTH (n - 4), SPC-4 6.6.2. */
const INQUIRY_ADDITIONAL_LENGTH = 4;

export interface SrtOptions {
  /** Only commands sent at or after this time (ns, trace clock). */
  readonly sinceNs?: number;
  /** A PDU's wire bytes by seq (BHS first), when kept: lets the table skip what tshark cannot count. */
  readonly raw?: (seq: number) => Uint8Array | undefined;
}

export interface SrtTable {
  readonly rows: SrtRow[];
  /** Calls tshark's table leaves out (see above). */
  readonly tsharkSkips: number;
}

/** The status came on a Data-In holding standard INQUIRY data shorter than its own ADDITIONAL LENGTH says. */
function truncatedInquiry(cmd: Uint8Array | undefined, status: PduTraceEvent, raw: Uint8Array | undefined): boolean {
  if (!cmd || !raw || status.opcode !== OP_SCSI_DATA_IN || cmd.length <= CDB_OFFSET + 1) return false;
  if (cmd[CDB_OFFSET] !== OP_INQUIRY || (cmd[CDB_OFFSET + 1]! & EVPD_BIT) !== 0) return false;
  const start = status.lengths.bhs + status.lengths.ahs + status.lengths.headerDigest;
  const data = status.lengths.data;
  if (data <= INQUIRY_ADDITIONAL_LENGTH || raw.length < start + INQUIRY_ADDITIONAL_LENGTH + 1) return false;
  return data < INQUIRY_ADDITIONAL_LENGTH + 1 + raw[start + INQUIRY_ADDITIONAL_LENGTH]!;
}

function itt(p: PduTraceEvent): number | undefined {
  const v = p.fields.InitiatorTaskTag;
  return typeof v === 'number' ? v : undefined;
}

/** True for the PDU that ends a SCSI task with its status. */
export function carriesStatus(p: PduTraceEvent): boolean {
  return p.direction === 't2i' && (p.opcode === OP_SCSI_RESPONSE || (p.opcode === OP_SCSI_DATA_IN && p.fields.S === true));
}

/** The SRT table of these PDUs (in seq order), one row per opcode, ordered by opcode as tshark prints it. */
export function scsiSrt(pdus: Iterable<PduTraceEvent>, opts: SrtOptions = {}): SrtTable {
  const sinceNs = opts.sinceNs ?? -Infinity;
  let tsharkSkips = 0;
  const open = new Map<string, { opcode: number; name: string; timeNs: number; seq: number }>();
  const times = new Map<number, { name: string; ns: number[] }>();
  for (const p of pdus) {
    const tag = itt(p);
    if (tag === undefined) continue;
    const key = `${p.connectionId}:${tag}`;
    if (p.opcode === OP_SCSI_COMMAND && p.direction === 'i2t' && p.scsi) {
      // A reused tag replaces the older, unanswered command (as a dissector matching the newest request would).
      open.set(key, { opcode: p.scsi.opcode, name: p.scsi.opcodeName, timeNs: p.timeNs, seq: p.seq });
    } else if (carriesStatus(p)) {
      const cmd = open.get(key);
      if (!cmd) continue;
      open.delete(key);
      if (cmd.timeNs < sinceNs) continue;
      if (p.opcode === OP_SCSI_RESPONSE && p.lengths.data > 0) {
        tsharkSkips++;
        continue;
      }
      if (cmd.opcode === OP_INQUIRY && opts.raw && truncatedInquiry(opts.raw(cmd.seq), p, opts.raw(p.seq))) {
        tsharkSkips++;
        continue;
      }
      let t = times.get(cmd.opcode);
      if (!t) times.set(cmd.opcode, (t = { name: cmd.name, ns: [] }));
      t.ns.push(Math.max(0, p.timeNs - cmd.timeNs));
    }
  }
  const rows = [...times.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([opcode, { name, ns }]) => {
      const sorted = ns.slice().sort((a, b) => a - b);
      const sum = sorted.reduce((a, b) => a + b, 0);
      return {
        opcode, name, calls: sorted.length, minNs: sorted[0]!, maxNs: sorted.at(-1)!, avgNs: sum / sorted.length, sumNs: sum,
        p50Ns: percentile(sorted, 50), p90Ns: percentile(sorted, 90), p99Ns: percentile(sorted, 99),
      };
    });
  return { rows, tsharkSkips };
}
