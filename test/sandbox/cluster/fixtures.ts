// Plain Kubernetes/Agones objects for the pure decision tests.
import type { KubeObject } from '../../../sandbox/kube/types.js';

export function node(
  name: string,
  opts: {
    labels?: Record<string, string>;
    taints?: any[];
    unschedulable?: boolean;
    pods?: number;
    cpu?: string;
    memory?: string;
    ready?: 'True' | 'False' | 'Unknown' | null;
    ip?: string;
    externalIp?: string;
    rv?: string;
  } = {},
): KubeObject {
  const capacity = { pods: String(opts.pods ?? 110), cpu: opts.cpu ?? '4', memory: opts.memory ?? '16Gi' };
  const addresses = [
    { type: 'InternalIP', address: opts.ip ?? '10.0.0.1' },
    { type: 'Hostname', address: name },
  ];
  if (opts.externalIp) addresses.push({ type: 'ExternalIP', address: opts.externalIp });
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      resourceVersion: opts.rv ?? '1',
      labels: { 'kubernetes.io/hostname': name, ...(opts.labels ?? {}) },
    },
    spec: {
      ...(opts.taints ? { taints: opts.taints } : {}),
      ...(opts.unschedulable ? { unschedulable: true } : {}),
    },
    status: {
      capacity,
      allocatable: capacity,
      addresses,
      conditions: opts.ready === null ? [] : [{ type: 'Ready', status: opts.ready ?? 'True' }],
    },
  };
}

export function pod(
  name: string,
  opts: {
    namespace?: string;
    nodeName?: string;
    labels?: Record<string, string>;
    tolerations?: any[];
    nodeSelector?: Record<string, string>;
    affinity?: any;
    cpu?: string;
    memory?: string;
    hostPort?: number;
    phase?: string;
    deletionTimestamp?: string;
  } = {},
): KubeObject {
  const requests: Record<string, string> = {};
  if (opts.cpu) requests.cpu = opts.cpu;
  if (opts.memory) requests.memory = opts.memory;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: opts.namespace ?? 'default',
      labels: opts.labels ?? {},
      ...(opts.deletionTimestamp ? { deletionTimestamp: opts.deletionTimestamp } : {}),
    },
    spec: {
      ...(opts.nodeName ? { nodeName: opts.nodeName } : {}),
      ...(opts.tolerations ? { tolerations: opts.tolerations } : {}),
      ...(opts.nodeSelector ? { nodeSelector: opts.nodeSelector } : {}),
      ...(opts.affinity ? { affinity: opts.affinity } : {}),
      containers: [
        {
          name: 'game',
          image: 'game:1',
          resources: Object.keys(requests).length ? { requests } : {},
          ...(opts.hostPort
            ? { ports: [{ containerPort: 7654, hostPort: opts.hostPort, protocol: 'UDP' }] }
            : {}),
        },
      ],
    },
    status: { phase: opts.phase ?? 'Running' },
  };
}

/** The Packed preferred pod affinity Agones puts on game server pods. */
export const PACKED_AFFINITY = {
  podAffinity: {
    preferredDuringSchedulingIgnoredDuringExecution: [
      {
        weight: 100,
        podAffinityTerm: {
          topologyKey: 'kubernetes.io/hostname',
          labelSelector: { matchLabels: { 'agones.dev/role': 'gameserver' } },
        },
      },
    ],
  },
};

export function gsPod(name: string, nodeName?: string, extra: Parameters<typeof pod>[1] = {}): KubeObject {
  return pod(name, {
    nodeName,
    labels: { 'agones.dev/role': 'gameserver', 'agones.dev/gameserver': name },
    ...extra,
  });
}

export function gameServer(
  name: string,
  opts: {
    namespace?: string;
    state?: string;
    nodeName?: string;
    labels?: Record<string, string>;
    uid?: string;
    rv?: string;
    created?: string;
    deletionTimestamp?: string;
    scheduling?: 'Packed' | 'Distributed';
    eviction?: 'Always' | 'OnUpgrade' | 'Never';
    templateLabels?: Record<string, string>;
    templateAnnotations?: Record<string, string>;
    ports?: any[];
  } = {},
): KubeObject {
  return {
    apiVersion: 'agones.dev/v1',
    kind: 'GameServer',
    metadata: {
      name,
      namespace: opts.namespace ?? 'default',
      uid: opts.uid ?? `uid-${name}`,
      resourceVersion: opts.rv ?? '10',
      creationTimestamp: opts.created ?? '2026-01-01T00:00:00Z',
      labels: opts.labels ?? {},
      ...(opts.deletionTimestamp ? { deletionTimestamp: opts.deletionTimestamp } : {}),
    },
    spec: {
      container: 'game',
      scheduling: opts.scheduling ?? 'Packed',
      ...(opts.eviction ? { eviction: { safe: opts.eviction } } : {}),
      ports: opts.ports ?? [
        { name: 'default', portPolicy: 'Dynamic', containerPort: 7654, protocol: 'UDP', hostPort: 7001 },
      ],
      template: {
        metadata: {
          ...(opts.templateLabels ? { labels: opts.templateLabels } : {}),
          ...(opts.templateAnnotations ? { annotations: opts.templateAnnotations } : {}),
        },
        spec: { containers: [{ name: 'game', image: 'game:1' }] },
      },
    },
    status: {
      ...(opts.state ? { state: opts.state } : {}),
      ...(opts.nodeName ? { nodeName: opts.nodeName } : {}),
    },
  };
}
