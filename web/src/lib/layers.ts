/**
 * The encapsulation stepper's model: one SCSI task (from the trace) walked along the data path in causal order:
 * the command down the initiator's layers and out on the wire, the target receiving it, its cache and store, and
 * the answer back on the wire. Each stage shows the bytes it wraps around the previous layer's, its overhead, and
 * the time it took (from the trace's timestamps). TCP/IP/Ethernet are counted with the lab's one framing model
 * (shared/protocol/tcp-framing.ts), the one the pcapng export writes: the numbers here are those tshark reports
 * for /api/capture.pcapng.
 */
import type { PduTraceEvent, ScsiSummary, StoreTraceEvent } from '../../../shared/trace/schema.ts';
import { BHS_LENGTH } from '../../../shared/protocol/iscsi.ts';
import { decodeCdb } from '../../../shared/protocol/cdb.ts';
import { FRAMING_MODEL_TEXT, ISCSI_PORT, MSS, modelInitiatorPort } from '../../../shared/protocol/tcp-framing.ts';
import { outboundStages, returnStage, summarize, totalBytes, tripOf } from './wire-stages.ts';
import { IscsiOpcode } from '../../../shared/protocol/iscsi-opcodes.ts';

export { MSS, FRAMING_MODEL_TEXT };

export type { HexBlock, LayerId, Stage } from './stage-types.ts';
import type { HexBlock, Stage } from './stage-types.ts';

export interface StepperInput {
  readonly pdus: readonly PduTraceEvent[];
  readonly scsi: ScsiSummary;
  readonly blockSize: number;
  readonly raw: (seq: number) => Uint8Array | undefined;
  /** The task the stages are built for: store events are joined to it by this id, never by time. */
  readonly taskId?: number;
  readonly storeEvents: readonly StoreTraceEvent[];
}

const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);
const headerBytes = (p: PduTraceEvent): number => p.lengths.total - p.lengths.data;

/** The stages of one task along the data path, in causal order: initiator down, the wire out, the target, the wire back, done. */
export function buildStages(input: StepperInput): Stage[] {
  const v = taskView(input);
  return [
    appStage(v),
    fsStage(v),
    scsiStage(v),
    iscsiOutStage(v),
    ...outboundStages(v.out, v.addr, v.payload, v.isWrite ? 'the command and its data' : 'the SCSI Command PDU'),
    targetStage(v),
    cacheStage(v),
    storeStage(v),
    iscsiBackStage(v),
    returnStage(v.back, v.addr, v.payload, v.t2i),
    doneStage(v),
  ];
}

