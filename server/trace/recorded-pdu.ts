/**
 * One PDU as the recorder keeps it: its wire bytes, when and where it was seen, and its task correlation. The full
 * trace event (field tree, keys, sense) is built only when someone reads `event`: describing every PDU cost more
 * than the rest of the target's work on a 4 KiB I/O, and most recorded PDUs are never looked at (the ring keeps
 * them for a capture download that may never come).
 */
import type { ConnectionAddress } from '../iscsi/events.ts';
import { u24 } from '../../shared/protocol/bytes.ts';
import { BHS_LENGTH } from '../../shared/protocol/iscsi.ts';
import { FLAG_DATA_DIGEST, FLAG_ENDING, FLAG_HEADER_DIGEST, FLAG_T2I, FLAG_WIRE, type PduRing } from './pdu-ring.ts';
import { buildPduEvent, scsiSummaryOf, type Correlation, type PduInput } from '../../shared/trace/describe.ts';
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

const EMPTY = new Uint8Array(0);

/** A PDU row of the ring as an object; with `copy`, its bytes are its own, else views into the ring (recorder.ts collect). */
export function recordedPdu(ring: PduRing, startWallMs: number, ordinal: number, copy: boolean): RecordedPdu {
  const r = ring.row(ordinal);
  const flags = ring.flags[r]!;
  const stored = ring.bytes(ordinal);
  const bytes = copy ? stored.slice() : stored;
  const wire = (flags & FLAG_WIRE) !== 0;
  const headerDigest = (flags & FLAG_HEADER_DIGEST) !== 0;
  const at = wire ? BHS_LENGTH + bytes[4]! * 4 + (headerDigest ? 4 : 0) : BHS_LENGTH;
  const pdu = new RecordedPdu(
    ring.seq[r]!,
    ring.timeNs[r]!,
    startWallMs,
    flags & FLAG_T2I ? 't2i' : 'i2t',
    ring.connectionId[r]!,
    ring.tsih[r]!,
    ring.address[r]!,
    headerDigest,
    (flags & FLAG_DATA_DIGEST) !== 0,
    bytes.subarray(0, BHS_LENGTH),
    bytes.subarray(at, Math.min(bytes.length, at + u24(bytes, 5))),
    wire ? bytes : EMPTY,
  );
  const taskId = ring.taskId[r]!;
  if (taskId !== 0) pdu.taskId = taskId;
  const latency = ring.latencyNs[r]!;
  if (!Number.isNaN(latency)) pdu.latencyNs = latency;
  const ref = ring.taskRef[r]!;
  // The task's SCSI Command, decoded now; a command already evicted leaves its later PDUs without a summary.
  if (ref >= 0 && ring.has(ref)) {
    pdu.taskScsi = scsiSummaryOf(ring.bytes(ref).subarray(0, BHS_LENGTH));
    if (flags & FLAG_ENDING) pdu.ending = true;
  }
  return pdu;
}
