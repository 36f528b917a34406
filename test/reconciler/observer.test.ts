// The observer on fake informers and a fake API: which GameServers it reads when, the post-cordon
// barrier, no observation on a partial view, the pending-allocation recheck decide() times, and an
// Observation nobody can change afterwards.
import { describe, expect, it } from '@jest/globals';
import { DRAIN_TOLERATION, INSTANCE_STATUS_LABEL, type InstanceStatus } from '../../shared/contract.js';
import { DRAIN_PHASE_LABEL } from '../../shared/drain-contract.js';
import { decide, type ObservedStatus } from '../../reconciler/decide.js';
import type { InformerOptions } from '../../shared/scoped-informer.js';
import { type AgentKubeApi } from '../../reconciler/kube-api.js';
import { KubeApiError } from '../../shared/kube-error.js';
import { objectKey, type KubeObjectLike } from '../../shared/kube-object.js';
import { Observer, type ObserveResult, type ObservedInformer } from '../../reconciler/observer.js';
import { CONFIG, T0 } from './world.js';
import { silent, waitFor } from './helpers.js';

class FakeInformer implements ObservedInformer {
  readonly items = new Map<string, KubeObjectLike>();
  rv = '10';
  starts = 1;
  completed = 1;
  relists = 0;
  /** What a re-list does: complete with this resourceVersion, or (undefined) fail. */
  relistTo: string | undefined = undefined;
  readonly stats = { lists: 1, watches: 1, events: 0, bookmarks: 0, gone: 0, errors: 0 };
  constructor(readonly opts: InformerOptions) {}
  start(): void {}
  stop(): void {}
  waitForSync = () => Promise.resolve();
  hasSynced = () => true;
  get = (key: string) => this.items.get(key);
  values = () => [...this.items.values()];
  resourceVersion = () => this.rv;
  listsStarted = () => this.starts;
  lastCompletedList = () => this.completed;
  relist = async () => {
    this.relists++;
    this.starts++;
    if (this.relistTo === undefined) return;
    this.rv = this.relistTo;
    this.completed = this.starts;
  };
  noteWrite = (obj: KubeObjectLike) => this.put(obj, true);
  /** An object changed (own: the agent's write). */
  put(obj: KubeObjectLike, own = false): void {
    this.items.set(objectKey(obj), obj);
    this.opts.onChange('MODIFIED', obj, own);
  }
}

const node = (rv: string, unschedulable = false): KubeObjectLike => ({
  metadata: { name: 'node-a', resourceVersion: rv, labels: {}, annotations: {} },
  spec: unschedulable ? { unschedulable: true } : {},
});
const pod = (name: string, tolerates = false): KubeObjectLike => ({
  metadata: { name, namespace: 'default', uid: `uid-${name}`, resourceVersion: '3' },
  spec: { nodeName: 'node-a', tolerations: tolerates ? [{ ...DRAIN_TOLERATION }] : [] },
});
const gameServer = (name: string, state: string, rv = '7'): KubeObjectLike => ({
  metadata: { name, namespace: 'default', resourceVersion: rv },
  status: { state },
});

async function setup(init: {
  node?: KubeObjectLike;
  pods?: KubeObjectLike[];
  states?: Record<string, string>;
}) {
  let now = T0;
  let status: ObservedStatus | undefined = { status: 'ACTIVE', observedAt: T0 - 1000, source: 'redis' };
  const states: Record<string, string> = { ...init.states };
  const failing = new Set<string>();
  const reads: string[] = [];
  const apiErrors: string[] = [];
  const informers: FakeInformer[] = [];
  let changes = 0;
  const api = {
    getGameServer: async (_ns: string, name: string) => {
      reads.push(name);
      if (failing.has(name)) throw new KubeApiError('getGameServer', 403, 'Forbidden', 'no');
      return states[name] === undefined ? null : gameServer(name, states[name]);
    },
  } as unknown as AgentKubeApi;
  const observer = new Observer({
    nodeName: 'node-a',
    kubeConfig: undefined as never,
    api,
    logger: silent,
    decide: CONFIG,
    now: () => now,
    random: () => 0.5,
    watchTimeoutSeconds: { min: 300, max: 600 },
    fetchConcurrency: 4,
    onChange: () => changes++,
    onApiError: (op) => apiErrors.push(op),
    informer: (o) => {
      const f = new FakeInformer(o);
      informers.push(f);
      return f;
    },
  });
  const [nodes, pods] = informers;
  nodes.put(init.node ?? node('5'));
  for (const p of init.pods ?? []) pods.put(p);
  await observer.startNode();
  await observer.startPods({
    status: { current: () => status, refuseOlderThan: () => undefined },
    registration: () => ({ state: 'registered', utilization: 'AVAILABLE' }),
  });
  const observed = async () => {
    const r: ObserveResult = await observer.observe();
    if (r.kind !== 'observed') throw new Error(`not observed: ${r.kind}`);
    return r.observation;
  };
  return {
    observer,
    nodes,
    pods,
    states,
    failing,
    reads,
    apiErrors,
    observed,
    changes: () => changes,
    at: (t: number) => (now = t),
    say: (s: InstanceStatus) => (status = { status: s, observedAt: now - 1000, source: 'redis' }),
  };
}

