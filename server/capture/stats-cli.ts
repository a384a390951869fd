/**
 * `iscsi-lab stats FILE [--csv | --rates-csv] [--bucket-ms N]`: service response times per SCSI opcode of a pcap or
 * pcapng capture (as `tshark -q -z scsi,srt,0` prints them, with percentiles), then throughput and IOPS over
 * time, and the SRT table per session when there are several; or either table as CSV (a session column: "all", then
 * each session). The capture is streamed, so its size does not matter.
 */
import { IscsiOpcode, iscsiOpcodeOf } from '../../shared/protocol/iscsi-opcodes.ts';
import { CaptureReader } from './read-capture.ts';
import { packetsOfFile } from './packet-file.ts';
import { DEFAULT_BUCKET_NS, ratesCsv, srtCsv, srtTable, StatsCollector, type CaptureStats } from './srt.ts';

export class StatsUsageError extends Error {}

export const STATS_USAGE = 'iscsi-lab stats FILE [--csv | --rates-csv] [--bucket-ms N]';

/** Statistics of a capture file on disk. */
export function captureStats(path: string, bucketNs = DEFAULT_BUCKET_NS): { stats: CaptureStats; pdus: number; warnings: string[] } {
  const stats = new StatsCollector(bucketNs);
  let pdus = 0;
  const reader = new CaptureReader(
    (p) => {
      pdus++;
      stats.add({ connectionId: p.connectionId, bhs: p.bhs, timeNs: p.timeNs, dataHead: p.data });
      if (iscsiOpcodeOf(p.bhs) === IscsiOpcode.ScsiCommand) stats.addImmediate(p.timeNs, p.data.length);
    },
    () => undefined,
  );
  for (const pkt of packetsOfFile(path)) reader.packet(pkt);
  const warnings = reader.finish();
  return { stats: stats.result(), pdus, warnings };
}

export function statsMain(argv: readonly string[], out: (line: string) => void): number {
  let file: string | undefined;
  let mode: 'table' | 'csv' | 'rates' = 'table';
  let bucketMs = DEFAULT_BUCKET_NS / 1e6;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--csv') mode = 'csv';
    else if (a === '--rates-csv') mode = 'rates';
    else if (a === '--bucket-ms') {
      bucketMs = Number(argv[++i]);
      if (!Number.isFinite(bucketMs) || bucketMs <= 0) throw new StatsUsageError(`--bucket-ms needs a positive number\nusage: ${STATS_USAGE}`);
    } else if (a.startsWith('--')) throw new StatsUsageError(`unknown flag ${a}\nusage: ${STATS_USAGE}`);
    else if (file) throw new StatsUsageError(`one capture FILE only\nusage: ${STATS_USAGE}`);
    else file = a;
  }
  if (!file) throw new StatsUsageError(`a capture FILE is required\nusage: ${STATS_USAGE}`);
  const { stats, pdus } = captureStats(file, bucketMs * 1e6);
  if (mode === 'csv') out(srtCsv(stats).trimEnd());
  else if (mode === 'rates') out(ratesCsv(stats).trimEnd());
  else {
    out(`SCSI SRT statistics of ${file} (${pdus} iSCSI PDUs)`);
    out(srtTable(stats.srt));
    const s = stats.bucketNs / 1e9;
    const peak = stats.buckets.reduce((m, b) => Math.max(m, (b.readBytes + b.writeBytes) / s), 0);
    const iops = stats.buckets.reduce((m, b) => Math.max(m, b.commands / s), 0);
    out(`peak throughput ${(peak / 1048576).toFixed(1)} MiB/s, peak ${iops.toFixed(0)} IOPS over ${stats.bucketNs / 1e6} ms buckets (--rates-csv for all)`);
    // Per session only when there is more than one: with one, it is the table above again.
    if (stats.sessions.length > 1) {
      for (const x of stats.sessions) {
        out('');
        out(`session ${x.session} (connection${x.connections.length > 1 ? 's' : ''} ${x.connections.join(', ')})`);
        out(srtTable(x.srt));
      }
    }
  }
  return pdus === 0 ? 1 : 0;
}
