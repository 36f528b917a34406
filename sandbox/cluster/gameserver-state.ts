// The Agones GameServer lifecycle as its controllers drive it, as pure functions: the defaults
// Agones' mutation webhook applies on create, the backing pod it builds, and the next step the
// GameServer controller (and its health controller) takes for a GameServer given its pod and node.
//
// The awkward-but-real parts are kept: while the pod is only terminating the GameServer keeps its
// state (an Allocated one stays Allocated); it becomes Unhealthy when the pod is finally gone,
// reports status.reason=Evicted, cannot be scheduled for lack of free ports, or its game container
// has terminated. The GameServer controller deletes only Shutdown GameServers; Unhealthy ones are
// shut down by their GameServerSet (see scale-down.ts), a standalone Unhealthy one stays.

import type { KubeObject } from '../kube/types.js';
import {
  AGONES_GROUP,
  AGONES_SIM_VERSION,
  AGONES_VERSION,
  GAMESERVER_CONTAINER_ANNOTATION,
  GAMESERVER_FINALIZER,
  GAMESERVER_POD_LABEL,
  HOSTNAME_LABEL,
  POD_SAFE_TO_EVICT_ANNOTATION,
  READY_CONTAINER_ID_ANNOTATION,
  ROLE_GAMESERVER,
  ROLE_LABEL,
  SAFE_TO_EVICT_LABEL,
  SDK_VERSION_ANNOTATION,
  type GameServerState,
} from './names.js';
import { MSG_NODE_PORTS } from './scheduling.js';

const clone = <T>(o: T): T => structuredClone(o);

export type EvictionSafe = 'Always' | 'OnUpgrade' | 'Never';

export function stateOf(gs: KubeObject): GameServerState | '' {
  return (gs.status?.state ?? '') as GameServerState | '';
}

/** GameServer.IsBeingDeleted: a deletionTimestamp, or the Shutdown state. */
export function isBeingDeleted(gs: KubeObject): boolean {
  return Boolean(gs.metadata.deletionTimestamp) || stateOf(gs) === 'Shutdown';
}

/** GameServer.IsBeforeReady. */
export function isBeforeReady(gs: KubeObject): boolean {
  return ['PortAllocation', 'Creating', 'Starting', 'Scheduled', 'RequestReady'].includes(stateOf(gs));
}

/** The health controller's isBeforePodCreated: a pod may not exist yet in these states. */
export function isBeforePodCreated(gs: KubeObject): boolean {
  return ['', 'PortAllocation', 'Creating', 'Starting'].includes(stateOf(gs));
}

/** GameServer.IsDeletable: Allocated and Reserved ones are not, unless already being deleted. */
export function isDeletable(gs: KubeObject): boolean {
  const s = stateOf(gs);
  if (s === 'Allocated' || s === 'Reserved') return Boolean(gs.metadata.deletionTimestamp);
  return true;
}

function hasDynamicPorts(gs: KubeObject): boolean {
  return (gs.spec?.ports ?? []).some(
    (p: any) => p?.portPolicy === 'Dynamic' || p?.portPolicy === 'Passthrough',
  );
}

