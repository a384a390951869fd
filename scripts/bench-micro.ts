/**
 * `npm run bench -- micro` (npx tsx scripts/bench-micro.ts): the hot paths one by one, in operations per second,
 * on the captured PDUs of test/fixtures/pdus.ts:
 *   framing      bytes -> PDUs (PduReader) for a stream of SCSI Command + Data-In + SCSI Response PDUs
 *   decode       SCSI Command BHS -> fields (decodeScsiCommand)
 *   encode       Data-In with status -> BHS + data buffers (encodeDataIn + serializePdu)
 *   crc32c       GB/s over 4 KiB and 256 KiB buffers
 *   cache        BlockCache hits per second (4 KiB reads of a warm 16 MiB cache over a file store)
 *   record       the trace recorder taking a SCSI Command and a 4 KiB Data-In (copy into its ring, correlation)
 *   describe     PDU -> full trace event (what the recorder builds only on demand)
 * Each runs for about a second after a warm-up; the figures are for comparing changes on one machine.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pdus } from '../test/fixtures/pdus.ts';
import { PduReader, serializePdu } from '../server/iscsi/framing.ts';
import { decodeScsiCommand } from '../server/iscsi/pdu/scsi-command.ts';
import { encodeDataIn } from '../server/iscsi/pdu/data.ts';
import { crc32c } from '../server/iscsi/crc32c.ts';
import { BlockCache } from '../server/store/cache/block-cache.ts';
import { openFileStore } from '../server/store/file-store.ts';
import { PduDescriber } from '../shared/trace/describe.ts';
import { TraceRecorder } from '../server/trace/recorder.ts';
import { Tap } from '../server/taps/tap.ts';
import type { PduEvent, SessionEvent } from '../server/iscsi/events.ts';
import type { Pdu } from '../server/iscsi/pdu.ts';

function fixture(name: string): Buffer {
  const f = pdus.find((p) => p.name === name);
  if (!f) throw new Error(`fixture ${name} missing`);
  return Buffer.from(f.hex, 'hex');
}

/** Runs fn in growing batches until ~1 s has passed; returns calls per second. */
async function rate(fn: () => unknown | Promise<unknown>, asyncFn = false): Promise<number> {
  for (let i = 0; i < 1000; i++) {
    // warm-up
    if (asyncFn) await fn();
    else fn();
  }
  let calls = 0;
  const start = performance.now();
  let batch = 1000;
  while (performance.now() - start < 1000) {
    for (let i = 0; i < batch; i++) {
      if (asyncFn) await fn();
      else fn();
    }
    calls += batch;
    batch = Math.min(batch * 2, 100_000);
  }
  return calls / ((performance.now() - start) / 1000);
}

function asPdu(raw: Buffer): Pdu {
  const ahs = raw[4]! * 4;
  const len = raw.readUIntBE(5, 3);
  return { bhs: raw.subarray(0, 48), ahs: raw.subarray(48, 48 + ahs), data: raw.subarray(48 + ahs, 48 + ahs + len) };
}

const rows: [string, string][] = [];
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

const command = fixture('scsi-command-read10');
const dataIn = fixture('data-in-read10-4k');
const stream = Buffer.concat([command, dataIn, command, dataIn]);
let framed = 0;
const reader = new PduReader({
  pdu: () => void framed++,
  error: (e) => {
    throw new Error(`framing: ${e.kind}`);
  },
});
const chunk = 1460; // what one TCP segment carries on a 1500-byte MTU
rows.push([
  'framing (PDUs/s, 1460-byte chunks)',
  fmt(
    (await rate(() => {
      for (let o = 0; o < stream.length; o += chunk) reader.push(stream.subarray(o, o + chunk));
    })) * 4,
  ),
]);

const cmdPdu = asPdu(command);
rows.push(['decode SCSI Command (PDUs/s)', fmt(await rate(() => decodeScsiCommand(cmdPdu)))]);

