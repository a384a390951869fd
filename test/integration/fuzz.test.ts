// `npm run fuzz` in short: 5000 mutated PDUs against the codecs and 5000 against the real target (before login and
// inside sessions), in 5 batches. No crash, no hang, no stack trace in the target's log, a fresh session logs in,
// INQUIRY and READ after every batch, SIGTERM still exits 0, and the target's memory does not climb batch by batch.
// The full run (`npm run fuzz`, 100k cases) prints the same figures.
import { describe, expect, it } from 'vitest';
import { runFuzz, summary } from '../../scripts/fuzz.ts';

describe('fuzzing (npm run fuzz -- --cases 5000)', () => {
  it('5000 live and 5000 codec cases: 0 crashes, 0 hangs, fresh sessions served after every batch, memory flat', async () => {
    const r = await runFuzz({ cases: 5000, seed: 20261125, batch: 1000, workers: 12 });
    const line = summary(r);
    expect(
      r.findings.map((f) => `${f.kind}: ${f.detail}\n${f.hex.slice(0, 600)}`),
      line,
    ).toEqual([]);
    expect(r.cases).toBe(5000);
    expect(r.codecPdus, 'mutations that still frame as PDUs reach the decoders').toBeGreaterThan(2000);
    expect(r.live.preLogin).toBeGreaterThan(500);
    expect(r.live.inSession).toBeGreaterThan(2500);
    expect(r.healthChecks).toBe(5);
    expect(r.cleanExit).toBe(true);
    // Flat: warm-up growth (JIT, heap sizing) happens in the first batch; later ones stay within noise of it.
    expect(Math.max(...r.rssByBatch.slice(1)) - r.rssByBatch[0]!, line).toBeLessThan(48);
  }, 120_000);

  it('with 10 random fault rules active (npm run fuzz -- --faults 10): 0 crashes, 0 internal errors, fresh sessions served', async () => {
    const r = await runFuzz({ cases: 2000, seed: 20261202, batch: 1000, workers: 6, faults: 10 });
    const line = summary(r);
    expect(r.faultRules).toHaveLength(10);
    expect(line).toContain('10 fault rules active');
    expect(
      r.findings.map((f) => `${f.kind}: ${f.detail}\n${f.hex.slice(0, 600)}`),
      line,
    ).toEqual([]);
    expect(r.healthChecks).toBe(2);
    expect(r.cleanExit).toBe(true);
  }, 120_000);
});
