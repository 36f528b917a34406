// The simulated cluster through the Kubernetes emulator: NoExecute taints, cordons, tolerations.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DRAIN_TAINT, DRAIN_TOLERATION } from '../../../shared/contract.js';
import type { KubeObject } from '../../../sandbox/kube/types.js';
import {
  NODES,
  PODS,
  byNode,
  gameServers,
  pods,
  recordStates,
  startTestCluster,
  until,
  type TestCluster,
} from './sim-helpers.js';

let c: TestCluster;

beforeAll(async () => {
  c = await startTestCluster({
    nodes: { count: 3, capacity: { pods: 8 } },
    fleets: [{ name: 'game', replicas: 4, terminationGracePeriodSeconds: 20 }],
  });
});

afterAll(async () => {
  await c?.stop();
});

async function setNode(name: string, spec: Record<string, unknown>): Promise<void> {
  await c.admin.patch({ ...NODES, name }, 'merge', { spec });
}

async function fleetByNode(): Promise<Map<string, KubeObject[]>> {
  return byNode(await gameServers(c.admin, 'game'));
}

describe('NoExecute taints, cordons and tolerations in the simulated cluster', () => {
  it('Packed pod scheduling put the fleet on one node', async () => {
    const m = await fleetByNode();
    expect([...m.values()].map((l) => l.length)).toEqual([4]);
  });

  it('a NoExecute taint evicts untolerated game server pods; their GameServers go Unhealthy and are replaced on other nodes', async () => {
    const before = await fleetByNode();
    const [node] = [...before.keys()];
    const oldNames = before.get(node)!.map((g) => g.metadata.name!);
    const rec = recordStates(c.admin);
    try {
      await setNode(node, { taints: [{ ...DRAIN_TAINT }] });
      // The taint manager deletes (gracefully): the pods get a deletionTimestamp, the GameServers stay Ready meanwhile.
      await until('pods marked for deletion', async () => {
        const p = await pods(c.admin, node);
        return p.length === 4 && p.every((x) => x.metadata.deletionTimestamp) ? p : undefined;
      });
      const during = await gameServers(c.admin, 'game');
      for (const name of oldNames)
        expect(during.find((g) => g.metadata.name === name)?.status.state).toBe('Ready');
      const marked = await pods(c.admin, node);
      expect(marked[0].status.conditions.find((x: any) => x.type === 'DisruptionTarget')).toMatchObject({
        status: 'True',
        reason: 'DeletionByTaintManager',
      });
      // Once the pods are gone: Unhealthy, shut down, replaced elsewhere.
      const after = await until('4 replacements Ready on other nodes', async () => {
        const m = await fleetByNode();
        const total = [...m.values()].reduce((n, l) => n + l.length, 0);
        return total === 4 && !m.has(node) ? m : undefined;
      });
      expect(after.has(node)).toBe(false);
      for (const name of oldNames) {
        expect(rec.states.get(name)).toEqual(
          expect.arrayContaining(['Ready', 'Unhealthy', 'Shutdown', 'DELETED']),
        );
        const seq = rec.states.get(name)!;
        expect(seq.indexOf('Unhealthy')).toBeLessThan(seq.indexOf('Shutdown'));
      }
      expect(await pods(c.admin, node)).toEqual([]);
    } finally {
      rec.stop();
      await setNode(node, { taints: null });
    }
  });

  it('a pod whose toleration matches survives the taint; untolerated ones on the node do not', async () => {
    const m = await fleetByNode();
    const [node, list] = [...m.entries()].sort((a, b) => b[1].length - a[1].length)[0];
    const keep = list[0].metadata.name!;
    // What the adapter's webhook does on allocation: add the drain toleration to the pod.
    const pod = await c.admin.get({ ...PODS, namespace: 'default', name: keep });
    await c.admin.update(
      { ...PODS, namespace: 'default', name: keep },
      { ...pod, spec: { ...pod.spec, tolerations: [...pod.spec.tolerations, DRAIN_TOLERATION] } },
    );
    try {
      await setNode(node, { taints: [{ ...DRAIN_TAINT }] });
      await until('untolerated pods on the node gone', async () => {
        const p = await pods(c.admin, node);
        return p.length === 1 && p[0].metadata.name === keep ? p : undefined;
      });
      // Well past the grace period the tolerating pod still runs, untouched.
      const t = c.clock.now();
      await until('60 simulated seconds', () => c.clock.now() > t + 60_000);
      const survivor = await c.admin.get({ ...PODS, namespace: 'default', name: keep });
      expect(survivor.metadata.deletionTimestamp).toBeUndefined();
      expect(survivor.status.phase).toBe('Running');
      expect(c.sim.taintManager!.pendingEvictions()).toEqual([]);
    } finally {
      await setNode(node, { taints: null });
    }
  });

  it('honours tolerationSeconds: the pod goes when they run out, counted from the taint', async () => {
    const m = await fleetByNode();
    const [node, list] = [...m.entries()][0];
    const victim = list[0].metadata.name!;
    const ref = { ...PODS, namespace: 'default', name: victim };
    const pod = await c.admin.get(ref);
    const toleration = { key: 'maintenance', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 40 };
    await c.admin.update(ref, {
      ...pod,
      spec: { ...pod.spec, tolerations: [...pod.spec.tolerations, toleration] },
    });
    const others = list.slice(1).map((g) => g.metadata.name!);
    for (const o of others) {
      const p = await c.admin.get({ ...PODS, namespace: 'default', name: o });
      await c.admin.update(
        { ...PODS, namespace: 'default', name: o },
        {
          ...p,
          spec: {
            ...p.spec,
            tolerations: [
              ...p.spec.tolerations,
              { key: 'maintenance', operator: 'Exists', effect: 'NoExecute' },
            ],
          },
        },
      );
    }
    const taintedAt = c.clock.now();
    try {
      await setNode(node, {
        taints: [
          {
            key: 'maintenance',
            value: 'now',
            effect: 'NoExecute',
            timeAdded: new Date(taintedAt).toISOString().replace(/\.\d+Z$/, 'Z'),
          },
        ],
      });
      const pending = await until('eviction scheduled', () =>
        c.sim.taintManager!.pendingEvictions().find((e) => e.pod === `default/${victim}`),
      );
      expect(pending.at).toBeGreaterThanOrEqual(taintedAt - 1000 + 40_000);
      expect(pending.at).toBeLessThanOrEqual(taintedAt + 40_000);
      // Not before: at 30 simulated seconds the pod is still there and not terminating.
      await until('30 simulated seconds', () => c.clock.now() > taintedAt + 30_000);
      expect((await c.admin.get(ref)).metadata.deletionTimestamp).toBeUndefined();
      const deleted = await until('deletion after 40 s', async () => {
        const p = await c.admin.get(ref).catch(() => undefined);
        return !p || p.metadata.deletionTimestamp ? c.clock.now() : undefined;
      });
      expect(deleted).toBeGreaterThanOrEqual(taintedAt + 39_000);
      // Pods tolerating it forever stay.
      for (const o of others)
        expect(
          (await c.admin.get({ ...PODS, namespace: 'default', name: o })).metadata.deletionTimestamp,
        ).toBeUndefined();
    } finally {
      await setNode(node, { taints: null });
    }
  });

  it('a cordoned node receives no new pods, and the scheduler says why when nothing fits', async () => {
    await until('fleet settled', async () => {
      const m = await fleetByNode();
      return [...m.values()].reduce((n, l) => n + l.length, 0) === 4;
    });
    const nodes = (await c.admin.list(NODES)).items.map((n) => n.metadata.name!);
    const [busiest, there] = [...(await fleetByNode()).entries()].sort(
      (a, b) => b[1].length - a[1].length,
    )[0];
    const before = new Set(there.map((g) => g.metadata.name));
    await setNode(busiest, { unschedulable: true });
    try {
      await c.sim.scaleFleet('game', 8);
      await c.sim.waitForFleetReady('game', { replicas: 8 });
      const all = await gameServers(c.admin, 'game');
      const fresh = all.filter((g) => !g.metadata.deletionTimestamp);
      // Packed would have put the new ones on the busiest node; cordoned, it got none.
      const onCordoned = fresh.filter((g) => g.status.nodeName === busiest);
      expect(onCordoned.length).toBeGreaterThan(0);
      for (const g of onCordoned) expect(before.has(g.metadata.name)).toBe(true);
      // Fill the rest: 2 other nodes x 8 pods; ask for more than fits.
      const others = nodes.filter((n) => n !== busiest);
      const capacityLeft = others.length * 8;
      const onOthers = fresh.filter((g) => others.includes(g.status.nodeName)).length;
      await c.sim.scaleFleet('game', 8 + (capacityLeft - onOthers) + 1);
      const pending = await until('an unschedulable pod', async () => {
        const p = (await pods(c.admin)).find((x) =>
          x.status.conditions?.some((k: any) => k.type === 'PodScheduled' && k.status === 'False'),
        );
        return p;
      });
      const cond = pending.status.conditions.find((k: any) => k.type === 'PodScheduled');
      expect(cond.reason).toBe('Unschedulable');
      expect(cond.message).toBe(
        '0/3 nodes are available: 1 node(s) were unschedulable, 2 Too many pods. ' +
          'preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod.',
      );
      // Uncordoning lets it in.
      await setNode(busiest, { unschedulable: null });
      await until(
        'the pending pod scheduled',
        async () =>
          (await c.admin.get({ ...PODS, namespace: 'default', name: pending.metadata.name! })).spec
            .nodeName === busiest,
      );
    } finally {
      await setNode(busiest, { unschedulable: null });
      await c.sim.scaleFleet('game', 4);
    }
  });
});
