// The node agent: observes its Node, the game servers on it, its FleetIQ status and registration,
// asks decide() what to do, and does it against Kubernetes and FleetIQ.
//
// Controller-runtime style: one reconcile pass at a time, triggered by watch events (its own Node by
// metadata.name, its game server pods by spec.nodeName), status changes, FleetIQ results and timers.
// A pass observes from scratch and decide() is level-triggered, so the agent can be killed at any line
// and a new one continues from what the Node records. What the agent keeps in memory is only a cache
// (objects, GameServer reads) and pacing (back-off), never drain progress.
//
// Reads: GameServers have no field selector on their node, so the agent never lists or watches them
// cluster-wide: it watches the game server pods on its node and GETs each pod's GameServer (same name
// and namespace) when the pod changes, when the status changes, after a cordon, and every few seconds
// for the game servers a drain is waiting on (a session ending with Allocated → Ready touches no pod).
// An idle node makes no Kubernetes request beyond its two watches.
import { GameLiftClient, type GameLiftClientConfig } from '@aws-sdk/client-gamelift';
import { KubeConfig } from '@kubernetes/client-node';
import type { RedisOptions } from 'ioredis';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { primeConnectionReuse, withConnectionReuse } from '../shared/kube-connection.js';
import { createLogger, type Logger } from '../shared/logger.js';
import { startOpsServer, type OpsServer } from '../shared/ops-server.js';
import { parseReconcilerConfig, type ReconcilerConfig } from './config.js';
import {
  actedOnMark,
  decide,
  failureReason,
  isSessionState,
  isStatusFresh,
  isTerminalState,
  type Action,
  type DecideConfig,
  type Decision,
  type MembershipAction,
  type ObservedStatus,
} from './decide.js';
import { backoffDelay, StepGate, type BackoffPolicy } from '../shared/backoff.js';
import { NodeEventRecorder } from './events.js';
import { imdsInstanceId, resolveInstanceId } from './identity.js';
import { ScopedInformer, errorText } from '../shared/scoped-informer.js';
import type { Component } from '../shared/component.js';
import { KubeApiError, clientNodeKubeApi, statusCode, type AgentKubeApi } from './kube-api.js';
import {
  GAME_SERVER_POD_SELECTOR,
  atLeastAsNew,
  gameServerViews,
  nodeView,
  objectKey,
  podToleratesDrain,
  type KubeObjectLike,
} from './kube-objects.js';
import { Membership, gameLiftGameServerApi } from './membership.js';
import { createReconcilerMetrics, type ReconcilerMetrics } from './metrics.js';
import {
  OBSERVED_STATUS_REFRESH_MS,
  drainTolerationPatch,
  observedStatusAnnotations,
  type DrainPhase,
} from '../shared/drain-contract.js';
import {
  nodeMergePatch,
  planSteps,
  shutdownPatch,
  type DeletePodAction,
  type FenceAction,
  type Step,
} from './plan.js';
import { SpotNoticeMonitor } from './spot-notice.js';
import { RedisStatusSource, fleetIQInstanceStatusLookup } from './status-source.js';
import { ReconcileLoop } from './work-loop.js';

export interface AgentTimings {
  /** A drain waiting on sessions reads those game servers again this often (Allocated → Ready changes no pod). */
  drainSessionRecheckMs: number;
  /** `allocated` mode outside a drain, with sessions on the node: the same, for utilization. */
  activeSessionRecheckMs: number;
  /**
   * A pod that gained the drain toleration while its GameServer still read as not allocated is read
   * again this soon: the webhook patches the pod during admission, before the allocation is stored.
   */
  allocationRecheckMs: number;
  /** Pacing of a drain step that keeps failing. */
  drainBackoff: BackoffPolicy;
  /** Pacing of a FleetIQ registration/utilization step that keeps failing. */
  membershipBackoff: BackoffPolicy;
  /** Pacing of start-up retries (instance id from IMDS). */
  bootBackoff: BackoffPolicy;
  /** Lifetime of one watch request, drawn in [min, max] seconds. */
  watchTimeoutSeconds: { min: number; max: number };
  /** The same failure raises a Warning Event at most this often. */
  failureEventIntervalMs: number;
  /** GameServer GETs in flight at once. */
  fetchConcurrency: number;
  /** The FleetIQ status recorded on the Node is rewritten this often while it does not change. */
  observedStatusRefreshMs: number;
}

export const DEFAULT_TIMINGS: AgentTimings = {
  drainSessionRecheckMs: 10_000,
  activeSessionRecheckMs: 60_000,
  allocationRecheckMs: 1_000,
  drainBackoff: { initialMs: 500, maxMs: 60_000 },
  membershipBackoff: { initialMs: 1_000, maxMs: 300_000 },
  bootBackoff: { initialMs: 500, maxMs: 30_000 },
  watchTimeoutSeconds: { min: 300, max: 600 },
  failureEventIntervalMs: 30_000,
  fetchConcurrency: 16,
  observedStatusRefreshMs: OBSERVED_STATUS_REFRESH_MS,
};

