// Where the fence learns whether a node takes new sessions (the rule is nodeRefusesSessions,
// ../shared/drain-contract.ts): its drain labels, `gamelift.status/instance-status` (DRAINING or
// SPOT_TERMINATING: FleetIQ drains it) and `gamelift.status/drain-phase` (any phase but Active: the agent
// drains it, for FleetIQ or for another reason while FleetIQ still says ACTIVE), and, for a node the old
// Python adapter's daemon still runs, its cordon and that daemon's `gamelift.status/active` taint.
//
// Default: a watch-backed cache of ONLY the nodes that may refuse sessions. Kubernetes selectors cannot
// say "or", so it is three ScopedInformers (../shared/scoped-informer.ts, the node agent's cache too),
// each listing and watching nodes cluster-wide with one selection of NO_SESSION_NODE_SELECTORS
// (`instance-status in (DRAINING,SPOT_TERMINATING)`; `drain-phase` present and not Active) or
// CORDONED_NODES_FIELD_SELECTOR (`spec.unschedulable=true`); a node that changes away leaves that
// selection and the API server sends it as DELETED. Each cache is trusted for what it selects on only
// (its label; the cordon and the taints), so a node is refused while any says so. The caches therefore
// hold a handful of names, the watches carry almost no traffic (long watches with bookmarks, resumed
// where they ended, not re-opened every 30 s), a change reaches them within milliseconds, and an
// allocation costs no node GET. Staleness is bounded: while any watch is not established (start-up, a
// retry after an error, the moment between one watch and the next) every lookup falls back to a direct
// GET. A missed fence is rarely a lost session anyway (the pod is made to tolerate the drain taint, so
// the session runs to its end and only delays the drain).
//
// Alternative (`get`): a direct GET of the node per transition; always fresh, one API call more each.
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { createLogger, type Logger } from '../shared/logger.js';
import {
  CORDONED_NODES_FIELD_SELECTOR,
  DRAIN_PHASE_LABEL,
  INSTANCE_STATUS_LABEL,
  NODE_DRAIN_LABELS,
  NO_SESSION_NODE_SELECTORS,
  nodeRefusesSessions,
  nodeSessionSignals,
  type NodeSessionSignals,
} from '../shared/drain-contract.js';
import { ScopedInformer, type RestartReason } from '../shared/scoped-informer.js';
import type { KubeObjectLike } from '../shared/kube-object.js';
import { requestOptions } from '../certs/kube-request.js';
import { statusCode } from '../shared/kube-error.js';

export type { NodeSessionSignals };

export interface NodeStatusSource {
  /**
   * What of the node says whether it takes sessions, or undefined when the node does not exist. From
   * the cache, a node in no selection reads as unlabelled and not cordoned (it takes sessions).
   */
  sessionSignalsOf(nodeName: string, signal?: AbortSignal): Promise<NodeSessionSignals | undefined>;
  /** true when usable; a string says why not. */
  ready(): true | string;
  stop(): Promise<void>;
}

async function getNodeSessionSignals(
  core: CoreV1Api,
  nodeName: string,
  signal?: AbortSignal,
): Promise<NodeSessionSignals | undefined> {
  try {
    return nodeSessionSignals(
      await core.readNode({ name: nodeName }, requestOptions(signal ? { signal } : {})),
    );
  } catch (err) {
    if (statusCode(err) === 404) return undefined;
    throw err;
  }
}

export class DirectNodeStatus implements NodeStatusSource {
  private readonly core: CoreV1Api;
  constructor(kubeConfig: KubeConfig) {
    this.core = kubeConfig.makeApiClient(CoreV1Api);
  }
  sessionSignalsOf(nodeName: string, signal?: AbortSignal): Promise<NodeSessionSignals | undefined> {
    return getNodeSessionSignals(this.core, nodeName, signal);
  }
  ready(): true {
    return true;
  }
  async stop(): Promise<void> {}
}

/** The instance-status selection (kept under its old name: other modules and tests read it). */
export const FENCED_NODES_SELECTOR = NO_SESSION_NODE_SELECTORS[INSTANCE_STATUS_LABEL];
/** The drain-phase selection. */
export const DRAINING_NODES_SELECTOR = NO_SESSION_NODE_SELECTORS[DRAIN_PHASE_LABEL];

