import type { Redis } from 'ioredis';
import {
  latestStatusKey,
  parseStatusMessage,
  signStatusMessage,
  statusChannel,
  type StatusMessage,
} from '../shared/status-message.js';
import type { ObservedInstance } from './poller.js';

/** Redis key of the sequence counter all publications draw from (internal to pubsub). */
export const SEQUENCE_KEY = 'fleetiq:status-sequence';

/**
 * Reserves `ARGV[1]` sequence numbers in one step and returns the last. One counter for every
 * instance: each instance's sequence still increases with every publication, across leaders (they
 * share the counter), and a batch costs one command instead of one per instance. A missing counter
 * starts from the Redis server's clock in microseconds instead of 0, so a Redis that restarted empty
 * still continues above every number published before (at fewer than a million publications per
 * second), and an agent comparing sequences never mistakes a fresh status for an old one.
 * KEYS[1]: the counter.
 */
const RESERVE_SEQUENCES_LUA = `
if redis.call('EXISTS', KEYS[1]) == 0 then
  local t = redis.call('TIME')
  redis.call('SET', KEYS[1], t[1] .. string.format('%06d', tonumber(t[2])))
end
return redis.call('INCRBY', KEYS[1], ARGV[1])
`;

/**
 * Stores each message as the instance's latest status and publishes it on its channel, in one atomic
 * step per instance, unless the stored one already carries a higher sequence: a deposed leader still
 * finishing a cycle can never overwrite (or publish after) what its successor published.
 * KEYS: latest-status keys. ARGV[1]: expiry (ms); ARGV[2]: the first key's sequence (the others
 * follow consecutively); ARGV[3]: length of the key prefix before the instance id (the channel);
 * ARGV[3 + i]: message i. Returns how many were published, followed by the (1-based) positions of
 * the keys it left alone.
 */
const PUBLISH_LUA = `
local ttl = ARGV[1]
local first = tonumber(ARGV[2])
local prefix = tonumber(ARGV[3])
local result = {0}
for i, k in ipairs(KEYS) do
  local cur = redis.call('GET', k)
  local curSeq = cur and tonumber(string.match(cur, '"Sequence":(%d+)'))
  if not curSeq or curSeq < first + i - 1 then
    local message = ARGV[3 + i]
    redis.call('SET', k, message, 'PX', ttl)
    redis.call('PUBLISH', string.sub(k, prefix + 1), message)
    result[1] = result[1] + 1
  else
    result[#result + 1] = i
  end
end
return result
`;

/** The latest-status key is this prefix followed by the channel (the instance id): the script relies on it. */
const LATEST_KEY_PREFIX = latestStatusKey('');
if (latestStatusKey('i-x') !== `${LATEST_KEY_PREFIX}${statusChannel('i-x')}`) {
  throw new Error('publisher.ts assumes latestStatusKey(id) = prefix + statusChannel(id)');
}

/**
 * Refreshes the expiry of latest-status keys whose status did not change. Returns the (1-based)
 * positions of keys that no longer exist (expired, or Redis lost them), to be published again.
 * KEYS: latest-status keys. ARGV[1]: expiry (ms).
 */
const REFRESH_LUA = `
local missing = {}
for i, k in ipairs(KEYS) do
  if redis.call('PEXPIRE', k, ARGV[1]) == 0 then missing[#missing + 1] = i end
end
return missing
`;

/** The scripts, as ioredis exposes them once defined. */
interface ScriptedRedis {
  fleetiqReserveSequences(numKeys: 1, key: string, count: number): Promise<number | string>;
  fleetiqPublishStatus(numKeys: number, ...args: (string | number)[]): Promise<number>;
  fleetiqRefreshStatus(numKeys: number, ...args: (string | number)[]): Promise<number[]>;
}

export interface PublisherSettings {
  republishMs: number;
  statusTtlMs: number;
  signingSecret?: string;
}

/** What to do with each observed instance this time. */
export interface PublicationPlan {
  publish: ObservedInstance[];
  refresh: ObservedInstance[];
}

interface InstanceState {
  observed: ObservedInstance;
  /** What this process last published successfully. */
  published?: { status: string; groupArn: string; at: number };
}

/**
 * Which statuses to publish now: a changed one (or one never published by this process) at once,
 * an unchanged one again once `republishMs` has passed; the rest only get their key's expiry refreshed.
 */
