/**
 * Fault rules: the one contract for POST/GET/DELETE /api/faults, `--fault ACTION[:key=value,...]` on the command
 * line, the console's `fault` command and the UI's faults panel. Validation lives here so the CLI, the gateway and
 * the browser refuse the same rules with the same reasons.
 *
 * A rule says what to break (`action`), where (`match`), and how often (`count` matches, 0 = every match until the
 * rule is deleted; `probability` of acting on a match). PDU actions act on PDUs crossing the target's connections;
 * store actions act on a LUN's block store.
 */
import { ISCSI_OPCODE_NAMES } from '../protocol/iscsi.ts';
import { SCSI_OPCODES } from '../protocol/scsi-opcodes.ts';

export const PDU_FAULT_ACTIONS = [
  'drop',
  'delay',
  'duplicate',
  'reorder',
  'corrupt-header-digest',
  'corrupt-data-digest',
  'corrupt-field',
  'kill-connection',
] as const;
export const STORE_FAULT_ACTIONS = ['store-error', 'slow-store', 'flush-error'] as const;
export const FAULT_ACTIONS = [...PDU_FAULT_ACTIONS, ...STORE_FAULT_ACTIONS] as const;

export type PduFaultAction = (typeof PDU_FAULT_ACTIONS)[number];
export type StoreFaultAction = (typeof STORE_FAULT_ACTIONS)[number];
export type FaultAction = (typeof FAULT_ACTIONS)[number];

/** BHS fields `corrupt-field` can change, with their byte offset (RFC 7143 11.x: same place in every PDU that has them). */
export const CORRUPTIBLE_FIELDS: Readonly<Record<string, number>> = {
  InitiatorTaskTag: 16,
  StatSN: 24,
  ExpCmdSN: 28,
  MaxCmdSN: 32,
  DataSN: 36,
  BufferOffset: 40,
};

export interface FaultMatch {
  /** iSCSI PDU name, RFC 7143 spelling or short: "SCSI Data-Out" or "Data-Out", "SCSI Response", "R2T", "NOP-In". */
  pdu?: string;
  /** SCSI opcode of the task: a T10 name ("WRITE(10)") or a number. */
  opcode?: string | number;
  lun?: number;
  lbaFrom?: number;
  lbaTo?: number;
  /** TSIH of the session. */
  session?: number;
  /** Which way the PDU travels: "in" (initiator to target) or "out". */
  direction?: 'in' | 'out';
}

/** What a client sends to create a rule (POST /api/faults body). */
export interface FaultRuleInput {
  action: FaultAction;
  match: FaultMatch;
  /** Matches to act on before the rule stops acting (default 1); 0 = every match. */
  count?: number;
  /** Chance of acting on each match, (0, 1] (default 1). */
  probability?: number;
  /** delay: how long the PDU is held; slow-store: added to each store access (ms). */
  delayMs?: number;
  /** corrupt-field: which BHS field (default DataSN on data PDUs, StatSN on others). */
  field?: string;
  /** kill-connection: TCP reset (default) or an orderly FIN. */
  how?: 'reset' | 'fin';
  /** The rule removes itself after this many ms. */
  expiresMs?: number;
}

/** A rule as GET /api/faults lists it. */
export interface FaultRuleInfo extends FaultRuleInput {
  id: number;
  count: number;
  hits: number;
}

export interface FaultList {
  faults: FaultRuleInfo[];
}

/** A rule that cannot be accepted: the message says which part and why. */
export class FaultRuleError extends Error {}

const MATCH_KEYS = ['pdu', 'opcode', 'lun', 'lbaFrom', 'lbaTo', 'session', 'direction'] as const;
const RULE_KEYS = ['action', 'match', 'count', 'probability', 'delayMs', 'field', 'how', 'expiresMs'];
/** A delay past this would outlive every initiator's timeout: it is a hang, not a delay. */
export const MAX_FAULT_DELAY_MS = 120_000;
const MAX_COUNT = 1_000_000;

/** "SCSI Data-Out", "Data-Out", "dataout" all name the same PDU; "Task Management Request" is short for the RFC's "SCSI Task Management Function Request". */
export function pduKey(name: string): string {
  return name
    .toLowerCase()
    .replace(/[^a-z0-9]/g, '')
    .replace(/^scsi(?=.)/, '')
    .replace(/^taskmanagementfunction/, 'taskmanagement');
}

const PDU_KEYS = new Set(Object.values(ISCSI_OPCODE_NAMES).map(pduKey));
const OPCODE_NAMES = new Map(SCSI_OPCODES.map((o) => [o.name.toUpperCase(), o.opcode]));

