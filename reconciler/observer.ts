// What the agent sees: its Node and the game server pods on it (two scoped watches), the GameServers
// behind those pods (a read cache: GameServers have no field selector on their node, so each is a GET
// by its pod's name), its FleetIQ status and registration. observe() turns them into one immutable
// Observation for decide(), or says why there is none yet.
//
// Reads: a GameServer is read again when its pod changes (someone else's write: the webhook's
// toleration on an allocation, the kubelet, a deletion), after a status change on a cordoned node,
// when DRAINING first arrives (all of them, before the cordon), after the cordon, and when decide()'s
// timing asks for it (the sessions a drain waits on, a pending allocation). An idle node makes no
// Kubernetes request beyond its two watches.
//
// The post-cordon barrier: fencing must only use observations newer than the cordon, so once the Node
// is unschedulable the pod list must be at least as new as that Node (one consistent re-list if the
// watch has not got there) and every GameServer is read again.
//
// Every change the agent must react to (watch events, a new or stale status, a Spot notice, a FleetIQ
// result, a recheck falling due) reaches the reconcile loop through one callback, `onChange`.
import type { KubeClientConfig } from '../shared/kube-client/config.js';
import type { Logger } from '../shared/logger.js';
import {
  actedOnMark,
  isSessionState,
  isStatusFresh,
  isTerminalState,
  type DecideConfig,
  type Decision,
  type GameServerView,
  type Observation,
  type ObservedStatus,
  type RegistrationView,
} from './decide.js';
import { ScopedInformer, errorText, type InformerOptions } from '../shared/scoped-informer.js';
import type { AgentKubeApi } from './kube-api.js';
import { GAME_SERVER_POD_SELECTOR, gameServerViews, nodeView } from './kube-objects.js';
import { atLeastAsNew, objectKey, type KubeObjectLike } from '../shared/kube-object.js';
import { podToleratesDrain } from '../shared/drain-contract.js';
import { mapLimit } from '../shared/timeout.js';

/** Where the status and the registration come from, known once the instance id is. */
export interface ObservationSources {
  /** What pubsub (through Redis) or FleetIQ itself last said. */
  status: {
    current(): ObservedStatus | undefined;
    /** Statuses observed before the Node's replay high-water mark are refused from now on. */
    refuseOlderThan(observedAt: number | undefined): void;
  };
  /**
   * The instance's own Spot interruption notice from instance metadata, when polled, and the EC2
   * rebalance recommendation read by the same poll.
   */
  spotNotice?: {
    current(): { lastSeenAt: number } | undefined;
    currentRebalance?(): { noticeTime: number } | undefined;
  };
  registration(): RegistrationView;
}

export interface ObserverOptions {
  nodeName: string;
  kubeConfig: KubeClientConfig;
  api: AgentKubeApi;
  logger: Logger;
  decide: DecideConfig;
  now: () => number;
  random: () => number;
  /** Lifetime of one watch request, drawn in [min, max] seconds. */
  watchTimeoutSeconds: { min: number; max: number };
  /** GameServer GETs in flight at once. */
  fetchConcurrency: number;
  /** Something the agent observes changed: the one way into the reconcile loop. */
  onChange: () => void;
  onApiError: (operation: string, err: unknown) => void;
  /** Makes the two informers (default ScopedInformer; tests pass a fake). */
  informer?: (options: InformerOptions) => ObservedInformer;
}

/** What the observer uses of an informer (ScopedInformer). */
export type ObservedInformer = Pick<
  ScopedInformer,
  | 'start'
  | 'stop'
  | 'waitForSync'
  | 'hasSynced'
  | 'get'
  | 'values'
  | 'relist'
  | 'resourceVersion'
  | 'listsStarted'
  | 'lastCompletedList'
  | 'noteWrite'
  | 'stats'
>;

export type ObserveResult =
  | { kind: 'observed'; observation: Readonly<Observation>; node: KubeObjectLike; pods: number }
  /** Nothing to decide on yet: no Node, the pods not listed, the barrier not passed. */
  | { kind: 'waiting' }
  /** A GameServer read failed: no decision on a partial view. */
  | { kind: 'readFailed' }
  | { kind: 'stopped' };

