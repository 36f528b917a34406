// The world the node agent's end-to-end tests run in: the Kubernetes control plane of the tests (the
// real kube-apiserver with its controllers by default, the emulator with
// FLEETIQ_TEST_CONTROL_PLANE=emulated; RBAC on, the agent runs as its ServiceAccount with exactly the
// rules below), the FleetIQ emulator, a real redis-server, and helpers to create Nodes, GameServers
// with their pods, and to publish statuses the way pubsub does (signed, sequenced, latest key + channel).
//
// No kubelet runs here: Nodes, GameServers and pods are objects the tests write. On the real control
// plane the controllers still act on them as on a cluster: the taint-eviction controller deletes
// pods that do not tolerate the drain taint, and a deleted pod stays Terminating (no kubelet confirms it).
import { KubeConfig } from '@kubernetes/client-node';
import { Redis } from 'ioredis';
import { serviceAccountUser } from '../../sandbox/kube/authn.js';
import type { RequestLogEntry } from '../../sandbox/kube/request-log.js';
import type { KubeObject, LocalClient, UserInfo } from '../../sandbox/kube/types.js';
import { startFleetIQEmulator, type FleetIQEmulator } from '../../sandbox/fleetiq/emulator.js';
import type { SimClock } from '../../sandbox/clock.js';
import { DRAIN_TOLERATION, type InstanceStatus } from '../../shared/contract.js';
import {
  latestStatusKey,
  signStatusMessage,
  statusChannel,
  type StatusMessage,
} from '../../shared/status-message.js';
import {
  reconcilerConfig,
  startReconciler,
  type AgentTimings,
  type ReconcilerOptions,
  type RunningReconciler,
} from '../../reconciler/agent.js';
import type { ReconcilerConfig } from '../../reconciler/config.js';
import type { DecideConfig } from '../../reconciler/decide.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';
import { startTestKube, type TestKube } from '../helpers/test-kube.js';
import { gameLiftClient, silent, waitFor } from './helpers.js';

export const GROUP = 'agones-game-servers';
export const GROUP_ARN = `arn:aws:gamelift:us-east-1:123456789012:gameservergroup/${GROUP}`;
export const SECRET = 'status-signing-secret';
export const AGENT_NAMESPACE = 'fleetiq-system';
export const AGENT_SERVICE_ACCOUNT = 'fleetiq-agones-reconciler';
export const AGENT_USER: UserInfo = serviceAccountUser(AGENT_NAMESPACE, AGENT_SERVICE_ACCOUNT);

export const NODES = { group: '', version: 'v1', resource: 'nodes' } as const;
export const PODS = { group: '', version: 'v1', resource: 'pods' } as const;
export const EVENTS = { group: '', version: 'v1', resource: 'events' } as const;
export const GAMESERVERS = { group: 'agones.dev', version: 'v1', resource: 'gameservers' } as const;

/**
 * Exactly what the agent needs (README "RBAC"; manifests/base/reconciler-rbac.yaml must say the same).
 * Nodes, pods and GameServers cluster-wide because a DaemonSet's one ServiceAccount serves every
 * node, and RBAC cannot scope to "the node I run on"; Events only in `default`, where Node events go.
 */
