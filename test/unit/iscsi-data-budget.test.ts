// data-budget.ts on a fake clock: who is admitted past the budget, and who is cut (only under pressure, only
// without progress for STALL_MS).
import { describe, expect, it } from 'vitest';
import { DataBudget, SMALL_COMMAND_BYTES, STALL_MS, type BudgetHolder } from '../../server/iscsi/data-budget.ts';

const MiB = 1 << 20;

class FakeHolder implements BudgetHolder {
  heldBytes = 0;
  progress = 0;
  cutWhy: string | undefined;
  constructor(private readonly budget: DataBudget) {}
  progressBytes(): number {
    return this.progress;
  }
  cut(why: string): void {
    this.cutWhy = why;
    this.release(this.heldBytes);
  }
  hold(bytes: number): void {
    this.heldBytes += bytes;
    this.budget.charge(this, bytes);
  }
  release(bytes: number): void {
    this.heldBytes -= bytes;
    this.budget.release(this, bytes);
  }
}

describe('DataBudget', () => {
  it('admits up to the limit; past it only one small command on a connection that holds nothing', () => {
    const b = new DataBudget(64 * MiB);
    const a = new FakeHolder(b);
    expect(b.admit(32 * MiB, 0)).toBe(true);
    a.hold(32 * MiB);
    expect(b.admit(32 * MiB, a.heldBytes)).toBe(true);
    a.hold(32 * MiB);
    expect(b.admit(1, a.heldBytes)).toBe(false);
    expect(b.admit(SMALL_COMMAND_BYTES, 0)).toBe(true);
    expect(b.admit(SMALL_COMMAND_BYTES + 1, 0)).toBe(false);
    expect(b.refused).toBe(2);
    a.release(64 * MiB);
    expect(b.used).toBe(0);
    expect(b.holderCount).toBe(0);
  });

  it('under pressure cuts holders without progress for STALL_MS, and only those', () => {
    let now = 0;
    const logs: string[] = [];
    const b = new DataBudget(
      100 * MiB,
      (m) => logs.push(m),
      () => now,
    );
    const stuck = new FakeHolder(b);
    const reading = new FakeHolder(b);
    stuck.hold(50 * MiB);
    reading.hold(40 * MiB); // 90%: pressure
    for (let t = 0; t <= STALL_MS + 1000; t += 1000) {
      now = t;
      reading.progress += 4096;
      b.check();
    }
    expect(stuck.cutWhy).toMatch(/without progress/);
    expect(reading.cutWhy).toBeUndefined();
    expect(b.cuts).toBe(1);
    expect(logs).toHaveLength(1);
    expect(b.used).toBe(40 * MiB);
  });

  it('without pressure cuts nobody, however long a holder waits', () => {
    let now = 0;
    const b = new DataBudget(100 * MiB, undefined, () => now);
    const idle = new FakeHolder(b);
    idle.hold(10 * MiB);
    for (now = 0; now < 5 * STALL_MS; now += 1000) b.check();
    expect(idle.cutWhy).toBeUndefined();
  });
});
