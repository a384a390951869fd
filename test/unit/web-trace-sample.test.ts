import { describe, expect, it } from 'vitest';
import { BACK_AFTER, SAMPLE_ABOVE, SHOW_TARGET, Sampler } from '../../web/src/stores/trace-sample.ts';

/** One second of traffic: `tasks` SCSI tasks of `perTask` PDUs each, plus what the hub dropped. */
function second(s: Sampler, tasks: number, perTask: number, dropped = 0, firstTask = 0): { kept: Map<number, number> } {
  const kept = new Map<number, number>();
  let seq = firstTask * perTask;
  s.arrived(tasks * perTask, dropped);
  for (let t = firstTask; t < firstTask + tasks; t++) {
    for (let p = 0; p < perTask; p++) if (s.keep({ seq: seq++, type: 'pdu', taskId: t })) kept.set(t, (kept.get(t) ?? 0) + 1);
  }
  s.tick();
  return { kept };
}

describe('trace sampler (what a flooded page is sent)', () => {
  it('passes everything while the rate is low', () => {
    const s = new Sampler();
    const { kept } = second(s, 100, 4);
    expect(kept.size).toBe(100);
    expect(s.state).toMatchObject({ sampled: false, every: 1, arrivedPerSecond: 400, shownPerSecond: 400 });
  });

  it('samples whole tasks above the threshold, counting what the hub dropped, and says so', () => {
    const s = new Sampler();
    second(s, 500, 4, SAMPLE_ABOVE); // 2000 sent + 2000 dropped: over the threshold
    expect(s.state.sampled).toBe(true);
    expect(s.state.every).toBe(2 ** Math.ceil(Math.log2(2000 / SHOW_TARGET)));
    const { kept } = second(s, 500, 4, SAMPLE_ABOVE, 500);
    // whole tasks: every kept task has all four of its PDUs
    expect([...kept.values()].every((n) => n === 4)).toBe(true);
    expect(kept.size).toBeGreaterThan(0);
    expect(kept.size).toBeLessThan(500);
    expect(s.state.shownPerSecond).toBe(kept.size * 4);
  });

  it('goes back to every event once the rate stays low, not at the first quiet second', () => {
    const s = new Sampler();
    second(s, 1000, 4);
    expect(s.state.sampled).toBe(true);
    for (let i = 1; i < BACK_AFTER; i++) {
      second(s, 10, 4);
      expect(s.state.sampled).toBe(true);
    }
    second(s, 10, 4);
    expect(s.state).toMatchObject({ sampled: false, every: 1 });
  });

  it('always keeps drop reports', () => {
    const s = new Sampler();
    second(s, 1000, 4);
    expect(s.keep({ seq: 7, type: 'drop' })).toBe(true);
  });
});
