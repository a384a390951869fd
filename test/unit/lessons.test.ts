/**
 * Lessons as data: every lesson is well formed, and the check evaluator (web/src/lessons/checks.ts) passes a step
 * only on events after the step began. The follow-mode parser carries a lesson and refuses a malformed one.
 */
import { describe, expect, it } from 'vitest';
import { LESSONS, lessonById, lessonsResponse } from '../../shared/lessons/index.ts';
import { evaluate, type CheckContext } from '../../web/src/lessons/checks.ts';
import { parseFollowState } from '../../server/gateway/follow.ts';
import type { PduTraceEvent, StoreTraceEvent } from '../../shared/trace/schema.ts';

const LENGTHS = { bhs: 48, ahs: 0, headerDigest: 0, data: 0, padding: 0, dataDigest: 0, total: 48 };
const TCP = { src: '127.0.0.1', srcPort: 3260, dst: '127.0.0.1', dstPort: 40000 };

function pdu(seq: number, over: Partial<PduTraceEvent>): PduTraceEvent {
  return {
    type: 'pdu',
    seq,
    timeNs: seq * 1000,
    wallMs: 0,
    direction: 't2i',
    connectionId: 1,
    tsih: 1,
    tcp: TCP,
    opcode: 0x21,
    opcodeName: 'SCSI Response',
    immediate: false,
    lengths: LENGTHS,
    headerDigest: false,
    dataDigest: false,
    fields: {},
    rawLength: 48,
    ...over,
  };
}

function ctx(over: Partial<CheckContext>): CheckContext {
  return {
    pdus: [],
    storeEvents: [],
    taskScsi: () => undefined,
    sinceSeq: 0,
    tab: 'composer',
    selected: undefined,
    field: undefined,
    stepperStages: [],
    stepperIndex: 0,
    ...over,
  };
}

describe('lessons', () => {
  it('has at least six lessons with unique ids, each step with an instruction and a hint', () => {
    expect(LESSONS.length).toBeGreaterThanOrEqual(6);
    expect(new Set(LESSONS.map((l) => l.id)).size).toBe(LESSONS.length);
    for (const l of LESSONS) {
      expect(l.id).toMatch(/^[a-z0-9-]+$/);
      for (const s of l.steps) {
        expect(s.instruction.length, `${l.id}`).toBeGreaterThan(10);
        expect(s.hints.length, `${l.id}: ${s.instruction}`).toBeGreaterThan(0);
      }
    }
    expect(lessonById('start-here')?.title).toBe('Start here');
    expect(lessonsResponse().glossary.length).toBeGreaterThan(10);
  });

  it('passes an io check only on a GOOD READ of that LBA after the step began', () => {
    const check = { kind: 'io', op: 'read', lba: 100 } as const;
    const scsi = { opcode: 0x88, opcodeName: 'READ(16)', lba: 100, blocks: 1, status: 0, statusName: 'GOOD' };
    const done = pdu(10, { taskId: 5, scsi });
    expect(evaluate(check, ctx({ pdus: [done], sinceSeq: 9 }))).toBe(true);
    expect(evaluate(check, ctx({ pdus: [done], sinceSeq: 10 })), 'before the step').toBe(false);
    expect(evaluate(check, ctx({ pdus: [pdu(10, { taskId: 5, scsi: { ...scsi, lba: 101 } })] })), 'other LBA').toBe(false);
    expect(evaluate(check, ctx({ pdus: [pdu(10, { taskId: 5, scsi: { ...scsi, status: 2, statusName: 'CHECK CONDITION' } })] })), 'not GOOD').toBe(false);
    expect(evaluate(check, ctx({ pdus: [pdu(10, { taskId: 5, scsi: { ...scsi, opcodeName: 'READ CAPACITY(16)' } })] })), 'not a data read').toBe(false);
  });

  it("passes a cache check on the outcome the step names, and field/select checks on the student's view", () => {
    const store = (seq: number, outcome: 'hit' | 'miss'): StoreTraceEvent => ({
      type: 'store',
      seq,
      timeNs: 0,
      wallMs: 0,
      kind: 'read',
      lun: 0,
      lba: 8,
      blocks: 8,
      fua: false,
      durationNs: 1,
      cache: { policy: '2q', mode: 'write-back', ranges: [{ lba: 8, blocks: 8, outcome }], lookupMs: 0, storeReadMs: 0, storeWriteMs: 0, flushMs: 0 },
    });
    const hit = { kind: 'cache', op: 'read', outcomes: ['hit'] } as const;
    expect(evaluate(hit, ctx({ storeEvents: [store(3, 'miss')] }))).toBe(false);
    expect(evaluate(hit, ctx({ storeEvents: [store(3, 'miss'), store(4, 'hit')] }))).toBe(true);
    const r2t = pdu(7, { opcode: 0x31, opcodeName: 'R2T' });
    expect(evaluate({ kind: 'field', field: 'BufferOffset', opcodeName: 'R2T' }, ctx({ selected: r2t, field: 'BufferOffset' }))).toBe(true);
    expect(evaluate({ kind: 'field', field: 'BufferOffset', opcodeName: 'R2T' }, ctx({ selected: r2t, field: 'DataSN' }))).toBe(false);
    const login = pdu(2, {
      opcode: 0x23,
      opcodeName: 'Login Response',
      keys: [
        ['CHAP_A', '5'],
        ['CHAP_C', '0xab'],
      ],
    });
    expect(evaluate({ kind: 'select', opcodeName: 'Login Response', keys: ['CHAP_C'] }, ctx({ selected: login }))).toBe(true);
    expect(evaluate({ kind: 'select', opcodeName: 'Login Response', keys: ['CHAP_R'] }, ctx({ selected: login }))).toBe(false);
    expect(evaluate({ kind: 'stepper', stage: 'store' }, ctx({ stepperStages: ['app', 'cache', 'store', 'done'], stepperIndex: 1 }))).toBe(false);
    expect(evaluate({ kind: 'stepper', stage: 'store' }, ctx({ stepperStages: ['app', 'cache', 'store', 'done'], stepperIndex: 3 }))).toBe(true);
  });

  it("follow mode carries the presenter's lesson and refuses a malformed one", () => {
    const base = { tab: 'composer', selectedSeq: null, stepTaskId: null, stepIndex: 0 };
    expect(parseFollowState({ ...base, lesson: { id: 'cache', step: 2 } })?.lesson).toEqual({ id: 'cache', step: 2 });
    expect(parseFollowState(base)?.lesson).toBeNull();
    expect(parseFollowState({ ...base, lesson: { id: '<script>', step: 2 } })).toBeUndefined();
    expect(parseFollowState({ ...base, lesson: { id: 'cache', step: -1 } })).toBeUndefined();
  });
});
