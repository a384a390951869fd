/**
 * One PDU as the recorder keeps it: its wire bytes, when and where it was seen, and its task correlation. The full
 * trace event (field tree, keys, sense) is built only when someone reads `event`: describing every PDU cost more
 * than the rest of the target's work on a 4 KiB I/O, and most recorded PDUs are never looked at (the ring keeps
 * them for a capture download that may never come).
 */
import type { ConnectionAddress } from '../iscsi/events.ts';
import { buildPduEvent, type Correlation, type PduInput } from '../../shared/trace/describe.ts';
import type { Direction, PduTraceEvent, ScsiSummary, TcpTuple } from '../../shared/trace/schema.ts';

export class RecordedPdu implements PduInput, Correlation {
  taskId?: number = undefined;
  latencyNs?: number = undefined;
  taskScsi?: ScsiSummary = undefined;
  ending?: boolean = undefined;
  private built: PduTraceEvent | undefined = undefined;

  constructor(
    readonly seq: number,
    readonly timeNs: number,
    private readonly startWallMs: number,
    readonly direction: Direction,
    readonly connectionId: number,
    readonly tsih: number,
    private readonly address: ConnectionAddress,
    readonly headerDigest: boolean,
    readonly dataDigest: boolean,
    /** The BHS (a view into `raw` when the bytes were kept, else its own copy). */
    readonly bhs: Uint8Array,
    /** The data segment without padding, as far as describing needs it (empty when not kept). */
    readonly data: Uint8Array,
    /** The wire form (empty when raw capture is off or it did not fit the ring). */
    readonly raw: Uint8Array,
  ) {}

  get rawLength(): number {
    return this.raw.length;
  }

  get wallMs(): number {
    return this.startWallMs + this.timeNs / 1e6;
  }

  get tcp(): TcpTuple {
    const a = this.address;
    return this.direction === 'i2t'
      ? { src: a.remoteAddress, srcPort: a.remotePort, dst: a.localAddress, dstPort: a.localPort }
      : { src: a.localAddress, srcPort: a.localPort, dst: a.remoteAddress, dstPort: a.remotePort };
  }

  /** The trace event, built on first use and kept while the record lives (readers of a PDU tend to come back). */
  get event(): PduTraceEvent {
    return (this.built ??= buildPduEvent(this, this));
  }
}
