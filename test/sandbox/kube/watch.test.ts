// Watches through client-node's Watch over HTTPS, and the in-process client's watch.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as k8s from '@kubernetes/client-node';
import type { KubeEmulator } from '../../../sandbox/kube/emulator.js';
import type { WatchEvent } from '../../../sandbox/kube/types.js';
import { apis, eventually, merge, node, pod, startEmulator, POD_REF } from './support.js';

let emu: KubeEmulator;
let a: ReturnType<typeof apis>;
let watch: k8s.Watch;
const controllers: AbortController[] = [];

beforeAll(async () => {
  emu = await startEmulator({ watchHistorySize: 20, bookmarkIntervalMs: 200 });
  a = apis(emu);
  watch = new k8s.Watch(a.kc);
  await a.core.createNamespace({ body: { metadata: { name: 'w' } } });
});
afterAll(async () => {
  for (const c of controllers) c.abort();
  await emu.stop();
});

interface Seen {
  type: string;
  name: string;
  rv: string;
  obj: any;
}

async function open(path: string, query: Record<string, string | number | boolean | undefined>) {
  const events: Seen[] = [];
  let done: unknown = 'open';
  const c = await watch.watch(
    path,
    query,
    (type, obj) => events.push({ type, name: obj?.metadata?.name, rv: obj?.metadata?.resourceVersion, obj }),
    (err) => {
      done = err ?? null;
    },
  );
  controllers.push(c);
  return { events, closed: () => done !== 'open', controller: c };
}

const summary = (events: Seen[]) => events.map((e) => `${e.type} ${e.name}`);

describe('watch over HTTPS', () => {
  it('streams ADDED, MODIFIED and DELETED in order, starting after the given resourceVersion', async () => {
    const list = await a.core.listNamespacedPod({ namespace: 'w' });
    const w = await open('/api/v1/namespaces/w/pods', { resourceVersion: list.metadata!.resourceVersion });
    await a.core.createNamespacedPod({ namespace: 'w', body: pod('p1') as any });
    await a.core.patchNamespacedPod(
      { name: 'p1', namespace: 'w', body: { metadata: { labels: { a: 'b' } } } },
      merge,
    );
    await a.core.deleteNamespacedPod({ name: 'p1', namespace: 'w' });
    await eventually(() => w.events.length >= 3, 5000, 'three events');
    expect(summary(w.events)).toEqual(['ADDED p1', 'MODIFIED p1', 'DELETED p1']);
    const rvs = w.events.map((e) => Number(e.rv));
    expect(rvs[0]).toBeLessThan(rvs[1]);
    expect(rvs[1]).toBeLessThan(rvs[2]);
    expect(w.events[1].obj.metadata.labels).toEqual({ a: 'b' });
  });

  it('sends the current state as ADDED events when no resourceVersion is given', async () => {
    await a.core.createNamespacedPod({ namespace: 'w', body: pod('existing-1') as any });
    await a.core.createNamespacedPod({ namespace: 'w', body: pod('existing-2') as any });
    const w = await open('/api/v1/namespaces/w/pods', {});
    await eventually(() => w.events.length >= 2, 5000, 'initial events');
    expect(summary(w.events)).toEqual(['ADDED existing-1', 'ADDED existing-2']);
  });

  it('replays history from an old resourceVersion and answers 410 Gone once it is compacted', async () => {
    const start = (await a.core.listNamespacedConfigMap({ namespace: 'w' })).metadata!.resourceVersion!;
    await a.core.createNamespacedConfigMap({
      namespace: 'w',
      body: { metadata: { name: 'h' }, data: { i: '0' } },
    });
    const replay = await open('/api/v1/namespaces/w/configmaps', { resourceVersion: start });
    await eventually(() => replay.events.length >= 1, 5000, 'replayed event');
    expect(summary(replay.events)).toEqual(['ADDED h']);
    for (let i = 1; i <= 40; i++)
      await a.core.patchNamespacedConfigMap(
        { name: 'h', namespace: 'w', body: { data: { i: String(i) } } },
        merge,
      );
    const tooOld = await open('/api/v1/namespaces/w/configmaps', { resourceVersion: start });
    await eventually(() => tooOld.events.length >= 1 && tooOld.closed(), 5000, 'ERROR event and close');
    expect(tooOld.events[0].type).toBe('ERROR');
    expect(tooOld.events[0].obj).toMatchObject({ kind: 'Status', code: 410, reason: 'Expired' });
    expect(tooOld.events[0].obj.message).toMatch(/^too old resource version: \d+ \(\d+\)$/);
  });

  it('delivers an object leaving the selector as DELETED and entering it as ADDED', async () => {
    await a.core.createNode({ body: node('wn1') as any });
    await a.core.createNode({ body: node('wn2') as any });
    await a.core.createNamespacedPod({
      namespace: 'w',
      body: pod('mover', { labels: { role: 'gs' } }) as any,
    });
    const rv = (await a.core.listNamespacedPod({ namespace: 'w' })).metadata!.resourceVersion;
    const byLabel = await open('/api/v1/namespaces/w/pods', {
      resourceVersion: rv,
      labelSelector: 'role=gs',
    });
    const onNode = await open('/api/v1/pods', { resourceVersion: rv, fieldSelector: 'spec.nodeName=wn1' });
    const otherNode = await open('/api/v1/pods', { resourceVersion: rv, fieldSelector: 'spec.nodeName=wn2' });
    await a.core.createNamespacedPodBinding({
      name: 'mover',
      namespace: 'w',
      body: { metadata: { name: 'mover' }, target: { kind: 'Node', name: 'wn1' } },
    });
    await a.core.patchNamespacedPod(
      { name: 'mover', namespace: 'w', body: { metadata: { labels: { role: 'idle' } } } },
      merge,
    );
    await a.core.patchNamespacedPod(
      { name: 'mover', namespace: 'w', body: { metadata: { labels: { role: 'gs' } } } },
      merge,
    );
    await eventually(() => byLabel.events.length >= 3 && onNode.events.length >= 3, 5000, 'selector events');
    expect(summary(byLabel.events)).toEqual(['MODIFIED mover', 'DELETED mover', 'ADDED mover']);
    // The DELETED of an object leaving the selector carries its last matching content and the new version.
    expect(byLabel.events[1].obj.metadata.labels).toEqual({ role: 'gs' });
    expect(Number(byLabel.events[1].rv)).toBeGreaterThan(Number(byLabel.events[0].rv));
    expect(summary(onNode.events)).toEqual(['ADDED mover', 'MODIFIED mover', 'MODIFIED mover']);
    expect(otherNode.events).toEqual([]);
  });

  it('closes the stream after timeoutSeconds', async () => {
    const w = await open('/api/v1/namespaces/w/pods', { timeoutSeconds: 1, resourceVersion: '1' });
    await eventually(() => w.closed(), 5000, 'watch closed by the server');
  });

  it('sends bookmarks when asked for them', async () => {
    const rv = (await a.core.listNamespacedSecret({ namespace: 'w' })).metadata!.resourceVersion;
    const w = await open('/api/v1/namespaces/w/secrets', { resourceVersion: rv, allowWatchBookmarks: true });
    await eventually(() => w.events.some((e) => e.type === 'BOOKMARK'), 5000, 'bookmark');
    const b = w.events.find((e) => e.type === 'BOOKMARK')!;
    expect(b.obj.kind).toBe('Secret');
    expect(Number(b.rv)).toBeGreaterThanOrEqual(Number(rv));
  });

  it('rejects a watch with an unsupported field selector with 400 before streaming', async () => {
    let err: any;
    await watch.watch(
      '/api/v1/pods',
      { fieldSelector: 'spec.bogus=1' },
      () => {},
      (e) => {
        err = e;
      },
    );
    await eventually(() => err, 5000, 'watch failure');
    expect(err.statusCode).toBe(400);
  });

  it('indexes watchers by node so each write reaches only its node watcher', async () => {
    const watchers: Array<Awaited<ReturnType<typeof open>>> = [];
    for (let i = 0; i < 20; i++) {
      await a.core.createNode({ body: node(`idx-${i}`) as any });
      watchers.push(
        await open('/api/v1/pods', { fieldSelector: `spec.nodeName=idx-${i}`, resourceVersion: '0' }),
      );
    }
    for (let i = 0; i < 20; i++)
      await a.core.createNamespacedPod({
        namespace: 'w',
        body: pod(`on-idx-${i}`, { nodeName: `idx-${i}` }) as any,
      });
    await eventually(() => watchers.every((w) => w.events.length >= 1), 5000, 'one event per watcher');
    watchers.forEach((w, i) => expect(summary(w.events)).toEqual([`ADDED on-idx-${i}`]));
  });
});