/** Everything the stages say about one task, read once from its PDUs, raw bytes and store events. */
function taskView(input: StepperInput) {
  const { pdus, scsi, blockSize } = input;
  const cmd = pdus.find((p) => p.opcode === IscsiOpcode.ScsiCommand) ?? pdus[0]!;
  const isWrite = cmd.fields.W === true || /^WRITE|COMPARE/.test(scsi.opcodeName);
  const blocks = scsi.blocks ?? 0;
  const edtl = typeof cmd.fields.ExpectedDataTransferLength === 'number' ? cmd.fields.ExpectedDataTransferLength : blocks * blockSize;
  const payload = edtl || blocks * blockSize;
  const lba = scsi.lba ?? 0;
  // The two trips, in the order each side sent its PDUs: initiator -> target, target -> initiator.
  const i2t = pdus.filter((p) => p.direction === 'i2t');
  const t2i = pdus.filter((p) => p.direction === 't2i');
  const dataOut = pdus.filter((p) => p.opcode === IscsiOpcode.ScsiDataOut);
  const r2ts = pdus.filter((p) => p.opcode === IscsiOpcode.R2T);
  const dataIn = pdus.filter((p) => p.opcode === IscsiOpcode.ScsiDataIn);
  const response = pdus.find((p) => p.opcode === IscsiOpcode.ScsiResponse) ?? dataIn.find((p) => p.fields.S === true);
  const end = response ?? pdus.at(-1)!;
  const cmdRaw = input.raw(cmd.seq);

  const dataPdu = isWrite ? (dataOut[0] ?? cmd) : (dataIn[0] ?? cmd);
  const firstDataRaw = input.raw(dataPdu.seq);
  const dataStart = BHS_LENGTH + dataPdu.lengths.ahs + dataPdu.lengths.headerDigest;
  const dataSample =
    firstDataRaw && dataPdu.lengths.data
      ? firstDataRaw.subarray(dataStart, Math.min(firstDataRaw.length, dataStart + Math.min(64, dataPdu.lengths.data)))
      : undefined;
  const dataHex: HexBlock[] = dataSample
    ? [{ label: `payload (first ${dataSample.length} bytes)`, bytes: dataSample, layer: 'data', more: payload - dataSample.length }]
    : [];

  const store = input.taskId !== undefined ? storeOf(input.storeEvents, input.taskId, isWrite) : undefined;
  const cache = store?.cache;
  const tcp = cmd.direction === 'i2t' ? cmd.tcp : { src: cmd.tcp.dst, srcPort: cmd.tcp.dstPort, dst: cmd.tcp.src, dstPort: cmd.tcp.srcPort };
  const addr = { initiator: tcp.src, target: tcp.dst };
  const initiatorPort = modelInitiatorPort(tcp.srcPort, cmd.connectionId);
  const out = tripOf('out', i2t, initiatorPort);
  const back = tripOf('back', t2i, initiatorPort);

  const verb = isWrite ? 'write' : 'read';
  const cdbBytes = cmdRaw ? cmdRaw.subarray(32, 48) : undefined;
  const cdbLen = cdbBytes ? decodeCdb(cdbBytes).cdbLength : 16;
  return {
    pdus,
    scsi,
    blockSize,
    cmd,
    isWrite,
    blocks,
    edtl,
    payload,
    lba,
    i2t,
    t2i,
    dataOut,
    r2ts,
    dataIn,
    response,
    end,
    cmdRaw,
    dataPdu,
    firstDataRaw,
    dataStart,
    dataSample,
    store,
    cache,
    tcp,
    addr,
    initiatorPort,
    out,
    back,
    verb,
    cdbBytes,
    cdbLen,
    dataHex,
    input,
  };
}
type TaskView = ReturnType<typeof taskView>;

function appStage(v: TaskView): Stage {
  const { blockSize, isWrite, payload, lba, verb, dataHex } = v;
  return {
    id: 'app',
    title: 'Application',
    layer: 'app',
    where: 'initiator',
    explain: `A program asks to ${verb} ${payload} bytes at byte offset ${lba * blockSize} of the disk. It knows nothing of SCSI or iSCSI: it hands over (or asks for) a buffer.`,
    bands: [{ label: `${payload} bytes of data`, bytes: payload, layer: 'data', inner: true }],
    overhead: 0,
    payload,
    facts: [['call', `${verb}(fd, buf, ${payload}) at offset ${lba * blockSize}`]],
    hex: isWrite ? dataHex : [],
    timeNote: 'before the target sees anything: not in the trace',
  };
}

function fsStage(v: TaskView): Stage {
  const { blockSize, blocks, payload, lba } = v;
  return {
    id: 'fs',
    title: 'File system / block layer',
    layer: 'fs',
    where: 'initiator',
    explain: `The block layer turns the byte range into logical blocks: offset ${lba * blockSize} ÷ ${blockSize} = LBA ${lba}, ${payload} ÷ ${blockSize} = ${blocks} blocks. (On a file system, a file offset is first mapped to disk blocks and metadata I/O may follow; here the initiator writes the raw device.)`,
    bands: [{ label: `${blocks} × ${blockSize}-byte blocks`, bytes: payload, layer: 'data', inner: true }],
    overhead: 0,
    payload,
    facts: [
      ['LBA', String(lba)],
      ['blocks', String(blocks)],
      ['block size', `${blockSize} bytes`],
    ],
    hex: [],
  };
}

