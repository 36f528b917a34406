// A list-then-watch cache of the few objects one component needs, selected on the server: the node
// agent's own Node (field selector metadata.name) and the game server pods on it (spec.nodeName +
// agones.dev/role=gameserver); the webhook's fenced nodes (label selector on instance-status).
//
// Why not client-node's ListWatch or its Watch: neither asks for bookmarks nor sets timeoutSeconds,
// so with Watch's 30 s inactivity timeout an idle watch is torn down and re-opened twice a minute
// (and client-node costs the node agent ~30 MiB: shared/kube-client/). The watch requests go through
// shared/kube-client, on the connection pool of the configuration's other calls.
// Multiplied by thousands of nodes that is a steady load on the API server for nothing. Here a watch
// lasts 5 to 10 minutes (client-go's choice, spread so that clients do not reconnect in step),
// bookmarks keep the resourceVersion current, a watch the server ends resumes from that
// resourceVersion without a list, and the cache is re-listed only on 410 Gone or when its owner asks
// for a consistent read (the agent after its cordon: see reconciler/agent.ts). An idle cache costs
// about two requests per 7.5 minutes.
import { kubeClientFor, type KubeClientConfig } from './kube-client/client.js';
import type { Logger } from './logger.js';
import { objectKey, olderThan, type KubeObjectLike } from './kube-object.js';

export type { KubeObjectLike } from './kube-object.js';

export interface ListResult {
  items: KubeObjectLike[];
  resourceVersion: string;
}

export type InformerEvent = 'ADDED' | 'MODIFIED' | 'DELETED';

export type RestartReason = 'start' | 'relist' | 'gone' | 'watch-ended' | 'error';

export interface InformerOptions {
  /** For logs and metrics: `node`, `pods`, `fenced-nodes`. */
  name: string;
  /** client-node's KubeConfig, or shared/kube-client's (loadKubeClientConfig). */
  kubeConfig: KubeClientConfig;
  /** The collection's path, e.g. /api/v1/nodes. */
  path: string;
  fieldSelector?: string;
  labelSelector?: string;
  /** A consistent (quorum) list with the same selectors. */
  list: () => Promise<ListResult>;
  /** An object changed (also for the differences a re-list finds); `own`: the agent's own write. */
  onChange: (type: InformerEvent, obj: KubeObjectLike, own: boolean) => void;
  /** A list completed: the cache is complete as of `resourceVersion()`. */
  onSync?: () => void;
  onError?: (operation: 'list' | 'watch', err: unknown) => void;
  /**
   * A list or a watch request is being (re)started, and why: `start` (the first list), `relist` (asked
   * for), `gone` (410: a list again), `watch-ended` (the server closed the watch: it resumes without a
   * list), `error` (a retry after a failed list or watch).
   */
  onRestart?: (reason: RestartReason) => void;
  logger: Logger;
  random?: () => number;
  /** Server-side lifetime of one watch request, drawn uniformly in [min, max] seconds. */
  watchTimeoutSeconds?: { min: number; max: number };
  /** Retry delays after a failed list or watch. */
  backoff?: { initialMs: number; maxMs: number };
}

export interface InformerStats {
  lists: number;
  watches: number;
  events: number;
  bookmarks: number;
  gone: number;
  errors: number;
}

const DEFAULT_WATCH_TIMEOUT = { min: 300, max: 600 };
const DEFAULT_BACKOFF = { initialMs: 500, maxMs: 30_000 };

export class ScopedInformer {
  private readonly items = new Map<string, KubeObjectLike>();
  /** resourceVersions of the agent's own writes: older watch events for these keys are stale. */
  private readonly written = new Map<string, string>();
  private rv = '';
  /** Bumped whenever a list or watch is abandoned, so its late callbacks are ignored. */
  private generation = 0;
  private abort?: AbortController;
  private retryTimer?: NodeJS.Timeout;
  private stopped = false;
  private synced = false;
  private watching = false;
  private listing = false;
  private inFlightList?: Promise<void>;
  private failures = 0;
  private listStarts = 0;
  private completedListStart = 0;
  private syncWaiters: (() => void)[] = [];
  private readonly random: () => number;
  readonly stats: InformerStats = { lists: 0, watches: 0, events: 0, bookmarks: 0, gone: 0, errors: 0 };