export interface ReconcilerOptions {
  config: ReconcilerConfig;
  /** Default KubeConfig.loadFromDefault(): KUBECONFIG, else in-cluster. Each agent makes its own clients. */
  kubeConfig?: KubeConfig;
  /** A GameLift client, or the configuration to make one (default: the SDK's standard chain). */
  gameLift?: GameLiftClient | GameLiftClientConfig;
  /** Extra ioredis options for the status source's connections. */
  redisOptions?: Partial<RedisOptions>;
  logger?: Logger;
  /** Where /healthz, /readyz and /metrics listen (default config.opsListen); false: no ops server. */
  opsListen?: { host: string; port: number } | false;
  /** Process metrics (CPU, memory, event loop) on /metrics; off for many agents in one process. */
  defaultMetrics?: boolean;
  registry?: Registry;
  /** How to read the instance id when the Node has no AWS providerID (default IMDSv2). */
  imdsInstanceId?: () => Promise<string>;
  now?: () => number;
  random?: () => number;
  timings?: Partial<AgentTimings>;
}

export type AgentPhase = DrainPhase | 'Starting';

export interface AgentStats {
  passes: number;
  decisions: number;
  actions: Record<string, number>;
  changed: number;
  failures: number;
  gameServerReads: number;
}

export interface RunningReconciler extends Component {
  readonly nodeName: string;
  /** Base URL of /healthz, /readyz, /metrics ('' without an ops server). */
  readonly opsUrl: string;
  readonly registry: Registry;
  /** Resolves once the Node is read, the instance id known and every part started. */
  readonly booted: Promise<void>;
  instanceId(): string | undefined;
  /** The drain phase of the last decision ('Starting' before the first). */
  phase(): AgentPhase;
  /** true, or why the agent is not ready. */
  ready(): true | string;
  lastDecision(): Decision | undefined;
  stats(): AgentStats;
  /** Asks for a reconcile pass now (the sandbox's nudge; never needed for correctness). */
  reconcileNow(): void;
  /** Stops without deregistering; the step in flight gets config.shutdownGraceMs. */
  stop(): Promise<void>;
}

/**
 * A configuration from the few values that have no default, through the same parser as the CLI, with
 * the rest overridable (tests and the sandbox use shorter timings than the parser allows).
 */
export function reconcilerConfig(input: {
  nodeName: string;
  gameServerGroup: string;
  redisUrl: string;
  statusSigningSecret?: string;
  overrides?: Partial<Omit<ReconcilerConfig, 'decide'>>;
  decide?: Partial<DecideConfig>;
}): ReconcilerConfig {
  const base = parseReconcilerConfig({
    NODE_NAME: input.nodeName,
    GAME_SERVER_GROUP: input.gameServerGroup,
    REDIS_URL: input.redisUrl,
    ...(input.statusSigningSecret ? { STATUS_SIGNING_SECRET: input.statusSigningSecret } : {}),
  });
  // In process (tests, the sandbox, benchmarks) there is no instance metadata at 169.254.169.254: the
  // Spot notice is only polled when asked for, with an endpoint (sandbox/imds emulates one).
  return {
    ...base,
    spotNoticePollIntervalMs: 0,
    ...input.overrides,
    decide: { ...base.decide, ...input.decide },
  };
}

export async function startReconciler(options: ReconcilerOptions): Promise<RunningReconciler> {
  const agent = new NodeAgent(options);
  await agent.startOps();
  agent.boot();
  return agent.handle();
}

interface GameServerEntry {
  /** null: the GET answered 404. */
  obj: KubeObjectLike | null;
  fullGen: number;
  sessionGen: number;
  /** A pod event or a failed precondition says this read is out of date. */
  invalid: boolean;
  /** Read again at this time (see allocationRecheckMs). */
  recheckAt?: number;
}

const DRAINING_PHASES: readonly AgentPhase[] = ['Cordoned', 'Fenced', 'Tainted', 'SpotEvicting'];

type StepResult =
  { result: 'ok' } | { result: 'changed'; why: string } | { result: 'failed'; action: Action; error: Error };

class NodeAgent {
  private readonly config: ReconcilerConfig;
  private readonly timings: AgentTimings;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly logger: Logger;
  private readonly registry: Registry;
  private readonly metrics: ReconcilerMetrics;
  private readonly kc: KubeConfig;
  private readonly api: AgentKubeApi;
  private readonly gamelift: GameLiftClient;
  private readonly ownGameLift: boolean;
  private readonly events: NodeEventRecorder;
  private readonly loop: ReconcileLoop;
  private readonly nodeInformer: ScopedInformer;
  private readonly podInformer: ScopedInformer;
  private readonly membershipGate: StepGate;
  private ops?: OpsServer;
  private statusSource?: RedisStatusSource;
  private spotNotice?: SpotNoticeMonitor;
  private membership?: Membership;
  private membershipStarted = false;
  private nodeSeen = false;
  private resolvedInstanceId?: string;
  private bootPromise: Promise<void> = Promise.resolve();
  private booted = false;
  private stopping = false;
  /** FleetIQ refuses this agent's configuration (group not found, access denied): the reason, for /readyz. */
  private fleetiqRefusal: string | undefined;

  private readonly gameServers = new Map<string, GameServerEntry>();
  /** Bumped when every GameServer must be read again (status change, cordon). */
  private fullGen = 0;
  /** Bumped by the session recheck timer. */
  private sessionGen = 0;
  private sessionRecheckTimer?: NodeJS.Timeout;
  private lastFreshStatus?: string;
  /** The Node's resourceVersion when it was first seen unschedulable, and the pod lists started by then. */
  private barrier?: { rv: string; listsStarted: number };

