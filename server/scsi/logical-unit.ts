/**
 * Per-LUN state (SAM-5 4.6 logical unit): the store, medium state for removable LUNs, PREVENT ALLOW MEDIUM REMOVAL
 * holders, unit attentions pending per I_T nexus, and the mode parameters an initiator can change.
 */
import { RangeLock } from '../store/range-lock.ts';
import { AtomicGate } from './atomic-gate.ts';
import { CopyResults } from './spc/copy-manager.ts';
import type { BlockStore } from '../store/types.ts';
import { Sense, type SenseReason } from './sense.ts';

/** Mode parameters that MODE SELECT can change (see spc/mode-pages.ts for which bits are changeable). */
export interface ModeParameters {
  /** Control mode page D_SENSE (SPC-4 7.5.8): report descriptor-format sense. */
  dSense: boolean;
  /** Control mode page SWP (SPC-4 7.5.8): software write protect, the LU refuses writes while set. */
  swp: boolean;
  /** Caching mode page WCE (SBC-3 6.4.5): write cache enabled; writes without FUA may sit in the page cache. */
  wce: boolean;
}

export const DEFAULT_MODE: Readonly<ModeParameters> = { dSense: false, swp: false, wce: true };

/** Most unit attentions queued per nexus: older ones are dropped first (SAM-5 allows coalescing). */
const MAX_PENDING_UA = 8;
/** Lost nexuses remembered, so that their return reports I_T NEXUS LOSS OCCURRED; the oldest are forgotten first. */
const MAX_REMEMBERED_LOSSES = 1024;

export class LogicalUnit {
  /** Serializes overlapping writes against COMPARE AND WRITE / ORWRITE (read-modify-write) on this LUN. */
  readonly lock = new RangeLock();
  /** READ against WRITE ATOMIC(16): all old or all new data (see atomic-gate.ts). */
  readonly atomic = new AtomicGate(this.lock);
  /** EXTENDED COPY statuses held for RECEIVE COPY RESULTS (spc/copy-manager.ts). */
  readonly copyResults = new CopyResults();
  mediumLoaded = true;
  /**
   * Default mode parameters (MODE SENSE PC=10b, and what a reset reverts to): DEFAULT_MODE, with WCE as the store's
   * write cache was configured when the LU was made (a block cache in write-through mode: 0).
   */
  readonly defaultMode: Readonly<ModeParameters>;
  private values: ModeParameters;
  /** I_T nexuses holding PREVENT MEDIUM REMOVAL (SBC-3 5.11): removal is prevented while any holds it. */
  private readonly preventers = new Set<string>();
  /** Nexuses that have sent a command here: a reset establishes unit attentions for each of them. */
  private readonly nexuses = new Set<string>();
  private readonly unitAttentions = new Map<string, SenseReason[]>();
  /** Nexuses lost without a logout (connection dropped, session reinstated): see seen(). */
  private readonly lostNexuses = new Set<string>();

  constructor(
    readonly lun: number,
    readonly store: BlockStore,
    readonly removable: boolean,
    /** Write protected by configuration (hardware write protect, as far as initiators can tell). */
    readonly readOnly: boolean,
    /**
     * log2(logical blocks per physical block): READ CAPACITY(16) reports it, and the Block Limits VPD page's
     * optimal transfer / unmap granularities follow the physical block.
     */
    readonly physicalBlockExponent = 0,
  ) {
    if (!Number.isInteger(physicalBlockExponent) || physicalBlockExponent < 0 || physicalBlockExponent > 15) {
      throw new RangeError(`LUN ${lun}: physical block exponent ${physicalBlockExponent} is not 0-15`);
    }
    const writeCache = store.writeCache;
    this.defaultMode = { ...DEFAULT_MODE, wce: writeCache ? writeCache.writeBack : DEFAULT_MODE.wce };
    this.values = { ...this.defaultMode };
  }

  /**
   * Current mode parameters. With a write cache in the store (server/store/cache), WCE is that cache's state, so
   * MODE SENSE tells the truth also after the cache was switched some other way (POST /api/cache).
   */
  get mode(): ModeParameters {
    const writeCache = this.store.writeCache;
    if (writeCache) this.values.wce = writeCache.writeBack;
    return this.values;
  }

  /** Replaces the parameters; with a write cache, WCE follows the cache (use applyMode to switch it). */
  set mode(next: ModeParameters) {
    this.values = { ...next };
  }

