import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import type { GameLiftClient } from '@aws-sdk/client-gamelift';
import { startFleetIQEmulator, type FleetIQEmulator } from '../../sandbox/fleetiq/emulator.js';
import {
  latestStatusKey,
  signStatusMessage,
  statusChannel,
  type StatusMessage,
} from '../../shared/status-message.js';
import { parseRedisUrl } from '../../shared/redis-url.js';
import type { InstanceStatus } from '../../shared/contract.js';
import {
  RedisStatusSource,
  fleetIQInstanceStatusLookup,
  type CurrentStatus,
  type StatusSourceOptions,
} from '../../reconciler/status-source.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';
import { gameLiftClient, silent, waitFor } from './helpers.js';

const GROUP = 'agones-game-servers';
const ARN = `arn:aws:gamelift:us-east-1:123456789012:gameservergroup/${GROUP}`;
const INSTANCE = 'i-0123456789abcdef0';
const OTHER = 'i-0fedcba9876543210';
const SECRET = 'status-secret';

let redis: RedisServer;
let admin: Redis;
let fleetiq: FleetIQEmulator;
let gamelift: GameLiftClient;
const sources: RedisStatusSource[] = [];
let seq = 1000;

beforeAll(async () => {
  redis = await startRedis();
  admin = new Redis(redis.port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 1 });
  admin.on('error', () => {});
  await admin.connect();
  fleetiq = await startFleetIQEmulator({
    groups: [{ name: GROUP, instanceIds: [INSTANCE, OTHER] }],
    logger: silent,
  });
  gamelift = gameLiftClient(fleetiq.url);
});

afterAll(async () => {
  await Promise.all(sources.map((s) => s.stop()));
  gamelift?.destroy();
  admin?.disconnect();
  await fleetiq?.stop();
  await redis?.stop();
});

function message(
  status: InstanceStatus,
  overrides: Partial<StatusMessage> = {},
): Omit<StatusMessage, 'Signature'> {
  return {
    GameServerGroupName: GROUP,
    GameServerGroupArn: ARN,
    InstanceId: INSTANCE,
    InstanceStatus: status,
    ObservedAt: new Date().toISOString(),
    Sequence: ++seq,
    ...overrides,
  };
}

/** What pubsub does: store as the latest status and publish on the instance's channel. */
async function publish(
  m: object | string,
  options: { store?: boolean; publish?: boolean } = {},
): Promise<void> {
  const raw = typeof m === 'string' ? m : JSON.stringify(m);
  if (options.store ?? true) await admin.set(latestStatusKey(INSTANCE), raw, 'PX', 60_000);
  if (options.publish ?? true) await admin.publish(statusChannel(INSTANCE), raw);
}

function startSource(overrides: Partial<StatusSourceOptions> = {}) {
  const seen: CurrentStatus[] = [];
  const source = new RedisStatusSource({
    instanceId: INSTANCE,
    gameServerGroup: GROUP,
    redis: parseRedisUrl(redis.url),
    staleAfterMs: 60_000,
    fallback: { lookup: fleetIQInstanceStatusLookup(gamelift, GROUP, INSTANCE), intervalMs: 60_000 },
    onStatus: (s) => seen.push(s),
    logger: silent,
    redisOptions: { retryStrategy: () => 50 },
    // The first fallback tick comes after almost a whole interval (no call while the test warms up).
    random: () => 0.999,
    ...overrides,
  });
  sources.push(source);
  source.start();
  return { source, seen };
}

async function stopSource(source: RedisStatusSource): Promise<void> {
  await source.stop();
  sources.splice(sources.indexOf(source), 1);
}

/** Kills the source's own connections on the server side (a network blip), leaving the data in place. */
async function killAgentConnections(): Promise<number> {
  const list = (await admin.client('LIST')) as string;
  const ids = list
    .split('\n')
    .filter((l) => /name=fleetiq-agent/.test(l))
    .map((l) => /id=(\d+)/.exec(l)![1]);
  for (const id of ids) await admin.client('KILL', 'ID', id);
  return ids.length;
}

