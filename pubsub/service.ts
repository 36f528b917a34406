// Wires pubsub together: configuration (watched), Redis, the GameLift client behind the call-rate
// limiter, leader election, the per-group poll schedule, publication, and the ops endpoints.
import type { Component } from '../shared/component.js';
import { settledWithin } from '../shared/timeout.js';
import { GameLiftClient, type GameLiftClientConfig } from '@aws-sdk/client-gamelift';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { createLogger, type Logger } from '../shared/logger.js';
import { loadKubeClientConfig, type KubeClientConfig } from '../shared/kube-client/config.js';
import { startOpsServer } from '../shared/ops-server.js';
import { watchConfigFile, type ConfigWatcher, type PubsubConfig } from './config.js';
import { LeaderElector, leaseApiFor, type LeaderElectionSettings, type LeaseApi } from './leader-election.js';
import { createPubsubMetrics } from './metrics.js';
import { classifyError, describeInstancesWith, pollGroup, type DescribeInstances } from './poller.js';
import { SEQUENCE_KEY, StatusPublisher, type SyncReport } from './publisher.js';
import { TokenBucket } from './rate-limiter.js';
import { describeRedis, parseRedisUrl } from '../shared/redis-url.js';
import { backoffPolicy, initialDueTimes, nextDueAt, type PollOutcome } from './schedule.js';

type RelativeMiddleware = Parameters<GameLiftClient['middlewareStack']['addRelativeTo']>[0];

export interface PubsubOptions {
  /** The configuration to start with (already validated: the CLI exits on an invalid one). */
  config: PubsubConfig;
  /** When given, the file is watched and a valid change applied without a restart. */
  configPath?: string;
  /** How often the file's content is re-read as a backstop to directory events (default 2000). */
  configPollMs?: number;
  /** REDIS_URL as given (host:port, redis://, rediss://). */
  redisUrl: string;
  /** HMAC-SHA256 key: every message carries a Signature when set. */
  signingSecret?: string;
  /** GameLift client settings; region is required. The SDK's standard chain supplies the rest. */
  gameLift: GameLiftClientConfig;
  /** Ops endpoints (/healthz, /readyz, /metrics); default 127.0.0.1 on an ephemeral port. */
  listen?: { host: string; port: number };
  /** Lease-based leader election, or false to poll as the only replica. */
  leaderElection:
    | false
    | (LeaderElectionSettings & {
        /** Default: loadKubeClientConfig() (KUBECONFIG, else in-cluster); client-node's KubeConfig fits too. */
        kubeConfig?: KubeClientConfig;
        /** Overrides the Lease calls entirely. */
        api?: LeaseApi;
      });
  /** SIGTERM: how long the cycle in flight may take to finish before it is abandoned (default 10 s). */
  shutdownTimeoutMs?: number;
  logger?: Logger;
}

export interface PubsubService extends Component {
  /** Base URL of the ops endpoints. */
  opsUrl: string;
  registry: Registry;
  isLeader(): boolean;
  isReady(): boolean;
  /** The configuration in force. */
  config(): PubsubConfig;
  /**
   * Stops. By default as on SIGTERM: the cycle in flight finishes, the lease is released so the
   * follower takes over at once. `release: false` stops like a crash would (nothing handed over).
   */
  stop(options?: { release?: boolean }): Promise<void>;
}

