// The SDK stand-in, the kubelet's graceful termination, standalone GameServers and the
// allocator's conflict retry, through the Kubernetes emulator.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { AdmissionAttributes, KubeObject } from '../../../sandbox/kube/types.js';
import { sdkPatch } from '../../../sandbox/cluster/agones/sdk.js';
import {
  EXIT_ON_SIGTERM_ANNOTATION,
  registerClusterMetrics,
  withAgonesMutation,
} from '../../../sandbox/cluster/index.js';
import { Registry } from 'prom-client';
import { GS, PODS, gameServers, startTestCluster, until, type TestCluster } from './sim-helpers.js';

let c: TestCluster;
const GSA = {
  group: 'allocation.agones.dev',
  version: 'v1',
  resource: 'gameserverallocations',
  namespace: 'default',
};

beforeAll(async () => {
  c = await startTestCluster({
    nodes: { count: 2, capacity: { pods: 20 } },
    fleets: [{ name: 'pool', replicas: 3, terminationGracePeriodSeconds: 30 }],
  });
});

afterAll(async () => {
  await c?.stop();
});

async function readyOne(): Promise<string> {
  const list = await until('a Ready GameServer', async () => {
    const l = (await gameServers(c.admin, 'pool')).filter(
      (g) => g.status.state === 'Ready' && !g.metadata.deletionTimestamp,
    );
    return l.length > 0 ? l : undefined;
  });
  return list[0].metadata.name!;
}

describe('SDK stand-in', () => {
  it('patches with a resourceVersion test first', () => {
    const cur = {
      apiVersion: 'agones.dev/v1',
      kind: 'GameServer',
      metadata: { name: 'g', resourceVersion: '41' },
      status: { state: 'Ready' },
    };
    const want = { ...cur, status: { state: 'Allocated' } };
    expect(sdkPatch(cur, want)).toEqual([
      { op: 'test', path: '/metadata/resourceVersion', value: '41' },
      { op: 'replace', path: '/status/state', value: 'Allocated' },
    ]);
  });

  it('re-reads and retries when the object moved on (422 from the test op)', async () => {
    const name = await readyOne();
    const sdk = c.sim.sdk(name);
    const before = sdk.staleRetries;
    await Promise.all([sdk.setLabel('a', '1'), sdk.setLabel('b', '2'), sdk.setAnnotation('c', '3')]);
    const gs = await c.admin.get({ ...GS, namespace: 'default', name });
    expect(gs.metadata.labels).toMatchObject({ 'agones.dev/sdk-a': '1', 'agones.dev/sdk-b': '2' });
    expect(gs.metadata.annotations).toMatchObject({ 'agones.dev/sdk-c': '3' });
    expect(sdk.staleRetries).toBeGreaterThan(before);
  });

  it('Allocate() sets Allocated and last-allocated; Ready() returns it to Ready', async () => {
    const name = await readyOne();
    const sdk = c.sim.sdk(name);
    const a = await sdk.allocate();
    expect(a.status.state).toBe('Allocated');
    expect(a.metadata.annotations!['agones.dev/last-allocated']).toBeDefined();
    const r = await sdk.ready();
    expect(r.status.state).toBe('RequestReady');
    await until('Ready again', async () => (await sdk.getGameServer()).status.state === 'Ready');
  });

  it('Reserve(seconds) holds it Reserved until reservedUntil, then it is Ready again', async () => {
    const name = await readyOne();
    const sdk = c.sim.sdk(name);
    const t0 = c.clock.now();
    const r = await sdk.reserve(20);
    expect(r.status.state).toBe('Reserved');
    expect(Date.parse(r.status.reservedUntil)).toBeGreaterThanOrEqual(Math.floor(t0 / 1000) * 1000 + 19_000);
    await until('10 simulated seconds', () => c.clock.now() > t0 + 10_000);
    expect((await sdk.getGameServer()).status.state).toBe('Reserved');
    await until(
      'Ready after the reservation',
      async () => (await sdk.getGameServer()).status.state === 'Ready',
    );
    expect(c.clock.now()).toBeGreaterThanOrEqual(t0 + 20_000);
  });

  it('never revives an Unhealthy GameServer', async () => {
    const name = await readyOne();
    const ref = { ...GS, namespace: 'default', name };
    const gs = await c.admin.get(ref);
    await c.admin.update(ref, { ...gs, status: { ...gs.status, state: 'Unhealthy' } });
    const after = await c.sim.sdk(name).ready();
    expect(after.status.state).toBe('Unhealthy');
    await c.sim.waitForFleetReady('pool', { replicas: 3 });
  });
});

