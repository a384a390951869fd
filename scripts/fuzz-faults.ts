/**
 * `npm run fuzz -- --faults N`: N random fault rules (shared/api/faults.ts) given to the fuzzed target as `--fault`
 * flags, so mutated PDUs meet dropped, delayed, duplicated, reordered, corrupted PDUs, killed connections and
 * failing or slow stores at the same time. Every rule acts on each match with a small probability and never runs
 * out (count=0), so faults keep happening for the whole run; the same seed gives the same rules.
 */
import { CORRUPTIBLE_FIELDS, FAULT_ACTIONS, isStoreAction, parseFaultSpec } from '../shared/api/faults.ts';
import { ISCSI_OPCODE_NAMES } from '../shared/protocol/iscsi.ts';
import type { Rng } from './fuzz-mutate.ts';

/** Blocks of the fuzz target's 16 MiB LUNs. */
const LUN_BLOCKS = 32768;
/** Delays stay short: the fuzz workers and the health check have timeouts of their own. */
const MAX_DELAY_MS = 300;
/**
 * Each rule acts on at most this share of its matches, and every PDU rule names one PDU: a health check (about ten
 * PDUs) then meets a fault in a few tries out of ten at most, and its retries get through.
 */
const MAX_PROBABILITY = 0.08;

/** N rules as `--fault` values, each one checked by the same parser the CLI uses. */
export function randomFaultSpecs(n: number, rng: Rng): string[] {
  const pdus = Object.values(ISCSI_OPCODE_NAMES).filter((name) => !name.startsWith('Vendor'));
  const specs: string[] = [];
  for (let i = 0; i < n; i++) {
    const action = rng.pick(FAULT_ACTIONS);
    const kv: string[] = [];
    if (isStoreAction(action)) {
      kv.push(`lun=${rng.int(2)}`);
      if (action !== 'flush-error' && rng.int(2) === 0) {
        const from = rng.int(LUN_BLOCKS);
        kv.push(`lbaFrom=${from}`, `lbaTo=${from + rng.int(4096)}`);
      }
      if (action === 'slow-store') kv.push(`delayMs=${rng.int(MAX_DELAY_MS)}`);
    } else {
      kv.push(`pdu=${rng.pick(pdus)}`);
      if (rng.int(3) === 0) kv.push(`direction=${rng.pick(['in', 'out'])}`);
      if (action === 'delay') kv.push(`delayMs=${rng.int(MAX_DELAY_MS)}`);
      if (action === 'corrupt-field') kv.push(`field=${rng.pick(Object.keys(CORRUPTIBLE_FIELDS))}`);
      if (action === 'kill-connection') kv.push(`how=${rng.pick(['reset', 'fin'])}`);
    }
    kv.push('count=0', `probability=${(0.01 + rng.next() * (MAX_PROBABILITY - 0.01)).toFixed(3)}`);
    const spec = `${action}:${kv.join(',')}`;
    parseFaultSpec(spec);
    specs.push(spec);
  }
  return specs;
}
