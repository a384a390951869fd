/**
 * `iscsi-lab replay FILE --target URL`: logs in to a target and re-issues the SCSI commands of a capture, one at a
 * time in the order the capture shows their SCSI Command PDUs, each through a session of its own per recorded
 * connection (so multi-initiator captures keep their meaning), then compares what comes back with the recording:
 * iSCSI response, SCSI status, sense key/ASC/ASCQ, and a SHA-256 of the data-in (the replayed data cut to the
 * recorded length). Each command that differs prints one line; the last line is `replayed N commands, D differences`.
 *
 * Inputs: pcapng or classic pcap (this lab's export, Wireshark, tcpdump; the target side on port 3260 or recognised
 * by its Login Responses), or this lab's JSON Lines export when its PDU lines carry `rawHex`.
 *
 * Unit attentions belong to the I_T nexus, not to the command (SAM-5 5.14): a fresh replay session neither sees the
 * ones the recorded session saw nor misses the ones a new nexus gets. So by default a replayed command answered
 * with UNIT ATTENTION is re-issued (as every initiator does), and a recorded UNIT ATTENTION that does not come back
 * is a warning, not a difference; `strictUnitAttention` compares them like any other status.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { InitiatorSession, type ScsiResult } from '../initiator/session.ts';
import { parseIscsiUrl, UrlError, type IscsiUrl } from '../initiator/url.ts';
import type { LoginOptions } from '../initiator/login.ts';
import { loadCapture, NoIscsiError, UnreadableCaptureError, type CaptureFormat, type LoadedCapture } from '../capture/load-capture.ts';
import { decodeCdb } from '../../shared/protocol/cdb.ts';
import { decodeSense } from '../../shared/protocol/sense.ts';
import { describeCdb, describeOutcome, extractTasks, type ScsiTask } from './extract.ts';

/** A mistake in how replay was asked for: the CLI prints the message and exits 2. */
export class ReplayUsageError extends Error {}
/** The file is not a capture replay can read (also a usage problem: exit 2). */
export class ReplayFormatError extends ReplayUsageError {}
/** The file is a capture, but holds nothing to replay (no iSCSI PDUs, or no SCSI command): exit 1 with the reason. */
export class ReplayEmptyError extends Error {}

/** The capture's PDUs; the capture layer's errors become replay's (a usage mistake, or nothing to replay). */
function loadForReplay(file: Uint8Array): LoadedCapture {
  try {
    return loadCapture(file);
  } catch (err) {
    if (err instanceof UnreadableCaptureError) throw new ReplayFormatError(err.message);
    if (err instanceof NoIscsiError) throw new ReplayEmptyError(err.message);
    throw err;
  }
}

export interface ReplayedCommand {
  /** 1-based number among the capture's SCSI commands (the number difference lines show). */
  readonly number: number;
  readonly task: ScsiTask;
  readonly lun: number;
  readonly result: ScsiResult;
  /** What differed, each a phrase ("status GOOD vs CHECK CONDITION, ..."); empty when the replay matched. */
  readonly differences: string[];
}

export interface ReplayOptions {
  /** Default iqn.2026-11.org.iscsi-lab:replay. */
  initiatorName?: string;
  /** 'url' (default): every command goes to the URL's LUN; 'capture': to the LUN the capture names. */
  lunMap?: 'url' | 'capture';
  /** 'recorded' (default): one replay session per recorded connection; 'one': every command through one session. */
  sessions?: 'recorded' | 'one';
  headerDigest?: boolean;
  dataDigest?: boolean;
  mutualChap?: { user: string; secret: string };
  /** CHAP credentials as values, instead of the URL's user%secret (any characters, no encoding to get right). */
  chap?: { user: string; secret: string };
  /** Compare UNIT ATTENTION like any other status and do not re-issue (default false, see the file comment). */
  strictUnitAttention?: boolean;
  /** How long one command may take before replay gives up (default 30 s). */
  commandTimeoutMs?: number;
  onDifference?(line: string): void;
  /** After each command, before the next is issued; a returned promise is awaited (a test may change the LUN here). */
  onCommand?(command: ReplayedCommand): void | Promise<void>;
  onWarning?(line: string): void;
}

