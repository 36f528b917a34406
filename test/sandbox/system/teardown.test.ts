import { describe, expect, it } from '@jest/globals';
import { Teardown, describeFailures, type TeardownFailure } from '../../../sandbox/system/teardown.js';

describe('Teardown', () => {
  it('runs the steps last registered first', async () => {
    const ran: string[] = [];
    const t = new Teardown();
    for (const name of ['control plane', 'redis', 'cluster', 'components'])
      t.defer(name, () => void ran.push(name));
    expect(t.pending()).toEqual(['components', 'cluster', 'redis', 'control plane']);
    expect(await t.stop()).toEqual([]);
    expect(ran).toEqual(['components', 'cluster', 'redis', 'control plane']);
  });

  it('runs every step when one throws or rejects, and names the ones that failed', async () => {
    const ran: string[] = [];
    const seen: TeardownFailure[] = [];
    const t = new Teardown((f) => seen.push(f));
    t.defer('first', () => void ran.push('first'));
    t.defer('rejects', async () => {
      ran.push('rejects');
      throw new Error('port busy');
    });
    t.defer('throws', () => {
      ran.push('throws');
      throw new Error('boom');
    });
    const failures = await t.stop();
    expect(ran).toEqual(['throws', 'rejects', 'first']);
    expect(failures.map((f) => f.step)).toEqual(['throws', 'rejects']);
    expect(seen).toEqual(failures);
    expect(describeFailures(failures)).toBe('throws: Error: boom; rejects: Error: port busy');
  });

  it('bounds a step that never finishes and goes on with the next', async () => {
    const ran: string[] = [];
    const t = new Teardown();
    t.defer('after', () => void ran.push('after'));
    t.defer('hangs', () => new Promise(() => undefined), 50);
    const failures = await t.stop();
    expect(ran).toEqual(['after']);
    expect(failures).toEqual([{ step: 'hangs', message: 'not done after 50 ms' }]);
  });

  it('stops once: a second stop() runs nothing and gets the same answer; nothing can be added after', async () => {
    let runs = 0;
    const t = new Teardown();
    t.defer('counted', () => {
      runs++;
      throw new Error('once');
    });
    const [a, b] = await Promise.all([t.stop(), t.stop()]);
    expect(runs).toBe(1);
    expect(b).toBe(a);
    expect(await t.stop()).toBe(a);
    expect(() => t.defer('late', () => undefined)).toThrow(/already ran.*"late"/);
  });
});
