// The list-then-watch cache of the node agent and the webhook, over HTTPS: selectors, watches that end and resume without
// listing again, 410 Gone → a new list, forced consistent lists, and its own writes winning over older
// watch events. On the control plane of the tests (the real kube-apiserver unless
// FLEETIQ_TEST_CONTROL_PLANE=emulated), except the 410 Gone case.
//
// That one runs on the API server emulator: it needs a watch history a few events long, which the
// emulator sets per test (watchHistorySize). The real kube-apiserver keeps recent events (at least
// 75 s) in its watch cache, and without the cache only etcd's compaction (every few minutes, all
// resources at once) makes a resourceVersion too old, which would also end the other cases' quiet
// watches with 410.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { KubeConfig } from '@kubernetes/client-node';
import { startKubeEmulator, type KubeEmulator } from '../../sandbox/kube/emulator.js';
import type { LocalClient } from '../../sandbox/kube/types.js';
import { ScopedInformer, type InformerEvent, type RestartReason } from '../../shared/scoped-informer.js';
import { restKubeApi } from '../../reconciler/kube-api.js';
import { GAME_SERVER_POD_SELECTOR } from '../../reconciler/kube-objects.js';
import { startTestKube, TEST_KUBE_START_MS, type TestKube } from '../helpers/test-kube.js';
import { createLogger } from '../../shared/logger.js';
import { waitFor as waitFor_ } from '../helpers/wait.js';

const silent = createLogger('informer-test', 'silent');
/** 30 s: the real API server on a busy machine. */
const waitFor = <T>(what: string, condition: () => T | Promise<T>, timeoutMs = 30_000) =>
  waitFor_(what, condition, timeoutMs);

const PODS = { group: '', version: 'v1', resource: 'pods', namespace: 'default' } as const;
const NODES = { group: '', version: 'v1', resource: 'nodes' } as const;
let kube: TestKube;
let emu: KubeEmulator;
interface Target {
  admin: LocalClient;
  kc: KubeConfig;
}
let tested: Target;
let shortHistory: Target;
const informers: ScopedInformer[] = [];

function kubeConfig(text: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromString(text);
  return kc;
}

beforeAll(async () => {
  kube = await startTestKube();
  tested = { admin: kube.admin, kc: kubeConfig(kube.backend.adminKubeconfig) };
  // The pods' nodes exist: the real pod garbage collector deletes pods bound to a missing node.
  for (const n of ['node-a', 'node-b', 'node-c', 'node-f'])
    await kube.admin.create(NODES, { apiVersion: 'v1', kind: 'Node', metadata: { name: n } });
  // A short watch history, so that a watch resuming after a few changes elsewhere meets 410 Gone.
  emu = await startKubeEmulator({ authorization: 'allow-all', watchHistorySize: 5 });
  shortHistory = { admin: emu.client(), kc: kubeConfig(emu.kubeconfig()) };
}, TEST_KUBE_START_MS);

afterAll(async () => {
  for (const i of informers) i.stop();
  await emu?.stop();
  await kube?.stop();
});

const pod = (name: string, nodeName: string, gameServer = true) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: {
    name,
    namespace: 'default',
    labels: gameServer ? { 'agones.dev/role': 'gameserver' } : { app: 'other' },
  },
  spec: { nodeName, containers: [{ name: 'c', image: 'i' }] },
});

function podInformer(node: string, watchSeconds = 300, on: Target = tested) {
  const { kc } = on;
  const api = restKubeApi(kc);
  const events: [InformerEvent, string][] = [];
  /** The pods a MODIFIED event showed being deleted (deletionTimestamp set). */
  const terminating: string[] = [];
  let syncs = 0;
  const restarts: RestartReason[] = [];
  const informer = new ScopedInformer({
    name: 'pods',
    kubeConfig: kc,
    path: '/api/v1/pods',
    fieldSelector: `spec.nodeName=${node}`,
    labelSelector: GAME_SERVER_POD_SELECTOR,
    list: () => api.listPods(`spec.nodeName=${node}`, GAME_SERVER_POD_SELECTOR),
    onChange: (type, obj) => {
      events.push([type, String(obj.metadata.name)]);
      if (type === 'MODIFIED' && obj.metadata.deletionTimestamp) terminating.push(String(obj.metadata.name));
    },
    onSync: () => syncs++,
    onRestart: (reason) => restarts.push(reason),
    logger: silent,
    watchTimeoutSeconds: { min: watchSeconds, max: watchSeconds },
    backoff: { initialMs: 20, maxMs: 200 },
  });
  informers.push(informer);
  informer.start();
  return { informer, events, terminating, syncs: () => syncs, restarts, api };
}

const names = (i: ScopedInformer) =>
  i
    .values()
    .map((p) => p.metadata.name)
    .sort();