export interface ReplayReport {
  /** Commands re-issued. */
  commands: number;
  /** Commands whose result differed from the recording. */
  differences: number;
  /** Commands of the capture not re-issued (incomplete in the capture). */
  skipped: number;
  /** The difference lines, then the summary line. */
  lines: string[];
  warnings: string[];
  format: CaptureFormat;
}

export const DEFAULT_REPLAY_INITIATOR = 'iqn.2026-11.org.iscsi-lab:replay';
const DEFAULT_COMMAND_TIMEOUT_MS = 30_000;
/** Times a command answered with UNIT ATTENTION is re-issued (each UA reported is cleared, SPC-4 5.14). */
const UNIT_ATTENTION_RETRIES = 8;
const STATUS_CHECK_CONDITION = 0x02;
const SENSE_UNIT_ATTENTION = 0x6;
const SHORT_HASH = 16;

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

function isUnitAttention(r: { status: number; sense?: Uint8Array }): boolean {
  if (r.status !== STATUS_CHECK_CONDITION || !r.sense?.length) return false;
  return decodeSense(r.sense)?.key === SENSE_UNIT_ATTENTION;
}

function senseTriple(sense: Uint8Array | undefined): string | undefined {
  const d = sense && sense.length ? decodeSense(sense) : undefined;
  return d ? `${d.key}/${d.asc}/${d.ascq}` : undefined;
}

/** Where two buffers first differ, as "byte N" with the LBA when the CDB gives a block size. */
function firstDifference(a: Uint8Array, b: Uint8Array, task: ScsiTask): string {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  const d = decodeCdb(task.cdb);
  if (d.lba !== undefined && d.blocks && task.edtl % d.blocks === 0) {
    const blockSize = task.edtl / d.blocks;
    return `first difference at byte ${i} (LBA ${d.lba + Math.floor(i / blockSize)})`;
  }
  return `first difference at byte ${i}`;
}

/** What differs between the recorded and the replayed result of one task (recorded first, then replayed). */
export function compareResult(task: ScsiTask, got: ScsiResult, gotResponse = 0): string[] {
  const rec = task.outcome!;
  const diffs: string[] = [];
  if (rec.response !== gotResponse || rec.status !== got.status) {
    diffs.push(`status ${describeOutcome(rec)} vs ${describeOutcome({ response: gotResponse, status: got.status, sense: got.sense })}`);
    return diffs;
  }
  const rs = senseTriple(rec.sense);
  const gs = senseTriple(got.sense);
  if (rs !== gs) diffs.push(`sense ${describeOutcome(rec)} vs ${describeOutcome({ status: got.status, sense: got.sense })}`);
  if (task.read && task.dataIn) {
    const want = task.dataIn;
    const have = got.data ?? new Uint8Array(0);
    if (have.length < want.length) {
      diffs.push(`data length ${want.length} vs ${have.length} bytes`);
    } else {
      const cut = have.subarray(0, want.length);
      const a = sha256(want);
      const b = sha256(cut);
      if (a !== b) diffs.push(`data sha256 differs (${a.slice(0, SHORT_HASH)}… vs ${b.slice(0, SHORT_HASH)}…), ${firstDifference(want, cut, task)}`);
    }
  }
  return diffs;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what()}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

function loginOptionsFor(url: IscsiUrl, opts: ReplayOptions): LoginOptions {
  return {
    host: url.host,
    port: url.port,
    targetName: url.targetName,
    initiatorName: opts.initiatorName ?? DEFAULT_REPLAY_INITIATOR,
    chap: opts.chap ?? (url.user !== undefined ? { user: url.user, secret: url.secret ?? '' } : undefined),
    mutualChap: opts.mutualChap,
    headerDigest: opts.headerDigest,
    dataDigest: opts.dataDigest,
  };
}

