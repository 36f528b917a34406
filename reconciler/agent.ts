// The node agent: wiring and boot around observe → decide → execute.
//
// Controller-runtime style: one reconcile pass at a time (work-loop.ts), triggered by the observer
// (observer.ts: its Node, its game server pods, the GameServers behind them, its FleetIQ status and
// registration) through one entry. A pass observes, asks decide() (pure: the steps and all timing),
// runs the steps (executor.ts) and hands the result to the loop, which alone paces retries. decide()
// is level-triggered, so the agent can be killed at any line and a new one continues from what the
// Node records. What the agent keeps in memory is only a cache (objects, GameServer reads) and pacing
// (back-off), never drain progress. FleetIQ membership steps run in the background (membership.ts).
import { GameLiftClient } from '@aws-sdk/client-gamelift';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { loadKubeClientConfig, type KubeClientConfig } from '../shared/kube-client/config.js';
import { createLogger, type Logger } from '../shared/logger.js';
import { startOpsServer, type OpsServer } from '../shared/ops-server.js';
import {
  DEFAULT_TIMINGS,
  type AgentPhase,
  type AgentStats,
  type AgentTimings,
  type ReconcilerOptions,
  type RunningReconciler,
} from './agent-options.js';
import type { ReconcilerConfig } from './config.js';
import { isStatusFresh } from './decide.js';
import { NodeEventRecorder } from './events.js';
import { NodeReconciler } from './reconcile.js';
import { Executor, kubeErrorCode } from './executor.js';
import { imdsInstanceId, resolveInstanceIdUntilKnown } from './identity.js';
import { errorText } from '../shared/scoped-informer.js';
import { restKubeApi, type AgentKubeApi } from './kube-api.js';
import { Membership, MembershipSteps, gameLiftGameServerApi } from './membership.js';
import {
  createReconcilerMetrics,
  drainReasonOf,
  drainStartedBy,
  partCounts,
  type ReconcilerMetrics,
} from './metrics.js';
import { Observer } from './observer.js';
import { SpotNoticeMonitor } from './spot-notice.js';
import { RedisStatusSource, fleetIQInstanceStatusLookup } from './status-source.js';
import { ReconcileLoop, type PassResult } from './work-loop.js';
import { settledWithin } from '../shared/timeout.js';

export * from './agent-options.js';
export { fleetiqRefusal } from './membership.js';

export async function startReconciler(options: ReconcilerOptions): Promise<RunningReconciler> {
  const agent = new NodeAgent(options);
  await agent.startOps();
  agent.boot();
  return agent.handle();
}

class NodeAgent {
  private readonly config: ReconcilerConfig;
  private readonly timings: AgentTimings;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly logger: Logger;
  private readonly registry: Registry;
  private readonly metrics: ReconcilerMetrics;
  private readonly kc: KubeClientConfig;
  private readonly api: AgentKubeApi;
  private readonly gamelift: GameLiftClient;
  private readonly events: NodeEventRecorder;
  private readonly loop: ReconcileLoop;
  private readonly observer: Observer;
  private ops?: OpsServer;
  private statusSource?: RedisStatusSource;
  private spotNotice?: SpotNoticeMonitor;
  private membership?: Membership;
  private membershipSteps?: MembershipSteps;
  /** The pass, once every part it needs is started. */
  private reconciler?: NodeReconciler;
  private nodeSeen = false;
  private resolvedInstanceId?: string;
  private bootPromise: Promise<void> = Promise.resolve();
  private stopping = false;
  /** The last pass acted: more passes follow at once (Events wait until the agent is idle). */
  private acting = false;
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
    this.kc = o.kubeConfig ?? loadKubeClientConfig();
    this.api = restKubeApi(this.kc);
    this.gamelift = o.gameLift instanceof GameLiftClient ? o.gameLift : new GameLiftClient(o.gameLift ?? {});
    this.loop = new ReconcileLoop({
      pass: () => this.pass(),
      logger: this.logger,
      backoff: this.timings.drainBackoff,
      now: this.now,
      random: this.random,
    });
    this.observer = new Observer({
      nodeName,
      kubeConfig: this.kc,
      api: this.api,
      logger: this.logger,
      decide: this.config.decide,
      now: this.now,
      random: this.random,
      watchTimeoutSeconds: this.timings.watchTimeoutSeconds,
      fetchConcurrency: this.timings.fetchConcurrency,
      onChange: () => this.loop.trigger(),
      onApiError: (operation, err) => this.apiError(operation, err),
    });
    this.metrics = createReconcilerMetrics(this.registry, {
      now: this.now,
      phase: () => this.reconciler?.phase()?.phase,
      phaseSince: () => this.reconciler?.phase()?.since,
      reason: () => drainReasonOf(this.observer.node()),
      spotNotice: () =>
        this.spotNotice && {
          present: this.spotNotice.current() !== undefined,
          polls: this.spotNotice.stats.polls,
          rebalancePresent: this.spotNotice.currentRebalance() !== undefined,
          rebalancePolls: this.spotNotice.stats.rebalancePolls,
        },
      status: () => {
        const s = this.observer.effectiveStatus();
        if (!s) return undefined;
        const fresh = isStatusFresh(s, this.now(), this.config.decide.statusStaleAfterMs);
        return { status: s.status, observedAt: s.observedAt, source: s.source, fresh };
      },
      counts: () =>
        partCounts({
          ...(this.statusSource ? { statusSource: this.statusSource } : {}),
          ...(this.membership ? { membership: this.membership } : {}),
          kubeRequests: this.api.calls,
          watchRequests: this.observer.informerStats(),
        }),
      ready: () => this.ready() === true,
    });
    this.events = new NodeEventRecorder({
      api: this.api,
      nodeName,
      logger: this.logger,
      now: this.now,
      failureIntervalMs: this.timings.failureEventIntervalMs,
      deferWhile: () => this.acting && !this.stopping,
      onResult: (type, reason, ok) => {
        this.metrics.events.inc({ type, reason, result: ok ? 'ok' : 'failed' });
        if (!ok) this.metrics.apiErrors.inc({ api: 'kubernetes', operation: 'createEvent', code: 'error' });
      },
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
      phase: () => this.phase(),
      ready: () => this.ready(),
      lastDecision: () => this.reconciler?.lastDecision(),
      stats: () => structuredClone({ ...this.counters, gameServerReads: this.observer.gameServerReads }),
      reconcileNow: () => this.observer.notify(),
      stop: () => this.stop(),
    };
  }

