/**
 * The recorder's ring of non-PDU events (SCSI commands, store I/O, sessions...), kept like the PDU ring: the two
 * that come with every I/O (a SCSI command, a store call) are rows in typed-array columns, built into trace
 * events only when read; the rare others are kept as the event objects they are.
 *
 * Why: one I/O made two event objects that the ring kept for ~20k events; at tens of thousands of I/Os a second
 * they were promoted out of the young generation and left to the full collector (pdu-ring.ts says more).
 */
import type { CacheTrace, ScsiTraceEvent, StoreTraceEvent, TraceEvent } from '../../shared/trace/schema.ts';
import { scsiStatusName } from '../../shared/protocol/scsi-opcodes.ts';
import { ascAscqText, senseKeyName } from '../../shared/protocol/sense.ts';

const KIND_OBJECT = 0;
const KIND_COMMAND = 1;
const STORE_KINDS = ['read', 'write', 'flush', 'unmap'] as const;
/** Store rows are 2 + the index of their kind in STORE_KINDS. */
const KIND_STORE = 2;

export interface CommandRow {
  nexusId: string;
  lun: number;
  opcodeName: string;
  status: number;
  sense: { readonly key: number; readonly asc: number; readonly ascq: number } | undefined;
  dataInBytes: number;
  dataOutBytes: number;
  durationNs: number;
}

export interface StoreRow {
  kind: StoreTraceEvent['kind'];
  lun: number;
  lba: number;
  blocks: number;
  fua: boolean;
  durationNs: number;
  error: string | undefined;
  cache: CacheTrace | undefined;
  /** 0: no task. */
  taskId: number;
}

export class EventRing {
  private readonly seqs: Float64Array;
  private readonly times: Float64Array;
  private readonly kinds: Uint8Array;
  private readonly n0: Float64Array;
  private readonly n1: Float64Array;
  private readonly n2: Float64Array;
  private readonly n3: Float64Array;
  private readonly n4: Float64Array;
  private readonly n5: Float64Array;
  /** Strings (nexus ids, opcode names: long-lived already) and the rare objects (sense, cache report, errors, whole events). */
  private readonly s0: (string | undefined)[];
  private readonly s1: (string | undefined)[];
  private readonly objects: unknown[];
  /** Ordinal of the oldest row held, and of the next row. */
  private first = 0;
  private next = 0;
  evicted = 0;

  constructor(
    readonly capacity: number,
    private readonly startWallMs: number,
  ) {
    this.seqs = new Float64Array(capacity);
    this.times = new Float64Array(capacity);
    this.kinds = new Uint8Array(capacity);
    this.n0 = new Float64Array(capacity);
    this.n1 = new Float64Array(capacity);
    this.n2 = new Float64Array(capacity);
    this.n3 = new Float64Array(capacity);
    this.n4 = new Float64Array(capacity);
    this.n5 = new Float64Array(capacity);
    this.s0 = new Array<string | undefined>(capacity).fill(undefined);
    this.s1 = new Array<string | undefined>(capacity).fill(undefined);
    this.objects = new Array<unknown>(capacity).fill(undefined);
  }

  get length(): number {
    return this.next - this.first;
  }

  /** Seq of the i-th row held (0: the oldest). */
  seq(i: number): number {
    return this.seqs[(this.first + i) % this.capacity]!;
  }

  pushEvent(event: TraceEvent): void {
    const r = this.row(event.seq, event.timeNs, KIND_OBJECT);
    this.objects[r] = event;
  }

  pushCommand(seq: number, timeNs: number, c: CommandRow): void {
    const r = this.row(seq, timeNs, KIND_COMMAND);
    this.s0[r] = c.nexusId;
    this.s1[r] = c.opcodeName;
    this.n0[r] = c.lun;
    this.n1[r] = c.status;
    this.n2[r] = c.dataInBytes;
    this.n3[r] = c.dataOutBytes;
    this.n4[r] = c.durationNs;
    this.objects[r] = c.sense;
  }

  pushStore(seq: number, timeNs: number, s: StoreRow): void {
    const r = this.row(seq, timeNs, KIND_STORE + STORE_KINDS.indexOf(s.kind));
    this.n0[r] = s.lun;
    this.n1[r] = s.lba;
    this.n2[r] = s.blocks;
    this.n3[r] = s.fua ? 1 : 0;
    this.n4[r] = s.durationNs;
    this.n5[r] = s.taskId;
    this.s0[r] = s.error;
    this.objects[r] = s.cache;
  }

  /** The i-th row held (0: the oldest) as its trace event, built now. */
  event(i: number): TraceEvent {
    const r = (this.first + i) % this.capacity;
    const kind = this.kinds[r]!;
    if (kind === KIND_OBJECT) return this.objects[r] as TraceEvent;
    const seq = this.seqs[r]!;
    const timeNs = this.times[r]!;
    const wallMs = this.startWallMs + timeNs / 1e6;
    if (kind === KIND_COMMAND) {
      const status = this.n1[r]!;
      const event: { -readonly [K in keyof ScsiTraceEvent]: ScsiTraceEvent[K] } = {
        type: 'scsi',
        seq,
        timeNs,
        wallMs,
        kind: 'command',
        nexusId: this.s0[r]!,
        lun: this.n0[r]!,
        opcodeName: this.s1[r]!,
        status,
        statusName: scsiStatusName(status),
        dataInBytes: this.n2[r]!,
        dataOutBytes: this.n3[r]!,
        durationNs: this.n4[r]!,
      };
      const sense = this.objects[r] as CommandRow['sense'];
      if (sense) event.sense = { key: sense.key, keyName: senseKeyName(sense.key), asc: sense.asc, ascq: sense.ascq, text: ascAscqText(sense.asc, sense.ascq) };
      return event;
    }
    const event: { -readonly [K in keyof StoreTraceEvent]: StoreTraceEvent[K] } = {
      type: 'store',
      seq,
      timeNs,
      wallMs,
      kind: STORE_KINDS[kind - KIND_STORE]!,
      lun: this.n0[r]!,
      lba: this.n1[r]!,
      blocks: this.n2[r]!,
      fua: this.n3[r] === 1,
      durationNs: this.n4[r]!,
    };
    const error = this.s0[r];
    if (error !== undefined) event.error = error;
    const cache = this.objects[r] as CacheTrace | undefined;
    if (cache !== undefined) event.cache = cache;
    const taskId = this.n5[r]!;
    if (taskId !== 0) event.taskId = taskId;
    return event;
  }

  clear(): void {
    while (this.length > 0) this.evict();
  }

  private row(seq: number, timeNs: number, kind: number): number {
    if (this.length === this.capacity) {
      this.evict();
      this.evicted++;
    }
    const r = this.next++ % this.capacity;
    this.seqs[r] = seq;
    this.times[r] = timeNs;
    this.kinds[r] = kind;
    return r;
  }

  private evict(): void {
    const r = this.first++ % this.capacity;
    // Let go of what the row referenced.
    this.s0[r] = this.s1[r] = undefined;
    this.objects[r] = undefined;
  }
}