interface GameServerEntry {
  /** null: the GET answered 404. */
  obj: KubeObjectLike | null;
  fullGen: number;
  sessionGen: number;
  /** A pod event or a failed precondition says this read is out of date. */
  invalid: boolean;
  /** The allocation may be pending (GameServerView.allocationPending). */
  allocationPending: boolean;
  /** Read again at this time. */
  recheckAt?: number;
}

export class Observer {
  private readonly nodeInformer: ObservedInformer;
  private readonly podInformer: ObservedInformer;
  private sources?: ObservationSources;
  private readonly gameServers = new Map<string, GameServerEntry>();
  /** Bumped when every GameServer must be read again (status change, cordon). */
  private fullGen = 0;
  /** Bumped by the session recheck timer. */
  private sessionGen = 0;
  private sessionRecheckTimer?: NodeJS.Timeout;
  private lastFreshStatus?: string;
  /** The Node's resourceVersion when it was first seen unschedulable, and the pod lists started by then. */
  private barrier?: { rv: string; listsStarted: number };
  private idleSince?: number;
  private stopped = false;
  /** GETs of GameServers made so far. */
  gameServerReads = 0;
  /**
   * The one way into the reconcile loop: everything the agent observes (watches, the status source,
   * the Spot notice, FleetIQ results, rechecks falling due) calls this when it changes.
   */
  readonly notify = (): void => this.o.onChange();

  constructor(private readonly o: ObserverOptions) {
    const informerBase = {
      kubeConfig: o.kubeConfig,
      logger: o.logger,
      random: o.random,
      watchTimeoutSeconds: o.watchTimeoutSeconds,
      onError: (operation: string, err: unknown) => o.onApiError(operation, err),
    };
    const informer = o.informer ?? ((options: InformerOptions) => new ScopedInformer(options));
    const nodeSelector = `metadata.name=${o.nodeName}`;
    this.nodeInformer = informer({
      ...informerBase,
      name: 'node',
      path: '/api/v1/nodes',
      fieldSelector: nodeSelector,
      list: () => o.api.listNodes(nodeSelector),
      onChange: () => this.notify(),
      onSync: () => this.notify(),
    });
    const podSelector = `spec.nodeName=${o.nodeName}`;
    this.podInformer = informer({
      ...informerBase,
      name: 'pods',
      path: '/api/v1/pods',
      fieldSelector: podSelector,
      labelSelector: GAME_SERVER_POD_SELECTOR,
      list: () => o.api.listPods(podSelector, GAME_SERVER_POD_SELECTOR),
      onChange: (type, pod, own) => this.onPod(type, pod, own),
      onSync: () => this.notify(),
    });
  }

  /** Starts watching the Node; resolves once it has been listed. */
  async startNode(): Promise<void> {
    this.nodeInformer.start();
    await this.nodeInformer.waitForSync();
  }

  /** Starts watching the pods (after the Node was read, so the first pod list is newer than it). */
  async startPods(sources: ObservationSources): Promise<void> {
    this.sources = sources;
    this.podInformer.start();
    await this.podInformer.waitForSync();
  }

  node(): KubeObjectLike | undefined {
    return this.nodeInformer.get(this.o.nodeName);
  }

  /**
   * The status decide() acts on: the instance's own Spot notice when instance metadata holds one
   * (EC2 interrupts the instance whatever FleetIQ says, so nothing overrides it), else what the
   * status source believes.
   */
  effectiveStatus(): ObservedStatus | undefined {
    const notice = this.sources?.spotNotice?.current();
    if (notice)
      return {
        status: 'SPOT_TERMINATING',
        observedAt: notice.lastSeenAt,
        source: 'imds',
        authenticated: true,
      };
    return this.sources?.status.current();
  }

  /** Feeds what decide() carries over (idleSince) and schedules the rechecks its timing asks for. */
  remember(decision: Decision): number | undefined {
    this.idleSince = decision.idleSince;
    const t = decision.timing;
    if (t.sessionRecheckAfterMs !== undefined) this.scheduleSessionRecheck(t.sessionRecheckAfterMs);
    return this.scheduleAllocationRechecks(t.allocationRecheckAfterMs);
  }

