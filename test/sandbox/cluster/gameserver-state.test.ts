import { describe, expect, it } from '@jest/globals';
import {
  applyGameServerDefaults,
  buildGameServerPod,
  nextGameServerStep,
  nodeAddress,
  unhealthyReason,
  withAllocatedPorts,
  type GameServerStep,
} from '../../../sandbox/cluster/gameserver-state.js';
import { PortAllocator } from '../../../sandbox/cluster/ports.js';
import { SeededRandom } from '../../../sandbox/clock.js';
import type { KubeObject } from '../../../sandbox/kube/types.js';
import { gameServer, node } from './fixtures.js';

function expectStep<K extends GameServerStep['kind']>(
  step: GameServerStep,
  kind: K,
): Extract<GameServerStep, { kind: K }> {
  expect(step.kind).toBe(kind);
  return step as Extract<GameServerStep, { kind: K }>;
}

/** The pod as the scheduler and kubelet leave it once it runs on `nodeName`. */
function running(p: KubeObject, nodeName: string, ip = '192.168.1.5'): KubeObject {
  return {
    ...p,
    metadata: { ...p.metadata, uid: 'pod-uid' },
    spec: { ...p.spec, nodeName },
    status: {
      phase: 'Running',
      podIP: ip,
      podIPs: [{ ip }],
      containerStatuses: [
        { name: 'agones-gameserver-sidecar', ready: true, state: { running: {} } },
        { name: 'game', ready: true, containerID: 'containerd://abc123', state: { running: {} } },
      ],
    },
  };
}

describe('GameServer defaults (Agones mutation on create)', () => {
  it('adds the finalizer, defaults ports, eviction, scheduling and the first state', () => {
    const raw = gameServer('gs1', { ports: [{ name: 'p', containerPort: 7654 }] });
    delete raw.spec.scheduling;
    delete raw.spec.container;
    const gs = applyGameServerDefaults(raw);
    expect(gs.metadata.finalizers).toEqual(['agones.dev/controller']);
    expect(gs.spec.container).toBe('game');
    expect(gs.spec.ports[0]).toMatchObject({
      portPolicy: 'Dynamic',
      protocol: 'UDP',
      container: 'game',
      range: 'default',
    });
    expect(gs.spec.scheduling).toBe('Packed');
    expect(gs.spec.eviction).toEqual({ safe: 'Never' });
    expect(gs.status.state).toBe('PortAllocation');
    expect(gs.status.eviction).toEqual({ safe: 'Never' });
    expect(gs.spec.health).toMatchObject({ periodSeconds: 5, failureThreshold: 3, initialDelaySeconds: 5 });
    // Applying twice does not add a second finalizer.
    expect(applyGameServerDefaults(gs).metadata.finalizers).toEqual(['agones.dev/controller']);
  });

  it('starts in Creating when no port needs allocating, and derives Always from the template annotation', () => {
    const gs = applyGameServerDefaults(
      gameServer('gs1', {
        ports: [{ name: 'p', portPolicy: 'Static', containerPort: 7654, hostPort: 7777 }],
        templateAnnotations: { 'cluster-autoscaler.kubernetes.io/safe-to-evict': 'true' },
      }),
    );
    expect(gs.status.state).toBe('Creating');
    expect(gs.status.eviction.safe).toBe('Always');
  });

  it('assigns allocated host ports to Dynamic and Passthrough ports and moves to Creating', () => {
    const gs = applyGameServerDefaults(
      gameServer('gs1', {
        ports: [
          { name: 'a', portPolicy: 'Dynamic', containerPort: 7654 },
          { name: 'b', portPolicy: 'Static', containerPort: 7655, hostPort: 9999 },
          { name: 'c', portPolicy: 'Passthrough' },
        ],
      }),
    );
    const next = withAllocatedPorts(gs, [7001, 7002]);
    expect(next.spec.ports.map((p: any) => p.hostPort)).toEqual([7001, 9999, 7002]);
    expect(next.spec.ports[2].containerPort).toBe(7002);
    expect(next.status.state).toBe('Creating');
  });
});

