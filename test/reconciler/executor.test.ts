// The executor against a fake Kubernetes API and cache: it runs the steps in order, stops at the
// first that does not succeed, tells a conflict from a failure, writes back what it learned, and
// emits a step's Events only once the step succeeded.
import { describe, expect, it } from '@jest/globals';
import { DRAIN_TAINT, DRAIN_TOLERATION } from '../../shared/contract.js';
import type { DrainAction } from '../../reconciler/decide.js';
import { Executor, kubeErrorCode, type ObjectCache } from '../../reconciler/executor.js';
import { type AgentKubeApi } from '../../reconciler/kube-api.js';
import { KubeApiError } from '../../shared/kube-error.js';
import type { KubeObjectLike } from '../../shared/kube-object.js';
import { planSteps, type EventAction } from '../../reconciler/plan.js';

type Call = [string, ...unknown[]];
const apiError = (code: number) => new KubeApiError('op', code, code === 409 ? 'Conflict' : 'Failure', 'no');

const NODE: KubeObjectLike = {
  metadata: { name: 'node-a', resourceVersion: '10', labels: {}, annotations: {} },
  spec: { taints: [{ key: 'other', effect: 'NoSchedule' }] },
};
const pod = (name: string, tolerates = false): KubeObjectLike => ({
  metadata: { name, namespace: 'default', uid: `uid-${name}`, resourceVersion: '5' },
  spec: { tolerations: tolerates ? [{ ...DRAIN_TOLERATION }] : [{ key: 'x', operator: 'Exists' }] },
});

/** A fake API whose answers a test sets per operation (a function of the call, or an error to throw). */
function setup(answers: Partial<Record<keyof AgentKubeApi, (...args: any[]) => unknown>> = {}) {
  const calls: Call[] = [];
  const api = new Proxy({} as AgentKubeApi, {
    get:
      (_t, op: string) =>
      async (...args: unknown[]) => {
        calls.push([op, ...args]);
        const answer = answers[op as keyof AgentKubeApi];
        if (!answer) return { metadata: { name: String(args[0]), resourceVersion: '11' } };
        return answer(...args);
      },
  });
  const cacheCalls: Call[] = [];
  const pods = new Map<string, KubeObjectLike>([
    ['default/p1', pod('p1')],
    ['default/p2', pod('p2', true)],
  ]);
  const cache: ObjectCache = {
    pod: (key) => pods.get(key),
    gameServer: () => undefined,
    noteGameServer: (key, obj) => cacheCalls.push(['noteGameServer', key, obj]),
    invalidateGameServer: (key) => cacheCalls.push(['invalidateGameServer', key]),
    noteNodeWrite: (node) => cacheCalls.push(['noteNodeWrite', node.metadata.resourceVersion]),
    notePodWrite: (p) => cacheCalls.push(['notePodWrite', p.metadata.name]),
  };
  const events: string[] = [];
  const actions: [string, string, number][] = [];
  const apiErrors: string[] = [];
  const fleetiqErrors: string[] = [];
  let deregister: () => Promise<void> = async () => undefined;
  const executor = new Executor({
    nodeName: 'node-a',
    api,
    cache,
    deregister: () => deregister(),
    emit: (e: EventAction) => events.push(e.reason),
    concurrency: 4,
    onAction: (kind, result, n = 1) => actions.push([kind, result, n]),
    onApiError: (op, err) => apiErrors.push(`${op} ${kubeErrorCode(err)}`),
    onFleetIQError: (op, err) => fleetiqErrors.push(`${op} ${(err as Error).name}`),
  });
  return {
    executor,
    calls,
    cacheCalls,
    events,
    actions,
    apiErrors,
    fleetiqErrors,
    failDeregister: (err: Error) => (deregister = () => Promise.reject(err)),
  };
}

const ev = (reason: string): DrainAction => ({
  kind: 'emitEvent',
  type: 'Normal',
  reason: reason as never,
  message: reason,
});
const shut = (name: string): DrainAction => ({
  kind: 'shutdownGameServer',
  namespace: 'default',
  name,
  resourceVersion: '7',
  state: 'Ready',
});

