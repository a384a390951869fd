/**
 * The copy manager of each LU (SPC-4 5.17): what it promises in RECEIVE COPY RESULTS OPERATING PARAMETERS and the
 * Third-party Copy VPD page, and the copy status it holds for RECEIVE COPY RESULTS COPY STATUS. One place, so what
 * is advertised and what extended-copy.ts enforces cannot drift apart.
 */

/** CSCD (target) descriptors per EXTENDED COPY: a source and a destination, with room for a few more LUs. */
export const MAX_TARGET_DESCRIPTORS = 8;
export const MAX_SEGMENT_DESCRIPTORS = 32;
/** Bytes of target plus segment descriptors per parameter list. */
export const MAX_DESCRIPTOR_LIST_LENGTH = 1024;
/** Block -> block segments carry a 16-bit NUMBER OF BLOCKS. */
export const MAX_SEGMENT_BLOCKS = 0xffff;
/** Copies this copy manager runs at once (they share nothing but the LUs' range locks). */
export const MAX_CONCURRENT_COPIES = 16;
/** Held copy statuses per I_T nexus; the oldest is dropped first. */
const MAX_HELD_PER_NEXUS = 16;

/** Descriptor type codes this copy manager implements (SPC-4 6.4.5, 6.4.6). */
export const SEGMENT_BLOCK_TO_BLOCK = 0x02;
/** Block -> block with a 32-bit byte count and byte offsets (SPC-4 6.4.6.7); offsets must be 0 here. */
export const SEGMENT_BLOCK_TO_BLOCK_OFFSETS = 0x0a;
export const TARGET_IDENTIFICATION = 0xe4;
export const IMPLEMENTED_DESCRIPTORS = [SEGMENT_BLOCK_TO_BLOCK, SEGMENT_BLOCK_TO_BLOCK_OFFSETS, TARGET_IDENTIFICATION] as const;

/** RECEIVE COPY RESULTS service actions implemented (SPC-4 6.18, LID1). */
export const RCR_COPY_STATUS = 0x00;
export const RCR_OPERATING_PARAMETERS = 0x03;

/** LID1 COPY STATUS: COPY MANAGER STATUS values (SPC-4 6.18.2). */
export const enum CopyState {
  InProgress = 0x00,
  Completed = 0x01,
  CompletedWithErrors = 0x02,
}

export interface CopyStatus {
  state: CopyState;
  segmentsProcessed: number;
  bytesTransferred: number;
}

/**
 * Copy statuses by I_T nexus and LIST IDENTIFIER: a copy is registered while it runs (a second one with the same
 * list identifier from the same nexus is OPERATION IN PROGRESS), and kept after it ends when the parameter list
 * said LIST ID USAGE 00b (hold). Discarded when the nexus goes away or the LU is reset (SPC-4 5.17.4.3).
 */
export class CopyResults {
  private readonly byNexus = new Map<string, Map<number, CopyStatus>>();

  /** Registers a running copy; undefined when that list identifier is already running for this nexus. */
  begin(nexusId: string, listId: number): CopyStatus | undefined {
    let held = this.byNexus.get(nexusId);
    if (!held) this.byNexus.set(nexusId, (held = new Map()));
    if (held.get(listId)?.state === CopyState.InProgress) return undefined;
    const status: CopyStatus = { state: CopyState.InProgress, segmentsProcessed: 0, bytesTransferred: 0 };
    held.delete(listId); // re-inserted last: Map order is the age order the cap below drops by
    held.set(listId, status);
    return status;
  }

  /** The copy ended: its status stays for RECEIVE COPY RESULTS only if `hold`. */
  end(nexusId: string, listId: number, status: CopyStatus, state: CopyState, hold: boolean): void {
    status.state = state;
    const held = this.byNexus.get(nexusId);
    if (!held || held.get(listId) !== status) return;
    if (!hold) held.delete(listId);
    while (held.size > MAX_HELD_PER_NEXUS) held.delete(held.keys().next().value!);
    if (held.size === 0) this.byNexus.delete(nexusId);
  }

  get(nexusId: string, listId: number): CopyStatus | undefined {
    return this.byNexus.get(nexusId)?.get(listId);
  }

  nexusLost(nexusId: string): void {
    this.byNexus.delete(nexusId);
  }

  /** LU reset: held statuses go; running copies keep their entries until they end. */
  reset(): void {
    for (const [nexusId, held] of this.byNexus) {
      for (const [listId, status] of held) if (status.state !== CopyState.InProgress) held.delete(listId);
      if (held.size === 0) this.byNexus.delete(nexusId);
    }
  }
}