export function planPublication(
  observed: readonly ObservedInstance[],
  lastPublished: (instanceId: string) => { status: string; groupArn: string; at: number } | undefined,
  now: number,
  republishMs: number,
): PublicationPlan {
  const plan: PublicationPlan = { publish: [], refresh: [] };
  for (const o of observed) {
    const last = lastPublished(o.instanceId);
    if (!last || last.status !== o.status || last.groupArn !== o.groupArn || now - last.at >= republishMs) {
      plan.publish.push(o);
    } else {
      plan.refresh.push(o);
    }
  }
  return plan;
}

export function buildStatusMessage(
  o: ObservedInstance,
  sequence: number,
  signingSecret?: string,
  observedAtIso = new Date(o.observedAt).toISOString(),
): StatusMessage {
  const message: StatusMessage = {
    GameServerGroupName: o.group,
    GameServerGroupArn: o.groupArn || o.group,
    InstanceId: o.instanceId,
    InstanceStatus: o.status,
    ObservedAt: observedAtIso,
    Sequence: sequence,
  };
  return signingSecret ? signStatusMessage(message, signingSecret) : message;
}

export interface SyncReport {
  published: number;
  refreshed: number;
  /** Skipped because Redis already held a newer sequence (another leader got there first). */
  superseded: number;
  /** Published because their key had vanished although unchanged. */
  restored: number;
}

/**
 * Publishes observed statuses to Redis: latest-status key + channel message per instance, sent in
 * pipelined batches of Lua calls so ten thousand statuses take a handful of round trips.
 */
export class StatusPublisher {
  private readonly states = new Map<string, InstanceState>();
  private settings: PublisherSettings;

  constructor(
    private readonly redis: Redis,
    settings: PublisherSettings,
    private readonly options: { batchSize?: number; now?: () => number } = {},
  ) {
    this.settings = { ...settings };
    redis.defineCommand('fleetiqReserveSequences', { lua: RESERVE_SEQUENCES_LUA });
    redis.defineCommand('fleetiqPublishStatus', { lua: PUBLISH_LUA });
    redis.defineCommand('fleetiqRefreshStatus', { lua: REFRESH_LUA });
  }

