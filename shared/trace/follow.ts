/** Classroom follow mode, as the gateway (server/gateway/follow.ts) relays it and the UI applies it. */

/** What followers mirror: the active view, the selected PDU, the stepper's task and stage. */
export interface FollowState {
  readonly tab: string;
  readonly selectedSeq: number | null;
  readonly stepTaskId: number | null;
  readonly stepIndex: number;
  /** The presenter's label ("Presenter" unless it names itself). */
  readonly name: string;
  /** The lesson the presenter runs and its step (0-based); absent or null: none. */
  readonly lesson?: { readonly id: string; readonly step: number } | null;
}
