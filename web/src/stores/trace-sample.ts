/**
 * How the trace worker decides what a page can show. A page that re-renders 20k PDUs a second has no time left for
 * its user; above SAMPLE_ABOVE events a second (what reached the gateway for this page, including what the hub
 * already dropped or left out by its own sampling, server/gateway/ws-hub.ts) the worker forwards one task in N, whole (a SCSI Command with all its Data-In, R2T and
 * Response), with N chosen to bring the page near SHOW_TARGET a second. Events outside a task (NOPs without a
 * task, session and store events without one) are kept one in N by their seq. Below SAMPLE_BELOW for BACK_AFTER
 * seconds in a row, everything is forwarded again. The page shows the state (a banner on the timeline).
 * Pure and clock-free (tick() is called once a second), so it is tested without a worker.
 */

/** Events a second above which the page gets a sample. */
export const SAMPLE_ABOVE = 2_000;
/** Below this, for BACK_AFTER seconds in a row, the page gets everything again (a gap, so it does not flap). */
export const SAMPLE_BELOW = 1_200;
export const BACK_AFTER = 2;
/** Roughly what the page gets a second while sampling. */
export const SHOW_TARGET = 400;

export interface SampleState {
  /** True while the page sees only part of the trace (the hub dropped some for it, or this sampler skips tasks). */
  readonly sampled: boolean;
  /** The task sampling: 1, every event the hub sent; N > 1, one task in N of them. */
  readonly every: number;
  /** Events a second that reached the gateway for this page (sent plus dropped by the hub), last second. */
  readonly arrivedPerSecond: number;
  /** Events forwarded to the page, last second. */
  readonly shownPerSecond: number;
}

/** What the sampler needs of an event: its seq, and its task if it has one. */
export interface Sampleable {
  readonly seq: number;
  readonly type: string;
  readonly taskId?: number;
}

export class Sampler {
  state: SampleState = { sampled: false, every: 1, arrivedPerSecond: 0, shownPerSecond: 0 };
  private sentCount = 0;
  private droppedCount = 0;
  private shownCount = 0;
  private calm = 0;

  /** Counts a hub message: events it sent this page, and events it dropped for it since the last one. */
  arrived(sent: number, dropped: number): void {
    this.sentCount += sent;
    this.droppedCount += dropped;
  }

  /** Whether to forward this event under the current rate. */
  keep(e: Sampleable): boolean {
    const n = this.state.every;
    // A drop report is the trace telling the page it missed something: always kept.
    const ok = n === 1 || e.type === 'drop' || (e.taskId !== undefined ? e.taskId % n === 0 : e.seq % n === 0);
    if (ok) this.shownCount++;
    return ok;
  }

  /** Ends a one-second window; true when the page should hear the state (it changed, or sampling goes on). */
  tick(): boolean {
    const sent = this.sentCount;
    const rate = sent + this.droppedCount;
    const shown = this.shownCount;
    this.sentCount = 0;
    this.droppedCount = 0;
    this.shownCount = 0;
    const before = this.state;
    let sampled = before.sampled;
    if (rate > SAMPLE_ABOVE) {
      sampled = true;
      this.calm = 0;
    } else if (sampled && rate < SAMPLE_BELOW) {
      if (++this.calm >= BACK_AFTER) {
        sampled = false;
        this.calm = 0;
      }
    } else {
      this.calm = 0;
    }
    // The hub may already have thinned what it sent: sample what arrives down to what a page can show.
    // A power of two, as the hub's: a task this page keeps is one the hub kept (T % 8 == 0 implies T % 4 == 0).
    const every = sampled ? 2 ** Math.ceil(Math.log2(Math.max(1, sent / SHOW_TARGET))) : 1;
    this.state = { sampled, every, arrivedPerSecond: rate, shownPerSecond: shown };
    return sampled !== before.sampled || sampled;
  }
}
