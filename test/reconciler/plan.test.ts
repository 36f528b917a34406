// How decide()'s actions become requests (pure): grouping into steps, the Node merge patch, the
// GameServer compare-and-swap; and the pure views of Kubernetes objects. (The pod toleration patch is the
// drain contract's: test/shared/drain-contract.test.ts.)
import { describe, expect, it } from '@jest/globals';
import jsonpatch from 'fast-json-patch';
import { DRAIN_TAINT, DRAIN_TOLERATION, INSTANCE_STATUS_LABEL } from '../../shared/contract.js';
import { decide, type DrainAction } from '../../reconciler/decide.js';
import { nodeMergePatch, planSteps, shutdownPatch, stepsBeforeReobserving } from '../../reconciler/plan.js';
import { gameServerViews, nodeView } from '../../reconciler/kube-objects.js';
import { compareResourceVersions, type KubeObjectLike } from '../../shared/kube-object.js';
import {
  ACTED_ON_OBSERVED_AT_ANNOTATION,
  DRAIN_ANNOTATIONS,
  DRAIN_PHASE_ANNOTATION,
  DRAIN_PHASE_LABEL,
} from '../../shared/drain-contract.js';
import { CONFIG, T0, fresh, gs, observation } from './world.js';

const ev = (reason: string): DrainAction => ({
  kind: 'emitEvent',
  type: 'Normal',
  reason: reason as never,
  message: reason,
});

describe('stepsBeforeReobserving', () => {
  const shut = (name: string): DrainAction => ({
    kind: 'shutdownGameServer',
    namespace: 'default',
    name,
    resourceVersion: '1',
    state: 'Ready',
  });
  const del = (name: string): DrainAction => ({
    kind: 'deletePod',
    namespace: 'default',
    name,
    graceSeconds: 5,
  });
  const shape = (actions: DrainAction[]) => stepsBeforeReobserving(planSteps(actions)).map((s) => s.kind);

  it('stops after a cordon that a fence follows, keeping the cordon step and its events', () => {
    const steps = stepsBeforeReobserving(
      planSteps([{ kind: 'cordon' }, ev('Cordoned'), shut('a'), ev('Fencing'), { kind: 'taint' }]),
    );
    expect(steps.map((s) => [s.kind, s.events.map((e) => e.reason)])).toEqual([['patchNode', ['Cordoned']]]);
  });

  it('stops after a cordon that pod deletions follow', () => {
    expect(shape([{ kind: 'label', status: 'SPOT_TERMINATING' }, { kind: 'cordon' }, del('a')])).toEqual([
      'patchNode',
    ]);
  });

  it('keeps every step without a cordon, or when nothing fences or deletes after it', () => {
    expect(shape([shut('a'), { kind: 'taint' }, del('b')])).toEqual(['fence', 'patchNode', 'deletePods']);
    expect(shape([{ kind: 'cordon' }, ev('Cordoned'), { kind: 'deregister' }])).toEqual([
      'patchNode',
      'deregister',
    ]);
    expect(shape([shut('a'), { kind: 'cordon' }, { kind: 'taint' }])).toEqual(['fence', 'patchNode']);
    expect(shape([])).toEqual([]);
  });
});

