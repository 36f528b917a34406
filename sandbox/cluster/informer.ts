// A shared-informer stand-in: list, then watch from the list's resourceVersion, keeping a cache of
// the objects; on a 410 Gone (or any watch error) it lists again and reconciles the cache, telling
// handlers what changed meanwhile. Handlers only see events; they should enqueue work, not do it.

import type { Logger } from 'pino';
import type { KubeObject, ListOptions, LocalClient, ResourceRef, WatchEvent } from '../kube/types.js';
import type { SimClock } from '../clock.js';

export type InformerEventType = 'ADDED' | 'MODIFIED' | 'DELETED';
export type InformerHandler = (type: InformerEventType, obj: KubeObject, old: KubeObject | undefined) => void;

export function keyOf(obj: { metadata: { namespace?: string; name?: string } }): string {
  return obj.metadata.namespace
    ? `${obj.metadata.namespace}/${obj.metadata.name}`
    : (obj.metadata.name ?? '');
}

export interface InformerOptions {
  labelSelector?: string;
  fieldSelector?: string;
  logger: Logger;
  clock: SimClock;
  /** Simulated milliseconds to wait before re-listing after a failed list or a broken watch. */
  retryMs?: number;
}

export class Informer {
  readonly cache = new Map<string, KubeObject>();
  private readonly handlers: InformerHandler[] = [];
  private stopWatch: (() => void) | undefined;
  private cancelRetry: (() => void) | undefined;
  private stopped = false;
  private synced = false;
  private generation = 0;
  private resourceVersion = '';
  private syncWaiters: (() => void)[] = [];
  /** How many times the informer listed (1 + re-lists): a test can see a 410 was handled. */
  lists = 0;
  /** Set by an InformerFactory: only the factory stops a shared informer. */
  shared = false;

  constructor(
    private readonly client: LocalClient,
    private readonly ref: ResourceRef,
    private readonly options: InformerOptions,
  ) {}

  on(handler: InformerHandler): this {
    this.handlers.push(handler);
    return this;
  }

  get hasSynced(): boolean {
    return this.synced;
  }

  get(namespace: string | undefined, name: string): KubeObject | undefined {
    return this.cache.get(namespace ? `${namespace}/${name}` : name);
  }

  values(): IterableIterator<KubeObject> {
    return this.cache.values();
  }

  /** Starts listing and watching; resolves once the first list is in the cache. */
  start(): Promise<void> {
    if (!this.stopped && !this.synced && this.lists === 0) void this.relist();
    return this.waitForSync();
  }

  waitForSync(): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  stop(force = false): void {
    if (this.shared && !force) return;
    this.stopped = true;
    this.stopWatch?.();
    this.stopWatch = undefined;
    this.cancelRetry?.();
    for (const w of this.syncWaiters.splice(0)) w();
  }

  /**
   * Drops the watch as a broken connection would. The informer resumes watching from the last
   * resourceVersion it saw after `retryMs`; if the API server no longer has that history it
   * answers 410 Gone and the informer lists again.
   */
  disconnect(): void {
    if (this.stopped || !this.synced) return;
    this.stopWatch?.();
    this.stopWatch = undefined;
    const generation = ++this.generation;
    this.cancelRetry?.();
    this.cancelRetry = this.options.clock.setTimeout(() => {
      if (!this.stopped && generation === this.generation) this.startWatch(generation);
    }, this.options.retryMs ?? 1000);
  }

  private listOptions(): ListOptions {
    const o: ListOptions = {};
    if (this.options.labelSelector) o.labelSelector = this.options.labelSelector;
    if (this.options.fieldSelector) o.fieldSelector = this.options.fieldSelector;
    return o;
  }

  private emit(type: InformerEventType, obj: KubeObject, old: KubeObject | undefined): void {
    for (const h of this.handlers) {
      try {
        h(type, obj, old);
      } catch (err) {
        this.options.logger.error({ err, resource: this.ref.resource }, 'informer handler failed');
      }
    }
  }