const block = Buffer.alloc(4096, 0x5a);
rows.push([
  'encode Data-In + status (PDUs/s)',
  fmt(
    await rate(() =>
      serializePdu(
        encodeDataIn({
          final: true,
          acknowledge: false,
          lun: 0,
          itt: 7,
          ttt: 0xffffffff,
          statSN: 1,
          expCmdSN: 2,
          maxCmdSN: 33,
          dataSN: 0,
          bufferOffset: 0,
          status: 0,
          overflow: false,
          underflow: false,
          residualCount: 0,
          data: block,
        }),
        false,
        false,
      ),
    ),
  ),
]);

for (const size of [4096, 262144]) {
  const buf = Buffer.alloc(size, 0xa5);
  const r = await rate(() => crc32c(buf));
  rows.push([`crc32c ${size / 1024} KiB (GB/s)`, ((r * size) / 1e9).toFixed(2)]);
}

const dir = await mkdtemp(join(tmpdir(), 'iscsi-lab-micro-'));
try {
  const store = await openFileStore({ path: join(dir, 'lun.img'), sizeBytes: 64 * 1024 * 1024, thin: false });
  const cache = new BlockCache(store, { sizeBytes: 16 * 1024 * 1024, policy: '2q', mode: 'write-back', flushIntervalMs: 0 });
  const blocks = (8 * 1024 * 1024) / 512;
  for (let lba = 0; lba < blocks; lba += 128) await cache.read(lba, 128);
  let next = 0;
  rows.push([
    'cache hits, 4 KiB reads (lookups/s)',
    fmt(
      await rate(() => {
        next = (next + 8 * 97) % blocks;
        return cache.read(next, 8);
      }, true),
    ),
  ]);
  const st = cache.stats();
  rows.push(['  (cache hit rate in that run)', `${((st.hits / Math.max(1, st.hits + st.misses)) * 100).toFixed(1)}%`]);
  await cache.close();
} finally {
  await rm(dir, { recursive: true, force: true });
}

{
  const taps = { pdu: new Tap<PduEvent>('pdu'), session: new Tap<SessionEvent>('session') };
  const recorder = new TraceRecorder({ iscsi: { taps } });
  const release = recorder.start();
  const address = { localAddress: '127.0.0.1', localPort: 3260, remoteAddress: '127.0.0.1', remotePort: 40000 };
  const commandPdu: Pdu = { bhs: command.subarray(0, 48), ahs: Buffer.alloc(0), data: Buffer.alloc(0) };
  const dataIn = encodeDataIn({
    final: true,
    status: 0,
    acknowledge: false,
    lun: 0,
    itt: command.readUInt32BE(16),
    ttt: 0xffffffff,
    statSN: 1,
    expCmdSN: 2,
    maxCmdSN: 9,
    dataSN: 0,
    bufferOffset: 0,
    residualCount: 0,
    underflow: false,
    overflow: false,
    data: Buffer.alloc(4096, 7),
  });
  const pdu = (direction: 'in' | 'out', p: Pdu): PduEvent => ({
    direction,
    connectionId: 1,
    tsih: 1,
    address,
    timeNs: process.hrtime.bigint(),
    pdu: p,
    headerDigest: false,
    dataDigest: false,
  });
  rows.push([
    'record SCSI Command + 4 KiB Data-In (pairs/s)',
    fmt(
      await rate(() => {
        taps.pdu.emit(pdu('in', commandPdu));
        taps.pdu.emit(pdu('out', dataIn));
      }),
    ),
  ]);
  release();
}

const describer = new PduDescriber();
const tcp = { src: '127.0.0.1', srcPort: 40000, dst: '127.0.0.1', dstPort: 3260 };
let seq = 0;
rows.push([
  'describe SCSI Command (events/s)',
  fmt(
    await rate(() =>
      describer.describe({
        seq: seq++,
        timeNs: seq,
        wallMs: 0,
        direction: 'i2t',
        connectionId: 1,
        tsih: 1,
        tcp,
        headerDigest: false,
        dataDigest: false,
        bhs: command.subarray(0, 48),
        data: command.subarray(48),
        rawLength: command.length,
      }),
    ),
  ),
]);

const width = Math.max(...rows.map(([k]) => k.length));
for (const [k, v] of rows) console.log(`${k.padEnd(width)}  ${v.padStart(14)}`);
