import { describe, expect, it } from 'vitest';
import { FaultRuleError, describeFaultRule, parseFaultSpec, validateFaultRule } from '../../shared/api/faults.ts';
import { FaultEngine, MAX_FAULT_RULES, type PduFacts } from '../../server/faults/engine.ts';
import { FaultyStore } from '../../server/faults/faulty-store.ts';
import { StoreMediumError, type BlockStore } from '../../server/store/types.ts';

const facts = (over: Partial<PduFacts> = {}): PduFacts => ({
  direction: 'in',
  pduKey: 'dataout',
  tsih: 1,
  task: () => ({ lun: 0, opcode: 0x2a, lba: 100, blocks: 8 }),
  ...over,
});

describe('fault rule text and validation', () => {
  it('parses the --fault forms of the issue', () => {
    expect(parseFaultSpec('kill-connection:pdu=Data-Out,count=1')).toEqual({ action: 'kill-connection', match: { pdu: 'Data-Out' }, count: 1 });
    expect(parseFaultSpec('store-error:lun=0,lbaFrom=2048,lbaTo=2055')).toEqual({ action: 'store-error', match: { lun: 0, lbaFrom: 2048, lbaTo: 2055 } });
    expect(parseFaultSpec('delay:pdu=R2T,delayMs=250,probability=0.5,opcode=WRITE(10)')).toEqual({
      action: 'delay',
      match: { pdu: 'R2T', opcode: 'WRITE(10)' },
      delayMs: 250,
      probability: 0.5,
    });
    expect(parseFaultSpec('drop')).toEqual({ action: 'drop', match: {} });
    expect(parseFaultSpec('drop:pdu=Task Management Response').match.pdu).toBe('Task Management Response');
  });

  it('refuses what cannot work, saying why', () => {
    const bad: [string, RegExp][] = [
      ['nope', /unknown action "nope"/],
      ['drop:pdu', /use key=value/],
      ['drop:lun=x', /lun=x .* is not a number/],
      ['drop:pdu=Frobnicate', /unknown PDU/],
      ['delay:count=-1', /count must be a whole number from 0/],
      ['drop:delayMs=5', /delayMs applies to delay and slow-store/],
      ['corrupt-field:field=Flags', /field must be one of/],
      ['slow-store:session=1', /slow-store acts on the block store/],
      ['drop:color=red', /unknown match key "color"/],
    ];
    for (const [spec, reason] of bad) expect(() => parseFaultSpec(spec), spec).toThrow(reason);
    expect(() => validateFaultRule([])).toThrow(FaultRuleError);
    expect(() => validateFaultRule({ action: 'drop', extra: 1 })).toThrow(/unknown rule key "extra"/);
  });

  it('describes a rule in one line', () => {
    expect(describeFaultRule({ action: 'drop', match: { pdu: 'SCSI Response' }, count: 1, hits: 1 })).toBe('drop pdu=SCSI Response (hits 1 of 1)');
  });
});

