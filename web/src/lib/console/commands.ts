/**
 * The console's lab commands, over the gateway's JSON API. Each prints readable lines; a failure is one red line
 * with the reason (never a stack). Features the gateway does not offer yet say so plainly.
 */
import { ascAscqText, senseKeyName } from '../../../../shared/protocol/sense.ts';
import { ApiError, type IoRequest, type IoResult, type LabStatus, type TraceStats } from '../api.ts';
import { hexToBytes } from '../bytes.ts';
import { asciiOf, fmtBytes, hex2, parseNumber } from '../format.ts';

export interface ConsoleHost {
  status(): Promise<LabStatus>;
  io(req: IoRequest): Promise<IoResult>;
  traceStats(): Promise<TraceStats>;
  /** GET /api/stats (per-LUN block cache counters); undefined when the gateway has no such route. */
  cacheStats(): Promise<{ luns: { lun: number; cache: Record<string, unknown> | null }[] } | undefined>;
  /** What this page holds of the trace. */
  pageTrace(): { pdus: number; received: number; dropped: number; rate: number; paused: boolean; connected: boolean };
  setPaused(p: boolean): void;
  clearTrace(): void;
  download(url: string): void;
  /** Opens the stepper on a task ('last' = newest READ/WRITE); returns a description or an error text. */
  step(which: 'last' | number): { ok: boolean; text: string };
}

export interface Out {
  line(s?: string): void;
  error(s: string): void;
  heading(s: string): void;
}

interface Command {
  readonly name: string;
  readonly usage: string;
  readonly summary: string;
  readonly args?: readonly string[];
  run(args: string[], out: Out, host: ConsoleHost): Promise<void> | void;
}

export class UsageError extends Error {}

const READ_PREVIEW_LINES = 32;