/** The SCSI opcode number a rule's `opcode` names. */
export function opcodeNumber(opcode: string | number): number {
  if (typeof opcode === 'number') return opcode;
  const byName = OPCODE_NAMES.get(opcode.trim().toUpperCase());
  if (byName !== undefined) return byName;
  if (/^(0x)?[0-9a-f]{1,2}$/i.test(opcode.trim())) return parseInt(opcode.trim().replace(/^0x/i, ''), 16);
  throw new FaultRuleError(`unknown SCSI opcode ${JSON.stringify(opcode)}: use a T10 name such as "WRITE(10)" or a hex number`);
}

export function isStoreAction(a: FaultAction): a is StoreFaultAction {
  return (STORE_FAULT_ACTIONS as readonly string[]).includes(a);
}

function int(v: unknown, what: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    throw new FaultRuleError(`${what} must be a whole number from ${min} to ${max}, got ${JSON.stringify(v)}`);
  return v;
}

/** Checks an untrusted rule (JSON body or parsed flag) and returns it typed, or throws FaultRuleError with the reason. */
export function validateFaultRule(body: unknown): FaultRuleInput {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new FaultRuleError('a fault rule is a JSON object {action, match, ...}');
  const b = body as Record<string, unknown>;
  for (const k of Object.keys(b)) if (!RULE_KEYS.includes(k)) throw new FaultRuleError(`unknown rule key ${JSON.stringify(k)}: use ${RULE_KEYS.join(', ')}`);
  const action = b.action;
  if (typeof action !== 'string' || !(FAULT_ACTIONS as readonly string[]).includes(action)) {
    throw new FaultRuleError(`unknown action ${JSON.stringify(action)}: use one of ${FAULT_ACTIONS.join(', ')}`);
  }
  const rule: FaultRuleInput = { action: action as FaultAction, match: validateMatch(b.match ?? {}, action as FaultAction) };
  if (b.count !== undefined) rule.count = int(b.count, 'count', 0, MAX_COUNT);
  if (b.probability !== undefined) {
    const p = b.probability;
    if (typeof p !== 'number' || !(p > 0 && p <= 1)) throw new FaultRuleError(`probability must be a number in (0, 1], got ${JSON.stringify(p)}`);
    rule.probability = p;
  }
  if (b.delayMs !== undefined) {
    if (action !== 'delay' && action !== 'slow-store') throw new FaultRuleError(`delayMs applies to delay and slow-store, not ${action}`);
    rule.delayMs = int(b.delayMs, 'delayMs', 0, MAX_FAULT_DELAY_MS);
  }
  if (b.field !== undefined) {
    if (action !== 'corrupt-field') throw new FaultRuleError(`field applies to corrupt-field, not ${action}`);
    if (typeof b.field !== 'string' || CORRUPTIBLE_FIELDS[b.field] === undefined) {
      throw new FaultRuleError(`field must be one of ${Object.keys(CORRUPTIBLE_FIELDS).join(', ')}, got ${JSON.stringify(b.field)}`);
    }
    rule.field = b.field;
  }
  if (b.how !== undefined) {
    if (action !== 'kill-connection') throw new FaultRuleError(`how applies to kill-connection, not ${action}`);
    if (b.how !== 'reset' && b.how !== 'fin') throw new FaultRuleError(`how must be "reset" or "fin", got ${JSON.stringify(b.how)}`);
    rule.how = b.how;
  }
  if (b.expiresMs !== undefined) rule.expiresMs = int(b.expiresMs, 'expiresMs', 1, 24 * 3600 * 1000);
  return rule;
}

