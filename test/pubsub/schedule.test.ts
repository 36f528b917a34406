import { describe, expect, it } from '@jest/globals';
import {
  pollRetryDelay,
  backoffPolicy,
  groupPhases,
  initialDueTimes,
  nextDueAt,
} from '../../pubsub/schedule.js';

describe('groupPhases', () => {
  it('spreads groups evenly over the interval, each in its own slot', () => {
    expect([...groupPhases(['a', 'b', 'c', 'd'], 10_000)]).toEqual([
      ['a', 0],
      ['b', 2500],
      ['c', 5000],
      ['d', 7500],
    ]);
    expect([...groupPhases(['only'], 10_000)]).toEqual([['only', 0]]);
    expect(groupPhases([], 10_000).size).toBe(0);
    const phases = [
      ...groupPhases(
        Array.from({ length: 7 }, (_, i) => `g${i}`),
        10_000,
      ).values(),
    ];
    expect(new Set(phases).size).toBe(7);
    expect(Math.max(...phases)).toBeLessThan(10_000);
  });

  it('starts the first group at once and the others at their phase', () => {
    expect([...initialDueTimes(['a', 'b'], 10_000, 1_000_000)]).toEqual([
      ['a', 1_000_000],
      ['b', 1_005_000],
    ]);
  });
});

describe('backoff', () => {
  const policy = backoffPolicy(10_000);

  it('doubles from one interval up to six, with equal jitter', () => {
    expect(policy.maxBackoffMs).toBe(60_000);
    expect(pollRetryDelay(0, policy, 0.5)).toBe(10_000);
    // failures=1: base 20 s → between 10 s and 20 s.
    expect(pollRetryDelay(1, policy, 0)).toBe(10_000);
    expect(pollRetryDelay(1, policy, 0.999)).toBeCloseTo(20_000, -2);
    expect(pollRetryDelay(2, policy, 0)).toBe(20_000);
    expect(pollRetryDelay(3, policy, 0)).toBe(30_000); // 80 s capped at 60 s, halved
    expect(pollRetryDelay(50, policy, 0.999)).toBeLessThanOrEqual(60_000);
    expect(pollRetryDelay(50, policy, 0)).toBe(30_000);
  });

  it('keeps each failure at least half an interval away, so a failing group never spins', () => {
    for (let f = 1; f < 40; f++) {
      for (const r of [0, 0.3, 0.999])
        expect(pollRetryDelay(f, backoffPolicy(200), r)).toBeGreaterThanOrEqual(100);
    }
  });
});

describe('nextDueAt', () => {
  const policy = backoffPolicy(10_000);

  it('keeps the slot after a success', () => {
    expect(
      nextDueAt({
        previousDueAt: 100_000,
        finishedAt: 100_400,
        outcome: 'ok',
        failures: 0,
        policy,
        random: 0,
      }),
    ).toBe(110_000);
  });

  it('skips to the next slot of its phase after an overrun, never into the past', () => {
    expect(
      nextDueAt({
        previousDueAt: 100_000,
        finishedAt: 125_000,
        outcome: 'ok',
        failures: 0,
        policy,
        random: 0,
      }),
    ).toBe(130_000);
    expect(
      nextDueAt({
        previousDueAt: 100_000,
        finishedAt: 110_000,
        outcome: 'ok',
        failures: 0,
        policy,
        random: 0,
      }),
    ).toBe(120_000);
  });

  it('backs off from the end of a failed or throttled poll', () => {
    for (const outcome of ['error', 'throttled'] as const) {
      expect(
        nextDueAt({ previousDueAt: 100_000, finishedAt: 101_000, outcome, failures: 2, policy, random: 0 }),
      ).toBe(101_000 + 20_000);
    }
  });
});
