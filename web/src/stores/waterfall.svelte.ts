/** The waterfall view: the latest data-moving I/Os broken into segments, and the SRT table over a time window. */
import { asTsharkTable, scsiSrt, type SrtTable } from '../../../shared/trace/scsi-srt.ts';
import { getStats } from '../lib/api.ts';
import type { StoreTraceEvent } from '../../../shared/trace/schema.ts';
import { waterfallRow, type WaterfallRow } from '../lib/waterfall.ts';
import { lab } from './lab.svelte.ts';
import { IscsiOpcode } from '../../../shared/protocol/iscsi-opcodes.ts';

/** I/Os drawn at most. */
export const MAX_WATERFALL_ROWS = 40;
const DATA_OPS = /^(READ|WRITE)\((6|10|12|16)\)$/;

export class WaterfallView {
  /** Seconds back from the newest PDU the SRT table covers; 0: everything this page holds. */
  windowS = $state(0);
  scale = $state<'common' | 'each'>('common');

  private readonly storeByTask: Map<number, StoreTraceEvent[]> = $derived.by(() => {
    const m = new Map<number, StoreTraceEvent[]>();
    for (const e of lab.storeEvents) {
      if (e.taskId === undefined) continue;
      let a = m.get(e.taskId);
      if (!a) m.set(e.taskId, (a = []));
      a.push(e);
    }
    return m;
  });

  readonly rows: WaterfallRow[] = $derived.by(() => {
    const pdus = lab.pdus;
    const out: WaterfallRow[] = [];
    const seen = new Set<number>();
    for (let i = pdus.length - 1; i >= 0 && out.length < MAX_WATERFALL_ROWS; i--) {
      const p = pdus[i]!;
      if (p.opcode !== IscsiOpcode.ScsiCommand || p.taskId === undefined || seen.has(p.taskId) || !p.scsi || !DATA_OPS.test(p.scsi.opcodeName)) continue;
      seen.add(p.taskId);
      const t = lab.tasks.get(p.taskId);
      const row = t && waterfallRow(t.id, t.pdus, this.storeByTask.get(t.id) ?? []);
      if (row) out.push(row);
    }
    return out;
  });

  /**
   * An uploaded capture's table comes from the server, which indexed the whole file (the page holds one page of its
   * events); same rules (shared/trace/scsi-srt.ts), whole capture, no window.
   */
  private upload = $state.raw<{ id: string; table: SrtTable } | null>(null);
  uploadError = $state<string | null>(null);

  /** Fetches the table of the upload on show, once per upload (SrtTable.svelte asks whenever it is shown). */
  async loadUploadSrt(): Promise<void> {
    const id = lab.offline?.id;
    if (!id || this.upload?.id === id) return;
    try {
      this.upload = { id, table: asTsharkTable((await getStats(id)).srt) };
      this.uploadError = null;
    } catch (err) {
      this.uploadError = err instanceof Error ? err.message : String(err);
    }
  }

  /** True while the table shows an uploaded capture (from the server) rather than the events on this page. */
  readonly ofUpload = $derived(lab.offline !== null);

  readonly srt: SrtTable = $derived.by(() => {
    if (lab.offline) return this.upload?.id === lab.offline.id ? this.upload.table : { rows: [], tsharkSkips: 0 };
    const pdus = lab.pdus;
    void lab.rawTick;
    const newest = pdus.at(-1)?.timeNs ?? 0;
    // Raw bytes are asked only for INQUIRY commands and their answers (see scsi-srt.ts); they arrive with rawTick.
    return scsiSrt(pdus, { sinceNs: this.windowS > 0 ? newest - this.windowS * 1e9 : -Infinity, raw: (seq) => lab.rawFor(seq)?.bytes });
  });
}

export const waterfall = new WaterfallView();