function scsiStage(v: TaskView): Stage {
  const { scsi, isWrite, blocks, payload, lba, cdbBytes, cdbLen } = v;
  return {
    id: 'scsi',
    title: `SCSI command: ${scsi.opcodeName}`,
    layer: 'scsi',
    where: 'initiator',
    explain: `The SCSI layer describes the I/O as a Command Descriptor Block: operation code, LBA, transfer length and flags (${scsi.fua ? 'FUA set' : 'FUA not set'}). The data travels separately; the CDB is ${cdbLen} bytes.`,
    bands: [
      { label: `CDB ${cdbLen}`, bytes: cdbLen, layer: 'scsi' },
      ...(isWrite ? [{ label: `data ${payload}`, bytes: payload, layer: 'data' as const, inner: true }] : []),
    ],
    overhead: cdbLen,
    payload,
    facts: [
      ['operation', scsi.opcodeName],
      ['LBA', String(lba)],
      ['TRANSFER LENGTH', `${blocks} blocks`],
      ['FUA', scsi.fua ? 'set' : 'not set'],
    ],
    hex: cdbBytes ? [{ label: 'CDB', bytes: cdbBytes.subarray(0, cdbLen), layer: 'scsi' }] : [],
  };
}

function iscsiOutStage(v: TaskView): Stage {
  const { cmd, isWrite, payload, i2t, dataOut, r2ts, cmdRaw, out, cdbLen } = v;
  const outData = sum(i2t.map((p) => p.lengths.data));
  const outDigests = sum(i2t.map((p) => p.lengths.headerDigest + p.lengths.dataDigest));
  const outPad = sum(i2t.map((p) => p.lengths.padding));
  const outAhs = sum(i2t.map((p) => p.lengths.ahs));
  return {
    id: 'iscsi-out',
    title: isWrite ? 'iSCSI: SCSI Command and data out' : 'iSCSI: SCSI Command PDU out',
    layer: 'iscsi',
    where: 'initiator',
    explain: isWrite
      ? `iSCSI puts the CDB in a 48-byte Basic Header Segment (SCSI Command PDU, ITT ${tagOf(cmd)}) and carries the data ${dataOut.length ? `in ${dataOut.length} Data-Out PDU(s)${r2ts.length ? `, sent when the target asked for them with ${r2ts.length} R2T(s)` : ''}` : 'in the command itself (immediate data)'}, each with its own BHS. The ${cdbLen}-byte CDB sits inside the first BHS, so it is not counted twice.`
      : `iSCSI puts the CDB in a 48-byte Basic Header Segment: one SCSI Command PDU (ITT ${tagOf(cmd)}, CmdSN ${String(cmd.fields.CmdSN ?? '?')}, Expected Data Transfer Length ${payload}). No data goes out for a read; the ${cdbLen}-byte CDB sits inside the BHS, so it is not counted twice.`,
    bands: [
      { label: `BHS ${i2t.length}×48`, bytes: i2t.length * BHS_LENGTH, layer: 'iscsi' },
      ...(outAhs ? [{ label: `AHS ${outAhs}`, bytes: outAhs, layer: 'iscsi' as const }] : []),
      ...(outDigests ? [{ label: `digests ${outDigests}`, bytes: outDigests, layer: 'iscsi' as const }] : []),
      ...(outData ? [{ label: `data ${outData}`, bytes: outData, layer: 'data' as const, inner: true }] : []),
      ...(outPad ? [{ label: `pad ${outPad}`, bytes: outPad, layer: 'iscsi' as const }] : []),
    ],
    overhead: sum(i2t.map(headerBytes)) - cdbLen,
    payload,
    facts: [
      ['PDUs out', summarize(out.pdus)],
      ['header digest', cmd.headerDigest ? 'CRC32C' : 'none'],
      ['data digest', cmd.dataDigest ? 'CRC32C' : 'none'],
      ['bytes on the iSCSI stream', String(totalBytes(i2t))],
    ],
    hex: cmdRaw ? [{ label: 'SCSI Command BHS', bytes: cmdRaw.subarray(0, BHS_LENGTH), layer: 'iscsi' }] : [],
    durationNs: isWrite && dataOut.length ? dataOut.at(-1)!.timeNs - cmd.timeNs : undefined,
    timeNote: isWrite && dataOut.length ? 'command to last Data-Out, as the target received them' : undefined,
  };
}