export async function startPubsub(options: PubsubOptions): Promise<PubsubService> {
  const logger = options.logger ?? createLogger('pubsub');
  const registry = new Registry();
  const metrics = createPubsubMetrics(registry);
  let config = options.config;

  // --- Redis -------------------------------------------------------------------------------------
  const redisOptions = parseRedisUrl(options.redisUrl);
  const redis = new Redis({
    ...redisOptions,
    // RESP2 works with every Redis and ElastiCache engine version; nothing here needs RESP3.
    protocol: 2,
    connectionName: 'fleetiq-agones-pubsub',
    // Fail fast while disconnected instead of queueing: a poll's statuses stay due and are
    // published again once Redis is back (see catchUp), rather than piling up in memory.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: 5000,
    retryStrategy: (times) => Math.min(100 * times, 1000),
  });
  let redisReady = false;
  let everReady = false;
  redis.on('ready', () => {
    redisReady = true;
    metrics.redisConnected.set(1);
    logger.info({ redis: describeRedis(redisOptions) }, 'redis: connected');
    if (everReady) void catchUp();
    everReady = true;
  });
  redis.on('close', () => {
    if (redisReady)
      logger.warn({ redis: describeRedis(redisOptions) }, 'redis: connection lost; reconnecting');
    redisReady = false;
    metrics.redisConnected.set(0);
  });
  let lastRedisError = '';
  redis.on('error', (err: Error) => {
    // Every reconnect attempt fails the same way during an outage: log each distinct error once.
    if (err.message !== lastRedisError) logger.warn({ err: err.message }, 'redis: error');
    lastRedisError = err.message;
  });
  const publisher = new StatusPublisher(redis, publisherSettings(config, options.signingSecret));

  // --- GameLift ----------------------------------------------------------------------------------
  const bucket = new TokenBucket(config.maxCallsPerSecond);
  metrics.callRate.set(bucket.rate());
  let currentSignal: AbortSignal | undefined;
  const gameLift = new GameLiftClient(options.gameLift);
  // Runs once per attempt (after the SDK's retry middleware): every attempt, retries included,
  // waits for a token, and each throttled answer is counted and takes away any saved-up burst.
  type Handler = (args: { input: object }) => Promise<unknown>;
  const rateLimit =
    (next: Handler): Handler =>
    async (args) => {
      await bucket.take(currentSignal);
      try {
        const output = await next(args);
        bucket.succeeded();
        return output;
      } catch (err) {
        if (classifyError(err) === 'throttled') {
          const group = (args.input as { GameServerGroupName?: string }).GameServerGroupName ?? '';
          metrics.throttles.inc({ group });
          bucket.throttled();
        }
        throw err;
      } finally {
        metrics.callRate.set(bucket.rate());
      }
    };
  gameLift.middlewareStack.addRelativeTo(rateLimit as unknown as RelativeMiddleware, {
    relation: 'after',
    toMiddleware: 'retryMiddleware',
    name: 'fleetiqCallRateLimit',
    override: true,
  });
  const describe: DescribeInstances = describeInstancesWith(gameLift);

  // --- Leading: the poll schedule ----------------------------------------------------------------
  const lastSuccess = new Map<string, number>();
  let leadingSince = 0;
  let leadership: Leadership | undefined;
  // A group that never succeeded counts from when we started leading: a permanently failing group
  // (wrong name, no permission) must show up in "seconds since", not be missing from it.
  metrics.setLastSuccessSource(() =>
    leadership
      ? new Map(config.gameServerGroups.map((g) => [g, lastSuccess.get(g) ?? leadingSince]))
      : new Map(),
  );

  const pollAndPublish = async (group: string, signal: AbortSignal): Promise<PollOutcome> => {
    const result = await pollGroup(describe, group, { signal });
    if (signal.aborted) return 'error'; // no longer the leader: the successor publishes
    // Counted together, before publishing: pages per poll stays exact for anyone reading both.
    metrics.pages.inc({ group }, result.pages);
    metrics.polls.inc({ group, result: !result.error ? 'ok' : result.pages > 0 ? 'partial' : 'error' });
    // Removed from the configuration while this poll was in flight: the removal forgot the group's
    // gauge series and publisher state, and a late result must not bring them back.
    if (!config.gameServerGroups.includes(group)) return 'ok';
    if (result.unknownStatuses > 0) {
      logger.warn(
        { group, count: result.unknownStatuses },
        'poll: instances with a status this version does not know were skipped',
      );
    }
    if (result.complete) {
      const counts = new Map<string, number>();
      for (const o of result.instances) counts.set(o.status, (counts.get(o.status) ?? 0) + 1);
      metrics.setInstanceCounts(group, counts);
    }
    let published = true;
    if (result.complete || result.instances.length > 0) {
      const started = performance.now();
      try {
        const report = await publisher.sync(group, result.instances, result.complete);
        metrics.publishDuration.observe({ group }, (performance.now() - started) / 1000);
        metrics.published.inc({ group }, report.published);
        noteIntegrity(group, report);
      } catch (err) {
        published = false;
        metrics.errors.inc({ group, kind: 'redis' });
        logger.warn({ group, err: (err as Error).message }, 'publish: failed; the statuses stay due');
      }
    }
    if (result.error) {
      const { kind, message } = result.error;
      metrics.errors.inc({ group, kind });
      const log = { group, kind, err: message, pages: result.pages };
      if (kind === 'not_found')
        logger.error(log, 'poll: the game server group does not exist (check GameServerGroups)');
      else logger.warn(log, 'poll: failed; backing off');
      return kind === 'throttled' ? 'throttled' : 'error';
    }
    if (published) lastSuccess.set(group, Date.now());
    return 'ok';
  };

  // Instances per group whose latest-status key keeps being overwritten with statuses pubsub did not
  // publish: its repairs do not hold, so subscribers may be reading someone else's statuses.
  const unrepaired = new Map<string, number>();
  const noteIntegrity = (group: string | undefined, report: SyncReport) => {
    if (group !== undefined) metrics.mismatches.set({ group }, report.mismatched);
    if (report.mismatched > 0) {
      metrics.repairs.inc({ what: 'latest_key' }, report.mismatched);
      logger.error(
        { group, mismatched: report.mismatched, unrepaired: report.unrepaired },
        'publish: latest-status keys held statuses pubsub did not publish (planted, replayed, or above a lowered sequence counter); wrote the true ones again',
      );
    }
    if (report.counterRepaired) {
      metrics.repairs.inc({ what: 'sequence_counter' });
      logger.error(
        { group, key: SEQUENCE_KEY },
        'publish: the sequence counter in Redis was lowered, implausibly high or not a number; healed it',
      );
    }
    if (report.superseded > 0) {
      logger.warn(
        { group, superseded: report.superseded },
        'publish: newer genuine statuses were already in Redis (another leader)',
      );
    }
    if (group === undefined) return; // a catch-up: the group's next poll tells whether repairs hold
    if (report.unrepaired > 0) unrepaired.set(group, report.unrepaired);
    else unrepaired.delete(group);
  };

  const startLeading = (signal: AbortSignal) => {
    metrics.isLeader.set(1);
    leadingSince = Date.now();
    currentSignal = signal;
    leadership = new Leadership(() => config, pollAndPublish, signal, logger);
    leadership.start();
  };
  const stopLeading = () => {
    metrics.isLeader.set(0);
    leadership?.abort();
    leadership = undefined;
    publisher.reset();
    lastSuccess.clear();
    unrepaired.clear();
    metrics.clearLeaderSeries();
  };

  const catchUp = async () => {
    if (!leadership) return;
    try {
      const report = await publisher.republishAll();
      metrics.catchUps.inc();
      noteIntegrity(undefined, report);
      logger.info({ published: report.published }, 'redis: back; published every known status again');
    } catch (err) {
      // The statuses are marked unpublished: the next polls publish them all anyway.
      logger.warn(
        { err: (err as Error).message },
        'redis: catch-up failed; the next polls publish everything',
      );
    }
  };

  // --- Configuration changes ---------------------------------------------------------------------
  let watcher: ConfigWatcher | undefined;
  if (options.configPath) {
    watcher = watchConfigFile(
      options.configPath,
      config,
      {
        onChange: (next, previous) => {
          config = next;
          metrics.configValid.set(1);
          metrics.configReloads.inc({ result: 'applied' });
          bucket.setRate(next.maxCallsPerSecond);
          metrics.callRate.set(bucket.rate());
          publisher.updateSettings(publisherSettings(next, options.signingSecret));
          logger.info(
            { path: options.configPath, config: next, previous },
            'config: applied the changed configuration',
          );
          if (
            next.pollIntervalMs !== previous.pollIntervalMs ||
            next.gameServerGroups.join('\n') !== previous.gameServerGroups.join('\n')
          ) {
            leadership?.reschedule();
          }
          for (const group of previous.gameServerGroups) {
            if (!next.gameServerGroups.includes(group)) {
              lastSuccess.delete(group);
              publisher.forgetGroup(group);
              for (const status of ['ACTIVE', 'DRAINING', 'SPOT_TERMINATING'])
                metrics.instances.remove({ group, status });
            }
          }
        },
        onValid: () => metrics.configValid.set(1),
        onInvalid: (error) => {
          metrics.configValid.set(0);
          metrics.configReloads.inc({ result: 'invalid' });
          logger.error(
            { path: options.configPath, fieldErrors: error.fieldErrors },
            `config: ${error.message}; keeping the last good configuration`,
          );
        },
      },
      { pollMs: options.configPollMs },
    );
  }

  // --- Leader election ---------------------------------------------------------------------------
  let elector: LeaderElector | undefined;
  let soloLeader: AbortController | undefined;
  if (options.leaderElection) {
    const le = options.leaderElection;
    const api = le.api ?? leaseApiFor(le.kubeConfig ?? defaultKubeConfig(), le.namespace, le.name);
    elector = new LeaderElector(
      api,
      le,
      {
        onStartedLeading: startLeading,
        onStoppedLeading: stopLeading,
        onNewLeader: (identity) =>
          logger.info({ leader: identity }, 'leader election: leader is now ' + identity),
      },
      logger,
    );
  }

  // --- Ops endpoints -----------------------------------------------------------------------------
  const ops = await startOpsServer({
    listen: options.listen ?? { host: '127.0.0.1', port: 0 },
    registry,
    readiness: [
      { name: 'redis', check: () => redisReady || 'not connected to Redis' },
      { name: 'config', check: () => true },
      {
        name: 'status-integrity',
        check: () => {
          const count = [...unrepaired.values()].reduce((a, b) => a + b, 0);
          return (
            count === 0 ||
            `${count} latest-status keys in Redis keep being overwritten with statuses pubsub did not publish (groups ${[...unrepaired.keys()].join(', ')}): something else writes Redis`
          );
        },
      },
    ],
  });

  if (elector) elector.start();
  else {
    soloLeader = new AbortController();
    startLeading(soloLeader.signal);
  }
  logger.info(
    {
      groups: config.gameServerGroups,
      pollIntervalMs: config.pollIntervalMs,
      redis: describeRedis(redisOptions),
      signing: options.signingSecret ? 'on' : 'off',
      leaderElection: options.leaderElection
        ? {
            namespace: options.leaderElection.namespace,
            name: options.leaderElection.name,
            identity: options.leaderElection.identity,
          }
        : 'off',
      opsUrl: ops.url,
    },
    'pubsub: started',
  );
  if (!options.signingSecret) {
    logger.warn(
      { signing: 'off' },
      'pubsub: STATUS SIGNING IS OFF: messages are unsigned, so anything that can write Redis can drain any node; set STATUS_SIGNING_SECRET or --signing-secret-file',
    );
  }

  let stopping: Promise<void> | undefined;
  const stop = async ({ release = true }: { release?: boolean } = {}) => {
    watcher?.stop();
    if (release) {
      // Finish the cycle in flight (bounded), then hand the lease over.
      await leadership?.drain(options.shutdownTimeoutMs ?? 10_000);
    } else {
      leadership?.abort();
    }
    if (elector) await elector.stop({ release });
    soloLeader?.abort();
    stopLeading();
    gameLift.destroy();
    await redisQuit(redis);
    await ops.close();
    logger.info({ released: release }, 'pubsub: stopped');
  };

  return {
    opsUrl: ops.url,
    registry,
    isLeader: () => leadership !== undefined,
    isReady: () => redisReady && unrepaired.size === 0,
    ready: () =>
      !redisReady
        ? 'not connected to Redis'
        : unrepaired.size > 0
          ? 'latest-status keys keep being overwritten by another writer'
          : true,
    config: () => config,
    stop: (o) => (stopping ??= stop(o)),
  };
}

