// startSandbox: the whole system on one machine. The emulators and the simulated cluster (topology.ts),
// a real redis-server, the project's real components under their ServiceAccounts (components.ts), an
// observer watching Nodes and GameServers from outside (metrics.ts), and the load (load.ts). `run()`
// applies the load for the configured simulated duration and waits for the sessions still held to end;
// `report()` says what happened — above all, how many sessions were lost.
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { pino, type Logger } from 'pino';
import { SimClock } from '../clock.js';
import { Informer } from '../cluster/informer.js';
import type { KubeObject, UserInfo } from '../kube/types.js';
import type { RequestLogEntry } from '../kube/request-log.js';
import type { MutatingAdmission } from '../kube/admission/mutating.js';
import {
  Components,
  SANDBOX_TIMINGS,
  componentOfUser,
  waitUntil,
  type ComponentTimings,
} from './components.js';
import { startGameLiftMeter, type GameLiftMeter } from './gamelift-meter.js';
import { startAllocations, startInterruptions, type InterruptionRun } from './load.js';
import { WEBHOOK_CONFIGURATION_NAME } from './manifests.js';
import { SandboxRecorder, shortName, type NodePhase } from './metrics.js';
import type { SandboxOptions } from './options.js';
import type { RedisProcess } from './redis-process.js';
import {
  gameLiftCalls,
  reactionSummary,
  sessionOutcomes,
  spotSummary,
  type KubeCalls,
  type SandboxReport,
} from './report.js';
import { GAME_SERVER_GROUP, startTopology, topologyNames, type Topology } from './topology.js';
import { startSystem, type System } from '../system/system.js';
import { DEFAULT_STEP_LIMIT_MS } from '../system/teardown.js';
import { renderTimelineSvg } from './timeline-svg.js';
import { describeInterruptions } from './interruptions.js';
import { ChaosInjector } from './chaos-injector.js';
import { describeFault, strandedNodes } from './chaos.js';
import { LEGACY_ACTIVE_TOLERATION } from '../legacy/daemon.js';
import { LegacyNodes, Migration, describeMigrate, migrationReport } from './migration.js';
import { UpgradeRunner } from './upgrade.js';
import { drainRequestPatch } from '../../cli/drain-plan.js';

export const FLEET_NAME = 'game';

/** Who the sandbox's own watches are, so its requests are told apart from the components'. */
const OBSERVER: UserInfo = {
  username: 'sandbox:observer',
  groups: ['system:masters', 'system:authenticated'],
};
const NODES = { group: '', version: 'v1', resource: 'nodes' };
const GAMESERVERS = { group: 'agones.dev', version: 'v1', resource: 'gameservers' };
const MWC = {
  group: 'admissionregistration.k8s.io',
  version: 'v1',
  resource: 'mutatingwebhookconfigurations',
};

/** What tests and benchmarks may change beyond the CLI's options. */
export interface SandboxInternals {
  timings?: Partial<ComponentTimings>;
  /** Default: a pino logger writing JSON lines to options.logPath. */
  logger?: Logger;
  webhookReplicas?: number;
  pubsubReplicas?: number;
  /** Simulated seconds a game server takes to exit after SIGTERM (default 5). */
  exitOnSigtermSeconds?: number;
  /**
   * FleetIQ: a DRAINING instance with nothing UTILIZED is terminated after this (default 60; never
   * less than six pubsub polls of simulated time).
   */
  drainingTerminationDelaySeconds?: number;
  /** Real ms to wait for the system to be ready before the load (default scales with the size). */
  readyTimeoutMs?: number;
  /** Pod terminationGracePeriodSeconds of the game servers (default 60). */
  terminationGracePeriodSeconds?: number;
}

export type RunPhase = 'ready' | 'load' | 'settle' | 'done';

export interface NodeRow {
  name: string;
  instanceId: string;
  fleetiqStatus: string;
  label?: string;
  phase: NodePhase;
  /** Simulated ms in the current phase. */
  phaseForMs: number;
  allocated: number;
  ready: number;
  cordoned: boolean;
  tainted: boolean;
  replacement: boolean;
}