describe('status source: Redis', () => {
  it('reads the latest-status key at start, without waiting for a publication', async () => {
    const m = message('DRAINING');
    await publish(m, { publish: false });
    const { source, seen } = startSource();
    await waitFor('the stored status', () => source.current()?.status === 'DRAINING');
    expect(seen[0]).toEqual({
      status: 'DRAINING',
      observedAt: Date.parse(m.ObservedAt),
      source: 'redis',
      authenticated: false,
      sequence: m.Sequence,
    });
    expect(source.stats.latestReads).toBeGreaterThanOrEqual(1);
    await stopSource(source);
  });

  it('follows messages on the instance channel and ignores lower sequences', async () => {
    await admin.del(latestStatusKey(INSTANCE));
    const { source } = startSource();
    await waitFor('subscribed', () => source.redisReady());
    const active = message('ACTIVE');
    await publish(active);
    await waitFor('ACTIVE', () => source.current()?.sequence === active.Sequence);
    const older = message('DRAINING', { Sequence: active.Sequence - 1 });
    const same = message('DRAINING', { Sequence: active.Sequence });
    await publish(older);
    await publish(same);
    await waitFor('both out-of-order messages seen', () => source.stats.outOfOrder === 2);
    expect(source.current()).toMatchObject({ status: 'ACTIVE', sequence: active.Sequence });
    const next = message('DRAINING');
    await publish(next);
    await waitFor('DRAINING', () => source.current()?.status === 'DRAINING');
    await stopSource(source);
  });

  it('with a secret, accepts only correctly signed messages', async () => {
    await publish(signStatusMessage(message('ACTIVE'), SECRET));
    const { source } = startSource({ signingSecret: SECRET });
    await waitFor('the signed latest status', () => source.current()?.status === 'ACTIVE');
    await publish(message('DRAINING')); // unsigned
    await publish(signStatusMessage(message('DRAINING'), 'not-the-secret'));
    const tampered = { ...signStatusMessage(message('ACTIVE'), SECRET), InstanceStatus: 'DRAINING' };
    await publish(tampered);
    await publish('{not json');
    await waitFor('four rejections', () => {
      const r = source.stats.rejected;
      return r['unsigned message (signing is on)'] === 1 && r['bad signature'] === 2 && r['not JSON'] === 1;
    });
    expect(source.current()?.status).toBe('ACTIVE');
    await publish(signStatusMessage(message('DRAINING'), SECRET));
    await waitFor('the signed DRAINING', () => source.current()?.status === 'DRAINING');
    await stopSource(source);
  });

  it('rejects a message about another instance or another group, even on its own channel', async () => {
    await publish(message('ACTIVE'));
    const { source } = startSource({ gameServerGroup: ARN });
    await waitFor('ACTIVE (group given as an ARN)', () => source.current()?.status === 'ACTIVE');
    await publish(message('DRAINING', { InstanceId: OTHER }));
    await publish(message('DRAINING', { GameServerGroupName: 'other', GameServerGroupArn: `${ARN}-other` }));
    await waitFor(
      'two rejections',
      () => Object.values(source.stats.rejected).reduce((a, b) => a + b, 0) === 2,
    );
    expect(source.current()?.status).toBe('ACTIVE');
    await stopSource(source);
  });

  it('reads the latest key again after losing its connections (a status published meanwhile is not missed)', async () => {
    await publish(message('ACTIVE'));
    const { source } = startSource();
    await waitFor('ACTIVE', () => source.current()?.status === 'ACTIVE' && source.redisReady());
    const reads = source.stats.latestReads;
    const draining = message('DRAINING');
    await publish(draining, { publish: false }); // published while the agent was not listening
    expect(await killAgentConnections()).toBe(2);
    await waitFor('the status read on reconnect', () => source.current()?.sequence === draining.Sequence);
    expect(source.stats.latestReads).toBeGreaterThan(reads);
    // And the subscription itself is back.
    const active = message('ACTIVE');
    await publish(active, { store: false });
    await waitFor('a message after the reconnect', () => source.current()?.sequence === active.Sequence);
    await stopSource(source);
  });

  it('makes no FleetIQ call while Redis is up and the status fresh', async () => {
    await publish(message('ACTIVE'));
    const { source } = startSource({
      fallback: { lookup: fleetIQInstanceStatusLookup(gamelift, GROUP, INSTANCE), intervalMs: 10 },
    });
    await waitFor('ACTIVE', () => source.current()?.status === 'ACTIVE' && source.redisReady());
    const calls = source.stats.fallbackCalls;
    // 20 publish/receive round trips span many 10 ms fallback intervals.
    for (let i = 0; i < 20; i++) {
      const m = message('ACTIVE');
      await publish(m);
      await waitFor('the message', () => source.current()?.sequence === m.Sequence);
    }
    expect(source.stats.fallbackCalls).toBe(calls);
    await stopSource(source);
  });

  it('notices a stale status and falls back to FleetIQ while Redis stays up', async () => {
    fleetiq.control.setInstanceStatus(INSTANCE, 'DRAINING');
    await publish(message('ACTIVE', { ObservedAt: new Date(Date.now() - 1_000).toISOString() }));
    const stale: CurrentStatus[] = [];
    const { source } = startSource({
      staleAfterMs: 1_500,
      onStale: (s) => stale.push(s),
      fallback: { lookup: fleetIQInstanceStatusLookup(gamelift, GROUP, INSTANCE), intervalMs: 100 },
    });
    await waitFor('ACTIVE from Redis', () => source.current()?.source === 'redis');
    await waitFor('the stale notice', () => stale.length === 1);
    expect(stale[0]).toMatchObject({ status: 'ACTIVE', source: 'redis' });
    await waitFor('DRAINING from FleetIQ', () => source.current()?.source === 'fleetiq');
    expect(source.current()?.status).toBe('DRAINING');
    fleetiq.control.setInstanceStatus(INSTANCE, 'ACTIVE');
    await stopSource(source);
  });

  it('asks FleetIQ at once (jittered) when the status from Redis goes stale, not a whole interval later', async () => {
    fleetiq.control.setInstanceStatus(INSTANCE, 'DRAINING');
    await publish(message('ACTIVE', { ObservedAt: new Date(Date.now() - 1_000).toISOString() }));
    const { source } = startSource({
      staleAfterMs: 1_500,
      random: () => 0.5,
      fallback: {
        lookup: fleetIQInstanceStatusLookup(gamelift, GROUP, INSTANCE),
        intervalMs: 3_600_000,
        urgentJitterMs: 100,
        minGapMs: 0,
      },
    });
    await waitFor('ACTIVE from Redis', () => source.current()?.source === 'redis');
    await waitFor('DRAINING from FleetIQ', () => source.current()?.source === 'fleetiq', 5_000);
    expect(source.current()?.status).toBe('DRAINING');
    expect(source.stats.urgentChecks).toBeGreaterThanOrEqual(1);
    // Then the background rate: the FleetIQ status going stale does not trigger another urgent call.
    expect(source.stats.fallbackCalls).toBe(1);
    fleetiq.control.setInstanceStatus(INSTANCE, 'ACTIVE');
    await stopSource(source);
  });

  it('asks FleetIQ soon when Redis has no status for the instance at start', async () => {
    await admin.del(latestStatusKey(INSTANCE));
    fleetiq.control.setInstanceStatus(INSTANCE, 'DRAINING');
    const { source } = startSource({
      random: () => 0.5,
      fallback: {
        lookup: fleetIQInstanceStatusLookup(gamelift, GROUP, INSTANCE),
        intervalMs: 3_600_000,
        urgentJitterMs: 100,
      },
    });
    await waitFor('DRAINING from FleetIQ', () => source.current()?.status === 'DRAINING', 5_000);
    expect(source.current()).toMatchObject({ source: 'fleetiq', authenticated: true });
    fleetiq.control.setInstanceStatus(INSTANCE, 'ACTIVE');
    await stopSource(source);
  });

  it('refuses a status older than the one the agent acted on, and drops one it already holds', async () => {
    const old = message('DRAINING', { ObservedAt: new Date(Date.now() - 5_000).toISOString() });
    await publish(signStatusMessage(old, SECRET));
    const { source } = startSource({
      signingSecret: SECRET,
      random: () => 0.5,
      fallback: {
        lookup: fleetIQInstanceStatusLookup(gamelift, GROUP, INSTANCE),
        intervalMs: 3_600_000,
        urgentJitterMs: 100,
        minGapMs: 0,
      },
    });
    await waitFor('the DRAINING', () => source.current()?.status === 'DRAINING');
    expect(source.current()?.authenticated).toBe(true);
    source.refuseOlderThan(Date.now() - 1_000);
    // Dropped, and FleetIQ asked instead.
    await waitFor('FleetIQ asked', () => source.current()?.source === 'fleetiq', 5_000);
    const replay = message('DRAINING', { ObservedAt: new Date(Date.now() - 3_000).toISOString() });
    await publish(signStatusMessage(replay, SECRET));
    await waitFor('the replay refused', () =>
      Object.keys(source.stats.rejected).some((k) => k.includes('already acted on')),
    );
    expect(source.current()?.source).toBe('fleetiq');
    await stopSource(source);
  });

  it('marks an unsigned status as not authenticated', async () => {
    await publish(message('ACTIVE'));
    const { source } = startSource();
    await waitFor('ACTIVE', () => source.current()?.status === 'ACTIVE');
    expect(source.current()?.authenticated).toBe(false);
    await stopSource(source);
  });

  it('accepts a lower sequence only once what it holds has gone stale, and only with a newer observation', async () => {
    const high = message('ACTIVE', { Sequence: 9_000_000 });
    await publish(high);
    const stale: CurrentStatus[] = [];
    const { source } = startSource({ staleAfterMs: 300, onStale: (s) => stale.push(s) });
    await waitFor(
      'the high-sequence status',
      () => source.current()?.sequence === high.Sequence && source.redisReady(),
    );
    await waitFor('it goes stale', () => stale.length === 1);
    // A replay of an old observation is still refused...
    await publish(
      message('DRAINING', { Sequence: 5, ObservedAt: new Date(Date.now() - 60_000).toISOString() }),
    );
    await waitFor('the replay refused', () => source.stats.outOfOrder === 1);
    // ...but a fresh one from a publisher whose counter restarted is taken.
    const restarted = message('DRAINING', { Sequence: 6 });
    await publish(restarted);
    await waitFor('the restarted counter accepted', () => source.current()?.sequence === 6);
    expect(source.current()?.status).toBe('DRAINING');
    await stopSource(source);
  });

  it('prefers the newest observation across sources: an older Redis status never replaces a newer FleetIQ one', async () => {
    fleetiq.control.setInstanceStatus(INSTANCE, 'DRAINING');
    await admin.del(latestStatusKey(INSTANCE));
    const { source } = startSource({
      staleAfterMs: 60_000,
      fallback: { lookup: fleetIQInstanceStatusLookup(gamelift, GROUP, INSTANCE), intervalMs: 20 },
    });
    await waitFor(
      'DRAINING from FleetIQ (nothing in Redis yet)',
      () => source.current()?.source === 'fleetiq',
    );
    const old = message('ACTIVE', { ObservedAt: new Date(Date.now() - 30_000).toISOString() });
    await publish(old);
    await waitFor('the old message considered', () => source.stats.outOfOrder >= 1);
    expect(source.current()).toMatchObject({ status: 'DRAINING', source: 'fleetiq' });
    const newer = message('ACTIVE');
    await publish(newer);
    await waitFor('the newer Redis status', () => source.current()?.sequence === newer.Sequence);
    fleetiq.control.setInstanceStatus(INSTANCE, 'ACTIVE');
    await stopSource(source);
  });
});

