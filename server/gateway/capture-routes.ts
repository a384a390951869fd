import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TraceRecorder } from '../trace/recorder.ts';
import { recordedToPcapng } from '../trace/pcapng.ts';
import { snapshotToJsonl } from '../trace/jsonl.ts';
import type { RouteHandler } from './http-server.ts';
import { StatsCollector } from '../capture/srt.ts';
import { sendStats } from './upload-routes.ts';
import type { TraceStats } from '../../shared/api/trace.ts';
import { CAPTURE_JSONL_PATH, CAPTURE_PCAPNG_PATH } from '../../shared/api/trace.ts';
import { IscsiOpcode } from '../../shared/protocol/iscsi-opcodes.ts';

/** GET /api/capture.pcapng (Wireshark) and /api/capture.jsonl (everything pcapng cannot carry) from the gateway's ring. */
export function captureRoutes(recorder: TraceRecorder): RouteHandler {
  return async (req: IncomingMessage, res: ServerResponse, url: URL) => {
    if (req.method !== 'GET') return false;
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    if (url.pathname === CAPTURE_PCAPNG_PATH) {
      const body = recordedToPcapng(recorder.recent(), recorder.startWallMs, {}, recorder.faultNotes());
      res.writeHead(200, {
        'content-type': 'application/vnd.tcpdump.pcap',
        'content-disposition': `attachment; filename="iscsi-lab-${stamp}.pcapng"`,
        'content-length': body.length,
      });
      res.end(body);
      return true;
    }
    if (url.pathname === CAPTURE_JSONL_PATH) {
      const body = snapshotToJsonl(recorder.snapshot(), recorder.recent());
      res.writeHead(200, { 'content-type': 'application/x-ndjson; charset=utf-8', 'content-disposition': `attachment; filename="iscsi-lab-${stamp}.jsonl"` });
      res.end(body);
      return true;
    }
    if (url.pathname === '/api/trace/srt') {
      // The live ring's statistics: the same collector the uploads use (srt.ts).
      const c = new StatsCollector();
      for (const p of recorder.recent()) {
        if (p.raw.length < 48) continue;
        const l = p.event.lengths;
        const dataStart = l.bhs + l.ahs + l.headerDigest;
        c.add({
          connectionId: p.event.connectionId,
          bhs: p.raw.subarray(0, 48),
          timeNs: p.event.timeNs,
          dataHead: p.raw.subarray(dataStart, dataStart + l.data),
        });
        if (p.event.opcode === IscsiOpcode.ScsiCommand) c.addImmediate(p.event.timeNs, p.event.lengths.data);
      }
      sendStats(res, c.result(), url.searchParams.get('format'));
      return true;
    }
    if (url.pathname === '/api/trace/stats') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(recorder.stats() satisfies TraceStats));
      return true;
    }
    return false;
  };
}