export interface SandboxView {
  phase: RunPhase;
  simElapsedMs: number;
  durationMs: number;
  settleMs: number;
  realElapsedMs: number;
  speed: number;
  nodes: NodeRow[];
  sessions: {
    started: number;
    active: number;
    completed: number;
    lost: number;
    interruptedBySpotNotice: number;
    /** Ended gracefully inside a Spot notice: not lost, not completed. */
    endedBySpotNotice?: number;
  };
  allocations: { succeeded: number; failed: number; unallocated: number };
  drains: SandboxRecorder['drains'];
  instances: { terminated: number; launched: number };
  /** Real ms; production*: the same with production's pubsub poll interval (see report.ts). */
  reaction: {
    count: number;
    p50: number | null;
    max: number | null;
    productionP50?: number | null;
    productionPollSeconds?: number | null;
  };
  recent: Array<{ at: number; text: string }>;
  components: { pubsubLeader?: number; pubsubReplicas: number; webhookReplicas: number; agents: number };
  startedAt: number;
}

export interface Sandbox {
  readonly options: SandboxOptions;
  readonly clock: SimClock;
  readonly topology: Topology;
  readonly components: Components;
  readonly recorder: SandboxRecorder;
  readonly meter: GameLiftMeter;
  /** The redis-server the sandbox spawned (undefined with --redis-url). */
  readonly redis?: RedisProcess;
  readonly redisUrl: string;
  readonly signingSecret?: string;
  readonly logger: Logger;
  /** --chaos: the faults injected so far; `inject()` one now. */
  readonly chaos: ChaosInjector;
  /** --legacy-nodes: the old adapter's daemons still running (undefined without legacy nodes). */
  readonly legacy?: LegacyNodes;
  /** --migrate: the nodes moved so far. */
  readonly migration?: Migration;
  /** --upgrade: the rolling replacement of every node (undefined without it). */
  readonly upgrade?: UpgradeRunner;
  /** Applies the configured load and interruptions for options.durationMs, then settles. */
  run(signal?: AbortSignal): Promise<void>;
  /** Allocations at the configured rate until the returned function is called. */
  startLoad(): () => void;
  startInterruptions(): InterruptionRun;
  view(): SandboxView;
  report(): SandboxReport;
  /** The run as an SVG timeline (node phases, FleetIQ marks, sessions over time). */
  timelineSvg(): string;
  /** Stops everything (idempotent) and returns the final report. */
  stop(): Promise<SandboxReport>;
}

/** How long each part may take to stop (the builder's bound). */
const CLEANUP_STEP_S = DEFAULT_STEP_LIMIT_MS / 1000;

