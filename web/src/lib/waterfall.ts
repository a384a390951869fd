/**
 * Where one I/O's time went, from the trace events of its task joined by identity (the PDUs' task id, the store
 * events' taskId): all times are the target's (the trace taps are in the target), measured from the moment it
 * received the SCSI Command.
 *
 *   request in   SCSI Command received -> last Data-Out received (writes: R2T round trips and data; reads: 0)
 *   queue        -> the first store call begins (CmdSN ordering, SCSI dispatch, waiting behind other commands)
 *   cache lookup the block cache finding (or not) the blocks            (cache trace: lookupMs)
 *   store        pread/pwrite on the LUN file                           (storeReadMs + storeWriteMs, or the call)
 *   fdatasync    flush to stable storage                                (flushMs)
 *   cache work   the rest of the store calls (copies, bookkeeping)
 *   answer out   last store call ends -> the PDU with the status sent (Data-In / SCSI Response)
 */
import type { PduTraceEvent, StoreTraceEvent } from '../../../shared/trace/schema.ts';
import { carriesStatus } from '../../../shared/trace/scsi-srt.ts';
import { IscsiOpcode } from '../../../shared/protocol/iscsi-opcodes.ts';

type SegmentId = 'request' | 'queue' | 'lookup' | 'store' | 'sync' | 'cache' | 'answer';

export const SEGMENTS: readonly { id: SegmentId; label: string; colour: string }[] = [
  { id: 'request', label: 'request in (network)', colour: '#5b9bd5' },
  { id: 'queue', label: 'target queue', colour: '#a5a5a5' },
  { id: 'lookup', label: 'cache lookup', colour: '#c7a6f5' },
  { id: 'store', label: 'store read/write', colour: '#ed7d31' },
  { id: 'sync', label: 'fdatasync', colour: '#cf222e' },
  { id: 'cache', label: 'cache work', colour: '#70ad47' },
  { id: 'answer', label: 'Data-In / Response out', colour: '#8250df' },
];

export interface WaterfallRow {
  readonly taskId: number;
  /** "READ(16) LBA 100 ×8" */
  readonly label: string;
  readonly opcodeName: string;
  readonly totalNs: number;
  /** Each segment's length in ns (0 when it did not happen). */
  readonly ns: Readonly<Record<SegmentId, number>>;
  /** What the cache did, from the store events ("hit", "miss", "miss+readahead-hit"...), or "" without a cache. */
  readonly cache: string;
}

const MS = 1e6;

/** One task's waterfall; undefined until its status went out. */
export function waterfallRow(taskId: number, pdus: readonly PduTraceEvent[], store: readonly StoreTraceEvent[]): WaterfallRow | undefined {
  const cmd = pdus.find((p) => p.opcode === IscsiOpcode.ScsiCommand && p.direction === 'i2t');
  const end = pdus.find(carriesStatus);
  if (!cmd?.scsi || !end) return undefined;
  const t0 = cmd.timeNs;
  const tEnd = end.timeNs;
  let lastIn = t0;
  for (const p of pdus) if (p.direction === 'i2t' && p.opcode === IscsiOpcode.ScsiDataOut && p.timeNs <= tEnd) lastIn = Math.max(lastIn, p.timeNs);
  const ns: Record<SegmentId, number> = { request: lastIn - t0, queue: 0, lookup: 0, store: 0, sync: 0, cache: 0, answer: 0 };
  const outcomes = new Set<string>();
  let storeStart = Infinity;
  let storeEnd = -Infinity;
  // What the cache trace measured inside the store calls (ms, its own timers).
  let lookup = 0;
  let io = 0;
  let sync = 0;
  for (const e of store) {
    storeStart = Math.min(storeStart, e.timeNs - e.durationNs);
    storeEnd = Math.max(storeEnd, e.timeNs);
    const c = e.cache;
    if (c) {
      lookup += c.lookupMs * MS;
      io += (c.storeReadMs + c.storeWriteMs) * MS;
      sync += c.flushMs * MS;
      for (const r of c.ranges) outcomes.add(r.outcome);
    } else if (e.kind === 'flush') sync += e.durationNs;
    else io += e.durationNs;
  }
  if (Number.isFinite(storeStart)) {
    // Durations come from the store's own timers (no clock to reconcile); only where the store calls sit between
    // the last data in and the status out comes from comparing timestamps, whose two clocks differ by rounding.
    // The segments must add up to the measured total: if the store's time overruns what is left, it shrinks to fit.
    const left = Math.max(0, tEnd - lastIn);
    const duration = Math.max(lookup + io + sync, storeEnd - storeStart);
    const k = duration > left && duration > 0 ? left / duration : 1;
    ns.lookup = lookup * k;
    ns.store = io * k;
    ns.sync = sync * k;
    ns.cache = (duration - lookup - io - sync) * k;
    const rest = left - duration * k;
    ns.queue = Math.min(rest, Math.max(0, storeStart - lastIn));
    ns.answer = rest - ns.queue;
  } else ns.answer = Math.max(0, tEnd - lastIn);
  const s = cmd.scsi;
  return {
    taskId,
    label: `${s.opcodeName}${s.lba !== undefined ? ` LBA ${s.lba}` : ''}${s.blocks !== undefined ? ` ×${s.blocks}` : ''}`,
    opcodeName: s.opcodeName,
    totalNs: tEnd - t0,
    ns,
    cache: [...outcomes].join('+'),
  };
}
