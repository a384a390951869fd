/**
 * Classroom follow mode: one browser presents, the others may follow its view. The presenter's page sends
 * `{type: 'present', state}` over /ws whenever what it shows changes (`state: null` stops presenting); the hub
 * keeps the newest state and sends `{type: 'presenter', state}` to every other browser, and to each new one on
 * connect. The presenter leaving (or another browser taking over) ends the presentation for everyone.
 */
import type { FollowState } from '../../shared/trace/follow.ts';

export type { FollowState };

const MAX_TAB = 32;
const MAX_NAME = 40;

const intOrNull = (v: unknown): number | null | undefined =>
  v === null || v === undefined ? null : typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : undefined;

/** A browser's state, checked field by field (it is input from anyone who can open the page): undefined if bad. */
export function parseFollowState(v: unknown): FollowState | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  const selectedSeq = intOrNull(o.selectedSeq);
  const stepTaskId = intOrNull(o.stepTaskId);
  const stepIndex = intOrNull(o.stepIndex) ?? 0;
  if (typeof o.tab !== 'string' || o.tab.length > MAX_TAB || !/^[a-z-]+$/.test(o.tab)) return undefined;
  if (selectedSeq === undefined || stepTaskId === undefined || intOrNull(o.stepIndex) === undefined) return undefined;
  const name = typeof o.name === 'string' && o.name.trim() ? o.name.trim().slice(0, MAX_NAME) : 'Presenter';
  const lesson = parseLesson(o.lesson);
  if (lesson === undefined) return undefined;
  return { tab: o.tab, selectedSeq, stepTaskId, stepIndex, name, lesson };
}

const MAX_LESSON_ID = 40;
const MAX_LESSON_STEP = 99;

/** `{id, step}` of the presenter's lesson, null for none, undefined if malformed. */
function parseLesson(v: unknown): { id: string; step: number } | null | undefined {
  if (v === null || v === undefined) return null;
  if (typeof v !== 'object') return undefined;
  const { id, step } = v as Record<string, unknown>;
  if (typeof id !== 'string' || id.length > MAX_LESSON_ID || !/^[a-z0-9-]+$/.test(id)) return undefined;
  if (typeof step !== 'number' || !Number.isInteger(step) || step < 0 || step > MAX_LESSON_STEP) return undefined;
  return { id, step };
}

/** Who presents, and what. `T` is the hub's client handle. */
export class Presentation<T> {
  private presenter: T | undefined;
  private state: FollowState | undefined;

  constructor(private readonly broadcast: (message: unknown, except?: T) => void, private readonly send: (to: T, message: unknown) => void) {}

  /** A client's `present` message; returns an error text for a bad one. */
  present(from: T, raw: unknown): string | undefined {
    if (raw === null) {
      if (from === this.presenter) this.end();
      return undefined;
    }
    const state = parseFollowState(raw);
    if (!state) return 'present: state must be {tab, selectedSeq, stepTaskId, stepIndex, name?}';
    if (this.presenter !== undefined && this.presenter !== from) this.send(this.presenter, { type: 'presenter', state: null, takenOver: true });
    this.presenter = from;
    this.state = state;
    this.broadcast({ type: 'presenter', state }, from);
    return undefined;
  }

  /** A new client hears the current presentation at once. */
  welcome(to: T): void {
    if (this.state && to !== this.presenter) this.send(to, { type: 'presenter', state: this.state });
  }

  left(client: T): void {
    if (client === this.presenter) this.end();
  }

  private end(): void {
    this.presenter = undefined;
    this.state = undefined;
    this.broadcast({ type: 'presenter', state: null });
  }
}