  async observe(): Promise<ObserveResult> {
    const node = this.node();
    if (!node) {
      this.o.logger.warn('reconciler: the Node is gone; nothing to do until it is back');
      return { kind: 'waiting' };
    }
    if (!this.podInformer.hasSynced() || !this.sources) return { kind: 'waiting' };
    const sources = this.sources;

    if (node.spec?.unschedulable === true) {
      if (!this.barrier) {
        this.barrier = {
          rv: String(node.metadata.resourceVersion ?? ''),
          listsStarted: this.podInformer.listsStarted(),
        };
        this.fullGen++;
      }
      const podsNewer = () =>
        atLeastAsNew(this.podInformer.resourceVersion(), this.barrier!.rv) ||
        this.podInformer.lastCompletedList() > this.barrier!.listsStarted;
      if (!podsNewer()) {
        // One consistent list of the node's pods, in this pass (a watch event or bookmark would
        // come eventually, but a drain should not wait for one).
        await this.podInformer.relist();
        if (this.stopped || !this.barrier || !podsNewer()) return { kind: 'waiting' };
      }
    } else this.barrier = undefined;

    const now = this.o.now();
    sources.status.refuseOlderThan(actedOnMark(node.metadata.annotations ?? {}, now, this.o.decide));
    const status = this.effectiveStatus();
    const fresh = isStatusFresh(status, now, this.o.decide.statusStaleAfterMs) ? status!.status : undefined;
    let drainStarts = false;
    if (fresh !== this.lastFreshStatus) {
      this.lastFreshStatus = fresh;
      // A new status may start a drain on game servers read long ago: read them again.
      if (node.spec?.unschedulable === true) this.fullGen++;
      else drainStarts = fresh === 'DRAINING';
    }

    const pods = this.podInformer.values();
    if (drainStarts) {
      // Before the cordon, so this first decision sees every session: FleetIQ terminates a DRAINING
      // instance once none of its game servers is UTILIZED, and a session allocated without the
      // webhook (failurePolicy Ignore) may not be known yet. UTILIZED then goes out beside the
      // cordon rather than after it. Best effort: the cordon needs no game server, and after it
      // every read is required again (the barrier above). Not on a Spot notice: the instance goes
      // regardless of UTILIZED, and its taint should not wait for these reads.
      await this.refreshGameServers(pods, true);
      if (this.stopped) return { kind: 'stopped' };
    }
    if (!(await this.refreshGameServers(pods))) return { kind: 'readFailed' };
    if (this.stopped) return { kind: 'stopped' };

    const gameServers = gameServerViews(pods, (key) => this.gameServers.get(key)?.obj).map((v) =>
      Object.freeze(
        this.gameServers.get(`${v.namespace}/${v.name}`)?.allocationPending
          ? { ...v, allocationPending: true }
          : v,
      ),
    );
    const rebalance = sources.spotNotice?.currentRebalance?.();
    const observation: Observation = {
      now: this.o.now(),
      ...(rebalance ? { rebalance: Object.freeze({ noticeTime: rebalance.noticeTime }) } : {}),
      ...(status ? { status: Object.freeze({ ...status }) } : {}),
      node: Object.freeze(nodeView(node)),
      gameServers: Object.freeze(gameServers) as GameServerView[],
      registration: Object.freeze({ ...sources.registration() }),
      ...(this.idleSince !== undefined ? { idleSince: this.idleSince } : {}),
    };
    return { kind: 'observed', observation: Object.freeze(observation), node, pods: pods.length };
  }

  // ---- what the executor reads and writes back --------------------------------------------------

  pod(key: string): KubeObjectLike | undefined {
    return this.podInformer.get(key);
  }

  gameServer(key: string): KubeObjectLike | null | undefined {
    return this.gameServers.get(key)?.obj;
  }

  /** A write returned this GameServer (null: it is gone). */
  noteGameServer(key: string, obj: KubeObjectLike | null): void {
    const e = this.gameServers.get(key);
    if (e) e.obj = obj;
  }