  constructor(private readonly o: InformerOptions) {
    this.random = o.random ?? Math.random;
  }

  start(): void {
    void this.listAndWatch('start');
  }

  stop(): void {
    this.stopped = true;
    this.watching = false;
    this.generation++;
    clearTimeout(this.retryTimer);
    this.abort?.abort();
    this.abort = undefined;
    for (const w of this.syncWaiters.splice(0)) w();
  }

  hasSynced(): boolean {
    return this.synced;
  }

  /**
   * A watch request is established: the cache follows changes as they happen. False before the first
   * watch, while a list or a retry is under way, and between a watch's end and the next one.
   */
  isWatching(): boolean {
    return this.watching;
  }

  /** Resolves once the first list has completed (or the informer is stopped). */
  waitForSync(): Promise<void> {
    if (this.synced || this.stopped) return Promise.resolve();
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  /** The cache is complete as of this resourceVersion (last list, event or bookmark). */
  resourceVersion(): string {
    return this.rv;
  }

  /** How many lists have been started so far. */
  listsStarted(): number {
    return this.listStarts;
  }

  /** The start number (see listsStarted) of the last list that completed: the cache is at least that fresh. */
  lastCompletedList(): number {
    return this.completedListStart;
  }

  /** A list is in flight (a re-list asked for, or a retry). */
  isListing(): boolean {
    return this.listing;
  }

  get(key: string): KubeObjectLike | undefined {
    return this.items.get(key);
  }

  values(): KubeObjectLike[] {
    return [...this.items.values()];
  }

  /**
   * Lists again now (a consistent read) and restarts the watch from there; onSync fires when done.
   * Resolves when that list (or the one already in flight) has completed or failed.
   */
  relist(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.inFlightList) return this.inFlightList;
    return this.listAndWatch('relist');
  }

  /**
   * Puts the object a write returned into the cache at once: the agent decides next on what it just
   * wrote rather than on the older state still in the watch pipe (which is then skipped for this key).
   */
  noteWrite(obj: KubeObjectLike): void {
    const key = objectKey(obj);
    const cached = this.items.get(key);
    if (cached && olderThan(obj.metadata.resourceVersion, cached.metadata.resourceVersion)) return;
    this.items.set(key, obj);
    if (obj.metadata.resourceVersion) this.written.set(key, obj.metadata.resourceVersion);
    this.o.onChange('MODIFIED', obj, true);
  }

  private listAndWatch(reason: RestartReason): Promise<void> {
    this.o.onRestart?.(reason);
    const p = this.listOnce().finally(() => {
      if (this.inFlightList === p) this.inFlightList = undefined;
    });
    this.inFlightList = p;
    return p;
  }

  private async listOnce(): Promise<void> {
    const gen = ++this.generation;
    clearTimeout(this.retryTimer);
    this.abort?.abort();
    this.abort = undefined;
    this.watching = false;
    this.listing = true;
    this.stats.lists++;
    const startSeq = ++this.listStarts;
    let result: ListResult;
    try {
      result = await this.o.list();
    } catch (err) {
      if (gen !== this.generation || this.stopped) return;
      this.listing = false;
      this.stats.errors++;
      this.o.onError?.('list', err);
      this.o.logger.warn({ informer: this.o.name, err: errorText(err) }, 'informer: list failed');
      this.retryTimer = setTimeout(() => void this.listAndWatch('error'), this.nextBackoff());
      return;
    }
    if (gen !== this.generation || this.stopped) return;
    this.listing = false;
    this.failures = 0;
    this.completedListStart = startSeq;
    this.replace(result.items);
    this.rv = result.resourceVersion;
    this.synced = true;
    for (const w of this.syncWaiters.splice(0)) w();
    this.o.onSync?.();
    void this.watch(gen);
  }

  /** Replaces the cache with a list, reporting what differs as events. */
  private replace(items: KubeObjectLike[]): void {
    const seen = new Set<string>();
    for (const obj of items) {
      const key = objectKey(obj);
      seen.add(key);
      const before = this.items.get(key);
      this.items.set(key, obj);
      this.written.delete(key);
      if (!before) this.o.onChange('ADDED', obj, false);
      else if (before.metadata.resourceVersion !== obj.metadata.resourceVersion)
        this.o.onChange('MODIFIED', obj, false);
    }
    for (const [key, obj] of [...this.items]) {
      if (seen.has(key)) continue;
      this.items.delete(key);
      this.written.delete(key);
      this.o.onChange('DELETED', obj, false);
    }
  }

