import { afterEach, describe, expect, it, vi } from 'vitest';
import { Presentation, parseFollowState } from '../../server/gateway/follow.ts';

const view = { tab: 'console', selectedSeq: 3, stepTaskId: null, stepIndex: 0, name: 'T' };

function hub() {
  const sent: { to: string; m: unknown }[] = [];
  const broadcasts: unknown[] = [];
  const p = new Presentation<string>(
    (m) => broadcasts.push(m),
    (to, m) => sent.push({ to, m }),
    1000,
  );
  return { p, sent, broadcasts };
}

describe('follow mode presentation (hub side)', () => {
  afterEach(() => vi.useRealTimers());

  it('keeps presenting through a reload of the same page (same token) within the grace period', () => {
    vi.useFakeTimers();
    const { p, broadcasts } = hub();
    expect(p.present('a', view, 'tok')).toBeUndefined();
    p.left('a');
    vi.advanceTimersByTime(500);
    expect(broadcasts.at(-1)).toEqual({ type: 'presenter', state: parseFollowState(view) });
    expect(p.present('a2', { ...view, tab: 'cache' }, 'tok')).toBeUndefined();
    vi.advanceTimersByTime(5000);
    expect(broadcasts.some((b) => (b as { state: unknown }).state === null)).toBe(false);
  });

  it('ends the presentation when the presenter does not come back, or never gave a token', () => {
    vi.useFakeTimers();
    const { p, broadcasts } = hub();
    p.present('a', view, 'tok');
    p.left('a');
    vi.advanceTimersByTime(1001);
    expect(broadcasts.at(-1)).toEqual({ type: 'presenter', state: null });
    p.present('b', view);
    p.left('b');
    expect(broadcasts.at(-1)).toEqual({ type: 'presenter', state: null });
  });

  it('tells the old presenter it was taken over by another page', () => {
    const { p, sent } = hub();
    p.present('a', view, 'one');
    p.present('b', view, 'two');
    expect(sent).toEqual([{ to: 'a', m: { type: 'presenter', state: null, takenOver: true } }]);
  });

  it('checks the console and composer parts and caps them', () => {
    const long = 'x'.repeat(50_000);
    const s = parseFollowState({
      ...view,
      console: long,
      composer: {
        version: 1,
        op: 'read',
        lun: 0,
        lba: 4,
        blocks: 1,
        error: null,
        taskId: 9,
        result: { ok: true, status: 0, statusText: 'GOOD', bytes: 512, durationMs: 1.5, dataHex: 'ab'.repeat(10_000) },
      },
    });
    expect(s?.console?.length).toBe(12_000);
    expect(s?.composer?.result?.dataHex?.length).toBe(8_192);
    expect(
      parseFollowState({ ...view, composer: { version: 1, op: 'format', lun: 0, lba: 4, blocks: 1, error: null, taskId: null, result: null } }),
    ).toBeUndefined();
    expect(
      parseFollowState({
        ...view,
        composer: {
          version: 1,
          op: 'read',
          lun: 0,
          lba: 4,
          blocks: 1,
          error: null,
          taskId: null,
          result: { ok: true, status: 0, statusText: 'GOOD', bytes: 1, durationMs: 1, dataHex: '<script>' },
        },
      }),
    ).toBeUndefined();
    expect(parseFollowState({ ...view, console: 42 })).toBeUndefined();
  });
});
