/** Classroom follow mode, as the gateway (server/gateway/follow.ts) relays it and the UI applies it. */

/** Most characters of the presenter's console a follower is sent (the newest lines). */
export const FOLLOW_CONSOLE_CHARS = 12_000;
/** Most hex characters of the composer's read data a follower is sent (the first bytes). */
export const FOLLOW_DATA_HEX_CHARS = 8_192;

/** The composer's last I/O as the presenter shows it: the request, then the result or the error. */
export interface FollowComposer {
  /** Bumped by the presenter for each new result, so a follower applies each once. */
  readonly version: number;
  readonly op: 'read' | 'write';
  readonly lun: number;
  readonly lba: number;
  readonly blocks: number;
  readonly error: string | null;
  readonly result: {
    readonly ok: boolean;
    readonly status: number;
    readonly statusText: string;
    readonly sense?: { readonly key: number; readonly asc: number; readonly ascq: number };
    /** At most FOLLOW_DATA_HEX_CHARS (the first bytes read). */
    readonly dataHex?: string;
    readonly bytes: number;
    readonly durationMs: number;
  } | null;
  readonly taskId: number | null;
}

/** What followers mirror: the active view, the selected PDU, the stepper's task and stage, console and composer. */
export interface FollowState {
  readonly tab: string;
  readonly selectedSeq: number | null;
  readonly stepTaskId: number | null;
  readonly stepIndex: number;
  /** The presenter's label ("Presenter" unless it names itself). */
  readonly name: string;
  /** The lesson the presenter runs and its step (0-based); absent or null: none. */
  readonly lesson?: { readonly id: string; readonly step: number } | null;
  /** The presenter's console screen, newest lines last (at most FOLLOW_CONSOLE_CHARS). */
  readonly console?: string;
  readonly composer?: FollowComposer | null;
}