function targetStage(v: TaskView): Stage {
  const { cmd, isWrite, payload, t2i, r2ts, end, tcp, addr, cdbLen } = v;
  const firstAfterCmd = t2i[0] ?? end;
  return {
    id: 'target',
    title: 'Target receives the command',
    layer: 'target',
    where: 'target',
    explain: `The target (${addr.target}, port ${tcp.dstPort}; ${ISCSI_PORT} in the model) reads the 48-byte BHS from the TCP stream, ${cmd.headerDigest ? 'checks the header digest, ' : ''}checks CmdSN ${String(cmd.fields.CmdSN ?? '?')} against its window, decodes the CDB and ${isWrite ? (r2ts.length ? 'sends an R2T asking for the data' : 'gathers the data that came with it') : 'starts the read'}.`,
    bands: [
      { label: 'BHS 48', bytes: 48, layer: 'iscsi' },
      { label: `CDB ${cdbLen}`, bytes: cdbLen, layer: 'scsi' },
    ],
    overhead: 0,
    payload,
    durationNs: firstAfterCmd !== cmd ? firstAfterCmd.timeNs - cmd.timeNs : undefined,
    timeNote: `command received → ${firstAfterCmd.opcodeName} sent`,
    facts: [
      ['from', `${addr.initiator}:${tcp.srcPort}`],
      ['ITT', tagOf(cmd)],
      ['CmdSN', String(cmd.fields.CmdSN ?? '')],
      ['received at', `${(cmd.timeNs / 1e9).toFixed(6)} s`],
    ],
    hex: [],
  };
}

function cacheStage(v: TaskView): Stage {
  const { blocks, payload, lba, store, cache } = v;
  const outcomes = cache?.ranges.map((r) => `LBA ${r.lba}+${r.blocks}: ${r.outcome}`).join(', ');
  return {
    id: 'cache',
    title: 'Cache lookup',
    layer: 'cache',
    where: 'target',
    explain: cache
      ? `The block cache (${cache.policy}, ${cache.mode}) looks up LBAs ${lba}–${lba + blocks - 1}: ${outcomes || 'no ranges reported'}.`
      : store
        ? 'This LUN has no block cache: the command goes straight to the store.'
        : 'No store call of this task is in the trace (the page may have joined after it, or the command did not reach the store).',
    bands: [{ label: `${blocks} blocks looked up`, bytes: payload, layer: 'cache', inner: true }],
    overhead: 0,
    payload,
    durationNs: cache ? cache.lookupMs * 1e6 : undefined,
    timeNote: cache ? "time in the cache's own bookkeeping" : undefined,
    facts: cache
      ? [
          ['outcome', outcomes ?? ''],
          ['policy', cache.policy],
          ['mode', cache.mode],
        ]
      : [],
    hex: [],
  };
}

function storeStage(v: TaskView): Stage {
  const { blockSize, isWrite, payload, store, cache, verb, dataHex } = v;
  const storeMs = cache ? (isWrite ? cache.storeWriteMs : cache.storeReadMs) : undefined;
  return {
    id: 'store',
    title: `Store ${verb}`,
    layer: 'store',
    where: 'target',
    explain: store
      ? cache && storeMs === 0
        ? `The cache ${isWrite ? 'took the write (write-back: the file is written later)' : 'held every block: the file was not read'}; the store call of this task took ${(store.durationNs / 1e3).toFixed(0)} µs in all.`
        : `The LUN's backing file is ${isWrite ? 'written with pwrite' : 'read with pread'} at byte ${store.lba * blockSize} (${store.blocks} blocks)${store.fua ? ', then fdatasync for FUA' : ''}${cache ? ` behind the cache (${storeMs?.toFixed(3)} ms waiting on the file)` : ''}.`
      : 'No store call of this task is in the trace (the page may have joined after it).',
    bands: [{ label: `${payload} bytes ${isWrite ? 'to' : 'from'} the ${cache ? 'cache / file' : 'file'}`, bytes: payload, layer: 'store', inner: true }],
    overhead: 0,
    payload,
    durationNs: store?.durationNs,
    timeNote: store ? 'the whole store call (cache included), measured by the store tap' : undefined,
    facts: store
      ? [
          ['kind', store.kind],
          ['LBA', String(store.lba)],
          ['blocks', String(store.blocks)],
          ['FUA', store.fua ? 'yes' : 'no'],
          ['task', String(store.taskId ?? '')],
          ...(store.error ? [['error', store.error] as [string, string]] : []),
        ]
      : [],
    hex: isWrite ? [] : dataHex,
  };
}

