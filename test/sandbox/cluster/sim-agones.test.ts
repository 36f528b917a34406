// The simulated Agones through the Kubernetes emulator: allocation order and cordons, fleet
// scaling, instance termination and the session ledger.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { KubeObject } from '../../../sandbox/kube/types.js';
import {
  NODES,
  PODS,
  byNode,
  gameServers,
  pods,
  startTestCluster,
  until,
  type TestCluster,
} from './sim-helpers.js';

let c: TestCluster;
const GSA = {
  group: 'allocation.agones.dev',
  version: 'v1',
  resource: 'gameserverallocations',
  namespace: 'default',
};

beforeAll(async () => {
  // Four nodes of two pods each: a Packed fleet of 6 fills three of them, 2 + 2 + 2.
  c = await startTestCluster({
    nodes: { count: 4, capacity: { pods: 2 } },
    fleets: [{ name: 'arena', replicas: 6, terminationGracePeriodSeconds: 5 }],
  });
});

afterAll(async () => {
  await c?.stop();
});

async function allocate(
  spec: Record<string, unknown> = { selectors: [{ matchLabels: { 'agones.dev/fleet': 'arena' } }] },
): Promise<KubeObject> {
  return c.admin.create(GSA, { apiVersion: 'allocation.agones.dev/v1', kind: 'GameServerAllocation', spec });
}

/** Waits until the allocator's cache and node counts show `name` Allocated (the watch caught up). */
async function allocatorSaw(name: string): Promise<void> {
  await until(
    `allocator cache shows ${name} Allocated`,
    () => c.sim.allocator.cache.get(`default/${name}`)?.status?.state === 'Allocated',
  );
}

/** Ends the sessions and waits until the fleet is back to `replicas` Ready GameServers and nothing else. */
async function release(names: string[], replicas = 6): Promise<void> {
  for (const n of names) await c.sim.sdk(n).shutdown();
  await until(`fleet back to ${replicas} Ready`, async () => {
    const list = await gameServers(c.admin, 'arena');
    return (
      list.length === replicas &&
      list.every((g) => g.status.state === 'Ready' && !g.metadata.deletionTimestamp)
    );
  });
  await until(
    'allocator cache caught up',
    () => [...c.sim.allocator.cache.values()].filter((g) => g.status?.state === 'Ready').length === replicas,
  );
}

describe('allocation', () => {
  it('Packed allocations fill the busiest node first', async () => {
    const nodesOf: string[] = [];
    const names: string[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await allocate();
      expect(res.status.state).toBe('Allocated');
      nodesOf.push(res.status.nodeName);
      names.push(res.status.gameServerName);
      await allocatorSaw(res.status.gameServerName);
    }
    // Pairs on one node each: a node is filled before the next is touched.
    expect(nodesOf[0]).toBe(nodesOf[1]);
    expect(nodesOf[2]).toBe(nodesOf[3]);
    expect(nodesOf[4]).toBe(nodesOf[5]);
    expect(new Set(nodesOf).size).toBe(3);
    await release(names);
  });

  it('answers like Agones: Allocated with address, ports, node and source local; the GameServer carries last-allocated', async () => {
    const res = await allocate({
      selectors: [{ matchLabels: { 'agones.dev/fleet': 'arena' } }],
      metadata: { labels: { match: 'm1' } },
    });
    expect(res.status).toMatchObject({ state: 'Allocated', source: 'local' });
    expect(res.status.address).toMatch(/^10\.0\.\d+\.\d+$/);
    expect(res.status.ports).toEqual([{ name: 'default', port: expect.any(Number) }]);
    expect(res.metadata.name).toBe(res.status.gameServerName);
    const gs = await c.admin.get({
      ...GSA,
      group: 'agones.dev',
      resource: 'gameservers',
      name: res.status.gameServerName,
    });
    expect(gs.status.state).toBe('Allocated');
    expect(gs.status.nodeName).toBe(res.status.nodeName);
    expect(gs.metadata.labels!.match).toBe('m1');
    expect(gs.metadata.annotations!['agones.dev/last-allocated']).toMatch(
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$/,
    );
    const none = await allocate({ selectors: [{ matchLabels: { 'agones.dev/fleet': 'nope' } }] });
    expect(none.status).toEqual({ state: 'UnAllocated' });
    await expect(allocate({ selectors: [{ gameServerState: 'Reserved' }] })).rejects.toMatchObject({
      code: 422,
    });
    await release([res.status.gameServerName]);
  });

  it('an allocation can land on a cordoned node (the allocator never reads nodes)', async () => {
    // A fresh empty node is the only one left uncordoned.
    const spare = (await c.sim.addNode()).metadata.name!;
    const nodes = (await c.admin.list(NODES)).items.map((n) => n.metadata.name!).filter((n) => n !== spare);
    try {
      for (const n of nodes)
        await c.admin.patch({ ...NODES, name: n }, 'merge', { spec: { unschedulable: true } });
      const res = await allocate();
      expect(res.status.state).toBe('Allocated');
      expect(nodes).toContain(res.status.nodeName);
      await allocatorSaw(res.status.gameServerName);
      // Its replacement cannot go to a cordoned node.
      await release([res.status.gameServerName]);
      const after = byNode(await gameServers(c.admin, 'arena'), ['Ready']);
      expect(after.get(spare)).toHaveLength(1);
    } finally {
      for (const n of nodes)
        await c.admin.patch({ ...NODES, name: n }, 'merge', { spec: { unschedulable: null } });
    }
  });
});

