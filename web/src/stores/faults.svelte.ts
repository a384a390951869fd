/**
 * The faults panel's state: the target's fault rules (GET/POST/DELETE /api/faults), and one-click scenarios that
 * set a rule, run real I/O through the lab's own initiator (POST /api/io), and log what happened: the fault as the
 * trace reported it, the initiator's recovery (timeout, ABORT TASK, new login, retry) and the outcome.
 */
import { parseFaultSpec, type FaultRuleInfo, type FaultRuleInput } from '../../../shared/api/faults.ts';
import { addFault, clearFaults, deleteFault, getFaults, postIo, type IoResult } from '../lib/api.ts';
import { lab } from './lab.svelte.ts';

export interface ScenarioStep {
  readonly kind: 'rule' | 'io' | 'fault' | 'recovery' | 'session' | 'result' | 'error';
  readonly text: string;
}

export interface Scenario {
  readonly id: string;
  readonly title: string;
  /** What a student should watch for. */
  readonly explain: string;
  run(ctx: ScenarioContext): Promise<void>;
}

interface ScenarioContext {
  rule(rule: FaultRuleInput): Promise<number>;
  io(label: string, req: Parameters<typeof postIo>[0]): Promise<IoResult>;
  log(kind: ScenarioStep['kind'], text: string): void;
}

/**
 * The LUN area the scenarios use, [8192, 16384) (4-8 MiB: any LUN of 8 MiB or more has it), away from LBA 0 where
 * lessons and the composer usually write. Each scenario has its own slice.
 */
const AREA = {
  lostDataOut: 8192,
  lostResponse: 10240,
  digest: 10248,
  killed: 10256,
  slow: 12304,
  medium: 14336,
} as const;
/** 1 MiB: more than FirstBurstLength, so the write needs Data-Out PDUs (a short one fits in immediate data). */
const BIG_WRITE_BLOCKS = 2048;
/** The lab initiator's command timeout in scenarios: short, so the recovery happens while you watch. */
const SCENARIO_TIMEOUT_MS = 2000;

async function writeAndVerify(ctx: ScenarioContext, lba: number, blocks: number, pattern: number): Promise<void> {
  const w = await ctx.io(`WRITE(16) LBA ${lba} x${blocks} (pattern 0x${pattern.toString(16)})`, {
    lun: 0,
    op: 'write',
    lba,
    blocks,
    data: { pattern },
    timeoutMs: SCENARIO_TIMEOUT_MS,
  });
  if (!w.ok) return;
  const r = await ctx.io(`READ(16) LBA ${lba} x${blocks} to verify`, { lun: 0, op: 'read', lba, blocks });
  const want = pattern.toString(16).padStart(2, '0');
  const good = r.ok && r.dataHex !== undefined && r.dataHex.length === blocks * 512 * 2 && r.dataHex === want.repeat(blocks * 512);
  ctx.log(
    good ? 'result' : 'error',
    good ? `write completed and verified: ${blocks * 512} bytes read back as 0x${want}` : 'read back does not match what was written',
  );
}

export const SCENARIOS: readonly Scenario[] = [
  {
    id: 'lost-data-out',
    title: 'Lost Data-Out',
    explain: 'The target drops one Data-Out it received: the write never gets all its data, the initiator times out, sends ABORT TASK and writes again.',
    async run(ctx) {
      await ctx.rule({ action: 'drop', match: { pdu: 'SCSI Data-Out', direction: 'in' }, count: 1 });
      await writeAndVerify(ctx, AREA.lostDataOut, BIG_WRITE_BLOCKS, 0xd0);
    },
  },
  {
    id: 'lost-response',
    title: 'Lost SCSI Response',
    explain: 'The target does the write but its SCSI Response never leaves: the initiator times out, aborts (the task no longer exists) and retries.',
    async run(ctx) {
      await ctx.rule({ action: 'drop', match: { pdu: 'SCSI Response', direction: 'out' }, count: 1 });
      await writeAndVerify(ctx, AREA.lostResponse, 8, 0x5e);
    },
  },
  {
    id: 'digest-error',
    title: 'Digest error',
    explain:
      'The next SCSI Command arrives with a bad header digest: at ErrorRecoveryLevel 0 the target drops the connection; the initiator logs in again and reissues the command.',
    async run(ctx) {
      await ctx.rule({ action: 'corrupt-header-digest', match: { pdu: 'SCSI Command', direction: 'in' }, count: 1 });
      await writeAndVerify(ctx, AREA.digest, 8, 0xd1);
    },
  },
  {
    id: 'killed-mid-write',
    title: 'Connection killed mid-write',
    explain: 'The first Data-Out of a 1 MiB write resets the TCP connection: the initiator reconnects, writes again, and the data reads back intact.',
    async run(ctx) {
      await ctx.rule({ action: 'kill-connection', match: { pdu: 'SCSI Data-Out' }, count: 1 });
      await writeAndVerify(ctx, AREA.killed, BIG_WRITE_BLOCKS, 0xcd);
    },
  },
  {
    id: 'slow-disk',
    title: 'Slow disk',
    explain: 'Every store access below the cache takes 250 ms longer: the first read is slow, the re-read comes from the cache and is fast again.',
    async run(ctx) {
      const id = await ctx.rule({ action: 'slow-store', match: { lun: 0 }, count: 0, delayMs: 250, expiresMs: 30_000 });
      // A different 32 KiB each time (of 32 places), so the first read is not already cached from the last run.
      const lba = AREA.slow + Math.floor(Math.random() * 32) * 64;
      const first = await ctx.io(`READ(16) LBA ${lba} x64 (not cached yet)`, { lun: 0, op: 'read', lba, blocks: 64, timeoutMs: 10_000 });
      const again = await ctx.io(`READ(16) LBA ${lba} x64 again`, { lun: 0, op: 'read', lba, blocks: 64, timeoutMs: 10_000 });
      await deleteFault(id);
      ctx.log('rule', `rule ${id} deleted`);
      ctx.log(
        'result',
        `first read ${first.durationMs.toFixed(0)} ms, re-read ${again.durationMs.toFixed(0)} ms${again.durationMs < first.durationMs / 2 ? ': the cache hid the slow disk' : ' (the LUN has no cache to hide it)'}`,
      );
    },
  },
  {
    id: 'medium-error',
    title: 'Medium error',
    explain: 'Eight blocks go bad: a read of them ends in CHECK CONDITION, MEDIUM ERROR, UNRECOVERED READ ERROR (03/11/00), which an application sees as EIO.',
    async run(ctx) {
      const lba = AREA.medium;
      const id = await ctx.rule({ action: 'store-error', match: { lun: 0, lbaFrom: lba, lbaTo: lba + 7 }, count: 0, expiresMs: 60_000 });
      const r = await ctx.io(`READ(16) LBA ${lba} x8`, { lun: 0, op: 'read', lba, blocks: 8 });
      await deleteFault(id);
      ctx.log('rule', `rule ${id} deleted`);
      ctx.log(r.ok ? 'error' : 'result', r.ok ? 'the read succeeded: no medium error seen' : `the application sees an I/O error (EIO): ${r.statusText}`);
    },
  },
];

