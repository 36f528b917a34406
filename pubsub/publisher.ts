import { createHash } from 'node:crypto';
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
 * How far ahead of the Redis server's clock (microseconds) the counter may plausibly be. Honest
 * publications keep it within a burst of the clock (a reservation of n moves it n microseconds
 * ahead); anything further was written by someone else, and following it would let a single SET push
 * every later sequence towards 2^53, where agents reject them, or leave agents holding a high-water
 * mark pubsub must then climb back above.
 */
export const MAX_SEQUENCE_AHEAD_US = 60_000_000;

/**
 * Reserves `ARGV[1]` sequence numbers in one step and returns the last, as a string, followed by the
 * state the counter was found in and the server's clock (microseconds).
 *
 * The sequence is a hybrid logical clock: never below the Redis server's clock in microseconds, never
 * below the caller's own high-water mark (`ARGV[2]`: every sequence it reserved or saw correctly
 * signed), and above the counter. The counter is not authenticated — anyone who can write Redis can
 * set it — so it only ever raises a sequence, within `ARGV[3]` microseconds of the clock: lowering it
 * (`SET fleetiq:status-sequence 1`), deleting it, or making it junk or another type changes nothing a
 * subscriber sees, and the script writes the healed value back. A Redis that restarted empty still
 * continues above every number published before, from its clock.
 * KEYS[1]: the counter. States: ok, missing, behind (below the caller's high-water mark: lowered, or
 * lost in a failover), ahead (implausibly far ahead of the clock), invalid (not a number).
 */
const RESERVE_SEQUENCES_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local floor = tonumber(ARGV[2])
local raw = redis.pcall('GET', KEYS[1])
local cur = nil
local state = 'ok'
if raw == false then
  state = 'missing'
elseif type(raw) ~= 'string' then
  state = 'invalid'
  redis.call('DEL', KEYS[1])
else
  cur = tonumber(raw)
  if cur == nil or cur ~= cur or cur < 0 or cur ~= math.floor(cur) then
    state = 'invalid'
    cur = nil
  elseif cur > now + tonumber(ARGV[3]) then
    state = 'ahead'
    cur = nil
  elseif cur < floor then
    state = 'behind'
  end