export const AGENT_CLUSTER_ROLE_RULES = [
  { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch', 'patch'] },
  { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch', 'patch', 'delete'] },
  { apiGroups: ['agones.dev'], resources: ['gameservers'], verbs: ['get', 'patch'] },
];
export const AGENT_EVENTS_ROLE_RULES = [{ apiGroups: [''], resources: ['events'], verbs: ['create'] }];

/**
 * Creates the agent's ServiceAccount, ClusterRole and bindings where missing. The control plane of
 * the tests has them already, from manifests/ (agent-cli.test.ts checks that both say the same).
 */
export async function grantAgentRbac(admin: LocalClient): Promise<void> {
  const rbac = 'rbac.authorization.k8s.io';
  await admin
    .create({ group: '', version: 'v1', resource: 'namespaces' }, { metadata: { name: AGENT_NAMESPACE } })
    .catch(ignoreExists);
  await admin
    .create(
      { group: '', version: 'v1', resource: 'serviceaccounts', namespace: AGENT_NAMESPACE },
      { metadata: { name: AGENT_SERVICE_ACCOUNT, namespace: AGENT_NAMESPACE } },
    )
    .catch(ignoreExists);
  await admin
    .create(
      { group: rbac, version: 'v1', resource: 'clusterroles' },
      {
        apiVersion: `${rbac}/v1`,
        kind: 'ClusterRole',
        metadata: { name: 'fleetiq-agones-reconciler' },
        rules: AGENT_CLUSTER_ROLE_RULES,
      },
    )
    .catch(ignoreExists);
  await admin
    .create(
      { group: rbac, version: 'v1', resource: 'clusterrolebindings' },
      {
        apiVersion: `${rbac}/v1`,
        kind: 'ClusterRoleBinding',
        metadata: { name: 'fleetiq-agones-reconciler' },
        roleRef: { apiGroup: rbac, kind: 'ClusterRole', name: 'fleetiq-agones-reconciler' },
        subjects: [{ kind: 'ServiceAccount', name: AGENT_SERVICE_ACCOUNT, namespace: AGENT_NAMESPACE }],
      },
    )
    .catch(ignoreExists);
  await admin
    .create(
      { group: rbac, version: 'v1', resource: 'roles', namespace: 'default' },
      {
        apiVersion: `${rbac}/v1`,
        kind: 'Role',
        metadata: { name: 'fleetiq-agones-reconciler-events', namespace: 'default' },
        rules: AGENT_EVENTS_ROLE_RULES,
      },
    )
    .catch(ignoreExists);
  await admin
    .create(
      { group: rbac, version: 'v1', resource: 'rolebindings', namespace: 'default' },
      {
        apiVersion: `${rbac}/v1`,
        kind: 'RoleBinding',
        metadata: { name: 'fleetiq-agones-reconciler-events', namespace: 'default' },
        roleRef: { apiGroup: rbac, kind: 'Role', name: 'fleetiq-agones-reconciler-events' },
        subjects: [{ kind: 'ServiceAccount', name: AGENT_SERVICE_ACCOUNT, namespace: AGENT_NAMESPACE }],
      },
    )
    .catch(ignoreExists);
}

function ignoreExists(err: { code?: number }): void {
  if (err?.code !== 409) throw err;
}

/** `n` instance ids FleetIQ accepts, distinct per test file (prefix). */
export function instanceIds(prefix: string, n: number): string[] {
  return Array.from({ length: n }, (_, i) => `i-${prefix}${String(i).padStart(17 - prefix.length, '0')}`);
}

export interface World {
  kube: TestKube;
  admin: LocalClient;
  fleetiq: FleetIQEmulator;
  redis: RedisServer;
  publisher: StatusPublisher;
  agents: RunningReconciler[];
  /** The agent's kubeconfig (its ServiceAccount's token). */
  agentKubeconfig(): Promise<string>;
  /** What the agent asked the API server so far, and the answers. */
  agentRequests(): Promise<RequestLogEntry[]>;
  /** The game server FleetIQ holds for this instance in the test group, if any. */
  registered(instanceId: string): ReturnType<FleetIQEmulator['control']['gameServers']>[number] | undefined;
  startAgent(
    nodeName: string,
    options?: {
      decide?: Partial<DecideConfig>;
      config?: Partial<Omit<ReconcilerConfig, 'decide'>>;
      timings?: Partial<AgentTimings>;
      extra?: Partial<ReconcilerOptions>;
    },
  ): Promise<RunningReconciler>;
  stop(): Promise<void>;
}

export const TEST_DECIDE: Partial<DecideConfig> = {
  statusStaleAfterMs: 60_000,
  idlePeriodMs: 60_000,
  // Tests publish a status once: an empty node is deregistered without waiting for a newer DRAINING
  // (the tests of that wait set it themselves).
  drainingStableMs: 0,
};

export async function startWorld(o: {
  instanceIds: string[];
  clock?: SimClock;
  fleetiqSettings?: { drainingTerminationDelaySeconds?: number; healthCheckTimeoutSeconds?: number };
  /** The control plane (default: one of the world's own). */
  kube?: TestKube;
}): Promise<World> {
  const kube = o.kube ?? (await startTestKube(o.clock ? { clock: o.clock } : {}));
  const admin = kube.admin;
  await grantAgentRbac(admin);
  const fleetiq = await startFleetIQEmulator({
    groups: [{ name: GROUP, instanceIds: o.instanceIds }],
    logger: silent,
    ...(o.clock ? { clock: o.clock } : {}),
    drainingTerminationDelaySeconds: o.fleetiqSettings?.drainingTerminationDelaySeconds ?? 1,
    healthCheckTimeoutSeconds: o.fleetiqSettings?.healthCheckTimeoutSeconds ?? 600,
  });
  const redis = await startRedis();
  const publisher = await StatusPublisher.connect(redis.port);
  const agents: RunningReconciler[] = [];
  const gamelift = gameLiftClient(fleetiq.url, 2);
  const world: World = {
    registered: (instanceId) =>
      fleetiq.control.gameServers({ group: GROUP }).find((g) => g.gameServerId === instanceId),
    kube,
    admin,
    fleetiq,
    redis,
    publisher,
    agents,
    agentKubeconfig: () => kube.backend.kubeconfig(AGENT_USER),
    agentRequests: () => kube.requests(AGENT_USER),
    async startAgent(nodeName, opts = {}) {
      const config = reconcilerConfig({
        nodeName,
        gameServerGroup: GROUP,
        redisUrl: redis.url,
        statusSigningSecret: SECRET,
        overrides: {
          healthIntervalMs: 1_000,
          fleetiqFallbackIntervalMs: 60_000,
          shutdownGraceMs: 2_000,
          ...opts.config,
        },
        decide: { ...TEST_DECIDE, ...opts.decide },
      });
      const kubeConfig = new KubeConfig();
      kubeConfig.loadFromString(await world.agentKubeconfig());
      const agent = await startReconciler({
        config,
        kubeConfig,
        gameLift: gamelift,
        logger: silent,
        opsListen: { host: '127.0.0.1', port: 0 },
        defaultMetrics: false,
        redisOptions: { retryStrategy: () => 50 },
        imdsInstanceId: () => Promise.reject(new Error('no IMDS in tests')),
        timings: { drainSessionRecheckMs: 300, activeSessionRecheckMs: 500, ...opts.timings },
        ...opts.extra,
      });
      agents.push(agent);
      await agent.booted;
      return agent;
    },
    async stop() {
      await Promise.all(agents.map((a) => a.stop()));
      gamelift.destroy();
      publisher.close();
      await fleetiq.stop();
      await redis.stop();
      if (!o.kube) await kube.stop();
    },
  };
  return world;
}

/** Publishes statuses as pubsub does: the latest key, then the channel; signed; increasing Sequence. */
export class StatusPublisher {
  private seq = Date.now();
  private constructor(private readonly redis: Redis) {}

  static async connect(port: number): Promise<StatusPublisher> {
    const r = new Redis(port, '127.0.0.1', {
      lazyConnect: true,
      maxRetriesPerRequest: 1,
      retryStrategy: () => 50,
    });
    r.on('error', () => undefined);
    await r.connect();
    return new StatusPublisher(r);
  }

  message(instanceId: string, status: InstanceStatus, observedAt = new Date()): StatusMessage {
    return signStatusMessage(
      {
        GameServerGroupName: GROUP,
        GameServerGroupArn: GROUP_ARN,
        InstanceId: instanceId,
        InstanceStatus: status,
        ObservedAt: observedAt.toISOString(),
        Sequence: ++this.seq,
      },
      SECRET,
    );
  }

  async publish(instanceId: string, status: InstanceStatus, observedAt?: Date): Promise<StatusMessage> {
    const m = this.message(instanceId, status, observedAt);
    const raw = JSON.stringify(m);
    await this.redis.set(latestStatusKey(instanceId), raw, 'PX', 600_000);
    await this.redis.publish(statusChannel(instanceId), raw);
    return m;
  }

  close(): void {
    this.redis.disconnect();
  }
}

export function nodeObject(
  name: string,
  instanceId: string,
  extra: {
    /** null: no providerID at all (the agent then asks IMDS). */
    providerID?: string | null;
    unschedulable?: boolean;
    annotations?: Record<string, string>;
    labels?: Record<string, string>;
    taints?: object[];
  } = {},
) {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      labels: { 'kubernetes.io/hostname': name, role: 'game-servers', ...extra.labels },
      ...(extra.annotations ? { annotations: extra.annotations } : {}),
    },
    spec: {
      ...(extra.providerID === null
        ? {}
        : { providerID: extra.providerID ?? `aws:///us-east-1a/${instanceId}` }),
      ...(extra.unschedulable ? { unschedulable: true } : {}),
      ...(extra.taints ? { taints: extra.taints } : {}),
    },
    status: { conditions: [{ type: 'Ready', status: 'True' }] },
  };
}

