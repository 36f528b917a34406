// The node agent's world without kubelets, for the agent's tests and bench/reconciler.ts: its
// ServiceAccount and exactly the RBAC it needs, Nodes as EC2 nodes register (AWS providerID, the
// role=game-servers label), GameServers with their pods as Agones makes them, and statuses published
// the way pubsub publishes them (signed, sequenced, the latest key and the channel).
import { Redis } from 'ioredis';
import { DRAIN_TOLERATION, type InstanceStatus } from '../../shared/contract.js';
import {
  latestStatusKey,
  signStatusMessage,
  statusChannel,
  type StatusMessage,
} from '../../shared/status-message.js';
import { serviceAccountUser } from '../kube/authn.js';
import type { KubeObject, LocalClient, UserInfo } from '../kube/types.js';

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