/** Replays a capture (its bytes, or its PDUs already read) against `target`, an iscsi:// URL naming a target and LUN. */
export async function replayCapture(file: Uint8Array | LoadedCapture, target: string, opts: ReplayOptions = {}): Promise<ReplayReport> {
  let url: IscsiUrl;
  try {
    url = parseIscsiUrl(target);
  } catch (err) {
    if (err instanceof UrlError) throw new ReplayUsageError(err.message);
    throw err;
  }
  if (!url.targetName) throw new ReplayUsageError(`${target} names no target: iscsi://host[:port]/target-iqn/lun`);
  const loaded = file instanceof Uint8Array ? loadForReplay(file) : file;
  if (loaded.pdus.length === 0) throw new ReplayEmptyError('the capture holds no iSCSI PDUs');
  const extraction = extractTasks(loaded.pdus);
  const warnings: string[] = [];
  const lines: string[] = [];
  const warn = (w: string): void => {
    warnings.push(w);
    opts.onWarning?.(w);
  };
  for (const w of [...loaded.warnings, ...extraction.warnings]) warn(w);
  const timeoutMs = opts.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
  const strictUA = opts.strictUnitAttention ?? false;

  const runnable = extraction.tasks.filter((t) => {
    if (t.problems.length === 0 && t.outcome) return true;
    warn(`command ${t.index + 1} ${describeCdb(t.cdb)} skipped: ${t.problems.join('; ') || 'incomplete in the capture'}`);
    return false;
  });
  if (extraction.tasks.length === 0) throw new ReplayEmptyError(`the capture holds ${loaded.pdus.length} iSCSI PDUs but no SCSI command to replay`);

  let commands = 0;
  let differences = 0;
  if (runnable.length > 0) {
    // Each recorded connection replays as a session of its own (reservations and unit attentions belong to the
    // I_T nexus), in the capture's order across sessions; a session logs out after its last command.
    const perSession = (opts.sessions ?? 'recorded') === 'recorded';
    const lastOf = new Map<number, ScsiTask>();
    for (const t of runnable) lastOf.set(perSession ? t.connectionId : 0, t);
    const sessions = new Map<number, InitiatorSession>();
    const sessionFor = async (task: ScsiTask): Promise<InitiatorSession> => {
      const key = perSession ? task.connectionId : 0;
      let s = sessions.get(key);
      if (!s) {
        s = await InitiatorSession.login(loginOptionsFor(url, opts));
        sessions.set(key, s);
      }
      return s;
    };
    const release = async (task: ScsiTask): Promise<void> => {
      const key = perSession ? task.connectionId : 0;
      const s = sessions.get(key);
      if (!s || lastOf.get(key) !== task) return;
      sessions.delete(key);
      await s.logout().catch(() => s.close());
    };
    try {
      for (const task of runnable) {
        const session = await sessionFor(task);
        const number = task.index + 1;
        const name = describeCdb(task.cdb);
        const lun = opts.lunMap === 'capture' ? task.lun : url.lun;
        const issue = (): Promise<ScsiResult> =>
          withTimeout(
            session.command(lun, task.cdb, {
              readLength: task.read ? task.edtl : undefined,
              dataOut:
                task.write && task.edtl > 0 && task.dataOut ? Buffer.from(task.dataOut.buffer, task.dataOut.byteOffset, task.dataOut.byteLength) : undefined,
              attribute: task.attribute,
            }),
            timeoutMs,
            () => `command ${number} ${name}`,
          );
        const recordedUA = isUnitAttention(task.outcome!);
        let result = await issue();
        if (!strictUA && !recordedUA) {
          for (let i = 0; i < UNIT_ATTENTION_RETRIES && isUnitAttention(result); i++) {
            warn(`command ${number} ${name}: ${describeOutcome(result)} on replay, re-issued`);
            result = await issue();
          }
        }
        commands++;
        let diffs: string[];
        if (recordedUA && !strictUA) {
          diffs = [];
          if (senseTriple(task.outcome!.sense) !== senseTriple(result.sense)) {
            warn(
              `command ${number} ${name}: recorded ${describeOutcome(task.outcome!)} (a unit attention of the recorded session), replayed ${describeOutcome(result)}`,
            );
          }
        } else diffs = compareResult(task, result);
        await opts.onCommand?.({ number, task, lun, result, differences: diffs });
        if (diffs.length) {
          differences++;
          const line = `command ${number} ${name}: ${diffs.join('; ')}`;
          lines.push(line);
          opts.onDifference?.(line);
        }
        await release(task);
      }
    } finally {
      for (const s of sessions.values()) await s.logout().catch(() => s.close());
    }
  }
  lines.push(`replayed ${commands} commands, ${differences} differences`);
  return { commands, differences, skipped: extraction.tasks.length - runnable.length, lines, warnings, format: loaded.format };
}