describe('kubelet termination', () => {
  it('keeps a deleted pod for its grace period, then removes it', async () => {
    const name = await readyOne();
    const ref = { ...PODS, namespace: 'default', name };
    const t0 = c.clock.now();
    await c.admin.delete(ref);
    const pod = await c.admin.get(ref);
    expect(pod.metadata.deletionGracePeriodSeconds).toBe(30);
    await until('15 simulated seconds', () => c.clock.now() > t0 + 15_000);
    expect((await c.admin.get(ref)).status.phase).toBe('Running');
    // The GameServer keeps its state while the pod is only terminating.
    expect((await c.admin.get({ ...GS, namespace: 'default', name })).status.state).toBe('Ready');
    await until('pod gone', async () => !(await c.admin.get(ref).catch(() => undefined)));
    expect(c.clock.now()).toBeGreaterThanOrEqual(t0 + 29_000);
    await until('GameServer Unhealthy or gone', async () => {
      const gs = await c.admin.get({ ...GS, namespace: 'default', name }).catch(() => undefined);
      return !gs || ['Unhealthy', 'Shutdown'].includes(gs.status.state);
    });
  });

  it('a game server that exits on SIGTERM goes as soon as it exits', async () => {
    await c.sim.applyFleet({
      name: 'quick',
      replicas: 1,
      terminationGracePeriodSeconds: 300,
      podAnnotations: { [EXIT_ON_SIGTERM_ANNOTATION]: '5' },
    });
    await c.sim.waitForFleetReady('quick');
    const [gs] = await gameServers(c.admin, 'quick');
    const ref = { ...PODS, namespace: 'default', name: gs.metadata.name! };
    const t0 = c.clock.now();
    await c.admin.delete(ref);
    const seen: string[] = [];
    await until('pod gone', async () => {
      const p = await c.admin.get(ref).catch(() => undefined);
      if (p) seen.push(p.status.phase);
      return !p;
    });
    const took = c.clock.now() - t0;
    expect(took).toBeGreaterThanOrEqual(5_000);
    expect(took).toBeLessThan(300_000);
    await c.sim.scaleFleet('quick', 0);
  });
});