export async function startSandbox(
  options: SandboxOptions,
  internals: SandboxInternals = {},
): Promise<Sandbox> {
  const realStart = Date.now();
  const cpuStart = process.cpuUsage();
  const timings: ComponentTimings = {
    ...SANDBOX_TIMINGS,
    decide: {
      ...SANDBOX_TIMINGS.decide,
      // The agents run on real time: the window, given in simulated time, shrinks with the speed.
      rebalanceAction: options.agentRebalance.action,
      rebalanceDrainWindowMs: Math.max(1, Math.round(options.agentRebalance.windowMs / options.speed)),
    },
    // Every agent reports health to GameLift: keep the total near 20 calls/s however many nodes there are.
    agentHealthIntervalMs: Math.min(
      30_000,
      Math.max(SANDBOX_TIMINGS.agentHealthIntervalMs, options.nodes * 50),
    ),
    ...internals.timings,
  };
  const { logger, flush } = internals.logger
    ? { logger: internals.logger, flush: () => undefined }
    : fileLogger(options.logPath, options.logLevel);
  const log = (component: string) => logger.child({ component });

  // FleetIQ deregisters a game server whose health reports stop for this long (simulated); the
  // agents report on real time, so the timeout must cover several reports at any speed.
  const healthCheckTimeoutSeconds = Math.max(
    180,
    Math.ceil((6 * timings.agentHealthIntervalMs * options.speed) / 1000),
  );
  // FleetIQ terminates a DRAINING instance this long (simulated) after it last hosted a UTILIZED
  // game server. The components learn of DRAINING on real time (pubsub polls), so keep at least
  // production's proportions (a 60 s delay against a 10 s poll) at any speed: at speed 20 a 10 s
  // delay is half a real second, less than one poll, and a race no agent can win on a busy machine.
  const drainingTerminationDelaySeconds = Math.max(
    internals.drainingTerminationDelaySeconds ?? 60,
    Math.ceil(6 * timings.pubsubPollSeconds * options.speed),
  );

  // Each teardown step is bounded: a part that does not stop (a connection nobody closes) is named in
  // the log and left behind, so that stopping the sandbox never hangs.
  let system: System | undefined;
  try {
    system = await startSystem({
      controlPlane: options.controlPlane,
      speed: options.speed,
      random: topologyNames(options.seed),
      failurePolicy: options.failurePolicy,
      // On the real API server the components run under manifests/base's admission policies too.
      admissionPolicies: true,
      redis: !options.redisUrl,
      logger: log,
      onTeardownFailure: (f) => {
        if (f.error !== undefined) return;
        logger.warn({ step: f.step }, `sandbox: a clean-up step did not finish in ${CLEANUP_STEP_S} s`);
        // Also where a test sees it: its logger is usually silent.
        process.stderr.write(`sandbox: a clean-up step did not finish in ${CLEANUP_STEP_S} s: ${f.step}\n`);
      },
    });
    const sys = system;
    const { clock, redis } = sys;
    const redisUrl = options.redisUrl ? options.redisUrl : redis!.url;
    const topology = await startTopology(sys, {
      seed: options.seed,
      nodes: options.nodes,
      podsPerNode: options.podsPerNode,
      fleet: {
        name: FLEET_NAME,
        replicas: options.fleetReplicas,
        scheduling: options.scheduling,
        terminationGracePeriodSeconds: internals.terminationGracePeriodSeconds ?? 60,
        // A fleet made for the old adapter tolerates the taint its daemon puts on its nodes.
        ...(options.legacyNodes > 0 ? { tolerations: [{ ...LEGACY_ACTIVE_TOLERATION }] } : {}),
      },
      exitOnSigtermSeconds: internals.exitOnSigtermSeconds ?? 5,
      fleetiq: {
        drainingTerminationDelaySeconds,
        healthCheckTimeoutSeconds,
      },
    });
    const { kube, sim, fleetiq } = topology;

    // The report needs totals per identity.
    const kubeCalls = new Map<string, KubeCalls>();
    kube.onRequest((e) => countKubeCall(kubeCalls, e));

    // pubsub's polls, for the part of each reaction spent waiting for one (report: production terms).
    const recorder = new SandboxRecorder();
    const meter = await startGameLiftMeter(fleetiq.url, (component, operation) => {
      if (component === 'pubsub' && operation === 'DescribeGameServerInstances')
        recorder.pollObserved(Date.now());
    });
    sys.defer('the GameLift meter', () => meter.close());
    if (options.kubeconfigPath) {
      mkdirSync(dirname(options.kubeconfigPath), { recursive: true });
      await kube.writeKubeconfig(options.kubeconfigPath);
    }

    const signingSecret = options.signing ? randomBytes(24).toString('hex') : undefined;
    const components = sys.startComponents({
      meter,
      group: GAME_SERVER_GROUP,
      redisUrl,
      ...(signingSecret ? { signingSecret } : {}),
      timings,
    });

    // ---- observation ------------------------------------------------------------------------------
    const observer = kube.client(OBSERVER);
    const informerBase = { logger: log('sandbox-observer'), clock };
    const nodeInformer = new Informer(observer, NODES, informerBase).on((type, node) =>
      recorder.nodeObserved(type, node, clock.now(), Date.now()),
    );
    const gsInformer = new Informer(observer, GAMESERVERS, informerBase);
    sys.defer('the observer', () => {
      nodeInformer.stop(true);
      gsInformer.stop(true);
    });
    await Promise.all([nodeInformer.start(), gsInformer.start()]);

    const agentStops = new Set<Promise<unknown>>();
    sys.defer('the agents of terminated nodes', () => Promise.allSettled([...agentStops]));
    topology.hooks.statusChanged = (instanceId, from, to) => {
      recorder.statusChanged(instanceId, from, to, clock.now(), Date.now());
      if (to === 'SPOT_TERMINATING') {
        const nodeName = sim.nodes.nodeNameOf(instanceId);
        if (nodeName) sim.ledger.markInterruptedBySpotNotice({ nodeName });
      }
    };
    // --legacy-nodes: the old adapter's daemons, and (the migration guide's first step) an IAM deny
    // of DeregisterGameServer to their role.
    const legacy =
      options.legacyNodes > 0
        ? new LegacyNodes({
            topology,
            meter,
            group: GAME_SERVER_GROUP,
            redisUrl,
            healthIntervalMs: timings.agentHealthIntervalMs,
            drainCheckIntervalMs: timings.agentDrainSessionRecheckMs,
            logger: log('legacy-daemon'),
          })
        : undefined;
    legacy?.denyDeregistration();
    if (legacy) sys.defer('the old daemons', () => legacy.stopAll());
    topology.hooks.instanceTerminating = (instanceId, nodeName, reason) => {
      recorder.instanceTerminated(instanceId, nodeName, reason, clock.now());
      // The agent goes down with its machine: it is not waited for.
      if (nodeName) {
        const p = Promise.all([components.stopAgent(nodeName), legacy?.stop(nodeName, 'killed')]).finally(
          () => agentStops.delete(p),
        );
        agentStops.add(p);
      }
    };
    topology.hooks.instanceLaunched = (instanceId) => recorder.instanceLaunched(instanceId, clock.now());
    topology.hooks.nodeJoined = async (nodeName) => {
      try {
        const agent = await components.startAgent(nodeName);
        await agent.booted;
      } catch (err) {
        logger.error({ err, node: nodeName }, 'sandbox: could not start the agent of a new node');
      }
    };

    // ---- components -------------------------------------------------------------------------------
    const readyTimeoutMs =
      internals.readyTimeoutMs ?? Math.max(60_000, options.fleetReplicas * 30 + options.nodes * 300);
    await components.startWebhooks(internals.webhookReplicas ?? 2);
    await waitUntil(
      'the webhook caBundle in the MutatingWebhookConfiguration',
      async () => {
        const mwc = await kube.client().get({ ...MWC, name: WEBHOOK_CONFIGURATION_NAME });
        return (mwc.webhooks as { clientConfig?: { caBundle?: string } }[]).every((w) =>
          Boolean(w.clientConfig?.caBundle),
        );
      },
      readyTimeoutMs,
    );
    await components.startPubsubs(internals.pubsubReplicas ?? 2);
    // The first --legacy-nodes nodes (in natural order) run the old daemon; new nodes get the agent.
    const initial = [...sim.nodes.instances()].sort((a, b) =>
      a.nodeName.localeCompare(b.nodeName, undefined, { numeric: true }),
    );
    const legacyNames = new Set(initial.slice(0, options.legacyNodes).map((i) => i.nodeName));
    await mapLimit(initial, 16, async (i) => {
      if (legacyNames.has(i.nodeName)) {
        await legacy!.start(i.nodeName);
        return;
      }
      const agent = await components.startAgent(i.nodeName);
      await agent.booted;
    });
    await sim.waitForFleetReady(FLEET_NAME, { timeoutMs: readyTimeoutMs });
    await waitUntil('a pubsub leader', () => components.leaderIndex() !== undefined, readyTimeoutMs);
    await waitUntil(
      'every node agent registered with FleetIQ and seeing its status',
      () =>
        fleetiq.control.gameServers({ group: GAME_SERVER_GROUP }).length >= options.nodes &&
        [...components.agents.values()].every((a) => a.phase() !== 'Starting'),
      readyTimeoutMs,
    );
    logger.info({ realMs: Date.now() - realStart }, 'sandbox: ready');

    // ---- the run ----------------------------------------------------------------------------------
    let phase: RunPhase = 'ready';
    let loadStartedAt: number | undefined;
    let loadEndedAt: number | undefined;
    let endedAt: number | undefined;
    let simElapsedMs = 0;
    const readyAt = clock.now();
    const sampler = setInterval(() => {
      const s = sessionOutcomes(sim.ledger.all(), recorder);
      const a = sim.sessions.allocations;
      const byNode: Record<string, number> = {};
      for (const r of sim.ledger.active()) if (r.nodeName) byNode[r.nodeName] = (byNode[r.nodeName] ?? 0) + 1;
      recorder.sample({
        byNode,
        at: clock.now(),
        active: s.active,
        completed: s.completed,
        lost: s.lost,
        endedBySpotNotice: s.endedGracefullyBySpotNotice,
        allocationsSucceeded: a.succeeded,
        allocationsFailed: a.failed,
      });
    }, 500);
    sampler.unref();
    sys.defer('the sampler', () => clearInterval(sampler));

    const chaos = new ChaosInjector({
      clock,
      loadStartedAt: () => loadStartedAt,
      topology,
      components,
      recorder,
      meter,
      ...(redis ? { redis } : {}),
      redisUrl,
      logger,
    });
    sys.defer('the chaos injector', () => chaos.finish());
    const sessionsOn = (nodeName: string) =>
      sim.ledger.active().filter((r) => r.nodeName === nodeName).length;
    const migration = legacy
      ? new Migration({
          clock,
          loadStartedAt: () => loadStartedAt,
          topology,
          components,
          legacy,
          sessionsOn,
          logger: log('migration'),
        })
      : undefined;
    if (migration) sys.defer('the migration', () => migration.finish());

    const startLoad = () =>
      startAllocations(sim, {
        fleet: FLEET_NAME,
        scheduling: options.scheduling,
        allocationRatePerSecond: options.allocationRatePerSecond,
        sessionSeconds: options.sessionSeconds,
      });
    const admin = kube.client();
    const startInts = () =>
      startInterruptions(fleetiq, clock, options.interruptions, options.seed, log('interruptions'), {
        spotTarget: options.spotTarget,
        untilMs: options.durationMs,
        rebalance: {
          ...options.rebalance,
          // In the instance's metadata, where its agent polls (noticeTime: now, on the agents' real clock).
          recommend: (instanceId) => {
            const node = sim.nodes.nodeNameOf(instanceId);
            const imds = node ? components.imds.get(node) : undefined;
            if (!node || !imds) return;
            imds.control.postRebalanceRecommendation();
            recorder.rebalanceRecommended(node, clock.now());
          },
        },
        sessionsOf: (instanceId) => {
          const node = sim.nodes.nodeNameOf(instanceId);
          return node ? sessionsOn(node) : 0;
        },
        // An operator's scripted drain requests, written as kubectl fleetiq drain writes them.
        requests: {
          candidates: (action) =>
            [...recorder.nodes.values()]
              .filter((t) => t.leftAt === undefined)
              .filter((t) =>
                action === 'UNDRAIN'
                  ? t.requested
                  : !t.requested &&
                    t.phase === 'Active' &&
                    fleetiq.control.instance(t.instanceId)?.status === 'ACTIVE',
              )
              .map((t) => t.instanceId),
          write: async (instanceId, mode) => {
            const name = sim.nodes.nodeNameOf(instanceId);
            if (!name) return;
            await admin.patch({ ...NODES, name }, 'merge', drainRequestPatch(mode, clock.now()));
            recorder.event(
              clock.now(),
              mode
                ? `operator: drain requested on ${shortName(name)} (${mode})`
                : `operator: undrain ${shortName(name)}`,
            );
          },
        },
      });
    const upgrade = options.upgrade
      ? new UpgradeRunner(options.upgrade, {
          admin,
          topology,
          clock,
          recorder,
          logger: log('upgrade'),
          sessionsOf: sessionsOn,
          loadStartedAt: () => loadStartedAt,
        })
      : undefined;
    if (upgrade) sys.defer('the upgrade', () => upgrade.stop());

    const elapsed = () => (loadStartedAt === undefined ? 0 : clock.now() - loadStartedAt);
    const run = async (signal?: AbortSignal) => {
      loadStartedAt = clock.now();
      phase = 'load';
      recorder.event(clock.now(), 'load started');
      const stopLoad = startLoad();
      const ints = startInts();
      chaos.schedule(options.chaos);
      migration?.schedule(options.migrate);
      upgrade?.schedule();
      try {
        await sleepUntil(() => elapsed() >= options.durationMs, signal);
      } finally {
        stopLoad();
        ints.stop();
        loadEndedAt = clock.now();
      }
      phase = 'settle';
      recorder.event(clock.now(), 'load stopped; waiting for the sessions still held');
      const settleFrom = clock.now();
      // With --upgrade, also until every old node is replaced (the settle time bounds both).
      await sleepUntil(
        () =>
          (sim.ledger.active().length === 0 && (upgrade?.complete ?? true)) ||
          clock.now() - settleFrom >= options.settleMs,
        signal,
      );
      await upgrade?.stop();
      // Outages still on end now, so the report sees the system as it is left.
      await chaos.finish();
      await migration?.finish();
      simElapsedMs = elapsed();
      endedAt = clock.now();
      phase = 'done';
      recorder.event(clock.now(), 'run finished');
    };

    const gsCounts = () => {
      const byNode = new Map<string, { allocated: number; ready: number }>();
      for (const gs of gsInformer.values()) {
        const node = gs.status?.nodeName as string | undefined;
        if (!node) continue;
        let c = byNode.get(node);
        if (!c) byNode.set(node, (c = { allocated: 0, ready: 0 }));
        if (gs.status?.state === 'Allocated') c.allocated++;
        else if (gs.status?.state === 'Ready') c.ready++;
      }
      return byNode;
    };

    const view = (): SandboxView => {
      const now = clock.now();
      const counts = gsCounts();
      const s = sessionOutcomes(sim.ledger.all(), recorder);
      const r = reactionSummary(recorder.reactions, timings.pubsubPollSeconds);
      return {
        phase,
        simElapsedMs: phase === 'done' ? simElapsedMs : elapsed(),
        durationMs: options.durationMs,
        settleMs: options.settleMs,
        realElapsedMs: Date.now() - realStart,
        speed: options.speed,
        nodes: [...recorder.nodes.values()]
          .filter((t) => t.leftAt === undefined)
          .map((t) => ({
            name: shortName(t.name),
            instanceId: t.instanceId,
            fleetiqStatus: fleetiq.control.instance(t.instanceId)?.status ?? t.fleetiqStatus,
            label: t.label,
            phase: t.phase,
            phaseForMs: now - t.phaseSince,
            allocated: counts.get(t.name)?.allocated ?? 0,
            ready: counts.get(t.name)?.ready ?? 0,
            cordoned: t.cordoned,
            tainted: t.tainted,
            replacement: t.replacement,
          })),
        sessions: {
          started: s.started,
          active: s.active,
          completed: s.completed,
          lost: s.lost,
          interruptedBySpotNotice: s.interruptedBySpotNotice,
          endedBySpotNotice: s.endedGracefullyBySpotNotice,
        },
        allocations: { ...sim.sessions.allocations },
        drains: { ...recorder.drains },
        instances: { terminated: recorder.instancesTerminated, launched: recorder.instancesLaunched },
        reaction: {
          count: r.count,
          p50: r.p50,
          max: r.max,
          productionP50: r.production?.p50 ?? null,
          productionPollSeconds: r.production?.pollSeconds ?? null,
        },
        recent: recorder.recent.slice(-12),
        components: {
          pubsubLeader: components.leaderIndex(),
          pubsubReplicas: components.pubsubs.filter(Boolean).length,
          webhookReplicas: components.webhooks.filter(Boolean).length,
          agents: components.agents.size,
        },
        startedAt: readyAt,
      };
    };

    let maxRss = 0;
    const rssSampler = setInterval(() => {
      maxRss = Math.max(maxRss, process.memoryUsage().rss);
    }, 1000);
    rssSampler.unref();
    sys.defer('the memory sampler', () => clearInterval(rssSampler));

    const report = (): SandboxReport => {
      const kubernetes: Record<string, KubeCalls> = {};
      for (const [who, c] of kubeCalls) kubernetes[who] = structuredClone(c);
      const emulatorCalls = fleetiq.control.callCounts();
      const gameliftByOperation: SandboxReport['apiCalls']['gameliftByOperation'] = {};
      for (const [op, c] of Object.entries(emulatorCalls))
        if (c.calls > 0)
          gameliftByOperation[op] = {
            calls: c.calls,
            succeeded: c.succeeded,
            throttled: c.throttled,
            faulted: c.faulted,
          };
      const webhookStats = webhookAdmissionStats(kube.emulator?.webhooks);
      const realSeconds = (Date.now() - realStart) / 1000;
      const cpu = process.cpuUsage(cpuStart);
      const cpuSeconds = (cpu.user + cpu.system) / 1e6;
      maxRss = Math.max(maxRss, process.memoryUsage().rss, process.resourceUsage().maxRSS * 1024);
      const nodesAtEnd = [...recorder.nodes.values()].filter((t) => t.leftAt === undefined).length;
      const stranded = strandedNodes(
        recorder.nodes.values(),
        (id) => fleetiq.control.instance(id),
        // A node cordoned for a rebalance recommendation is meant to be (until its window ends).
        (name) => recorder.spotNoticeAt.has(name) || recorder.rebalanceAt.has(name),
      );
      return {
        sessions: sessionOutcomes(sim.ledger.all(), recorder),
        allocations: {
          succeeded: sim.sessions.allocations.succeeded,
          failed: sim.sessions.allocations.failed,
          unallocated: sim.sessions.allocations.unallocated,
        },
        drains: { ...recorder.drains },
        spot: spotSummary(sim.ledger.all(), recorder, recorder.cordonedMs(clock.now())),
        instances: {
          initial: options.nodes,
          terminated: recorder.instancesTerminated,
          launched: recorder.instancesLaunched,
          final: nodesAtEnd,
        },
        reactionMs: reactionSummary(recorder.reactions, timings.pubsubPollSeconds),
        nodes: { stranded: stranded.length, strandedNodes: stranded.map(shortName) },
        chaos: { injected: chaos.injected.map((c) => ({ ...c })) },
        ...(legacy && migration
          ? {
              migration: migrationReport({
                legacyNodes: options.legacyNodes,
                legacy,
                migration,
                events: fleetiq.control.events(),
                liveNodes: sim.nodes.instances().map((i) => i.nodeName),
                agents: [...components.agents.keys()],
              }),
            }
          : {}),
        ...(upgrade ? { upgrade: upgrade.report() } : {}),
        apiCalls: {
          kubernetes,
          gamelift: gameLiftCalls(meter.counts()),
          gameliftByOperation,
          webhookAdmissions: webhookStats,
        },
        fleetiq: {
          statusChanges: { ...recorder.statusChanges },
          spotMarketHits: fleetiq.control.spotMarket().hits,
        },
        run: {
          options: reportableOptions(options),
          simulatedSeconds: Math.round((phase === 'done' ? simElapsedMs : elapsed()) / 100) / 10,
          realSeconds: Math.round(realSeconds * 10) / 10,
          speed: options.speed,
          nodesAtEnd,
          process: {
            cpuSeconds: Math.round(cpuSeconds * 10) / 10,
            cpuPercent: Math.round((cpuSeconds / Math.max(realSeconds, 0.001)) * 100),
            maxRssMiB: Math.round(maxRss / 1048576),
            heapUsedMiB: Math.round(process.memoryUsage().heapUsed / 1048576),
          },
          logFile: internals.logger ? '(caller logger)' : options.logPath,
        },
      };
    };

    let final: SandboxReport | undefined;
    let stopping: Promise<SandboxReport> | undefined;
    const sandbox: Sandbox = {
      options,
      clock,
      topology,
      components,
      recorder,
      meter,
      ...(redis ? { redis } : {}),
      redisUrl,
      ...(signingSecret ? { signingSecret } : {}),
      logger,
      chaos,
      ...(legacy ? { legacy } : {}),
      ...(migration ? { migration } : {}),
      ...(upgrade ? { upgrade } : {}),
      run,
      startLoad,
      startInterruptions: startInts,
      view,
      report: () => final ?? report(),
      timelineSvg: () => {
        const r = final ?? report();
        const s = r.sessions;
        return renderTimelineSvg({
          title: `fleetiq-sandbox: ${s.lost} session${s.lost === 1 ? '' : 's'} lost of ${s.started}, ${s.endedGracefullyBySpotNotice} ended early by Spot notices`,
          subtitle: [
            `${options.nodes} nodes, ${options.fleetReplicas} game servers (${options.scheduling}), ` +
              `${Math.round(options.allocationRatePerSecond * 600) / 10} allocations/min, interruptions ${describeInterruptions(options.interruptions)}; simulated time`,
            `Drains: ${r.drains.started} started, ${r.drains.deregistered} deregistered, ${r.drains.reverted} reverted; ` +
              `${r.instances.terminated} instances terminated; sessions ${s.completed} completed, ` +
              `${s.endedGracefullyBySpotNotice} ended by a Spot notice, ${s.active} still held`,
          ],
          nodes: [...recorder.nodes.values()],
          samples: recorder.samples,
          startAt: loadStartedAt ?? readyAt,
          endAt: endedAt ?? clock.now(),
          ...(loadEndedAt !== undefined ? { loadEndAt: loadEndedAt } : {}),
        });
      },
      stop() {
        stopping ??= (async () => {
          await chaos.finish();
          // The real control plane's audit log is read every second: take in its last lines.
          await kube.flushRequests().catch(() => undefined);
          final = report();
          await sys.stop().catch(() => undefined);
          flush();
          return final;
        })();
        return stopping;
      },
    };
    return sandbox;
  } catch (err) {
    await system?.stop().catch(() => undefined);
    flush();
    throw err;
  }
}