  /**
   * MODE SELECT: new parameters, and a WCE change switches the store's write cache (SBC-3 6.4.5). Turning WCE off
   * resolves once everything the cache held dirty is on stable storage, so the next write is the first write-through.
   */
  async applyMode(next: ModeParameters): Promise<void> {
    this.values = { ...next };
    const writeCache = this.store.writeCache;
    if (writeCache && writeCache.writeBack !== next.wce) await writeCache.setWriteBack(next.wce);
  }

  get thin(): boolean {
    return this.store.thin;
  }

  /** Writes are refused: configured read-only, or software write protect set through the control mode page. */
  get writeProtected(): boolean {
    return this.readOnly || this.mode.swp;
  }

  get removalPrevented(): boolean {
    return this.preventers.size > 0;
  }

  setPrevent(nexusId: string, prevent: boolean): void {
    if (prevent) this.preventers.add(nexusId);
    else this.preventers.delete(nexusId);
  }

  /**
   * Called for every command: remembers the nexus so later resets can tell it. A nexus's first command here gets a
   * unit attention (SAM-5 6.3.1, 6.3.4; as tgt and LIO do): I_T NEXUS LOSS OCCURRED when the same initiator port
   * lost its previous nexus without logging out (connection dropped, session reinstated), otherwise POWER ON, RESET,
   * OR BUS DEVICE RESET OCCURRED: to this initiator the LU has just appeared, and anything it cached may be stale.
   */
  seen(nexusId: string): void {
    if (this.nexuses.has(nexusId)) return;
    this.nexuses.add(nexusId);
    const lost = this.lostNexuses.delete(nexusId);
    this.queueUnitAttention(nexusId, lost ? Sense.ItNexusLossOccurred : Sense.PowerOnReset);
  }

  /** The nexuses that have sent a command here and are not lost. */
  knownNexuses(): IterableIterator<string> {
    return this.nexuses.values();
  }

  /** Queues `reason` for every nexus known here, except `except` (the nexus that caused the change). */
  establishUnitAttention(reason: SenseReason, except?: string): void {
    for (const id of this.nexuses) {
      if (id !== except) this.queueUnitAttention(id, reason);
    }
  }

  /** Queues `reason` for one nexus, known here yet or not (it is reported when that nexus next shows up). */
  queueUnitAttention(nexusId: string, reason: SenseReason): void {
    let queue = this.unitAttentions.get(nexusId);
    if (!queue) this.unitAttentions.set(nexusId, (queue = []));
    if (queue.some((r) => r.asc === reason.asc && r.ascq === reason.ascq)) return;
    queue.push(reason);
    if (queue.length > MAX_PENDING_UA) queue.shift();
  }

  /** Removes and returns the oldest unit attention pending for the nexus. */
  takeUnitAttention(nexusId: string): SenseReason | undefined {
    const queue = this.unitAttentions.get(nexusId);
    if (!queue || queue.length === 0) return undefined;
    const reason = queue.shift();
    if (queue.length === 0) this.unitAttentions.delete(nexusId);
    return reason;
  }

  hasUnitAttention(nexusId: string): boolean {
    return this.unitAttentions.has(nexusId);
  }

  /**
   * LU reset, target warm/cold reset (SAM-5 6.3, SBC-3 5.11): prevent is released, mode reverts to default, and
   * every known nexus, the requester's included, gets the reset's unit attention.
   */
  reset(reason: SenseReason, revertMode: boolean): void {
    this.preventers.clear();
    // WCE stays what the store's write cache is (a reset does not write back or switch the cache).
    if (revertMode) this.mode = { ...this.defaultMode };
    this.copyResults.reset();
    this.unitAttentions.clear();
    this.establishUnitAttention(reason);
  }

  /**
   * The nexus is gone: forget everything held on its behalf. `loss`: it ended without a logout (connection dropped,
   * session reinstated), so its initiator port's next nexus is told (see seen()).
   */
  nexusLost(nexusId: string, loss: boolean): void {
    this.preventers.delete(nexusId);
    this.copyResults.nexusLost(nexusId);
    const known = this.nexuses.delete(nexusId);
    this.unitAttentions.delete(nexusId);
    if (loss && known) {
      this.lostNexuses.add(nexusId);
      if (this.lostNexuses.size > MAX_REMEMBERED_LOSSES) this.lostNexuses.delete(this.lostNexuses.values().next().value!);
    }
  }
}
