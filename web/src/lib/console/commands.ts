/**
 * The console's lab commands, over the gateway's JSON API. Each prints readable lines; a failure is one red line
 * with the reason (never a stack).
 */
import { writeDataTooLong } from '../../../../shared/api/io.ts';
import {
  ApiError,
  type CacheChange,
  type CacheChangeAnswer,
  type CacheStatsAnswer,
  type InquiryData,
  type IoRequest,
  type IoResult,
  type LabStatus,
  type ReadCapacity,
  type ReplayReport,
  type TraceStats,
  type VpdPage,
} from '../api.ts';
import type { StepState } from '../../../../shared/trace/step.ts';
import { FaultRuleError, describeFaultRule, parseFaultSpec, type FaultRuleInfo, type FaultRuleInput } from '../../../../shared/api/faults.ts';
import { hexToBytes } from '../bytes.ts';
import { fmtBytes, hex2, parseNumber, percent } from '../format.ts';
import { dump, result, stepLine, wrapWords, type Out } from './output.ts';
import { num, options, tokenize, UsageError } from './words.ts';

export { tokenize, UsageError, wrapWords, type Out };

export interface ConsoleHost {
  status(): Promise<LabStatus>;
  io(req: IoRequest): Promise<IoResult>;
  traceStats(): Promise<TraceStats>;
  /** GET /api/stats (per-LUN block cache counters); undefined when the gateway has no such route. */
  cacheStats(): Promise<CacheStatsAnswer | undefined>;
  /** What this page holds of the trace. */
  pageTrace(): { pdus: number; received: number; dropped: number; rate: number; paused: boolean; connected: boolean };
  setPaused(p: boolean): void;
  clearTrace(): void;
  download(url: string): void;
  /** Opens the stepper on a task ('last' = newest READ/WRITE); returns a description or an error text. */
  step(which: 'last' | number): { ok: boolean; text: string };
  inquiry(lun: number): Promise<InquiryData>;
  vpd(lun: number, page: number): Promise<VpdPage>;
  readCapacity(lun: number): Promise<ReadCapacity>;
  changeCache(change: CacheChange): Promise<CacheChangeAnswer>;
  /** POST /api/cache/reset-stats. */
  resetCacheStats(lun: number): Promise<CacheChangeAnswer>;
  /** The capture last uploaded in this page (Capture tab or `capture open`), if any. */
  uploaded(): { id: string; name: string; pdus: number } | undefined;
  /** Opens the file picker for a capture to upload. */
  openCapture(): void;
  replay(): Promise<ReplayReport>;
  /** Step mode: starts a held I/O (resolves when it is done), or acts on the held one. */
  stepIo(req: IoRequest): Promise<IoResult>;
  stepAction(action: 'next' | 'continue'): Promise<StepState>;
  stepState(): Promise<StepState>;
  /** The target's fault rules (/api/faults). */
  faults(): Promise<FaultRuleInfo[]>;
  addFault(rule: FaultRuleInput): Promise<number>;
  /** Deletes one rule, or every rule without an id; resolves with how many went. */
  deleteFaults(id?: number): Promise<number>;
}

interface Command {
  readonly name: string;
  readonly usage: string;
  readonly summary: string;
  readonly args?: readonly string[];
  run(args: string[], out: Out, host: ConsoleHost): Promise<void> | void;
}

const READ_PREVIEW_LINES = 32;