function fileLogger(path: string, level: string): { logger: Logger; flush: () => void } {
  mkdirSync(dirname(path), { recursive: true });
  const dest = pino.destination({ dest: path, sync: false, mkdir: true });
  const logger = pino({ level, timestamp: pino.stdTimeFunctions.isoTime }, dest);
  return {
    logger,
    flush: () => {
      try {
        dest.flushSync();
      } catch {
        // Not yet open (a very early failure): nothing to flush.
      }
    },
  };
}

/** Components by name, the simulated control plane as one, the sandbox's own observer apart. */
function countKubeCall(into: Map<string, KubeCalls>, e: RequestLogEntry): void {
  const who =
    componentOfUser(e.user) ?? (e.user === OBSERVER.username ? 'sandbox-observer' : 'simulated-cluster');
  let c = into.get(who);
  if (!c) into.set(who, (c = { total: 0, errors: 0, byRequest: {} }));
  c.total++;
  if (e.code >= 400) c.errors++;
  const key = `${e.verb} ${e.resource}${e.subresource ? `/${e.subresource}` : ''}`;
  c.byRequest[key] = (c.byRequest[key] ?? 0) + 1;
}

function webhookAdmissionStats(
  webhooks: MutatingAdmission | undefined,
): SandboxReport['apiCalls']['webhookAdmissions'] {
  let calls = 0;
  let failures = 0;
  const outcomes: Record<string, number> = {};
  for (const s of webhooks?.stats() ?? []) {
    calls += s.calls;
    for (const [k, v] of Object.entries(s.outcomes)) {
      outcomes[k] = (outcomes[k] ?? 0) + (v ?? 0);
      if (k === 'failedClosed' || k === 'failedOpen') failures += v ?? 0;
    }
  }
  return { calls, failures, outcomes };
}