const COMMANDS: readonly Command[] = [
  {
    name: 'help', usage: 'help [COMMAND]', summary: 'list commands, or explain one',
    run(args, out) {
      if (args[0]) {
        const c = find(args[0]);
        if (!c) throw new UsageError(`no command "${args[0]}"; type help for the list`);
        out.line(`${c.usage}`);
        out.line(`  ${c.summary}`);
        return;
      }
      out.heading('Lab commands');
      const w = Math.max(...COMMANDS.map((c) => c.usage.length));
      for (const c of COMMANDS) out.line(`  ${c.usage.padEnd(w)}  ${c.summary}`);
      out.line('Keys: ↑/↓ history, Tab completes, Ctrl+C cancels the line, Ctrl+L clears.');
    },
  },
  {
    name: 'luns', usage: 'luns', summary: 'the target\'s logical units: size, block size, options',
    async run(_a, out, host) {
      const st = await host.status();
      out.heading(`${st.target.iqn}: ${st.luns.length} LUN(s)`);
      for (const l of st.luns) {
        const opts = [l.thin && 'thin', l.removable && 'removable', l.readOnly && 'read-only'].filter(Boolean).join(', ');
        out.line(`  LUN ${l.lun}  ${fmtBytes(l.sizeBytes).padStart(9)}  ${l.blocks} × ${l.blockSize} B  ${opts || 'plain'}  ${l.path}`);
      }
    },
  },
  {
    name: 'sessions', usage: 'sessions', summary: 'logged-in sessions and their connections',
    async run(_a, out, host) {
      const st = await host.status();
      if (!st.sessions.length) {
        out.line('no sessions (the gateway logs in on its first I/O; outside initiators show up here too)');
        return;
      }
      for (const s of st.sessions) {
        out.heading(`TSIH ${s.tsih}  ${s.type}  ${s.initiatorName}  ISID ${s.isid}`);
        out.line(`  digests: header ${String(s.headerDigest)}, data ${String(s.dataDigest)}`);
        for (const c of s.connections) out.line(`  connection ${c.id}: ${c.remote} → ${c.local}`);
      }
    },
  },
  {
    name: 'inquiry', usage: 'inquiry [LUN]', summary: 'SCSI INQUIRY (standard data, VPD pages)',
    async run(args, out, host) {
      const st = await host.status();
      const lun = lunArg(args[0], st);
      out.line(`LUN ${lun} of ${st.target.iqn}`);
      out.error('inquiry: not available yet — the gateway API runs READ/WRITE only (POST /api/io).');
      out.line(`  from a shell: iscsi-inq ${st.target.url.replace(/\/\d+$/, `/${lun}`)}`);
    },
  },
  {
    name: 'readcap', usage: 'readcap [LUN]', summary: 'capacity: last LBA, block size (as READ CAPACITY(16) reports)',
    async run(args, out, host) {
      const st = await host.status();
      const lun = lunArg(args[0], st);
      const l = st.luns.find((x) => x.lun === lun)!;
      out.line(`LUN ${lun}: RETURNED LOGICAL BLOCK ADDRESS ${l.blocks - 1}, LOGICAL BLOCK LENGTH IN BYTES ${l.blockSize}`);
      out.line(`  ${l.blocks} blocks = ${l.sizeBytes} bytes (${fmtBytes(l.sizeBytes)})${l.thin ? ', thin provisioned (LBPME)' : ''}`);
    },
  },
  {
    name: 'read', usage: 'read LBA [BLOCKS] [--lun N]', summary: 'READ blocks through the lab initiator; hex dump',
    async run(args, out, host) {
      const { pos, lun } = options(args);
      const lba = num(pos[0], 'LBA');
      const blocks = pos[1] === undefined ? 1 : num(pos[1], 'BLOCKS');
      const r = await host.io({ lun, op: 'read', lba, blocks });
      result(r, out);
      if (!r.dataHex) return;
      const bytes = hexToBytes(r.dataHex);
      const lines = Math.ceil(bytes.length / 16);
      let shown = 0;
      let lastZero = false;
      for (let o = 0; o < bytes.length && shown < READ_PREVIEW_LINES; o += 16) {
        const row = bytes.subarray(o, o + 16);
        const zero = row.every((b) => b === 0);
        if (zero && lastZero) continue;
        lastZero = zero;
        out.line(`${o.toString(16).padStart(6, '0')}  ${[...row].map(hex2).join(' ').padEnd(47)}  ${[...row].map(asciiOf).join('')}${zero ? '  (zeros…)' : ''}`);
        shown++;
      }
      if (lines > shown) out.line(`(${bytes.length} bytes; runs of zero lines folded${shown >= READ_PREVIEW_LINES ? ', output cut — the composer shows it all' : ''})`);
    },
  },
  {
    name: 'write', usage: 'write LBA TEXT… [--lun N] [--fua]', summary: 'WRITE text (UTF-8, zero-filled block) through the lab initiator',
    async run(args, out, host) {
      const { pos, lun, fua } = options(args);
      const lba = num(pos[0], 'LBA');
      const text = pos.slice(1).join(' ');
      if (!text) throw new UsageError('write needs text: write LBA TEXT…');
      const blocks = Math.max(1, Math.ceil(new TextEncoder().encode(text).length / 512));
      const r = await host.io({ lun, op: 'write', lba, blocks, data: { text }, fua });
      result(r, out);
    },
  },
  {
    name: 'cache', usage: 'cache', summary: 'the target\'s block cache: policy, size, hit rate',
    async run(_a, out, host) {
      const stats = await host.cacheStats();
      if (stats === undefined) {
        out.error('cache: not available yet — this gateway has no /api/stats (the block cache routes are not wired in).');
        return;
      }
      for (const { lun, cache } of stats.luns) {
        if (!cache) {
          out.line(`LUN ${lun}: no cache (start the lab with --cache SIZE)`);
          continue;
        }
        out.heading(`LUN ${lun}`);
        for (const [k, v] of Object.entries(cache)) out.line(`  ${k}: ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`);
      }
    },
  },
  {
    name: 'trace', usage: 'trace [stats|pause|resume|clear]', summary: 'the trace: recorder counters, this page\'s timeline',
    args: ['stats', 'pause', 'resume', 'clear'],
    async run(args, out, host) {
      const sub = args[0] ?? 'stats';
      if (sub === 'pause' || sub === 'resume') {
        host.setPaused(sub === 'pause');
        out.line(`timeline ${sub === 'pause' ? 'paused (PDUs still arrive and are kept)' : 'live'}`);
        return;
      }
      if (sub === 'clear') {
        host.clearTrace();
        out.line('this page forgot its PDUs (the gateway keeps its ring: capture still downloads them)');
        return;
      }
      if (sub !== 'stats') throw new UsageError(`trace ${sub}: expected stats, pause, resume or clear`);
      const s = await host.traceStats();
      const p = host.pageTrace();
      out.heading('recorder (gateway)');
      out.line(`  PDUs ${s.pdus}, events ${s.events}, ring ${s.ringPdus} PDUs / ${fmtBytes(s.ringBytes)}, evicted ${s.evictedPdus} PDUs, consumers ${s.consumers}`);
      out.heading('this page');
      out.line(`  ${p.connected ? 'live' : 'offline'}${p.paused ? ', paused' : ''}: ${p.pdus} PDUs kept, ${p.received} received, ${p.rate}/s, ${p.dropped} dropped by back-pressure`);
    },
  },
  {
    name: 'capture', usage: 'capture [pcapng|jsonl]', summary: 'download the trace ring: pcapng for Wireshark, or JSON Lines',
    args: ['pcapng', 'jsonl'],
    run(args, out, host) {
      const kind = args[0] ?? 'pcapng';
      if (kind !== 'pcapng' && kind !== 'jsonl') throw new UsageError('capture pcapng or capture jsonl');
      const url = `/api/capture.${kind}`;
      host.download(url);
      out.line(`downloading ${url}${kind === 'pcapng' ? ' (open it with wireshark or tshark -r)' : ''}`);
    },
  },
  {
    name: 'replay', usage: 'replay', summary: 're-issue a capture\'s SCSI commands and compare',
    run(_a, out) {
      out.error('replay: not available yet in the browser — the gateway has no replay route.');
      out.line('  from a shell: npx iscsi-lab replay FILE.pcapng --target iscsi://HOST:PORT/IQN/0');
    },
  },
  {
    name: 'step', usage: 'step [last|TASK]', summary: 'walk an I/O through the layers in the encapsulation stepper',
    args: ['last'],
    run(args, out, host) {
      const which = args[0] === undefined || args[0] === 'last' ? 'last' : num(args[0], 'TASK');
      const r = host.step(which);
      if (r.ok) out.line(r.text);
      else out.error(r.text);
      out.line('  (live step mode — pausing a real I/O between stages — is not available yet)');
    },
  },
  { name: 'history', usage: 'history', summary: 'commands typed so far', run() {} },
  { name: 'clear', usage: 'clear', summary: 'clear the screen', run() {} },
];

