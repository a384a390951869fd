/**
 * The timeline's view of the trace: filters, pause/resume, and the filtered list the virtual list renders.
 * New PDUs are filtered as they arrive (only the batch), so a filter over 200k PDUs costs nothing per batch;
 * changing a filter re-filters once.
 */
import type { PduTraceEvent } from '../../../shared/trace/schema.ts';
import { parseNumber } from '../lib/format.ts';
import { lab } from './lab.svelte.ts';
import { ui } from './ui.svelte.ts';
import { isNopOpcode } from '../../../shared/protocol/iscsi-opcodes.ts';

export interface Filters {
  /** Connection id, '' for all. */
  conn: string;
  lun: string;
  /** Substring of the iSCSI opcode name or the SCSI command name ("write", "R2T", "Login"). */
  opcode: string;
  /** InitiatorTaskTag, hex (0x optional). */
  itt: string;
  /** Any PDU of a task whose LBA range holds this LBA. */
  lba: string;
  /** Hide NOP-Out/NOP-In pings (on by default in projector mode: keep-alives are noise to a room). */
  hideNops: boolean;
}

/** Above this many PDUs a second the list re-renders every FLOOD_FLUSH_MS instead of on every batch. */
const FLOOD_RATE = 1000;
const FLOOD_FLUSH_MS = 700;

const EMPTY: Filters = { conn: '', lun: '', opcode: '', itt: '', lba: '', hideNops: false };

type Predicate = (e: PduTraceEvent) => boolean;

export class Timeline {
  filters = $state<Filters>({ ...EMPTY, hideNops: ui.projector });
  paused = $state(false);
  /** What the list shows. */
  view = $state.raw<PduTraceEvent[]>([]);
  /** PDUs that arrived while paused (shown on resume). */
  pending = $state(0);
  /** Keep the newest row in sight while live. */
  follow = $state(true);
  /** A filter text that does not parse (shown beside the filters). */
  filterError = $state<string | null>(null);
  /** The filters the list now shows (set when a change has been applied, after the typing pause). */
  applied = $state.raw<Filters>({ ...EMPTY, hideNops: ui.projector });

  private predicate: Predicate | null = null;
  private queued: PduTraceEvent[] = [];
  private flushTimer: ReturnType<typeof setTimeout> | undefined;

  constructor() {
    lab.onAppend((added) => this.append(added));
    lab.onReset(() => this.recompute());
    this.predicate = this.buildPredicate();
  }

  /** Projector mode on: NOPs go (the presenter can show them again); off: they come back. */
  projectorChanged(on: boolean): void {
    if (this.filters.hideNops === on) return;
    this.filters.hideNops = on;
    this.recompute();
  }

  get active(): boolean {
    const f = this.filters;
    return !!(f.conn || f.lun || f.opcode || f.itt || f.lba || f.hideNops);
  }

  setPaused(p: boolean): void {
    this.paused = p;
    if (!p) this.recompute();
  }

  clearFilters(): void {
    this.filters = { ...EMPTY };
    this.recompute();
  }

  /** Rebuilds the predicate from the filter texts and re-filters everything kept. */
  recompute(): void {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    this.queued = [];
    this.predicate = this.buildPredicate();
    this.pending = 0;
    const p = this.predicate;
    this.view = p ? lab.pdus.filter(p) : lab.pdus;
    this.applied = { ...this.filters };
  }

  private append(added: readonly PduTraceEvent[]): void {
    if (this.paused) {
      this.pending += added.length;
      return;
    }
    const p = this.predicate;
    const take = p ? added.filter(p) : added;
    if (!take.length) return;
    for (const e of take) this.queued.push(e);
    // A trickle shows at once; a flood is shown at a steady pace (every re-render scrolls and repaints the list,
    // and a page re-rendering for every batch at 10k PDUs/s has no time left for its user).
    if (this.flushTimer !== undefined) return;
    const delay = lab.rate > FLOOD_RATE ? FLOOD_FLUSH_MS : 0;
    this.flushTimer = setTimeout(() => this.flushQueued(), delay);
  }

  private flushQueued(): void {
    this.flushTimer = undefined;
    if (!this.queued.length) return;
    const q = this.queued;
    this.queued = [];
    if (!this.paused) this.view = this.view.concat(q);
  }

  private buildPredicate(): Predicate | null {
    const f = this.filters;
    const tests: Predicate[] = [];
    this.filterError = null;
    const bad = (what: string): null => {
      this.filterError = what;
      return null;
    };
    if (f.conn !== '') {
      const c = Number(f.conn);
      tests.push((e) => e.connectionId === c);
    }
    if (f.lun.trim() !== '') {
      const lun = parseNumber(f.lun);
      if (lun === undefined) return bad('LUN must be a number');
      tests.push((e) => lunOf(e) === lun);
    }
    if (f.opcode.trim() !== '') {
      const needle = f.opcode.trim().toLowerCase();
      tests.push((e) => {
        if (e.opcodeName.toLowerCase().includes(needle)) return true;
        const s = e.scsi ?? (e.taskId !== undefined ? lab.tasks.get(e.taskId)?.scsi : undefined);
        return !!s && s.opcodeName.toLowerCase().includes(needle);
      });
    }
    if (f.itt.trim() !== '') {
      const itt = parseNumber(f.itt, true);
      if (itt === undefined) return bad('ITT must be hex, e.g. 0x1a or 1a');
      tests.push((e) => e.fields.InitiatorTaskTag === itt);
    }
    if (f.lba.trim() !== '') {
      const lba = parseNumber(f.lba);
      if (lba === undefined) return bad('LBA must be a number');
      tests.push((e) => {
        const s = e.scsi ?? (e.taskId !== undefined ? lab.tasks.get(e.taskId)?.scsi : undefined);
        if (!s || s.lba === undefined) return false;
        return lba >= s.lba && lba < s.lba + Math.max(1, s.blocks ?? 1);
      });
    }
    if (f.hideNops) tests.push((e) => !isNopOpcode(e.opcode));
    if (!tests.length) return null;
    return (e) => {
      for (const t of tests) if (!t(e)) return false;
      return true;
    };
  }
}

/** The LUN a PDU concerns: its own SCSI summary, or its task's. */
export function lunOf(e: PduTraceEvent): number | undefined {
  if (e.scsi?.lun !== undefined) return e.scsi.lun;
  if (e.taskId !== undefined) return lab.tasks.get(e.taskId)?.scsi?.lun;
  return undefined;
}

export const timeline = new Timeline();
