// The simulated EC2 instances and their Node objects: registration as a kubelet would do it (EKS
// naming, providerID aws:///<az>/<instance-id>, capacity, Ready condition, addresses), and what
// happens when an instance is terminated under a running cluster: the node stops reporting
// (NotReady), its pods are force-deleted by the pod garbage collector, and the cloud node
// lifecycle controller removes the Node object.

import type { Logger } from 'pino';
import type { KubeObject } from '../kube/types.js';
import type { SeededRandom, SimClock } from '../clock.js';
import { CLOUD_NODE_LIFECYCLE, NODE_CONTROLLER, POD_GC, kubelet } from './identities.js';
import { NODES, PODS, isApiErrorCode, named, type ClusterHost } from './host.js';
import { formatRFC3339 } from './time.js';

export interface NodeCapacity {
  pods?: number;
  cpu?: string;
  memory?: string;
}

export interface NodeOptions {
  /** Node name; default the EKS form ip-10-0-x-y.<region>.internal from its address. */
  name?: string;
  labels?: Record<string, string>;
  capacity?: NodeCapacity;
  zone?: string;
  instanceType?: string;
  /** i- followed by 17 hex digits; generated when absent. */
  instanceId?: string;
  taints?: { key: string; value?: string; effect: string }[];
}

export interface NodePoolDefaults {
  labels?: Record<string, string>;
  capacity?: NodeCapacity;
  zones?: string[];
  region?: string;
  instanceType?: string;
  capacityType?: 'SPOT' | 'ON_DEMAND';
  /**
   * Each kubelet renews its Lease in kube-node-lease every 10 s of real time, as a real kubelet
   * does: a real node lifecycle controller takes a node whose Lease expires for dead (default false:
   * the emulated control plane has no such controller).
   */
  heartbeat?: boolean;
}

/** A kubelet's Lease renewal interval and duration (the kubelet's defaults). */
const LEASE_RENEW_MS = 10_000;
const LEASE_DURATION_SECONDS = 40;
const LEASES = { group: 'coordination.k8s.io', version: 'v1', resource: 'leases' } as const;

export interface InstanceInfo {
  instanceId: string;
  nodeName: string;
  zone: string;
  privateIp: string;
}

const INSTANCE_ID = /^i-[0-9a-f]{17}$/;

export class NodePool {
  private readonly byInstance = new Map<string, InstanceInfo>();
  private readonly byNode = new Map<string, InstanceInfo>();
  private readonly heartbeats = new Map<string, NodeJS.Timeout>();
  private nextAddress = 0;
  private zoneCursor = 0;

  constructor(
    private readonly host: ClusterHost,
    private readonly clock: SimClock,
    private readonly random: SeededRandom,
    private readonly logger: Logger,
    private readonly defaults: NodePoolDefaults = {},
  ) {}

  private region(): string {
    return this.defaults.region ?? 'us-east-1';
  }

  private nextIp(): string {
    const n = this.nextAddress++;
    return `10.0.${Math.floor(n / 250) % 256}.${(n % 250) + 4}`;
  }