describe('backing pod', () => {
  const gs = applyGameServerDefaults(
    gameServer('fleet-abc12', {
      labels: { 'agones.dev/fleet': 'fleet', 'agones.dev/gameserverset': 'fleet-xyz' },
      templateLabels: { app: 'game', team: 'red' },
    }),
  );
  const p = buildGameServerPod(gs);

  it('has the GameServer name and namespace and a controller ownerReference with its uid', () => {
    expect(p.metadata.name).toBe('fleet-abc12');
    expect(p.metadata.namespace).toBe('default');
    expect(p.metadata.ownerReferences).toEqual([
      {
        apiVersion: 'agones.dev/v1',
        kind: 'GameServer',
        name: 'fleet-abc12',
        uid: 'uid-fleet-abc12',
        controller: true,
        blockOwnerDeletion: true,
      },
    ]);
    expect(p.spec.hostname).toBe('fleet-abc12');
  });

  it('carries the role, gameserver and template labels but not the fleet labels', () => {
    expect(p.metadata.labels).toEqual({
      app: 'game',
      team: 'red',
      'agones.dev/role': 'gameserver',
      'agones.dev/gameserver': 'fleet-abc12',
      'agones.dev/safe-to-evict': 'false',
    });
  });

  it('puts the SDK sidecar first and the host port on the game container', () => {
    expect(p.spec.containers.map((c: any) => c.name)).toEqual(['agones-gameserver-sidecar', 'game']);
    expect(p.spec.containers[1].ports).toEqual([{ containerPort: 7654, hostPort: 7001, protocol: 'UDP' }]);
  });

  it('maps the eviction setting to the safe-to-evict annotation and label', () => {
    const cases: [string, string, string][] = [
      ['Never', 'false', 'false'],
      ['OnUpgrade', 'false', 'true'],
      ['Always', 'true', 'true'],
    ];
    for (const [safe, annotation, label] of cases) {
      const pod = buildGameServerPod(applyGameServerDefaults(gameServer('g', { eviction: safe as 'Never' })));
      expect(pod.metadata.annotations!['cluster-autoscaler.kubernetes.io/safe-to-evict']).toBe(annotation);
      expect(pod.metadata.labels!['agones.dev/safe-to-evict']).toBe(label);
    }
  });

  it('keeps safe-to-evict values the template already set', () => {
    const pod = buildGameServerPod(
      applyGameServerDefaults(
        gameServer('g', {
          eviction: 'Never',
          templateLabels: { 'agones.dev/safe-to-evict': 'true' },
          templateAnnotations: { 'cluster-autoscaler.kubernetes.io/safe-to-evict': 'false' },
        }),
      ),
    );
    expect(pod.metadata.labels!['agones.dev/safe-to-evict']).toBe('true');
    expect(pod.metadata.annotations!['cluster-autoscaler.kubernetes.io/safe-to-evict']).toBe('false');
  });

  it('adds the Packed preferred pod affinity, and none for Distributed', () => {
    expect(p.spec.affinity.podAffinity.preferredDuringSchedulingIgnoredDuringExecution).toEqual([
      {
        weight: 100,
        podAffinityTerm: {
          topologyKey: 'kubernetes.io/hostname',
          labelSelector: { matchLabels: { 'agones.dev/role': 'gameserver' } },
        },
      },
    ]);
    const d = buildGameServerPod(applyGameServerDefaults(gameServer('g', { scheduling: 'Distributed' })));
    expect(d.spec.affinity).toBeUndefined();
  });
});