const COMMANDS: readonly Command[] = [
  {
    name: 'help',
    usage: 'help [COMMAND]',
    summary: 'list commands, or explain one',
    run(args, out) {
      if (args[0]) {
        const c = find(args[0]);
        if (!c) throw new UsageError(`no command "${args[0]}"; type help for the list`);
        out.line(`${c.usage}`);
        out.line(`  ${c.summary}`);
        return;
      }
      out.heading('Lab commands');
      for (const l of helpLines(out.columns?.() ?? 80)) out.line(l);
    },
  },
  {
    name: 'luns',
    usage: 'luns',
    summary: "the target's logical units: size, block size, options",
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
    name: 'sessions',
    usage: 'sessions',
    summary: 'logged-in sessions and their connections',
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
    name: 'inquiry',
    usage: 'inquiry [LUN] [--vpd PAGE]',
    summary: 'SCSI INQUIRY: standard data, or a VPD page in hex (0x00 lists them)',
    async run(args, out, host) {
      const pos: string[] = [];
      let page: number | undefined;
      for (let i = 0; i < args.length; i++) {
        if (args[i] === '--vpd') page = num(args[++i], 'PAGE');
        else pos.push(args[i]!);
      }
      const lun = pos[0] === undefined ? 0 : num(pos[0], 'LUN');
      if (page !== undefined) {
        const v = await host.vpd(lun, page);
        out.heading(`LUN ${lun} VPD page 0x${hex2(v.page)}: ${v.length} bytes`);
        dump(hexToBytes(v.hex), out, READ_PREVIEW_LINES);
        return;
      }
      const d = await host.inquiry(lun);
      out.heading(`LUN ${lun} INQUIRY (standard data)`);
      out.line(`  PERIPHERAL DEVICE TYPE  0x${hex2(d.peripheralDeviceType)} (${d.deviceType})`);
      out.line(`  RMB                     ${d.removable ? '1 (removable)' : '0'}`);
      out.line(`  VERSION                 0x${hex2(d.version)}${d.version === 6 ? ' (SPC-4)' : ''}`);
      out.line(`  T10 VENDOR IDENTIFICATION  ${d.vendor}`);
      out.line(`  PRODUCT IDENTIFICATION     ${d.product}`);
      out.line(`  PRODUCT REVISION LEVEL     ${d.revision}`);
    },
  },
  {
    name: 'readcap',
    usage: 'readcap [LUN]',
    summary: 'READ CAPACITY(16): last LBA, block size, thin provisioning',
    async run(args, out, host) {
      const lun = args[0] === undefined ? 0 : num(args[0], 'LUN');
      const c = await host.readCapacity(lun);
      out.line(`LUN ${lun}: RETURNED LOGICAL BLOCK ADDRESS ${c.lastLba}, LOGICAL BLOCK LENGTH IN BYTES ${c.blockSize}`);
      out.line(`  ${c.blocks} blocks = ${c.blocks * c.blockSize} bytes (${fmtBytes(c.blocks * c.blockSize)})${c.thin ? ', thin provisioned (LBPME)' : ''}`);
    },
  },
  {
    name: 'read',
    usage: 'read LBA [BLOCKS] [--lun N]',
    summary: 'READ blocks through the lab initiator; hex dump',
    async run(args, out, host) {
      const { pos, lun } = options(args);
      const lba = num(pos[0], 'LBA');
      const blocks = pos[1] === undefined ? 1 : num(pos[1], 'BLOCKS');
      const r = await host.io({ lun, op: 'read', lba, blocks });
      result(r, out);
      if (!r.dataHex) return;
      dump(hexToBytes(r.dataHex), out, READ_PREVIEW_LINES, ', output cut — the composer shows it all');
    },
  },
  {
    name: 'write',
    usage: 'write LBA TEXT… [--blocks N] [--lun N] [--fua]',
    summary: 'WRITE text (UTF-8, the last block zero-filled) through the lab initiator; --blocks asks for N blocks (text longer than they hold is refused)',
    async run(args, out, host) {
      const { pos, lun, fua, blocks: asked } = options(args);
      const lba = num(pos[0], 'LBA');
      const text = pos.slice(1).join(' ');
      if (!text) throw new UsageError('write needs text: write LBA TEXT…');
      const bytes = new TextEncoder().encode(text).length;
      const blocks = asked ?? Math.max(1, Math.ceil(bytes / 512));
      const blockSize = (await host.status()).luns.find((l) => l.lun === lun)?.blockSize ?? 512;
      // The gateway refuses it too (400, same words).
      const tooLong = writeDataTooLong(bytes, blocks, blockSize);
      if (tooLong) throw new Error(tooLong);
      const r = await host.io({ lun, op: 'write', lba, blocks, data: { text }, fua });
      result(r, out);
    },
  },
  {
    name: 'cache',
    usage: 'cache [LUN] [policy lru|2q|arc] [size 64M] [mode write-back|write-through] [readahead on|off] | cache [LUN] reset',
    summary: "the target's block cache: counters, hit rate; change policy, size, write mode, readahead live; reset zeroes the counters",
    args: ['policy', 'size', 'mode', 'readahead', 'reset', 'lru', '2q', 'arc', 'write-back', 'write-through', 'on', 'off'],
    async run(args, out, host) {
      let lun: number | undefined;
      if (args.at(-1) === 'reset') {
        if (args.length > 2) throw new UsageError('cache reset takes only a LUN: cache [LUN] reset');
        const l = args.length === 2 ? num(args[0], 'LUN') : 0;
        const r = await host.resetCacheStats(l);
        for (const { lun: n, cache } of r.luns) out.line(`LUN ${n}: counters reset (hits ${cache.hits}, misses ${cache.misses}); cached blocks kept`);
        return;
      }
      const change: { policy?: CacheChange['policy']; size?: string; mode?: CacheChange['mode']; readahead?: boolean } = {};
      for (let i = 0; i < args.length; i++) {
        const a = args[i]!;
        const v = args[i + 1];
        if (a === 'policy' || a === 'size' || a === 'mode' || a === 'readahead') {
          if (v === undefined) throw new UsageError(`cache ${a} needs a value`);
          i++;
          if (a === 'policy') {
            if (v !== 'lru' && v !== '2q' && v !== 'arc') throw new UsageError(`policy must be lru, 2q or arc, not "${v}"`);
            change.policy = v;
          } else if (a === 'mode') {
            if (v !== 'write-back' && v !== 'write-through') throw new UsageError(`mode must be write-back or write-through, not "${v}"`);
            change.mode = v;
          } else if (a === 'size') {
            if (!/^\d+[KMG]?(i?B)?$/i.test(v)) throw new UsageError(`size must look like 64M, 512K or 0 (off), not "${v}"`);
            change.size = v;
          } else {
            if (v !== 'on' && v !== 'off') throw new UsageError(`readahead must be on or off, not "${v}"`);
            change.readahead = v === 'on';
          }
        } else if (lun === undefined) lun = num(a, 'LUN');
        else throw new UsageError(`unexpected "${a}"`);
      }
      if (Object.keys(change).length) {
        const r = await host.changeCache({ ...change, lun: lun ?? 0 });
        for (const { lun: l, cache } of r.luns)
          out.line(
            `LUN ${l}: now ${cache.policy.toUpperCase()}, ${cache.mode}, ${fmtBytes(cache.sizeBytes)}, readahead ${cache.readahead.enabled ? 'on' : 'off'}`,
          );
        return;
      }
      const stats = await host.cacheStats();
      if (stats === undefined) {
        out.error('cache: this gateway has no /api/stats');
        return;
      }
      for (const { lun: l, cache: c } of stats.luns) {
        if (lun !== undefined && l !== lun) continue;
        if (!c) {
          out.line(`LUN ${l}: no cache (start the lab with --cache SIZE)`);
          continue;
        }
        out.heading(
          `LUN ${l}: ${c.policy.toUpperCase()}, ${c.mode}, ${fmtBytes(c.usedBytes)} used of ${fmtBytes(c.sizeBytes)}, ${fmtBytes(c.dirtyBytes)} dirty`,
        );
        out.line(
          `  in ${fmtBytes(c.blockBytes)} cache blocks: hits ${c.hits} (readahead ${c.readaheadHits}), misses ${c.misses} (partial ${c.partial}): hit rate ${percent(c.hits, c.hits + c.misses)}`,
        );
        out.line(
          `  evictions ${c.evictions}, write-backs ${c.writebacks}, flushes ${c.flushes}, bypasses ${c.bypasses}; cache blocks of ${fmtBytes(c.blockBytes)}`,
        );
        out.line(`  readahead ${c.readahead.enabled ? `on, window ${fmtBytes(c.readahead.windowBytes)}` : 'off'} (${c.readaheadBlocks} blocks fetched)`);
      }
    },
  },
  {
    name: 'trace',
    usage: 'trace [stats|pause|resume|clear]',
    summary: "the trace: recorder counters, this page's timeline",
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
      out.line(
        `  PDUs ${s.pdus}, events ${s.events}, ring ${s.ringPdus} PDUs / ${fmtBytes(s.ringBytes)}, evicted ${s.evictedPdus} PDUs, consumers ${s.consumers}`,
      );
      out.heading('this page');
      out.line(
        `  ${p.connected ? 'live' : 'offline'}${p.paused ? ', paused' : ''}: ${p.pdus} PDUs kept, ${p.received} received, ${p.rate}/s, ${p.dropped} dropped by back-pressure`,
      );
    },
  },
  {
    name: 'capture',
    usage: 'capture [pcapng|jsonl|open]',
    summary: 'download the trace ring (pcapng for Wireshark, JSON Lines), or open a capture file',
    args: ['pcapng', 'jsonl', 'open'],
    run(args, out, host) {
      const kind = args[0] ?? 'pcapng';
      if (kind === 'open') {
        host.openCapture();
        out.line('choose a pcapng, pcap or JSON Lines file: it replaces the live timeline (Back to live returns); then: replay');
        return;
      }
      if (kind !== 'pcapng' && kind !== 'jsonl') throw new UsageError('capture pcapng, capture jsonl or capture open');
      const url = `/api/capture.${kind}`;
      host.download(url);
      out.line(`downloading ${url}${kind === 'pcapng' ? ' (open it with wireshark or tshark -r)' : ''}`);
    },
  },
  {
    name: 'replay',
    usage: 'replay',
    summary: "re-issue the opened capture's SCSI commands against the lab target; list what differs",
    async run(_a, out, host) {
      const u = host.uploaded();
      if (!u) throw new UsageError('no capture opened yet: capture open (or the Capture tab), then replay');
      out.line(`replaying ${u.name} against the lab target…`);
      const r = await host.replay();
      for (const w of r.warnings) out.line(`  warning: ${w}`);
      for (const c of r.results) if (c.differences.length) out.error(`  command ${c.number} ${c.command}: ${c.differences.join('; ')}`);
      const summary = `replayed ${r.commands} commands, ${r.differences} differences${r.skipped ? `, ${r.skipped} skipped` : ''}`;
      if (r.differences) out.error(summary);
      else out.line(summary);
    },
  },
  {
    name: 'step',
    usage: 'step [last|TASK] | step read|write LBA [TEXT…] | step next|continue|status',
    summary: 'walk a traced I/O through the layers, or run one in step mode (held at each stage until next)',
    args: ['last', 'read', 'write', 'next', 'continue', 'status'],
    async run(args, out, host) {
      const sub = args[0];
      if (sub === 'read' || sub === 'write') {
        const { pos, lun } = options(args.slice(1));
        const lba = num(pos[0], 'LBA');
        const text = pos.slice(1).join(' ');
        if (sub === 'write' && !text) throw new UsageError('step write needs text: step write LBA TEXT…');
        const blocks = sub === 'write' ? Math.max(1, Math.ceil(new TextEncoder().encode(text).length / 512)) : 1;
        const req: IoRequest = sub === 'write' ? { lun, op: 'write', lba, blocks, data: { text } } : { lun, op: 'read', lba, blocks };
        out.line(`${sub.toUpperCase()} LBA ${lba} in step mode: held before it is sent — type step next (or press Next above)`);
        // The console stays usable meanwhile (step next must be typed here): the result prints when the I/O is done.
        void host.stepIo(req).then(
          (r) => {
            out.line(`step mode I/O done${r.stepped?.timedOut ? ' (a stage timed out)' : ''}:`);
            result(r, out);
          },
          (err: unknown) => out.error(`step: ${err instanceof Error ? err.message : String(err)}`),
        );
        return;
      }
      if (sub === 'next' || sub === 'continue' || sub === 'status') {
        const st = sub === 'status' ? await host.stepState() : await host.stepAction(sub);
        out.line(stepLine(st));
        return;
      }
      const which = sub === undefined || sub === 'last' ? 'last' : num(sub, 'TASK');
      const r = host.step(which);
      if (r.ok) out.line(r.text);
      else out.error(r.text);
    },
  },
  {
    name: 'fault',
    usage: 'fault [list] | fault add ACTION[:key=value,...] | fault del ID | fault clear',
    summary: 'fault rules of the target: add one (the text --fault takes, e.g. drop:pdu=R2T), list them, delete one or all',
    args: ['list', 'add', 'del', 'clear'],
    async run(args, out, host) {
      const sub = args[0] ?? 'list';
      if (sub === 'add') {
        const spec = args.slice(1).join(' ');
        if (!spec) throw new UsageError('fault add needs a rule, e.g. fault add drop:pdu=SCSI Response,count=1');
        let rule: FaultRuleInput;
        try {
          rule = parseFaultSpec(spec);
        } catch (err) {
          throw err instanceof FaultRuleError ? new UsageError(err.message) : err;
        }
        const id = await host.addFault(rule);
        out.line(`rule ${id}: ${describeFaultRule(rule)}`);
        return;
      }
      if (sub === 'del') {
        const id = parseNumber(args[1] ?? '');
        if (id === undefined) throw new UsageError('fault del needs a rule id (fault list shows them)');
        await host.deleteFaults(id);
        out.line(`rule ${id} deleted`);
        return;
      }
      if (sub === 'clear') {
        out.line(`${await host.deleteFaults()} rules deleted: the target runs clean`);
        return;
      }
      if (sub !== 'list') throw new UsageError(`fault ${sub}: expected list, add, del or clear`);
      const rules = await host.faults();
      if (!rules.length) {
        out.line('no fault rules (add one: fault add drop:pdu=SCSI Response,count=1)');
        return;
      }
      out.heading('fault rules');
      for (const r of rules) out.line(`  ${String(r.id).padStart(3)}  ${describeFaultRule(r)}`);
    },
  },
  { name: 'history', usage: 'history', summary: 'commands typed so far', run() {} },
  { name: 'clear', usage: 'clear', summary: 'clear the screen', run() {} },
];

