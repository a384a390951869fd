/**
 * SANITIZE (SBC-3 5.30, SBC-4 5.30 and 4.11): makes every block's old contents unrecoverable.
 *
 *   OVERWRITE (01h)        the parameter list's INITIALIZATION PATTERN, repeated to fill each block, written over
 *                          the whole LUN OVERWRITE COUNT times (INVERT: inverted between consecutive passes).
 *   BLOCK ERASE (02h)      every block is unmapped, so it reads back as zeros (LBPRZ = 1) and GET LBA STATUS
 *                          reports the whole LUN deallocated.
 *   CRYPTO ERASE (03h)     there is no media encryption key to change here, so the observable effect (old data
 *                          unreadable, reads return zeros) is honoured by erasing the same way.
 *   EXIT FAILURE MODE (1Fh) leaves the sanitize failure mode a failed sanitize with AUSE = 1 left behind.
 *
 * Thick LUNs behave like a disk drive and offer OVERWRITE only; thin LUNs behave like an SSD and add BLOCK ERASE
 * and CRYPTO ERASE (RSOC lists them per LU, the Block Device Characteristics VPD sets WABEREQ / WACEREQ to match).
 * Erasing by unmapping needs logical block provisioning, and libiscsi's Sanitize.BlockErase insists on LBPME for
 * it; its Sanitize.CryptoErase checks WABEREQ where it means WACEREQ, so the two must come and go together.
 *
 * The operation runs in the background, once started it is not stopped by ABORT TASK, resets or nexus loss
 * (SBC-4 4.11.3): the command (IMMED = 0) only returns when it is done, IMMED = 1 returns GOOD as soon as the
 * operation has started. Meanwhile the dispatcher answers every command but INQUIRY, REPORT LUNS and REQUEST SENSE
 * with NOT READY / SANITIZE IN PROGRESS and a progress indication (target.ts, spc/request-sense.ts).
 *
 * A sanitize takes at least the target's `sanitizeMinDurationMs` (ScsiTargetOptions): the passes are paced so
 * progress rises steadily over that time, which is what lets initiators (and libiscsi's Sanitize.Reset) observe a
 * sanitize in progress on a small lab LUN. The state lives beside the LU (not in it): it survives LU and target
 * resets, but not a restart of the target process.
 */
import { be16 } from '../cdb.ts';
import type { CommandContext } from '../context.ts';
import type { LogicalUnit } from '../logical-unit.ts';
import { CheckCondition, Sense, invalidField, invalidParameter } from '../sense.ts';
import { ScsiStatus, type AbortWatch, type ScsiResponse } from '../types.ts';
import { checkWritable } from './common.ts';

export const OPCODE_SANITIZE = 0x48;

export const SanitizeAction = {
  Overwrite: 0x01,
  BlockErase: 0x02,
  CryptoErase: 0x03,
  ExitFailureMode: 0x1f,
} as const;

const IMMED = 0x80;
const RESERVED_BYTE_1 = 0x40;
const AUSE = 0x20;
// OVERWRITE parameter list (SBC-3 table 56)
const OVERWRITE_HEADER = 4;
const INVERT = 0x80;
const TEST_MASK = 0x60;
const COUNT_MASK = 0x1f;
/** Bytes per store call when overwriting, so a huge LUN never needs a huge buffer. */
const CHUNK_BYTES = 1 << 20;
/** At most this many unmap calls per erase pass (at least CHUNK_BYTES each), so progress still moves. */
const ERASE_STEPS = 256;

interface Job {
  readonly started: number;
  readonly minDurationMs: number;
  readonly total: number;
  done: number;
  /** Resolves true when the operation completed, false when it failed (it never rejects). */
  readonly finished: Promise<boolean>;
}

class SanitizeUnit {
  job: Job | undefined;
  /** Set by a failed sanitize (SBC-4 4.11.4): `ause` is the failed command's AUSE bit. */
  failure: { ause: boolean } | undefined;
  /** The target is closing: the running job stops at its next step, quietly (the state dies with the process). */
  stopping = false;
  constructor(public minDurationMs: number) {}
}

const units = new WeakMap<LogicalUnit, SanitizeUnit>();

function unitOf(lu: LogicalUnit): SanitizeUnit {
  let u = units.get(lu);
  if (!u) units.set(lu, (u = new SanitizeUnit(0)));
  return u;
}

/** Sets the least time a sanitize on `lu` takes (the ScsiTarget calls this for every LU it builds). */
export function configureSanitize(lu: LogicalUnit, opts: { minDurationMs: number }): void {
  unitOf(lu).minDurationMs = Math.max(0, opts.minDurationMs);
}

