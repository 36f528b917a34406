// Names Kubernetes and Agones use on the objects the simulated cluster writes. They are theirs, not
// ours: spelled exactly as the real controllers spell them so that what reads them (the adapter,
// kubectl, a test) sees what it would see on a real cluster.

export const AGONES_GROUP = 'agones.dev';
export const AGONES_VERSION = 'v1';
export const ALLOCATION_GROUP = 'allocation.agones.dev';

export type { GameServerState } from '../../shared/agones.js';

/** Pod label every game server pod carries; Packed pod affinity selects on it. */
export const ROLE_LABEL = 'agones.dev/role';
export const ROLE_GAMESERVER = 'gameserver';
/** Pod label naming its GameServer. */
export const GAMESERVER_POD_LABEL = 'agones.dev/gameserver';
/** GameServer labels set by the GameServerSet (not copied to pods). */
export const FLEET_LABEL = 'agones.dev/fleet';
export const GAMESERVERSET_LABEL = 'agones.dev/gameserverset';
/** Pod label matched by Agones' PDB (`maxUnavailable: 0%` over "false"). */
export const SAFE_TO_EVICT_LABEL = 'agones.dev/safe-to-evict';
/** Cluster Autoscaler's pod annotation. */
export const POD_SAFE_TO_EVICT_ANNOTATION = 'cluster-autoscaler.kubernetes.io/safe-to-evict';
/** The finalizer Agones' mutation webhook puts on every GameServer. */
export const GAMESERVER_FINALIZER = 'agones.dev/controller';
export const LAST_ALLOCATED_ANNOTATION = 'agones.dev/last-allocated';
export const GAMESERVER_CONTAINER_ANNOTATION = 'agones.dev/container';
export const READY_CONTAINER_ID_ANNOTATION = 'agones.dev/ready-container-id';
export const SDK_VERSION_ANNOTATION = 'agones.dev/sdk-version';
export const DEV_ADDRESS_ANNOTATION = 'agones.dev/dev-address';

export const HOSTNAME_LABEL = 'kubernetes.io/hostname';
export const ZONE_LABEL = 'topology.kubernetes.io/zone';

/** Taints the node lifecycle controller puts on nodes by condition (TaintNodesByCondition). */
export const TAINT_NODE_NOT_READY = 'node.kubernetes.io/not-ready';
export const TAINT_NODE_UNREACHABLE = 'node.kubernetes.io/unreachable';
export const TAINT_NODE_UNSCHEDULABLE = 'node.kubernetes.io/unschedulable';

/** The version string the simulated Agones stamps on what it creates. */
export const AGONES_SIM_VERSION = '1.50.0-sim';
