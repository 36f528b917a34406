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
import { NodeEventRecorder } from './events.js';
import { NodeReconciler } from './reconcile.js';
import { Executor } from './executor.js';
import { imdsInstanceId, resolveInstanceIdUntilKnown } from './identity.js';
import { restKubeApi, type AgentKubeApi } from './kube-api.js';
import {
  MetricRecorder,
  agentMetricSources,
  createReconcilerMetrics,
  type ReconcilerMetrics,
} from './metrics.js';
import { Observer } from './observer.js';
import { startAgentParts, stopAgentParts, type AgentParts } from './parts.js';
import { readiness } from './readiness.js';
import { ReconcileLoop, type PassResult } from './work-loop.js';

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
  private readonly record: MetricRecorder;
  private readonly kc: KubeClientConfig;
  private readonly api: AgentKubeApi;
  private readonly gamelift: GameLiftClient;
  private readonly events: NodeEventRecorder;
  private readonly loop: ReconcileLoop;
  private readonly observer: Observer;
  private ops?: OpsServer;
  /** Status source, Spot notice monitor, membership: started once the instance id is known. */
  private parts?: AgentParts;
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
      onApiError: (operation, err) => this.record.kubeError(operation, err),
    });
    const sources = agentMetricSources({
      now: this.now,
      statusStaleAfterMs: this.config.decide.statusStaleAfterMs,
      phase: () => this.reconciler?.phase(),
      observer: this.observer,
      parts: () => this.parts,
      kubeRequests: this.api.calls,
      ready: () => this.ready() === true,
    });
    this.metrics = createReconcilerMetrics(this.registry, sources);
    this.record = new MetricRecorder(this.metrics, this.counters.actions);
    this.events = new NodeEventRecorder({
      api: this.api,
      nodeName,
      logger: this.logger,
      now: this.now,
      failureIntervalMs: this.timings.failureEventIntervalMs,
      deferWhile: () => this.acting && !this.stopping,
      onResult: this.record.event,
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
    return readiness({
      stopping: this.stopping,
      nodeName: this.config.nodeName,
      nodeSeen: this.nodeSeen,
      instanceId: this.resolvedInstanceId,
      partsStarted: this.parts !== undefined,
      podsListed: this.reconciler !== undefined,
      membershipStarted: this.parts?.membership.started() ?? false,
      phase: this.phase(),
      fleetiqRefusal: this.parts?.membershipSteps.refusal(),
    });
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
    const { config, observer } = this;
    const parts = startAgentParts({
      config,
      instanceId,
      gamelift: this.gamelift,
      membershipBackoff: this.timings.membershipBackoff,
      ...(this.o.redisOptions ? { redisOptions: this.o.redisOptions } : {}),
      logger: this.logger,
      now: this.now,
      random: this.random,
      onChange: observer.notify,
      onMembershipResult: this.record.membershipStep,
      onFailureEvent: (reason, message) => this.events.emitFailure(reason, message),
    });
    this.parts = parts;
    const { membership } = parts;
    const executor = new Executor({
      nodeName: config.nodeName,
      api: this.api,
      cache: observer,
      deregister: () => membership.execute({ kind: 'deregister' }),
      emit: (e) => this.events.emit(e.type, e.reason, e.message),
      concurrency: this.timings.fetchConcurrency,
      onAction: this.record.action,
      onNodeWritten: this.record.nodeWritten,
      onApiError: this.record.kubeError,
      onFleetIQError: this.record.fleetiqError,
    });
    await observer.startPods({
      status: parts.statusSource,
      ...(parts.spotNotice ? { spotNotice: parts.spotNotice } : {}),
      registration: () => membership.registration(),
    });
    this.checkStopping();
    this.reconciler = new NodeReconciler({
      decide: config.decide,
      timings: { ...this.timings, observedStatusRetryMs: this.timings.drainBackoff.maxMs },
      observer,
      executor,
      membership,
      membershipSteps: parts.membershipSteps,
      reportedStatus: () => parts.statusSource.current(),
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

  // ---- stopping -----------------------------------------------------------------------------------

  private async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.events.notifyIdle();
    this.logger.info('reconciler: stopping (the instance stays registered)');
    const finished = await this.loop.stop(this.config.shutdownGraceMs);
    if (!finished) this.logger.warn('reconciler: the step in flight did not finish within the grace period');
    this.observer.stop();
    await stopAgentParts(this.parts, this.config.shutdownGraceMs, this.logger);
    await this.events.flush(1000);
    await this.ops?.close();
    if (!(this.o.gameLift instanceof GameLiftClient)) this.gamelift.destroy();
    this.logger.info('reconciler: stopped');
  }
}