function publisherSettings(config: PubsubConfig, signingSecret?: string) {
  return { republishMs: config.republishMs, statusTtlMs: config.statusTtlMs, signingSecret };
}

function defaultKubeConfig(): KubeClientConfig {
  return loadKubeClientConfig();
}

async function redisQuit(redis: Redis): Promise<void> {
  if (redis.status === 'ready') {
    await settledWithin(redis.quit(), 1000);
  }
  redis.disconnect();
}

/**
 * The leader's poll schedule: each group on its own timer slot (phases spread over the interval),
 * one poll per group in flight at most, backoff per group after failures.
 */
class Leadership {
  private due = new Map<string, number>();
  private failures = new Map<string, number>();
  private inFlight = new Map<string, Promise<void>>();
  private timer?: NodeJS.Timeout;
  private closed = false;

  constructor(
    private readonly config: () => PubsubConfig,
    private readonly poll: (group: string, signal: AbortSignal) => Promise<PollOutcome>,
    private readonly signal: AbortSignal,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.reschedule();
  }

  /** Groups or interval changed: every group gets its new phase, from now. */
  reschedule(): void {
    if (this.closed) return;
    const { gameServerGroups, pollIntervalMs } = this.config();
    this.due = initialDueTimes(gameServerGroups, pollIntervalMs, Date.now());
    for (const group of this.failures.keys()) if (!this.due.has(group)) this.failures.delete(group);
    this.arm();
  }