  /** The Node object a kubelet on a fresh instance registers. */
  buildNode(options: NodeOptions = {}): { node: KubeObject; info: InstanceInfo } {
    const zones = this.defaults.zones ?? [`${this.region()}a`, `${this.region()}b`, `${this.region()}c`];
    const zone = options.zone ?? zones[this.zoneCursor++ % zones.length];
    const instanceId = options.instanceId ?? `i-${this.random.string(17, '0123456789abcdef')}`;
    if (!INSTANCE_ID.test(instanceId))
      throw new Error(`instanceId must be i- followed by 17 hex digits, got ${instanceId}`);
    const ip = this.nextIp();
    const domain = this.region() === 'us-east-1' ? 'ec2.internal' : `${this.region()}.compute.internal`;
    const name = options.name ?? `ip-${ip.replaceAll('.', '-')}.${domain}`;
    const cap = { ...(this.defaults.capacity ?? {}), ...(options.capacity ?? {}) };
    const capacity = {
      cpu: cap.cpu ?? '8',
      memory: cap.memory ?? '16Gi',
      pods: String(cap.pods ?? 110),
      'ephemeral-storage': '80Gi',
    };
    const now = formatRFC3339(this.clock.now());
    const condition = (type: string, status: string, reason: string, message: string) => ({
      type,
      status,
      reason,
      message,
      lastHeartbeatTime: now,
      lastTransitionTime: now,
    });
    const node: KubeObject = {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: {
        name,
        labels: {
          'kubernetes.io/hostname': name,
          'kubernetes.io/os': 'linux',
          'kubernetes.io/arch': 'amd64',
          'node.kubernetes.io/instance-type':
            options.instanceType ?? this.defaults.instanceType ?? 'c5.2xlarge',
          'topology.kubernetes.io/region': this.region(),
          'topology.kubernetes.io/zone': zone,
          'eks.amazonaws.com/capacityType': this.defaults.capacityType ?? 'SPOT',
          ...(this.defaults.labels ?? {}),
          ...(options.labels ?? {}),
        },
        annotations: {
          'node.alpha.kubernetes.io/ttl': '0',
          'volumes.kubernetes.io/controller-managed-attach-detach': 'true',
        },
      },
      spec: {
        providerID: `aws:///${zone}/${instanceId}`,
        ...(options.taints?.length ? { taints: options.taints } : {}),
      },
      status: {
        capacity,
        allocatable: { ...capacity },
        conditions: [
          condition(
            'MemoryPressure',
            'False',
            'KubeletHasSufficientMemory',
            'kubelet has sufficient memory available',
          ),
          condition('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'),
          condition(
            'PIDPressure',
            'False',
            'KubeletHasSufficientPID',
            'kubelet has sufficient PID available',
          ),
          condition('Ready', 'True', 'KubeletReady', 'kubelet is posting ready status'),
        ],
        addresses: [
          { type: 'InternalIP', address: ip },
          { type: 'InternalDNS', address: name },
          { type: 'Hostname', address: name },
        ],
        daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
        nodeInfo: {
          kubeletVersion: 'v1.31.4-eks-sim',
          kubeProxyVersion: 'v1.31.4-eks-sim',
          containerRuntimeVersion: 'containerd://1.7.25',
          operatingSystem: 'linux',
          architecture: 'amd64',
          osImage: 'Amazon Linux 2023',
          machineID: this.random.string(32, '0123456789abcdef'),
          systemUUID: `ec2${this.random.string(29, '0123456789abcdef')}`,
          bootID: this.random.string(32, '0123456789abcdef'),
          kernelVersion: '6.1.0',
        },
      },
    };
    return { node, info: { instanceId, nodeName: name, zone, privateIp: ip } };
  }

  /** Launches an instance whose kubelet registers its Node (as system:node:<name>). */
  async addNode(options: NodeOptions = {}): Promise<KubeObject> {
    const { node, info } = this.buildNode(options);
    const client = this.host.client(kubelet(info.nodeName));
    let created = await client.create(NODES, node);
    if (!created.status?.conditions?.length) {
      // An API server that drops status on create: the kubelet posts it right after.
      created = await client.update(named(NODES, undefined, info.nodeName, 'status'), {
        ...created,
        status: node.status,
      });
    }
    this.byInstance.set(info.instanceId, info);
    this.byNode.set(info.nodeName, info);
    if (this.defaults.heartbeat) await this.startHeartbeat(info.nodeName);
    this.logger.debug({ node: info.nodeName, instanceId: info.instanceId }, 'node registered');
    return created;
  }

