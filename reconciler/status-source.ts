// Where the node agent learns its instance's FleetIQ status: pubsub's Redis channel and latest-status
// key first, and its own DescribeGameServerInstances call as a slow fallback when Redis is unreachable
// or what it says has gone stale.
//
// Unlike the old Python adapter's pure subscriber, the agent reads the latest-status key every time its
// subscription (re)starts, so a (re)starting or reconnecting agent knows the status at once instead of
// waiting for the next publication. Everything read from Redis is untrusted: parsed and (with a secret)
// verified by parseStatusMessage, checked to be about this instance and group, and ordered by Sequence.
import { backoffDelay, type BackoffPolicy } from '../shared/backoff.js';
import { DescribeGameServerInstancesCommand, type GameLiftClient } from '@aws-sdk/client-gamelift';
import { Redis, type RedisOptions } from 'ioredis';
import { FLEETIQ_STATUSES, type InstanceStatus } from '../shared/contract.js';
import type { Logger } from '../shared/logger.js';
import {
  latestStatusKey,
  parseLegacyStatusMessage,
  parseStatusMessage,
  statusChannel,
  type LegacyStatusMessage,
} from '../shared/status-message.js';
import type { RedisConnectionOptions } from '../shared/redis-url.js';
import type { ObservedStatus, StatusSource } from './decide.js';

/** The status the agent currently believes, with where and when it was observed. */

/** Reconnecting to Redis: 200 ms after the first failure, doubling up to 5 s. */
const REDIS_RECONNECT_BACKOFF: BackoffPolicy = { initialMs: 200, maxMs: 5_000 };

export interface CurrentStatus extends ObservedStatus {
  /** pubsub's sequence number, for a status from Redis. */
  sequence?: number;
}

/** The fallback: asks FleetIQ for this one instance's status (undefined: FleetIQ does not list it). */
export interface InstanceStatusLookup {
  lookup(): Promise<InstanceStatus | undefined>;
}

/** DescribeGameServerInstances filtered on the agent's own instance: one small call, never a listing. */
export function fleetIQInstanceStatusLookup(
  client: Pick<GameLiftClient, 'send'>,
  gameServerGroup: string,
  instanceId: string,
): InstanceStatusLookup {
  return {
    async lookup() {
      const out = await client.send(
        new DescribeGameServerInstancesCommand({
          GameServerGroupName: gameServerGroup,
          InstanceIds: [instanceId],
        }),
      );
      const mine = out.GameServerInstances?.find((i) => i.InstanceId === instanceId);
      const status = mine?.InstanceStatus;
      return status !== undefined && (FLEETIQ_STATUSES as readonly string[]).includes(status)
        ? (status as InstanceStatus)
        : undefined;
    },
  };
}

export interface StatusSourceOptions {
  instanceId: string;
  /** The agent's game server group, by name or ARN: messages about another group are rejected. */
  gameServerGroup: string;
  redis: RedisConnectionOptions;
  /** Shared secret: when set, only messages carrying a valid signature are accepted. */
  signingSecret?: string;
  /** A status observed longer ago than this is stale (the fallback kicks in). */
  staleAfterMs: number;
  fallback: {
    lookup: InstanceStatusLookup;
    /**
     * Mean time between two fallback calls while they are needed. Each wait is drawn uniformly from
     * [0.5, 1.5] × this (the first from [0, 1] ×), so agents that lost Redis together spread out:
     * N agents make N / intervalMs calls per ms on average.
     */
    intervalMs: number;
    /**
     * When the status goes stale, Redis is lost, or no status came at start, one check is made at
     * once, after a wait drawn from [0, urgentJitterMs] (default 10 s) so that agents that lost Redis
     * together spread out; then the background interval resumes. Never two calls within
     * minGapMs (default 10 s, FleetIQ's advice for this call).
     */
    urgentJitterMs?: number;
    minGapMs?: number;
  };
  /** Called with every status accepted as current (also a mere refresh of observedAt). */
  onStatus: (status: CurrentStatus) => void;
  /** Called once when the current status goes stale without being replaced (the agent reconciles). */
  onStale?: (status: CurrentStatus) => void;
  logger: Logger;
  now?: () => number;
  random?: () => number;
  /** Extra ioredis options (tests shorten the reconnect back-off). */
  redisOptions?: Partial<RedisOptions>;
}

/** Counters for metrics and tests. */
export interface StatusSourceStats {
  accepted: number;
  /** Rejected by reason: not parseable, bad signature, another instance or group. */
  rejected: Record<string, number>;
  /** Valid but older than (or the same as) what was already accepted. */
  outOfOrder: number;
  latestReads: number;
  fallbackCalls: number;
  fallbackErrors: number;
  /** Fallback checks made at once (stale, Redis lost, nothing at start) rather than on the background timer. */
  urgentChecks: number;
  /**
   * Messages in the old Python adapter's format (no ObservedAt, Sequence or Signature) taken, with
   * signing off, as a hint to ask FleetIQ: never as a status (see considerLegacy).
   */
  legacy: number;
}

