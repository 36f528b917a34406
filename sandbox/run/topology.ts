// The world the components run in: the Kubernetes control plane (the API server emulator, or the real
// one: kube-backend.ts; RBAC on, the installation from manifests/ applied), the simulated cluster on it
// (EC2 nodes labelled role=game-servers with AWS providerIDs, kubelets, Agones and the players, plus the
// scheduler and taint manager on the emulator), and the FleetIQ emulator whose one game server group
// holds exactly the nodes' instances. The simulation and FleetIQ share one SimClock.
//
// FleetIQ owns the instances: when it terminates one (drained, Spot interruption) the node goes with
// it (NotReady, pods force-deleted, Node removed); when it launches one (a replacement) a node with that
// instance id registers, and the caller starts its node agent (the DaemonSet's pod on the new node).
import type { Logger } from 'pino';
import { SeededRandom, type SimClock } from '../clock.js';
import { startClusterSimulation, type ClusterSimulation, type FleetOptions } from '../cluster/index.js';
import { startFleetIQEmulator, type FleetIQEmulator } from '../fleetiq/emulator.js';
import type { InstanceStatus } from '../../shared/contract.js';
import type { Installation } from './manifests.js';
import { startKubeBackend, type ControlPlaneKind, type KubeBackend } from './kube-backend.js';

export const GAME_SERVER_GROUP = 'agones-game-servers';

export interface TopologyOptions {
  clock: SimClock;
  seed: number;
  nodes: number;
  podsPerNode: number;
  fleet: FleetOptions;
  failurePolicy: 'Fail' | 'Ignore';
  /** The Kubernetes control plane: the emulator (default) or the real one. */
  controlPlane?: ControlPlaneKind;
  /** Simulated seconds a game server takes to exit after SIGTERM. */
  exitOnSigtermSeconds: number;
  fleetiq: { drainingTerminationDelaySeconds: number; healthCheckTimeoutSeconds: number };
  logger: (component: string) => Logger;
}

/** What the topology tells its owner; set after start (the hooks only fire once the load runs). */
export interface TopologyHooks {
  statusChanged?(instanceId: string, from: InstanceStatus, to: InstanceStatus): void;
  /** Called before the instance's node goes away. */
  instanceTerminating?(
    instanceId: string,
    nodeName: string | undefined,
    reason: string,
  ): void | Promise<void>;
  instanceLaunched?(instanceId: string): void;
  /** A replacement instance's node registered. */
  nodeJoined?(nodeName: string, instanceId: string): void | Promise<void>;
}

export interface Topology {
  clock: SimClock;
  kube: KubeBackend;
  sim: ClusterSimulation;
  fleetiq: FleetIQEmulator;
  installation: Installation;
  hooks: TopologyHooks;
  /** Instance ids of the nodes at start. */
  initialInstances: string[];
  stop(): Promise<void>;
}

export async function startTopology(o: TopologyOptions): Promise<Topology> {
  const { clock } = o;
  const hooks: TopologyHooks = {};
  // Seeded generated names: Packed allocation breaks ties by name, so placement follows the seed.
  const names = new SeededRandom((o.seed ^ 0x6e41) >>> 0);
  const kube = await startKubeBackend({
    kind: o.controlPlane ?? 'emulated',
    clock,
    failurePolicy: o.failurePolicy,
    logger: o.logger('kube-apiserver'),
    random: () => names.next(),
    // On the real API server the components run under manifests/base's admission policies too.
    admissionPolicies: true,
  });
  let sim: ClusterSimulation | undefined;
  let fleetiq: FleetIQEmulator | undefined;
  const failed = async (err: unknown): Promise<never> => {
    await fleetiq?.stop().catch(() => undefined);
    await sim?.stop().catch(() => undefined);
    await kube.stop().catch(() => undefined);
    throw err;
  };
  try {
    const { installation } = kube;
    sim = await startClusterSimulation(kube.host, {
      controlPlane: kube.kind,
      clock,
      seed: o.seed,
      logger: o.logger('cluster'),
      nodes: { count: o.nodes, capacity: { pods: o.podsPerNode } },
      podStartDelaySeconds: 2,
      readyDelaySeconds: 1,
      exitOnSigtermSeconds: o.exitOnSigtermSeconds,
      waitForFleets: false,
    });
    const s = sim;
    const initialInstances = s.nodes.instances().map((i) => i.instanceId);
    fleetiq = await startFleetIQEmulator({
      clock,
      seed: o.seed,
      logger: o.logger('fleetiq'),
      groups: [
        {
          name: GAME_SERVER_GROUP,
          instanceIds: initialInstances,
          protectionPolicy: 'FULL_PROTECTION',
          balancingStrategy: 'SPOT_PREFERRED',
        },
      ],
      drainingTerminationDelaySeconds: o.fleetiq.drainingTerminationDelaySeconds,
      healthCheckTimeoutSeconds: o.fleetiq.healthCheckTimeoutSeconds,
      replaceTerminatedInstances: true,
      onInstanceStatusChanged: (_group, instanceId, to, from) => hooks.statusChanged?.(instanceId, from, to),
      onInstanceTerminated: async (_group, instanceId, reason) => {
        const nodeName = s.nodes.nodeNameOf(instanceId);
        await hooks.instanceTerminating?.(instanceId, nodeName, reason);
        if (nodeName) await s.terminateInstance(instanceId);
      },
      onInstanceLaunched: async (_group, instanceId) => {
        hooks.instanceLaunched?.(instanceId);
        const node = await s.addNode({ instanceId });
        await hooks.nodeJoined?.(node.metadata.name!, instanceId);
      },
    });
    await s.applyFleet(o.fleet);
    const f = fleetiq;
    return {
      clock,
      kube,
      sim: s,
      fleetiq: f,
      installation,
      hooks,
      initialInstances,
      async stop() {
        await f.stop();
        await s.stop();
        await kube.stop();
      },
    };
  } catch (err) {
    return failed(err);
  }
}
