// The players: a GameSessionDriver allocates a game server through the allocation API as a
// matchmaker would, holds the session for a while on the simulation clock, then has the game server
// shut itself down (SDK.Shutdown()). Every session goes into the ledger; watching GameServers, pods
// and nodes, it marks a held session lost when its GameServer leaves Allocated, is deleted, or its
// pod or node disappears before the driver's own shutdown.

import type { Logger } from 'pino';
import type { KubeObject, LocalClient } from '../kube/types.js';
import type { SeededRandom, SimClock } from '../clock.js';
import { informerFor, type Informer, type InformerFactory } from './informer.js';
import { GAMESERVERALLOCATIONS, GAMESERVERS, NODES, PODS, named, type ClusterHost } from './host.js';
import { MATCHMAKER } from './identities.js';
import { FLEET_LABEL, ROLE_GAMESERVER, ROLE_LABEL } from './names.js';
import { SessionLedger, type SessionRecord } from './sessions.js';
import type { GameServerSdk } from './agones/sdk.js';
import type { GameServerSelector } from './allocation.js';

export interface SessionRequest {
  namespace?: string;
  /** Allocate from this fleet (selector agones.dev/fleet=<fleet>), unless `selectors` are given. */
  fleet?: string;
  selectors?: GameServerSelector[];
  scheduling?: 'Packed' | 'Distributed';
  /** Labels/annotations the allocation patches onto the GameServer. */
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  /** How long the session is held (simulated seconds). */
  durationSeconds: number;
}

export interface LoadOptions extends Omit<SessionRequest, 'durationSeconds'> {
  /** New sessions per simulated second. */
  ratePerSecond: number;
  /** Session length in simulated seconds: fixed, or uniformly random in [min, max]. */
  durationSeconds: number | { min: number; max: number };
}

export interface AllocationStats {
  succeeded: number;
  unallocated: number;
  failed: number;
}

export interface SessionDriverOptions {
  clock: SimClock;
  random: SeededRandom;
  logger: Logger;
  ledger?: SessionLedger;
  sdk: (namespace: string, name: string) => GameServerSdk;
  /** The identity allocating (default a matchmaker service account). */
  client?: LocalClient;
  informers?: InformerFactory;
}

export class GameSessionDriver {
  readonly ledger: SessionLedger;
  readonly allocations: AllocationStats = { succeeded: 0, unallocated: 0, failed: 0 };
  private readonly client: LocalClient;
  private readonly gameServers: Informer;
  private readonly pods: Informer;
  private readonly nodes: Informer;
  private readonly timers = new Map<number, () => void>();
  private readonly loads = new Set<() => void>();
  /** Per GameServer with a held session: watch events older than this resourceVersion are stale. */
  private readonly minRv = new Map<string, number>();
  private stopped = false;

  constructor(
    host: ClusterHost,
    private readonly options: SessionDriverOptions,
  ) {
    this.ledger = options.ledger ?? new SessionLedger();
    this.client = options.client ?? host.client(MATCHMAKER);
    const watcher = host.client(MATCHMAKER);
    const base = { logger: options.logger, clock: options.clock };
    this.gameServers = informerFor(options.informers, watcher, GAMESERVERS, base).on((type, gs) =>
      this.onGameServer(type, gs),
    );
    this.pods = informerFor(options.informers, watcher, PODS, base, {
      labelSelector: `${ROLE_LABEL}=${ROLE_GAMESERVER}`,
    }).on((type, pod) => {
      if (type === 'DELETED')
        this.logLost(
          this.ledger.observePodGone(
            pod.metadata.namespace ?? 'default',
            pod.metadata.name!,
            this.options.clock.now(),
          ),
          { podUid: pod.metadata.uid, podNode: pod.spec?.nodeName },
        );
    });
    this.nodes = informerFor(options.informers, watcher, NODES, base).on((type, node) => {
      if (type === 'DELETED')
        this.logLost(this.ledger.observeNodeGone(node.metadata.name!, this.options.clock.now()));
    });
  }

  async start(): Promise<void> {
    await Promise.all([this.gameServers.start(), this.pods.start(), this.nodes.start()]);
  }

  stop(): void {
    this.stopped = true;
    for (const stop of this.loads) stop();
    this.loads.clear();
    for (const cancel of this.timers.values()) cancel();
    this.timers.clear();
    this.gameServers.stop();
    this.pods.stop();
    this.nodes.stop();
  }

  private onGameServer(type: string, gs: KubeObject): void {
    const ns = gs.metadata.namespace ?? 'default';
    const name = gs.metadata.name!;
    const key = `${ns}/${name}`;
    if (this.ledger.activeFor(ns, name).length === 0) {
      this.minRv.delete(key);
      return;
    }
    if (type !== 'DELETED' && Number(gs.metadata.resourceVersion ?? 0) < (this.minRv.get(key) ?? 0)) return;
    this.judge(ns, name, type === 'DELETED' ? undefined : gs);
  }

  private judge(ns: string, name: string, gs: KubeObject | undefined): void {
    const now = this.options.clock.now();
    if (!gs) this.logLost(this.ledger.observeGameServer(ns, name, undefined, now));
    else
      this.logLost(
        this.ledger.observeGameServer(
          ns,
          name,
          {
            uid: gs.metadata.uid,
            state: gs.status?.state,
            nodeName: gs.status?.nodeName,
            deleting: Boolean(gs.metadata.deletionTimestamp),
          },
          now,
        ),
        { gameServerUid: gs.metadata.uid, resourceVersion: gs.metadata.resourceVersion },
      );
  }