  /** A precondition failed on this GameServer: read it again before deciding on it. */
  invalidateGameServer(key: string): void {
    const e = this.gameServers.get(key);
    if (e) e.invalid = true;
  }

  noteNodeWrite(node: KubeObjectLike): void {
    this.nodeInformer.noteWrite(node);
  }

  notePodWrite(pod: KubeObjectLike): void {
    this.podInformer.noteWrite(pod);
  }

  informerStats() {
    return {
      node: { lists: this.nodeInformer.stats.lists, watches: this.nodeInformer.stats.watches },
      pods: { lists: this.podInformer.stats.lists, watches: this.podInformer.stats.watches },
    };
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.sessionRecheckTimer);
    this.nodeInformer.stop();
    this.podInformer.stop();
  }

  // ---- the GameServer read cache -----------------------------------------------------------------

  private onPod(type: string, pod: KubeObjectLike, own: boolean): void {
    const key = objectKey(pod);
    if (type === 'DELETED') this.gameServers.delete(key);
    else if (!own) {
      // Someone else changed the pod: its GameServer may have changed too. The agent's own pod
      // writes change nothing there.
      const e = this.gameServers.get(key);
      if (e) e.invalid = true;
    }
    this.notify();
  }

  /** One timer at a time: the game servers in a session are read again when it fires. */
  private scheduleSessionRecheck(ms: number): void {
    if (this.sessionRecheckTimer || this.stopped) return;
    this.sessionRecheckTimer = setTimeout(() => {
      this.sessionRecheckTimer = undefined;
      this.sessionGen++;
      this.notify();
    }, ms);
    this.sessionRecheckTimer.unref?.();
  }

  /** Sets the recheck time of the pending allocations that have none; returns how soon the next is due. */
  private scheduleAllocationRechecks(afterMs: number | undefined): number | undefined {
    const now = this.o.now();
    let next: number | undefined;
    for (const e of this.gameServers.values()) {
      if (afterMs !== undefined && e.allocationPending && e.recheckAt === undefined)
        e.recheckAt = now + afterMs;
      if (e.recheckAt !== undefined && e.recheckAt > now)
        next = Math.min(next ?? Infinity, e.recheckAt - now);
    }
    return next;
  }

  /**
   * Reads the GameServers that need it (`all`: every one); false when any read failed (no decision
   * on a partial view).
   */
  private async refreshGameServers(pods: KubeObjectLike[], all = false): Promise<boolean> {
    const now = this.o.now();
    const due = pods.filter((pod) => {
      if (all) return true;
      const e = this.gameServers.get(objectKey(pod));
      if (!e || e.invalid || e.fullGen < this.fullGen) return true;
      if (e.recheckAt !== undefined && now >= e.recheckAt) return true;
      const state = e.obj?.status?.state;
      return e.obj !== null && isSessionState(state ?? '', this.o.decide) && e.sessionGen < this.sessionGen;
    });
    if (due.length === 0) return true;
    let ok = true;
    await mapLimit(due, this.o.fetchConcurrency, async (pod) => {
      const key = objectKey(pod);
      const previous = this.gameServers.get(key);
      const fullGen = this.fullGen;
      const sessionGen = this.sessionGen;
      try {
        this.gameServerReads++;
        const obj = await this.o.api.getGameServer(
          pod.metadata.namespace ?? 'default',
          String(pod.metadata.name),
        );
        const current = this.podInformer.get(key);
        if (!current) return; // the pod went away meanwhile
        const state = obj?.status?.state ?? '';
        // Only after a pod event (the webhook's toleration patch), and only once.
        const allocationPending =
          previous?.invalid === true &&
          previous.recheckAt === undefined &&
          obj !== null &&
          podToleratesDrain(current) &&
          !isSessionState(state, this.o.decide) &&
          !isTerminalState(state);
        this.gameServers.set(key, { obj, fullGen, sessionGen, invalid: false, allocationPending });
      } catch (err) {
        ok = false;
        this.o.onApiError('getGameServer', err);
        this.o.logger.warn(
          { gameServer: key, err: errorText(err) },
          'reconciler: reading a GameServer failed',
        );
      }
    });
    return ok;
  }
}