function reportableOptions(o: SandboxOptions): Record<string, unknown> {
  return {
    nodes: o.nodes,
    fleetReplicas: o.fleetReplicas,
    scheduling: o.scheduling,
    podsPerNode: o.podsPerNode,
    allocationRatePerMinute: Math.round(o.allocationRatePerSecond * 60 * 100) / 100,
    sessionSeconds: o.sessionSeconds,
    interruptions: o.interruptions,
    durationSeconds: o.durationMs / 1000,
    speed: o.speed,
    seed: o.seed,
    spotTarget: o.spotTarget,
    rebalance: { share: o.rebalance.share, leadSeconds: o.rebalance.leadMs / 1000 },
    agentRebalance: { action: o.agentRebalance.action, windowSeconds: o.agentRebalance.windowMs / 1000 },
    failurePolicy: o.failurePolicy,
    controlPlane: o.controlPlane,
    signing: o.signing,
    chaos: o.chaos.map(describeFault),
    legacyNodes: o.legacyNodes,
    migrate: describeMigrate(o.migrate),
    ...(o.upgrade ? { upgrade: o.upgrade } : {}),
  };
}

async function sleepUntil(done: () => boolean, signal?: AbortSignal): Promise<void> {
  while (!done() && !signal?.aborted) await new Promise((r) => setTimeout(r, 50));
}

async function mapLimit<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

export type { KubeObject };
