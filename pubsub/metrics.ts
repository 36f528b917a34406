import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { FLEETIQ_STATUSES } from '../shared/contract.js';

/** Everything pubsub exports on /metrics (prefix fleetiq_pubsub_). */
export interface PubsubMetrics {
  polls: Counter<'group' | 'result'>;
  pages: Counter<'group'>;
  throttles: Counter<'group'>;
  errors: Counter<'group' | 'kind'>;
  instances: Gauge<'group' | 'status'>;
  published: Counter<'group'>;
  publishDuration: Histogram<'group'>;
  secondsSinceLastPoll: Gauge<'group'>;
  isLeader: Gauge;
  callRate: Gauge;
  redisConnected: Gauge;
  configValid: Gauge;
  configReloads: Counter<'result'>;
  catchUps: Counter;
  repairs: Counter<'what'>;
  mismatches: Gauge<'group'>;
  /** Called by the gauge on every scrape: the last successful poll time per group (epoch ms). */
  setLastSuccessSource(source: () => Map<string, number>): void;
  /** Forget the per-group series (no longer the leader: they would be stale). */
  clearLeaderSeries(): void;
  /** Sets the instance counts of a group per status (statuses without instances get 0). */
  setInstanceCounts(group: string, counts: Map<string, number>): void;
}

export function createPubsubMetrics(registry: Registry): PubsubMetrics {
  let lastSuccess: () => Map<string, number> = () => new Map();
  const registers = [registry];
  const metrics: PubsubMetrics = {
    polls: new Counter({
      name: 'fleetiq_pubsub_polls_total',
      help: 'Polls of a game server group (all pages of DescribeGameServerInstances), by result (ok, partial, error).',
      labelNames: ['group', 'result'],
      registers,
    }),
    pages: new Counter({
      name: 'fleetiq_pubsub_pages_total',
      help: 'DescribeGameServerInstances pages read successfully.',
      labelNames: ['group'],
      registers,
    }),
    throttles: new Counter({
      name: 'fleetiq_pubsub_throttles_total',
      help: 'DescribeGameServerInstances attempts GameLift answered with throttling (SDK retries included).',
      labelNames: ['group'],
      registers,
    }),
    errors: new Counter({
      name: 'fleetiq_pubsub_errors_total',
      help: 'Failed polls and publications, by kind (throttled, not_found, unauthorized, invalid_request, server, network, redis, unknown).',
      labelNames: ['group', 'kind'],
      registers,
    }),
    instances: new Gauge({
      name: 'fleetiq_pubsub_instances',
      help: 'Instances of a game server group per FleetIQ status, as of the last complete poll.',
      labelNames: ['group', 'status'],
      registers,
    }),
    published: new Counter({
      name: 'fleetiq_pubsub_statuses_published_total',
      help: 'Status messages published to Redis (changes and periodic republications).',
      labelNames: ['group'],
      registers,
    }),
    publishDuration: new Histogram({
      name: 'fleetiq_pubsub_publish_duration_seconds',
      help: "Time to publish one poll's statuses to Redis (all pipelined batches).",
      labelNames: ['group'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    secondsSinceLastPoll: new Gauge({
      name: 'fleetiq_pubsub_seconds_since_last_successful_poll',
      help: 'Seconds since the group was last polled and published completely (leader only).',
      labelNames: ['group'],
      registers,
      collect() {
        const now = Date.now();
        this.reset(); // groups no longer polled (removed, or not the leader) drop out
        for (const [group, at] of lastSuccess()) this.set({ group }, (now - at) / 1000);
      },
    }),
    callRate: new Gauge({
      name: 'fleetiq_pubsub_call_rate_limit',
      help: 'GameLift calls per second allowed now: MaxCallsPerSecond, or less while adapting to throttling.',
      registers,
    }),
    isLeader: new Gauge({
      name: 'fleetiq_pubsub_is_leader',
      help: '1 when this replica holds the lease and polls, else 0.',
      registers,
    }),
    redisConnected: new Gauge({
      name: 'fleetiq_pubsub_redis_connected',
      help: '1 when the Redis connection is ready.',
      registers,
    }),
    configValid: new Gauge({
      name: 'fleetiq_pubsub_config_valid',
      help: '1 when the configuration file as it is now is valid; 0 when invalid (the last good one stays in force).',
      registers,
    }),
    configReloads: new Counter({
      name: 'fleetiq_pubsub_config_reloads_total',
      help: 'Configuration file changes seen, by result (applied, invalid).',
      labelNames: ['result'],
      registers,
    }),
    catchUps: new Counter({
      name: 'fleetiq_pubsub_redis_catch_ups_total',
      help: 'Times every known status was published again after Redis came back.',
      registers,
    }),
    repairs: new Counter({
      name: 'fleetiq_pubsub_status_repairs_total',
      help: 'Things in Redis pubsub found altered and repaired: latest_key (a latest-status key holding a status pubsub did not publish: planted, replayed, or above a lowered counter), sequence_counter (lowered, implausibly high or not a number).',
      labelNames: ['what'],
      registers,
    }),
    mismatches: new Gauge({
      name: 'fleetiq_pubsub_status_mismatches',
      help: 'Latest-status keys of a group found at the last publication holding a status pubsub did not publish (each was written again).',
      labelNames: ['group'],
      registers,
    }),
    setLastSuccessSource(source) {
      lastSuccess = source;
    },
    clearLeaderSeries() {
      metrics.instances.reset();
      metrics.secondsSinceLastPoll.reset();
      metrics.mismatches.reset();
    },
    setInstanceCounts(group, counts) {
      for (const status of FLEETIQ_STATUSES)
        metrics.instances.set({ group, status }, counts.get(status) ?? 0);
    },
  };
  metrics.isLeader.set(0);
  metrics.redisConnected.set(0);
  metrics.configValid.set(1);
  return metrics;
}
