// The informer against the Kubernetes emulator: list+watch, and re-list after 410 Gone.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { pino } from 'pino';
import { startKubeEmulator, type KubeEmulator } from '../../../sandbox/kube/emulator.js';
import { SimClock } from '../../../sandbox/clock.js';
import { Informer } from '../../../sandbox/cluster/informer.js';
import { WorkQueue } from '../../../sandbox/cluster/workqueue.js';
import { until } from './sim-helpers.js';

const CM = { group: '', version: 'v1', resource: 'configmaps' };
let emu: KubeEmulator;
const clock = new SimClock({ speed: 100 });
const logger = pino({ level: 'silent' });

beforeAll(async () => {
  emu = await startKubeEmulator({ clock, watchHistorySize: 5 });
});
afterAll(async () => {
  await emu.stop();
  clock.stop();
});

const cm = (name: string, data = '1') => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name },
  data: { v: data },
});

describe('informer', () => {
  it('lists, then follows the watch', async () => {
    const admin = emu.client();
    await admin.create({ ...CM, namespace: 'default' }, cm('a'));
    const seen: string[] = [];
    const inf = new Informer(admin, { ...CM, namespace: 'default' }, { logger, clock }).on((type, obj) =>
      seen.push(`${type}:${obj.metadata.name}`),
    );
    await inf.start();
    expect(inf.get('default', 'a')?.data).toEqual({ v: '1' });
    await admin.create({ ...CM, namespace: 'default' }, cm('b'));
    await admin.update(
      { ...CM, namespace: 'default', name: 'a' },
      { ...(await admin.get({ ...CM, namespace: 'default', name: 'a' })), data: { v: '2' } },
    );
    await admin.delete({ ...CM, namespace: 'default', name: 'b' });
    await until('events', () => seen.length === 4);
    expect(seen).toEqual(['ADDED:a', 'ADDED:b', 'MODIFIED:a', 'DELETED:b']);
    expect(inf.get('default', 'a')?.data).toEqual({ v: '2' });
    inf.stop();
  });

  it('re-lists after 410 Gone and reports what changed while it was away', async () => {
    const admin = emu.client();
    const ns = { ...CM, namespace: 'kube-public' };
    await admin.create(ns, cm('keep'));
    await admin.create(ns, cm('drop'));
    const seen: string[] = [];
    const inf = new Informer(admin, ns, { logger, clock, retryMs: 50 }).on((type, obj) =>
      seen.push(`${type}:${obj.metadata.name}`),
    );
    await inf.start();
    expect(inf.lists).toBe(1);
    inf.disconnect();
    // More changes than the API server keeps history for (5) while the watch is down.
    for (let i = 0; i < 8; i++) await admin.create(ns, cm(`n${i}`));
    await admin.delete({ ...ns, name: 'drop' });
    await until('re-listed', () => inf.lists === 2 && inf.cache.size === 9);
    expect([...inf.cache.keys()].sort()).toEqual([
      'kube-public/keep',
      ...Array.from({ length: 8 }, (_, i) => `kube-public/n${i}`),
    ]);
    expect(seen).toContain('DELETED:drop');
    expect(seen.filter((s) => s.startsWith('ADDED:n'))).toHaveLength(8);
    // And it follows the watch again.
    await admin.create(ns, cm('after'));
    await until('watch resumed', () => inf.get('kube-public', 'after'));
    inf.stop();
  });
});

describe('work queue', () => {
  it('runs a key once at a time, re-runs it if re-added meanwhile, and retries failures with backoff', async () => {
    const runs: string[] = [];
    let fail = 2;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const q = new WorkQueue(
      async (key) => {
        runs.push(key);
        if (key === 'slow' && runs.filter((k) => k === 'slow').length === 1) await gate;
        if (key === 'flaky' && fail-- > 0) throw new Error('boom');
      },
      { name: 't', clock, logger, concurrency: 4 },
    );
    q.add('slow');
    await until('slow started', () => runs.includes('slow'));
    q.add('slow');
    q.add('slow');
    q.add('flaky');
    release();
    await until('flaky succeeded', () => runs.filter((k) => k === 'flaky').length === 3);
    await until('slow re-ran once', () => runs.filter((k) => k === 'slow').length === 2);
    await q.idle();
    expect(runs.filter((k) => k === 'slow')).toHaveLength(2);
    expect(q.errors).toBe(2);
    q.stop();
  });
});