/** PROGRESS INDICATION (0..65535) while a sanitize runs on `lu`, undefined when none does. */
export function sanitizeProgress(lu: LogicalUnit): number | undefined {
  const job = units.get(lu)?.job;
  if (!job) return undefined;
  // Work done, but never ahead of the time the operation is paced over (small LUNs are written in one step).
  const elapsed = job.minDurationMs > 0 ? (performance.now() - job.started) / job.minDurationMs : 1;
  const fraction = Math.min(job.done / Math.max(1, job.total), elapsed);
  return Math.min(0xffff, Math.floor(fraction * 0x10000));
}

/** The LU is in sanitize failure mode: medium access fails with MEDIUM ERROR / SANITIZE COMMAND FAILED. */
export function sanitizeFailed(lu: LogicalUnit): boolean {
  return units.get(lu)?.failure !== undefined;
}

/** Resolves when the sanitize running on `lu` (if any) has ended (tests). */
export async function sanitizeSettled(lu: LogicalUnit): Promise<void> {
  await units.get(lu)?.job?.finished;
}

/** Stops a running sanitize at its next step and waits for it: before the LU's store is closed. */
export async function stopSanitize(lu: LogicalUnit): Promise<void> {
  const unit = units.get(lu);
  if (!unit?.job) return;
  unit.stopping = true;
  await unit.job.finished;
}

export async function sanitize(ctx: CommandContext): Promise<ScsiResponse> {
  const { cdb, lu, cmd } = ctx;
  const flags = cdb[1]!;
  if (flags & RESERVED_BYTE_1) throw invalidField(1, 6);
  for (let i = 2; i <= 6; i++) if (cdb[i] !== 0) throw invalidField(i);
  const sa = flags & 0x1f;
  const immed = (flags & IMMED) !== 0;
  const ause = (flags & AUSE) !== 0;
  const listLength = be16(cdb, 7);
  const blockSize = lu.store.blockSize;
  const unit = unitOf(lu);

  const erase = sa === SanitizeAction.BlockErase || sa === SanitizeAction.CryptoErase;
  // The erases unmap the LUN: only thin LUNs have them (and only they list them in RSOC).
  const known = sa === SanitizeAction.Overwrite || sa === SanitizeAction.ExitFailureMode || (erase && lu.thin);
  if (!known) throw invalidField(1, 4);
  if (sa === SanitizeAction.Overwrite) {
    // SBC-3 5.30.1: a list too short for the header plus one pattern byte, or longer than header + one block.
    if (listLength <= OVERWRITE_HEADER || listLength > blockSize + OVERWRITE_HEADER) throw invalidField(7);
  } else if (listLength !== 0) {
    // BLOCK ERASE, CRYPTO ERASE and EXIT FAILURE MODE take no parameter list.
    throw invalidField(7);
  }

  if (sa === SanitizeAction.ExitFailureMode) {
    // SBC-4 5.30.2.4: only a sanitize that failed with AUSE = 1 may be left this way; with nothing to leave, GOOD.
    if (unit.failure && !unit.failure.ause) throw invalidField(1, 5);
    unit.failure = undefined;
    return { status: ScsiStatus.Good, dataOutWanted: 0 };
  }

  checkWritable(lu);
  const passes = sa === SanitizeAction.Overwrite ? overwritePasses(lu, cmd.dataOut, listLength) : erasePass(lu);
  const job = start(lu, unit, passes, ause);
  if (immed) return { status: ScsiStatus.Good, dataOutWanted: listLength };
  const outcome = await untilAborted(job.finished, cmd.abort);
  // An aborted task gets no response; the operation itself goes on.
  if (outcome === ABORTED) return { status: ScsiStatus.Good, dataOutWanted: listLength };
  if (!outcome) throw new CheckCondition(Sense.SanitizeCommandFailed);
  return { status: ScsiStatus.Good, dataOutWanted: listLength };
}

/** One pass over the whole LUN: `step` covers [lba, lba + blocks); `chunkBlocks` is how far each step goes. */
interface Pass {
  readonly chunkBlocks: number;
  readonly step: (lba: number, blocks: number) => Promise<void>;
}