describe('status source: Redis outage', () => {
  it('falls back to FleetIQ while Redis is down, then resumes the subscription and re-reads the latest key', async () => {
    await publish(message('ACTIVE'));
    const { source } = startSource({
      fallback: { lookup: fleetIQInstanceStatusLookup(gamelift, GROUP, INSTANCE), intervalMs: 100 },
    });
    await waitFor('ACTIVE', () => source.current()?.status === 'ACTIVE' && source.redisReady());

    fleetiq.control.resetCallCounts();
    fleetiq.control.setInstanceStatus(INSTANCE, 'DRAINING');
    await redis.stop();
    await waitFor('DRAINING from FleetIQ', () => source.current()?.source === 'fleetiq');
    expect(source.current()?.status).toBe('DRAINING');
    expect(source.redisReady()).toBe(false);
    const counts = fleetiq.control.callCounts().DescribeGameServerInstances as unknown as Record<
      string,
      number
    >;
    expect(Object.values(counts).some((n) => n > 0)).toBe(true);

    await redis.start(); // empty: it lost its data
    await admin.ping().catch(() => undefined);
    await waitFor('admin connection back', async () => (await admin.ping()) === 'PONG');
    await waitFor('the agent resubscribed', () => source.redisReady());
    const back = message('DRAINING');
    await publish(back, { store: false });
    await waitFor('a message after the outage', () => source.current()?.sequence === back.Sequence);
    expect(source.current()?.source).toBe('redis');

    // The latest key is read again on the next reconnect. (Observed "later" than anything the fallback
    // may fetch while the agent reconnects: the newest observation wins, whatever its source.)
    fleetiq.control.setInstanceStatus(INSTANCE, 'ACTIVE');
    const stored = message('ACTIVE', { ObservedAt: new Date(Date.now() + 5_000).toISOString() });
    await publish(stored, { publish: false });
    await killAgentConnections();
    await waitFor('the stored status after reconnect', () => source.current()?.sequence === stored.Sequence);
    await stopSource(source);
  });
});

