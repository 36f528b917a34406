// The cluster simulation as an API client of the real control plane: its kubelets and Agones talk
// HTTPS to kube-apiserver, the real kube-scheduler binds the game server pods, and the real
// taint-eviction controller evicts what does not tolerate the drain taint, after which the simulated
// GameServerSet replaces it; an allocated game server whose pod tolerates the taint stays.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { SimClock } from '../../../sandbox/clock.js';
import { startClusterSimulation, type ClusterSimulation } from '../../../sandbox/cluster/index.js';
import { remoteClusterHost, type RemoteClusterHost } from '../../../sandbox/cluster/remote-host.js';
import { installAgonesResources } from '../../../sandbox/control-plane/agones-crds.js';
import type { KubeObject } from '../../../sandbox/kube/types.js';
import { CONTROL_PLANE_START_MS, useControlPlane } from '../../helpers/control-plane.js';
import { waitFor } from '../../helpers/wait.js';

const GS = { group: 'agones.dev', version: 'v1', resource: 'gameservers', namespace: 'default' } as const;
const PODS = { group: '', version: 'v1', resource: 'pods', namespace: 'default' } as const;
const NODES = { group: '', version: 'v1', resource: 'nodes' } as const;
const DRAIN_TOLERATION = {
  key: 'gamelift.status/draining',
  operator: 'Equal',
  value: 'true',
  effect: 'NoExecute',
};

const cp = useControlPlane();
let host: RemoteClusterHost;
let sim: ClusterSimulation;
const clock = new SimClock({ speed: 10 });

beforeAll(async () => {
  host = remoteClusterHost({ server: cp().server, caPem: cp().caPem, token: cp().adminToken });
  await installAgonesResources(host.client());
  sim = await startClusterSimulation(host, {
    clock,
    seed: 3,
    controlPlane: 'real',
    nodes: { count: 2 },
    fleets: [{ name: 'simple', replicas: 4, scheduling: 'Packed' }],
    readyTimeoutMs: 90_000,
  });
}, CONTROL_PLANE_START_MS);

afterAll(async () => {
  await sim?.stop();
  host?.close();
  clock.stop();
});

const admin = () => host.client();
const list = async (ref: typeof GS | typeof PODS, labelSelector?: string) =>
  (await admin().list(ref, labelSelector ? { labelSelector } : {})).items;

describe('the simulation on the real control plane', () => {
  it('has no simulated scheduler or taint manager: the real ones do that work', () => {
    expect(sim.scheduler).toBeUndefined();
    expect(sim.taintManager).toBeUndefined();
  });

  it('brings a fleet to Ready with pods bound by kube-scheduler and nodes kept alive by Lease renewals', async () => {
    const pods = await list(PODS, 'agones.dev/role=gameserver');
    expect(pods).toHaveLength(4);
    for (const p of pods) expect(p.spec.nodeName).toMatch(/^ip-/);
    const scheduled = await admin().list(
      { group: '', version: 'v1', resource: 'events', namespace: 'default' },
      { fieldSelector: 'reason=Scheduled' },
    );
    expect(
      scheduled.items.some(
        (e: KubeObject) =>
          e.source?.component === 'default-scheduler' || e.reportingComponent === 'default-scheduler',
      ),
    ).toBe(true);
    const nodes = (await admin().list(NODES)).items;
    const leases = (
      await admin().list({
        group: 'coordination.k8s.io',
        version: 'v1',
        resource: 'leases',
        namespace: 'kube-node-lease',
      })
    ).items.map((l) => l.metadata.name);
    for (const n of nodes) expect(leases).toContain(n.metadata.name);
  });

  it('allocates, and a NoExecute drain taint evicts only what does not tolerate it', async () => {
    const gsa = await sim.sessions.allocate({ namespace: 'default', fleet: 'simple' });
    expect(gsa.status?.state).toBe('Allocated');
    const allocated = gsa.status.gameServerName as string;
    const node = gsa.status.nodeName as string;
    // What the webhook does at allocation: the allocated game server's pod tolerates the drain taint.
    await admin().patch({ ...PODS, name: allocated }, 'json', [
      { op: 'add', path: '/spec/tolerations/-', value: DRAIN_TOLERATION },
    ]);
    const onNode = (await list(PODS, 'agones.dev/role=gameserver')).filter((p) => p.spec.nodeName === node);
    const others = onNode.map((p) => p.metadata.name).filter((n) => n !== allocated);
    expect(others.length).toBeGreaterThan(0);

    await admin().patch({ ...NODES, name: node }, 'strategic', {
      spec: { taints: [{ key: 'gamelift.status/draining', value: 'true', effect: 'NoExecute' }] },
    });
    await waitFor(
      'the real taint-eviction controller to evict the Ready game servers on the tainted node',
      async () => {
        const names = (await list(GS)).map((g) => g.metadata.name);
        return others.every((n) => !names.includes(n));
      },
      60_000,
    );
    const kept = await admin().get({ ...GS, name: allocated });
    expect(kept.status.state).toBe('Allocated');
    expect(kept.metadata.deletionTimestamp).toBeUndefined();
    // The GameServerSet replaces them, on the node that is not tainted.
    await sim.waitForFleetReady('simple', { timeoutMs: 60_000 });
    for (const p of await list(PODS, 'agones.dev/role=gameserver'))
      if (p.metadata.name !== allocated && !p.metadata.deletionTimestamp)
        expect(p.spec.nodeName).not.toBe(node);
  });
});
