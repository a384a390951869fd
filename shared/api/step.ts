/**
 * Step mode's routes (server/gateway/step-routes.ts): GET /api/step -> StepState, POST /api/step StepRequest ->
 * StepState. The same state reaches every browser as the /ws `step` message (ws.ts). A stepped I/O itself is
 * POST /api/io with `step: true` (io.ts).
 */
import type { StepState } from '../trace/step.ts';

export type { StepState };

export interface StepRequest {
  readonly action: 'next' | 'continue';
}