describe('GameServer lifecycle steps', () => {
  const n1 = node('node-1', { ip: '10.0.1.7' });

  it('walks PortAllocation → Creating → Starting → Scheduled → RequestReady → Ready', () => {
    let gs = applyGameServerDefaults(
      gameServer('gs1', { ports: [{ name: 'default', containerPort: 7654 }] }),
    );
    expectStep(nextGameServerStep({ ...gs, status: {} }, undefined, undefined), 'applyDefaults');

    const alloc = expectStep(nextGameServerStep(gs, undefined, undefined), 'allocatePorts');
    expect(alloc.count).toBe(1);
    gs = withAllocatedPorts(gs, [7100]);

    const create = expectStep(nextGameServerStep(gs, undefined, undefined), 'createPod');
    expect(create.then.status.state).toBe('Starting');
    expect(create.pod.spec.containers[1].ports[0].hostPort).toBe(7100);
    gs = create.then;
    const pod = create.pod;

    // Starting: waits for the pod to be bound, to have an IP, and for its node.
    expect(expectStep(nextGameServerStep(gs, pod, undefined), 'wait').reason).toMatch(
      /node not yet populated/,
    );
    const bound = { ...pod, spec: { ...pod.spec, nodeName: 'node-1' } };
    expect(expectStep(nextGameServerStep(gs, bound, n1), 'wait').reason).toMatch(/pod IPs not yet populated/);
    const run = running(pod, 'node-1');
    expectStep(nextGameServerStep(gs, run, undefined), 'wait');
    const scheduled = expectStep(nextGameServerStep(gs, run, n1), 'update');
    expect(scheduled.gameServer.status).toMatchObject({
      state: 'Scheduled',
      nodeName: 'node-1',
      address: '10.0.1.7',
      ports: [{ name: 'default', port: 7100 }],
    });
    expect(scheduled.gameServer.status.addresses).toEqual([
      { type: 'InternalIP', address: '10.0.1.7' },
      { type: 'Hostname', address: 'node-1' },
      { type: 'PodIP', address: '192.168.1.5' },
    ]);
    gs = scheduled.gameServer;

    // Scheduled waits for the SDK.
    expect(nextGameServerStep(gs, run, n1).kind).toBe('none');
    gs = { ...gs, status: { ...gs.status, state: 'RequestReady' } };
    const ready = expectStep(nextGameServerStep(gs, run, n1), 'markReady');
    expect(ready.gameServer.status.state).toBe('Ready');
    expect(ready.podAnnotation).toEqual({
      name: 'agones.dev/ready-container-id',
      value: 'containerd://abc123',
    });
    expect(ready.gameServer.metadata.annotations!['agones.dev/ready-container-id']).toBe(
      'containerd://abc123',
    );
    // Once the pod has the annotation only the GameServer is written.
    const annotated = {
      ...run,
      metadata: {
        ...run.metadata,
        annotations: { ...run.metadata.annotations, 'agones.dev/ready-container-id': 'x' },
      },
    };
    expect(expectStep(nextGameServerStep(gs, annotated, n1), 'markReady').podAnnotation).toBeUndefined();
  });

  it('prefers the ExternalIP when the node has one', () => {
    expect(nodeAddress(node('n', { ip: '10.0.0.9', externalIp: '54.1.2.3' })).address).toBe('54.1.2.3');
    expect(nodeAddress(node('n', { ip: 'not-an-ip' })).address).toBeUndefined();
  });

  it('moves Creating to Starting when the pod already exists, and waits for a foreign same-named pod to go', () => {
    const gs = applyGameServerDefaults(gameServer('gs1', { state: 'Creating' }));
    const mine = buildGameServerPod(gs);
    expect(expectStep(nextGameServerStep(gs, mine, undefined), 'update').gameServer.status.state).toBe(
      'Starting',
    );
    const foreign = buildGameServerPod({ ...gs, metadata: { ...gs.metadata, uid: 'older' } });
    expectStep(nextGameServerStep(gs, foreign, undefined), 'wait');
  });

  it('keeps the state while the pod is only terminating, Allocated included', () => {
    for (const state of ['Ready', 'Allocated', 'Reserved', 'Scheduled']) {
      const gs = applyGameServerDefaults(gameServer('gs1', { state, nodeName: 'node-1' }));
      const terminating = running(buildGameServerPod(gs), 'node-1');
      terminating.metadata.deletionTimestamp = '2026-01-01T00:00:00Z';
      expect(unhealthyReason(gs, terminating)).toBeUndefined();
      expect(nextGameServerStep(gs, terminating, n1).kind).toBe('none');
    }
  });

  it('goes Unhealthy once the pod is gone, evicted, unschedulable for ports, or its game container ended', () => {
    const gs = applyGameServerDefaults(gameServer('gs1', { state: 'Allocated', nodeName: 'node-1' }));
    const pod = running(buildGameServerPod(gs), 'node-1');
    const gone = expectStep(nextGameServerStep(gs, undefined, n1), 'update');
    expect(gone.gameServer.status.state).toBe('Unhealthy');
    expect(gone.reason).toBe('Pod is missing');

    const evicted = { ...pod, status: { ...pod.status, phase: 'Failed', reason: 'Evicted' } };
    expect(unhealthyReason(gs, evicted)).toBe('Pod was evicted');

    const terminated = structuredClone(pod);
    terminated.status.containerStatuses[1].state = { terminated: { exitCode: 0 } };
    expect(unhealthyReason(gs, terminated)).toMatch(/terminated/);

    const unschedulable = {
      ...pod,
      spec: { ...pod.spec, nodeName: undefined },
      status: {
        phase: 'Pending',
        conditions: [
          {
            type: 'PodScheduled',
            status: 'False',
            reason: 'Unschedulable',
            message: "0/1 nodes are available: 1 node(s) didn't have free ports for the requested pod ports.",
          },
        ],
      },
    };
    expect(unhealthyReason({ ...gs, status: { ...gs.status, state: 'Scheduled' } }, unschedulable)).toMatch(
      /free ports/,
    );

    // A pod of another incarnation (other owner uid) counts as missing.
    const other = {
      ...pod,
      metadata: { ...pod.metadata, ownerReferences: [{ ...pod.metadata.ownerReferences![0], uid: 'other' }] },
    };
    expect(unhealthyReason(gs, other)).toBe('Pod is missing');
  });

  it('does not judge health before the pod exists, nor in terminal states', () => {
    for (const state of ['PortAllocation', 'Creating', 'Starting', 'Unhealthy', 'Shutdown', 'Error']) {
      expect(
        unhealthyReason(applyGameServerDefaults(gameServer('gs1', { state })), undefined),
      ).toBeUndefined();
    }
    expect(
      unhealthyReason(
        gameServer('gs1', { state: 'Ready', deletionTimestamp: '2026-01-01T00:00:00Z' }),
        undefined,
      ),
    ).toBeUndefined();
  });

  it('deletes Shutdown GameServers, then deletes the pod, waits for it, and drops the finalizer', () => {
    const gs = applyGameServerDefaults(gameServer('gs1', { state: 'Shutdown', nodeName: 'node-1' }));
    const pod = running(buildGameServerPod(gs), 'node-1');
    expectStep(nextGameServerStep(gs, pod, n1), 'deleteGameServer');

    const deleting = { ...gs, metadata: { ...gs.metadata, deletionTimestamp: '2026-01-01T00:00:00Z' } };
    expectStep(nextGameServerStep(deleting, pod, n1), 'deletePod');
    const terminating = { ...pod, metadata: { ...pod.metadata, deletionTimestamp: '2026-01-01T00:00:00Z' } };
    expectStep(nextGameServerStep(deleting, terminating, n1), 'wait');
    const fin = expectStep(nextGameServerStep(deleting, undefined, n1), 'removeFinalizer');
    expect(fin.gameServer.metadata.finalizers).toEqual([]);
    expect(nextGameServerStep(fin.gameServer, undefined, n1).kind).toBe('none');
  });

  it('leaves an Unhealthy GameServer for its GameServerSet to shut down', () => {
    const gs = applyGameServerDefaults(gameServer('gs1', { state: 'Unhealthy' }));
    expect(nextGameServerStep(gs, undefined, undefined).kind).toBe('none');
  });
});

describe('port allocator', () => {
  it('hands a port to at most as many GameServers as there are nodes', () => {
    const pa = new PortAllocator(7000, 7002, new SeededRandom(1));
    pa.setNodeCount(2);
    const got = Array.from({ length: 6 }, () => pa.allocate(1)![0]);
    for (const p of [7000, 7001, 7002]) expect(got.filter((x) => x === p)).toHaveLength(2);
    expect(pa.allocate(1)).toBeUndefined();
    pa.release(7001);
    expect(pa.allocate(1)).toEqual([7001]);
  });

  it('gives distinct ports within one GameServer and remembers ports in use after a restart', () => {
    const pa = new PortAllocator(7000, 7001);
    expect(new Set(pa.allocate(2)).size).toBe(2);
    const pb = new PortAllocator(7000, 7000);
    pb.markTaken(7000);
    expect(pb.allocate(1)).toBeUndefined();
    expect(pb.holders(7000)).toBe(1);
    expect(() => new PortAllocator(9000, 8000)).toThrow(/port range/);
  });
});