  private async startHeartbeat(nodeName: string): Promise<void> {
    const client = this.host.client(kubelet(nodeName));
    const ref = { ...LEASES, namespace: 'kube-node-lease' };
    const renew = async () => {
      // Real time, not the simulation's: the node lifecycle controller measures real time.
      const renewTime = new Date().toISOString().replace('Z', '000Z');
      try {
        await client.patch(named(ref, 'kube-node-lease', nodeName), 'merge', { spec: { renewTime } });
      } catch (err) {
        if (!isApiErrorCode(err, 404)) {
          this.logger.warn({ err, node: nodeName }, 'lease renewal failed');
          return;
        }
        await client.create(ref, {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name: nodeName, namespace: 'kube-node-lease' },
          spec: { holderIdentity: nodeName, leaseDurationSeconds: LEASE_DURATION_SECONDS, renewTime },
        });
      }
    };
    await renew();
    const timer = setInterval(() => void renew().catch(() => undefined), LEASE_RENEW_MS);
    timer.unref();
    this.heartbeats.set(nodeName, timer);
  }

  private stopHeartbeat(nodeName: string): void {
    clearInterval(this.heartbeats.get(nodeName));
    this.heartbeats.delete(nodeName);
  }

  /** Stops the kubelets' Lease renewals. */
  stop(): void {
    for (const node of [...this.heartbeats.keys()]) this.stopHeartbeat(node);
  }

  async addNodes(
    count: number,
    options: Omit<NodeOptions, 'name' | 'instanceId'> = {},
  ): Promise<KubeObject[]> {
    const out: KubeObject[] = [];
    const concurrency = 16;
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(concurrency, count) }, async () => {
        while (next < count) {
          next++;
          out.push(await this.addNode(options));
        }
      }),
    );
    return out;
  }

  instances(): InstanceInfo[] {
    return [...this.byInstance.values()];
  }

  instanceIdOf(nodeName: string): string | undefined {
    return this.byNode.get(nodeName)?.instanceId;
  }

  nodeNameOf(instanceId: string): string | undefined {
    return this.byInstance.get(instanceId)?.nodeName;
  }

  /**
   * The instance is gone (a spot reclaim): the node stops reporting, its pods are force-deleted,
   * the Node object is removed. Resolves when all three are done.
   */
  async terminateInstance(instanceId: string): Promise<{ nodeName: string; podsDeleted: number }> {
    let nodeName = this.nodeNameOf(instanceId);
    const admin = this.host.client(CLOUD_NODE_LIFECYCLE);
    if (!nodeName) {
      const nodes = await admin.list(NODES);
      nodeName = nodes.items.find((n) => String(n.spec?.providerID ?? '').endsWith(`/${instanceId}`))
        ?.metadata.name;
    }
    if (!nodeName) throw new Error(`no node for instance ${instanceId}`);
    this.stopHeartbeat(nodeName);

    // 1. The node lifecycle controller sees the kubelet stop posting status.
    const nc = this.host.client(NODE_CONTROLLER);
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        const node = await nc.get(named(NODES, undefined, nodeName));
        const now = formatRFC3339(this.clock.now());
        const conditions = (node.status?.conditions ?? []).map((c: any) =>
          c.type === 'Ready'
            ? {
                ...c,
                status: 'Unknown',
                reason: 'NodeStatusUnknown',
                message: 'Kubelet stopped posting node status.',
                lastTransitionTime: now,
              }
            : {
                ...c,
                status: 'Unknown',
                reason: 'NodeStatusUnknown',
                message: 'Kubelet stopped posting node status.',
              },
        );
        await nc.update(named(NODES, undefined, nodeName, 'status'), {
          ...node,
          status: { ...node.status, conditions },
        });
        break;
      } catch (err) {
        if (isApiErrorCode(err, 404)) break;
        if (!isApiErrorCode(err, 409)) throw err;
      }
    }

    // 2. The pod garbage collector force-deletes what ran there.
    const gc = this.host.client(POD_GC);
    const pods = await gc.list(PODS, { fieldSelector: `spec.nodeName=${nodeName}` });
    let podsDeleted = 0;
    await Promise.all(
      pods.items.map(async (p) => {
        try {
          await gc.delete(named(PODS, p.metadata.namespace, p.metadata.name!), { gracePeriodSeconds: 0 });
          podsDeleted++;
        } catch (err) {
          if (!isApiErrorCode(err, 404)) throw err;
        }
      }),
    );

    // 3. The cloud node lifecycle controller removes the Node of an instance that no longer exists.
    try {
      await admin.delete(named(NODES, undefined, nodeName));
    } catch (err) {
      if (!isApiErrorCode(err, 404)) throw err;
    }
    const info = this.byNode.get(nodeName);
    if (info) {
      this.byNode.delete(nodeName);
      this.byInstance.delete(info.instanceId);
    }
    this.logger.info({ node: nodeName, instanceId, podsDeleted }, 'instance terminated');
    return { nodeName, podsDeleted };
  }
}