describe('FaultEngine', () => {
  it('is inactive without rules and after its rules are spent', () => {
    const e = new FaultEngine();
    expect(e.active).toBe(false);
    const id = e.add({ action: 'drop', match: { pdu: 'SCSI Data-Out' } });
    expect(e.active).toBe(true);
    expect(e.matchPdu(facts())?.id).toBe(id);
    expect(e.active).toBe(false);
    expect(e.matchPdu(facts())).toBeUndefined();
    expect(e.list()).toEqual([{ id, action: 'drop', match: { pdu: 'SCSI Data-Out' }, count: 1, hits: 1 }]);
  });

  it('matches by PDU name (short or RFC spelling), direction, session, opcode and LBA range', () => {
    const e = new FaultEngine();
    e.add({ action: 'drop', match: { pdu: 'Data-Out', direction: 'in', session: 1, opcode: 'WRITE(10)', lbaFrom: 107, lbaTo: 200 }, count: 0 });
    expect(e.matchPdu(facts())).toBeDefined();
    expect(e.matchPdu(facts({ direction: 'out' }))).toBeUndefined();
    expect(e.matchPdu(facts({ tsih: 2 }))).toBeUndefined();
    expect(e.matchPdu(facts({ pduKey: 'datain' }))).toBeUndefined();
    expect(e.matchPdu(facts({ task: () => ({ lun: 0, opcode: 0x28, lba: 100, blocks: 8 }) }))).toBeUndefined();
    expect(e.matchPdu(facts({ task: () => ({ lun: 0, opcode: 0x2a, lba: 0, blocks: 107 }) }))).toBeUndefined();
    expect(e.matchPdu(facts({ task: () => undefined }))).toBeUndefined();
    expect(e.list()[0]!.hits).toBe(1);
    expect(e.active).toBe(true); // count 0: every match, until deleted
  });

  it('acts on a match only with its probability, and counts only the matches it acted on', () => {
    const rolls = [0.9, 0.1, 0.7, 0.2];
    const e = new FaultEngine(() => rolls.shift()!);
    e.add({ action: 'duplicate', match: {}, probability: 0.5, count: 0 });
    const fired = [0, 1, 2, 3].map(() => e.matchPdu(facts()) !== undefined);
    expect(fired).toEqual([false, true, false, true]);
    expect(e.list()[0]!.hits).toBe(2);
  });

  it('holds at most MAX_FAULT_RULES rules', () => {
    const e = new FaultEngine();
    for (let i = 0; i < MAX_FAULT_RULES; i++) e.add({ action: 'drop', match: {} });
    expect(() => e.add({ action: 'drop', match: {} })).toThrow(FaultRuleError);
    e.clear();
    expect(e.add({ action: 'drop', match: {} })).toBeGreaterThan(MAX_FAULT_RULES);
  });

  it('removes rules by id, on expiry, and all at once', async () => {
    const e = new FaultEngine();
    const a = e.add({ action: 'drop', match: {}, count: 0 });
    e.add({ action: 'drop', match: {}, count: 0, expiresMs: 20 });
    expect(e.remove(a)).toBe(true);
    expect(e.remove(a)).toBe(false);
    await new Promise((r) => setTimeout(r, 60));
    expect(e.list()).toEqual([]);
    expect(e.active).toBe(false);
  });
});

describe('FaultyStore', () => {
  const inner: BlockStore = {
    blockSize: 512,
    blockCount: 4096,
    thin: false,
    read: async (_lba, blocks) => new Uint8Array(blocks * 512).fill(7),
    write: async () => undefined,
    flush: async () => undefined,
    unmap: async () => undefined,
    mapping: async (_l, n) => ({ mapped: true, blocks: n }),
    close: async () => undefined,
  };

  it('fails reads and writes that touch the range with a medium error, and only those', async () => {
    const e = new FaultEngine();
    e.add({ action: 'store-error', match: { lun: 0, lbaFrom: 2048, lbaTo: 2055 }, count: 0 });
    const s = new FaultyStore(inner, 0, e, 'errors');
    await expect(s.read(2040, 8)).resolves.toHaveLength(4096);
    const err = await s.read(2050, 1).catch((x: unknown) => x);
    expect(err).toBeInstanceOf(StoreMediumError);
    expect((err as StoreMediumError).op).toBe('read');
    await expect(s.write(2055, new Uint8Array(512), false)).rejects.toMatchObject({ op: 'write', lba: 2055 });
    await expect(new FaultyStore(inner, 1, e, 'errors').read(2050, 1)).resolves.toBeDefined(); // other LUN
    await expect(new FaultyStore(inner, 0, e, 'latency').read(2050, 1)).resolves.toBeDefined(); // errors act above the cache only
    expect(e.list()[0]!.hits).toBe(2);
  });

  it('fails a flush with flush-error and slows accesses with slow-store', async () => {
    const e = new FaultEngine();
    e.add({ action: 'flush-error', match: {} });
    e.add({ action: 'slow-store', match: {}, delayMs: 30 });
    await expect(new FaultyStore(inner, 0, e, 'errors').flush()).rejects.toMatchObject({ op: 'flush' });
    const slow = new FaultyStore(inner, 0, e, 'latency');
    const t0 = performance.now();
    await slow.read(0, 1);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(25);
    expect(e.storeActive).toBe(false);
  });
});