/** What Agones' mutation webhook does to a GameServer on CREATE (GameServer.ApplyDefaults). */
export function applyGameServerDefaults(input: KubeObject): KubeObject {
  const gs = clone(input);
  gs.apiVersion ??= `${AGONES_GROUP}/${AGONES_VERSION}`;
  gs.kind ??= 'GameServer';
  gs.metadata.annotations = {
    ...(gs.metadata.annotations ?? {}),
    [SDK_VERSION_ANNOTATION]: AGONES_SIM_VERSION,
  };
  const finalizers: string[] = gs.metadata.finalizers ?? [];
  if (!finalizers.includes(GAMESERVER_FINALIZER))
    gs.metadata.finalizers = [...finalizers, GAMESERVER_FINALIZER];
  const spec = (gs.spec ??= {});
  spec.template ??= {};
  spec.template.spec ??= {};
  const containers: any[] = spec.template.spec.containers ?? [];
  if (containers.length === 1 && !spec.container) spec.container = containers[0]?.name;
  for (const p of spec.ports ?? []) {
    p.portPolicy ||= 'Dynamic';
    p.range ||= 'default';
    p.protocol ||= 'UDP';
    p.container ||= spec.container;
  }
  spec.health ??= {};
  if (!spec.health.disabled) {
    if (!(spec.health.periodSeconds > 0)) spec.health.periodSeconds = 5;
    if (!(spec.health.failureThreshold > 0)) spec.health.failureThreshold = 3;
    if (!(spec.health.initialDelaySeconds > 0)) spec.health.initialDelaySeconds = 5;
  }
  spec.eviction ??= {};
  spec.eviction.safe ||= 'Never';
  spec.scheduling ||= 'Packed';
  spec.sdkServer ??= {};
  spec.sdkServer.logLevel ||= 'Info';
  spec.sdkServer.grpcPort ||= 9357;
  spec.sdkServer.httpPort ||= 9358;
  const status = (gs.status ??= {});
  if (!status.state) status.state = hasDynamicPorts(gs) ? 'PortAllocation' : 'Creating';
  status.eviction = { ...spec.eviction };
  if (spec.template.metadata?.annotations?.[POD_SAFE_TO_EVICT_ANNOTATION] === 'true')
    status.eviction.safe = 'Always';
  if (spec.counters) {
    status.counters = Object.fromEntries(
      Object.entries(spec.counters).map(([k, v]: [string, any]) => [
        k,
        { count: v?.count ?? 0, capacity: v?.capacity ?? 1000 },
      ]),
    );
  }
  if (spec.lists) {
    status.lists = Object.fromEntries(
      Object.entries(spec.lists).map(([k, v]: [string, any]) => [
        k,
        { capacity: v?.capacity ?? 1000, values: v?.values ?? [] },
      ]),
    );
  }
  return gs;
}

/** The GameServer after the port allocator handed out its host ports: state Creating. */
export function withAllocatedPorts(input: KubeObject, hostPorts: number[]): KubeObject {
  const gs = clone(input);
  let i = 0;
  for (const p of gs.spec?.ports ?? []) {
    if (p.portPolicy === 'Dynamic' || p.portPolicy === 'Passthrough') {
      p.hostPort = hostPorts[i++];
      if (p.portPolicy === 'Passthrough') p.containerPort = p.hostPort;
    }
  }
  gs.status = { ...(gs.status ?? {}), state: 'Creating' };
  return gs;
}

export function dynamicPortCount(gs: KubeObject): number {
  return (gs.spec?.ports ?? []).filter(
    (p: any) => p?.portPolicy === 'Dynamic' || p?.portPolicy === 'Passthrough',
  ).length;
}

/** The effective eviction setting (status.eviction, as ApplyDefaults derived it). */
export function evictionSafe(gs: KubeObject): EvictionSafe {
  const s = gs.status?.eviction?.safe ?? gs.spec?.eviction?.safe;
  if (s === 'Always' || s === 'OnUpgrade') return s;
  if (s === undefined && gs.spec?.template?.metadata?.annotations?.[POD_SAFE_TO_EVICT_ANNOTATION] === 'true')
    return 'Always';
  return 'Never';
}

