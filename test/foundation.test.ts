import { describe, expect, it } from '@jest/globals';
import * as k8s from '@kubernetes/client-node';
import { SimClock, SeededRandom } from '../sandbox/clock.js';
import { parseListen } from '../shared/ops-server.js';

describe('foundation', () => {
  it('runs on Node 24 with the ESM-only Kubernetes client loaded', () => {
    expect(Number(process.versions.node.split('.')[0])).toBe(24);
    expect(typeof k8s.KubeConfig).toBe('function');
  });

  it('replays the same random choices for the same seed', () => {
    const a = new SeededRandom(42);
    const b = new SeededRandom(42);
    const c = new SeededRandom(43);
    const seqA = Array.from({ length: 5 }, () => a.int(1000));
    expect(Array.from({ length: 5 }, () => b.int(1000))).toEqual(seqA);
    expect(Array.from({ length: 5 }, () => c.int(1000))).not.toEqual(seqA);
  });

  it('compresses simulated waits by the speed factor', async () => {
    const clock = new SimClock({ speed: 100 });
    const t0 = Date.now();
    const s0 = clock.now();
    await clock.sleep(2000);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(clock.now() - s0).toBeGreaterThanOrEqual(2000);
    expect(() => new SimClock({ speed: 0 })).toThrow(/speed/);
  });

  it('names the setting when a listen address is invalid', () => {
    expect(parseListen('127.0.0.1:8080', '--listen')).toEqual({ host: '127.0.0.1', port: 8080 });
    expect(parseListen(':9090', '--listen')).toEqual({ host: '0.0.0.0', port: 9090 });
    expect(() => parseListen('nope', '--metrics-listen')).toThrow(/--metrics-listen/);
  });
});
