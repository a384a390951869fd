import { LIMITS } from './constants.ts';
import type { SessionParams } from './negotiation.ts';
import { snAdd, snLessThan } from './pdu.ts';
import type { ItNexus } from '../scsi/types.ts';
import type { IscsiTargetEntry } from './target-context.ts';

/**
 * An iSCSI session (RFC 7143 4.1): the I_T nexus, the negotiated parameters and the command window
 * (CmdSN ordering, 4.2.2.1), shared by its connections (ERL 0 with MaxConnections=1: usually one). `C` is the
 * connection type (connection.ts), a parameter so the session does not import the connection that holds it.
 */
export class Session<C = unknown> {
  expCmdSN: number;
  /** Non-immediate commands admitted and not yet answered: they narrow the window. */
  active = 0;
  readonly connections = new Set<C>();
  /** Commands that arrived ahead of ExpCmdSN, waiting for the gap to fill. */
  private held = new Map<number, () => void>();
  closed = false;

  constructor(
    readonly tsih: number,
    readonly isid: Buffer,
    readonly initiatorName: string,
    readonly type: 'Normal' | 'Discovery',
    readonly params: SessionParams,
    readonly nexus: ItNexus,
    /** The target it logged in to (for a discovery session, the first one). */
    readonly target: IscsiTargetEntry,
    firstCmdSN: number,
    /** Commands outstanding at most (`--max-commands`): the width of the CmdSN window. */
    readonly window: number = LIMITS.commandWindow,
  ) {
    this.expCmdSN = firstCmdSN;
  }

  get maxCmdSN(): number {
    const room = Math.max(0, this.window - this.active);
    return snAdd(this.expCmdSN, room - 1);
  }

  /**
   * Admits a request by CmdSN (RFC 7143 4.2.2.1, 3.2.2.1): immediate ones run now; the expected one runs and
   * releases any held successors; one ahead inside the window waits; anything outside the window is ignored
   * silently, as the RFC requires. Returns false if the request was dropped.
   */
  admit(cmdSN: number, immediate: boolean, run: () => void): boolean {
    if (immediate) {
      run();
      return true;
    }
    // With `window` commands outstanding MaxCmdSN is ExpCmdSN - 1: even the expected CmdSN is outside the window.
    if (cmdSN === this.expCmdSN && this.active < this.window) {
      this.expCmdSN = snAdd(this.expCmdSN, 1);
      this.active++;
      run();
      for (let next = this.held.get(this.expCmdSN); next; next = this.held.get(this.expCmdSN)) {
        this.held.delete(this.expCmdSN);
        this.expCmdSN = snAdd(this.expCmdSN, 1);
        this.active++;
        next();
      }
      return true;
    }
    const inWindow = snLessThan(this.expCmdSN, cmdSN) && !snLessThan(this.maxCmdSN, cmdSN);
    if (!inWindow || this.held.has(cmdSN) || this.held.size >= LIMITS.maxHeldCommands) return false;
    this.held.set(cmdSN, run);
    return true;
  }

  /** A non-immediate command finished (answered or aborted): the window reopens by one. */
  release(): void {
    if (this.active > 0) this.active--;
  }
}

/** "<name>,i,0x<ISID>" : the iSCSI initiator port name (RFC 7143 10.1.1). */
export function initiatorPortName(initiatorName: string, isid: Buffer): string {
  return `${initiatorName},i,0x${isid.toString('hex')}`;
}