describe('planSteps', () => {
  it('merges node actions around events into one patch; events follow the step they describe', () => {
    const steps = planSteps([
      {
        kind: 'recordDrainState',
        record: { phase: 'Cordoned', reason: 'fleetiq', startedAt: T0, cordonedByAgent: true },
      },
      { kind: 'label', status: 'DRAINING' },
      ev('FleetIQDraining'),
      { kind: 'cordon' },
      ev('Cordoned'),
    ]);
    expect(steps.map((s) => [s.kind, s.actions.map((a) => a.kind), s.events.map((e) => e.reason)])).toEqual([
      ['patchNode', ['recordDrainState', 'label', 'cordon'], ['FleetIQDraining', 'Cordoned']],
    ]);
  });

  it('keeps the order of node patches, fences and deletions (the Spot path: fence before taint)', () => {
    const d = decide(
      observation({
        status: fresh('SPOT_TERMINATING'),
        gameServers: [gs('a', 'Ready'), gs('b', 'Allocated')],
      }),
      CONFIG,
    );
    const steps = planSteps(d.actions);
    expect(steps.map((s) => s.kind)).toEqual(['patchNode', 'fence', 'patchNode']);
    // The replay high-water mark rides in the same Node patch as the drain record.
    expect(steps[0].actions.map((a) => a.kind)).toEqual([
      'recordActedOn',
      'recordDrainState',
      'label',
      'cordon',
    ]);
    expect(steps[2].actions.map((a) => a.kind)).toEqual(['taint']);
    // The agent observes again after the cordon step before fencing: the notice and the cordon are
    // reported with the step that did them, or not at all.
    expect(steps.map((s) => s.events.map((e) => e.reason))).toEqual([
      ['SpotTerminating', 'Cordoned'],
      ['Fencing'],
      ['Tainted'],
    ]);
  });

  it('puts deregistration in a step of its own, before recording it', () => {
    const steps = planSteps([
      { kind: 'deregister' },
      { kind: 'recordDrainState', record: null },
      ev('Deregistered'),
    ]);
    expect(steps.map((s) => s.kind)).toEqual(['deregister', 'patchNode']);
    expect(steps[1].events).toHaveLength(1);
  });

  it('separates fences from pod deletions, and events with no step before them still go out', () => {
    const steps = planSteps([
      ev('Early'),
      { kind: 'shutdownGameServer', namespace: 'd', name: 'a', resourceVersion: '1', state: 'Ready' },
      { kind: 'addToleration', namespace: 'd', pod: 'b' },
      { kind: 'deletePod', namespace: 'd', name: 'a', graceSeconds: 5 },
      { kind: 'deletePod', namespace: 'd', name: 'b', graceSeconds: 5 },
    ]);
    expect(steps.map((s) => [s.kind, s.actions.length, s.events.length])).toEqual([
      ['none', 0, 1],
      ['fence', 2, 0],
      ['deletePods', 2, 0],
    ]);
  });
});

describe('nodeMergePatch', () => {
  const node: KubeObjectLike = {
    metadata: { name: 'n', resourceVersion: '42', labels: { a: 'b' }, annotations: { x: 'y' } },
    spec: {
      taints: [
        { key: 'other', value: 'v', effect: 'NoSchedule' },
        { key: DRAIN_TAINT.key, value: 'false', effect: 'NoSchedule' },
      ],
    },
  };

  it('carries the resourceVersion as a precondition, labels, annotations and the cordon', () => {
    const p = nodeMergePatch(node, [
      {
        kind: 'recordDrainState',
        record: { phase: 'Cordoned', reason: 'fleetiq', startedAt: T0, cordonedByAgent: true },
      },
      { kind: 'label', status: 'DRAINING' },
      { kind: 'cordon' },
    ]);
    expect(p.metadata.resourceVersion).toBe('42');
    // The phase is a label too (kubectl -L / -l), beside the annotation that carries the times.
    expect(p.metadata.labels).toEqual({
      [INSTANCE_STATUS_LABEL]: 'DRAINING',
      [DRAIN_PHASE_LABEL]: 'Cordoned',
    });
    expect(p.metadata.annotations[DRAIN_PHASE_ANNOTATION]).toBe('Cordoned');
    expect(p.spec).toEqual({ unschedulable: true });
    expect(p.spec.taints).toBeUndefined();
  });

  it('writes the replay high-water mark as an RFC 3339 annotation that a revert keeps', () => {
    const p = nodeMergePatch(node, [
      { kind: 'recordActedOn', observedAt: T0 + 123 },
      { kind: 'recordDrainState', record: null },
    ]);
    expect(p.metadata.annotations[ACTED_ON_OBSERVED_AT_ANNOTATION]).toBe(new Date(T0 + 123).toISOString());
    expect(p.metadata.annotations[DRAIN_PHASE_ANNOTATION]).toBeNull();
  });

  it('replaces the whole taint list: exactly one drain taint, other taints kept', () => {
    const p = nodeMergePatch(node, [{ kind: 'taint' }]);
    expect(p.spec.taints).toEqual([{ key: 'other', value: 'v', effect: 'NoSchedule' }, { ...DRAIN_TAINT }]);
    const q = nodeMergePatch(node, [
      { kind: 'untaint' },
      { kind: 'uncordon' },
      { kind: 'recordDrainState', record: null },
    ]);
    expect(q.spec).toEqual({
      taints: [{ key: 'other', value: 'v', effect: 'NoSchedule' }],
      unschedulable: null,
    });
    for (const a of DRAIN_ANNOTATIONS) expect(q.metadata.annotations[a]).toBeNull();
    expect(q.metadata.labels).toEqual({ [DRAIN_PHASE_LABEL]: 'Active' });
    const onlyDrain = nodeMergePatch(
      { metadata: { name: 'n', resourceVersion: '1' }, spec: { taints: [{ ...DRAIN_TAINT }] } },
      [{ kind: 'untaint' }],
    );
    expect(onlyDrain.spec.taints).toBeNull();
  });
});