  private arm(): void {
    clearTimeout(this.timer);
    if (this.closed || this.signal.aborted) return;
    let earliest = Infinity;
    for (const [group, at] of this.due) if (!this.inFlight.has(group)) earliest = Math.min(earliest, at);
    if (earliest === Infinity) return;
    this.timer = setTimeout(() => this.fire(), Math.max(0, earliest - Date.now()));
  }

  private fire(): void {
    const now = Date.now();
    for (const [group, at] of this.due) {
      if (at <= now && !this.inFlight.has(group)) this.launch(group, at);
    }
    this.arm();
  }

  private launch(group: string, dueAt: number): void {
    const run = (async () => {
      let outcome: PollOutcome;
      try {
        outcome = await this.poll(group, this.signal);
      } catch (err) {
        this.logger.error({ group, err: (err as Error).message }, 'poll: unexpected failure');
        outcome = 'error';
      }
      if (!this.due.has(group)) return; // removed from the configuration meanwhile
      const failures = outcome === 'ok' ? 0 : (this.failures.get(group) ?? 0) + 1;
      this.failures.set(group, failures);
      this.due.set(
        group,
        nextDueAt({
          previousDueAt: dueAt,
          finishedAt: Date.now(),
          outcome,
          failures,
          policy: backoffPolicy(this.config().pollIntervalMs),
          random: Math.random(),
        }),
      );
    })();
    this.inFlight.set(group, run);
    void run.finally(() => {
      this.inFlight.delete(group);
      this.arm();
    });
  }

  /** Lost the lease: stop now; polls in flight see the aborted signal and publish nothing. */
  abort(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }

  /** Shutting down: no new polls; wait (bounded) for those in flight to finish. */
  async drain(timeoutMs: number): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await settledWithin(Promise.allSettled([...this.inFlight.values()]), timeoutMs);
  }
}
