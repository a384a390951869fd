/**
 * Lessons as data: every lesson is one file in this folder (title, steps, hints), imported by the gateway (which
 * lists them at GET /api/lessons) and by the UI (which runs them). A step's check is declarative, not code, so the
 * server can describe it and the browser evaluates it against the live trace (web/src/lessons/checks.ts).
 *
 * Checks look only at what happened since the step began (events with a larger seq than the newest one seen when
 * the step opened), so a step cannot pass on traffic from before the student read it.
 */

/** SCSI direction of a data-moving command (READ(10)/(16), WRITE(10)/(16)...). */
type IoOp = 'read' | 'write';

type CacheOutcome = 'hit' | 'readahead-hit' | 'miss' | 'partial' | 'write-hit' | 'write-allocate' | 'bypass';

export type LessonCheck =
  /** A READ or WRITE finished with GOOD status (SCSI Response seen), optionally at this LBA / at least this many blocks. */
  | { readonly kind: 'io'; readonly op: IoOp; readonly lba?: number; readonly minBlocks?: number; readonly fua?: boolean }
  /** A PDU of this RFC 7143 name went by; `keys`: its data segment held all of these text keys (Login, Text). */
  | { readonly kind: 'pdu'; readonly opcodeName: string; readonly keys?: readonly string[] }
  /** A store call of this kind (read/write through the cache) had a cache range with one of these outcomes. */
  | { readonly kind: 'cache'; readonly op: IoOp; readonly outcomes: readonly CacheOutcome[] }
  /** Data reached stable storage on demand: a store flush (SYNCHRONIZE CACHE) or a FUA write. */
  | { readonly kind: 'flush' }
  /** The student selected a PDU of this name (timeline, ladder), optionally holding these text keys. */
  | { readonly kind: 'select'; readonly opcodeName: string; readonly keys?: readonly string[] }
  /** The student clicked this field (tree row or its bytes) in the PDU inspector, on a PDU of this name if given. */
  | { readonly kind: 'field'; readonly field: string; readonly opcodeName?: string }
  /** The student opened this view (tab id: composer, inspector, stepper, ladder, waterfall, overhead...). */
  | { readonly kind: 'view'; readonly tab: string }
  /** The stepper walked a task to this stage (a stage id of web/src/lib/layers.ts: app, fs, scsi, iscsi-out, tcp-out, ..., target, cache, store, iscsi-back, net-back, done) or past it. */
  | { readonly kind: 'stepper'; readonly stage: string }
  /** Nothing to do but read: the step passes when the student presses Next. */
  | { readonly kind: 'read' };

export interface LessonStep {
  /** What to do, in one or two sentences (plain text; `code` in backticks). */
  readonly instruction: string;
  /** Why it matters: what the student should notice once the check passes. */
  readonly explain?: string;
  readonly check: LessonCheck;
  /** Shown one at a time when the student asks. */
  readonly hints: readonly string[];
}

export interface Lesson {
  /** URL id: /?lesson=ID&step=N */
  readonly id: string;
  readonly title: string;
  /** One line for the lesson list. */
  readonly summary: string;
  /** Which stage of the seed's I/O path it is about (application ... SCSI lower layer). */
  readonly topics: readonly string[];
  /** A lesson that needs a feature the lab may lack (e.g. fault injection): listed, marked unavailable without it. */
  readonly requires?: 'faults';
  readonly steps: readonly LessonStep[];
}

export interface GlossaryEntry {
  readonly term: string;
  readonly meaning: string;
  /** Where the standard defines it. */
  readonly source: string;
}

/** What GET /api/lessons answers: the lessons (steps included) and the glossary. */
export interface LessonsResponse {
  readonly lessons: readonly Lesson[];
  readonly glossary: readonly GlossaryEntry[];
}