function overwritePasses(lu: LogicalUnit, dataOut: Uint8Array | undefined, listLength: number): Pass[] {
  const data = dataOut ?? new Uint8Array(0);
  if (data.length < listLength) throw new CheckCondition(Sense.ParameterListLengthError);
  const count = data[0]! & COUNT_MASK;
  // OVERWRITE COUNT 00h is reserved. SBC would call that INVALID FIELD IN PARAMETER LIST; libiscsi's
  // Sanitize.Overwrite requires INVALID FIELD IN CDB for it, and so does every initiator tested against it.
  if (count === 0) throw new CheckCondition(Sense.InvalidFieldInCdb);
  if (data[0]! & TEST_MASK) throw invalidParameter(0, 6); // TEST 01b-11b: vendor test modes we do not have
  if (data[1] !== 0) throw invalidParameter(1);
  const blockSize = lu.store.blockSize;
  const patternLength = be16(data, 2);
  if (patternLength === 0 || patternLength > blockSize) throw invalidParameter(2);
  if (patternLength + OVERWRITE_HEADER !== listLength) throw new CheckCondition(Sense.ParameterListLengthError);
  const pattern = data.subarray(OVERWRITE_HEADER, OVERWRITE_HEADER + patternLength);
  const invert = (data[0]! & INVERT) !== 0;
  const perChunk = Math.max(1, Math.floor(CHUNK_BYTES / blockSize));
  const chunks = [fill(pattern, blockSize, perChunk, false), invert ? fill(pattern, blockSize, perChunk, true) : undefined];
  const passes: Pass[] = [];
  for (let p = 0; p < count; p++) {
    // INVERT: the pattern is inverted between consecutive passes (SBC-3 table 56), so odd passes write its complement.
    const chunk = invert && p % 2 === 1 ? chunks[1]! : chunks[0]!;
    passes.push({
      chunkBlocks: perChunk,
      step: (lba, blocks) => lu.store.write(lba, chunk.subarray(0, blocks * blockSize), !lu.mode.wce),
    });
  }
  return passes;
}

/** `perChunk` blocks, each holding `pattern` repeated from its first byte (SBC-3 5.30.2.2). */
function fill(pattern: Uint8Array, blockSize: number, perChunk: number, invert: boolean): Uint8Array {
  const block = new Uint8Array(blockSize);
  for (let i = 0; i < blockSize; i++) block[i] = invert ? ~pattern[i % pattern.length]! & 0xff : pattern[i % pattern.length]!;
  const chunk = new Uint8Array(perChunk * blockSize);
  for (let i = 0; i < perChunk; i++) chunk.set(block, i * blockSize);
  return chunk;
}

/** BLOCK ERASE / CRYPTO ERASE (thin LUNs): everything unmapped, so reads return zeros (LBPRZ = 1). */
function erasePass(lu: LogicalUnit): Pass[] {
  const perChunk = Math.max(1, Math.floor(CHUNK_BYTES / lu.store.blockSize));
  const chunkBlocks = Math.max(perChunk, Math.ceil(lu.store.blockCount / ERASE_STEPS));
  return [{ chunkBlocks, step: (lba, blocks) => lu.store.unmap(lba, blocks) }];
}

/** Registers the job synchronously (so the next command already sees SANITIZE IN PROGRESS) and runs it. */
function start(lu: LogicalUnit, unit: SanitizeUnit, passes: Pass[], ause: boolean): Job {
  const blockCount = lu.store.blockCount;
  let resolve!: (ok: boolean) => void;
  const job: Job = {
    started: performance.now(),
    minDurationMs: unit.minDurationMs,
    total: passes.length * blockCount,
    done: 0,
    finished: new Promise<boolean>((r) => (resolve = r)),
  };
  unit.job = job;
  void (async () => {
    let ok = false;
    try {
      // Commands that were already running when the sanitize started finish first; new ones are turned away.
      const release = await lu.lock.acquire(0, blockCount);
      try {
        for (const [p, pass] of passes.entries()) {
          for (let lba = 0; lba < blockCount;) {
            if (unit.stopping) throw STOPPED;
            const n = Math.min(pass.chunkBlocks, blockCount - lba);
            await pass.step(lba, n);
            lba += n;
            job.done = p * blockCount + lba;
            await pace(job, unit);
          }
        }
        await lu.store.flush();
      } finally {
        release();
      }
      ok = true;
    } catch (err) {
      if (err !== STOPPED) console.error(`scsi: lun ${lu.lun}: sanitize failed:`, err);
    }
    unit.failure = ok ? undefined : { ause };
    unit.job = undefined;
    resolve(ok);
  })();
  return job;
}

/** Longest single sleep while pacing, so a closing target does not wait for the rest of the operation. */
const PACE_SLICE_MS = 100;

/** Sleeps until the elapsed time matches the fraction of the work done, spread over the job's minimum duration. */
async function pace(job: Job, unit: SanitizeUnit): Promise<void> {
  if (job.minDurationMs <= 0) return;
  const due = job.started + (job.done / Math.max(1, job.total)) * job.minDurationMs;
  for (let wait = due - performance.now(); wait > 0 && !unit.stopping; wait = due - performance.now()) {
    await new Promise((r) => setTimeout(r, Math.min(wait, PACE_SLICE_MS)));
  }
  if (unit.stopping) throw STOPPED;
}

const ABORTED = Symbol('aborted');
const STOPPED = Symbol('stopped');

function untilAborted<T>(promise: Promise<T>, watch: AbortWatch | undefined): Promise<T | typeof ABORTED> {
  if (!watch) return promise;
  if (watch.aborted) return Promise.resolve(ABORTED);
  return new Promise((resolve) => {
    const cancel = watch.onAbort(() => resolve(ABORTED));
    void promise.then((v) => {
      cancel();
      resolve(v);
    });
  });
}