  updateSettings(settings: PublisherSettings): void {
    this.settings = { ...settings };
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  /** Instances this process knows about (observed and not since gone). */
  get size(): number {
    return this.states.size;
  }

  /**
   * Takes one poll's observations of a group. With `complete` (every page read), instances of the
   * group that were not listed are forgotten: they left the group.
   */
  async sync(group: string, observed: readonly ObservedInstance[], complete: boolean): Promise<SyncReport> {
    for (const o of observed) {
      const state = this.states.get(o.instanceId);
      if (state) state.observed = o;
      else this.states.set(o.instanceId, { observed: o });
    }
    if (complete) {
      const listed = new Set(observed.map((o) => o.instanceId));
      for (const [id, state] of this.states) {
        if (state.observed.group === group && !listed.has(id)) this.states.delete(id);
      }
    }
    const plan = planPublication(
      observed,
      (id) => this.states.get(id)?.published,
      this.now(),
      this.settings.republishMs,
    );
    return this.execute(plan);
  }

  /**
   * Publishes every known status again (after Redis came back: it may have lost keys, and
   * subscribers missed whatever was published while it was away). Observations older than the
   * status expiry are left out: they would be stale the moment they arrive.
   */
  async republishAll(): Promise<SyncReport> {
    const now = this.now();
    const fresh: ObservedInstance[] = [];
    for (const state of this.states.values()) {
      state.published = undefined;
      if (now - state.observed.observedAt < this.settings.statusTtlMs) fresh.push(state.observed);
    }
    return this.execute({ publish: fresh, refresh: [] });
  }

  /** Forgets a group's instances (removed from the configuration: no longer polled nor republished). */
  forgetGroup(group: string): void {
    for (const [id, state] of this.states) if (state.observed.group === group) this.states.delete(id);
  }

  /** Forgets everything (this process stopped being the leader: its successor owns the statuses now). */
  reset(): void {
    this.states.clear();
  }

  private async execute(plan: PublicationPlan): Promise<SyncReport> {
    const report: SyncReport = { published: 0, refreshed: 0, superseded: 0, restored: 0 };
    const publish = [...plan.publish];
    if (plan.refresh.length > 0) {
      const missing = await this.refresh(plan.refresh);
      report.refreshed = plan.refresh.length - missing.length;
      report.restored = missing.length;
      publish.push(...missing);
    }
    if (publish.length === 0) return report;

    const first = await this.reserveSequences(publish.length);
    const published = await this.publishAll(publish, first);
    report.published = published;
    report.superseded = publish.length - published;
    const at = this.now();
    for (const o of publish) {
      const state = this.states.get(o.instanceId);
      // Only mark what is still the latest observation: a newer one arrived meanwhile is still due.
      if (state && state.observed === o) state.published = { status: o.status, groupArn: o.groupArn, at };
    }
    return report;
  }

  private get batchSize(): number {
    return this.options.batchSize ?? 500;
  }

  /**
   * Runs one script call per batch, each sent as soon as its arguments are built: the calls are
   * pipelined on the connection (none waits for the previous reply), and Redis works through the
   * first batches while the next ones are still being built here.
   */
  private async perBatch<T>(
    items: readonly T[],
    call: (batch: readonly T[], start: number) => Promise<unknown>,
  ): Promise<unknown[]> {
    const pending: Promise<unknown>[] = [];
    for (let start = 0; start < items.length; start += this.batchSize) {
      pending.push(call(items.slice(start, start + this.batchSize), start));
    }
    // allSettled first: a failure must not leave other replies unobserved (unhandled rejections).
    const settled = await Promise.allSettled(pending);
    return settled.map((r) => {
      if (r.status === 'rejected') throw r.reason;
      return r.value;
    });
  }

  private async refresh(observed: ObservedInstance[]): Promise<ObservedInstance[]> {
    const redis = this.redis as unknown as ScriptedRedis;
    const ttl = this.settings.statusTtlMs;
    const results = await this.perBatch(observed, (batch) =>
      redis.fleetiqRefreshStatus(batch.length, ...batch.map((o) => LATEST_KEY_PREFIX + o.instanceId), ttl),
    );
    const missing: ObservedInstance[] = [];
    results.forEach((positions, b) => {
      for (const p of positions as number[]) missing.push(observed[b * this.batchSize + Number(p) - 1]!);
    });
    return missing;
  }

  /** Reserves `count` consecutive sequence numbers; returns the first. */
  private async reserveSequences(count: number): Promise<number> {
    const redis = this.redis as unknown as ScriptedRedis;
    return Number(await redis.fleetiqReserveSequences(1, SEQUENCE_KEY, count)) - count + 1;
  }

  private async publishAll(observed: ObservedInstance[], firstSequence: number): Promise<number> {
    const redis = this.redis as unknown as ScriptedRedis;
    const secret = this.settings.signingSecret;
    const ttl = this.settings.statusTtlMs;
    const iso = new Map<number, string>(); // one page's instances share their observation time
    const messages: string[] = [];
    const results = await this.perBatch(observed, (batch, start) => {
      const args: (string | number)[] = batch.map((o) => LATEST_KEY_PREFIX + o.instanceId);
      args.push(ttl, firstSequence + start, LATEST_KEY_PREFIX.length);
      batch.forEach((o, i) => {
        let observedAt = iso.get(o.observedAt);
        if (observedAt === undefined)
          iso.set(o.observedAt, (observedAt = new Date(o.observedAt).toISOString()));
        const message = JSON.stringify(buildStatusMessage(o, firstSequence + start + i, secret, observedAt));
        messages[start + i] = message;
        args.push(message);
      });
      return redis.fleetiqPublishStatus(batch.length, ...args);
    });
    let published = 0;
    const skipped: number[] = [];
    results.forEach((reply, b) => {
      const [count, ...positions] = reply as number[];
      published += Number(count);
      for (const p of positions) skipped.push(b * this.batchSize + Number(p) - 1);
    });
    if (secret !== undefined && skipped.length > 0) {
      published += await this.replaceForged(
        skipped.map((i) => ({ instanceId: observed[i]!.instanceId, message: messages[i]! })),
        secret,
      );
    }
    return published;
  }

  /**
   * A key left alone because it holds a higher sequence is either a successor's publication or a
   * forgery: Lua cannot check an HMAC, so the check is made here. A forged key (unsigned or wrongly
   * signed) would otherwise block the instance's publications, and every refresh would keep it alive.
   */
  private async replaceForged(
    candidates: { instanceId: string; message: string }[],
    secret: string,
  ): Promise<number> {
    const keys = candidates.map((c) => LATEST_KEY_PREFIX + c.instanceId);
    const stored = await this.redis.mget(...keys);
    const tx = this.redis.multi();
    let replaced = 0;
    candidates.forEach((c, i) => {
      const raw = stored[i];
      if (raw === null || parseStatusMessage(raw, secret).ok) return;
      tx.set(keys[i]!, c.message, 'PX', this.settings.statusTtlMs).publish(
        statusChannel(c.instanceId),
        c.message,
      );
      replaced++;
    });
    if (replaced > 0) await tx.exec();
    else tx.discard();
    return replaced;
  }
}