describe('Observer', () => {
  it('reads each GameServer once, then again only when someone else changes its pod', async () => {
    const t = await setup({ pods: [pod('a'), pod('b')], states: { a: 'Ready', b: 'Allocated' } });
    const obs = await t.observed();
    expect(obs.gameServers.map((g) => [g.name, g.state])).toEqual([
      ['a', 'Ready'],
      ['b', 'Allocated'],
    ]);
    expect(t.reads.sort()).toEqual(['a', 'b']);
    await t.observed();
    expect(t.reads).toHaveLength(2);
    // The agent's own write to the pod changes nothing on the GameServer; someone else's might.
    t.pods.put(pod('a'), true);
    await t.observed();
    expect(t.reads).toHaveLength(2);
    const before = t.changes();
    t.pods.put(pod('b'));
    expect(t.changes()).toBe(before + 1);
    await t.observed();
    expect(t.reads.slice(2)).toEqual(['b']);
  });

  it('re-reads a game server whose pod gained the toleration before its allocation, when decide() says', async () => {
    const t = await setup({ pods: [pod('a')], states: { a: 'Ready' } });
    await t.observed();
    // The webhook admits the allocation: the pod tolerates first, the GameServer is Allocated after.
    t.pods.put(pod('a', true));
    const obs = await t.observed();
    expect(obs.gameServers[0].allocationPending).toBe(true);
    const d = decide(obs, CONFIG);
    expect(d.timing.allocationRecheckAfterMs).toBe(1000);
    expect(t.observer.remember(d)).toBe(1000);
    await t.observed();
    expect(t.reads).toEqual(['a', 'a']);
    t.states.a = 'Allocated';
    t.at(T0 + 1000);
    const again = await t.observed();
    expect(t.reads).toEqual(['a', 'a', 'a']);
    expect(again.gameServers[0]).toMatchObject({ state: 'Allocated' });
    expect(again.gameServers[0].allocationPending).toBeUndefined();
    expect(t.observer.remember(decide(again, CONFIG))).toBeUndefined();
  });

  it('after a cordon, lists the pods again until the list is newer than the cordon, and reads every GameServer', async () => {
    const t = await setup({ pods: [pod('a')], states: { a: 'Ready' } });
    await t.observed();
    t.nodes.put(node('50', true));
    // The re-list fails: nothing is observed (no fence on a pod list older than the cordon).
    expect(await t.observer.observe()).toEqual({ kind: 'waiting' });
    expect(t.pods.relists).toBe(1);
    t.pods.relistTo = '60';
    const obs = await t.observed();
    expect(t.pods.relists).toBe(2);
    expect(obs.node.unschedulable).toBe(true);
    expect(t.reads).toEqual(['a', 'a']);
    // Past the barrier: no more lists or reads.
    await t.observed();
    expect([t.pods.relists, t.reads.length]).toEqual([2, 2]);
  });

  it('reads every game server when DRAINING first arrives on a schedulable node', async () => {
    const t = await setup({ pods: [pod('a'), pod('b')], states: { a: 'Ready', b: 'Ready' } });
    await t.observed();
    t.say('DRAINING');
    await t.observed();
    expect(t.reads.sort()).toEqual(['a', 'a', 'b', 'b']);
    await t.observed();
    expect(t.reads).toHaveLength(4);
  });

  it('observes nothing while a GameServer cannot be read', async () => {
    const t = await setup({ pods: [pod('a'), pod('b')], states: { a: 'Ready', b: 'Allocated' } });
    t.failing.add('b');
    expect(await t.observer.observe()).toEqual({ kind: 'readFailed' });
    expect(t.apiErrors).toEqual(['getGameServer']);
    t.failing.clear();
    expect((await t.observed()).gameServers).toHaveLength(2);
  });

  it('re-reads the sessions when the recheck decide() asked for falls due, and says so', async () => {
    // A labelled ACTIVE node with a session: nothing to do, so decide() times a session re-read.
    const labelled = node('5');
    labelled.metadata.labels = { [INSTANCE_STATUS_LABEL]: 'ACTIVE', [DRAIN_PHASE_LABEL]: 'Active' };
    const t = await setup({
      node: labelled,
      pods: [pod('a', true), pod('r')],
      states: { a: 'Allocated', r: 'Ready' },
    });
    const obs = await t.observed();
    const d = decide(obs, CONFIG, {
      drainSessionRecheckMs: 20,
      activeSessionRecheckMs: 20,
      allocationRecheckMs: 1,
      immediateRetriesOnConflict: 3,
    });
    expect(d.timing.sessionRecheckAfterMs).toBe(20);
    const before = t.changes();
    t.observer.remember(d);
    await waitFor('the recheck', () => t.changes() > before, 5_000);
    await t.observed();
    // Only the session is read again, not the Ready game server.
    expect(t.reads.slice(2)).toEqual(['a']);
    t.observer.stop();
  });

  it('hands out an Observation that cannot be changed', async () => {
    const t = await setup({ pods: [pod('a')], states: { a: 'Ready' } });
    const obs = await t.observed();
    expect(Object.isFrozen(obs)).toBe(true);
    expect(Object.isFrozen(obs.gameServers)).toBe(true);
    expect(Object.isFrozen(obs.gameServers[0])).toBe(true);
    expect(Object.isFrozen(obs.node)).toBe(true);
    expect(Object.isFrozen(obs.status)).toBe(true);
  });
});
