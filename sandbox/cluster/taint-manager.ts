// The NoExecute taint manager (kube-controller-manager's taint-eviction-controller): for every pod
// on a node with NoExecute taints, delete it (a plain DELETE with the pod's own grace period, not an
// eviction: PodDisruptionBudgets do not apply) as soon as it does not tolerate a taint, or when its
// tolerationSeconds run out. Before deleting it marks the pod with the DisruptionTarget condition,
// as Kubernetes does since PodDisruptionConditions.

import type { Logger } from 'pino';
import type { KubeObject } from '../kube/types.js';
import type { SimClock } from '../clock.js';
import { informerFor, keyOf, type Informer, type InformerFactory } from './informer.js';
import { NODE_CONTROLLER } from './identities.js';
import { NODES, PODS, isApiErrorCode, named, type ClusterHost } from './host.js';
import { noExecuteDecision, type Taint } from './tolerations.js';
import { EventRecorder } from './events.js';
import { formatRFC3339 } from './time.js';

export interface TaintManagerOptions {
  clock: SimClock;
  logger: Logger;
  events?: boolean;
  informers?: InformerFactory;
}

export class TaintManager {
  private readonly podInformer: Informer;
  private readonly nodeInformer: Informer;
  private readonly podsByNode = new Map<string, Set<string>>();
  private readonly podNode = new Map<string, string>();
  /** Pending deletions: pod key → when, and how to cancel. */
  private readonly scheduled = new Map<string, { at: number; cancel: () => void }>();
  /** When this manager first saw each NoExecute taint (node/key/effect), for taints without timeAdded. */
  private readonly firstSeen = new Map<string, number>();
  private readonly client;
  private readonly events: EventRecorder;
  private stopped = false;
  evictions = 0;

  constructor(
    private readonly host: ClusterHost,
    private readonly options: TaintManagerOptions,
  ) {
    this.client = host.client(NODE_CONTROLLER);
    this.events = new EventRecorder(
      this.client,
      'taint-eviction-controller',
      options.clock,
      options.events ?? true,
    );
    const base = { logger: options.logger, clock: options.clock };
    this.nodeInformer = informerFor(options.informers, this.client, NODES, base).on((type, node) =>
      this.onNode(type, node),
    );
    this.podInformer = informerFor(options.informers, this.client, PODS, base).on((type, pod) =>
      this.onPod(type, pod),
    );
  }

  async start(): Promise<void> {
    await Promise.all([this.nodeInformer.start(), this.podInformer.start()]);
    for (const node of this.nodeInformer.values()) this.onNode('ADDED', node);
  }

  stop(): void {
    this.stopped = true;
    for (const s of this.scheduled.values()) s.cancel();
    this.scheduled.clear();
    this.nodeInformer.stop();
    this.podInformer.stop();
  }

  /** Pods with a deletion pending on tolerationSeconds (for tests and metrics). */
  pendingEvictions(): { pod: string; at: number }[] {
    return [...this.scheduled].map(([pod, s]) => ({ pod, at: s.at }));
  }

  private noExecuteTaints(node: KubeObject | undefined): Taint[] {
    return (node?.spec?.taints ?? []).filter((t: Taint) => t.effect === 'NoExecute');
  }

  private onNode(type: string, node: KubeObject): void {
    const name = node.metadata.name!;
    const taints = type === 'DELETED' ? [] : this.noExecuteTaints(node);
    const now = this.options.clock.now();
    const live = new Set<string>();
    for (const t of taints) {
      const id = `${name}\u0000${t.key}\u0000${t.effect}`;
      live.add(id);
      if (!this.firstSeen.has(id)) this.firstSeen.set(id, now);
    }
    for (const id of [...this.firstSeen.keys()])
      if (id.startsWith(`${name}\u0000`) && !live.has(id)) this.firstSeen.delete(id);
    for (const key of this.podsByNode.get(name) ?? []) this.process(key);
  }

