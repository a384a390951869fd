/**
 * Evaluates a lesson step's check (shared/lessons/types.ts) against what this page knows: the live trace (PDUs and
 * store events newer than the step's start) and what the student is looking at (tab, selected PDU, inspector field,
 * stepper stage). Pure: the caller passes everything in, so it is testable without a browser.
 */
import type { LessonCheck } from '../../../shared/lessons/types.ts';
import type { PduTraceEvent, ScsiSummary, StoreTraceEvent } from '../../../shared/trace/schema.ts';

export interface CheckContext {
  /** PDUs in seq order. */
  readonly pdus: readonly PduTraceEvent[];
  readonly storeEvents: readonly StoreTraceEvent[];
  /** The SCSI summary of a task's command (its LBA and length), by task id. */
  readonly taskScsi: (taskId: number) => ScsiSummary | undefined;
  /** Only events with a larger seq count: what happened after the step opened. */
  readonly sinceSeq: number;
  readonly tab: string;
  readonly selected: PduTraceEvent | undefined;
  /** Name of the field clicked in the inspector (on `selected`). */
  readonly field: string | undefined;
  /** The stepper's stage ids in order and the index it shows (empty when it walks nothing). */
  readonly stepperStages: readonly string[];
  readonly stepperIndex: number;
}

const hasKeys = (p: PduTraceEvent, keys: readonly string[] | undefined): boolean => !keys || keys.every((k) => p.keys?.some(([name]) => name === k) ?? false);

/** Newest first, stopping at the step's start: a long trace costs only what happened since. */
function* pdusSince(ctx: CheckContext): Generator<PduTraceEvent> {
  for (let i = ctx.pdus.length - 1; i >= 0; i--) {
    const p = ctx.pdus[i]!;
    if (p.seq <= ctx.sinceSeq) return;
    yield p;
  }
}

function* storeSince(ctx: CheckContext): Generator<StoreTraceEvent> {
  for (let i = ctx.storeEvents.length - 1; i >= 0; i--) {
    const e = ctx.storeEvents[i]!;
    if (e.seq <= ctx.sinceSeq) return;
    yield e;
  }
}

/** A data-moving command ended GOOD: the PDU that carried its status (SCSI Response, or Data-In with S). */
function ioDone(ctx: CheckContext, c: Extract<LessonCheck, { kind: 'io' }>): boolean {
  const prefix = c.op === 'read' ? 'READ' : 'WRITE';
  for (const p of pdusSince(ctx)) {
    if (p.direction !== 't2i' || p.scsi?.status !== 0 || p.taskId === undefined) continue;
    const s = ctx.taskScsi(p.taskId) ?? p.scsi;
    // READ(10)/(16), WRITE(10)/(16): not READ CAPACITY, not WRITE SAME.
    if (!/^(READ|WRITE)\((6|10|12|16)\)$/.test(s.opcodeName) || !s.opcodeName.startsWith(prefix)) continue;
    if (c.lba !== undefined && s.lba !== c.lba) continue;
    if (c.minBlocks !== undefined && (s.blocks ?? 0) < c.minBlocks) continue;
    if (c.fua !== undefined && (s.fua ?? false) !== c.fua) continue;
    return true;
  }
  return false;
}

export function evaluate(check: LessonCheck, ctx: CheckContext): boolean {
  switch (check.kind) {
    case 'read':
      return false;
    case 'io':
      return ioDone(ctx, check);
    case 'pdu':
      for (const p of pdusSince(ctx)) if (p.opcodeName === check.opcodeName && hasKeys(p, check.keys)) return true;
      return false;
    case 'cache':
      for (const e of storeSince(ctx)) {
        if (e.kind === check.op && e.cache?.ranges.some((r) => check.outcomes.includes(r.outcome))) return true;
      }
      return false;
    case 'flush':
      for (const e of storeSince(ctx)) if (!e.error && (e.kind === 'flush' || (e.kind === 'write' && e.fua))) return true;
      return false;
    case 'select':
      return ctx.selected?.opcodeName === check.opcodeName && hasKeys(ctx.selected, check.keys);
    case 'field':
      return ctx.field === check.field && ctx.selected !== undefined && (check.opcodeName === undefined || ctx.selected.opcodeName === check.opcodeName);
    case 'view':
      return ctx.tab === check.tab;
    case 'stepper': {
      const at = ctx.stepperStages.indexOf(check.stage);
      return at >= 0 && ctx.stepperIndex >= at;
    }
  }
}

/** One line saying what the check waits for (shown under the instruction). */
export function describeCheck(check: LessonCheck): string {
  switch (check.kind) {
    case 'read':
      return 'press Next when ready';
    case 'io':
      return `waiting for a ${check.op.toUpperCase()} ${check.lba !== undefined ? `of LBA ${check.lba} ` : ''}${check.minBlocks !== undefined ? `of at least ${check.minBlocks} blocks ` : ''}to end GOOD`;
    case 'pdu':
      return `waiting for a ${check.opcodeName}${check.keys ? ` with ${check.keys.join(', ')}` : ''}`;
    case 'cache':
      return `waiting for a ${check.op} the cache answers with ${check.outcomes.join(' or ')}`;
    case 'flush':
      return 'waiting for a flush or a FUA write';
    case 'select':
      return `select a ${check.opcodeName}${check.keys ? ` carrying ${check.keys.join(', ')}` : ''}`;
    case 'field':
      return `click ${check.field}${check.opcodeName ? ` of a ${check.opcodeName}` : ''} in the inspector`;
    case 'view':
      return `open the ${check.tab} view`;
    case 'stepper':
      return `walk the stepper to the ${check.stage} stage`;
  }
}