export const REPLAY_USAGE =
  'iscsi-lab replay FILE --target iscsi://HOST[:PORT]/IQN/LUN [--initiator-name IQN] [--lun-map url|capture] [--sessions recorded|one] [--header-digest] [--data-digest]';

export interface ReplayArgs {
  file: string;
  target: string;
  options: Pick<ReplayOptions, 'initiatorName' | 'lunMap' | 'sessions' | 'headerDigest' | 'dataDigest'>;
}

/** Parses `FILE --target URL [--initiator-name IQN] [--lun-map url|capture] [--header-digest] [--data-digest]`. */
export function parseReplayArgs(argv: readonly string[]): ReplayArgs {
  const positional: string[] = [];
  let target: string | undefined;
  const options: ReplayArgs['options'] = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const eq = a.indexOf('=');
    const flag = a.startsWith('--') && eq > 0 ? a.slice(0, eq) : a;
    const value = (): string => {
      if (a.startsWith('--') && eq > 0) return a.slice(eq + 1);
      const v = argv[++i];
      if (v === undefined) throw new ReplayUsageError(`${flag} needs a value\nusage: ${REPLAY_USAGE}`);
      return v;
    };
    switch (flag) {
      case '--target':
        target = value();
        break;
      case '--initiator-name':
        options.initiatorName = value();
        break;
      case '--lun-map': {
        const v = value();
        if (v !== 'url' && v !== 'capture') throw new ReplayUsageError(`--lun-map must be url or capture, got ${JSON.stringify(v)}`);
        options.lunMap = v;
        break;
      }
      case '--sessions': {
        const v = value();
        if (v !== 'recorded' && v !== 'one') throw new ReplayUsageError(`--sessions must be recorded or one, got ${JSON.stringify(v)}`);
        options.sessions = v;
        break;
      }
      case '--header-digest':
        options.headerDigest = true;
        break;
      case '--data-digest':
        options.dataDigest = true;
        break;
      default:
        if (a.startsWith('--')) throw new ReplayUsageError(`unknown flag ${a}\nusage: ${REPLAY_USAGE}`);
        positional.push(a);
    }
  }
  if (positional.length === 0) throw new ReplayUsageError(`a capture FILE is required\nusage: ${REPLAY_USAGE}`);
  if (positional.length > 1)
    throw new ReplayUsageError(`one capture FILE only, got ${positional.map((p) => JSON.stringify(p)).join(' ')}\nusage: ${REPLAY_USAGE}`);
  if (!target) throw new ReplayUsageError(`--target iscsi://HOST[:PORT]/IQN/LUN is required\nusage: ${REPLAY_USAGE}`);
  return { file: positional[0]!, target, options };
}

/**
 * The `replay` command: prints warnings (`warning: ...`), one line per differing command and the summary line.
 * Returns 0 when nothing differed, 1 when something did or the capture holds nothing to replay (the reason is
 * printed); throws ReplayUsageError (exit 2) for bad arguments or a file that is not a capture.
 */
export async function replayMain(argv: string[], out: (line: string) => void): Promise<number> {
  const args = parseReplayArgs(argv);
  const file = await readFile(args.file);
  let report: ReplayReport;
  try {
    report = await replayCapture(new Uint8Array(file.buffer, file.byteOffset, file.byteLength), args.target, {
      ...args.options,
      onWarning: (w) => out(`warning: ${w}`),
      onDifference: (line) => out(line),
    });
  } catch (err) {
    if (!(err instanceof ReplayEmptyError)) throw err;
    out(`nothing to replay in ${args.file}: ${err.message}`);
    return 1;
  }
  out(report.lines[report.lines.length - 1]!);
  return report.differences > 0 ? 1 : 0;
}
