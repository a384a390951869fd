/**
 * POST /api/io: one read or write through the lab's own initiator. The request body, the answer, and the rules the
 * gateway enforces and the UI (composer, console) checks first with the same words, so a mistake reads the same
 * wherever it is made.
 */
import type { StepStageId } from '../trace/step.ts';

/** Write payloads: hex digits, UTF-8 text, or one byte value filling the whole range. */
export type IoData = { readonly hex: string } | { readonly text: string } | { readonly pattern: number };

/** POST /api/io body. */
export interface IoRequestBody {
  readonly lun: number;
  readonly op: 'read' | 'write';
  readonly lba: number;
  readonly blocks: number;
  /** Writes only; shorter data is zero-filled to whole blocks, longer data is refused (writeDataTooLong). */
  readonly data?: IoData;
  readonly fua?: boolean;
  /** Step mode: the gateway holds the I/O at each stage until Next (the request answers when it is done). */
  readonly step?: boolean;
  /** Step mode: how long one hold lasts before the I/O goes on unheld. */
  readonly stepTimeoutMs?: number;
  /** How long the lab initiator waits for the status before ABORT TASK and a retry. */
  readonly timeoutMs?: number;
}

/** POST /api/io answer (a CHECK CONDITION is an answer too: `ok` false, the sense decoded). */
export interface IoResult {
  readonly ok: boolean;
  readonly status: number;
  /** "GOOD", or "CHECK CONDITION, ILLEGAL REQUEST: ..." */
  readonly statusText: string;
  readonly sense?: { readonly key: number; readonly asc: number; readonly ascq: number };
  /** Read data as hex (reads only). */
  readonly dataHex?: string;
  readonly bytes: number;
  readonly durationMs: number;
  /** Step mode: the stages the I/O was held at, and whether a hold ran out of time. */
  readonly stepped?: { readonly id: number; readonly passed: readonly StepStageId[]; readonly timedOut: boolean };
  /** What the initiator did to get there when something went wrong: timeouts, aborts, reconnects, retries. */
  readonly recovery?: readonly string[];
}

/** Write data longer than the blocks asked for: never truncated, refused with this text (undefined: it fits). */
export function writeDataTooLong(dataBytes: number, blocks: number, blockSize: number): string | undefined {
  const room = blocks * blockSize;
  if (dataBytes <= room) return undefined;
  return `write data is ${dataBytes} bytes but ${blocks} block(s) of ${blockSize} bytes hold ${room}: ask for ${Math.ceil(dataBytes / blockSize)} blocks or send less data`;
}