function validateMatch(m: unknown, action: FaultAction): FaultMatch {
  if (typeof m !== 'object' || m === null || Array.isArray(m)) throw new FaultRuleError('match must be an object such as {"pdu": "SCSI Data-Out"}');
  const src = m as Record<string, unknown>;
  const out: FaultMatch = {};
  for (const k of Object.keys(src)) {
    if (!(MATCH_KEYS as readonly string[]).includes(k)) throw new FaultRuleError(`unknown match key ${JSON.stringify(k)}: use ${MATCH_KEYS.join(', ')}`);
  }
  if (src.pdu !== undefined) {
    if (typeof src.pdu !== 'string' || !PDU_KEYS.has(pduKey(src.pdu))) {
      throw new FaultRuleError(`unknown PDU ${JSON.stringify(src.pdu)}: use an RFC 7143 name such as "SCSI Data-Out", "R2T", "SCSI Response", "NOP-In"`);
    }
    out.pdu = src.pdu;
  }
  if (src.opcode !== undefined) {
    if (typeof src.opcode !== 'string' && typeof src.opcode !== 'number') throw new FaultRuleError('match.opcode must be a T10 name or a number');
    out.opcode = typeof src.opcode === 'number' ? int(src.opcode, 'match.opcode', 0, 255) : src.opcode;
    opcodeNumber(out.opcode);
  }
  if (src.lun !== undefined) out.lun = int(src.lun, 'match.lun', 0, 0xffff);
  if (src.lbaFrom !== undefined) out.lbaFrom = int(src.lbaFrom, 'match.lbaFrom', 0, Number.MAX_SAFE_INTEGER);
  if (src.lbaTo !== undefined) out.lbaTo = int(src.lbaTo, 'match.lbaTo', 0, Number.MAX_SAFE_INTEGER);
  if (out.lbaFrom !== undefined && out.lbaTo !== undefined && out.lbaFrom > out.lbaTo)
    throw new FaultRuleError(`match.lbaFrom ${out.lbaFrom} is past match.lbaTo ${out.lbaTo}`);
  if (src.session !== undefined) out.session = int(src.session, 'match.session (a TSIH)', 1, 0xffff);
  if (src.direction !== undefined) {
    if (src.direction !== 'in' && src.direction !== 'out')
      throw new FaultRuleError(`match.direction must be "in" or "out", got ${JSON.stringify(src.direction)}`);
    out.direction = src.direction;
  }
  if (isStoreAction(action)) {
    // The store sees LBAs, never PDUs or sessions: a rule naming them could never match.
    for (const k of ['pdu', 'opcode', 'session', 'direction'] as const) {
      if (out[k] !== undefined) throw new FaultRuleError(`${action} acts on the block store, which knows LUN and LBAs only: drop match.${k}`);
    }
  }
  return out;
}

/** Keys of `--fault ACTION:key=value,...` that are numbers, the rest are text. */
const NUMERIC_KEYS = new Set(['lun', 'lbaFrom', 'lbaTo', 'session', 'count', 'probability', 'delayMs', 'expiresMs']);
const TOP_LEVEL_KEYS = new Set(['count', 'probability', 'delayMs', 'field', 'how', 'expiresMs']);

/**
 * Parses the text form `ACTION[:key=value,...]` (e.g. `kill-connection:pdu=Data-Out,count=1`,
 * `store-error:lun=0,lbaFrom=2048,lbaTo=2055`): match keys and rule keys side by side. Opcode names with commas
 * do not occur (T10 names use parentheses), so a comma always separates keys.
 */
export function parseFaultSpec(text: string): FaultRuleInput {
  const colon = text.indexOf(':');
  const action = (colon < 0 ? text : text.slice(0, colon)).trim();
  const body: Record<string, unknown> = { action };
  const match: Record<string, unknown> = {};
  if (colon >= 0 && text.slice(colon + 1).trim() !== '') {
    for (const part of text.slice(colon + 1).split(',')) {
      const eq = part.indexOf('=');
      if (eq <= 0) throw new FaultRuleError(`bad fault option ${JSON.stringify(part)} in ${JSON.stringify(text)}: use key=value`);
      const key = part.slice(0, eq).trim();
      const raw = part.slice(eq + 1).trim();
      let value: unknown = raw;
      if (NUMERIC_KEYS.has(key)) {
        value = /^0x[0-9a-f]+$/i.test(raw) ? parseInt(raw, 16) : Number(raw);
        if (raw === '' || Number.isNaN(value)) throw new FaultRuleError(`${key}=${raw} in ${JSON.stringify(text)} is not a number`);
      }
      if (TOP_LEVEL_KEYS.has(key)) body[key] = value;
      else match[key] = value;
    }
  }
  body.match = match;
  return validateFaultRule(body);
}

/** One line describing a rule: "kill-connection pdu=Data-Out (hits 1 of 1)". */
export function describeFaultRule(r: FaultRuleInput & { hits?: number }): string {
  const parts = Object.entries(r.match).map(([k, v]) => `${k}=${String(v)}`);
  if (r.delayMs !== undefined) parts.push(`delayMs=${r.delayMs}`);
  if (r.field !== undefined) parts.push(`field=${r.field}`);
  if (r.how !== undefined) parts.push(`how=${r.how}`);
  if (r.probability !== undefined) parts.push(`probability=${r.probability}`);
  const count = r.count ?? 1;
  const hits = r.hits !== undefined ? ` (hits ${r.hits} of ${count === 0 ? 'unlimited' : count})` : '';
  return `${r.action}${parts.length ? ' ' + parts.join(' ') : ''}${hits}`;
}

/** POST /api/faults answer (201). */
export interface FaultCreated {
  id: number;
}

/** DELETE /api/faults/ID answer (the rule's id) and DELETE /api/faults answer (how many rules went). */
export interface FaultsDeleted {
  deleted: number;
}
