import { describe, expect, it } from 'vitest';
import { StepBusyError, StepGate } from '../../server/taps/step-gate.ts';

const io = { initiatorName: 'iqn.2026-11.test:step', io: 'READ(16) LBA 8 ×1 on LUN 0', lun: 0, lba: 8, blocks: 1 };
const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 5));

describe('step gate', () => {
  it("is disarmed unless a stepped I/O runs, and holds only that initiator's task", async () => {
    const gate = new StepGate();
    expect(gate.armed).toBe(false);
    let resumed = 0;
    let commandDone!: () => void;
    const inFlight = new Promise<void>((r) => (commandDone = r));
    const done = gate.step(
      io,
      async (pause) => {
        await pause('initiator-send');
        await inFlight; // the command at the target
        return 'ok';
      },
      (r) => r,
    );
    expect(gate.armed).toBe(true);
    await tick();
    expect(gate.state().stage).toBe('initiator-send');
    expect(gate.next()).toBe(true);
    await tick();
    expect(gate.holdTask('iqn.2026-11.test:other', 0x10, 'target-received', () => resumed++)).toBe(false);
    expect(gate.holdTask(io.initiatorName, 0x10, 'target-received', () => resumed++)).toBe(true);
    expect(gate.state().stage).toBe('target-received');
    // Not executing yet: a store access of the same range is someone else's.
    expect(gate.beforeStore(0, 8, 1)).toBeUndefined();
    expect(resumed).toBe(0);
    gate.next();
    await tick();
    expect(resumed).toBe(1);
    // The task asks again after resuming: that stage has passed, it goes on.
    expect(gate.holdTask(io.initiatorName, 0x10, 'target-received', () => resumed++)).toBe(false);
    const store = gate.beforeStore(0, 8, 1);
    expect(store).toBeInstanceOf(Promise);
    gate.next();
    await store;
    commandDone();
    await expect(done).resolves.toBe('ok');
    expect(gate.armed).toBe(false);
    expect(gate.state()).toMatchObject({ active: false, done: true, result: 'ok', passed: ['initiator-send', 'target-received', 'store-access'] });
  });

  it('lets go after the timeout and holds nothing more of that I/O', async () => {
    const gate = new StepGate();
    const started = Date.now();
    const r = await gate.step(
      { ...io, timeoutMs: 50 },
      async (pause) => {
        await pause('initiator-send');
        await pause('initiator-receive');
        return 'GOOD';
      },
      (x) => x,
    );
    expect(r).toBe('GOOD');
    expect(Date.now() - started).toBeLessThan(1000);
    expect(gate.state()).toMatchObject({ timedOut: true, passed: ['initiator-send'] });
  });

  it('refuses a second stepped I/O, and Continue runs the rest unheld', async () => {
    const gate = new StepGate();
    const first = gate.step(
      io,
      async (pause) => {
        await pause('initiator-send');
        await pause('initiator-receive');
        return 1;
      },
      String,
    );
    await tick();
    await expect(gate.step(io, async () => 2, String)).rejects.toBeInstanceOf(StepBusyError);
    expect(gate.continue()).toBe(true);
    await expect(first).resolves.toBe(1);
    expect(gate.next()).toBe(false);
  });

  it('records the stages a continued I/O ran through unheld, so they show as run, not skipped', async () => {
    const gate = new StepGate();
    let finish!: () => void;
    const atTarget = new Promise<void>((r) => (finish = r));
    const run = gate.step(
      io,
      async (pause) => {
        await pause('initiator-send');
        await atTarget;
        await pause('initiator-receive');
        return 'GOOD';
      },
      (x) => x,
    );
    await tick();
    gate.continue();
    await tick();
    // The target side meets the freed I/O: nothing is held, every stage is recorded as run.
    expect(gate.holdTask(io.initiatorName, 0x21, 'target-received', () => {})).toBe(false);
    expect(gate.beforeStore(0, 8, 1)).toBeUndefined();
    expect(gate.beforeStore(0, 99, 1)).toBeUndefined(); // another range: not the stepped I/O's
    expect(gate.holdTask(io.initiatorName, 0x22, 'target-respond', () => {})).toBe(false); // another task
    expect(gate.holdTask(io.initiatorName, 0x21, 'target-respond', () => {})).toBe(false);
    finish();
    await expect(run).resolves.toBe('GOOD');
    expect(gate.state()).toMatchObject({ passed: ['initiator-send'], ranUnheld: ['target-received', 'store-access', 'target-respond', 'initiator-receive'] });
  });

  it('names the five steps of the read path, and "Write" for a write\'s third', async () => {
    const { STEP_STAGES, stepStageName } = await import('../../shared/trace/step.ts');
    expect(STEP_STAGES.map((s) => stepStageName(s.id, 'READ(16) LBA 8 ×1 on LUN 0'))).toEqual([
      'Command',
      'Cache scheduling',
      'Read',
      'Encapsulation',
      'Transmit',
    ]);
    expect(stepStageName('store-access', 'WRITE(16) LBA 8 ×1 on LUN 0')).toBe('Write');
  });
});