  private phase(): AgentPhase {
    return this.reconciler?.phase()?.phase ?? 'Starting';
  }

  ready(): true | string {
    if (this.stopping) return 'stopping';
    if (!this.nodeSeen) return `node ${this.config.nodeName} not read yet`;
    if (!this.resolvedInstanceId) return 'instance id not known yet';
    if (!this.statusSource) return 'status source not started';
    if (!this.reconciler) return 'pods on the node not listed yet';
    if (!this.membership?.started() && this.phase() !== 'Deregistered')
      return 'FleetIQ membership not started yet';
    // A rollout with a wrong group name or IAM role must not look healthy while every call fails.
    return this.membershipSteps?.refusal() ?? true;
  }

  // ---- start-up -----------------------------------------------------------------------------------

  private async runBoot(): Promise<void> {
    await this.observer.startNode();
    let logged = false;
    for (;;) {
      this.checkStopping();
      if (this.observer.node()) break;
      if (!logged) this.logger.warn('reconciler: waiting for the Node to exist');
      logged = true;
      await this.sleep(200);
    }
    const node = this.observer.node()!;
    this.nodeSeen = true;
    this.events.setNodeUid(node.metadata.uid);
    const { imdsEndpoint: endpoint, imdsTimeoutMs: timeoutMs } = this.config;
    const { instanceId } = await resolveInstanceIdUntilKnown({
      providerId: node.spec?.providerID,
      imds: this.o.imdsInstanceId ?? (() => imdsInstanceId({ endpoint, timeoutMs })),
      backoff: this.timings.bootBackoff,
      random: this.random,
      logger: this.logger,
      checkStopping: () => this.checkStopping(),
    });
    this.resolvedInstanceId = instanceId;
    this.checkStopping();
    const { config, gamelift, observer } = this;

    this.statusSource = new RedisStatusSource({
      instanceId,
      gameServerGroup: config.gameServerGroup,
      redis: config.redis,
      ...(config.statusSigningSecret ? { signingSecret: config.statusSigningSecret } : {}),
      staleAfterMs: config.decide.statusStaleAfterMs,
      fallback: {
        lookup: fleetIQInstanceStatusLookup(gamelift, config.gameServerGroup, instanceId),
        intervalMs: config.fleetiqFallbackIntervalMs,
      },
      onStatus: observer.notify,
      onStale: observer.notify,
      logger: this.logger,
      now: this.now,
      random: this.random,
      ...(this.o.redisOptions ? { redisOptions: this.o.redisOptions } : {}),
    });
    this.statusSource.start();
    if (config.spotNoticePollIntervalMs > 0) {
      this.spotNotice = new SpotNoticeMonitor({
        endpoint: config.imdsEndpoint,
        timeoutMs: config.imdsTimeoutMs,
        intervalMs: config.spotNoticePollIntervalMs,
        onChange: observer.notify,
        onRebalanceChange: observer.notify,
        logger: this.logger,
        now: this.now,
      });
      this.spotNotice.start();
    }
    const membership = new Membership({
      api: gameLiftGameServerApi(gamelift, { gameServerGroup: config.gameServerGroup, instanceId }),
      healthIntervalMs: config.healthIntervalMs,
      logger: this.logger,
      onChange: observer.notify,
      random: this.random,
    });
    this.membership = membership;
    this.membershipSteps = new MembershipSteps({
      membership,
      gameServerGroup: config.gameServerGroup,
      backoff: this.timings.membershipBackoff,
      logger: this.logger,
      now: this.now,
      random: this.random,
      onResult: (action, err) => {
        this.count(action.kind, err === undefined ? 'ok' : 'failed');
        if (err !== undefined) this.fleetiqError(action.kind, err);
      },
      onFailureEvent: (reason, message) => this.events.emitFailure(reason, message),
      onSettled: observer.notify,
    });
    const executor = new Executor({
      nodeName: config.nodeName,
      api: this.api,
      cache: observer,
      deregister: () => membership.execute({ kind: 'deregister' }),
      emit: (e) => this.events.emit(e.type, e.reason, e.message),
      concurrency: this.timings.fetchConcurrency,
      onAction: (kind, result, n) => this.count(kind, result, n),
      onNodeWritten: (before, after) => {
        const reason = drainStartedBy(before, after);
        if (reason) this.metrics.drainsStarted.inc({ reason });
      },
      onApiError: (operation, err) => this.apiError(operation, err),
      onFleetIQError: (operation, err) => this.fleetiqError(operation, err),
    });
    await observer.startPods({
      status: this.statusSource,
      ...(this.spotNotice ? { spotNotice: this.spotNotice } : {}),
      registration: () => membership.registration(),
    });
    this.checkStopping();
    this.reconciler = new NodeReconciler({
      decide: config.decide,
      timings: { ...this.timings, observedStatusRetryMs: this.timings.drainBackoff.maxMs },
      observer,
      executor,
      membership,
      membershipSteps: this.membershipSteps,
      reportedStatus: () => this.statusSource?.current(),
      failureEvent: (reason, message) => this.events.emitFailure(reason, message),
      failuresInARow: () => this.loop.streaks().failures,
      stopping: () => this.stopping,
      metrics: this.metrics,
      logger: this.logger,
      now: this.now,
      counters: this.counters,
      afterPass: (acted) => {
        this.acting = acted;
        if (!acted) this.events.notifyIdle();
      },
    });
    observer.notify();
  }

