// Where the fence learns a node's FleetIQ status (label gamelift.status/instance-status).
//
// Default: a watch-backed cache of ONLY the fenced nodes: a ScopedInformer (../shared/scoped-informer.ts,
// the node agent's cache too) listing and watching nodes cluster-wide with the label selector
// `gamelift.status/instance-status in (DRAINING,SPOT_TERMINATING)`; a node whose label changes away from
// those leaves the selector and the API server sends it as DELETED. The cache therefore holds a handful
// of names, the watch carries almost no traffic (long watches with bookmarks, resumed where they ended,
// not re-opened every 30 s), a label change reaches it within milliseconds, and an allocation costs no
// node GET. Staleness is bounded: while no watch is established (start-up, a retry after an error, the
// moment between one watch and the next) every lookup falls back to a direct GET. A missed fence is not
// a lost session anyway (the pod is made to tolerate the drain taint, so the session runs to its end and
// only delays the drain).
//
// Alternative (`get`): a direct GET of the node per transition; always fresh, one API call more each.
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { createLogger, type Logger } from '../shared/logger.js';
import { FENCED_NODE_STATUSES, INSTANCE_STATUS_LABEL } from '../shared/drain-contract.js';
import { ScopedInformer, type RestartReason } from '../shared/scoped-informer.js';
import type { KubeObjectLike } from '../shared/kube-object.js';
import { requestOptions } from '../certs/kube-request.js';
import { statusCode } from '../shared/kube-error.js';

export interface NodeStatusSource {
  /** The node's FleetIQ status label, or undefined when it has none (or the node does not exist). */
  statusOf(nodeName: string, signal?: AbortSignal): Promise<string | undefined>;
  /** true when usable; a string says why not. */
  ready(): true | string;
  stop(): Promise<void>;
}

async function getNodeStatus(
  core: CoreV1Api,
  nodeName: string,
  signal?: AbortSignal,
): Promise<string | undefined> {
  try {
    const node = await core.readNode({ name: nodeName }, requestOptions(signal ? { signal } : {}));
    return node.metadata?.labels?.[INSTANCE_STATUS_LABEL];
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
  statusOf(nodeName: string, signal?: AbortSignal): Promise<string | undefined> {
    return getNodeStatus(this.core, nodeName, signal);
  }
  ready(): true {
    return true;
  }
  async stop(): Promise<void> {}
}

export const FENCED_NODES_SELECTOR = `${INSTANCE_STATUS_LABEL} in (${[...FENCED_NODE_STATUSES].sort().join(',')})`;

export interface WatchedNodeStatusOptions {
  logger?: Logger;
  /**
   * Called on each (re)start of the list or the watch, with why (see RestartReason: `start`,
   * `watch-ended`, `gone`, `error`), for a metric.
   */
  onRestart?: (reason: RestartReason) => void;
  /** Called with the number of fenced nodes whenever the cache changes, for a metric. */
  onFencedCount?: (count: number) => void;
  maxBackoffMs?: number;
  /** Server-side lifetime of one watch request, in seconds (default: the informer's 5 to 10 minutes). */
  watchTimeoutSeconds?: { min: number; max: number };
}

const statusLabel = (node: KubeObjectLike | undefined): string | undefined =>
  node?.metadata.labels?.[INSTANCE_STATUS_LABEL];

export class WatchedNodeStatus implements NodeStatusSource {
  private readonly core: CoreV1Api;
  private readonly informer: ScopedInformer;

  constructor(kubeConfig: KubeConfig, options: WatchedNodeStatusOptions = {}) {
    const core = kubeConfig.makeApiClient(CoreV1Api);
    this.core = core;
    const countFenced = () => options.onFencedCount?.(this.fencedCount());
    this.informer = new ScopedInformer({
      name: 'fenced-nodes',
      kubeConfig,
      path: '/api/v1/nodes',
      labelSelector: FENCED_NODES_SELECTOR,
      // A list without a resourceVersion: a consistent read.
      list: async () => {
        const list = await core.listNode({ labelSelector: FENCED_NODES_SELECTOR });
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
  }

  /** Starts listing and watching in the background; ready() turns true after the first list. */
  start(): void {
    this.informer.start();
  }

  async statusOf(nodeName: string, signal?: AbortSignal): Promise<string | undefined> {
    if (!this.informer.isWatching()) return getNodeStatus(this.core, nodeName, signal);
    const status = statusLabel(this.informer.get(nodeName));
    return status !== undefined && FENCED_NODE_STATUSES.has(status) ? status : undefined;
  }

  ready(): true | string {
    return this.informer.hasSynced() ? true : 'node status watch has not listed nodes yet';
  }

  /** True while the cache is kept current by an established watch (otherwise lookups GET the node). */
  isWatching(): boolean {
    return this.informer.isWatching();
  }

  async stop(): Promise<void> {
    this.informer.stop();
  }

  private fencedCount(): number {
    let n = 0;
    for (const node of this.informer.values()) {
      const status = statusLabel(node);
      if (status !== undefined && FENCED_NODE_STATUSES.has(status)) n++;
    }
    return n;
  }
}
