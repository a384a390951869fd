/**
 * The fault-rule engine: the set of rules with their hit counts, and matching. It is created once per target
 * (server/run-target.ts) and passed INTO the layers that can break things: each iSCSI connection's send and receive
 * path (pdu-path.ts) and each LUN's store (faulty-store.ts). Nothing imports an instance.
 *
 * Free when unused: the layers check `active` (PDU rules) or `storeActive` (store rules), one property read, before
 * anything else; both are false while no rule can still act.
 */
import {
  FaultRuleError,
  isStoreAction,
  opcodeNumber,
  pduKey,
  validateFaultRule,
  type FaultAction,
  type FaultRuleInfo,
  type FaultRuleInput,
  type StoreFaultAction,
} from '../../shared/api/faults.ts';
import { Tap } from '../taps/tap.ts';

/** A fault that was injected: what the trace records (server/trace/recorder.ts turns it into a 'fault' event). */
export interface FaultEvent {
  ruleId: number;
  action: FaultAction;
  /** One line for people: "SCSI Response ITT 0x12 dropped (never sent)". */
  detail: string;
  connectionId?: number;
  tsih?: number;
  itt?: number;
  lun?: number;
  lba?: number;
  blocks?: number;
  timeNs: bigint;
}

/** What a PDU rule is matched against; the task's fields are looked up only if a rule asks for them. */
export interface PduFacts {
  direction: 'in' | 'out';
  /** iSCSI opcode name (RFC 7143), already keyed with pduKey. */
  pduKey: string;
  tsih: number;
  task(): { lun: number; opcode: number; lba?: number; blocks?: number } | undefined;
}

interface Rule {
  readonly id: number;
  readonly input: FaultRuleInput;
  readonly count: number;
  hits: number;
  readonly pduKey: string | undefined;
  readonly opcode: number | undefined;
  readonly store: boolean;
  timer: NodeJS.Timeout | undefined;
}

type Random = () => number;

/** Rules at once: each PDU is checked against every live rule, so the set stays small. */
export const MAX_FAULT_RULES = 256;

export class FaultEngine {
  /** Every injected fault, for the trace. */
  readonly tap = new Tap<FaultEvent>('faults');
  /** True while a PDU rule can still act, or a connection holds a PDU back (reorder). */
  active = false;
  /** True while a store rule can still act. */
  storeActive = false;
  private rules: Rule[] = [];
  private nextId = 1;
  private held = 0;

  constructor(private readonly random: Random = Math.random) {}

  /** Adds a rule (validated again: callers may pass anything). Returns its id. */
  add(input: FaultRuleInput): number {
    const valid = validateFaultRule(input);
    if (this.rules.length >= MAX_FAULT_RULES) throw new FaultRuleError(`${MAX_FAULT_RULES} rules already: delete some first`);
    const rule: Rule = {
      id: this.nextId++,
      input: valid,
      count: valid.count ?? 1,
      hits: 0,
      pduKey: valid.match.pdu !== undefined ? pduKey(valid.match.pdu) : undefined,
      opcode: valid.match.opcode !== undefined ? opcodeNumber(valid.match.opcode) : undefined,
      store: isStoreAction(valid.action),
      timer: undefined,
    };
    if (valid.expiresMs !== undefined) {
      rule.timer = setTimeout(() => this.remove(rule.id), valid.expiresMs);
      rule.timer.unref();
    }
    this.rules.push(rule);
    this.update();
    return rule.id;
  }

  remove(id: number): boolean {
    const i = this.rules.findIndex((r) => r.id === id);
    if (i < 0) return false;
    clearTimeout(this.rules[i]!.timer);
    this.rules.splice(i, 1);
    this.update();
    return true;
  }

  clear(): void {
    for (const r of this.rules) clearTimeout(r.timer);
    this.rules = [];
    this.update();
  }

  list(): FaultRuleInfo[] {
    return this.rules.map((r) => ({ ...r.input, id: r.id, match: { ...r.input.match }, count: r.count, hits: r.hits }));
  }

  /** The first PDU rule that matches `facts` and fires (its hit counted), or undefined. */
  matchPdu(facts: PduFacts): FaultRuleInfo | undefined {
    for (const r of this.rules) {
      if (r.store || exhausted(r)) continue;
      const m = r.input.match;
      if (m.direction !== undefined && m.direction !== facts.direction) continue;
      if (r.pduKey !== undefined && r.pduKey !== facts.pduKey) continue;
      if (m.session !== undefined && m.session !== facts.tsih) continue;
      if (m.lun !== undefined || r.opcode !== undefined || m.lbaFrom !== undefined || m.lbaTo !== undefined) {
        const t = facts.task();
        if (!t) continue;
        if (m.lun !== undefined && m.lun !== t.lun) continue;
        if (r.opcode !== undefined && r.opcode !== t.opcode) continue;
        if (!overlaps(m.lbaFrom, m.lbaTo, t.lba, t.blocks)) continue;
      }
      if (this.fire(r)) return this.info(r);
    }
    return undefined;
  }

  /** The first store rule of `action` that covers this access and fires, or undefined. */
  matchStore(action: StoreFaultAction, lun: number, lba: number, blocks: number): FaultRuleInfo | undefined {
    for (const r of this.rules) {
      if (r.input.action !== action || exhausted(r)) continue;
      const m = r.input.match;
      if (m.lun !== undefined && m.lun !== lun) continue;
      if (action !== 'flush-error' && !overlaps(m.lbaFrom, m.lbaTo, lba, blocks)) continue;
      if (this.fire(r)) return this.info(r);
    }
    return undefined;
  }

  /** Records an injected fault on the tap (free when nobody listens). */
  report(event: Omit<FaultEvent, 'timeNs'>): void {
    if (this.tap.active) this.tap.emit({ ...event, timeNs: process.hrtime.bigint() });
  }

  /** A connection holds (true) or lets go of (false) a PDU: while any is held, `active` stays true. */
  hold(on: boolean): void {
    this.held += on ? 1 : -1;
    this.update();
  }

  private fire(r: Rule): boolean {
    const p = r.input.probability;
    if (p !== undefined && p < 1 && this.random() >= p) return false;
    r.hits++;
    if (exhausted(r)) this.update();
    return true;
  }

  private info(r: Rule): FaultRuleInfo {
    return { ...r.input, id: r.id, count: r.count, hits: r.hits };
  }

  private update(): void {
    this.active = this.held > 0 || this.rules.some((r) => !r.store && !exhausted(r));
    this.storeActive = this.rules.some((r) => r.store && !exhausted(r));
  }
}

function exhausted(r: Rule): boolean {
  return r.count !== 0 && r.hits >= r.count;
}

/** Does [lbaFrom, lbaTo] (either end open) overlap the access [lba, lba + blocks)? An access without an LBA does not. */
function overlaps(from: number | undefined, to: number | undefined, lba: number | undefined, blocks: number | undefined): boolean {
  if (from === undefined && to === undefined) return true;
  if (lba === undefined) return false;
  const last = lba + Math.max(1, blocks ?? 1) - 1;
  return (from === undefined || last >= from) && (to === undefined || lba <= to);
}
