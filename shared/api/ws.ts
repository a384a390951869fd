/**
 * /ws: every message the hub (server/gateway/ws-hub.ts, follow.ts) sends the browser and every one the browser sends
 * back, as JSON text frames; raw PDU bytes go as binary frames (layout: ws-frames.ts). Messages are built as these
 * typed objects and turned into text here only, so the hub and the page (web/src/stores/trace-worker.ts) agree.
 */
import type { FollowState } from '../trace/follow.ts';
import type { TraceEvent, TraceHeader, TraceStats } from '../trace/schema.ts';
import type { StepState } from '../trace/step.ts';
import type { LabStatus } from './status.ts';

/** First message to every new browser: who the lab is, and the recent trace (its raw frames follow as binary). */
export interface WsSnapshotMessage {
  readonly type: 'snapshot';
  readonly schema: number;
  readonly header: TraceHeader;
  readonly status: LabStatus;
  readonly events: readonly TraceEvent[];
  readonly stats: TraceStats;
}

/**
 * A batch of live events (a few a second). `dropped`: events this browser missed so far because it fell behind;
 * `sampled`: events the hub's task sampling left out so far; `every`: the sampling now (1 = everything).
 */
export interface WsEventsMessage {
  readonly type: 'events';
  readonly dropped: number;
  readonly sampled: number;
  readonly every: number;
  readonly events: readonly TraceEvent[];
}

/** Answer to the browser's `status` message. */
export interface WsStatusMessage {
  readonly type: 'status';
  readonly status: LabStatus;
}

/** Step mode's state changed (the same state GET /api/step answers). */
export interface WsStepMessage {
  readonly type: 'step';
  readonly step: StepState;
}

/** Follow mode: the presenter's view (null: nobody presents; `takenOver`: another browser took over from you). */
export interface WsPresenterMessage {
  readonly type: 'presenter';
  readonly state: FollowState | null;
  readonly takenOver?: true;
}

/** A browser's message the hub could not take. */
export interface WsErrorMessage {
  readonly type: 'error';
  readonly error: string;
}

export type WsServerMessage = WsSnapshotMessage | WsEventsMessage | WsStatusMessage | WsStepMessage | WsPresenterMessage | WsErrorMessage;

/** Browser to hub: ask for the status now, or present a view (state null stops; `token` names the presenting page). */
export type WsClientMessage = { readonly type: 'status' } | { readonly type: 'present'; readonly state: FollowState | null; readonly token?: string };

/** Text of one hub message. */
export function encodeWsMessage(message: WsServerMessage): string {
  return JSON.stringify(message);
}

/** Text of one browser message. */
export function encodeWsClientMessage(message: WsClientMessage): string {
  return JSON.stringify(message);
}

/** How every `events` message starts: the page's worker spots the frequent message without parsing it first. */
export const WS_EVENTS_PREFIX = '{"type":"events"';

/**
 * An `events` message in two parts, for a batch that goes to many browsers: the events are encoded once (`tail`),
 * only the counters differ per browser (`head`). `head(counts) + tail` is exactly encodeWsMessage of the same
 * WsEventsMessage (test/unit/api-contract.test.ts checks this).
 */
export function encodeWsEventsParts(events: readonly TraceEvent[]): { head: (counts: Omit<WsEventsMessage, 'type' | 'events'>) => string; tail: string } {
  return {
    head: (c) => `${WS_EVENTS_PREFIX},"dropped":${c.dropped},"sampled":${c.sampled},"every":${c.every}`,
    tail: `,"events":${JSON.stringify(events)}}`,
  };
}
