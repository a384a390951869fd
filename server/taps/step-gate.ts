/**
 * Step mode: one I/O of the lab's initiator really held between stages (the initiator before it sends the SCSI
 * Command and when the answer arrives, the target when it has the command, before the LUN's cache and store, and
 * before it sends Data-In / SCSI Response) until someone presses Next.
 *
 * Free for everything else: the data path's only check is `stepGate.armed`, a boolean that is false unless a stepped
 * I/O is in flight; and the target then holds only tasks of the one initiator name being stepped. A stage nobody
 * continues times out and the I/O runs to the end unheld, so nothing hangs.
 */

import type { StepStageId, StepState } from '../../shared/trace/step.ts';
import type { StepHold } from './step-hold.ts';

export { DEFAULT_STEP_TIMEOUT_MS, STEP_STAGES, type StepStageId, type StepState } from '../../shared/trace/step.ts';
import { DEFAULT_STEP_TIMEOUT_MS, STEP_STAGES } from '../../shared/trace/step.ts';

export class StepBusyError extends Error {}

interface Run {
  readonly id: number;
  readonly initiatorName: string;
  readonly io: string;
  readonly lun: number;
  readonly lba: number;
  readonly blocks: number;
  readonly timeoutMs: number;
  itt: number | undefined;
  passed: StepStageId[];
  /** Reached after Continue or a timeout: run, not held. */
  ranUnheld: StepStageId[];
  stage?: StepStageId;
  detail?: string;
  heldSinceMs?: number;
  /** After a timeout or Continue, nothing more is held. */
  free: boolean;
  /**
   * True from the release of 'target-received' until 'target-respond': the window in which the stepped command
   * executes, the only time a store access can be its own.
   */
  executing: boolean;
  timedOut: boolean;
  release?: () => void;
  timer?: NodeJS.Timeout;
}

/** One per running target: created where the target is started and passed in to its layers (never a global). */
export class StepGate implements StepHold {
  /** The data path's only check: true while a stepped I/O is in flight. */
  armed = false;
  /** Describes what the cache holds of a range, for the store stage (set by the gateway, which owns the caches). */
  describeStore: ((lun: number, lba: number, blocks: number) => string | undefined) | undefined;
  private run: Run | undefined;
  private last: StepState | undefined;
  private nextId = 1;
  private version = 0;
  private readonly listeners = new Set<(s: StepState) => void>();

