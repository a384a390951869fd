/**
 * Service response time per SCSI opcode, as `tshark -z scsi,srt,0` reports it: from the SCSI Command PDU to the PDU
 * that carries its status (SCSI Response, or a Data-In with the S bit, RFC 7143 11.7.3), tasks matched by
 * connection and Initiator Task Tag. Plus throughput and IOPS per time bucket (data bytes each way, commands
 * completed), and CSV for a spreadsheet. What counts as a call, and what tshark leaves out (sense data, cut INQUIRY
 * data), is shared/trace/scsi-srt.ts's. Fed PDU by PDU in capture order, so it runs inside the capture indexer.
 */
import { scsiOpcodeName } from '../../shared/protocol/scsi-opcodes.ts';
import { SrtAccumulator } from '../../shared/trace/scsi-srt.ts';
import type { CaptureStats, RateBucket, SessionStats } from '../../shared/api/capture-stats.ts';
import type { SrtRow } from '../../shared/trace/scsi-srt.ts';
import { IscsiOpcode, ISCSI_OPCODE_MASK } from '../../shared/protocol/iscsi-opcodes.ts';

export type { CaptureStats, RateBucket, SessionStats, SrtRow };

/** Login Response (RFC 7143 11.13): T bit and NSG in byte 1, ISID at 8, TSIH at 14, Status-Class at 36. */
const LOGIN_TRANSIT = 0x80;
const LOGIN_NSG_MASK = 0x03;
const LOGIN_NSG_FULL_FEATURE = 0x03;
const LOGIN_ISID = 8;
const LOGIN_TSIH = 14;
const LOGIN_STATUS_CLASS = 36;
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

interface Rates {
  readBytes: number;
  writeBytes: number;
  commands: number;
}

/** SRT and rates of one scope: the whole capture, or one session. */
class Tally {
  readonly srt = new SrtAccumulator();
  readonly buckets = new Map<number, Rates>();
  readonly connections = new Set<number>();

  constructor(private readonly bucketNs: number) {}

  bucket(timeNs: number): Rates {
    const i = Math.floor(timeNs / this.bucketNs);
    let b = this.buckets.get(i);
    if (!b) this.buckets.set(i, (b = { readBytes: 0, writeBytes: 0, commands: 0 }));
    return b;
  }

  rateBuckets(): RateBucket[] {
    return [...this.buckets.entries()].sort((x, y) => x[0] - y[0]).map(([i, b]) => ({ startNs: i * this.bucketNs, ...b }));
  }
}

const hex = (b: Uint8Array): string => [...b].map((x) => x.toString(16).padStart(2, '0')).join('');

/** SRT (by shared/trace/scsi-srt.ts's rules) plus throughput and IOPS per time bucket, for the whole and per session. */
export class StatsCollector {
  private readonly all: Tally;
  private readonly sessions = new Map<string, Tally>();
  /** A connection's session, once its final Login Response went by. */
  private readonly sessionOf = new Map<number, string>();
  /** The session of the last SCSI Command added (addImmediate's). */
  private lastCommand: Tally | undefined;

  constructor(private readonly bucketNs = DEFAULT_BUCKET_NS) {
    this.all = new Tally(bucketNs);
  }

  add(p: StatsPdu): void {
    const op = p.bhs[0]! & ISCSI_OPCODE_MASK;
    if (op === IscsiOpcode.LoginResponse) return this.login(p);
    if (op !== IscsiOpcode.ScsiCommand && op !== IscsiOpcode.ScsiDataOut && op !== IscsiOpcode.ScsiDataIn && op !== IscsiOpcode.ScsiResponse) return;
    const key = `${p.connectionId}:${itt(p.bhs)}`;
    const session = this.session(p.connectionId);
    const tallies = [this.all, session];
    if (op === IscsiOpcode.ScsiCommand) {
      const name = opcodeName(p.bhs[CDB_OFFSET]!);
      for (const t of tallies) t.srt.command(key, p.bhs.subarray(CDB_OFFSET, CDB_OFFSET + 2), name, p.timeNs);
      this.lastCommand = session;
      return;
    }
    if (op === IscsiOpcode.ScsiDataOut) for (const t of tallies) t.bucket(p.timeNs).writeBytes += dataLength(p.bhs);
    if (op === IscsiOpcode.ScsiDataIn) for (const t of tallies) t.bucket(p.timeNs).readBytes += dataLength(p.bhs);
    const done = op === IscsiOpcode.ScsiResponse || (op === IscsiOpcode.ScsiDataIn && (p.bhs[1]! & DATA_IN_STATUS) !== 0);
    if (!done) return;
    const status = {
      timeNs: p.timeNs,
      withSense: op === IscsiOpcode.ScsiResponse && dataLength(p.bhs) > 0,
      dataIn: op === IscsiOpcode.ScsiDataIn ? { length: dataLength(p.bhs), head: p.dataHead ?? NO_DATA } : undefined,
    };
    for (const t of tallies) if (t.srt.status(key, status)) t.bucket(p.timeNs).commands++;
  }

