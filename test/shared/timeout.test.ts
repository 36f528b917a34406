// The one set of time and concurrency bounds.
import { describe, expect, it } from '@jest/globals';
import { mapLimit, settledWithin, sleep, TimeoutError, withTimeout } from '../../shared/timeout.js';

const never = new Promise<never>(() => {});

describe('timeouts', () => {
  it('withTimeout: the outcome in time, else a TimeoutError naming the call', async () => {
    await expect(withTimeout(Promise.resolve(7), 1000, 'get lease')).resolves.toBe(7);
    await expect(withTimeout(Promise.reject(new Error('403')), 1000, 'get lease')).rejects.toThrow('403');
    const late = withTimeout(never, 10, 'get lease');
    await expect(late).rejects.toBeInstanceOf(TimeoutError);
    await expect(late).rejects.toThrow('get lease: no answer within 10 ms');
  });

  it('settledWithin: true when settled (even rejected) in time, false otherwise; never rejects', async () => {
    expect(await settledWithin(Promise.resolve(), 1000)).toBe(true);
    expect(await settledWithin(Promise.reject(new Error('x')), 1000)).toBe(true);
    expect(await settledWithin(never, 10)).toBe(false);
    expect(await settledWithin(sleep(1), 1000)).toBe(true);
  });

  it('mapLimit: every item, never more than the limit at once, the first failure rejects', async () => {
    let inFlight = 0;
    let peak = 0;
    const done: number[] = [];
    await mapLimit([1, 2, 3, 4, 5, 6, 7], 3, async (n) => {
      peak = Math.max(peak, ++inFlight);
      await sleep(2);
      done.push(n);
      inFlight--;
    });
    expect(done.sort()).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(peak).toBe(3);
    await expect(
      mapLimit([1, 2], 2, async (n) => {
        if (n === 2) throw new Error('two');
      }),
    ).rejects.toThrow('two');
    await mapLimit([], 4, async () => {
      throw new Error('never called');
    });
  });
});