  private checkStopping(): void {
    if (this.stopping) throw new Error('reconciler stopped during start-up');
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((r) => setTimeout(r, ms).unref?.());
  }

  // ---- the pass ----------------------------------------------------------------------------------

  private async pass(): Promise<PassResult> {
    return this.reconciler && !this.stopping ? this.reconciler.pass() : { outcome: 'waiting' };
  }

  // ---- metrics ------------------------------------------------------------------------------------

  private count(kind: string, result: 'ok' | 'changed' | 'failed', n = 1): void {
    this.metrics.actions.inc({ action: kind, result }, n);
    if (result === 'ok') this.counters.actions[kind] = (this.counters.actions[kind] ?? 0) + n;
  }

  private apiError(operation: string, err: unknown): void {
    this.metrics.apiErrors.inc({ api: 'kubernetes', operation, code: kubeErrorCode(err) });
  }

  private fleetiqError(operation: string, err: unknown): void {
    const code = (err as { name?: string })?.name ?? 'Error';
    this.metrics.apiErrors.inc({ api: 'fleetiq', operation, code });
  }

  // ---- stopping -----------------------------------------------------------------------------------

  private async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.events.notifyIdle();
    this.logger.info('reconciler: stopping (the instance stays registered)');
    const finished = await this.loop.stop(this.config.shutdownGraceMs);
    if (!finished) this.logger.warn('reconciler: the step in flight did not finish within the grace period');
    this.observer.stop();
    // Neither may hold the exit up: a FleetIQ call in flight is abandoned after the grace period.
    await settledWithin(
      Promise.all([this.statusSource?.stop(), this.spotNotice?.stop(), this.membership?.stop()]).catch(
        (err: unknown) => this.logger.warn({ err: errorText(err) }, 'reconciler: stopping a part failed'),
      ),
      this.config.shutdownGraceMs,
    );
    await this.events.flush(1000);
    await this.ops?.close();
    if (!(this.o.gameLift instanceof GameLiftClient)) this.gamelift.destroy();
    this.logger.info('reconciler: stopped');
  }
}