export class Faults {
  rules = $state.raw<FaultRuleInfo[]>([]);
  error = $state<string | null>(null);
  busy = $state(false);
  /** The scenario running or last run, and its log. */
  scenario = $state<string | null>(null);
  steps = $state.raw<ScenarioStep[]>([]);

  async refresh(): Promise<void> {
    try {
      this.rules = (await getFaults()).faults;
      this.error = null;
    } catch (err) {
      this.error = err instanceof Error ? err.message : String(err);
    }
  }

  /** Adds a rule from its text form (`drop:pdu=R2T,count=1`); returns false with `error` set when it is refused. */
  async addSpec(spec: string): Promise<boolean> {
    try {
      await addFault(parseFaultSpec(spec));
      await this.refresh();
      return true;
    } catch (err) {
      this.error = err instanceof Error ? err.message : String(err);
      return false;
    }
  }

  async remove(id: number): Promise<void> {
    await this.guard(() => deleteFault(id));
  }

  async clear(): Promise<void> {
    await this.guard(() => clearFaults());
  }

  async run(s: Scenario): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    this.scenario = s.id;
    this.steps = [];
    const log = (kind: ScenarioStep['kind'], text: string): void => {
      this.steps = [...this.steps, { kind, text }];
    };
    const seenFaults = lab.faultEvents.length;
    const seenSessions = lab.sessionEvents.length;
    const ctx: ScenarioContext = {
      rule: async (rule) => {
        const { id } = await addFault(rule);
        log('rule', `rule ${id}: ${rule.action} ${JSON.stringify(rule.match)}`);
        return id;
      },
      io: async (label, req) => {
        log('io', label);
        const r = await postIo(req);
        for (const step of r.recovery ?? []) log('recovery', step);
        log(r.ok ? 'result' : 'error', `${label}: ${r.statusText} in ${r.durationMs.toFixed(0)} ms`);
        return r;
      },
      log,
    };
    try {
      await s.run(ctx);
    } catch (err) {
      log('error', err instanceof Error ? err.message : String(err));
    } finally {
      // The trace arrives over /ws a little after the API answers: give it a moment, then add what it saw.
      await new Promise((r) => setTimeout(r, 600));
      for (const f of lab.faultEvents.slice(seenFaults)) log('fault', `fault (rule ${f.ruleId}): ${f.detail}`);
      // A login after a connection closed is the initiator coming back: a reconnect.
      let closed = false;
      for (const e of lab.sessionEvents.slice(seenSessions)) {
        if (e.kind === 'closed') closed = true;
        if (e.kind === 'closed' || e.kind === 'login' || e.kind === 'reinstated') {
          log('session', `connection ${e.connectionId}: ${e.kind === 'login' ? (closed ? 'reconnect: logged in' : 'logged in') : e.kind} (${e.detail})`);
        }
      }
      await this.refresh();
      this.busy = false;
    }
  }

  private async guard(fn: () => Promise<unknown>): Promise<void> {
    try {
      await fn();
      await this.refresh();
    } catch (err) {
      this.error = err instanceof Error ? err.message : String(err);
    }
  }
}

export const faults = new Faults();