describe('Executor', () => {
  it('patches the Node once for a run of node actions, with the precondition, then emits its Events', async () => {
    const t = setup();
    const r = await t.executor.run(
      planSteps([
        { kind: 'label', status: 'DRAINING' },
        ev('FleetIQDraining'),
        { kind: 'cordon' },
        { kind: 'taint' },
      ]),
      NODE,
    );
    expect(r).toEqual({ result: 'ok' });
    expect(t.calls).toHaveLength(1);
    const [op, name, body] = t.calls[0] as [string, string, any];
    expect([op, name]).toEqual(['patchNode', 'node-a']);
    expect(body.metadata.resourceVersion).toBe('10');
    expect(body.spec).toEqual({ unschedulable: true, taints: [NODE.spec.taints[0], { ...DRAIN_TAINT }] });
    expect(t.cacheCalls).toEqual([['noteNodeWrite', '11']]);
    expect(t.events).toEqual(['FleetIQDraining']);
    expect(t.actions).toEqual([
      ['label', 'ok', 1],
      ['cordon', 'ok', 1],
      ['taint', 'ok', 1],
    ]);
  });

  it('builds a later node patch on the Node the earlier one returned', async () => {
    const t = setup({
      patchNode: () => ({ metadata: { name: 'node-a', resourceVersion: String(20 + t.calls.length) } }),
    });
    await t.executor.run(planSteps([{ kind: 'cordon' }, shut('g'), { kind: 'taint' }]), NODE);
    const rvs = t.calls
      .filter((c) => c[0] === 'patchNode')
      .map((c) => (c[2] as any).metadata.resourceVersion);
    expect(rvs).toEqual(['10', '21']);
  });

  it('reports a 409 on the Node as changed, reads the Node again, and stops there without Events', async () => {
    const t = setup({
      patchNode: () => {
        throw apiError(409);
      },
      getNode: () => ({ metadata: { name: 'node-a', resourceVersion: '12' } }),
    });
    const r = await t.executor.run(planSteps([{ kind: 'cordon' }, ev('Cordoned'), shut('g')]), NODE);
    expect(r).toEqual({ result: 'changed', why: 'the Node changed since it was read' });
    expect(t.calls.map((c) => c[0])).toEqual(['patchNode', 'getNode']);
    expect(t.cacheCalls).toEqual([['noteNodeWrite', '12']]);
    expect(t.events).toEqual([]);
    expect(t.actions).toEqual([['cordon', 'changed', 1]]);
  });

  it('reports any other error as a failure of the most significant action in the patch', async () => {
    const t = setup({
      patchNode: () => {
        throw apiError(403);
      },
    });
    const r = await t.executor.run(
      planSteps([{ kind: 'label', status: 'DRAINING' }, { kind: 'taint' }]),
      NODE,
    );
    expect(r.result).toBe('failed');
    expect(r.result === 'failed' && r.action.kind).toBe('taint');
    expect(t.apiErrors).toEqual(['patchNode 403']);
    expect(t.actions).toEqual([
      ['label', 'failed', 1],
      ['taint', 'failed', 1],
    ]);
  });

  it('shuts a GameServer down with a compare-and-swap; a failed test is a change, a 404 is done', async () => {
    const t = setup({
      patchGameServer: (_ns: string, name: string) => {
        if (name === 'raced') throw apiError(422);
        if (name === 'gone') throw apiError(404);
        return { metadata: { name, resourceVersion: '8' } };
      },
    });
    expect(await t.executor.run(planSteps([shut('ok')]), NODE)).toEqual({ result: 'ok' });
    const ops = t.calls[0][3] as object[];
    expect(ops[0]).toEqual({ op: 'test', path: '/metadata/resourceVersion', value: '7' });
    expect(await t.executor.run(planSteps([shut('gone')]), NODE)).toEqual({ result: 'ok' });
    const raced = await t.executor.run(planSteps([shut('raced'), { kind: 'taint' }]), NODE);
    expect(raced).toEqual({ result: 'changed', why: 'GameServer default/raced changed since it was read' });
    expect(t.calls.map((c) => c[0])).not.toContain('patchNode');
    expect(t.cacheCalls).toEqual([
      ['noteGameServer', 'default/ok', { metadata: { name: 'ok', resourceVersion: '8' } }],
      ['noteGameServer', 'default/gone', null],
      ['invalidateGameServer', 'default/raced'],
    ]);
  });

  it('adds the toleration only where missing, and reads a pod again when its guard fails', async () => {
    const t = setup({
      patchPod: () => {
        throw apiError(422);
      },
      getPod: (_ns: string, name: string) => pod(name, true),
    });
    const tolerate = (p: string): DrainAction => ({ kind: 'addToleration', namespace: 'default', pod: p });
    // p2 already tolerates: no request for it.
    expect(await t.executor.run(planSteps([tolerate('p2')]), NODE)).toEqual({ result: 'ok' });
    expect(t.calls).toEqual([]);
    const r = await t.executor.run(planSteps([tolerate('p1')]), NODE);
    expect(r).toEqual({ result: 'changed', why: 'pod default/p1 changed since it was read' });
    expect(t.calls.map((c) => c[0])).toEqual(['patchPod', 'getPod']);
    expect(t.cacheCalls).toEqual([['notePodWrite', 'p1']]);
    expect(await t.executor.run(planSteps([tolerate('p9')]), NODE)).toEqual({
      result: 'changed',
      why: 'pod default/p9 is gone',
    });
  });

  it("backfills the toleration with Karpenter's mark in the same guarded patch, as the webhook does", async () => {
    const t = setup();
    const tolerate: DrainAction = { kind: 'addToleration', namespace: 'default', pod: 'p1' };
    expect(await t.executor.run(planSteps([tolerate]), NODE)).toEqual({ result: 'ok' });
    expect(t.calls).toEqual([
      [
        'patchPod',
        'default',
        'p1',
        [
          { op: 'test', path: '/metadata/uid', value: 'uid-p1' },
          { op: 'test', path: '/spec/tolerations', value: [{ key: 'x', operator: 'Exists' }] },
          { op: 'test', path: '/metadata/resourceVersion', value: '5' },
          { op: 'add', path: '/spec/tolerations/-', value: { ...DRAIN_TOLERATION } },
          { op: 'add', path: '/metadata/annotations', value: { 'karpenter.sh/do-not-disrupt': 'true' } },
        ],
      ],
    ]);
  });

  it('runs a batch of deletions concurrently; a failure wins over the others', async () => {
    const t = setup({
      deletePod: (_ns: string, name: string, grace: number) => {
        if (name === 'bad') throw apiError(500);
        return { metadata: { name, deletionTimestamp: 'now', gracePeriod: grace } };
      },
    });
    const del = (name: string): DrainAction => ({
      kind: 'deletePod',
      namespace: 'default',
      name,
      graceSeconds: 9,
    });
    const r = await t.executor.run(
      planSteps([del('a'), del('bad'), del('b'), ev('DeletingGameServerPods')]),
      NODE,
    );
    expect(r.result === 'failed' && r.action).toEqual(del('bad'));
    expect(t.calls.map((c) => [c[2], c[3]])).toEqual([
      ['a', 9],
      ['bad', 9],
      ['b', 9],
    ]);
    expect(t.events).toEqual([]);
    expect(t.cacheCalls).toEqual([
      ['notePodWrite', 'a'],
      ['notePodWrite', 'b'],
    ]);
  });

  it('deregisters through membership; a FleetIQ error fails the step and is counted as FleetIQ', async () => {
    const t = setup();
    expect(await t.executor.run(planSteps([{ kind: 'deregister' }, ev('Deregistered')]), NODE)).toEqual({
      result: 'ok',
    });
    expect(t.events).toEqual(['Deregistered']);
    const err = Object.assign(new Error('throttled'), { name: 'ThrottlingException' });
    t.failDeregister(err);
    const r = await t.executor.run(
      planSteps([{ kind: 'deregister' }, { kind: 'recordActedOn', observedAt: 1 }]),
      NODE,
    );
    expect(r).toEqual({ result: 'failed', action: { kind: 'deregister' }, error: err });
    expect(t.fleetiqErrors).toEqual(['deregister ThrottlingException']);
    expect(t.calls).toEqual([]);
  });

  it('writes annotations without a precondition and returns the error when that fails', async () => {
    const t = setup();
    expect(await t.executor.annotateNode({ a: 'b' }, 'recordObservedStatus')).toBeUndefined();
    expect(t.calls).toEqual([['patchNode', 'node-a', { metadata: { annotations: { a: 'b' } } }]]);
    const failing = setup({
      patchNode: () => {
        throw apiError(503);
      },
    });
    expect(await failing.executor.annotateNode({ a: 'b' }, 'recordObservedStatus')).toBeInstanceOf(
      KubeApiError,
    );
    expect(failing.actions).toEqual([['recordObservedStatus', 'failed', 1]]);
    expect(failing.apiErrors).toEqual(['patchNode 503']);
  });
});
