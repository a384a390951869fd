/**
 * What the layers see of step mode (server/taps/step-gate.ts): the target's SCSI tasks and the LUN's store ask it
 * whether to hold a stage. The gate is made by whoever runs the target and handed in through the layers' options;
 * NO_STEP_HOLD stands in when nobody steps, so the data path's check stays one boolean read.
 */
export interface StepHold {
  /** The data path's only check: true while a stepped I/O is in flight. */
  readonly armed: boolean;
  /**
   * From synchronous target code: true when the task is the stepped one and this stage is now held (`resume` runs
   * on Next or timeout); false to go on at once.
   */
  holdTask(initiatorName: string, itt: number, stage: 'target-received' | 'target-respond', resume: () => void): boolean;
  /** Before the LUN's cache and store: a promise that resolves on Next, or undefined when this access is not held. */
  beforeStore(lun: number, lba: number, blocks: number): Promise<void> | undefined;
}

/** Never armed: the hold of a target nobody steps. */
export const NO_STEP_HOLD: StepHold = {
  armed: false,
  holdTask: () => false,
  beforeStore: () => undefined,
};
