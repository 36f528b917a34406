// The simulated kube-scheduler: watches nodes and pods, keeps a NodeInfo per node, and binds each
// pending pod (schedulerName default-scheduler) through the pods/binding subresource, one pod at a
// time in arrival order, with the choice made by scheduling.ts. A pod that fits nowhere gets the
// PodScheduled=False/Unschedulable condition and a FailedScheduling event, and waits until the
// cluster changes (a node added or changed, a pod gone), as the real unschedulable queue does.

import type { Logger } from 'pino';
import type { KubeObject } from '../kube/types.js';
import type { SeededRandom, SimClock } from '../clock.js';
import { informerFor, keyOf, type Informer, type InformerFactory } from './informer.js';
import { NodeInfo, StaticFilterCache, schedulePod } from './scheduling.js';
import { SCHEDULER } from './identities.js';
import { NODES, PODS, isApiErrorCode, named, type ClusterHost } from './host.js';
import { EventRecorder } from './events.js';
import { formatRFC3339 } from './time.js';

export interface SchedulerOptions {
  clock: SimClock;
  random: SeededRandom;
  logger: Logger;
  events?: boolean;
  percentageOfNodesToScore?: number;
  /** podMaxInUnschedulablePodsDuration: a pod waiting this long is retried anyway (simulated ms). */
  unschedulableRetryMs?: number;
  informers?: InformerFactory;
}

function isPending(pod: KubeObject): boolean {
  return (
    !pod.spec?.nodeName &&
    !pod.metadata.deletionTimestamp &&
    (pod.spec?.schedulerName ?? 'default-scheduler') === 'default-scheduler' &&
    pod.status?.phase !== 'Succeeded' &&
    pod.status?.phase !== 'Failed'
  );
}

export class Scheduler {
  private readonly nodeInformer: Informer;
  private readonly podInformer: Informer;
  private readonly nodeInfos = new Map<string, NodeInfo>();
  private sortedNodes: NodeInfo[] = [];
  private nodesDirty = true;
  /** Which node each bound pod was counted on (so a pod move or deletion is undone right). */
  private readonly podNode = new Map<string, string>();
  private readonly activeQ: string[] = [];
  private readonly inActive = new Set<string>();
  private readonly unschedulable = new Map<string, number>();
  private readonly lastMessage = new Map<string, string>();
  private readonly staticCache = new StaticFilterCache();
  private readonly client;
  private readonly events: EventRecorder;
  private startIndex = 0;
  private running = false;
  private stopped = false;
  private cancelSweep: (() => void) | undefined;
  scheduled = 0;
  failedAttempts = 0;

  constructor(
    private readonly host: ClusterHost,
    private readonly options: SchedulerOptions,
  ) {
    this.client = host.client(SCHEDULER);
    this.events = new EventRecorder(this.client, 'default-scheduler', options.clock, options.events ?? true);
    const base = { logger: options.logger, clock: options.clock };
    this.nodeInformer = informerFor(options.informers, this.client, NODES, base).on((type, node) =>
      this.onNode(type, node),
    );
    this.podInformer = informerFor(options.informers, this.client, PODS, base).on((type, pod, old) =>
      this.onPod(type, pod, old),
    );
  }

  async start(): Promise<void> {
    await Promise.all([this.nodeInformer.start(), this.podInformer.start()]);
    const retry = this.options.unschedulableRetryMs ?? 5 * 60_000;
    this.cancelSweep = this.options.clock.setInterval(
      () => this.flushUnschedulable(retry),
      Math.min(retry, 30_000),
    );
    this.kick();
  }

  stop(): void {
    this.stopped = true;
    this.cancelSweep?.();
    this.nodeInformer.stop();
    this.podInformer.stop();
  }

  /** Pods waiting in the unschedulable queue (for tests and metrics). */
  unschedulableCount(): number {
    return this.unschedulable.size;
  }

  private onNode(type: string, node: KubeObject): void {
    const name = node.metadata.name!;
    if (type === 'DELETED') {
      this.nodeInfos.delete(name);
      this.staticCache.forgetNode(name);
    } else {
      const info = this.nodeInfos.get(name);
      if (info) info.node = node;
      else {
        const fresh = new NodeInfo(node);
        // Pods already bound to it (seen before the node) count from the start.
        for (const pod of this.podInformer.values()) if (pod.spec?.nodeName === name) fresh.addPod(pod);
        this.nodeInfos.set(name, fresh);
      }
    }
    this.nodesDirty = true;
    // Any node change may make a waiting pod schedulable.
    this.moveAllToActive();
  }

  private onPod(type: string, pod: KubeObject, old: KubeObject | undefined): void {
    const key = keyOf(pod);
    const prevNode = this.podNode.get(key);
    if (type === 'DELETED') {
      if (prevNode) this.nodeInfos.get(prevNode)?.removePod(key);
      this.podNode.delete(key);
      this.unschedulable.delete(key);
      this.lastMessage.delete(key);
      this.moveAllToActive();
      return;
    }
    const nodeName = pod.spec?.nodeName;
    if (nodeName) {
      if (prevNode && prevNode !== nodeName) this.nodeInfos.get(prevNode)?.removePod(key);
      // addPod replaces the assumed copy and drops pods that finished.
      this.nodeInfos.get(nodeName)?.addPod(pod);
      this.podNode.set(key, nodeName);
      this.unschedulable.delete(key);
      this.lastMessage.delete(key);
      const finished = pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';
      const startedTerminating = pod.metadata.deletionTimestamp && !old?.metadata.deletionTimestamp;
      if (finished || startedTerminating) this.moveAllToActive();
      return;
    }
    if (!isPending(pod)) return;
    if (!this.unschedulable.has(key)) this.enqueue(key);
    else if (
      old &&
      (JSON.stringify(old.spec) !== JSON.stringify(pod.spec) ||
        JSON.stringify(old.metadata.labels) !== JSON.stringify(pod.metadata.labels))
    ) {
      // An update that may make the pod schedulable (e.g. a toleration added) retries it.
      this.unschedulable.delete(key);
      this.enqueue(key);
    }
  }