  private decision?: Decision;
  private currentPhase: AgentPhase = 'Starting';
  private phaseSince?: number;
  private idleSince?: number;
  private drainFailures = 0;
  private changedInARow = 0;
  /** The last pass acted: more passes follow at once (Events wait until the agent is idle). */
  private acting = false;
  private readonly lastFailureEvent = new Map<string, number>();
  private readonly counters: AgentStats = {
    passes: 0,
    decisions: 0,
    actions: {},
    changed: 0,
    failures: 0,
    gameServerReads: 0,
  };

  constructor(private readonly o: ReconcilerOptions) {
    this.config = o.config;
    this.timings = { ...DEFAULT_TIMINGS, ...o.timings };
    this.now = o.now ?? Date.now;
    this.random = o.random ?? Math.random;
    const nodeName = this.config.nodeName;
    this.logger = (o.logger ?? createLogger('reconciler')).child({ node: nodeName });
    this.registry = o.registry ?? new Registry();
    if (o.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry });

    let kc = o.kubeConfig;
    if (!kc) {
      kc = new KubeConfig();
      kc.loadFromDefault();
    }
    this.kc = withConnectionReuse(kc);
    this.api = clientNodeKubeApi(this.kc);
    if (o.gameLift instanceof GameLiftClient) {
      this.gamelift = o.gameLift;
      this.ownGameLift = false;
    } else {
      this.gamelift = new GameLiftClient(o.gameLift ?? {});
      this.ownGameLift = true;
    }
    this.membershipGate = new StepGate(this.timings.membershipBackoff, this.random);
    this.metrics = createReconcilerMetrics(this.registry, {
      now: this.now,
      phase: () => (this.currentPhase === 'Starting' ? undefined : this.currentPhase),
      phaseSince: () => this.phaseSince,
      spotNotice: () =>
        this.spotNotice && {
          present: this.spotNotice.current() !== undefined,
          polls: this.spotNotice.stats.polls,
        },
      status: () => {
        const s = this.effectiveStatus();
        if (!s) return undefined;
        const fresh = isStatusFresh(s, this.now(), this.config.decide.statusStaleAfterMs);
        return { status: s.status, observedAt: s.observedAt, source: s.source, fresh };
      },
      counts: () => this.counts(),
      ready: () => this.ready() === true,
    });
    this.events = new NodeEventRecorder({
      api: this.api,
      nodeName,
      logger: this.logger,
      now: this.now,
      deferWhile: () => this.acting && !this.stopping,
      onResult: (type, reason, ok) => {
        this.metrics.events.inc({ type, reason, result: ok ? 'ok' : 'failed' });
        if (!ok) this.metrics.apiErrors.inc({ api: 'kubernetes', operation: 'createEvent', code: 'error' });
      },
    });
    this.loop = new ReconcileLoop(() => this.pass(), this.logger, this.now);