describe('standalone GameServer', () => {
  it('gets Agones defaults, a pod, becomes Ready, and is cleaned up on delete (pod first, then the finalizer)', async () => {
    const ref = { ...GS, namespace: 'default' };
    await c.admin.create(ref, {
      apiVersion: 'agones.dev/v1',
      kind: 'GameServer',
      metadata: { name: 'solo', labels: { owner: 'test' } },
      spec: {
        ports: [{ name: 'p', containerPort: 7777 }],
        template: { spec: { containers: [{ name: 'srv', image: 'game:1' }] } },
      },
    });
    const gs = await until('solo Ready', async () => {
      const g = await c.admin.get({ ...ref, name: 'solo' });
      return g.status?.state === 'Ready' ? g : undefined;
    });
    expect(gs.metadata.finalizers).toEqual(['agones.dev/controller']);
    expect(gs.spec.ports[0]).toMatchObject({
      portPolicy: 'Dynamic',
      protocol: 'UDP',
      hostPort: expect.any(Number),
    });
    const pod = await c.admin.get({ ...PODS, namespace: 'default', name: 'solo' });
    expect(pod.metadata.labels).toMatchObject({
      'agones.dev/role': 'gameserver',
      'agones.dev/gameserver': 'solo',
    });
    expect(pod.metadata.labels!.owner).toBeUndefined();
    expect(pod.metadata.ownerReferences).toEqual([
      expect.objectContaining({ kind: 'GameServer', name: 'solo', uid: gs.metadata.uid, controller: true }),
    ]);
    expect(pod.metadata.annotations!['agones.dev/ready-container-id']).toMatch(/^containerd:\/\//);
    await c.admin.delete({ ...ref, name: 'solo' });
    const deleting = await c.admin.get({ ...ref, name: 'solo' });
    expect(deleting.metadata.deletionTimestamp).toBeDefined();
    await until(
      'solo gone',
      async () => !(await c.admin.get({ ...ref, name: 'solo' }).catch(() => undefined)),
      20_000,
    );
    await expect(c.admin.get({ ...PODS, namespace: 'default', name: 'solo' })).rejects.toMatchObject({
      code: 404,
    });
  });
});

describe('Agones mutation on create', () => {
  it('stores a GameServer with Agones defaults from the start when the mutation is installed', async () => {
    c.emu.setAdmission(withAgonesMutation());
    try {
      const created = await c.admin.create(
        { ...GS, namespace: 'default' },
        {
          apiVersion: 'agones.dev/v1',
          kind: 'GameServer',
          metadata: { name: 'defaulted' },
          spec: {
            ports: [{ name: 'p', containerPort: 7777 }],
            template: { spec: { containers: [{ name: 'srv', image: 'game:1' }] } },
          },
        },
      );
      expect(created.metadata.finalizers).toEqual(['agones.dev/controller']);
      expect(created.status.state).toBe('PortAllocation');
      expect(created.spec.ports[0].portPolicy).toBe('Dynamic');
      await until(
        'defaulted Ready',
        async () =>
          (await c.admin.get({ ...GS, namespace: 'default', name: 'defaulted' })).status.state === 'Ready',
      );
      await c.admin.delete({ ...GS, namespace: 'default', name: 'defaulted' });
    } finally {
      c.emu.setAdmission(undefined);
    }
  });
});

describe('metrics', () => {
  it('exposes the simulation figures for Prometheus', async () => {
    const registry = new Registry();
    registerClusterMetrics(c.sim, registry);
    await c.sim.waitForFleetReady('pool', { replicas: 3 });
    const before = c.sim.allocator.stats.allocated;
    const res = await c.admin.create(GSA, {
      apiVersion: 'allocation.agones.dev/v1',
      kind: 'GameServerAllocation',
      spec: { selectors: [{ matchLabels: { 'agones.dev/fleet': 'pool' } }] },
    });
    expect(res.status.state).toBe('Allocated');
    const text = await registry.metrics();
    expect(text).toContain(`cluster_sim_allocations_total{result="allocated"} ${before + 1}`);
    expect(text).toMatch(/cluster_sim_pods_scheduled_total \d+/);
    expect(text).toMatch(/cluster_sim_sessions\{outcome="lost"\} 0/);
  });
});

describe('allocator conflicts', () => {
  it('retries after a 409: a write racing the allocation PUT (e.g. from an admission webhook) does not fail the allocation', async () => {
    await c.sim.waitForFleetReady('pool', { replicas: 3 });
    const other = c.emu.client();
    let raced = 0;
    c.emu.setAdmission({
      async admit(attrs: AdmissionAttributes) {
        const obj = attrs.object as KubeObject | undefined;
        if (
          raced === 0 &&
          attrs.operation === 'UPDATE' &&
          attrs.resource.resource === 'gameservers' &&
          obj?.status?.state === 'Allocated' &&
          attrs.oldObject?.status?.state === 'Ready'
        ) {
          raced++;
          // Someone else writes the GameServer while the allocator's PUT is in admission.
          await other.patch({ ...GS, namespace: 'default', name: attrs.name }, 'merge', {
            metadata: { annotations: { raced: 'yes' } },
          });
        }
        return { object: obj, warnings: [] };
      },
    });
    try {
      const conflictsBefore = c.sim.allocator.stats.conflicts;
      const res = await c.admin.create(GSA, {
        apiVersion: 'allocation.agones.dev/v1',
        kind: 'GameServerAllocation',
        spec: { selectors: [{ matchLabels: { 'agones.dev/fleet': 'pool' } }] },
      });
      expect(res.status.state).toBe('Allocated');
      expect(raced).toBe(1);
      expect(c.sim.allocator.stats.conflicts).toBe(conflictsBefore + 1);
      const gs = await c.admin.get({ ...GS, namespace: 'default', name: res.status.gameServerName });
      expect(gs.status.state).toBe('Allocated');
    } finally {
      c.emu.setAdmission(undefined);
    }
  });
});