function find(name: string): Command | undefined {
  return COMMANDS.find((c) => c.name === name.toLowerCase());
}

export const COMMAND_NAMES: readonly string[] = COMMANDS.map((c) => c.name);

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

/**
 * `help`'s list, fitted to `columns`: usage and summary side by side when both fit, else the usage on its own line
 * and the summary under it; every line is cut between words only (a word longer than a line stands alone).
 */
export function helpLines(columns: number): string[] {
  const cols = Math.max(20, Math.floor(columns) - 1); // xterm wraps a line that fills the last column
  const usageWidth = Math.max(...COMMANDS.map((c) => c.usage.length));
  const side = 2 + usageWidth + 2;
  const sideBySide = cols - side >= 30;
  const out: string[] = [];
  for (const c of COMMANDS) {
    if (sideBySide) {
      const body = wrapWords(c.summary, cols - side);
      out.push(`  ${c.usage.padEnd(usageWidth)}  ${body[0] ?? ''}`.trimEnd());
      for (const l of body.slice(1)) out.push(' '.repeat(side) + l);
    } else {
      for (const l of wrapWords(c.usage, cols - 2)) out.push(`  ${l}`);
      for (const l of wrapWords(c.summary, cols - 6)) out.push(`      ${l}`);
    }
  }
  out.push(...wrapWords('Keys: ↑/↓ history, Tab completes, Ctrl+C cancels the line, Ctrl+L clears.', cols));
  return out;
}
