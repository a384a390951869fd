/**
 * Classroom follow mode: one browser presents, the others may follow its view. The presenter's page sends
 * `{type: 'present', state, token}` over /ws whenever what it shows changes (`state: null` stops presenting); the
 * hub keeps the newest state and sends `{type: 'presenter', state}` to every other browser, and to each new one on
 * connect. Another browser taking over ends the presentation for the old presenter. The presenter's socket closing
 * (a reload, a network blip) ends it only after RECONNECT_GRACE_MS: a page that comes back with the same token
 * (kept in its sessionStorage) carries on, and followers see no gap.
 */
import { FOLLOW_CONSOLE_CHARS, FOLLOW_DATA_HEX_CHARS, type FollowComposer, type FollowState } from '../../shared/trace/follow.ts';

import type { WsPresenterMessage } from '../../shared/api/ws.ts';

export type { FollowState };

/** How long a presentation outlives its presenter's socket, waiting for the same page to reconnect. */
export const RECONNECT_GRACE_MS = 5_000;
const MAX_TOKEN = 64;
const MAX_TEXT = 400;

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
  if (o.console !== undefined && typeof o.console !== 'string') return undefined;
  const composer = o.composer === undefined || o.composer === null ? null : parseComposer(o.composer);
  if (composer === undefined) return undefined;
  const lesson = parseLesson(o.lesson);
  if (lesson === undefined) return undefined;
  return {
    tab: o.tab,
    selectedSeq,
    stepTaskId,
    stepIndex,
    name,
    lesson,
    ...(typeof o.console === 'string' ? { console: o.console.slice(-FOLLOW_CONSOLE_CHARS) } : {}),
    composer,
  };
}

const uint = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** The composer part of a state, field by field; undefined if malformed. */
function parseComposer(v: unknown): FollowComposer | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  if (!uint(o.version) || (o.op !== 'read' && o.op !== 'write') || !uint(o.lun) || !uint(o.lba) || !uint(o.blocks)) return undefined;
  if (o.error !== null && typeof o.error !== 'string') return undefined;
  const taskId = intOrNull(o.taskId);
  if (taskId === undefined) return undefined;
  let result: FollowComposer['result'] = null;
  if (o.result !== null && o.result !== undefined) {
    if (typeof o.result !== 'object') return undefined;
    const r = o.result as Record<string, unknown>;
    if (typeof r.ok !== 'boolean' || !uint(r.status) || typeof r.statusText !== 'string' || !uint(r.bytes) || typeof r.durationMs !== 'number')
      return undefined;
    if (r.dataHex !== undefined && (typeof r.dataHex !== 'string' || !/^[0-9a-f]*$/i.test(r.dataHex))) return undefined;
    let sense: { key: number; asc: number; ascq: number } | undefined;
    if (r.sense !== undefined) {
      const s = r.sense as Record<string, unknown> | null;
      if (!s || !uint(s.key) || !uint(s.asc) || !uint(s.ascq)) return undefined;
      sense = { key: s.key, asc: s.asc, ascq: s.ascq };
    }
    result = {
      ok: r.ok,
      status: r.status,
      statusText: r.statusText.slice(0, MAX_TEXT),
      bytes: r.bytes,
      durationMs: r.durationMs,
      ...(sense ? { sense } : {}),
      ...(typeof r.dataHex === 'string' ? { dataHex: r.dataHex.slice(0, FOLLOW_DATA_HEX_CHARS) } : {}),
    };
  }
  return {
    version: o.version,
    op: o.op,
    lun: o.lun,
    lba: o.lba,
    blocks: o.blocks,
    error: o.error === null ? null : String(o.error).slice(0, MAX_TEXT),
    result,
    taskId,
  };
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
  private token: string | undefined;
  private state: FollowState | undefined;
  private graceTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly broadcast: (message: WsPresenterMessage, except?: T) => void,
    private readonly send: (to: T, message: WsPresenterMessage) => void,
    private readonly graceMs = RECONNECT_GRACE_MS,
  ) {}

  /** A client's `present` message; returns an error text for a bad one. `token` names the presenting page. */
  present(from: T, raw: unknown, token?: unknown): string | undefined {
    if (raw === null) {
      if (from === this.presenter) this.end();
      return undefined;
    }
    const state = parseFollowState(raw);
    if (!state) return 'present: state must be {tab, selectedSeq, stepTaskId, stepIndex, name?, console?, composer?}';
    const tok = typeof token === 'string' && token.length > 0 && token.length <= MAX_TOKEN ? token : undefined;
    // The same page back after a reload (its old socket is gone or going): no takeover, it simply carries on.
    const samePage = tok !== undefined && tok === this.token;
    if (this.presenter !== undefined && this.presenter !== from && !samePage) this.send(this.presenter, { type: 'presenter', state: null, takenOver: true });
    clearTimeout(this.graceTimer);
    this.graceTimer = undefined;
    this.presenter = from;
    this.token = tok;
    this.state = state;
    this.broadcast({ type: 'presenter', state }, from);
    return undefined;
  }

  /** A new client hears the current presentation at once. */
  welcome(to: T): void {
    if (this.state && to !== this.presenter) this.send(to, { type: 'presenter', state: this.state });
  }

  left(client: T): void {
    if (client !== this.presenter) return;
    this.presenter = undefined;
    if (this.token === undefined || this.graceMs <= 0) {
      this.end();
      return;
    }
    // Followers keep the last state while the presenter's page reloads.
    clearTimeout(this.graceTimer);
    this.graceTimer = setTimeout(() => this.end(), this.graceMs);
    this.graceTimer.unref?.();
  }

  close(): void {
    clearTimeout(this.graceTimer);
  }

  private end(): void {
    clearTimeout(this.graceTimer);
    this.graceTimer = undefined;
    this.presenter = undefined;
    this.token = undefined;
    this.state = undefined;
    this.broadcast({ type: 'presenter', state: null });
  }
}