    const informerBase = {
      kubeConfig: this.kc,
      logger: this.logger,
      random: this.random,
      watchTimeoutSeconds: this.timings.watchTimeoutSeconds,
      onError: (operation: string, err: unknown) => this.apiError(operation, err),
    };
    const nodeSelector = `metadata.name=${nodeName}`;
    this.nodeInformer = new ScopedInformer({
      ...informerBase,
      name: 'node',
      path: '/api/v1/nodes',
      fieldSelector: nodeSelector,
      list: () => this.api.listNodes(nodeSelector),
      onChange: () => this.loop.trigger(),
      onSync: () => this.loop.trigger(),
    });
    const podSelector = `spec.nodeName=${nodeName}`;
    this.podInformer = new ScopedInformer({
      ...informerBase,
      name: 'pods',
      path: '/api/v1/pods',
      fieldSelector: podSelector,
      labelSelector: GAME_SERVER_POD_SELECTOR,
      list: () => this.api.listPods(podSelector, GAME_SERVER_POD_SELECTOR),
      onChange: (type, pod, own) => this.onPod(type, pod, own),
      onSync: () => this.loop.trigger(),
    });
  }

  async startOps(): Promise<void> {
    const listen = this.o.opsListen === undefined ? this.config.opsListen : this.o.opsListen;
    if (listen === false) return;
    this.ops = await startOpsServer({
      listen,
      registry: this.registry,
      defaultMetrics: false,
      readiness: [{ name: 'reconciler', check: () => this.ready() }],
    });
  }

  boot(): void {
    this.bootPromise = this.runBoot();
    // Failures only come from stop() during boot; nothing else is fatal (every step retries).
    this.bootPromise.catch(() => undefined);
  }

  handle(): RunningReconciler {
    return {
      nodeName: this.config.nodeName,
      opsUrl: this.ops?.url ?? '',
      registry: this.registry,
      booted: this.bootPromise,
      instanceId: () => this.resolvedInstanceId,
      phase: () => this.currentPhase,
      ready: () => this.ready(),
      lastDecision: () => this.decision,
      stats: () => structuredClone(this.counters),
      reconcileNow: () => this.loop.trigger(),
      stop: () => this.stop(),
    };
  }

  // ---- start-up -----------------------------------------------------------------------------------

  private async runBoot(): Promise<void> {
    await primeConnectionReuse(this.kc).catch((err: unknown) =>
      // Requests still work (each then builds its own connection pool): not fatal.
      this.logger.warn(
        { err: errorText(err) },
        'reconciler: could not prepare the Kubernetes connection pool',
      ),
    );
    this.nodeInformer.start();
    await this.nodeInformer.waitForSync();
    const node = await this.until(() => this.nodeInformer.get(this.config.nodeName), 'the Node to exist');
    this.nodeSeen = true;
    this.events.setNodeUid(node.metadata.uid);

    let attempt = 0;
    for (;;) {
      this.checkStopping();
      try {
        const resolved = await resolveInstanceId(
          node.spec?.providerID,
          this.o.imdsInstanceId ??
            (() =>
              imdsInstanceId({ endpoint: this.config.imdsEndpoint, timeoutMs: this.config.imdsTimeoutMs })),
        );
        this.resolvedInstanceId = resolved.instanceId;
        this.logger.info(
          {
            instanceId: resolved.instanceId,
            source: resolved.source,
            providerIdProblem: resolved.providerIdProblem,
          },
          'reconciler: instance identified',
        );
        break;
      } catch (err) {
        attempt++;
        this.logger.error(
          { err: errorText(err), attempt },
          'reconciler: cannot tell which EC2 instance this node is',
        );
        await this.sleep(backoffDelay(attempt, this.timings.bootBackoff, this.random()));
      }
    }
    this.checkStopping();
    const instanceId = this.resolvedInstanceId!;

    this.statusSource = new RedisStatusSource({
      instanceId,
      gameServerGroup: this.config.gameServerGroup,
      redis: this.config.redis,
      ...(this.config.statusSigningSecret ? { signingSecret: this.config.statusSigningSecret } : {}),
      staleAfterMs: this.config.decide.statusStaleAfterMs,
      fallback: {
        lookup: fleetIQInstanceStatusLookup(this.gamelift, this.config.gameServerGroup, instanceId),
        intervalMs: this.config.fleetiqFallbackIntervalMs,
      },
      onStatus: () => this.loop.trigger(),
      onStale: () => this.loop.trigger(),
      logger: this.logger,
      now: this.now,
      random: this.random,
      ...(this.o.redisOptions ? { redisOptions: this.o.redisOptions } : {}),
    });
    this.statusSource.start();
    if (this.config.spotNoticePollIntervalMs > 0) {
      this.spotNotice = new SpotNoticeMonitor({
        endpoint: this.config.imdsEndpoint,
        timeoutMs: this.config.imdsTimeoutMs,
        intervalMs: this.config.spotNoticePollIntervalMs,
        onChange: () => this.loop.trigger(),
        logger: this.logger,
        now: this.now,
      });
      this.spotNotice.start();
    }
    this.membership = new Membership({
      api: gameLiftGameServerApi(this.gamelift, { gameServerGroup: this.config.gameServerGroup, instanceId }),
      healthIntervalMs: this.config.healthIntervalMs,
      logger: this.logger,
      onChange: () => this.loop.trigger(),
      random: this.random,
    });
    // The pods are listed after the Node was read, so the first pod list is newer than that Node.
    this.podInformer.start();
    await this.podInformer.waitForSync();
    this.checkStopping();
    this.booted = true;
    this.loop.trigger();
  }

  /**
   * The status decide() acts on: the instance's own Spot notice when instance metadata holds one
   * (EC2 interrupts the instance whatever FleetIQ says, so nothing overrides it), else what the
   * status source believes.
   */
  private effectiveStatus(): ObservedStatus | undefined {
    const notice = this.spotNotice?.current();
    if (notice)
      return {
        status: 'SPOT_TERMINATING',
        observedAt: notice.lastSeenAt,
        source: 'imds',
        authenticated: true,
      };
    return this.statusSource?.current();
  }

  private checkStopping(): void {
    if (this.stopping) throw new Error('reconciler stopped during start-up');
  }

  private async until<T>(probe: () => T | undefined, what: string): Promise<T> {
    let logged = false;
    for (;;) {
      this.checkStopping();
      const v = probe();
      if (v !== undefined) return v;
      if (!logged) this.logger.warn(`reconciler: waiting for ${what}`);
      logged = true;
      await this.sleep(200);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((r) => setTimeout(r, ms).unref?.());
  }

  ready(): true | string {
    if (this.stopping) return 'stopping';
    if (!this.nodeSeen) return `node ${this.config.nodeName} not read yet`;
    if (!this.resolvedInstanceId) return 'instance id not known yet';
    if (!this.statusSource) return 'status source not started';
    if (!this.booted) return 'pods on the node not listed yet';
    if (!this.membershipStarted && this.currentPhase !== 'Deregistered')
      return 'FleetIQ membership not started yet';
    // A rollout with a wrong group name or IAM role must not look healthy while every call fails.
    if (this.fleetiqRefusal) return this.fleetiqRefusal;
    return true;
  }

  // ---- observation --------------------------------------------------------------------------------

  private onPod(type: string, pod: KubeObjectLike, own: boolean): void {
    const key = objectKey(pod);
    if (type === 'DELETED') this.gameServers.delete(key);
    else if (!own) {
      // Someone else changed the pod (the webhook's toleration on an allocation, the kubelet, a
      // deletion): its GameServer may have changed too. The agent's own pod writes change nothing there.
      const e = this.gameServers.get(key);
      if (e) e.invalid = true;
    }
    this.loop.trigger();
  }

  /**
   * Reads the GameServers that need it (`all`: every one); false when any read failed (no decision
   * on a partial view).
   */
  private async refreshGameServers(pods: KubeObjectLike[], all = false): Promise<boolean> {
    const now = this.now();
    const due = pods.filter((pod) => {
      if (all) return true;
      const e = this.gameServers.get(objectKey(pod));
      if (!e || e.invalid || e.fullGen < this.fullGen) return true;
      if (e.recheckAt !== undefined && now >= e.recheckAt) return true;
      const state = e.obj?.status?.state;
      return (
        e.obj !== null && isSessionState(state ?? '', this.config.decide) && e.sessionGen < this.sessionGen
      );
    });
    if (due.length === 0) return true;
    let ok = true;
    await mapLimit(due, this.timings.fetchConcurrency, async (pod) => {
      const key = objectKey(pod);
      const previous = this.gameServers.get(key);
      const fullGen = this.fullGen;
      const sessionGen = this.sessionGen;
      try {
        this.counters.gameServerReads++;
        const obj = await this.api.getGameServer(
          pod.metadata.namespace ?? 'default',
          String(pod.metadata.name),
        );
        const current = this.podInformer.get(key);
        if (!current) return; // the pod went away meanwhile
        const state = obj?.status?.state ?? '';
        const entry: GameServerEntry = { obj, fullGen, sessionGen, invalid: false };
        // Only after a pod event (the webhook's toleration patch), and only once.
        if (
          previous?.invalid &&
          previous.recheckAt === undefined &&
          obj &&
          podToleratesDrain(current) &&
          !isSessionState(state, this.config.decide) &&
          !isTerminalState(state)
        ) {
          entry.recheckAt = this.now() + this.timings.allocationRecheckMs;
          this.loop.requeueAfter(this.timings.allocationRecheckMs);
        }
        this.gameServers.set(key, entry);
      } catch (err) {
        ok = false;
        this.apiError('getGameServer', err);
        this.logger.warn({ gameServer: key, err: errorText(err) }, 'reconciler: reading a GameServer failed');
      }
    });
    return ok;
  }

  // ---- the pass -----------------------------------------------------------------------------------

  private async pass(): Promise<void> {
    if (!this.booted || this.stopping) return;
    const started = process.hrtime.bigint();
    this.counters.passes++;
    let result = 'idle';
    try {
      result = await this.reconcile();
    } finally {
      this.acting = result === 'acted';
      if (!this.acting) this.events.notifyIdle();
      this.metrics.reconciles.inc({ result });
      this.metrics.reconcileDuration.observe(Number(process.hrtime.bigint() - started) / 1e9);
    }
  }

  private async reconcile(): Promise<string> {
    const nodeName = this.config.nodeName;
    const node = this.nodeInformer.get(nodeName);
    if (!node) {
      this.logger.warn('reconciler: the Node is gone; nothing to do until it is back');
      return 'waiting';
    }
    if (!this.podInformer.hasSynced()) return 'waiting';

    // Fence only from an observation newer than the cordon: the pod list must include every pod that
    // could have been scheduled before the node became unschedulable.
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
        if (this.stopping || !this.barrier || !podsNewer()) return 'waiting';
      }
    } else this.barrier = undefined;

    const now = this.now();
    this.statusSource?.refuseOlderThan(actedOnMark(node.metadata.annotations ?? {}, now, this.config.decide));
    const status = this.effectiveStatus();
    const fresh = isStatusFresh(status, now, this.config.decide.statusStaleAfterMs)
      ? status!.status
      : undefined;
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
      if (this.stopping) return 'idle';
    }
    if (!(await this.refreshGameServers(pods))) {
      this.drainFailures++;
      this.loop.requeueAfter(backoffDelay(this.drainFailures, this.timings.drainBackoff, this.random()));
      return 'waiting';
    }
    if (this.stopping) return 'idle';

    const decision = decide(
      {
        now: this.now(),
        ...(status ? { status } : {}),
        node: nodeView(node),
        gameServers: gameServerViews(pods, (key) => this.gameServers.get(key)?.obj),
        registration: this.membership!.registration(),
        ...(this.idleSince !== undefined ? { idleSince: this.idleSince } : {}),
      },
      this.config.decide,
    );
    this.counters.decisions++;
    this.decision = decision;
    this.idleSince = decision.idleSince;
    this.notePhase(decision.phase);
    this.metrics.sessions.set(decision.sessions);
    this.metrics.drainOverdue.set(decision.drainOverdue ? 1 : 0);
    this.metrics.stranded.set(decision.stranded ? 1 : 0);
    if (decision.replayed) this.metrics.replayedStatuses.inc();
    this.metrics.gameServers.set(pods.length);

    if (!this.membershipStarted && decision.phase !== 'Deregistered') {
      // Never for a node that says Deregistered: a restarted agent must not report health for (or
      // re-register) an instance it already gave up.
      this.membershipStarted = true;
      this.membership!.start();
    }
    this.dispatchMembership(decision.membership);

    const outcome = await this.execute(planSteps(decision.actions), node);
    switch (outcome.result) {
      case 'ok':
        this.drainFailures = 0;
        this.changedInARow = 0;
        if (decision.actions.length > 0) {
          // Each action changes what is observed: decide again at once.
          this.loop.trigger();
          return 'acted';
        }
        this.scheduleTimers(decision);
        await this.recordObservedStatus();
        return 'idle';
      case 'changed':
        this.counters.changed++;
        this.changedInARow++;
        this.logger.debug({ why: outcome.why }, 'reconciler: observed state changed; deciding again');
        // Someone else wrote first (an allocation, an operator): decide again at once, unless it keeps
        // happening, which is then paced like a failure.
        if (this.changedInARow <= 3) this.loop.trigger();
        else
          this.loop.requeueAfter(
            backoffDelay(this.changedInARow - 3, this.timings.drainBackoff, this.random()),
          );
        return 'acted';
      case 'failed': {
        this.counters.failures++;
        this.drainFailures++;
        const reason = failureReason(outcome.action);
        this.logger.warn(
          { action: outcome.action.kind, reason, err: outcome.error.message, failures: this.drainFailures },
          'reconciler: drain step failed',
        );
        this.failureEvent(reason, `${describeAction(outcome.action)} failed: ${outcome.error.message}`);
        this.loop.requeueAfter(backoffDelay(this.drainFailures, this.timings.drainBackoff, this.random()));
        return 'failed';
      }
    }
  }

  private notePhase(phase: DrainPhase): void {
    if (phase === this.currentPhase) return;
    this.logger.info({ from: this.currentPhase, to: phase }, 'reconciler: drain phase');
    this.currentPhase = phase;
    this.phaseSince = this.now();
  }

  /** Timers for a pass that had nothing to do: decide()'s own, and the session rechecks. */
  private scheduleTimers(d: Decision): void {
    if (d.wait) this.loop.requeueAfter(d.wait.requeueAfterMs);
    if (d.sessions > 0) {
      if (DRAINING_PHASES.includes(d.phase)) this.scheduleSessionRecheck(this.timings.drainSessionRecheckMs);
      else if (d.phase === 'Active' && this.config.decide.utilizationMode === 'allocated')
        this.scheduleSessionRecheck(this.timings.activeSessionRecheckMs);
    }
    const now = this.now();
    for (const e of this.gameServers.values())
      if (e.recheckAt !== undefined && e.recheckAt > now) this.loop.requeueAfter(e.recheckAt - now);
  }

  private scheduleSessionRecheck(ms: number): void {
    if (this.sessionRecheckTimer || this.stopping) return;
    this.sessionRecheckTimer = setTimeout(() => {
      this.sessionRecheckTimer = undefined;
      this.sessionGen++;
      this.loop.trigger();
    }, ms);
    this.sessionRecheckTimer.unref?.();
  }

  // ---- executing ----------------------------------------------------------------------------------

  private async execute(steps: Step[], observedNode: KubeObjectLike): Promise<StepResult> {
    let node = observedNode;
    for (let i = 0; i < steps.length; i++) {
      const step = steps[i];
      let r: StepResult;
      switch (step.kind) {
        case 'patchNode': {
          const out = await this.patchNode(node, step.actions);
          r = out.result;
          if (out.node) node = out.node;
          break;
        }
        case 'fence':
          r = await this.batch(step.actions, (a) => this.fence(a));
          break;
        case 'deletePods':
          r = await this.batch(step.actions, (a) => this.deletePod(a));
          break;
        case 'deregister':
          r = await this.deregister(step.actions[0]);
          break;
        case 'none':
          r = { result: 'ok' };
          break;
      }
      if (r.result !== 'ok') return r;
      for (const e of step.events) this.events.emit(e.type, e.reason, e.message);
      // A cordon just made: what follows in this decision was decided on game servers read before it.
      // Observe again (newer than the cordon) before fencing anything.
      if (
        step.kind === 'patchNode' &&
        step.actions.some((a) => a.kind === 'cordon') &&
        steps.slice(i + 1).some((s) => s.kind === 'fence' || s.kind === 'deletePods')
      )
        return { result: 'ok' };
    }
    return { result: 'ok' };
  }

  private count(kind: string, result: 'ok' | 'changed' | 'failed', n = 1): void {
    this.metrics.actions.inc({ action: kind, result }, n);
    if (result === 'ok') this.counters.actions[kind] = (this.counters.actions[kind] ?? 0) + n;
  }

  private async patchNode(
    node: KubeObjectLike,
    actions: Extract<Step, { kind: 'patchNode' }>['actions'],
  ): Promise<{ result: StepResult; node?: KubeObjectLike }> {
    const body = nodeMergePatch(node, actions);
    try {
      const updated = await this.api.patchNode(this.config.nodeName, body);
      this.nodeInformer.noteWrite(updated);
      for (const a of actions) this.count(a.kind, 'ok');
      return { result: { result: 'ok' }, node: updated };
    } catch (err) {
      this.apiError('patchNode', err);
      if (statusCode(err) === 409) {
        for (const a of actions) this.count(a.kind, 'changed');
        await this.refreshNode();
        return { result: { result: 'changed', why: 'the Node changed since it was read' } };
      }
      for (const a of actions) this.count(a.kind, 'failed');
      return { result: { result: 'failed', action: mostSignificant(actions), error: err as Error } };
    }
  }

  /**
   * Records on the Node what FleetIQ last said (for `kubectl fleetiq status`). Only once a pass has
   * nothing left to do, so it never delays a drain step; a failure is retried at the next pass.
   */
  private async recordObservedStatus(): Promise<void> {
    const node = this.nodeInformer.get(this.config.nodeName);
    const status = this.statusSource?.current();
    if (!node || this.stopping) return;
    const annotations = observedStatusAnnotations(
      node.metadata.annotations ?? {},
      status,
      this.timings.observedStatusRefreshMs,
    );
    if (!annotations) return;
    try {
      // No resourceVersion: these keys are the agent's alone, and nothing is decided on them.
      this.nodeInformer.noteWrite(
        await this.api.patchNode(this.config.nodeName, { metadata: { annotations } }),
      );
      this.count('recordObservedStatus', 'ok');
    } catch (err) {
      this.apiError('patchNode', err);
      this.count('recordObservedStatus', 'failed');
      this.logger.warn({ err: errorText(err) }, 'reconciler: recording the observed FleetIQ status failed');
      this.loop.requeueAfter(this.timings.drainBackoff.maxMs);
    }
  }

  private async refreshNode(): Promise<void> {
    try {
      this.nodeInformer.noteWrite(await this.api.getNode(this.config.nodeName));
    } catch (err) {
      this.apiError('getNode', err);
    }
  }

  /** Runs independent object actions concurrently; the first failure wins, then any change. */
  private async batch<A extends FenceAction | DeletePodAction>(
    actions: A[],
    run: (a: A) => Promise<StepResult>,
  ): Promise<StepResult> {
    const results: StepResult[] = [];
    await mapLimit(actions, this.timings.fetchConcurrency, async (a) => {
      results.push(await run(a));
    });
    return (
      results.find((r) => r.result === 'failed') ??
      results.find((r) => r.result === 'changed') ?? { result: 'ok' }
    );
  }

  private async fence(a: FenceAction): Promise<StepResult> {
    if (a.kind === 'shutdownGameServer') {
      const key = `${a.namespace}/${a.name}`;
      const entry = this.gameServers.get(key);
      try {
        const updated = await this.api.patchGameServer(
          a.namespace,
          a.name,
          shutdownPatch(entry?.obj ?? undefined, { resourceVersion: a.resourceVersion, state: a.state }),
        );
        if (entry) entry.obj = updated;
        this.count(a.kind, 'ok');
        return { result: 'ok' };
      } catch (err) {
        const code = statusCode(err);
        if (code === 404) {
          if (entry) entry.obj = null;
          this.count(a.kind, 'ok');
          return { result: 'ok' };
        }
        if (code === 409 || code === 422) {
          // Agones (an allocation, a health check) wrote first: read it again and decide again.
          if (entry) entry.invalid = true;
          this.count(a.kind, 'changed');
          return { result: 'changed', why: `GameServer ${key} changed since it was read` };
        }
        this.apiError('patchGameServer', err);
        this.count(a.kind, 'failed');
        return { result: 'failed', action: a, error: err as Error };
      }
    }
    const key = `${a.namespace}/${a.pod}`;
    const pod = this.podInformer.get(key);
    if (!pod) return { result: 'changed', why: `pod ${key} is gone` };
    if (podToleratesDrain(pod)) {
      this.count(a.kind, 'ok');
      return { result: 'ok' };
    }
    try {
      this.podInformer.noteWrite(await this.api.patchPod(a.namespace, a.pod, drainTolerationPatch(pod)));
      this.count(a.kind, 'ok');
      return { result: 'ok' };
    } catch (err) {
      const code = statusCode(err);
      if (code === 404) {
        this.count(a.kind, 'ok');
        return { result: 'ok' };
      }
      if (code === 409 || code === 422) {
        this.count(a.kind, 'changed');
        try {
          const fresh = await this.api.getPod(a.namespace, a.pod);
          if (fresh) this.podInformer.noteWrite(fresh);
        } catch (e) {
          this.apiError('getPod', e);
        }
        return { result: 'changed', why: `pod ${key} changed since it was read` };
      }
      this.apiError('patchPod', err);
      this.count(a.kind, 'failed');
      return { result: 'failed', action: a, error: err as Error };
    }
  }

  private async deletePod(a: DeletePodAction): Promise<StepResult> {
    try {
      const pod = await this.api.deletePod(a.namespace, a.name, a.graceSeconds);
      if (pod?.metadata?.deletionTimestamp) this.podInformer.noteWrite(pod);
      this.count(a.kind, 'ok');
      return { result: 'ok' };
    } catch (err) {
      this.apiError('deletePod', err);
      this.count(a.kind, 'failed');
      return { result: 'failed', action: a, error: err as Error };
    }
  }

  private async deregister(a: Action): Promise<StepResult> {
    try {
      await this.membership!.execute({ kind: 'deregister' });
      this.count('deregister', 'ok');
      return { result: 'ok' };
    } catch (err) {
      this.fleetiqError('deregister', err);
      this.count('deregister', 'failed');
      return { result: 'failed', action: a, error: err as Error };
    }
  }

  /** FleetIQ registration steps: in the background, never twice at once, backing off when failing. */
  private dispatchMembership(actions: MembershipAction[]): void {
    for (const action of actions) {
      const key = action.kind === 'markUtilized' ? `markUtilized:${action.claim}` : action.kind;
      const now = this.now();
      if (!this.membershipGate.mayStart(key, now)) {
        const at = this.membershipGate.retryAt(key);
        if (at !== undefined) this.loop.requeueAfter(at - now);
        continue;
      }
      this.membershipGate.started(key);
      this.membership!.execute(action).then(
        () => {
          this.membershipGate.succeeded(key);
          this.fleetiqRefusal = undefined;
          this.count(action.kind, 'ok');
          this.loop.trigger();
        },
        (err: unknown) => {
          const { failures, retryAt } = this.membershipGate.failed(key, this.now());
          this.count(action.kind, 'failed');
          this.fleetiqError(action.kind, err);
          this.fleetiqRefusal = fleetiqRefusal(action.kind, err, this.config.gameServerGroup);
          this.logger.warn(
            { action: action.kind, err: errorText(err), failures },
            'reconciler: FleetIQ step failed; backing off',
          );
          this.failureEvent(failureReason(action), `${describeAction(action)} failed: ${errorText(err)}`);
          this.loop.requeueAfter(Math.max(0, retryAt - this.now()));
        },
      );
    }
  }

  private failureEvent(reason: string, message: string): void {
    const now = this.now();
    const last = this.lastFailureEvent.get(reason);
    if (last !== undefined && now - last < this.timings.failureEventIntervalMs) return;
    this.lastFailureEvent.set(reason, now);
    this.events.emit('Warning', reason, message);
  }

  private apiError(operation: string, err: unknown): void {
    const code = err instanceof KubeApiError ? String(err.code || err.reason) : 'error';
    this.metrics.apiErrors.inc({ api: 'kubernetes', operation, code });
  }

  private fleetiqError(operation: string, err: unknown): void {
    const code = (err as { name?: string })?.name ?? 'Error';
    this.metrics.apiErrors.inc({ api: 'fleetiq', operation, code });
  }

  private counts() {
    const s = this.statusSource?.stats;
    const statusMessages: Record<string, number> = {};
    if (s) {
      statusMessages.accepted = s.accepted;
      statusMessages.out_of_order = s.outOfOrder;
      for (const [why, n] of Object.entries(s.rejected)) statusMessages[`rejected: ${why}`] = n;
    }
    const m = this.membership?.stats;
    return {
      statusMessages,
      fallbackCalls: s?.fallbackCalls ?? 0,
      fallbackErrors: s?.fallbackErrors ?? 0,
      healthReports: m?.healthReports ?? 0,
      healthReportFailures: m?.healthReportFailures ?? 0,
      kubeRequests: { ...this.api.calls },
      watchRequests: {
        node: { lists: this.nodeInformer.stats.lists, watches: this.nodeInformer.stats.watches },
        pods: { lists: this.podInformer.stats.lists, watches: this.podInformer.stats.watches },
      },
    };
  }

  // ---- stopping -----------------------------------------------------------------------------------

  private async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.events.notifyIdle();
    this.logger.info('reconciler: stopping (the instance stays registered)');
    const finished = await this.loop.stop(this.config.shutdownGraceMs);
    if (!finished) this.logger.warn('reconciler: the step in flight did not finish within the grace period');
    clearTimeout(this.sessionRecheckTimer);
    this.nodeInformer.stop();
    this.podInformer.stop();
    // Neither may hold the exit up: a FleetIQ call in flight is abandoned after the grace period.
    await withTimeout(
      Promise.all([this.statusSource?.stop(), this.spotNotice?.stop(), this.membership?.stop()]),
      this.config.shutdownGraceMs,
    ).catch((err: unknown) =>
      this.logger.warn({ err: errorText(err) }, 'reconciler: stopping a part failed'),
    );
    await this.events.flush(1000);
    await this.ops?.close();
    if (this.ownGameLift) this.gamelift.destroy();
    this.logger.info('reconciler: stopped');
  }
}