function find(name: string): Command | undefined {
  return COMMANDS.find((c) => c.name === name.toLowerCase());
}

export const COMMAND_NAMES: readonly string[] = COMMANDS.map((c) => c.name);

/** Splits a line into words; "double" or 'single' quotes keep spaces. */
export function tokenize(line: string): string[] {
  const out: string[] = [];
  const re = /"([^"]*)"|'([^']*)'|(\S+)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(line))) out.push(m[1] ?? m[2] ?? m[3]!);
  return out;
}

export function completions(before: string): string[] {
  const words = before.split(/\s+/);
  const last = words.at(-1) ?? '';
  if (words.length <= 1) return COMMAND_NAMES.filter((n) => n.startsWith(last.toLowerCase()));
  const c = find(words[0]!);
  if (words[0] === 'help' && words.length === 2) return COMMAND_NAMES.filter((n) => n.startsWith(last));
  return (c?.args ?? []).filter((a) => a.startsWith(last));
}

/** Runs one line. Returns false for an unknown command (after printing why). */
export async function runLine(line: string, out: Out, host: ConsoleHost): Promise<void> {
  const words = tokenize(line);
  if (!words.length) return;
  const c = find(words[0]!);
  if (!c) {
    out.error(`unknown command "${words[0]}" — type help for the list`);
    return;
  }
  try {
    await c.run(words.slice(1), out, host);
  } catch (err) {
    if (err instanceof UsageError) out.error(`${c.name}: ${err.message}  (usage: ${c.usage})`);
    else if (err instanceof ApiError) out.error(`${c.name}: ${err.status === 0 ? '' : `the gateway said `}${err.message}`);
    else out.error(`${c.name}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function result(r: IoResult, out: Out): void {
  const line = `${r.ok ? 'GOOD' : r.statusText} — ${r.bytes} bytes in ${r.durationMs.toFixed(2)} ms`;
  if (r.ok) out.line(line);
  else out.error(line);
  if (r.sense) out.error(`  sense: ${senseKeyName(r.sense.key)}, ${ascAscqText(r.sense.asc, r.sense.ascq)}`);
}

function num(s: string | undefined, what: string): number {
  const n = s === undefined ? undefined : parseNumber(s);
  if (n === undefined) throw new UsageError(`${what} must be a number${s === undefined ? ' (missing)' : `, not "${s}"`}`);
  return n;
}

function lunArg(s: string | undefined, st: LabStatus): number {
  const lun = s === undefined ? 0 : num(s, 'LUN');
  if (!st.luns.some((l) => l.lun === lun)) throw new UsageError(`no LUN ${lun}; this target has ${st.luns.map((l) => l.lun).join(', ')}`);
  return lun;
}

function options(args: string[]): { pos: string[]; lun: number; fua: boolean } {
  const pos: string[] = [];
  let lun = 0;
  let fua = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--lun') lun = num(args[++i], 'LUN');
    else if (a === '--fua') fua = true;
    else pos.push(a);
  }
  return { pos, lun, fua };
}