export async function createNode(
  admin: LocalClient,
  name: string,
  instanceId: string,
  extra: Parameters<typeof nodeObject>[2] = {},
): Promise<KubeObject> {
  return admin.create(NODES, nodeObject(name, instanceId, extra));
}

/** A GameServer in `state` and its pod on `nodeName`, as Agones makes them (same name, controller reference). */
export async function createGameServer(
  admin: LocalClient,
  name: string,
  nodeName: string,
  state: string,
  o: { tolerates?: boolean; namespace?: string } = {},
): Promise<{ gs: KubeObject; pod: KubeObject }> {
  const namespace = o.namespace ?? 'default';
  const gs = await admin.create(
    { ...GAMESERVERS, namespace },
    {
      apiVersion: 'agones.dev/v1',
      kind: 'GameServer',
      metadata: { name, namespace, labels: { 'agones.dev/fleet': 'game' } },
      spec: { container: 'game', ports: [] },
      status: { state, nodeName },
    },
  );
  const pod = await admin.create(
    { ...PODS, namespace },
    {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name,
        namespace,
        labels: { 'agones.dev/role': 'gameserver', 'agones.dev/gameserver': name },
        ownerReferences: [
          {
            apiVersion: 'agones.dev/v1',
            kind: 'GameServer',
            name,
            uid: gs.metadata.uid!,
            controller: true,
            blockOwnerDeletion: true,
          },
        ],
      },
      spec: {
        nodeName,
        containers: [{ name: 'game', image: 'game:1' }],
        ...(o.tolerates ? { tolerations: [{ ...DRAIN_TOLERATION }] } : {}),
      },
    },
  );
  return { gs, pod };
}

export async function setGameServerState(
  admin: LocalClient,
  name: string,
  state: string,
  namespace = 'default',
): Promise<KubeObject> {
  return admin.patch({ ...GAMESERVERS, namespace, name }, 'merge', { status: { state } });
}

export const getNode = (admin: LocalClient, name: string) => admin.get({ ...NODES, name });
export const getGameServer = (admin: LocalClient, name: string, namespace = 'default') =>
  admin.get({ ...GAMESERVERS, namespace, name });
export const getPod = (admin: LocalClient, name: string, namespace = 'default') =>
  admin.get({ ...PODS, namespace, name });

/** Event reasons on the Node, oldest first. */
export async function nodeEventReasons(admin: LocalClient, nodeName: string): Promise<string[]> {
  const list = await admin.list(
    { ...EVENTS, namespace: 'default' },
    { fieldSelector: `involvedObject.name=${nodeName}` },
  );
  return list.items
    .filter((e) => e.involvedObject?.kind === 'Node')
    .sort((a, b) => String(a.metadata.name).localeCompare(String(b.metadata.name)))
    .map((e) => e.reason as string);
}

export { waitFor, silent };