describe('watch through the in-process client', () => {
  it('delivers copies, stops on request, and reports a too-old resourceVersion as an ERROR event', async () => {
    const c = emu.client();
    const ref = { ...POD_REF, namespace: 'w' };
    const rv = (await c.list(ref)).metadata.resourceVersion;
    const got: WatchEvent[] = [];
    const stop = c.watch(ref, { resourceVersion: rv, labelSelector: 'local=yes' }, (e) => {
      got.push(e);
      e.object.metadata.labels = { tampered: 'yes' };
    });
    await c.create(ref, pod('local-w', { labels: { local: 'yes' } }));
    await eventually(() => got.length === 1, 5000, 'local event');
    expect(got[0].type).toBe('ADDED');
    expect((await c.get({ ...ref, name: 'local-w' })).metadata.labels).toEqual({ local: 'yes' });
    stop();
    await c.delete({ ...ref, name: 'local-w' });
    await new Promise((r) => setImmediate(r));
    expect(got).toHaveLength(1);

    const errors: WatchEvent[] = [];
    c.watch(
      { group: '', version: 'v1', resource: 'configmaps', namespace: 'w' },
      { resourceVersion: '2' },
      (e) => errors.push(e),
    );
    await eventually(() => errors.length === 1, 5000, 'error event');
    expect(errors[0]).toMatchObject({ type: 'ERROR', object: { code: 410, reason: 'Expired' } });
  });

  it('converts events.k8s.io/v1 watch events from the core storage', async () => {
    const c = emu.client();
    const got: WatchEvent[] = [];
    const stop = c.watch(
      { group: 'events.k8s.io', version: 'v1', resource: 'events', namespace: 'w' },
      {},
      (e) => got.push(e),
    );
    await c.create(
      { group: '', version: 'v1', resource: 'events', namespace: 'w' },
      {
        metadata: { name: 'e1' },
        involvedObject: { kind: 'Pod', name: 'x' },
        message: 'hello',
        reason: 'Test',
        type: 'Normal',
      },
    );
    await eventually(() => got.length === 1, 5000, 'event');
    expect(got[0].object).toMatchObject({
      apiVersion: 'events.k8s.io/v1',
      note: 'hello',
      regarding: { kind: 'Pod', name: 'x' },
    });
    stop();
  });
});