  private async relist(): Promise<void> {
    if (this.stopped) return;
    this.stopWatch?.();
    this.stopWatch = undefined;
    const generation = ++this.generation;
    this.lists++;
    let items: KubeObject[];
    try {
      const res = await this.client.list(this.ref, this.listOptions());
      items = res.items;
      this.resourceVersion = res.metadata.resourceVersion;
    } catch (err) {
      this.options.logger.warn({ err, resource: this.ref.resource }, 'list failed; retrying');
      this.scheduleRelist();
      return;
    }
    if (this.stopped || generation !== this.generation) return;
    const fresh = new Map<string, KubeObject>();
    for (const item of items) fresh.set(keyOf(item), item);
    // Reconcile: what vanished while we were not watching is reported as deleted.
    for (const [key, old] of [...this.cache]) {
      if (!fresh.has(key)) {
        this.cache.delete(key);
        this.emit('DELETED', old, old);
      }
    }
    for (const [key, obj] of fresh) {
      const old = this.cache.get(key);
      this.cache.set(key, obj);
      if (!old) this.emit('ADDED', obj, undefined);
      else if (old.metadata.resourceVersion !== obj.metadata.resourceVersion) this.emit('MODIFIED', obj, old);
    }
    this.startWatch(generation);
    if (!this.synced) {
      this.synced = true;
      for (const w of this.syncWaiters.splice(0)) w();
    }
  }

  private scheduleRelist(): void {
    if (this.stopped) return;
    this.cancelRetry?.();
    this.cancelRetry = this.options.clock.setTimeout(() => void this.relist(), this.options.retryMs ?? 1000);
  }

  private startWatch(generation: number): void {
    const options: ListOptions = {
      ...this.listOptions(),
      resourceVersion: this.resourceVersion,
      allowWatchBookmarks: true,
    };
    this.stopWatch = this.client.watch(this.ref, options, (event: WatchEvent) => {
      if (this.stopped || generation !== this.generation) return;
      this.onEvent(event, generation);
    });
  }

  private onEvent(event: WatchEvent, generation: number): void {
    const obj = event.object;
    switch (event.type) {
      case 'BOOKMARK':
        if (obj?.metadata?.resourceVersion) this.resourceVersion = obj.metadata.resourceVersion;
        return;
      case 'ERROR': {
        const code = (obj as any)?.code;
        this.options.logger.info(
          { code, resource: this.ref.resource, message: (obj as any)?.message },
          'watch ended; re-listing',
        );
        if (generation === this.generation) {
          this.stopWatch = undefined;
          // 410 Gone: our resourceVersion is too old, list again at once. Otherwise back off a little.
          if (code === 410) void this.relist();
          else this.scheduleRelist();
        }
        return;
      }
      case 'ADDED':
      case 'MODIFIED': {
        if (obj.metadata.resourceVersion) this.resourceVersion = obj.metadata.resourceVersion;
        const key = keyOf(obj);
        const old = this.cache.get(key);
        this.cache.set(key, obj);
        this.emit(old ? 'MODIFIED' : 'ADDED', obj, old);
        return;
      }
      case 'DELETED': {
        if (obj.metadata.resourceVersion) this.resourceVersion = obj.metadata.resourceVersion;
        const key = keyOf(obj);
        const old = this.cache.get(key);
        this.cache.delete(key);
        this.emit('DELETED', obj, old);
        return;
      }
    }
  }
}

/**
 * One informer per resource and selector, shared by every component that asks (as a
 * SharedInformerFactory shares them within a process). The simulation shares them across its
 * simulated processes too: one watch and one decoded copy per event instead of one per component.
 */
export class InformerFactory {
  private readonly informers = new Map<string, Informer>();

  constructor(
    private readonly client: LocalClient,
    private readonly base: { logger: Logger; clock: SimClock },
  ) {}

  get(ref: ResourceRef, selectors: { labelSelector?: string; fieldSelector?: string } = {}): Informer {
    const key = JSON.stringify([
      ref.group,
      ref.version,
      ref.resource,
      ref.namespace ?? '',
      selectors.labelSelector ?? '',
      selectors.fieldSelector ?? '',
    ]);
    let inf = this.informers.get(key);
    if (!inf) {
      inf = new Informer(this.client, ref, { ...this.base, ...selectors });
      inf.shared = true;
      this.informers.set(key, inf);
    }
    return inf;
  }

  stop(): void {
    for (const i of this.informers.values()) i.stop(true);
  }
}

/** An informer from the factory when there is one, else a private one on `client`. */
export function informerFor(
  factory: InformerFactory | undefined,
  client: LocalClient,
  ref: ResourceRef,
  base: { logger: Logger; clock: SimClock },
  selectors: { labelSelector?: string; fieldSelector?: string } = {},
): Informer {
  return factory ? factory.get(ref, selectors) : new Informer(client, ref, { ...base, ...selectors });
}