function iscsiBackStage(v: TaskView): Stage {
  const { scsi, isWrite, payload, t2i, r2ts, dataIn, response, back, input } = v;
  return {
    id: 'iscsi-back',
    title: isWrite ? 'iSCSI: status back (SCSI Response)' : 'iSCSI: Data-In back',
    layer: 'iscsi',
    where: 'target',
    explain: isWrite
      ? `With the data stored, the target sends a SCSI Response PDU (48-byte BHS, no data) with status ${scsi.statusName ?? '?'}${scsi.sense ? ` and sense ${scsi.sense.keyName}: ${scsi.sense.text}` : ''}${r2ts.length ? ` (its ${r2ts.length} R2T(s) went back the same way earlier)` : ''}.`
      : `The target wraps the blocks in ${dataIn.length} Data-In PDU(s) (48-byte BHS each, DataSN, BufferOffset); status ${scsi.statusName ?? '?'} ${response?.opcode === IscsiOpcode.ScsiResponse ? 'follows in a SCSI Response' : 'rides in the last Data-In (S bit)'}.`,
    bands: [
      { label: `BHS ${t2i.length}×48`, bytes: t2i.length * BHS_LENGTH, layer: 'iscsi' },
      ...(isWrite
        ? []
        : [{ label: `data ${sum(t2i.map((p) => p.lengths.data))}`, bytes: sum(t2i.map((p) => p.lengths.data)), layer: 'data' as const, inner: true }]),
    ],
    overhead: sum(t2i.map(headerBytes)),
    payload,
    facts: [
      ['PDUs back', summarize(back.pdus)],
      ['status', scsi.statusName ?? '?'],
      ['bytes on the iSCSI stream', String(totalBytes(t2i))],
    ],
    hex: response ? rawHead(input.raw(response.seq), response.opcode === IscsiOpcode.ScsiResponse ? 'SCSI Response BHS' : 'last Data-In BHS') : [],
  };
}

function doneStage(v: TaskView): Stage {
  const { pdus, scsi, cmd, isWrite, payload, end, out, back, verb, dataHex } = v;
  return {
    id: 'done',
    title: 'Back at the application',
    layer: 'app',
    where: 'initiator',
    explain: `The initiator matches ITT ${tagOf(cmd)} to the waiting request and completes the ${verb}: ${payload} bytes ${isWrite ? 'written' : 'read'} with status ${scsi.statusName ?? '?'}.`,
    bands: [{ label: `${payload} bytes`, bytes: payload, layer: 'data', inner: true }],
    overhead: 0,
    payload,
    durationNs: end.latencyNs ?? end.timeNs - cmd.timeNs,
    timeNote: 'whole command, as the target saw it (command in → status out)',
    facts: [
      ['status', scsi.statusName ?? '?'],
      ['total iSCSI header bytes (both ways)', String(sum(pdus.map(headerBytes)))],
      ['PDUs in this task', String(pdus.length)],
      ['frames (both ways)', String(out.framing.segments + back.framing.segments)],
    ],
    hex: isWrite ? [] : dataHex,
  };
}

/** The task's store call: joined by task id (the recorder stamps it by identity), the data call first. */
function storeOf(events: readonly StoreTraceEvent[], taskId: number, isWrite: boolean): StoreTraceEvent | undefined {
  let any: StoreTraceEvent | undefined;
  for (let i = events.length - 1; i >= 0; i--) {
    const e = events[i]!;
    if (e.taskId !== taskId) continue;
    if (e.kind === (isWrite ? 'write' : 'read')) return e;
    any ??= e;
  }
  return any;
}

const tagOf = (p: PduTraceEvent): string => {
  const v = p.fields.InitiatorTaskTag;
  return typeof v === 'number' ? `0x${v.toString(16).padStart(8, '0')}` : '?';
};

function rawHead(raw: Uint8Array | undefined, label: string): HexBlock[] {
  return raw ? [{ label, bytes: raw.subarray(0, BHS_LENGTH), layer: 'iscsi' }] : [];
}