  onChange(fn: (s: StepState) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  state(): StepState {
    const r = this.run;
    if (!r) return { ...(this.last ?? { active: false, id: 0, io: '', stageIndex: -1, passed: [], timedOut: false, done: true }), version: this.version };
    return {
      version: this.version,
      active: true,
      id: r.id,
      io: r.io,
      initiatorName: r.initiatorName,
      lun: r.lun,
      lba: r.lba,
      stage: r.stage,
      stageIndex: r.stage ? STEP_STAGES.findIndex((s) => s.id === r.stage) : -1,
      passed: [...r.passed],
      ranUnheld: [...r.ranUnheld],
      detail: r.detail,
      heldSinceMs: r.heldSinceMs,
      timeoutAtMs: r.heldSinceMs !== undefined ? r.heldSinceMs + r.timeoutMs : undefined,
      timedOut: r.timedOut,
      done: false,
    };
  }

  /**
   * Runs one stepped I/O: `fn` issues it from the session named `initiatorName` and calls `pause` at the initiator's
   * stages; the target holds its own stages for that initiator meanwhile. One stepped I/O at a time.
   */
  async step<T>(
    what: { initiatorName: string; io: string; lun: number; lba: number; blocks: number; timeoutMs?: number },
    fn: (pause: (stage: StepStageId, detail?: string) => Promise<void>) => Promise<T>,
    describeResult: (r: T) => string,
  ): Promise<T> {
    if (this.run)
      throw new StepBusyError(
        `a stepped I/O is already in progress (${this.run.io}, at ${this.run.stage ?? 'a stage boundary'}): press Next or Continue first`,
      );
    const run: Run = {
      id: this.nextId++,
      initiatorName: what.initiatorName,
      io: what.io,
      lun: what.lun,
      lba: what.lba,
      blocks: what.blocks,
      timeoutMs: what.timeoutMs ?? DEFAULT_STEP_TIMEOUT_MS,
      itt: undefined,
      passed: [],
      ranUnheld: [],
      free: false,
      executing: false,
      timedOut: false,
    };
    this.run = run;
    this.armed = true;
    this.changed();
    let result = '';
    try {
      const r = await fn((stage, detail) => this.wait(run, stage, detail));
      result = describeResult(r);
      return r;
    } catch (err) {
      result = err instanceof Error ? err.message : String(err);
      throw err;
    } finally {
      this.free(run);
      this.run = undefined;
      this.armed = false;
      this.last = {
        version: 0,
        active: false,
        id: run.id,
        io: run.io,
        initiatorName: run.initiatorName,
        lun: run.lun,
        lba: run.lba,
        stageIndex: -1,
        passed: run.passed,
        ranUnheld: run.ranUnheld,
        timedOut: run.timedOut,
        done: true,
        result,
      };
      this.changed();
    }
  }

  /**
   * Target side, from synchronous code: true when the task is the stepped one and this stage is now held (`resume`
   * is called on Next or timeout); false to go on at once (not stepped, or this stage already passed).
   */
  holdTask(initiatorName: string, itt: number, stage: 'target-received' | 'target-respond', resume: () => void): boolean {
    const run = this.run;
    if (!run || run.initiatorName !== initiatorName || run.passed.includes(stage)) return false;
    // The stepped session runs nothing else while armed, so its first task seen is the stepped one.
    run.itt ??= itt;
    if (run.itt !== itt) return false;
    if (run.free) {
      this.ranUnheld(run, stage);
      return false;
    }
    run.executing = false;
    void this.wait(run, stage, `ITT 0x${itt.toString(16).padStart(8, '0')}`).then(() => {
      run.executing = stage === 'target-received';
      resume();
    });
    return true;
  }

  /**
   * Store side: the stepped command's own access to its LUN, matched by LUN and range while it executes (another
   * initiator's access to the very same range in that millisecond would be taken for it, and held instead): a promise that resolves on Next, or undefined when this access is not the stepped one.
   */
  beforeStore(lun: number, lba: number, blocks: number): Promise<void> | undefined {
    const run = this.run;
    if (!run || run.lun !== lun || run.lba !== lba || run.blocks !== blocks || run.passed.includes('store-access')) return undefined;
    if (run.free) {
      // Only shown, never held: after Continue the range match alone names it (the executing window is not tracked).
      this.ranUnheld(run, 'store-access');
      return undefined;
    }
    if (!run.executing) return undefined;
    return this.wait(run, 'store-access', this.describeStore?.(lun, lba, blocks));
  }

  /** Releases the held stage. False when nothing is held. */
  next(): boolean {
    const r = this.run;
    if (!r?.release) return false;
    r.release();
    return true;
  }

  /** Releases the held stage and holds nothing more of this I/O. */
  continue(): boolean {
    const r = this.run;
    if (!r) return false;
    this.free(r);
    return true;
  }

  /** Records a stage the freed I/O went through unheld (once), so every browser shows it as run. */
  private ranUnheld(run: Run, stage: StepStageId): void {
    if (this.run !== run || run.passed.includes(stage) || run.ranUnheld.includes(stage)) return;
    run.ranUnheld.push(stage);
    this.changed();
  }

  private wait(run: Run, stage: StepStageId, detail: string | undefined): Promise<void> {
    if (run.free) this.ranUnheld(run, stage);
    if (run.free || this.run !== run) return Promise.resolve();
    run.passed.push(stage);
    run.stage = stage;
    run.detail = detail;
    run.heldSinceMs = Date.now();
    return new Promise<void>((resolve) => {
      run.release = () => {
        clearTimeout(run.timer);
        run.release = undefined;
        run.timer = undefined;
        run.stage = undefined;
        run.heldSinceMs = undefined;
        this.changed();
        resolve();
      };
      run.timer = setTimeout(() => {
        // Nobody pressed Next: let the I/O finish rather than hang the initiator (and its session's other I/O).
        run.timedOut = true;
        this.free(run);
      }, run.timeoutMs);
      run.timer.unref();
      this.changed();
    });
  }

  private free(run: Run): void {
    run.free = true;
    run.release?.();
  }

  private changed(): void {
    this.version++;
    const s = this.state();
    for (const fn of this.listeners) {
      try {
        fn(s);
      } catch {
        // a listener (the hub) must not break the I/O being stepped
      }
    }
  }
}