  private enqueue(key: string): void {
    if (this.inActive.has(key)) return;
    this.inActive.add(key);
    this.activeQ.push(key);
    this.kick();
  }

  private moveAllToActive(): void {
    if (this.unschedulable.size === 0) return;
    for (const key of [...this.unschedulable.keys()]) {
      this.unschedulable.delete(key);
      this.enqueue(key);
    }
  }

  private flushUnschedulable(maxWaitMs: number): void {
    const now = this.options.clock.now();
    for (const [key, since] of [...this.unschedulable]) {
      if (now - since >= maxWaitMs) {
        this.unschedulable.delete(key);
        this.enqueue(key);
      }
    }
  }

  private nodes(): NodeInfo[] {
    if (this.nodesDirty) {
      this.sortedNodes = [...this.nodeInfos.values()].sort((a, b) =>
        a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
      );
      this.nodesDirty = false;
    }
    return this.sortedNodes;
  }

  private kick(): void {
    if (this.running || this.stopped || !this.podInformer.hasSynced || !this.nodeInformer.hasSynced) return;
    this.running = true;
    setImmediate(() => void this.loop());
  }

  private async loop(): Promise<void> {
    try {
      while (!this.stopped && this.activeQ.length > 0) {
        const key = this.activeQ.shift()!;
        this.inActive.delete(key);
        const [namespace, name] = key.split('/');
        const pod = this.podInformer.get(namespace, name);
        if (!pod || !isPending(pod) || this.podNode.has(key)) continue;
        await this.scheduleOne(pod, key);
      }
    } finally {
      this.running = false;
      if (!this.stopped && this.activeQ.length > 0) this.kick();
    }
  }

  private async scheduleOne(pod: KubeObject, key: string): Promise<void> {
    const nodes = this.nodes();
    const result = schedulePod(pod, nodes, {
      random: this.options.random,
      startIndex: this.startIndex,
      percentageOfNodesToScore: this.options.percentageOfNodesToScore,
      staticCache: this.staticCache,
    });
    this.startIndex = result.nextStartIndex;
    if (result.nodeName === undefined) {
      this.failedAttempts++;
      this.unschedulable.set(key, this.options.clock.now());
      await this.reportUnschedulable(pod, key, result.message);
      return;
    }
    const nodeName = result.nodeName;
    // Assume: count the pod on the node now, before the watch confirms the binding.
    const assumed = { ...pod, spec: { ...pod.spec, nodeName } };
    this.nodeInfos.get(nodeName)?.addPod(assumed);
    this.podNode.set(key, nodeName);
    try {
      await this.client.create(named(PODS, pod.metadata.namespace, pod.metadata.name!, 'binding'), {
        apiVersion: 'v1',
        kind: 'Binding',
        metadata: { name: pod.metadata.name, namespace: pod.metadata.namespace, uid: pod.metadata.uid },
        target: { apiVersion: 'v1', kind: 'Node', name: nodeName },
      });
      this.scheduled++;
      this.events.record(pod, 'Normal', 'Scheduled', `Successfully assigned ${key} to ${nodeName}`);
    } catch (err) {
      // Forget the assumption; a pod still pending is retried, one that is gone or bound is not.
      if (this.podNode.get(key) === nodeName) {
        const current = this.podInformer.get(pod.metadata.namespace, pod.metadata.name!);
        if (!current?.spec?.nodeName) {
          this.nodeInfos.get(nodeName)?.removePod(key);
          this.podNode.delete(key);
        }
      }
      if (!isApiErrorCode(err, 404) && !isApiErrorCode(err, 409)) {
        this.options.logger.warn({ err, pod: key, node: nodeName }, 'binding failed');
        const current = this.podInformer.get(pod.metadata.namespace, pod.metadata.name!);
        if (current && isPending(current)) this.enqueue(key);
      }
    }
  }

  private async reportUnschedulable(pod: KubeObject, key: string, message: string): Promise<void> {
    if (this.lastMessage.get(key) === message) return;
    this.lastMessage.set(key, message);
    this.events.record(pod, 'Warning', 'FailedScheduling', message);
    const condition = {
      type: 'PodScheduled',
      status: 'False',
      lastProbeTime: null,
      lastTransitionTime: formatRFC3339(this.options.clock.now()),
      reason: 'Unschedulable',
      message,
    };
    try {
      const current = this.podInformer.get(pod.metadata.namespace, pod.metadata.name!) ?? pod;
      const conditions = [
        ...(current.status?.conditions ?? []).filter((c: any) => c?.type !== 'PodScheduled'),
        condition,
      ];
      await this.client.update(named(PODS, pod.metadata.namespace, pod.metadata.name!, 'status'), {
        ...current,
        status: { ...(current.status ?? {}), conditions },
      });
    } catch (err) {
      // A conflict or a vanished pod: the next attempt reports again.
      this.lastMessage.delete(key);
      if (!isApiErrorCode(err, 404) && !isApiErrorCode(err, 409))
        this.options.logger.warn({ err, pod: key }, 'could not report unschedulable');
    }
  }
}