  private async watch(gen: number): Promise<void> {
    if (gen !== this.generation || this.stopped) return;
    const range = this.o.watchTimeoutSeconds ?? DEFAULT_WATCH_TIMEOUT;
    const timeoutSeconds = Math.round(range.min + this.random() * (range.max - range.min));
    // The server ends the request after timeoutSeconds; the client-side inactivity guard only has to
    // catch a connection that died silently, so it must never fire before the server's own close.
    const inactivityTimeoutMs = (timeoutSeconds + 60) * 1000;
    const query: Record<string, string | number | boolean> = {
      allowWatchBookmarks: true,
      timeoutSeconds,
      resourceVersion: this.rv,
    };
    if (this.o.fieldSelector) query.fieldSelector = this.o.fieldSelector;
    if (this.o.labelSelector) query.labelSelector = this.o.labelSelector;
    this.stats.watches++;
    let gone = false;
    let watchError: unknown;
    const controller = await kubeClientFor(this.o.kubeConfig).watch(
      this.o.path,
      query,
      (type: string, obj: any) => {
        if (gen !== this.generation || this.stopped) return;
        if (type === 'ERROR') {
          if (obj?.code === 410) gone = true;
          else watchError = new Error(`watch error: ${obj?.message ?? JSON.stringify(obj)}`);
          return;
        }
        this.failures = 0;
        this.handle(type, obj as KubeObjectLike);
      },
      (err: any) => {
        if (gen !== this.generation || this.stopped) return;
        this.abort = undefined;
        this.watching = false;
        if (gone || err?.statusCode === 410 || err?.code === 410) {
          // Our resourceVersion is too old for the watch cache: start over from a list.
          this.stats.gone++;
          this.o.logger.info({ informer: this.o.name }, 'informer: resourceVersion gone; listing again');
          void this.listAndWatch('gone');
          return;
        }
        const failure = err ?? watchError;
        if (failure) {
          this.stats.errors++;
          this.o.onError?.('watch', failure);
          this.o.logger.warn({ informer: this.o.name, err: errorText(failure) }, 'informer: watch failed');
          this.retryTimer = setTimeout(() => {
            this.o.onRestart?.('error');
            void this.watch(gen);
          }, this.nextBackoff());
          return;
        }
        // The server closed the watch at timeoutSeconds: carry on from where it ended.
        this.o.onRestart?.('watch-ended');
        void this.watch(gen);
      },
      inactivityTimeoutMs,
    );
    if (gen === this.generation && !this.stopped) {
      this.abort = controller;
      // watch() returns once the server answered 200, or after calling done for a refusal.
      if (!controller.signal.aborted) this.watching = true;
    } else controller.abort();
  }

  private handle(type: string, obj: KubeObjectLike): void {
    const rv = obj?.metadata?.resourceVersion;
    if (type === 'BOOKMARK') {
      this.stats.bookmarks++;
      if (rv) this.rv = rv;
      return;
    }
    if (!obj?.metadata?.name) return;
    this.stats.events++;
    if (rv) this.rv = rv;
    const key = objectKey(obj);
    if (type === 'DELETED') {
      this.written.delete(key);
      if (this.items.delete(key)) this.o.onChange('DELETED', obj, false);
      return;
    }
    if (type !== 'ADDED' && type !== 'MODIFIED') return;
    const written = this.written.get(key);
    if (written !== undefined) {
      if (olderThan(rv, written)) return;
      this.written.delete(key);
      const cached = this.items.get(key);
      if (cached?.metadata.resourceVersion === rv) return;
    }
    this.items.set(key, obj);
    this.o.onChange(type, obj, false);
  }

  private nextBackoff(): number {
    const b = this.o.backoff ?? DEFAULT_BACKOFF;
    const ms = Math.min(b.maxMs, b.initialMs * 2 ** Math.min(this.failures, 16));
    this.failures++;
    // Full jitter in the upper half: agents that lost the API server together come back spread out.
    return Math.round(ms * (0.5 + this.random() * 0.5));
  }
}

export function errorText(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