  /** Immediate data of the SCSI Command just added counts as written bytes too. */
  addImmediate(timeNs: number, bytes: number): void {
    if (bytes <= 0) return;
    this.all.bucket(timeNs).writeBytes += bytes;
    if (this.lastCommand) this.lastCommand.bucket(timeNs).writeBytes += bytes;
  }

  result(): CaptureStats {
    return {
      srt: this.all.srt.rows(),
      buckets: this.all.rateBuckets(),
      bucketNs: this.bucketNs,
      sessions: [...this.sessions.entries()].map(([session, t]) => ({ session, connections: [...t.connections], srt: t.srt.rows(), buckets: t.rateBuckets() })),
    };
  }

  /** A final, successful Login Response names the connection's session by ISID and TSIH (RFC 7143 11.13). */
  private login(p: StatsPdu): void {
    const transit = (p.bhs[1]! & LOGIN_TRANSIT) !== 0;
    const fullFeature = (p.bhs[1]! & LOGIN_NSG_MASK) === LOGIN_NSG_FULL_FEATURE;
    if (!transit || !fullFeature || p.bhs[LOGIN_STATUS_CLASS] !== 0) return;
    const tsih = (p.bhs[LOGIN_TSIH]! << 8) | p.bhs[LOGIN_TSIH + 1]!;
    this.sessionOf.set(p.connectionId, `ISID 0x${hex(p.bhs.subarray(LOGIN_ISID, LOGIN_ISID + 6))} TSIH ${tsih}`);
  }

  private session(connectionId: number): Tally {
    const name = this.sessionOf.get(connectionId) ?? `connection ${connectionId}`;
    let t = this.sessions.get(name);
    if (!t) this.sessions.set(name, (t = new Tally(this.bucketNs)));
    t.connections.add(connectionId);
    return t;
  }
}

const sec = (ns: number): string => (ns / 1e9).toFixed(6);

/** The SRT table as tshark prints it (seconds, 6 decimals), with percentiles added. */
export function srtTable(rows: readonly SrtRow[]): string {
  const lines = ['Index  Procedure                     Calls  Sense    Min SRT    Max SRT    Avg SRT    Sum SRT    p50 SRT    p90 SRT    p99 SRT'];
  for (const r of rows) {
    lines.push(
      `${String(r.opcode).padStart(5)}  ${r.name.padEnd(28).slice(0, 28)} ${String(r.calls).padStart(6)} ${String(r.withSense).padStart(6)} ${[r.minNs, r.maxNs, r.avgNs, r.sumNs, r.p50Ns, r.p90Ns, r.p99Ns].map((x) => sec(x).padStart(10)).join(' ')}`,
    );
  }
  return lines.join('\n');
}

const csvField = (v: string | number): string => (typeof v === 'number' ? String(v) : /[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);

/** Rows of the whole capture are session "all"; then each session's (CSV has one table, so the scope is a column). */
const ALL = 'all';

/** SRT rows as CSV (times in seconds), the whole capture's then each session's. */
export function srtCsv(stats: CaptureStats): string {
  const head = 'session,opcode,procedure,calls,with_sense,min_s,max_s,avg_s,sum_s,p50_s,p90_s,p99_s';
  const scopes: [string, readonly SrtRow[]][] = [[ALL, stats.srt], ...stats.sessions.map((x): [string, readonly SrtRow[]] => [x.session, x.srt])];
  const lines = scopes.flatMap(([session, rows]) =>
    rows.map((r) =>
      [session, r.opcode, r.name, r.calls, r.withSense, sec(r.minNs), sec(r.maxNs), sec(r.avgNs), sec(r.sumNs), sec(r.p50Ns), sec(r.p90Ns), sec(r.p99Ns)]
        .map(csvField)
        .join(','),
    ),
  );
  return [head, ...lines].join('\n') + '\n';
}

/** Throughput and IOPS per bucket as CSV, the whole capture's then each session's. */
export function ratesCsv(stats: CaptureStats): string {
  const s = stats.bucketNs / 1e9;
  const head = 'session,start_s,read_bytes_per_s,write_bytes_per_s,iops';
  const scopes: [string, readonly RateBucket[]][] = [
    [ALL, stats.buckets],
    ...stats.sessions.map((x): [string, readonly RateBucket[]] => [x.session, x.buckets]),
  ];
  const lines = scopes.flatMap(([session, buckets]) =>
    buckets.map((b) => [csvField(session), sec(b.startNs), Math.round(b.readBytes / s), Math.round(b.writeBytes / s), +(b.commands / s).toFixed(3)].join(',')),
  );
  return [head, ...lines].join('\n') + '\n';
}