/** The action a failed merged patch is reported as (its Event reason): the taint matters most. */
function mostSignificant<A extends Action>(actions: A[]): A {
  const order = ['taint', 'untaint', 'cordon', 'uncordon', 'label', 'recordDrainState', 'recordActedOn'];
  return [...actions].sort((a, b) => order.indexOf(a.kind) - order.indexOf(b.kind))[0];
}

function describeAction(a: Action): string {
  switch (a.kind) {
    case 'shutdownGameServer':
      return `shutting down GameServer ${a.namespace}/${a.name}`;
    case 'addToleration':
      return `adding the drain toleration to pod ${a.namespace}/${a.pod}`;
    case 'deletePod':
      return `deleting pod ${a.namespace}/${a.name}`;
    case 'recordDrainState':
      return 'recording the drain state on the Node';
    case 'label':
      return `labelling the Node ${a.status}`;
    case 'markUtilized':
      return 'marking the game server UTILIZED in FleetIQ';
    case 'reregisterAvailable':
      return 'making the game server AVAILABLE again in FleetIQ';
    default:
      return `${a.kind}`;
  }
}

async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

async function mapLimit<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/**
 * Why FleetIQ refuses this agent's configuration, from a failed membership call, or undefined for a
 * failure that is not about the configuration (throttling, an outage, an instance FleetIQ forgot).
 * NotFoundException on registration means the group does not exist; a health report's NotFound only
 * means the game server was forgotten (it is registered again).
 */
export function fleetiqRefusal(action: string, err: unknown, group: string): string | undefined {
  const name = (err as { name?: string })?.name;
  if (action === 'register' && name === 'NotFoundException')
    return `FleetIQ refuses GAME_SERVER_GROUP "${group}": not found (${errorText(err)})`;
  if (name === 'AccessDeniedException' || name === 'UnauthorizedException')
    return `FleetIQ refuses this agent's AWS identity for GAME_SERVER_GROUP "${group}" (${name}: ${errorText(err)}); check the IAM role`;
  return undefined;
}
