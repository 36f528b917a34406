// The reconcile loop on a fake clock: single flight, coalescing, and the pacing it alone owns (what a
// pass reports → again at once, after a back-off, or at the time asked for).
import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { ReconcileLoop, type PassResult } from '../../reconciler/work-loop.js';
import { silent } from './helpers.js';

const backoff = { initialMs: 100, maxMs: 1_000 };

/** A loop whose passes answer from a script (the last answer repeats), recording when each ran. */
function scripted(results: PassResult[], opts: { passMs?: number } = {}) {
  const at: number[] = [];
  let i = 0;
  const loop = new ReconcileLoop({
    pass: async () => {
      at.push(Date.now());
      const r = results[Math.min(i++, results.length - 1)];
      if (opts.passMs) await new Promise((resolve) => setTimeout(resolve, opts.passMs));
      return r;
    },
    logger: silent,
    backoff,
    now: () => Date.now(),
    // The upper end of the jitter: delays are exactly initialMs × 2^(n-1).
    random: () => 1,
  });
  return { loop, at };
}

const idle: PassResult = { outcome: 'idle' };

beforeEach(() => {
  jest.useFakeTimers({ now: 0, doNotFake: ['setImmediate'] });
});
afterEach(() => {
  jest.useRealTimers();
});

describe('ReconcileLoop', () => {
  it('coalesces triggers of one tick into one pass, and triggers during a pass into one more', async () => {
    const { loop, at } = scripted([idle], { passMs: 50 });
    loop.trigger();
    loop.trigger();
    loop.trigger();
    await jest.advanceTimersByTimeAsync(10);
    expect(at).toEqual([0]);
    loop.trigger();
    loop.trigger();
    await jest.advanceTimersByTimeAsync(1_000);
    expect(at).toEqual([0, 50]);
    await loop.stop(0);
  });

  it('passes again at once after acting, until a pass has nothing to do', async () => {
    const { loop, at } = scripted([{ outcome: 'acted' }, { outcome: 'acted' }, idle]);
    loop.trigger();
    await jest.advanceTimersByTimeAsync(10_000);
    expect(at).toEqual([0, 0, 0]);
    await loop.stop(0);
  });

  it('backs off after failures, doubling up to the maximum, and forgets them after a success', async () => {
    const failed: PassResult = { outcome: 'failed' };
    const { loop, at } = scripted([failed, failed, failed, failed, failed, idle, failed, idle]);
    loop.trigger();
    await jest.advanceTimersByTimeAsync(5_000);
    // 100, 200, 400, 800 then capped at 1,000; after the success, a new failure waits 100 again.
    expect(at.slice(0, 6)).toEqual([0, 100, 300, 700, 1_500, 2_500]);
    expect(loop.streaks()).toEqual({ failures: 0, conflicts: 0 });
    loop.trigger();
    await jest.advanceTimersByTimeAsync(5_000);
    expect(at.slice(6).map((t) => t - at[6])).toEqual([0, 100]);
    await loop.stop(0);
  });

  it('retries a conflict at once as many times as the pass says, then backs off', async () => {
    const conflict: PassResult = { outcome: 'conflict', immediateRetries: 3 };
    const { loop, at } = scripted([conflict, conflict, conflict, conflict, conflict, conflict, idle]);
    loop.trigger();
    await jest.advanceTimersByTimeAsync(5_000);
    // The first pass and three immediate retries at 0, then 100 and 200 of back-off.
    expect(at).toEqual([0, 0, 0, 0, 100, 300, 300 + 400]);
    await loop.stop(0);
  });

  it('keeps the failure and conflict streaks apart, and a waiting pass changes neither', async () => {
    const { loop } = scripted([
      { outcome: 'failed' },
      { outcome: 'conflict', immediateRetries: 0 },
      { outcome: 'waiting' },
    ]);
    loop.trigger();
    await jest.advanceTimersByTimeAsync(100);
    expect(loop.streaks()).toEqual({ failures: 1, conflicts: 1 });
    await jest.advanceTimersByTimeAsync(1_000);
    expect(loop.streaks()).toEqual({ failures: 1, conflicts: 1 });
    await loop.stop(0);
  });

  it('passes again when a pass asks to, keeping the sooner of two requests', async () => {
    const { loop, at } = scripted([
      { outcome: 'idle', requeueAfterMs: 5_000 },
      { outcome: 'idle', requeueAfterMs: 9_000 },
      idle,
    ]);
    loop.trigger();
    await jest.advanceTimersByTimeAsync(1);
    expect(loop.nextTimedPassAt()).toBe(5_000);
    loop.trigger(); // a watch event: the second pass asks for 9 s, the 5 s timer stays
    await jest.advanceTimersByTimeAsync(1);
    expect(loop.nextTimedPassAt()).toBe(5_000);
    await jest.advanceTimersByTimeAsync(4_997);
    expect(at).toEqual([0, 1]);
    await jest.advanceTimersByTimeAsync(2);
    expect(at).toEqual([0, 1, 5_000]);
    await jest.advanceTimersByTimeAsync(20_000);
    expect(at).toHaveLength(3);
    await loop.stop(0);
  });

  it('does not give up on a pass that throws: it is tried again a second later', async () => {
    let calls = 0;
    const loop = new ReconcileLoop({
      pass: async () => {
        calls++;
        if (calls === 1) throw new Error('bug');
        return idle;
      },
      logger: silent,
      backoff,
    });
    loop.trigger();
    await jest.advanceTimersByTimeAsync(999);
    expect(calls).toBe(1);
    await jest.advanceTimersByTimeAsync(2);
    expect(calls).toBe(2);
    await loop.stop(0);
  });

  it('stops: waits for the pass in flight at most the grace period, and runs no more', async () => {
    const { loop, at } = scripted([{ outcome: 'acted' }], { passMs: 5_000 });
    loop.trigger();
    await jest.advanceTimersByTimeAsync(1);
    const stopped = loop.stop(1_000);
    await jest.advanceTimersByTimeAsync(1_000);
    await expect(stopped).resolves.toBe(false);
    await jest.advanceTimersByTimeAsync(10_000);
    loop.trigger();
    await jest.advanceTimersByTimeAsync(10_000);
    expect(at).toEqual([0]);

    const second = scripted([idle], { passMs: 100 });
    second.loop.trigger();
    await jest.advanceTimersByTimeAsync(1);
    const done = second.loop.stop(1_000);
    await jest.advanceTimersByTimeAsync(100);
    await expect(done).resolves.toBe(true);
  });
});