  /**
   * Every session the ledger ends as lost, in the log at real time (to line it up with the components'
   * lines) with what the pod or GameServer showed. The run's report may still count it as ended by a
   * Spot notice: that accounting needs the notice's time, which is not known here.
   */
  private logLost(lost: readonly SessionRecord[], detail: Record<string, unknown> = {}): void {
    for (const r of lost)
      this.options.logger.info(
        {
          session: r.id,
          gameServer: `${r.namespace}/${r.gameServer}`,
          uid: r.uid,
          node: r.nodeName,
          reason: r.lostReason,
          simAllocatedAt: new Date(r.allocatedAt).toISOString(),
          simEndedAt: r.endedAt === undefined ? undefined : new Date(r.endedAt).toISOString(),
          ...detail,
        },
        'session cut short (lost, unless a Spot notice accounts for it)',
      );
  }

  /** POSTs a GameServerAllocation as the matchmaker would; returns the API's answer. */
  async allocate(request: Omit<SessionRequest, 'durationSeconds'>): Promise<KubeObject> {
    const namespace = request.namespace ?? 'default';
    const selectors =
      request.selectors ?? (request.fleet ? [{ matchLabels: { [FLEET_LABEL]: request.fleet } }] : [{}]);
    return this.client.create(
      { ...GAMESERVERALLOCATIONS, namespace },
      {
        apiVersion: 'allocation.agones.dev/v1',
        kind: 'GameServerAllocation',
        metadata: { namespace },
        spec: {
          selectors,
          ...(request.scheduling ? { scheduling: request.scheduling } : {}),
          ...(request.metadata ? { metadata: request.metadata } : {}),
        },
      },
    );
  }

  /**
   * Allocates and starts a session held for `durationSeconds`; undefined when nothing could be
   * allocated (UnAllocated or an error: counted in `allocations`).
   */
  async startSession(request: SessionRequest): Promise<SessionRecord | undefined> {
    if (this.stopped) return undefined;
    const namespace = request.namespace ?? 'default';
    let res: KubeObject;
    try {
      res = await this.allocate(request);
    } catch (err) {
      this.allocations.failed++;
      this.options.logger.debug({ err }, 'allocation failed');
      return undefined;
    }
    if (res.status?.state !== 'Allocated') {
      this.allocations.unallocated++;
      return undefined;
    }
    this.allocations.succeeded++;
    const name = res.status.gameServerName as string;
    const now = this.options.clock.now();
    // Read the GameServer once: its uid, and the resourceVersion from which watch events count
    // (older events still in flight describe it before this allocation).
    const fresh = await this.client.get(named(GAMESERVERS, namespace, name)).catch(() => undefined);
    const record = this.ledger.start({
      namespace,
      gameServer: name,
      uid: fresh?.metadata.uid,
      nodeName: res.status.nodeName,
      at: now,
      plannedEndAt: now + request.durationSeconds * 1000,
    });
    if (fresh) this.minRv.set(`${namespace}/${name}`, Number(fresh.metadata.resourceVersion ?? 0));
    this.judge(namespace, name, fresh);
    const cancel = this.options.clock.setTimeout(() => {
      this.timers.delete(record.id);
      void this.endSession(record);
    }, request.durationSeconds * 1000);
    this.timers.set(record.id, cancel);
    return record;
  }

  /**
   * Ends a session now rather than at its planned end, as a game does when its players leave early:
   * the game server shuts itself down. (Lets a scenario hold sessions for as long as it looks.)
   */
  async endNow(record: SessionRecord): Promise<void> {
    this.timers.get(record.id)?.();
    this.timers.delete(record.id);
    await this.endSession(record);
  }

  /** The session's planned end: the game server shuts itself down. */
  private async endSession(record: SessionRecord): Promise<void> {
    if (record.outcome !== 'active') return;
    this.ledger.beginShutdown(record.id, this.options.clock.now());
    try {
      await this.options.sdk(record.namespace, record.gameServer).shutdown();
    } catch (err) {
      this.options.logger.debug({ err, gameServer: record.gameServer }, 'SDK.Shutdown() failed');
    }
    this.ledger.complete(record.id, this.options.clock.now());
  }

  /** Starts sessions at a steady rate on the simulation clock until the returned function is called. */
  startLoad(options: LoadOptions): () => void {
    if (!(options.ratePerSecond > 0))
      throw new Error(`ratePerSecond must be positive, got ${options.ratePerSecond}`);
    const intervalMs = 1000 / options.ratePerSecond;
    const duration = () => {
      const d = options.durationSeconds;
      return typeof d === 'number' ? d : d.min + (d.max - d.min) * this.options.random.next();
    };
    // Timers fire at most every ~1 ms of real time; send however many sessions are due.
    let due = this.options.clock.now();
    const tick = () => {
      const now = this.options.clock.now();
      while (due <= now && !this.stopped) {
        due += intervalMs;
        void this.startSession({ ...options, durationSeconds: duration() });
      }
    };
    const cancel = this.options.clock.setInterval(tick, Math.max(intervalMs, 1));
    const stop = () => {
      cancel();
      this.loads.delete(stop);
    };
    this.loads.add(stop);
    return stop;
  }
}
