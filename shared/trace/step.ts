/** Step mode's stages and state, as the gateway (server/taps/step-gate.ts) and the UI both know them. */

/**
 * The five steps of the read path as the lab teaches them (command, cache scheduling, read, encapsulation,
 * transmit), each a point where step mode holds the I/O; `name` is the step, `title` where it is held.
 */
export const STEP_STAGES = [
  { id: 'initiator-send', name: 'Command', title: 'Initiator: SCSI Command built, not yet sent' },
  { id: 'target-received', name: 'Cache scheduling', title: 'Target: SCSI Command received (and its data), about to be scheduled on the cache' },
  { id: 'store-access', name: 'Read', title: "Target: the command reaches the LUN's cache and store" },
  { id: 'target-respond', name: 'Encapsulation', title: 'Target: result ready, Data-In / SCSI Response built, not yet sent' },
  { id: 'initiator-receive', name: 'Transmit', title: 'Initiator: response transmitted and received, result not yet handed to the application' },
] as const;

/** A stage's step name for this I/O: the third step of a write is "Write". */
export function stepStageName(id: StepStageId, io: string): string {
  if (id === 'store-access' && /^WRITE|^COMPARE/.test(io)) return 'Write';
  return STEP_STAGES.find((s) => s.id === id)?.name ?? id;
}

export type StepStageId = (typeof STEP_STAGES)[number]['id'];

export const DEFAULT_STEP_TIMEOUT_MS = 60_000;

/** What every browser is shown: GET /api/step and the /ws 'step' message. */
export interface StepState {
  /** Grows with every change: a browser keeps the newest state whichever way (HTTP, /ws) it came. */
  readonly version: number;
  readonly active: boolean;
  /** One id per stepped I/O. */
  readonly id: number;
  /** "WRITE(16) LBA 100 ×2 on LUN 0". */
  readonly io: string;
  /** The SCSI task, for finding it in the trace: the stepping session's initiator name, LUN, first LBA. */
  readonly initiatorName?: string;
  readonly lun?: number;
  readonly lba?: number;
  /** The stage being held now (undefined between stages or when done). */
  readonly stage?: StepStageId;
  readonly stageIndex: number;
  /** Stages passed so far, in order (a stage the I/O never reached, e.g. no store access, is absent). */
  readonly passed: StepStageId[];
  /** Stages the I/O went through without being held (after Continue or a timeout), in order. */
  readonly ranUnheld?: StepStageId[];
  /** What the stage knows: ITT, cache residency, status... */
  readonly detail?: string;
  /** Wall-clock ms when the current hold began, and when it times out. */
  readonly heldSinceMs?: number;
  readonly timeoutAtMs?: number;
  /** The last hold ran out of time; the rest of the I/O went on unheld. */
  readonly timedOut: boolean;
  readonly done: boolean;
  /** The I/O's result once done ("GOOD", or the error). */
  readonly result?: string;
}
