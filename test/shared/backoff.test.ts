// Pacing of retries: exponential back-off with jitter, and the gate that keeps a FleetIQ step from
// running twice at once or before its back-off has passed.
import { describe, expect, it } from '@jest/globals';
import { StepGate, backoffDelay } from '../../shared/backoff.js';

const policy = { initialMs: 1000, maxMs: 60_000 };

describe('backoffDelay', () => {
  it('doubles from the initial delay up to the cap, jittered within [0.5, 1] of it', () => {
    expect([1, 2, 3, 4].map((n) => backoffDelay(n, policy, 1))).toEqual([1000, 2000, 4000, 8000]);
    expect(backoffDelay(1, policy, 0)).toBe(500);
    expect(backoffDelay(30, policy, 1)).toBe(60_000);
    expect(backoffDelay(1000, policy, 0.5)).toBe(45_000);
  });
});

describe('StepGate', () => {
  it('lets a step start once at a time, and not again before its back-off after a failure', () => {
    const gate = new StepGate(policy, () => 1);
    expect(gate.mayStart('register', 0)).toBe(true);
    gate.started('register');
    expect(gate.mayStart('register', 0)).toBe(false);
    expect(gate.mayStart('markUtilized', 0)).toBe(true);
    expect(gate.busy()).toBe(true);
    expect(gate.failed('register', 100)).toEqual({ failures: 1, retryAt: 1100 });
    expect(gate.mayStart('register', 1099)).toBe(false);
    expect(gate.retryAt('register')).toBe(1100);
    expect(gate.mayStart('register', 1100)).toBe(true);
    gate.started('register');
    expect(gate.failed('register', 2000)).toEqual({ failures: 2, retryAt: 4000 });
    gate.started('register');
    gate.succeeded('register');
    expect(gate.mayStart('register', 0)).toBe(true);
    expect(gate.retryAt('register')).toBeUndefined();
    expect(gate.busy()).toBe(false);
  });
});
