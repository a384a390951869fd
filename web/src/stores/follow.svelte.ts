/**
 * Classroom follow mode (server/gateway/follow.ts): this page may present (its view, selected PDU, stepper task and
 * stage go to every other browser) or follow whoever presents (it then shows what the presenter shows).
 */
import { tick } from 'svelte';
import { lab } from './lab.svelte.ts';
import { stepper } from './stepper.svelte.ts';
import { TABS, ui } from './ui.svelte.ts';
import { lessons } from './lessons.svelte.ts';
import type { FollowState } from '../../../shared/trace/follow.ts';


export class Follow {
  presenting = $state(false);
  following = $state(false);
  /** What the presenter shows now (null: nobody presents). */
  presenter = $state.raw<FollowState | null>(null);
  /** Another browser took over while this one presented. */
  takenOver = $state(false);
  name = $state('Presenter');

  /** Wires the page: hub messages in, this page's view out while presenting. Returns the cleanup. */
  start(): () => void {
    const off = lab.onMessage((m) => {
      if (m.type !== 'presenter') return;
      if (m.takenOver === true) {
        this.presenting = false;
        this.takenOver = true;
      }
      this.presenter = (m.state as FollowState | null) ?? null;
      if (this.following && this.presenter) void this.apply(this.presenter);
    });
    const stop = $effect.root(() => {
      $effect(() => {
        if (!this.presenting || !lab.connected) return;
        const state: FollowState = { tab: ui.tab, selectedSeq: ui.selectedSeq, stepTaskId: ui.stepTaskId, stepIndex: stepper.index, name: this.name,
          lesson: lessons.lesson ? { id: lessons.lesson.id, step: lessons.stepIndex } : null };
        lab.send({ type: 'present', state });
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
  }

  setFollowing(on: boolean): void {
    this.following = on;
    if (on) {
      if (this.presenting) this.setPresenting(false);
      if (this.presenter) void this.apply(this.presenter);
    }
  }

  private async apply(s: FollowState): Promise<void> {
    const tab = TABS.find((t) => t.id === s.tab);
    if (tab) ui.tab = tab.id;
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
}

export const follow = new Follow();
