// Where the fence learns whether a node takes new sessions: its drain labels, `gamelift.status/instance-status`
// (DRAINING or SPOT_TERMINATING: FleetIQ drains it) and `gamelift.status/drain-phase` (any phase but
// Active: the agent drains it, for FleetIQ or for another reason while FleetIQ still says ACTIVE). The
// rule itself is nodeRefusesSessions (../shared/drain-contract.ts).
//
// Default: a watch-backed cache of ONLY the nodes that refuse sessions. Kubernetes label selectors
// cannot say "or", so it is two ScopedInformers (../shared/scoped-informer.ts, the node agent's cache
// too), one per label, each listing and watching nodes cluster-wide with its selector from
// NO_SESSION_NODE_SELECTORS (`instance-status in (DRAINING,SPOT_TERMINATING)`; `drain-phase` present and
// not Active); a node whose label changes away leaves that selector and the API server sends it as
// DELETED. Each cache is trusted for its own label only, so a node is refused while either says so. The
// caches therefore hold a handful of names, the watches carry almost no traffic (long watches with
// bookmarks, resumed where they ended, not re-opened every 30 s), a label change reaches them within
// milliseconds, and an allocation costs no node GET. Staleness is bounded: while either watch is not
// established (start-up, a retry after an error, the moment between one watch and the next) every
// lookup falls back to a direct GET. A missed fence is not a lost session anyway (the pod is made to
// tolerate the drain taint, so the session runs to its end and only delays the drain).
//
// Alternative (`get`): a direct GET of the node per transition; always fresh, one API call more each.
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { createLogger, type Logger } from '../shared/logger.js';
import {
  DRAIN_PHASE_LABEL,
  INSTANCE_STATUS_LABEL,
  NODE_DRAIN_LABELS,
  NO_SESSION_NODE_SELECTORS,
  nodeRefusesSessions,
} from '../shared/drain-contract.js';
import { ScopedInformer, type RestartReason } from '../shared/scoped-informer.js';
import type { KubeObjectLike } from '../shared/kube-object.js';
import { requestOptions } from '../certs/kube-request.js';
import { statusCode } from '../shared/kube-error.js';

/** A node's drain labels (NODE_DRAIN_LABELS), those it carries. */
export type NodeDrainLabels = Partial<Record<(typeof NODE_DRAIN_LABELS)[number], string>>;

export interface NodeStatusSource {
  /**
   * The node's drain labels, or undefined when the node does not exist. From the cache, a node in
   * neither selection reads as having none (it takes sessions).
   */
  drainLabelsOf(nodeName: string, signal?: AbortSignal): Promise<NodeDrainLabels | undefined>;
  /** true when usable; a string says why not. */
  ready(): true | string;
  stop(): Promise<void>;
}

/** Only the drain labels of a label map (the rest is of no use to the fence). */
export function drainLabels(labels: Readonly<Record<string, string>> | undefined): NodeDrainLabels {
  const out: NodeDrainLabels = {};
  for (const key of NODE_DRAIN_LABELS) {
    const value = labels?.[key];
    if (value !== undefined) out[key] = value;
  }
  return out;
}

async function getNodeDrainLabels(
  core: CoreV1Api,
  nodeName: string,
  signal?: AbortSignal,
): Promise<NodeDrainLabels | undefined> {
  try {
    const node = await core.readNode({ name: nodeName }, requestOptions(signal ? { signal } : {}));
    return drainLabels(node.metadata?.labels);
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
  drainLabelsOf(nodeName: string, signal?: AbortSignal): Promise<NodeDrainLabels | undefined> {
    return getNodeDrainLabels(this.core, nodeName, signal);
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
  private readonly informers: ReadonlyMap<(typeof NODE_DRAIN_LABELS)[number], ScopedInformer>;

  constructor(kubeConfig: KubeConfig, options: WatchedNodeStatusOptions = {}) {
    const core = kubeConfig.makeApiClient(CoreV1Api);
    this.core = core;
    const countFenced = () => options.onFencedCount?.(this.fencedCount());
    const informerFor = (name: string, labelSelector: string) =>
      new ScopedInformer({
        name,
        kubeConfig,
        path: '/api/v1/nodes',
        labelSelector,
        // A list without a resourceVersion: a consistent read.
        list: async () => {
          const list = await core.listNode({ labelSelector });
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
    this.informers = new Map([
      [INSTANCE_STATUS_LABEL, informerFor('fenced-nodes', FENCED_NODES_SELECTOR)],
      [DRAIN_PHASE_LABEL, informerFor('draining-nodes', DRAINING_NODES_SELECTOR)],
    ]);
  }

  /** Starts listing and watching in the background; ready() turns true after both first lists. */
  start(): void {
    for (const informer of this.informers.values()) informer.start();
  }

  async drainLabelsOf(nodeName: string, signal?: AbortSignal): Promise<NodeDrainLabels | undefined> {
    if (!this.isWatching()) return getNodeDrainLabels(this.core, nodeName, signal);
    return this.cachedLabels(nodeName);
  }

  ready(): true | string {
    return [...this.informers.values()].every((i) => i.hasSynced())
      ? true
      : 'node status watch has not listed nodes yet';
  }

  /** True while both caches are kept current by established watches (otherwise lookups GET the node). */
  isWatching(): boolean {
    return [...this.informers.values()].every((i) => i.isWatching());
  }

  async stop(): Promise<void> {
    for (const informer of this.informers.values()) informer.stop();
  }

  /** Each label as its own cache has it (a cache says nothing about the other's label). */
  private cachedLabels(nodeName: string): NodeDrainLabels {
    const out: NodeDrainLabels = {};
    for (const [label, informer] of this.informers) {
      const value = informer.get(nodeName)?.metadata.labels?.[label];
      if (value !== undefined) out[label] = value;
    }
    return out;
  }

  private fencedCount(): number {
    const names = new Set<string>();
    for (const informer of this.informers.values())
      for (const node of informer.values()) if (node.metadata.name) names.add(node.metadata.name);
    let n = 0;
    for (const name of names) if (nodeRefusesSessions(this.cachedLabels(name)) !== undefined) n++;
    return n;
  }
}
