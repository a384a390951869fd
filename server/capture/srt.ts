/**
 * Service response time per SCSI opcode, as `tshark -z scsi,srt,0` reports it: from the SCSI Command PDU to the PDU
 * that carries its status (SCSI Response, or a Data-In with the S bit, RFC 7143 11.7.3), tasks matched by
 * connection and Initiator Task Tag. Plus throughput and IOPS per time bucket (data bytes each way, commands
 * completed), and CSV for a spreadsheet. What counts as a call, and what tshark leaves out (sense data, cut INQUIRY
 * data), is shared/trace/scsi-srt.ts's. Fed PDU by PDU in capture order, so it runs inside the capture indexer.
 */
import { scsiOpcodeName } from '../../shared/protocol/scsi-opcodes.ts';
import { SrtAccumulator } from '../../shared/trace/scsi-srt.ts';
import type { CaptureStats, RateBucket } from '../../shared/api/capture-stats.ts';
import type { SrtRow } from '../../shared/trace/scsi-srt.ts';

export type { CaptureStats, RateBucket, SrtRow };

const OP_SCSI_COMMAND = 0x01;
const OP_DATA_OUT = 0x05;
const OP_SCSI_RESPONSE = 0x21;
const OP_DATA_IN = 0x25;
const DATA_IN_STATUS = 0x01;
const CDB_OFFSET = 32;
const ITT_OFFSET = 16;
export const DEFAULT_BUCKET_NS = 1_000_000_000;
const NO_DATA = new Uint8Array(0);

interface StatsPdu {
  readonly connectionId: number;
  /** The BHS; a SCSI Command's is kept (as a view) until its status arrives. */
  readonly bhs: Uint8Array;
  readonly timeNs: number;
  /** The start of the data segment (5 bytes suffice), for a SCSI Data-In: the INQUIRY rule of scsi-srt.ts. */
  readonly dataHead?: Uint8Array;
}

/** Rows are per opcode, as tshark's are: service-action opcodes (SERVICE ACTION IN(16), ...) keep one row. */
const names: string[] = [];
const opcodeName = (opcode: number): string => (names[opcode] ??= scsiOpcodeName(Uint8Array.of(opcode)).replace(/ SA 0x00$/, ''));
const itt = (bhs: Uint8Array): number => ((bhs[ITT_OFFSET]! << 24) | (bhs[ITT_OFFSET + 1]! << 16) | (bhs[ITT_OFFSET + 2]! << 8) | bhs[ITT_OFFSET + 3]!) >>> 0;
const dataLength = (bhs: Uint8Array): number => (bhs[5]! << 16) | (bhs[6]! << 8) | bhs[7]!;

/** SRT (by shared/trace/scsi-srt.ts's rules) plus throughput and IOPS per time bucket. */
export class StatsCollector {
  private readonly srt = new SrtAccumulator();
  private readonly buckets = new Map<number, { readBytes: number; writeBytes: number; commands: number }>();

  constructor(private readonly bucketNs = DEFAULT_BUCKET_NS) {}

  add(p: StatsPdu): void {
    const op = p.bhs[0]! & 0x3f;
    const key = `${p.connectionId}:${itt(p.bhs)}`;
    if (op === OP_SCSI_COMMAND) {
      this.srt.command(key, p.bhs.subarray(CDB_OFFSET, CDB_OFFSET + 2), opcodeName(p.bhs[CDB_OFFSET]!), p.timeNs);
      return;
    }
    if (op === OP_DATA_OUT) this.bucket(p.timeNs).writeBytes += dataLength(p.bhs);
    if (op === OP_DATA_IN) this.bucket(p.timeNs).readBytes += dataLength(p.bhs);
    const done = op === OP_SCSI_RESPONSE || (op === OP_DATA_IN && (p.bhs[1]! & DATA_IN_STATUS) !== 0);
    if (!done) return;
    const status = {
      timeNs: p.timeNs,
      withSense: op === OP_SCSI_RESPONSE && dataLength(p.bhs) > 0,
      dataIn: op === OP_DATA_IN ? { length: dataLength(p.bhs), head: p.dataHead ?? NO_DATA } : undefined,
    };
    if (this.srt.status(key, status)) this.bucket(p.timeNs).commands++;
  }

  /** Immediate data of a SCSI Command counts as written bytes too. */
  addImmediate(timeNs: number, bytes: number): void {
    if (bytes > 0) this.bucket(timeNs).writeBytes += bytes;
  }

  result(): CaptureStats {
    const buckets = [...this.buckets.entries()].sort((x, y) => x[0] - y[0]).map(([i, b]) => ({ startNs: i * this.bucketNs, ...b }));
    return { srt: this.srt.rows(), buckets, bucketNs: this.bucketNs };
  }

  private bucket(timeNs: number): { readBytes: number; writeBytes: number; commands: number } {
    const i = Math.floor(timeNs / this.bucketNs);
    let b = this.buckets.get(i);
    if (!b) this.buckets.set(i, (b = { readBytes: 0, writeBytes: 0, commands: 0 }));
    return b;
  }
}

const sec = (ns: number): string => (ns / 1e9).toFixed(6);

/** The SRT table as tshark prints it (seconds, 6 decimals), with percentiles added. */
export function srtTable(rows: readonly SrtRow[]): string {
  const lines = ['Index  Procedure                     Calls  Sense    Min SRT    Max SRT    Avg SRT    Sum SRT    p50 SRT    p90 SRT    p99 SRT'];
  for (const r of rows) {
    lines.push(`${String(r.opcode).padStart(5)}  ${r.name.padEnd(28).slice(0, 28)} ${String(r.calls).padStart(6)} ${String(r.withSense).padStart(6)} ${[r.minNs, r.maxNs, r.avgNs, r.sumNs, r.p50Ns, r.p90Ns, r.p99Ns].map((x) => sec(x).padStart(10)).join(' ')}`);
  }
  return lines.join('\n');
}

const csvField = (v: string | number): string => (typeof v === 'number' ? String(v) : /[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);

/** SRT rows as CSV (times in seconds). */
export function srtCsv(rows: readonly SrtRow[]): string {
  const head = 'opcode,procedure,calls,with_sense,min_s,max_s,avg_s,sum_s,p50_s,p90_s,p99_s';
  return [head, ...rows.map((r) => [r.opcode, r.name, r.calls, r.withSense, sec(r.minNs), sec(r.maxNs), sec(r.avgNs), sec(r.sumNs), sec(r.p50Ns), sec(r.p90Ns), sec(r.p99Ns)].map(csvField).join(','))].join('\n') + '\n';
}

/** Throughput and IOPS per bucket as CSV. */
export function ratesCsv(stats: CaptureStats): string {
  const s = stats.bucketNs / 1e9;
  const head = 'start_s,read_bytes_per_s,write_bytes_per_s,iops';
  return [head, ...stats.buckets.map((b) => [sec(b.startNs), Math.round(b.readBytes / s), Math.round(b.writeBytes / s), +(b.commands / s).toFixed(3)].join(','))].join('\n') + '\n';
}
