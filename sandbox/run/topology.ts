// The world the components run in, on the system builder (sandbox/system/system.ts): the Kubernetes
// control plane (the API server emulator, or the real one: kube-backend.ts; RBAC on, the
// installation from manifests/ applied), the simulated cluster on it
// (EC2 nodes labelled role=game-servers with AWS providerIDs, kubelets, Agones and the players, plus the
// scheduler and taint manager on the emulator), and the FleetIQ emulator whose one game server group
// holds exactly the nodes' instances. The simulation and FleetIQ share one SimClock.
//
// FleetIQ owns the instances: when it terminates one (drained, Spot interruption) the node goes with
// it (NotReady, pods force-deleted, Node removed); when it launches one (a replacement) a node with that
// instance id registers, and the caller starts its node agent (the DaemonSet's pod on the new node).
import { SeededRandom, type SimClock } from '../clock.js';
import type { ClusterSimulation, FleetOptions } from '../cluster/index.js';
import type { FleetIQEmulator } from '../fleetiq/emulator.js';
import { GAME_SERVER_NODE_LABEL, type InstanceStatus } from '../../shared/contract.js';
import type { System } from '../system/system.js';
import type { Installation } from './manifests.js';
import type { KubeBackend } from './kube-backend.js';

export const GAME_SERVER_GROUP = 'agones-game-servers';

/**
 * The node label naming the node group a node came from, as EKS managed node groups label theirs. The
 * sandbox's nodes start in NODE_GROUP; nodes launched once an upgrade has begun join `topology.nodeGroup`
 * (upgrade.ts moves it on), so `kubectl fleetiq drain --selector` can select the old ones.
 */
export const NODE_GROUP_LABEL = 'eks.amazonaws.com/nodegroup';
export const NODE_GROUP = 'game-servers-1';

export interface TopologyOptions {
  seed: number;
  nodes: number;
  podsPerNode: number;
  fleet: FleetOptions;
  /** Simulated seconds a game server takes to exit after SIGTERM. */
  exitOnSigtermSeconds: number;
  fleetiq: { drainingTerminationDelaySeconds: number; healthCheckTimeoutSeconds: number };
}

/**
 * The emulator's generated names for a sandbox seeded `seed`: Packed allocation breaks ties by name,
 * so placement follows the seed.
 */
export function topologyNames(seed: number): () => number {
  const names = new SeededRandom((seed ^ 0x6e41) >>> 0);
  return () => names.next();
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
  /** The node group (NODE_GROUP_LABEL) that nodes launched from now on join. */
  nodeGroup: string;
}

/**
 * The cluster and FleetIQ on `system` (whose control plane was started with topologyNames(seed)
 * and, on the real one, the admission policies); they stop with the system.
 */
export async function startTopology(system: System, o: TopologyOptions): Promise<Topology> {
  const { clock, kube } = system;
  const hooks: TopologyHooks = {};
  const group = { current: NODE_GROUP };
  const s = await system.startCluster({
    seed: o.seed,
    nodes: {
      count: o.nodes,
      capacity: { pods: o.podsPerNode },
      labels: { [GAME_SERVER_NODE_LABEL.key]: GAME_SERVER_NODE_LABEL.value, [NODE_GROUP_LABEL]: NODE_GROUP },
    },
    podStartDelaySeconds: 2,
    readyDelaySeconds: 1,
    exitOnSigtermSeconds: o.exitOnSigtermSeconds,
    waitForFleets: false,
  });
  const initialInstances = s.nodes.instances().map((i) => i.instanceId);
  const fleetiq = await system.startFleetIQ({
    seed: o.seed,
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
      const node = await s.addNode({
        instanceId,
        labels: {
          [GAME_SERVER_NODE_LABEL.key]: GAME_SERVER_NODE_LABEL.value,
          [NODE_GROUP_LABEL]: group.current,
        },
      });
      await hooks.nodeJoined?.(node.metadata.name!, instanceId);
    },
  });
  await s.applyFleet(o.fleet);
  return {
    clock,
    kube,
    sim: s,
    fleetiq,
    installation: system.installation,
    hooks,
    initialInstances,
    get nodeGroup() {
      return group.current;
    },
    set nodeGroup(name: string) {
      group.current = name;
    },
  };
}