export interface WatchedNodeStatusOptions {
  logger?: Logger;
  /**
   * Called on each (re)start of a list or a watch (of either selection), with why (see RestartReason:
   * `start`, `watch-ended`, `gone`, `error`), for a metric.
   */
  onRestart?: (reason: RestartReason) => void;
  /** Called with the number of nodes refusing sessions whenever a cache changes, for a metric. */
  onFencedCount?: (count: number) => void;
  maxBackoffMs?: number;
  /** Server-side lifetime of one watch request, in seconds (default: the informer's 5 to 10 minutes). */
  watchTimeoutSeconds?: { min: number; max: number };
}

export class WatchedNodeStatus implements NodeStatusSource {
  private readonly core: CoreV1Api;
  /** One informer per drain label, each selecting the nodes whose value of that label refuses sessions. */
  private readonly labelled: ReadonlyMap<(typeof NODE_DRAIN_LABELS)[number], ScopedInformer>;
  /** The cordoned nodes, with their taints. */
  private readonly cordoned: ScopedInformer;

  constructor(kubeConfig: KubeConfig, options: WatchedNodeStatusOptions = {}) {
    const core = kubeConfig.makeApiClient(CoreV1Api);
    this.core = core;
    const countFenced = () => options.onFencedCount?.(this.fencedCount());
    const informerFor = (name: string, selection: { labelSelector: string } | { fieldSelector: string }) =>
      new ScopedInformer({
        name,
        kubeConfig,
        path: '/api/v1/nodes',
        ...selection,
        // A list without a resourceVersion: a consistent read.
        list: async () => {
          const list = await core.listNode(selection);
          return {
            items: list.items as KubeObjectLike[],
            resourceVersion: list.metadata?.resourceVersion ?? '',
          };
        },
        onChange: countFenced,
        onSync: countFenced,
        ...(options.onRestart ? { onRestart: options.onRestart } : {}),
        logger: options.logger ?? createLogger('webhook', 'silent'),
        ...(options.watchTimeoutSeconds ? { watchTimeoutSeconds: options.watchTimeoutSeconds } : {}),
        backoff: { initialMs: 500, maxMs: options.maxBackoffMs ?? 30_000 },
      });
    this.labelled = new Map([
      [INSTANCE_STATUS_LABEL, informerFor('fenced-nodes', { labelSelector: FENCED_NODES_SELECTOR })],
      [DRAIN_PHASE_LABEL, informerFor('draining-nodes', { labelSelector: DRAINING_NODES_SELECTOR })],
    ]);
    this.cordoned = informerFor('cordoned-nodes', { fieldSelector: CORDONED_NODES_FIELD_SELECTOR });
  }

  private informers(): ScopedInformer[] {
    return [...this.labelled.values(), this.cordoned];
  }

  /** Starts listing and watching in the background; ready() turns true after every first list. */
  start(): void {
    for (const informer of this.informers()) informer.start();
  }

  async sessionSignalsOf(nodeName: string, signal?: AbortSignal): Promise<NodeSessionSignals | undefined> {
    if (!this.isWatching()) return getNodeSessionSignals(this.core, nodeName, signal);
    return this.cachedSignals(nodeName);
  }

  ready(): true | string {
    return this.informers().every((i) => i.hasSynced()) ? true : 'node status watch has not listed nodes yet';
  }

  /** True while every cache is kept current by an established watch (otherwise lookups GET the node). */
  isWatching(): boolean {
    return this.informers().every((i) => i.isWatching());
  }

  async stop(): Promise<void> {
    for (const informer of this.informers()) informer.stop();
  }

  /**
   * Each label as its own cache has it, the cordon and the taints as the cordoned nodes' cache has them
   * (a cache says nothing about what it does not select on).
   */
  private cachedSignals(nodeName: string): NodeSessionSignals {
    const labels: Record<string, string> = {};
    for (const [label, informer] of this.labelled) {
      const value = informer.get(nodeName)?.metadata.labels?.[label];
      if (value !== undefined) labels[label] = value;
    }
    const cordoned = this.cordoned.get(nodeName);
    if (!cordoned) return { labels, cordoned: false, taintKeys: [] };
    const { cordoned: isCordoned, taintKeys } = nodeSessionSignals(cordoned);
    return { labels, cordoned: isCordoned, taintKeys };
  }

  private fencedCount(): number {
    const names = new Set<string>();
    for (const informer of this.informers())
      for (const node of informer.values()) if (node.metadata.name) names.add(node.metadata.name);
    let n = 0;
    for (const name of names) if (nodeRefusesSessions(this.cachedSignals(name)) !== undefined) n++;
    return n;
  }
}