describe('fleet scaling', () => {
  it('scales up and down; Packed scale-down empties the least full node first and never takes Allocated ones', async () => {
    await c.sim.scaleFleet('arena', 10);
    await c.sim.waitForFleetReady('arena', { replicas: 10 });
    // Five nodes of two pods: all full.
    expect([...byNode(await gameServers(c.admin, 'arena')).values()].map((l) => l.length)).toEqual([
      2, 2, 2, 2, 2,
    ]);
    // Allocate both on one node; then scale to 3: 7 Ready ones must go, from the least full nodes.
    const a1 = await allocate();
    await allocatorSaw(a1.status.gameServerName);
    const a2 = await allocate();
    await allocatorSaw(a2.status.gameServerName);
    expect(a2.status.nodeName).toBe(a1.status.nodeName);
    await c.sim.scaleFleet('arena', 3);
    const after = await until('scaled to 3', async () => {
      const list = (await gameServers(c.admin, 'arena')).filter(
        (g) => !g.metadata.deletionTimestamp && g.status.state !== 'Shutdown',
      );
      return list.length === 3 && list.every((g) => ['Ready', 'Allocated'].includes(g.status.state))
        ? list
        : undefined;
    });
    const allocated = after
      .filter((g) => g.status.state === 'Allocated')
      .map((g) => g.metadata.name)
      .sort();
    expect(allocated).toEqual([a1.status.gameServerName, a2.status.gameServerName].sort());
    // The one Ready survivor shares no node with another Ready one: two whole nodes were emptied first.
    const m = byNode(after, ['Ready']);
    expect([...m.values()].map((l) => l.length)).toEqual([1]);
    // Scaling to 0 keeps the Allocated ones.
    await c.sim.scaleFleet('arena', 0);
    await until('only Allocated left', async () => {
      const list = (await gameServers(c.admin, 'arena')).filter(
        (g) => !g.metadata.deletionTimestamp && g.status.state !== 'Shutdown',
      );
      return list.length === 2 && list.every((g) => g.status.state === 'Allocated');
    });
    await c.sim.scaleFleet('arena', 6);
    await release([a1.status.gameServerName, a2.status.gameServerName]);
    expect(c.sim.scheduler!.unschedulableCount()).toBe(0);
  });
});

describe('instance termination and sessions', () => {
  it('terminateInstance removes the node and its pods, and the GameServers are replaced elsewhere', async () => {
    const m = byNode(await gameServers(c.admin, 'arena'));
    const [node, list] = [...m.entries()][0];
    const instanceId = c.sim.nodes.instanceIdOf(node)!;
    expect(instanceId).toMatch(/^i-[0-9a-f]{17}$/);
    const nodeObj = await c.admin.get({ ...NODES, name: node });
    expect(nodeObj.spec.providerID).toMatch(new RegExp(`^aws:///us-east-1[abc]/${instanceId}$`));
    const nodeCount = (await c.admin.list(NODES)).items.length;
    const res = await c.sim.terminateInstance(instanceId);
    expect(res).toEqual({ nodeName: node, podsDeleted: list.length });
    await expect(c.admin.get({ ...NODES, name: node })).rejects.toMatchObject({ code: 404 });
    expect(await pods(c.admin, node)).toEqual([]);
    await until('6 Ready elsewhere', async () => {
      const list = await gameServers(c.admin, 'arena');
      return list.length === 6 && list.every((g) => g.status.state === 'Ready' && g.status.nodeName !== node);
    });
    for (const g of list)
      await expect(
        c.admin.get({ ...PODS, namespace: 'default', name: g.metadata.name! }),
      ).rejects.toMatchObject({ code: 404 });
    // A replacement instance.
    await c.sim.addNode();
    expect((await c.admin.list(NODES)).items).toHaveLength(nodeCount);
  });

  it('the ledger counts a completed session, and a lost one when its node is terminated under it', async () => {
    const done = await c.sim.sessions.startSession({ fleet: 'arena', durationSeconds: 5 });
    expect(done).toBeDefined();
    const held = await c.sim.sessions.startSession({ fleet: 'arena', durationSeconds: 3600 });
    expect(held).toBeDefined();
    await until('the short session completed', () => c.sim.ledger.get(done!.id)!.outcome === 'completed');
    const node = held!.nodeName!;
    await c.sim.terminateInstance(c.sim.nodes.instanceIdOf(node)!);
    const lost = await until('the held session lost', () =>
      c.sim.ledger.get(held!.id)!.outcome === 'lost' ? c.sim.ledger.get(held!.id) : undefined,
    );
    expect(['node-gone', 'pod-gone', 'gameserver-left-allocated:Unhealthy']).toContain(
      lost.lostReason!.replace(/:Unhealthy$/, ':Unhealthy'),
    );
    const s = c.sim.ledger.summary();
    expect(s).toMatchObject({ started: 2, completed: 1, lost: 1, active: 0 });
    expect(c.sim.sessions.allocations.succeeded).toBe(2);
    // The completed session's GameServer was shut down by its SDK and deleted.
    await until(
      'the completed session GameServer deleted',
      async () =>
        !(await gameServers(c.admin, 'arena')).some(
          (g) => g.metadata.name === done!.gameServer && !g.metadata.deletionTimestamp,
        ),
    );
  });
});
