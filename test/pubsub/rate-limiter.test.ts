import { describe, expect, it } from '@jest/globals';
import { TokenBucket } from '../../pubsub/rate-limiter.js';

describe('TokenBucket', () => {
  it('allows a burst, then exactly the configured rate, serving callers in order', () => {
    let now = 0;
    const bucket = new TokenBucket(10, 3, () => now);
    expect([bucket.reserve(), bucket.reserve(), bucket.reserve()]).toEqual([0, 0, 0]);
    // Tokens 4..6 are promised 100 ms apart.
    expect([bucket.reserve(), bucket.reserve(), bucket.reserve()]).toEqual([100, 200, 300]);
    now = 300;
    expect(bucket.reserve()).toBe(100);
  });

  it('never exceeds the rate over any window, whatever the callers do', () => {
    let now = 0;
    const bucket = new TokenBucket(5, 5, () => now);
    const grants: number[] = [];
    for (let t = 0; t < 10_000; t += 7) {
      now = t;
      grants.push(t + bucket.reserve());
    }
    grants.sort((a, b) => a - b);
    for (let i = 0; i < grants.length; i++) {
      const inWindow = grants.filter((g) => g >= grants[i]! && g < grants[i]! + 1000).length;
      expect(inWindow).toBeLessThanOrEqual(5 + 5); // burst + one second of rate
    }
    // Long-run average at the rate: 10 s of calls → ~ 5 (burst) + 50.
    expect(grants.filter((g) => g < 10_000).length).toBeLessThanOrEqual(56);
  });

  it('after a throttle: no burst, half the rate; successes recover it up to the configured rate', () => {
    const bucket = new TokenBucket(10, 10, () => 0);
    expect(bucket.available()).toBe(10);
    bucket.throttled();
    expect(bucket.rate()).toBe(5);
    expect(bucket.reserve()).toBe(200);
    bucket.throttled();
    expect(bucket.rate()).toBe(2.5);
    for (let i = 0; i < 5; i++) bucket.succeeded();
    expect(bucket.rate()).toBeCloseTo(2.5 * 1.05 ** 5, 6);
    for (let i = 0; i < 100; i++) bucket.succeeded();
    expect(bucket.rate()).toBe(10);
  });

  it('never adapts below 1 % of the configured rate, nor below one call per 10 s', () => {
    const fast = new TokenBucket(100, 100, () => 0);
    for (let i = 0; i < 50; i++) fast.throttled();
    expect(fast.rate()).toBeCloseTo(1, 6);
    const slow = new TokenBucket(2, 2, () => 0);
    for (let i = 0; i < 50; i++) slow.throttled();
    expect(slow.rate()).toBeCloseTo(0.1, 6);
  });

  it('takes a new rate and burst at once', () => {
    let now = 0;
    const bucket = new TokenBucket(10, 10, () => now);
    bucket.throttled();
    bucket.setRate(1, 2);
    expect(bucket.rate()).toBe(1);
    expect(bucket.available()).toBe(0); // the throttle's drain still holds
    now = 2000;
    expect(bucket.available()).toBe(2);
    bucket.reserve();
    bucket.reserve();
    expect(bucket.reserve()).toBe(1000);
    expect(() => bucket.setRate(0)).toThrow(/positive/);
    expect(() => new TokenBucket(-1)).toThrow(/positive/);
  });

  it('waits for a token, and an aborted wait gives it back', async () => {
    const bucket = new TokenBucket(20, 1);
    await bucket.take();
    const start = Date.now();
    await bucket.take();
    expect(Date.now() - start).toBeGreaterThanOrEqual(40);
    const controller = new AbortController();
    const waiting = bucket.take(controller.signal);
    controller.abort(new Error('stop'));
    await expect(waiting).rejects.toThrow('stop');
    expect(bucket.available()).toBeGreaterThan(-1);
  });
});