describe('fleetIQInstanceStatusLookup', () => {
  it('asks DescribeGameServerInstances for its own instance only', async () => {
    fleetiq.control.setInstanceStatus(OTHER, 'DRAINING');
    expect(await fleetIQInstanceStatusLookup(gamelift, GROUP, INSTANCE).lookup()).toBe('ACTIVE');
    expect(await fleetIQInstanceStatusLookup(gamelift, GROUP, OTHER).lookup()).toBe('DRAINING');
    expect(
      await fleetIQInstanceStatusLookup(gamelift, GROUP, 'i-00000000000000000').lookup(),
    ).toBeUndefined();
    await expect(
      fleetIQInstanceStatusLookup(gamelift, 'no-such-group', INSTANCE).lookup(),
    ).rejects.toMatchObject({
      name: 'NotFoundException',
    });
  });
});

describe("status source: the old adapter's messages (no ObservedAt, Sequence or Signature)", () => {
  /** What the old Python adapter's pubsub publishes: its four fields, nothing else. */
  const legacy = (status: InstanceStatus) => ({
    GameServerGroupName: GROUP,
    GameServerGroupArn: ARN,
    InstanceId: INSTANCE,
    InstanceStatus: status,
  });
  // A function: the GameLift client exists only once beforeAll has run.
  const quickFallback = () => ({
    lookup: fleetIQInstanceStatusLookup(gamelift, GROUP, INSTANCE),
    intervalMs: 600_000,
    urgentJitterMs: 0,
    minGapMs: 0,
  });

  it('signing off: never taken as a status; one that disagrees makes the agent ask FleetIQ, whose answer it keeps', async () => {
    fleetiq.control.setInstanceStatus(INSTANCE, 'ACTIVE');
    await admin.del(latestStatusKey(INSTANCE));
    const { source, seen } = startSource({ fallback: quickFallback() });
    await waitFor('ACTIVE from FleetIQ at start', () => source.current()?.source === 'fleetiq');
    await waitFor('subscribed', () => source.redisReady());
    const calls = source.stats.fallbackCalls;

    // Agrees with the fresh status held: nothing to ask.
    await publish(legacy('ACTIVE'), { store: false });
    await waitFor('counted', () => source.stats.legacy === 1);
    expect(source.stats.fallbackCalls).toBe(calls);

    // A DRAINING FleetIQ has already taken back (the old pubsub polls every 60 s): FleetIQ is asked,
    // says ACTIVE, and no DRAINING is ever offered to the agent.
    await publish(legacy('DRAINING'), { store: false });
    await waitFor('FleetIQ asked', () => source.stats.fallbackCalls === calls + 1 && !source.needsFallback());
    await waitFor('its answer', () => seen.length >= 2);
    expect(seen.map((s) => s.status)).not.toContain('DRAINING');
    expect(seen.every((s) => s.source === 'fleetiq' && s.authenticated)).toBe(true);
    expect(source.current()?.status).toBe('ACTIVE');

    // FleetIQ really drains the instance: the old message brings it in at once, as FleetIQ's own status.
    fleetiq.control.setInstanceStatus(INSTANCE, 'DRAINING');
    await publish(legacy('DRAINING'), { store: false });
    await waitFor('DRAINING from FleetIQ', () => source.current()?.status === 'DRAINING');
    expect(source.current()).toMatchObject({ source: 'fleetiq', authenticated: true });
    expect(source.stats.rejected).toEqual({});
    fleetiq.control.setInstanceStatus(INSTANCE, 'ACTIVE');
    await stopSource(source);
  });

  it('signing on: rejected as unsigned, and FleetIQ is not asked', async () => {
    await publish(signStatusMessage(message('ACTIVE'), SECRET));
    const { source } = startSource({ signingSecret: SECRET, fallback: quickFallback() });
    await waitFor(
      'ACTIVE, the latest key read',
      () => source.current()?.status === 'ACTIVE' && source.redisReady() && source.stats.latestReads > 0,
    );
    const calls = source.stats.fallbackCalls;
    await publish(legacy('DRAINING'), { store: false });
    await waitFor(
      'rejected',
      () => source.stats.rejected["the old adapter's format: unsigned (signing is on)"] === 1,
    );
    expect(source.stats.legacy).toBe(0);
    expect(source.stats.fallbackCalls).toBe(calls);
    expect(source.current()?.status).toBe('ACTIVE');
    await stopSource(source);
  });

  it('an old-format message about another instance or group is rejected like any other', async () => {
    fleetiq.control.setInstanceStatus(INSTANCE, 'ACTIVE');
    const { source } = startSource({ fallback: quickFallback() });
    await waitFor('subscribed', () => source.redisReady() && source.current() !== undefined);
    await publish({ ...legacy('DRAINING'), InstanceId: OTHER }, { store: false });
    await publish(
      { ...legacy('DRAINING'), GameServerGroupName: 'other', GameServerGroupArn: 'x' },
      { store: false },
    );
    await waitFor(
      'two rejections',
      () => Object.values(source.stats.rejected).reduce((a, b) => a + b, 0) === 2,
    );
    expect(source.stats.legacy).toBe(0);
    await stopSource(source);
  });
});
