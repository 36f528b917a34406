// Where the fence learns a node's FleetIQ status (label gamelift.status/instance-status).
//
// Default: a watch-backed cache of ONLY the fenced nodes. One list+watch over nodes cluster-wide with
// the label selector `gamelift.status/instance-status in (DRAINING,SPOT_TERMINATING)`; a node whose
// label changes away from those leaves the selector and the API server sends it as DELETED. The cache
// therefore holds a handful of names, the watch carries almost no traffic, a label change reaches it
// within milliseconds, and an allocation costs no node GET. Staleness is bounded: while the watch is
// not established (start-up, reconnect after an error or the client's 30 s inactivity timeout) every
// lookup falls back to a direct GET. A missed fence is not a lost session anyway (the pod is made to
// tolerate the drain taint, so the session runs to its end and only delays the drain).
//
// Alternative (`get`): a direct GET of the node per transition; always fresh, one API call more each.
import { CoreV1Api, Watch, type KubeConfig, type V1Node } from '@kubernetes/client-node';
import type { Logger } from '../shared/logger.js';
import { INSTANCE_STATUS_LABEL } from '../shared/contract.js';
import { FENCED_NODE_STATUSES } from '../shared/drain-contract.js';
import { describeError, requestOptions, statusCode } from '../certs/kube-request.js';

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
  /** Called on each (re)start of the list+watch, for a metric. */
  onRestart?: (reason: string) => void;
  /** Called with the number of fenced nodes whenever the cache changes, for a metric. */
  onFencedCount?: (count: number) => void;
  maxBackoffMs?: number;
}

export class WatchedNodeStatus implements NodeStatusSource {
  private readonly core: CoreV1Api;
  private readonly watch: Watch;
  /** Fenced nodes only: name → status label value. */
  private readonly fenced = new Map<string, string>();
  private resourceVersion = '';
  private synced = false;
  private watching = false;
  private stopped = false;
  private abort: AbortController | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private failures = 0;

  constructor(
    kubeConfig: KubeConfig,
    private readonly options: WatchedNodeStatusOptions = {},
  ) {
    this.core = kubeConfig.makeApiClient(CoreV1Api);
    this.watch = new Watch(kubeConfig);
  }

  /** Starts listing and watching in the background; ready() turns true after the first list. */
  start(): void {
    void this.run('start');
  }

  async statusOf(nodeName: string, signal?: AbortSignal): Promise<string | undefined> {
    if (this.watching) return this.fenced.get(nodeName);
    return getNodeStatus(this.core, nodeName, signal);
  }

  ready(): true | string {
    return this.synced ? true : 'node status watch has not listed nodes yet';
  }

  /** True while the cache is kept current by an established watch (otherwise lookups GET the node). */
  isWatching(): boolean {
    return this.watching;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.watching = false;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.abort?.abort();
  }

  private apply(type: string, node: V1Node): void {
    const name = node.metadata?.name;
    if (!name) return;
    const status = node.metadata?.labels?.[INSTANCE_STATUS_LABEL];
    if (type === 'DELETED' || status === undefined || !FENCED_NODE_STATUSES.has(status))
      this.fenced.delete(name);
    else this.fenced.set(name, status);
    this.options.onFencedCount?.(this.fenced.size);
  }

  private async run(reason: string): Promise<void> {
    if (this.stopped) return;
    this.options.onRestart?.(reason);
    try {
      if (!this.resourceVersion) {
        const list = await this.core.listNode({ labelSelector: FENCED_NODES_SELECTOR });
        this.fenced.clear();
        for (const node of list.items) this.apply('ADDED', node);
        this.options.onFencedCount?.(this.fenced.size);
        this.resourceVersion = list.metadata?.resourceVersion ?? '';
        this.synced = true;
      }
      if (this.stopped) return;
      this.abort = await this.watch.watch(
        '/api/v1/nodes',
        {
          labelSelector: FENCED_NODES_SELECTOR,
          resourceVersion: this.resourceVersion,
          allowWatchBookmarks: true,
        },
        (type: string, obj: any) => {
          if (type === 'ERROR') {
            if (obj?.code === 410) this.resourceVersion = '';
            return;
          }
          this.watching = true;
          this.failures = 0;
          if (type !== 'BOOKMARK') this.apply(type, obj as V1Node);
          if (obj?.metadata?.resourceVersion) this.resourceVersion = obj.metadata.resourceVersion;
        },
        (err: unknown) => this.onDone(err),
      );
      // The watch request is established once watch() returns without having called done.
      if (!this.stopped && this.abort && !this.abort.signal.aborted) {
        this.watching = true;
        this.failures = 0;
      }
    } catch (err) {
      this.onDone(err);
    }
  }

  private onDone(err: unknown): void {
    this.watching = false;
    if (this.stopped) return;
    const code = statusCode(err) ?? (err as { statusCode?: number } | null)?.statusCode;
    if (code === 410) this.resourceVersion = '';
    const timedOut = (err as { name?: string } | null)?.name === 'TimeoutError';
    if (!err || timedOut) {
      // A normal end (server timeout or our inactivity timeout): resume right away from where we were.
      void this.run(timedOut ? 'inactivity-timeout' : 'watch-ended');
      return;
    }
    this.failures++;
    const delay = Math.min(this.options.maxBackoffMs ?? 30_000, 250 * 2 ** Math.min(this.failures, 10));
    this.options.logger?.warn(
      { err: describeError(err), retryInMs: delay },
      'node status watch failed, using direct GETs meanwhile',
    );
    this.retryTimer = setTimeout(() => void this.run('error'), delay);
    this.retryTimer.unref();
  }
}