describe('shutdownPatch', () => {
  const gameServer = { metadata: { name: 'g', resourceVersion: '7' }, status: { state: 'Ready' } };

  it('moves the GameServer to Shutdown only if nothing changed since it was read', () => {
    const ops = shutdownPatch(gameServer, { resourceVersion: '7', state: 'Ready' }) as jsonpatch.Operation[];
    expect(jsonpatch.applyPatch(structuredClone(gameServer), ops).newDocument.status.state).toBe('Shutdown');
    const allocated = { metadata: { name: 'g', resourceVersion: '8' }, status: { state: 'Allocated' } };
    expect(() => jsonpatch.applyPatch(structuredClone(allocated), ops, true)).toThrow();
    // No state yet: the resourceVersion alone guards it.
    const bare = { metadata: { name: 'g', resourceVersion: '3' } };
    const bareOps = shutdownPatch(bare, { resourceVersion: '3', state: '' }) as jsonpatch.Operation[];
    expect(jsonpatch.applyPatch(structuredClone(bare), bareOps).newDocument).toMatchObject({
      status: { state: 'Shutdown' },
    });
  });
});

describe('views of Kubernetes objects', () => {
  it('reads the node as decide() sees it', () => {
    const v = nodeView({
      metadata: { name: 'n', labels: { a: '1' }, annotations: { b: '2' } },
      spec: { unschedulable: true, taints: [{ key: 'k', effect: 'NoExecute', timeAdded: 'x' }] },
    });
    expect(v).toEqual({
      labels: { a: '1' },
      annotations: { b: '2' },
      unschedulable: true,
      taints: [{ key: 'k', effect: 'NoExecute' }],
    });
    expect(nodeView({ metadata: { name: 'n' } })).toEqual({
      labels: {},
      annotations: {},
      unschedulable: false,
      taints: [],
    });
  });

  it('joins pods with their GameServers, leaving out pods whose GameServer is gone, in a stable order', () => {
    const pod = (name: string, extra: Partial<KubeObjectLike['metadata']> = {}, tolerations?: object[]) => ({
      metadata: { name, namespace: 'default', ...extra },
      spec: { ...(tolerations ? { tolerations } : {}) },
    });
    const servers: Record<string, KubeObjectLike | null> = {
      'default/b': { metadata: { name: 'b', resourceVersion: '5' }, status: { state: 'Allocated' } },
      'default/a': { metadata: { name: 'a', resourceVersion: '6' }, status: {} },
      'default/gone': null,
    };
    const views = gameServerViews(
      [
        pod('b', {}, [{ ...DRAIN_TOLERATION }]),
        pod('gone'),
        pod('a', { deletionTimestamp: '2026-01-01T00:00:00Z' }),
      ],
      (k) => servers[k],
    );
    expect(views).toEqual([
      {
        namespace: 'default',
        name: 'a',
        resourceVersion: '6',
        state: '',
        podTolerates: false,
        podTerminating: true,
      },
      {
        namespace: 'default',
        name: 'b',
        resourceVersion: '5',
        state: 'Allocated',
        podTolerates: true,
        podTerminating: false,
      },
    ]);
  });

  it("marks a game server Agones has not yet recorded on the pod's node", () => {
    const pod = (name: string) => ({ metadata: { name, namespace: 'default' }, spec: { nodeName: 'n1' } });
    const servers: Record<string, KubeObjectLike> = {
      'default/starting': {
        metadata: { name: 'starting', resourceVersion: '1' },
        status: { state: 'Creating' },
      },
      'default/placed': {
        metadata: { name: 'placed', resourceVersion: '2' },
        status: { state: 'Ready', nodeName: 'n1' },
      },
    };
    const views = gameServerViews([pod('starting'), pod('placed')], (k) => servers[k]);
    expect(views.map((v) => [v.name, v.notYetOnNode])).toEqual([
      ['placed', undefined],
      ['starting', true],
    ]);
  });

  it('compares resourceVersions only when both are integers', () => {
    expect(compareResourceVersions('10', '9')).toBe(1);
    expect(compareResourceVersions('9', '10')).toBe(-1);
    expect(compareResourceVersions('12345678901234567890', '12345678901234567890')).toBe(0);
    expect(compareResourceVersions('abc', '1')).toBeUndefined();
    expect(compareResourceVersions(undefined, '1')).toBeUndefined();
  });
});
