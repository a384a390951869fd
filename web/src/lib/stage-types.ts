/** What the encapsulation stepper shows: stages along the data path, their bands and hex, and the wire trips (built by layers.ts and wire-stages.ts). */
import type { TripFraming } from '../../../shared/protocol/tcp-framing.ts';

export type LayerId = 'app' | 'fs' | 'scsi' | 'iscsi' | 'tcp' | 'ip' | 'eth' | 'target' | 'cache' | 'store' | 'data';

/** One coloured band in a stage's picture: a header, the wrapped payload, or a trailer. */
export interface Band {
  readonly label: string;
  readonly bytes: number;
  readonly layer: LayerId;
  /** True for the part that is the previous layer's whole output. */
  readonly inner?: boolean;
}

export interface HexBlock {
  readonly label: string;
  readonly bytes: Uint8Array;
  readonly layer: LayerId;
  /** Bytes the block stands for but does not show. */
  readonly more?: number;
}

export interface Stage {
  readonly id: string;
  readonly title: string;
  readonly layer: LayerId;
  readonly where: 'initiator' | 'network' | 'target';
  readonly explain: string;
  readonly bands: readonly Band[];
  /** Bytes this stage adds around what it carries. */
  readonly overhead: number;
  /** The application's payload the overhead is measured against. */
  readonly payload: number;
  /** Time this stage took, from trace timestamps (undefined when the trace cannot tell). */
  readonly durationNs?: number;
  readonly timeNote?: string;
  readonly facts: readonly (readonly [string, string])[];
  readonly hex: readonly HexBlock[];
  /** On the two network stages: one direction's framing, as the capture export writes it. */
  readonly trip?: Trip;
}

/** One direction of the I/O on the wire, in the lab's framing model. */
export interface Trip {
  readonly direction: 'out' | 'back';
  readonly framing: TripFraming;
  readonly srcPort: number;
  readonly dstPort: number;
  /** PDU names in send order. */
  readonly pdus: readonly string[];
}