end
local base = math.max(cur or 0, now, floor)
local last = base + tonumber(ARGV[1])
local text = string.format('%.0f', last)
redis.call('SET', KEYS[1], text)
return {text, state, string.format('%.0f', now)}
`;

/**
 * Stores each message as the instance's latest status and publishes it on its channel, in one atomic
 * step per instance, unless the stored one already carries a higher sequence: a deposed leader still
 * finishing a cycle can never overwrite (or publish after) what its successor published. A key of
 * another type (planted: GET would fail and abort the whole batch) is replaced.
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
  local cur = redis.pcall('GET', k)
  if type(cur) == 'table' then
    redis.call('DEL', k)
    cur = false
  end
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
 * Refreshes the expiry of latest-status keys whose status did not change, after reading each back: a
 * key is refreshed only if it still holds exactly what this process published (its SHA-1), so a
 * planted or replayed status is never kept alive by the refresh. Returns the (1-based) positions of
 * keys that no longer exist (expired, or Redis lost them), then those holding something else; both
 * are published again.
 * KEYS: latest-status keys. ARGV[1]: expiry (ms); ARGV[1 + i]: SHA-1 (hex) of what key i should hold.
 */
const REFRESH_LUA = `
local missing = {}
local mismatched = {}
for i, k in ipairs(KEYS) do
  local cur = redis.pcall('GET', k)
  if cur == false then
    missing[#missing + 1] = i
  elseif type(cur) ~= 'string' or redis.sha1hex(cur) ~= ARGV[1 + i] then
    mismatched[#mismatched + 1] = i
  else
    redis.call('PEXPIRE', k, ARGV[1])
  end
end
return {missing, mismatched}
`;

/** The scripts, as ioredis exposes them once defined. */
interface ScriptedRedis {
  fleetiqReserveSequences(
    numKeys: 1,
    key: string,
    count: number,
    floor: string,
    maxAheadUs: number,
  ): Promise<[string, string, string]>;
  fleetiqPublishStatus(numKeys: number, ...args: (string | number)[]): Promise<number[]>;
  fleetiqRefreshStatus(numKeys: number, ...args: (string | number)[]): Promise<[number[], number[]]>;
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

interface Publication {
  status: string;
  groupArn: string;
  at: number;
  /** The exact message stored: the refresh reads the key back against its SHA-1. */
  message: string;
  /** That SHA-1 (hex), computed at the first refresh: hashing is kept off the publication's path. */
  digest?: string;
}

interface InstanceState {
  observed: ObservedInstance;
  /** What this process last published successfully. */
  published?: Publication;
  /** Consecutive checks that found the key holding a status this process did not publish. */
  mismatches: number;
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
  /** Skipped because Redis already held a newer, genuine status (another leader got there first). */
  superseded: number;
  /** Published because their key had vanished although unchanged. */
  restored: number;
  /**
   * Keys found holding a status this process did not publish and no other leader did either: planted
   * (unsigned or wrongly signed while signing is on; not a status at all), replayed (an older genuine
   * message written back), or a genuine one above a sequence counter someone lowered. Each was written
   * again with a fresh status.
   */
  mismatched: number;
  /** The sequence counter was found lowered, implausibly high or not a number, and healed. */
  counterRepaired: boolean;
  /** Instances whose key was found mismatched by this check and the one before: repairs do not hold. */
  unrepaired: number;
}

/** A status this process is about to publish: the observation and its message. */
interface Outgoing {
  o: ObservedInstance;
  message: string;
}

const sha1 = (text: string) => createHash('sha1').update(text).digest('hex');

/**
 * Publishes observed statuses to Redis: latest-status key + channel message per instance, sent in
 * pipelined batches of Lua calls so ten thousand statuses take a handful of round trips.
 *
 * Nothing in Redis is trusted that could suppress, delay or reorder a status: the sequence counter
 * only ever raises sequences (see RESERVE_SEQUENCES_LUA), a key is refreshed only while it holds
 * exactly what was published, and a key left alone by the publish script is read back and checked —
 * only a genuine status of another leader (correctly signed when signing is on, and not above the
 * counter it was drawn from) is yielded to.
 */
export class StatusPublisher {
  private readonly states = new Map<string, InstanceState>();
  private settings: PublisherSettings;
  /** Every sequence this process reserved or saw in a genuine status: it never publishes below it. */
  private highWater = 0;
  /** The Redis server's clock (microseconds) at the last reservation: bounds what a stored sequence may claim. */
  private redisClockUs = 0;

  constructor(
    private readonly redis: Redis,
    settings: PublisherSettings,
    private readonly options: {
      batchSize?: number;
      now?: () => number;
      /** Tests: runs between reserving sequences and publishing, to interleave another publisher. */
      beforePublish?: () => Promise<void>;
    } = {},
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
      else this.states.set(o.instanceId, { observed: o, mismatches: 0 });
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

  /**
   * Forgets every instance (this process stopped being the leader: its successor owns the statuses
   * now). The high-water mark stays: sequences never go back within a process.
   */
  reset(): void {
    this.states.clear();
  }

  private async execute(plan: PublicationPlan): Promise<SyncReport> {
    const report: SyncReport = {
      published: 0,
      refreshed: 0,
      superseded: 0,
      restored: 0,
      mismatched: 0,
      counterRepaired: false,
      unrepaired: 0,
    };
    const publish = [...plan.publish];
    const suspicious = new Set<ObservedInstance>();
    if (plan.refresh.length > 0) {
      const { missing, mismatched } = await this.refresh(plan.refresh);
      report.refreshed = plan.refresh.length - missing.length - mismatched.length;
      report.restored = missing.length;
      publish.push(...missing, ...mismatched);
      for (const o of mismatched) suspicious.add(o);
      for (const o of plan.refresh) if (!missing.includes(o) && !mismatched.includes(o)) this.clean(o);
    }
    if (publish.length > 0) {
      let outgoing = await this.prepare(publish, report);
      await this.options.beforePublish?.();
      const skipped = await this.publishAll(outgoing);
      const done = new Set(outgoing);
      for (const s of skipped) done.delete(s);
      if (skipped.length > 0) {
        const verdict = await this.examine(skipped);
        report.superseded += verdict.superseded.length;
        for (const s of verdict.superseded) {
          this.forgetPublication(s.o);
          suspicious.delete(s.o); // another leader's status, not a planted one
        }
        for (const s of [...verdict.replace, ...verdict.retry]) suspicious.add(s.o);
        if (verdict.replace.length > 0) {
          await this.replace(verdict.replace);
          for (const s of verdict.replace) done.add(s);
        }
        const again = [...verdict.retry, ...verdict.expired];
        if (again.length > 0) {
          // Above the genuine sequence just seen: the high-water mark has been raised to it.
          outgoing = await this.prepare(
            again.map((s) => s.o),
            report,
          );
          const skippedAgain = await this.publishAll(outgoing);
          for (const s of outgoing) if (!skippedAgain.includes(s)) done.add(s);
          report.superseded += skippedAgain.length;
        }
      }
      report.published = done.size;
      const at = this.now();
      for (const s of done) {
        const state = this.states.get(s.o.instanceId);
        // Only mark what is still the latest observation: a newer one arrived meanwhile is still due.
        if (state && state.observed === s.o)
          state.published = { status: s.o.status, groupArn: s.o.groupArn, at, message: s.message };
        if (!suspicious.has(s.o)) this.clean(s.o);
      }
    }
    report.mismatched = suspicious.size;
    for (const o of suspicious) {
      const state = this.states.get(o.instanceId);
      if (!state) continue;
      state.mismatches++;
      if (state.mismatches >= 2) report.unrepaired++;
    }
    return report;
  }

  private clean(o: ObservedInstance): void {
    const state = this.states.get(o.instanceId);
    if (state) state.mismatches = 0;
  }

  private forgetPublication(o: ObservedInstance): void {
    const state = this.states.get(o.instanceId);
    // Another leader's status stands: the next poll must not merely refresh a key that is not ours.
    if (state && state.observed === o) state.published = undefined;
  }

  /** Reserves sequences for these observations and builds (and signs) their messages. */
  private async prepare(observed: readonly ObservedInstance[], report: SyncReport): Promise<Outgoing[]> {
    const first = await this.reserveSequences(observed.length, report);
    const secret = this.settings.signingSecret;
    const iso = new Map<number, string>(); // one page's instances share their observation time
    return observed.map((o, i) => {
      let observedAt = iso.get(o.observedAt);
      if (observedAt === undefined)
        iso.set(o.observedAt, (observedAt = new Date(o.observedAt).toISOString()));
      const message = JSON.stringify(buildStatusMessage(o, first + i, secret, observedAt));
      return { o, message };
    });
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

  private async refresh(
    observed: ObservedInstance[],
  ): Promise<{ missing: ObservedInstance[]; mismatched: ObservedInstance[] }> {
    const redis = this.redis as unknown as ScriptedRedis;
    const ttl = this.settings.statusTtlMs;
    const results = await this.perBatch(observed, (batch) =>
      redis.fleetiqRefreshStatus(
        batch.length,
        ...batch.map((o) => LATEST_KEY_PREFIX + o.instanceId),
        ttl,
        ...batch.map((o) => {
          const published = this.states.get(o.instanceId)?.published;
          if (!published) return '';
          return (published.digest ??= sha1(published.message));
        }),
      ),
    );
    const missing: ObservedInstance[] = [];
    const mismatched: ObservedInstance[] = [];
    results.forEach((reply, b) => {
      const [gone, other] = reply as [number[], number[]];
      for (const p of gone) missing.push(observed[b * this.batchSize + Number(p) - 1]!);
      for (const p of other) mismatched.push(observed[b * this.batchSize + Number(p) - 1]!);
    });
    return { missing, mismatched };
  }

  /** Reserves `count` consecutive sequence numbers above everything this process knows of; returns the first. */
  private async reserveSequences(count: number, report: SyncReport): Promise<number> {
    const redis = this.redis as unknown as ScriptedRedis;
    const [last, state, clock] = await redis.fleetiqReserveSequences(
      1,
      SEQUENCE_KEY,
      count,
      String(this.highWater),
      MAX_SEQUENCE_AHEAD_US,
    );
    const lastSequence = Number(last);
    if (!Number.isSafeInteger(lastSequence)) throw new Error(`sequence ${last} is beyond 2^53`);
    this.highWater = Math.max(this.highWater, lastSequence);
    this.redisClockUs = Number(clock);
    if (state === 'behind' || state === 'ahead' || state === 'invalid') report.counterRepaired = true;
    return lastSequence - count + 1;
  }

  /** Returns those the script left alone because their key holds a higher sequence. */
  private async publishAll(outgoing: Outgoing[]): Promise<Outgoing[]> {
    if (outgoing.length === 0) return [];
    const redis = this.redis as unknown as ScriptedRedis;
    const ttl = this.settings.statusTtlMs;
    const first = JSON.parse(outgoing[0]!.message).Sequence as number;
    const results = await this.perBatch(outgoing, (batch, start) => {
      const args: (string | number)[] = batch.map((s) => LATEST_KEY_PREFIX + s.o.instanceId);
      args.push(ttl, first + start, LATEST_KEY_PREFIX.length);
      for (const s of batch) args.push(s.message);
      return redis.fleetiqPublishStatus(batch.length, ...args);
    });
    const skipped: Outgoing[] = [];
    results.forEach((reply, b) => {
      const [, ...positions] = reply as number[];
      for (const p of positions) skipped.push(outgoing[b * this.batchSize + Number(p) - 1]!);
    });
    return skipped;
  }

  /**
   * Reads back keys the publish script left alone because they claim a higher sequence, and decides
   * for each. Lua cannot check an HMAC, so the check is made here:
   * - not a genuine status (unparseable; unsigned or wrongly signed while signing is on; a sequence
   *   implausibly far ahead of the Redis clock): replaced;
   * - genuine, but above the counter it must have been drawn from: the counter was lowered (or lost
   *   in a failover) after that status was published, and yielding to it would silence the instance
   *   for good. Published again above it;
   * - genuine and within the counter: another leader's newer status; left alone.
   */
  private async examine(
    skipped: Outgoing[],
  ): Promise<{ superseded: Outgoing[]; replace: Outgoing[]; retry: Outgoing[]; expired: Outgoing[] }> {
    const keys = skipped.map((s) => LATEST_KEY_PREFIX + s.o.instanceId);
    const replies = await this.redis
      .multi()
      .mget(...keys)
      .get(SEQUENCE_KEY)
      .exec();
    if (!replies) throw new Error('reading back latest statuses: transaction aborted');
    for (const [err] of replies) if (err) throw err;
    const stored = replies[0]![1] as (string | null)[];
    const counter = Number(replies[1]![1]);
    const verdict = {
      superseded: [] as Outgoing[],
      replace: [] as Outgoing[],
      retry: [] as Outgoing[],
      expired: [] as Outgoing[],
    };
    const secret = this.settings.signingSecret;
    skipped.forEach((s, i) => {
      const raw = stored[i];
      if (raw === null || raw === undefined) {
        verdict.expired.push(s); // expired meanwhile: nothing wrong, publish it again
        return;
      }
      const parsed = parseStatusMessage(raw, secret);
      if (!parsed.ok || parsed.message.InstanceId !== s.o.instanceId) {
        verdict.replace.push(s);
        return;
      }
      const sequence = parsed.message.Sequence;
      if (sequence > this.redisClockUs + MAX_SEQUENCE_AHEAD_US) {
        verdict.replace.push(s);
      } else if (!(sequence <= counter)) {
        this.highWater = Math.max(this.highWater, sequence);
        verdict.retry.push(s);
      } else {
        verdict.superseded.push(s);
      }
    });
    return verdict;
  }

  /** Overwrites keys that hold no genuine status, and publishes the true one on their channels. */
  private async replace(outgoing: Outgoing[]): Promise<void> {
    const tx = this.redis.multi();
    for (const s of outgoing) {
      tx.set(LATEST_KEY_PREFIX + s.o.instanceId, s.message, 'PX', this.settings.statusTtlMs).publish(
        statusChannel(s.o.instanceId),
        s.message,
      );
    }
    await tx.exec();
  }
}