describe('ScopedInformer', () => {
  it('lists, then follows only the game server pods on its node', async () => {
    await tested.admin.create(PODS, pod('a-1', 'node-a'));
    await tested.admin.create(PODS, pod('b-1', 'node-b'));
    await tested.admin.create(PODS, pod('a-other', 'node-a', false));
    const { informer, events, terminating } = podInformer('node-a');
    await informer.waitForSync();
    expect(names(informer)).toEqual(['a-1']);
    await tested.admin.create(PODS, pod('a-2', 'node-a'));
    await tested.admin.create(PODS, pod('b-2', 'node-b'));
    await waitFor('a-2', () => informer.get('default/a-2'));
    await tested.admin.delete({ ...PODS, name: 'a-1' }, { gracePeriodSeconds: 0 });
    await waitFor('a-1 gone', () => !informer.get('default/a-1'));
    // Leaving the selector (the label removed) is a deletion for this watcher.
    await tested.admin.patch({ ...PODS, name: 'a-2' }, 'merge', {
      metadata: { labels: { 'agones.dev/role': null } },
    });
    await waitFor('a-2 out of the selection', () => !informer.get('default/a-2'));
    // kube-apiserver writes the deletionTimestamp of a pod bound to a node before removing it, even
    // with a grace period of 0, and watchers see that update; the emulator removes such a pod at once.
    const deletionUpdate: [InformerEvent, string][] = kube.kind === 'real' ? [['MODIFIED', 'a-1']] : [];
    expect(events).toEqual([
      ['ADDED', 'a-1'],
      ['ADDED', 'a-2'],
      ...deletionUpdate,
      ['DELETED', 'a-1'],
      ['DELETED', 'a-2'],
    ]);
    expect(terminating).toEqual(deletionUpdate.map(([, name]) => name));
    expect(informer.stats.lists).toBe(1);
  });

  it('resumes a watch the server ended from where it was, without listing again', async () => {
    const { informer, restarts } = podInformer('node-c', 1);
    expect(informer.isWatching()).toBe(false);
    await informer.waitForSync();
    await waitFor('three watch requests', () => informer.stats.watches >= 3, 10_000);
    await tested.admin.create(PODS, pod('c-1', 'node-c'));
    await waitFor('c-1', () => informer.get('default/c-1'));
    expect(informer.stats.lists).toBe(1);
    expect(informer.stats.gone).toBe(0);
    await waitFor('a watch established', () => informer.isWatching());
    // Each watch the server ended was resumed as such: one start, no list since.
    expect(restarts[0]).toBe('start');
    expect(new Set(restarts.slice(1))).toEqual(new Set(['watch-ended']));
    informer.stop();
    expect(informer.isWatching()).toBe(false);
  });

  it('lists again on 410 Gone and stays correct', async () => {
    const { informer, syncs, restarts } = podInformer('node-d', 1, shortHistory);
    await informer.waitForSync();
    const watches = informer.stats.watches;
    // While its watch is open, changes elsewhere push its resourceVersion out of the short history.
    for (let i = 0; i < 8; i++) await shortHistory.admin.create(PODS, pod(`e-${i}`, 'node-e'));
    await shortHistory.admin.create(PODS, pod('d-1', 'node-d'));
    await waitFor('d-1', () => informer.get('default/d-1'));
    for (let i = 8; i < 16; i++) await shortHistory.admin.create(PODS, pod(`e-${i}`, 'node-e'));
    await waitFor('a 410 and a new list', () => informer.stats.gone >= 1 && syncs() >= 2, 10_000);
    expect(informer.stats.watches).toBeGreaterThan(watches);
    expect(names(informer)).toEqual(['d-1']);
    expect(restarts).toContain('gone');
  });

  it('relist() reads consistently now; its own writes win over older watch events', async () => {
    const { informer, syncs, restarts, api } = podInformer('node-f');
    await tested.admin.create(PODS, pod('f-1', 'node-f'));
    await informer.waitForSync();
    await waitFor('f-1', () => informer.get('default/f-1'));
    const before = syncs();
    informer.relist();
    await waitFor('the relist', () => syncs() > before);
    expect(informer.lastCompletedList()).toBe(informer.listsStarted());
    expect(restarts).toEqual(['start', 'relist']);

    const written = await api.patchPod('default', 'f-1', [
      { op: 'add', path: '/metadata/labels/written', value: 'yes' },
    ]);
    informer.noteWrite(written);
    expect(informer.get('default/f-1')?.metadata.labels?.written).toBe('yes');
    await tested.admin.patch({ ...PODS, name: 'f-1' }, 'merge', { metadata: { labels: { later: 'too' } } });
    await waitFor('the later change', () => informer.get('default/f-1')?.metadata.labels?.later === 'too');
    expect(informer.get('default/f-1')?.metadata.labels?.written).toBe('yes');
  });
});
