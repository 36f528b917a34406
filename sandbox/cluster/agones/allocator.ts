// Agones' allocator behind `create gameserverallocations.allocation.agones.dev`: validation, then
// up to 5 tries 10 ms apart (real time). Each try goes through the batch loop: requests queued
// while a batch runs share one sorted list of the allocation CACHE (a watch-fed map of Ready and
// Allocated GameServers, never a fresh list); a pick is removed from the list and the cache, then
// ONE full update (PUT) of the GameServer carrying the cached resourceVersion is sent. A conflict
// leaves the GameServer out of the cache until the watch brings it back; another error puts it
// back. Nodes are never looked at: cordoned, tainted or draining nodes' GameServers are allocated.

import type { Logger } from 'pino';
import type { KubeObject, ResourceRef, UserInfo } from '../../kube/types.js';
import type { SeededRandom, SimClock } from '../../clock.js';
import { ApiError, invalid } from '../../kube/errors.js';
import { informerFor, keyOf, type Informer, type InformerFactory } from '../informer.js';
import { GAMESERVERS, NODES, isApiErrorCode, named, type ClusterHost } from '../host.js';
import { AGONES_CONTROLLER } from '../identities.js';
import {
  allocationResponse,
  applyAllocation,
  findGameServerForAllocation,
  isAllocatable,
  normalizeAllocation,
  sortPacked,
  validateAllocation,
  type NormalizedAllocation,
} from '../allocation.js';
import { ALLOCATION_GROUP } from '../names.js';
import { PerNodeCounter } from './node-counter.js';

export interface AllocatorOptions {
  clock: SimClock;
  random: SeededRandom;
  logger: Logger;
  /** allocationBatchWaitTime: the pause after a batch drains, simulated ms (Agones: 500 ms). */
  batchWaitMs?: number;
  /** Tries per allocation and the real-time pause between them (Agones: 5 and 10 ms). */
  retries?: number;
  retryDelayMs?: number;
  informers?: InformerFactory;
}

type TryResult =
  | { kind: 'allocated'; gameServer: KubeObject }
  | { kind: 'none' }
  | { kind: 'contention' }
  | { kind: 'error'; error: unknown };

interface Request {
  allocation: NormalizedAllocation;
  resolve: (r: TryResult) => void;
}

const MAX_BATCH_BEFORE_REFRESH = 100;

export interface AllocatorStats {
  allocated: number;
  unallocated: number;
  contention: number;
  failed: number;
  conflicts: number;
  retries: number;
}

export class Allocator {
  /** The allocation cache: Ready and Allocated GameServers not being deleted, by key. */
  readonly cache = new Map<string, KubeObject>();
  readonly counter = new PerNodeCounter();
  readonly stats: AllocatorStats = {
    allocated: 0,
    unallocated: 0,
    contention: 0,
    failed: 0,
    conflicts: 0,
    retries: 0,
  };
  private readonly informer: Informer;
  private readonly nodeInformer: Informer;
  private readonly client;
  private readonly queue: Request[] = [];
  private looping = false;
  private stopped = false;
  private subNanos = 0;

  constructor(
    private readonly host: ClusterHost,
    private readonly options: AllocatorOptions,
  ) {
    this.client = host.client(AGONES_CONTROLLER);
    const base = { logger: options.logger, clock: options.clock };
    this.informer = informerFor(options.informers, this.client, GAMESERVERS, base).on((type, gs, old) =>
      this.onGameServer(type, gs, old),
    );
    // Only for the per-node counter's bookkeeping of deleted nodes; allocation never reads nodes.
    this.nodeInformer = informerFor(options.informers, this.client, NODES, base).on((type, node) => {
      if (type === 'DELETED') this.counter.onNodeDeleted(node.metadata.name!);
    });
  }

  async start(): Promise<void> {
    await Promise.all([this.informer.start(), this.nodeInformer.start()]);
    this.host.setAllocationHandler((ref, body, user) => this.handle(ref, body, user));
  }

  stop(): void {
    this.stopped = true;
    this.host.setAllocationHandler(undefined);
    this.informer.stop();
    this.nodeInformer.stop();
    for (const r of this.queue.splice(0))
      r.resolve({ kind: 'error', error: new ApiError(503, 'ServiceUnavailable', 'allocator stopped') });
  }

  /** The allocation cache's event handler (Agones' AllocationCache). */
  private onGameServer(
    type: 'ADDED' | 'MODIFIED' | 'DELETED',
    gs: KubeObject,
    old: KubeObject | undefined,
  ): void {
    this.counter.onGameServer(type, gs, old);
    const key = keyOf(gs);
    if (type === 'DELETED' || gs.metadata.deletionTimestamp) {
      this.cache.delete(key);
      return;
    }
    if (type === 'MODIFIED' && old && old.metadata.resourceVersion === gs.metadata.resourceVersion) return;
    if (isAllocatable(gs)) this.cache.set(key, gs);
    else if (!old || isAllocatable(old) || this.cache.has(key)) this.cache.delete(key);
  }

