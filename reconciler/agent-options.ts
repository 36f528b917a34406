// The node agent's in-process surface (tests, the sandbox, benchmarks): its options, timings, handle
// and the configuration helper. agent.ts re-exports all of it.
import type { GameLiftClient, GameLiftClientConfig } from '@aws-sdk/client-gamelift';
import type { KubeClientConfig } from '../shared/kube-client/config.js';
import type { RedisOptions } from 'ioredis';
import type { Registry } from 'prom-client';
import type { BackoffPolicy } from '../shared/backoff.js';
import type { Component } from '../shared/component.js';
import type { Logger } from '../shared/logger.js';
import { parseReconcilerConfig, type ReconcilerConfig } from './config.js';
import { DEFAULT_DECIDE_TIMINGS, type DecideConfig, type DecideTimings, type Decision } from './decide.js';
import { OBSERVED_STATUS_REFRESH_MS, type DrainPhase } from '../shared/drain-contract.js';

/** decide()'s pacing policy (recheck cadences, immediate retries) plus the agent's own. */
export interface AgentTimings extends DecideTimings {
  /** Pacing of a drain pass that keeps failing (a step, or a GameServer read). */
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
  ...DEFAULT_DECIDE_TIMINGS,
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
  /**
   * Default loadKubeClientConfig(): KUBECONFIG, else in-cluster (client-node's KubeConfig fits too).
   * Each configuration object has its own connection pool.
   */
  kubeConfig?: KubeClientConfig;
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
