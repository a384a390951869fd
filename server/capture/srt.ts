/**
 * Service response time per SCSI opcode, as `tshark -z scsi,srt,0` reports it: from the SCSI Command PDU to the PDU
 * that carries its status (SCSI Response, or a Data-In with the S bit, RFC 7143 11.7.3), tasks matched by
 * connection and Initiator Task Tag. Plus throughput and IOPS per time bucket (data bytes each way, commands
 * completed), and CSV for a spreadsheet. Like tshark, a command answered with sense data (a SCSI Response with a
 * data segment: CHECK CONDITION) is left out of the response times; it is counted apart, as `withSense`. Fed PDU by PDU in capture order, so it runs inside the capture indexer.
 */
import { scsiOpcodeName } from '../../shared/protocol/scsi-opcodes.ts';

const OP_SCSI_COMMAND = 0x01;
const OP_DATA_OUT = 0x05;
const OP_SCSI_RESPONSE = 0x21;
const OP_DATA_IN = 0x25;
const DATA_IN_STATUS = 0x01;
const CDB_OFFSET = 32;
const ITT_OFFSET = 16;
/** Response times kept per opcode for percentiles; beyond it, a uniform sample (reservoir) stands in. */
const SAMPLE_CAP = 100_000;
export const DEFAULT_BUCKET_NS = 1_000_000_000;

export interface SrtRow {
  readonly opcode: number;
  readonly name: string;
  readonly calls: number;
  /** Commands answered with sense data, not in `calls` (tshark leaves them out too). */
  readonly withSense: number;
  readonly minNs: number;
  readonly maxNs: number;
  readonly avgNs: number;
  readonly sumNs: number;
  readonly p50Ns: number;
  readonly p90Ns: number;
  readonly p99Ns: number;
}

export interface RateBucket {
  /** Bucket start, ns since the capture's first packet. */
  readonly startNs: number;
  readonly readBytes: number;
  readonly writeBytes: number;
  /** Commands whose status arrived in the bucket. */
  readonly commands: number;
}

export interface CaptureStats {
  readonly srt: SrtRow[];
  readonly buckets: RateBucket[];
  readonly bucketNs: number;
}

interface StatsPdu {
  readonly connectionId: number;
  readonly bhs: Uint8Array;
  readonly timeNs: number;
}

interface Acc {
  calls: number;
  withSense: number;
  min: number;
  max: number;
  sum: number;
  samples: number[];
}

/** Rows are per opcode, as tshark's are: service-action opcodes (SERVICE ACTION IN(16), ...) keep one row. */
const opcodeName = (opcode: number): string => scsiOpcodeName(Uint8Array.of(opcode)).replace(/ SA 0x00$/, '');
const itt = (bhs: Uint8Array): number => ((bhs[ITT_OFFSET]! << 24) | (bhs[ITT_OFFSET + 1]! << 16) | (bhs[ITT_OFFSET + 2]! << 8) | bhs[ITT_OFFSET + 3]!) >>> 0;
const dataLength = (bhs: Uint8Array): number => (bhs[5]! << 16) | (bhs[6]! << 8) | bhs[7]!;

export class StatsCollector {
  private readonly open = new Map<string, { opcode: number; timeNs: number }>();
  private readonly byOpcode = new Map<number, Acc>();
  private readonly buckets = new Map<number, { readBytes: number; writeBytes: number; commands: number }>();
  private seen = 0;

  constructor(private readonly bucketNs = DEFAULT_BUCKET_NS) {}

  add(p: StatsPdu): void {
    const op = p.bhs[0]! & 0x3f;
    const key = `${p.connectionId}:${itt(p.bhs)}`;
    if (op === OP_SCSI_COMMAND) {
      this.open.set(key, { opcode: p.bhs[CDB_OFFSET]!, timeNs: p.timeNs });
      return;
    }
    if (op === OP_DATA_OUT) this.bucket(p.timeNs).writeBytes += dataLength(p.bhs);
    if (op === OP_DATA_IN) this.bucket(p.timeNs).readBytes += dataLength(p.bhs);
    const done = op === OP_SCSI_RESPONSE || (op === OP_DATA_IN && (p.bhs[1]! & DATA_IN_STATUS) !== 0);
    if (!done) return;
    const cmd = this.open.get(key);
    if (!cmd) return;
    this.open.delete(key);
    this.bucket(p.timeNs).commands++;
    const srt = p.timeNs - cmd.timeNs;
    let a = this.byOpcode.get(cmd.opcode);
    if (!a) this.byOpcode.set(cmd.opcode, (a = { calls: 0, withSense: 0, min: Infinity, max: 0, sum: 0, samples: [] }));
    if (op === OP_SCSI_RESPONSE && dataLength(p.bhs) > 0) {
      a.withSense++;
      return;
    }
    a.calls++;
    a.min = Math.min(a.min, srt);
    a.max = Math.max(a.max, srt);
    a.sum += srt;
    this.seen++;
    if (a.samples.length < SAMPLE_CAP) a.samples.push(srt);
    else {
      // Reservoir sampling: every response time so far has the same chance to be in the sample.
      const j = Math.floor(Math.random() * a.calls);
      if (j < SAMPLE_CAP) a.samples[j] = srt;
    }
  }

  /** Immediate data of a SCSI Command counts as written bytes too. */
  addImmediate(timeNs: number, bytes: number): void {
    if (bytes > 0) this.bucket(timeNs).writeBytes += bytes;
  }

  result(): CaptureStats {
    const srt = [...this.byOpcode.entries()].sort((x, y) => x[0] - y[0]).map(([opcode, a]): SrtRow => {
      const s = a.samples.slice().sort((x, y) => x - y);
      const q = (f: number): number => (s.length ? s[Math.min(s.length - 1, Math.floor(f * s.length))]! : 0);
      return { opcode, name: opcodeName(opcode), calls: a.calls, withSense: a.withSense, minNs: a.calls ? a.min : 0, maxNs: a.max, avgNs: a.calls ? a.sum / a.calls : 0, sumNs: a.sum, p50Ns: q(0.5), p90Ns: q(0.9), p99Ns: q(0.99) };
    });
    const buckets = [...this.buckets.entries()].sort((x, y) => x[0] - y[0]).map(([i, b]) => ({ startNs: i * this.bucketNs, ...b }));
    return { srt, buckets, bucketNs: this.bucketNs };
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
