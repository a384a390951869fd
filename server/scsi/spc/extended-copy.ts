/**
 * EXTENDED COPY(LID1) (SPC-4 6.4): the copy manager of this LU copies blocks between LUs of this target (or within
 * one), named by their NAA designators (VPD page 83h) in identification descriptor CSCDs, as block -> block
 * segments. The whole parameter list is checked, and every segment's LUs and ranges resolved, before the first
 * block moves. Data goes through each LU's store (and its block cache): source blocks are read the way READ reads
 * them, destination blocks written under the destination LU's range lock, a chunk at a time.
 */
import { be32 } from '../cdb.ts';
import type { CommandContext } from '../context.ts';
import { naaDesignator } from '../identity.ts';
import type { LogicalUnit } from '../logical-unit.ts';
import { sanitizeFailed, sanitizeProgress } from '../sbc/sanitize.ts';
import { CheckCondition, Sense, invalidParameter, type SenseReason } from '../sense.ts';
import { ScsiStatus, type ScsiResponse } from '../types.ts';
import { CopyState, MAX_SEGMENT_BLOCKS, type CopyStatus } from './copy-manager.ts';
import { parseCopyParameters, type BlockSegment, type TargetDescriptor } from './xcopy-parameters.ts';

/** Blocks read and written per step: bounds the buffer one copy holds (1 MiB at 512-byte blocks). */
const CHUNK_BLOCKS = 2048;
const ASSOCIATION_LU = 0;
const DESIGNATOR_NAA = 3;
const CODE_SET_BINARY = 1;
const DEVICE_TYPE_BLOCK = 0x00;
/** What the copy does to its source and destination LUs, as the reservations engine judges commands. */
const READ_16 = Uint8Array.of(0x88, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
const WRITE_16 = Uint8Array.of(0x8a, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);

interface Step {
  readonly source: LogicalUnit;
  readonly destination: LogicalUnit;
  readonly segment: BlockSegment;
}

export async function extendedCopy(ctx: CommandContext): Promise<ScsiResponse> {
  const { cdb, cmd, lu } = ctx;
  const length = be32(cdb, 10);
  if (length === 0) return { status: ScsiStatus.Good, dataOutWanted: 0 };
  const data = cmd.dataOut ?? new Uint8Array(0);
  if (data.length < length) throw new CheckCondition(Sense.ParameterListLengthError);
  const params = parseCopyParameters(data, length);
  const targets = params.targets.map((t) => resolve(ctx, t));
  const steps = params.segments.map((s) => plan(ctx, s, targets));
  const nexusId = cmd.nexus.id;
  // A copy without a list identifier (LIST ID USAGE 11b) is nobody's to ask about, nor to collide with.
  const status = params.identified ? lu.copyResults.begin(nexusId, params.listId) : { state: CopyState.InProgress, segmentsProcessed: 0, bytesTransferred: 0 };
  if (!status) throw new CheckCondition(Sense.OperationInProgress);
  let state = CopyState.CompletedWithErrors;
  try {
    for (const step of steps) {
      await copySegment(step, status);
      status.segmentsProcessed++;
    }
    state = CopyState.Completed;
  } finally {
    if (params.identified) lu.copyResults.end(nexusId, params.listId, status, state, params.hold);
  }
  return { status: ScsiStatus.Good, dataOutWanted: length };
}

/** The LU a CSCD descriptor names, or undefined for a null device (NUL = 1). */
function resolve(ctx: CommandContext, t: TargetDescriptor): LogicalUnit | undefined {
  if (t.nul) return undefined;
  if (t.deviceType !== DEVICE_TYPE_BLOCK) throw invalidParameter(t.offset + 1);
  const byNaa = t.association === ASSOCIATION_LU && t.designatorType === DESIGNATOR_NAA && t.codeSet === CODE_SET_BINARY;
  const lu = byNaa ? [...ctx.units.values()].find((u) => sameBytes(naaDesignator(ctx.target.targetName, u.lun), t.designator)) : undefined;
  if (!lu) throw aborted(Sense.UnreachableCopyTarget, t.offset + 4);
  if (t.blockLength !== lu.store.blockSize) throw invalidParameter(t.offset + 29);
  return lu;
}

/** Checks one segment against the LUs it names, so nothing is copied unless every segment can be. */
function plan(ctx: CommandContext, given: BlockSegment, targets: readonly (LogicalUnit | undefined)[]): Step {
  const o = given.offset;
  const source = pick(targets, given.source, o + 4);
  const destination = pick(targets, given.destination, o + 6);
  const segment = given.bytes === undefined ? given : { ...given, blocks: wholeBlocks(given.bytes, source, destination, o + 8) };
  if (segment.sourceLba + segment.blocks > source.store.blockCount) throw aborted(Sense.CopyAborted, o + 12);
  if (segment.destinationLba + segment.blocks > destination.store.blockCount) throw aborted(Sense.CopyAborted, o + 20);
  reachable(source, o + 4);
  reachable(destination, o + 6);
  // The copy reads and writes on behalf of the nexus that sent it: another nexus's reservation keeps it out.
  if (ctx.reservationConflict(source.lun, READ_16)) throw aborted(Sense.CopyTargetNotReachable, o + 4);
  if (ctx.reservationConflict(destination.lun, WRITE_16)) throw aborted(Sense.CopyTargetNotReachable, o + 6);
  if (destination.writeProtected) throw new CheckCondition(Sense.WriteProtected);
  return { source, destination, segment };
}

/**
 * A byte-counted segment (0Ah) in blocks: a whole number of them, the same size on both LUs, within the MAXIMUM
 * SEGMENT LENGTH the copy manager reports; anything else cannot be copied as blocks (COPY ABORTED at NUMBER OF BYTES).
 */
function wholeBlocks(bytes: number, source: LogicalUnit, destination: LogicalUnit, offset: number): number {
  const size = source.store.blockSize;
  const blocks = bytes / size;
  if (!Number.isInteger(blocks) || destination.store.blockSize !== size || blocks > MAX_SEGMENT_BLOCKS) throw aborted(Sense.CopyAborted, offset);
  return blocks;
}

function pick(targets: readonly (LogicalUnit | undefined)[], index: number, offset: number): LogicalUnit {
  if (index >= targets.length) throw aborted(Sense.UnreachableCopyTarget, offset);
  const lu = targets[index];
  // A null device has no blocks to read or write.
  if (!lu) throw aborted(Sense.UnreachableCopyTarget, offset);
  return lu;
}

/** An LU with its medium ejected, or busy sanitizing, cannot take part in a copy. */
function reachable(lu: LogicalUnit, offset: number): void {
  if (!lu.mediumLoaded || sanitizeProgress(lu) !== undefined || sanitizeFailed(lu)) {
    throw aborted(Sense.CopyTargetNotReachable, offset);
  }
}

/** COPY ABORTED, pointing at the parameter list byte that could not be honoured (SPC-4 4.5.2.4.6 segment pointer). */
function aborted(reason: SenseReason, byte: number): CheckCondition {
  return new CheckCondition(reason, { field: { cdb: false, byte } });
}

async function copySegment({ source, destination, segment }: Step, status: CopyStatus): Promise<void> {
  const { blocks, sourceLba, destinationLba } = segment;
  // Within one LU with the destination after an overlapping source, copy from the end (memmove), so no source
  // block is overwritten before it has been read.
  const backwards = source === destination && destinationLba > sourceLba && destinationLba < sourceLba + blocks;
  const blockSize = source.store.blockSize;
  for (let done = 0; done < blocks;) {
    const n = Math.min(CHUNK_BLOCKS, blocks - done);
    const at = backwards ? blocks - done - n : done;
    const data = await source.atomic.read(sourceLba + at, n, () => source.store.read(sourceLba + at, n));
    const release = await destination.lock.acquire(destinationLba + at, n);
    try {
      await destination.store.write(destinationLba + at, data, !destination.mode.wce);
    } finally {
      release();
    }
    done += n;
    status.bytesTransferred += n * blockSize;
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
