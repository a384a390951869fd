/**
 * The lesson engine's state: which lesson runs, its step, where in the trace the step began, and whether its check
 * passed. Lessons are data (shared/lessons); checks are evaluated by web/src/lessons/checks.ts against the live
 * trace and the student's view. Progress lives in localStorage (survives a reload); `/?lesson=ID&step=N` opens a
 * lesson at step N (1-based, as the bar shows it).
 */
import { LESSONS, lessonById, type Lesson, type LessonStep } from '../../../shared/lessons/index.ts';
import { evaluate, type CheckContext } from '../lessons/checks.ts';
import { inspector } from './inspector.svelte.ts';
import { lab } from './lab.svelte.ts';
import { stepper } from './stepper.svelte.ts';
import { ui } from './ui.svelte.ts';

const STORAGE_KEY = 'iscsi-lab.lesson';
const DONE_KEY = 'iscsi-lab.lessons-done';

interface Saved {
  id: string;
  step: number;
  /** seq the step began after; null: not known yet (the trace had not arrived). */
  since: number | null;
  passed: boolean;
  /** The trace the seq belongs to (a restarted gateway numbers from 0 again). */
  traceStart: number | null;
}

function load<T>(key: string): T | undefined {
  try {
    const s = localStorage.getItem(key);
    return s ? (JSON.parse(s) as T) : undefined;
  } catch {
    return undefined;
  }
}

function save(key: string, v: unknown): void {
  try {
    if (v === null) localStorage.removeItem(key);
    else localStorage.setItem(key, JSON.stringify(v));
  } catch {
    // private mode: progress lasts as long as the page
  }
}

export class Lessons {
  readonly all: readonly Lesson[] = LESSONS;
  lessonId = $state<string | null>(null);
  /** 0-based. */
  stepIndex = $state(0);
  since = $state<number | null>(null);
  /** Latched: once the check passed, the step stays done. */
  passed = $state(false);
  hintsShown = $state(0);
  traceStart = $state<number | null>(null);
  done = $state.raw<readonly string[]>(load<string[]>(DONE_KEY) ?? []);
  showGlossary = $state(false);

  readonly lesson: Lesson | undefined = $derived(this.lessonId === null ? undefined : lessonById(this.lessonId));
  readonly step: LessonStep | undefined = $derived(this.lesson?.steps[this.stepIndex]);
  readonly last: boolean = $derived(this.lesson !== undefined && this.stepIndex >= this.lesson.steps.length - 1);

  /** The check, re-evaluated whenever the trace or the view changes. */
  readonly satisfied: boolean = $derived.by(() => {
    const s = this.step;
    if (!s || this.since === null) return false;
    const ctx: CheckContext = {
      pdus: lab.pdus,
      storeEvents: lab.storeEvents,
      taskScsi: (id) => lab.tasks.get(id)?.scsi,
      sinceSeq: this.since,
      tab: ui.tab,
      selected: ui.selected,
      field: inspector.selectedNode?.name,
      stepperStages: stepper.stages.map((st) => st.id),
      stepperIndex: stepper.index,
    };
    return evaluate(s.check, ctx);
  });

  /** Reads the URL and the saved progress, and keeps both in step with the state. Returns the cleanup. */
  start(): () => void {
    const q = new URLSearchParams(location.search);
    const id = q.get('lesson');
    const saved = load<Saved>(STORAGE_KEY);
    if (id && lessonById(id)) {
      const n = Number(q.get('step') ?? '1');
      const step = Number.isInteger(n) && n >= 1 ? n - 1 : 0;
      if (saved?.id === id && saved.step === step) this.restore(saved);
      else this.open(id, step);
    } else if (saved && lessonById(saved.id)) this.restore(saved);
    return $effect.root(() => {
      // The step's start in the trace: the newest seq once the trace is here (not before: old traffic would pass it).
      $effect(() => {
        const header = lab.header;
        if (!this.lesson || !header) return;
        if (this.traceStart !== null && this.traceStart !== header.startWallMs) this.since = null;
        this.traceStart = header.startWallMs;
        if (this.since === null) this.since = this.newestSeq();
      });
      $effect(() => {
        if (this.satisfied && !this.passed) this.passed = true;
      });
      $effect(() => {
        const l = this.lesson;
        save(STORAGE_KEY, l ? ({ id: l.id, step: this.stepIndex, since: this.since, passed: this.passed, traceStart: this.traceStart } satisfies Saved) : null);
        // The address bar says where the student is: a reload or a shared link lands on the same step.
        const url = new URL(location.href);
        if (l) {
          url.searchParams.set('lesson', l.id);
          url.searchParams.set('step', String(this.stepIndex + 1));
        } else {
          url.searchParams.delete('lesson');
          url.searchParams.delete('step');
        }
        if (url.href !== location.href) history.replaceState(history.state, '', url);
      });
    });
  }

  private restore(s: Saved): void {
    this.lessonId = s.id;
    this.stepIndex = Math.min(s.step, (lessonById(s.id)?.steps.length ?? 1) - 1);
    this.since = s.since;
    this.passed = s.passed;
    this.traceStart = s.traceStart;
    this.hintsShown = 0;
  }

  private newestSeq(): number {
    const p = lab.pdus.at(-1)?.seq ?? 0;
    const e = lab.storeEvents.at(-1)?.seq ?? 0;
    return Math.max(p, e);
  }

  open(id: string, step = 0): void {
    const l = lessonById(id);
    if (!l) return;
    this.lessonId = id;
    this.go(step);
  }

  /** Opens step `i` fresh: only what happens from now on counts for its check. */
  go(i: number): void {
    const l = this.lesson;
    if (!l) return;
    this.stepIndex = Math.max(0, Math.min(l.steps.length - 1, i));
    this.passed = false;
    this.hintsShown = 0;
    this.since = lab.header ? this.newestSeq() : null;
  }

  next(): void {
    const l = this.lesson;
    if (!l) return;
    if (this.last) {
      if (!this.done.includes(l.id)) {
        this.done = [...this.done, l.id];
        save(DONE_KEY, this.done);
      }
      this.close();
      ui.tab = 'lessons';
      return;
    }
    this.go(this.stepIndex + 1);
  }

  back(): void {
    this.go(this.stepIndex - 1);
  }

  close(): void {
    this.lessonId = null;
    this.stepIndex = 0;
    this.since = null;
    this.passed = false;
  }

  hint(): void {
    this.hintsShown++;
  }
}

export const lessons = new Lessons();