export class RedisStatusSource {
  private readonly o: Required<Pick<StatusSourceOptions, 'now' | 'random'>> & StatusSourceOptions;
  private sub?: Redis;
  private cmd?: Redis;
  private subscribed = false;
  private stopped = false;
  private currentStatus?: CurrentStatus;
  /** The last message accepted from Redis (ordering is by its Sequence). */
  private lastMessage?: { sequence: number; observedAt: number };
  private fallbackTimer?: NodeJS.Timeout;
  private staleTimer?: NodeJS.Timeout;
  private fallbackInFlight = false;
  private lastFallbackCallAt?: number;
  private fallbackDueAt?: number;
  /** Statuses observed before this were already superseded by one the agent acted on. */
  private floor?: number;
  /** The next fallback tick asks FleetIQ even with a fresh status held (an old-format message disagreed). */
  private forceCheck = false;
  readonly stats: StatusSourceStats = {
    accepted: 0,
    rejected: {},
    outOfOrder: 0,
    latestReads: 0,
    fallbackCalls: 0,
    fallbackErrors: 0,
    urgentChecks: 0,
    legacy: 0,
  };

  constructor(options: StatusSourceOptions) {
    this.o = { now: Date.now, random: Math.random, ...options };
  }

  /** Connects and subscribes in the background; never fails on an unreachable Redis (the fallback covers). */
  start(): void {
    const base: RedisOptions = {
      ...this.o.redis,
      lazyConnect: true,
      // The agent re-subscribes itself, then reads the latest key: in that order, nothing falls in between.
      autoResubscribe: false,
      // A command issued while disconnected fails at once rather than queueing: the agent re-reads on
      // reconnect anyway, and the fallback covers the outage.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: 5_000,
      // The shared back-off's upper end (no jitter), as the agent has always reconnected.
      retryStrategy: (times) => backoffDelay(times, REDIS_RECONNECT_BACKOFF, 1),
      ...this.o.redisOptions,
    };
    const sub = new Redis({ ...base, connectionName: `fleetiq-agent-sub-${this.o.instanceId}` });
    const cmd = new Redis({ ...base, connectionName: `fleetiq-agent-${this.o.instanceId}` });
    this.sub = sub;
    this.cmd = cmd;
    const channel = statusChannel(this.o.instanceId);
    sub.on('message', (ch: string, raw: string) => {
      if (ch === channel) this.consider(raw, 'message');
    });
    sub.on('ready', () => {
      sub.subscribe(channel).then(
        () => {
          this.subscribed = true;
          this.o.logger.info({ channel }, 'status source: subscribed to the instance channel');
          void this.readLatest();
        },
        (err: Error) => this.o.logger.warn({ err: err.message }, 'status source: subscribe failed'),
      );
    });
    // A command connection that comes back while the subscription stayed up may have missed nothing,
    // but reading again costs one GET and closes any doubt.
    cmd.on('ready', () => void this.readLatest());
    for (const [name, conn] of [
      ['subscriber', sub],
      ['command', cmd],
    ] as const) {
      let down = false;
      conn.on('error', (err: Error) => {
        if (!down) this.o.logger.warn({ connection: name, err: err.message }, 'status source: Redis error');
        down = true;
      });
      conn.on('close', () => {
        if (conn === sub) this.subscribed = false;
        if (!down && !this.stopped) {
          this.o.logger.warn({ connection: name }, 'status source: Redis connection lost');
          this.checkSoon('Redis connection lost');
        }
        down = true;
      });
      conn.on('ready', () => {
        if (down) this.o.logger.info({ connection: name }, 'status source: Redis connection back');
        down = false;
      });
      conn.connect().catch(() => {
        // Reported through 'error'; ioredis keeps retrying.
      });
    }
    // A status normally arrives from Redis within milliseconds; if none has by then, FleetIQ is asked.
    this.scheduleFallback(this.o.random() * this.urgentJitterMs());
  }

  /**
   * The status acted on was observed at `observedAt` (the agent's high-water mark, from its Node): an
   * older one is refused from now on, and one already held that is older is dropped, so that the
   * fallback takes over rather than a replay sitting there as "fresh".
   */
  refuseOlderThan(observedAt: number | undefined): void {
    if (observedAt === undefined || (this.floor !== undefined && observedAt <= this.floor)) return;
    this.floor = observedAt;
    const c = this.currentStatus;
    if (c && c.observedAt < observedAt) {
      this.o.logger.warn(
        { status: c.status, observedAt: new Date(c.observedAt).toISOString() },
        'status source: dropping a status older than the one already acted on',
      );
      this.currentStatus = undefined;
      clearTimeout(this.staleTimer);
      const why = 'observed before the status already acted on (a replay?)';
      this.stats.rejected[why] = (this.stats.rejected[why] ?? 0) + 1;
      this.checkSoon('status older than the one acted on');
    }
  }