  private onPod(type: string, pod: KubeObject): void {
    const key = keyOf(pod);
    const prev = this.podNode.get(key);
    const nodeName = type === 'DELETED' ? undefined : pod.spec?.nodeName;
    if (prev && prev !== nodeName) {
      this.podsByNode.get(prev)?.delete(key);
      this.podNode.delete(key);
    }
    if (nodeName) {
      let set = this.podsByNode.get(nodeName);
      if (!set) this.podsByNode.set(nodeName, (set = new Set()));
      set.add(key);
      this.podNode.set(key, nodeName);
    }
    this.process(key);
  }

  private cancel(key: string): void {
    this.scheduled.get(key)?.cancel();
    this.scheduled.delete(key);
  }

  private process(key: string): void {
    if (this.stopped || !this.nodeInformer.hasSynced || !this.podInformer.hasSynced) return;
    const [namespace, name] = key.split('/');
    const pod = this.podInformer.get(namespace, name);
    const nodeName = pod?.spec?.nodeName;
    // Gone, unbound, or already terminating: nothing (left) to do.
    if (!pod || !nodeName || pod.metadata.deletionTimestamp) {
      this.cancel(key);
      return;
    }
    const node = this.nodeInformer.get(undefined, nodeName);
    const taints = this.noExecuteTaints(node);
    const now = this.options.clock.now();
    // Taints without timeAdded count from when this manager first saw them.
    const dated = taints.map((t) =>
      t.timeAdded
        ? t
        : {
            ...t,
            timeAdded: new Date(
              this.firstSeen.get(`${nodeName}\u0000${t.key}\u0000${t.effect}`) ?? now,
            ).toISOString(),
          },
    );
    const decision = noExecuteDecision(dated, pod.spec?.tolerations ?? [], now);
    switch (decision.action) {
      case 'none':
      case 'never':
        this.cancel(key);
        return;
      case 'evict-now':
        this.cancel(key);
        void this.evict(pod, decision.taint);
        return;
      case 'evict-at': {
        if (decision.at <= now) {
          this.cancel(key);
          void this.evict(pod, decision.taint);
          return;
        }
        const existing = this.scheduled.get(key);
        if (existing && existing.at === decision.at) return;
        this.cancel(key);
        const delay = Math.max(0, decision.at - now);
        const cancel = this.options.clock.setTimeout(() => {
          this.scheduled.delete(key);
          this.process(key);
        }, delay);
        this.scheduled.set(key, { at: decision.at, cancel });
        return;
      }
    }
  }

  private async evict(pod: KubeObject, taint: Taint): Promise<void> {
    const ns = pod.metadata.namespace;
    const name = pod.metadata.name!;
    this.events.record(pod, 'Normal', 'TaintManagerEviction', `Marking for deletion Pod ${ns}/${name}`);
    // The DisruptionTarget condition first (best effort), then the delete.
    try {
      const now = formatRFC3339(this.options.clock.now());
      const conditions = [
        ...(pod.status?.conditions ?? []).filter((c: any) => c?.type !== 'DisruptionTarget'),
        {
          type: 'DisruptionTarget',
          status: 'True',
          lastProbeTime: null,
          lastTransitionTime: now,
          reason: 'DeletionByTaintManager',
          message: 'Taint manager: deleting due to NoExecute taint',
        },
      ];
      await this.client.patch(named(PODS, ns, name, 'status'), 'strategic', { status: { conditions } });
    } catch (err) {
      if (isApiErrorCode(err, 404)) return;
    }
    try {
      await this.client.delete(named(PODS, ns, name), { preconditions: { uid: pod.metadata.uid } });
      this.evictions++;
      this.options.logger.debug(
        { pod: `${ns}/${name}`, taint: taint.key },
        'deleted pod for NoExecute taint',
      );
    } catch (err) {
      if (!isApiErrorCode(err, 404) && !isApiErrorCode(err, 409))
        this.options.logger.warn({ err, pod: `${ns}/${name}` }, 'taint eviction failed');
    }
  }
}