/** The sidecar Agones puts first in every game server pod. */
function sdkSidecar(gs: KubeObject): any {
  return {
    name: 'agones-gameserver-sidecar',
    image: `us-docker.pkg.dev/agones-images/release/agones-sdk:${AGONES_SIM_VERSION}`,
    args: [
      `--grpc-port=${gs.spec?.sdkServer?.grpcPort ?? 9357}`,
      `--http-port=${gs.spec?.sdkServer?.httpPort ?? 9358}`,
    ],
    env: [
      { name: 'GAMESERVER_NAME', value: gs.metadata.name },
      { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
    ],
    resources: { requests: { cpu: '30m' } },
  };
}

/**
 * The backing pod (GameServer.Pod): the template's metadata and spec, the GameServer's name and
 * namespace, labels agones.dev/role and agones.dev/gameserver on top of the template's labels (the
 * GameServer's own labels are not copied), a controller ownerReference, the container ports with
 * their host ports, the SDK sidecar first, Packed pod affinity, and the eviction annotation/label
 * unless the template set them.
 */
export function buildGameServerPod(gs: KubeObject): KubeObject {
  const template = gs.spec?.template ?? {};
  const meta = clone(template.metadata ?? {});
  delete meta.generateName;
  const spec = clone(template.spec ?? {});
  const name = gs.metadata.name ?? '';
  const labels: Record<string, string> = { ...(meta.labels ?? {}) };
  labels[ROLE_LABEL] = ROLE_GAMESERVER;
  labels[GAMESERVER_POD_LABEL] = name;
  const annotations: Record<string, string> = { ...(meta.annotations ?? {}) };
  annotations[GAMESERVER_CONTAINER_ANNOTATION] = gs.spec?.container ?? '';
  annotations[SDK_VERSION_ANNOTATION] = AGONES_SIM_VERSION;

  if (!spec.hostname) spec.hostname = name.replaceAll('.', '-');
  spec.containers = clone(spec.containers ?? []);
  for (const p of gs.spec?.ports ?? []) {
    const target = spec.containers.find((c: any) => c?.name === (p.container ?? gs.spec?.container));
    if (!target) continue;
    target.ports ??= [];
    const protocols = p.protocol === 'TCPUDP' ? ['TCP', 'UDP'] : [p.protocol ?? 'UDP'];
    for (const protocol of protocols) {
      const port: any = { containerPort: p.containerPort, protocol };
      if (p.portPolicy !== 'None' && p.hostPort) port.hostPort = p.hostPort;
      target.ports.push(port);
    }
  }
  spec.containers = [sdkSidecar(gs), ...spec.containers];
  spec.serviceAccountName ??= 'agones-sdk';

  if ((gs.spec?.scheduling ?? 'Packed') === 'Packed') {
    spec.affinity ??= {};
    spec.affinity.podAffinity ??= {};
    const list = (spec.affinity.podAffinity.preferredDuringSchedulingIgnoredDuringExecution ??= []);
    list.push({
      weight: 100,
      podAffinityTerm: {
        topologyKey: HOSTNAME_LABEL,
        labelSelector: { matchLabels: { [ROLE_LABEL]: ROLE_GAMESERVER } },
      },
    });
  }

  const safe = evictionSafe(gs);
  if (!(POD_SAFE_TO_EVICT_ANNOTATION in annotations))
    annotations[POD_SAFE_TO_EVICT_ANNOTATION] = safe === 'Always' ? 'true' : 'false';
  if (!(SAFE_TO_EVICT_LABEL in labels)) labels[SAFE_TO_EVICT_LABEL] = safe === 'Never' ? 'false' : 'true';

  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      ...meta,
      name,
      namespace: gs.metadata.namespace,
      labels,
      annotations,
      ownerReferences: [
        {
          apiVersion: `${AGONES_GROUP}/${AGONES_VERSION}`,
          kind: 'GameServer',
          name,
          uid: gs.metadata.uid ?? '',
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    spec,
  };
}

/** Whether the pod is this GameServer's (a same-named pod of an earlier incarnation is not). */
export function isPodOf(pod: KubeObject, gs: KubeObject): boolean {
  const owner = (pod.metadata.ownerReferences ?? []).find((r) => r.controller);
  return (
    owner !== undefined &&
    owner.kind === 'GameServer' &&
    owner.name === gs.metadata.name &&
    (!gs.metadata.uid || owner.uid === gs.metadata.uid)
  );
}

function validIp(s: string): boolean {
  return /^(\d{1,3}\.){3}\d{1,3}$/.test(s) || (s.includes(':') && /^[0-9a-fA-F:.]+$/.test(s));
}

/** The node's address as Agones picks it: an ExternalIP, else an InternalIP; plus all addresses. */
export function nodeAddress(node: KubeObject): {
  address: string | undefined;
  addresses: { type: string; address: string }[];
} {
  const addrs: { type: string; address: string }[] = (node.status?.addresses ?? []).map((a: any) => ({
    type: a.type,
    address: a.address,
  }));
  const pick = (type: string) => addrs.find((a) => a.type === type && validIp(a.address))?.address;
  return { address: pick('ExternalIP') ?? pick('InternalIP'), addresses: addrs };
}

/** applyGameServerAddressAndPort: address, addresses (node's plus PodIP), nodeName, ports. */
export function applyAddressAndPorts(input: KubeObject, node: KubeObject, pod: KubeObject): KubeObject {
  const gs = clone(input);
  const { address, addresses } = nodeAddress(node);
  gs.status ??= {};
  gs.status.address = address;
  gs.status.addresses = [
    ...addresses,
    ...((pod.status?.podIPs ?? []) as { ip: string }[]).map((p) => ({ type: 'PodIP', address: p.ip })),
  ];
  gs.status.nodeName = pod.spec?.nodeName;
  gs.status.ports = (gs.spec?.ports ?? []).map((p: any) => ({
    name: p.name,
    port: p.portPolicy === 'None' ? p.containerPort : p.hostPort,
  }));
  return gs;
}

/** Why the health controller would mark this GameServer Unhealthy now, if it would. */
export function unhealthyReason(gs: KubeObject, pod: KubeObject | undefined): string | undefined {
  if (gs.metadata.deletionTimestamp) return undefined;
  const state = stateOf(gs);
  if (state === 'Shutdown' || state === 'Unhealthy' || state === 'Error') return undefined;
  if (gs.metadata.annotations?.['agones.dev/dev-address']) return undefined;
  if (isBeforePodCreated(gs)) return undefined;
  if (!pod || !isPodOf(pod, gs)) return 'Pod is missing';
  if (pod.status?.reason === 'Evicted') return 'Pod was evicted';
  const scheduled = (pod.status?.conditions ?? []).find((c: any) => c?.type === 'PodScheduled');
  if (
    scheduled?.status === 'False' &&
    scheduled?.reason === 'Unschedulable' &&
    String(scheduled?.message ?? '').includes(MSG_NODE_PORTS)
  ) {
    return 'Pod is unschedulable: no free ports';
  }
  const container = gs.spec?.container;
  const cs = (pod.status?.containerStatuses ?? []).find((c: any) => c?.name === container);
  if (cs?.state?.terminated && !isBeforeReady(gs)) return `Container ${container} terminated`;
  return undefined;
}

export type GameServerStep =
  | { kind: 'none'; reason?: string }
  | { kind: 'wait'; reason: string }
  | { kind: 'applyDefaults'; gameServer: KubeObject }
  | { kind: 'allocatePorts'; count: number }
  | { kind: 'createPod'; pod: KubeObject; then: KubeObject }
  | { kind: 'update'; gameServer: KubeObject; reason: string }
  | { kind: 'markReady'; podAnnotation?: { name: string; value: string }; gameServer: KubeObject }
  | { kind: 'deletePod' }
  | { kind: 'removeFinalizer'; gameServer: KubeObject }
  | { kind: 'deleteGameServer' };

function withState(gs: KubeObject, state: GameServerState): KubeObject {
  const copy = clone(gs);
  copy.status = { ...(copy.status ?? {}), state };
  return copy;
}

/**
 * The next thing Agones does for this GameServer, given its pod (undefined: none in the cache)
 * and that pod's node (undefined: unknown or none).
 */
export function nextGameServerStep(
  gs: KubeObject,
  pod: KubeObject | undefined,
  node: KubeObject | undefined,
): GameServerStep {
  const ownPod = pod && isPodOf(pod, gs) ? pod : undefined;
  // syncGameServerDeletionTimestamp
  if (gs.metadata.deletionTimestamp) {
    if (ownPod && !ownPod.metadata.deletionTimestamp) return { kind: 'deletePod' };
    if (ownPod) return { kind: 'wait', reason: 'pod is terminating' };
    if ((gs.metadata.finalizers ?? []).includes(GAMESERVER_FINALIZER)) {
      const copy = clone(gs);
      copy.metadata.finalizers = (copy.metadata.finalizers ?? []).filter(
        (f: string) => f !== GAMESERVER_FINALIZER,
      );
      return { kind: 'removeFinalizer', gameServer: copy };
    }
    return { kind: 'none', reason: 'being deleted' };
  }
  // Health controller
  const unhealthy = unhealthyReason(gs, ownPod);
  if (unhealthy) return { kind: 'update', gameServer: withState(gs, 'Unhealthy'), reason: unhealthy };

  const state = stateOf(gs);
  switch (state) {
    case '':
      return { kind: 'applyDefaults', gameServer: applyGameServerDefaults(gs) };
    case 'PortAllocation':
      return { kind: 'allocatePorts', count: dynamicPortCount(gs) };
    case 'Creating':
      if (!pod) return { kind: 'createPod', pod: buildGameServerPod(gs), then: withState(gs, 'Starting') };
      // A same-named pod of an earlier GameServer must be gone before this one's can be created.
      if (!ownPod) return { kind: 'wait', reason: `pod ${pod.metadata.name} belongs to another GameServer` };
      return { kind: 'update', gameServer: withState(gs, 'Starting'), reason: 'pod exists' };
    case 'Starting': {
      if (!ownPod) return { kind: 'wait', reason: 'pod not in cache yet' };
      if (!ownPod.spec?.nodeName)
        return { kind: 'wait', reason: `node not yet populated for Pod ${ownPod.metadata.name}` };
      if (!(ownPod.status?.podIPs ?? []).length)
        return { kind: 'wait', reason: `pod IPs not yet populated for Pod ${ownPod.metadata.name}` };
      if (!node) return { kind: 'wait', reason: `node ${ownPod.spec.nodeName} not in cache` };
      if (!nodeAddress(node).address)
        return { kind: 'wait', reason: `Could not find an address for Node: ${node.metadata.name}` };
      const next = withState(applyAddressAndPorts(gs, node, ownPod), 'Scheduled');
      return { kind: 'update', gameServer: next, reason: 'pod scheduled' };
    }
    case 'RequestReady': {
      if (!ownPod) return { kind: 'wait', reason: 'pod not in cache yet' };
      let next = clone(gs);
      if (!gs.status?.nodeName) {
        if (!ownPod.spec?.nodeName)
          return { kind: 'wait', reason: `node not yet populated for Pod ${ownPod.metadata.name}` };
        if (!node) return { kind: 'wait', reason: `node ${ownPod.spec.nodeName} not in cache` };
        next = applyAddressAndPorts(next, node, ownPod);
      }
      const containerId =
        (ownPod.status?.containerStatuses ?? []).find((c: any) => c?.name === gs.spec?.container)
          ?.containerID ?? '';
      const annotations: Record<string, string> = { ...(next.metadata.annotations ?? {}) };
      if (!(READY_CONTAINER_ID_ANNOTATION in annotations))
        annotations[READY_CONTAINER_ID_ANNOTATION] = containerId;
      next.metadata.annotations = annotations;
      next = withState(next, 'Ready');
      const podHas = READY_CONTAINER_ID_ANNOTATION in (ownPod.metadata.annotations ?? {});
      return {
        kind: 'markReady',
        podAnnotation: podHas
          ? undefined
          : { name: READY_CONTAINER_ID_ANNOTATION, value: annotations[READY_CONTAINER_ID_ANNOTATION] },
        gameServer: next,
      };
    }
    case 'Shutdown':
      return { kind: 'deleteGameServer' };
    default:
      return { kind: 'none' };
  }
}
