/**
 * Classroom follow mode (server/gateway/follow.ts): this page may present (its view, selected PDU, stepper task and
 * stage, console screen and composer result go to every other browser) or follow whoever presents (it then shows
 * what the presenter shows). Presenting and following survive a reload: the choice, the presenter's view and its
 * token (which tells the hub "the same page, back") live in this tab's sessionStorage.
 */
import { tick } from 'svelte';
import { lab } from './lab.svelte.ts';
import { stepper } from './stepper.svelte.ts';
import { composer } from './composer.svelte.ts';
import { TABS, ui, type Tab } from './ui.svelte.ts';
import { hexToBytes } from '../lib/bytes.ts';
import { FOLLOW_CONSOLE_CHARS, FOLLOW_DATA_HEX_CHARS, type FollowComposer, type FollowState } from '../../../shared/trace/follow.ts';
import { lessons } from './lessons.svelte.ts';

const STORE_KEY = 'iscsi-lab.follow';

/** What this tab remembers across a reload. */
interface Saved {
  presenting: boolean;
  following: boolean;
  token: string;
  view?: { tab: string; selectedSeq: number | null; stepTaskId: number | null; stepIndex: number };
  composer?: FollowComposer | null;
  console?: string;
}

function load(): Saved | undefined {
  try {
    const s = sessionStorage.getItem(STORE_KEY);
    return s ? (JSON.parse(s) as Saved) : undefined;
  } catch {
    return undefined;
  }
}

function save(s: Saved): void {
  try {
    sessionStorage.setItem(STORE_KEY, JSON.stringify(s));
  } catch {
    // private mode or full: presenting still works, it just does not survive a reload
  }
}

function newToken(): string {
  const b = new Uint8Array(12);
  crypto.getRandomValues(b);
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
}

export class Follow {
  presenting = $state(false);
  following = $state(false);
  /** What the presenter shows now (null: nobody presents). */
  presenter = $state.raw<FollowState | null>(null);
  /** Another browser took over while this one presented. */
  takenOver = $state(false);
  name = $state('Presenter');
  /** This page's console screen (set by the console while presenting), newest lines last. */
  consoleText = $state('');
  /** The presenter's composer result last applied here, so each is applied once. */
  private appliedComposer = '';
  private composerVersion = 0;
  private token = newToken();

  /** Wires the page: hub messages in, this page's view out while presenting. Returns the cleanup. */
  start(): () => void {
    this.restore();
    const off = lab.onMessage((m) => {
      if (m.type !== 'presenter') return;
      if (m.takenOver === true) {
        this.presenting = false;
        this.takenOver = true;
        this.persist();
      }
      this.presenter = (m.state as FollowState | null) ?? null;
      if (this.following && this.presenter) void this.apply(this.presenter);
    });
    const stop = $effect.root(() => {
      // A new composer result (or error) is a new version: followers apply each once.
      $effect(() => {
        void composer.result;
        void composer.error;
        void composer.taskId;
        this.composerVersion++;
      });
      $effect(() => {
        if (!this.presenting) return;
        const state: FollowState = {
          tab: ui.tab,
          selectedSeq: ui.selectedSeq,
          stepTaskId: ui.stepTaskId,
          stepIndex: stepper.index,
          name: this.name,
          console: this.consoleText.slice(-FOLLOW_CONSOLE_CHARS),
          composer: this.composerView(),
          lesson: lessons.lesson ? { id: lessons.lesson.id, step: lessons.stepIndex } : null,
        };
        this.persist(state);
        if (lab.connected) lab.send({ type: 'present', state, token: this.token });
      });
    });
    return () => {
      off();
      stop();
    };
  }

  setPresenting(on: boolean): void {
    this.presenting = on;
    this.takenOver = false;
    if (on) this.following = false;
    else lab.send({ type: 'present', state: null });
    this.persist();
  }

  setFollowing(on: boolean): void {
    this.following = on;
    if (on) {
      if (this.presenting) this.setPresenting(false);
      if (this.presenter) void this.apply(this.presenter);
    }
    this.persist();
  }