  private async handle(ref: ResourceRef, body: KubeObject, _user: UserInfo): Promise<KubeObject> {
    const gsa: KubeObject = {
      ...body,
      apiVersion: body.apiVersion ?? `${ALLOCATION_GROUP}/v1`,
      kind: body.kind ?? 'GameServerAllocation',
      metadata: {
        ...(body.metadata ?? {}),
        namespace: ref.namespace ?? body.metadata?.namespace ?? 'default',
      },
    };
    const errs = validateAllocation(gsa);
    if (errs.length > 0)
      throw invalid(ALLOCATION_GROUP, 'GameServerAllocation', gsa.metadata.name ?? '', errs);
    const allocation = normalizeAllocation(gsa);
    const tries = this.options.retries ?? 5;
    let last: TryResult = { kind: 'none' };
    for (let attempt = 0; attempt < tries; attempt++) {
      if (attempt > 0) {
        this.stats.retries++;
        // 10 ms apart with 10% jitter (wait.Backoff{Duration: 10ms, Factor: 1, Jitter: 0.1}).
        const base = this.options.retryDelayMs ?? 10;
        await new Promise((r) => setTimeout(r, base * (1 + 0.1 * this.options.random.next())));
      }
      last = await this.tryOnce(allocation);
      if (last.kind === 'allocated') {
        this.stats.allocated++;
        return allocationResponse(gsa, { state: 'Allocated', gameServer: last.gameServer });
      }
      if (last.kind === 'none') {
        this.stats.unallocated++;
        return allocationResponse(gsa, { state: 'UnAllocated' });
      }
    }
    if (last.kind === 'contention') {
      this.stats.contention++;
      return allocationResponse(gsa, { state: 'Contention' });
    }
    this.stats.failed++;
    const err = last.kind === 'error' ? last.error : undefined;
    const message = `error updating allocated gameserver: ${(err as Error)?.message ?? String(err)}`;
    throw new ApiError(500, 'InternalError', message);
  }

  private tryOnce(allocation: NormalizedAllocation): Promise<TryResult> {
    return new Promise((resolve) => {
      this.queue.push({ allocation, resolve });
      this.kick();
    });
  }

  private kick(): void {
    if (this.looping || this.stopped) return;
    this.looping = true;
    setImmediate(() => void this.loop());
  }

  /** ListenAndAllocate: one sorted list per batch, refreshed every 100 requests. */
  private async loop(): Promise<void> {
    let list: KubeObject[] | undefined;
    let count = 0;
    while (!this.stopped && this.queue.length > 0) {
      const req = this.queue.shift()!;
      if (count >= MAX_BATCH_BEFORE_REFRESH) {
        list = undefined;
        count = 0;
      }
      count++;
      if (!list) {
        const all = [...this.cache.values()];
        list = req.allocation.scheduling === 'Packed' ? sortPacked(all, this.counter.counts) : all;
      }
      const found = findGameServerForAllocation(req.allocation, list, this.options.random);
      if (!found) {
        req.resolve({ kind: 'none' });
        continue;
      }
      list.splice(found.index, 1);
      const key = keyOf(found.gameServer);
      if (!this.cache.delete(key)) {
        req.resolve({ kind: 'contention' });
        continue;
      }
      void this.update(req, found.gameServer);
    }
    this.looping = false;
    const wait = this.options.batchWaitMs ?? 0;
    if (wait > 0 && !this.stopped) {
      // The batch loop sleeps once the queue drains; requests arriving meanwhile wait for it.
      this.looping = true;
      await this.options.clock.sleep(wait);
      this.looping = false;
    }
    if (this.queue.length > 0) this.kick();
  }

  private async update(req: Request, gs: KubeObject): Promise<void> {
    const now = this.options.clock.now();
    this.subNanos = (this.subNanos + 1 + this.options.random.int(997)) % 1_000_000;
    const body = applyAllocation(gs, req.allocation.metadata, now, this.subNanos);
    try {
      const updated = await this.client.update(
        named(GAMESERVERS, gs.metadata.namespace, gs.metadata.name!),
        body,
      );
      req.resolve({ kind: 'allocated', gameServer: updated });
    } catch (err) {
      if (isApiErrorCode(err, 409)) this.stats.conflicts++;
      // Not for a conflict: the cache is out of date then, and the watch will refresh it.
      else if (!this.stopped) this.cache.set(keyOf(gs), gs);
      req.resolve({ kind: 'error', error: err });
    }
  }
}