  private urgentJitterMs(): number {
    return this.o.fallback.urgentJitterMs ?? 10_000;
  }

  /** One FleetIQ check soon (jittered, and never within minGapMs of the last call), if still needed then. */
  private checkSoon(why: string): void {
    if (this.stopped) return;
    const now = this.o.now();
    const gap = this.o.fallback.minGapMs ?? 10_000;
    const earliest = this.lastFallbackCallAt === undefined ? now : this.lastFallbackCallAt + gap;
    const delay = Math.max(0, earliest - now) + this.o.random() * this.urgentJitterMs();
    this.o.logger.info({ why, inMs: Math.round(delay) }, 'status source: asking FleetIQ soon');
    // Never later than a check already due.
    if (this.fallbackDueAt !== undefined && this.fallbackDueAt <= now + delay) return;
    this.stats.urgentChecks++;
    clearTimeout(this.fallbackTimer);
    this.scheduleFallback(delay);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.fallbackTimer);
    clearTimeout(this.staleTimer);
    await Promise.all([this.sub, this.cmd].map((c) => c && quit(c)));
  }

  /** The status currently believed (fresh or not), if any. */
  current(): CurrentStatus | undefined {
    return this.currentStatus;
  }

  /** Subscribed to the instance channel and able to read the latest key. */
  redisReady(): boolean {
    return this.subscribed && this.cmd?.status === 'ready';
  }

  /** The fallback is needed: Redis is unreachable, or the status is unknown or stale. */
  needsFallback(): boolean {
    const c = this.currentStatus;
    return !this.redisReady() || c === undefined || this.o.now() - c.observedAt > this.o.staleAfterMs;
  }

  private async readLatest(): Promise<void> {
    if (!this.subscribed || this.cmd?.status !== 'ready') return;
    try {
      const raw = await this.cmd.get(latestStatusKey(this.o.instanceId));
      this.stats.latestReads++;
      if (raw !== null) this.consider(raw, 'latest key');
    } catch (err) {
      this.o.logger.warn({ err: (err as Error).message }, 'status source: reading the latest status failed');
    }
  }

  /** Accepts a raw message from Redis if it is valid, ours, and newer than the last one accepted. */
  private consider(raw: string, via: 'message' | 'latest key'): void {
    const parsed = parseStatusMessage(raw, this.o.signingSecret);
    if (!parsed.ok) {
      const legacy = parseLegacyStatusMessage(raw);
      return legacy.ok ? this.considerLegacy(legacy.message, via) : this.reject(parsed.error, via);
    }
    const m = parsed.message;
    if (m.InstanceId !== this.o.instanceId) return this.reject(`message about instance ${m.InstanceId}`, via);
    if (!sameGroup(m, this.o.gameServerGroup))
      return this.reject(`message about group ${m.GameServerGroupName}`, via);
    const observedAt = Date.parse(m.ObservedAt);
    if (this.floor !== undefined && observedAt < this.floor)
      return this.reject('observed before the status already acted on (a replay?)', via);
    const last = this.lastMessage;
    if (last && m.Sequence <= last.sequence) {
      // pubsub's counter never goes back, but should it (a Redis restored from an old snapshot), a
      // newer observation arriving once what we hold has gone stale must not be ignored for ever.
      const reset =
        m.Sequence < last.sequence &&
        observedAt > last.observedAt &&
        this.o.now() - last.observedAt > this.o.staleAfterMs;
      if (!reset) {
        this.stats.outOfOrder++;
        return;
      }
      this.o.logger.warn(
        { sequence: m.Sequence, last: last.sequence },
        'status source: accepting a lower sequence with a newer observation (publisher counter reset?)',
      );
    }
    this.lastMessage = { sequence: m.Sequence, observedAt };
    this.offer(
      {
        status: m.InstanceStatus,
        observedAt,
        source: 'redis',
        sequence: m.Sequence,
        // Signature verified by parseStatusMessage; without a secret, nothing vouches for the message.
        authenticated: this.o.signingSecret !== undefined,
      },
      via,
    );
  }

  /**
   * A message in the old Python adapter's format (its pubsub, still running during a migration) is
   * never taken as a status. Without an observation time it cannot be ordered against the status the
   * agent acted on, so acting on it could replay a drain FleetIQ has since taken back; without a
   * signature nothing vouches for it. With signing on it is rejected like any unsigned message. With
   * signing off it is a hint: when it disagrees with the status held, or none is held, or that one is
   * stale, FleetIQ is asked soon (jittered, never twice within the fallback's minimum gap), and FleetIQ's
   * own answer is what the agent acts on. So it can neither bring a deregistered node back nor start a
   * drain by itself, and the agent still learns of a change about as soon as the old pubsub says so.
   */
  private considerLegacy(m: LegacyStatusMessage, via: 'message' | 'latest key'): void {
    if (this.o.signingSecret !== undefined)
      return this.reject("the old adapter's format: unsigned (signing is on)", via);
    if (m.InstanceId !== this.o.instanceId) return this.reject(`message about instance ${m.InstanceId}`, via);
    if (!sameGroup(m, this.o.gameServerGroup))
      return this.reject(`message about group ${m.GameServerGroupName ?? m.GameServerGroupArn}`, via);
    this.stats.legacy++;
    const c = this.currentStatus;
    if (c && c.status === m.InstanceStatus && this.o.now() - c.observedAt <= this.o.staleAfterMs) return;
    this.forceCheck = true;
    this.checkSoon(`a message in the old adapter's format says ${m.InstanceStatus}`);
  }

  private reject(reason: string, via: string): void {
    const key = reason.startsWith('message about') ? reason.split(' ').slice(0, 3).join(' ') : reason;
    this.stats.rejected[key] = (this.stats.rejected[key] ?? 0) + 1;
    this.o.logger.warn({ reason, via }, 'status source: rejected a status message');
  }

  /** Makes `s` current unless what is current was observed later (whatever the source). */
  private offer(s: CurrentStatus, via: string): void {
    const c = this.currentStatus;
    if (c && s.observedAt < c.observedAt) {
      this.stats.outOfOrder++;
      return;
    }
    if (!c || c.status !== s.status)
      this.o.logger.info(
        { status: s.status, source: s.source, via, observedAt: new Date(s.observedAt).toISOString() },
        'status source: instance status',
      );
    this.currentStatus = s;
    this.stats.accepted++;
    clearTimeout(this.staleTimer);
    const staleInMs = s.observedAt + this.o.staleAfterMs + 1 - this.o.now();
    this.staleTimer = setTimeout(
      () => {
        if (this.currentStatus !== s || this.stopped) return;
        this.o.logger.warn(
          { status: s.status, source: s.source },
          'status source: the instance status is stale',
        );
        this.o.onStale?.(s);
        // Only for pubsub's status: one from the fallback going stale is the background rate's business.
        if (s.source === 'redis') this.checkSoon('status from Redis went stale');
      },
      Math.max(0, staleInMs),
    );
    this.staleTimer.unref?.();
    this.o.onStatus(s);
  }

  private scheduleFallback(delayMs: number): void {
    if (this.stopped) return;
    this.fallbackDueAt = this.o.now() + delayMs;
    this.fallbackTimer = setTimeout(() => {
      this.fallbackDueAt = undefined;
      void this.fallbackTick();
    }, delayMs);
    this.fallbackTimer.unref?.();
  }

  private async fallbackTick(): Promise<void> {
    if (this.stopped) return;
    if ((this.needsFallback() || this.forceCheck) && !this.fallbackInFlight) {
      this.forceCheck = false;
      this.fallbackInFlight = true;
      const askedAt = this.o.now();
      this.lastFallbackCallAt = askedAt;
      this.stats.fallbackCalls++;
      try {
        const status = await this.o.fallback.lookup.lookup();
        if (status === undefined) {
          this.o.logger.warn('status source: FleetIQ does not list this instance in its game server group');
        } else if (!this.stopped) {
          // Observed no later than when we asked: the conservative time for freshness and ordering.
          this.offer(
            { status, observedAt: askedAt, source: 'fleetiq' satisfies StatusSource, authenticated: true },
            'fallback',
          );
        }
      } catch (err) {
        this.stats.fallbackErrors++;
        this.o.logger.warn({ err: (err as Error).message }, 'status source: FleetIQ fallback call failed');
      } finally {
        this.fallbackInFlight = false;
      }
    }
    this.scheduleFallback((0.5 + this.o.random()) * this.o.fallback.intervalMs);
  }
}

/** The message's group matches ours, whether ours is configured as a name or an ARN. */
function sameGroup(m: { GameServerGroupName?: string; GameServerGroupArn?: string }, group: string): boolean {
  return m.GameServerGroupName === group || m.GameServerGroupArn === group;
}

async function quit(conn: Redis): Promise<void> {
  try {
    if (conn.status === 'ready') await conn.quit();
    else conn.disconnect();
  } catch {
    conn.disconnect();
  }
}