  /** The composer's last I/O as followers get it (the read data cut to its first bytes). */
  private composerView(): FollowComposer | null {
    const r = composer.result;
    const req = composer.request;
    const error = composer.error;
    if (!r && !error) return null;
    const num = (s: string): number => (/^\d+$/.test(s.trim()) ? Number(s.trim()) : 0);
    return {
      version: this.composerVersion,
      op: error || !req ? composer.op : req.op,
      lun: error || !req ? composer.lun : req.lun,
      lba: error || !req ? num(composer.lba) : req.lba,
      blocks: error || !req ? num(composer.blocks) : req.blocks,
      error,
      result: r
        ? {
            ok: r.ok,
            status: r.status,
            statusText: r.statusText,
            bytes: r.bytes,
            durationMs: r.durationMs,
            ...(r.sense ? { sense: r.sense } : {}),
            ...(r.dataHex ? { dataHex: r.dataHex.slice(0, FOLLOW_DATA_HEX_CHARS) } : {}),
          }
        : null,
      taskId: composer.taskId,
    };
  }

  private async apply(s: FollowState): Promise<void> {
    const tab = TABS.find((t) => t.id === s.tab);
    if (tab) ui.tab = tab.id;
    if (s.composer) this.applyComposer(s.composer);
    if (s.stepTaskId !== ui.stepTaskId) {
      ui.stepTaskId = s.stepTaskId;
      // The stepper starts a new task at stage 0 once it renders it; the presenter's stage goes in after that.
      await tick();
    }
    ui.selectedSeq = s.selectedSeq;
    stepper.go(s.stepIndex);
    // The presenter's lesson and step (a follower's own progress in it starts fresh at that step).
    if (!s.lesson) lessons.close();
    else if (s.lesson.id !== lessons.lessonId || s.lesson.step !== lessons.stepIndex) lessons.open(s.lesson.id, s.lesson.step);
  }

  /** Shows the presenter's composer request and result in this page's composer (once per result). */
  private applyComposer(c: FollowComposer): void {
    const key = JSON.stringify(c);
    if (key === this.appliedComposer) return;
    this.appliedComposer = key;
    composer.op = c.op;
    composer.lun = c.lun;
    composer.lba = String(c.lba);
    composer.blocks = String(c.blocks);
    composer.error = c.error;
    composer.request = { lun: c.lun, op: c.op, lba: c.lba, blocks: c.blocks };
    composer.result = c.result ? { ...c.result } : null;
    composer.resultBytes = c.result?.dataHex ? hexToBytes(c.result.dataHex) : null;
    composer.taskId = c.taskId;
  }

  /** Back from a reload: present or follow again, and (presenting) show what was shown before it. */
  private restore(): void {
    const s = load();
    if (!s) return;
    this.token = s.token || this.token;
    this.following = s.following && !s.presenting;
    this.presenting = s.presenting;
    if (!s.presenting) return;
    if (s.view) {
      const tab = TABS.find((t) => t.id === s.view!.tab);
      if (tab) ui.tab = tab.id as Tab;
      ui.selectedSeq = s.view.selectedSeq;
      ui.stepTaskId = s.view.stepTaskId;
      const index = s.view.stepIndex;
      // the stepper's stages exist once the task's PDUs are back from the snapshot
      const off = lab.onAppend(() => {
        if (stepper.stages.length > index) {
          stepper.go(index);
          off();
        }
      });
      setTimeout(off, 10_000);
    }
    if (s.console) this.consoleText = s.console;
    if (s.composer) this.applyComposer(s.composer);
  }

  private persist(state?: FollowState): void {
    const prev = load();
    save({
      presenting: this.presenting,
      following: this.following,
      token: this.token,
      view: state ? { tab: state.tab, selectedSeq: state.selectedSeq, stepTaskId: state.stepTaskId, stepIndex: state.stepIndex } : prev?.view,
      composer: state ? state.composer : prev?.composer,
      console: state ? state.console : prev?.console,
    });
  }
}

export const follow = new Follow();
