// Failures pubsub must survive: Redis down at start and mid-run, GameLift throttling and 5xx, a
// group that does not exist, and a shutdown with a poll in flight. Real service, FleetIQ emulator,
// real redis-server.
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { startFleetIQEmulator, type FleetIQEmulator } from '../../sandbox/fleetiq/emulator.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';
import type { PubsubService } from '../../pubsub/service.js';
import {
  ConfigFile,
  latest,
  metricSum,
  metricValue,
  silent,
  startService,
  Subscriber,
  waitFor,
} from './helpers.js';

let emulator: FleetIQEmulator;
const cleanups: (() => unknown)[] = [];

beforeAll(async () => {
  emulator = await startFleetIQEmulator({
    logger: silent,
    seed: 11,
    groups: [
      { name: 'big', instances: 2100 },
      { name: 'small', instances: 3 },
    ],
  });
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  emulator.control.clearFaults();
  emulator.control.setRateLimits({ DescribeGameServerInstances: { ratePerSecond: 20, burst: 40 } });
});
afterAll(async () => {
  await emulator?.stop();
});

const ids = (group: string) => emulator.control.instances({ group }).map((i) => i.instanceId);

async function redisServer(): Promise<{ server: RedisServer; client: Redis }> {
  const server = await startRedis();
  const client = new Redis(server.url, { retryStrategy: () => 50 });
  client.on('error', () => undefined);
  cleanups.push(async () => {
    client.disconnect();
    await server.stop();
  });
  return { server, client };
}

async function service(args: Parameters<typeof startService>[0]): Promise<PubsubService> {
  const s = await startService(args);
  cleanups.push(() => s.stop());
  return s;
}

function configFile(content: object): ConfigFile {
  const c = new ConfigFile(content);
  cleanups.push(() => c.remove());
  return c;
}

const readyz = async (s: PubsubService) => (await fetch(`${s.opsUrl}/readyz`)).status;

describe('Redis', () => {
  it('down at start: not ready, nothing crashes; publishes everything once Redis is up', async () => {
    const { server, client } = await redisServer();
    await server.stop();
    const s = await service({
      fleetiqUrl: emulator.url,
      redisUrl: `127.0.0.1:${server.port}`, // the first seed's host:port form
      config: configFile({ GameServerGroups: ['small'], PollIntervalSeconds: 0.2 }),
    });
    expect(await readyz(s)).toBe(503);
    expect(await (await fetch(`${s.opsUrl}/readyz`)).text()).toMatch(/redis: not connected/);
    expect((await fetch(`${s.opsUrl}/healthz`)).status).toBe(200);
    await waitFor(
      'polls failing to publish',
      async () => (await metricSum(s.registry, 'fleetiq_pubsub_errors_total', { kind: 'redis' })) >= 2,
    );

    await server.start();
    await waitFor('ready', async () => (await readyz(s)) === 200);
    for (const id of ids('small')) {
      await waitFor(`status of ${id}`, async () => (await latest(client, id))?.InstanceStatus === 'ACTIVE');
    }
  });

  it('down mid-run: not ready while down; after reconnecting publishes everything again, changes included', async () => {
    const { server, client } = await redisServer();
    const s = await service({
      fleetiqUrl: emulator.url,
      redisUrl: server.url,
      config: configFile({ GameServerGroups: ['big', 'small'], PollIntervalSeconds: 0.2 }),
    });
    const all = [...ids('big'), ...ids('small')];
    await waitFor('everything published', async () => (await client.dbsize()) >= all.length + 1);

    await server.stop(); // an outage that loses every key (no persistence)
    await waitFor('not ready', async () => (await readyz(s)) === 503);
    const changed = ids('small')[0]!;
    emulator.control.setInstanceStatus(changed, 'DRAINING');
    await waitFor(
      'failed publications counted',
      async () => (await metricSum(s.registry, 'fleetiq_pubsub_errors_total', { kind: 'redis' })) >= 1,
    );

    await server.start();
    const subscriber = await Subscriber.start(server.url);
    cleanups.push(() => subscriber.stop());
    await waitFor('ready again', async () => (await readyz(s)) === 200);
    await waitFor('every latest status back', async () => (await client.dbsize()) >= all.length + 1, 15_000);
    expect((await latest(client, changed))!.InstanceStatus).toBe('DRAINING');
    expect(await metricSum(s.registry, 'fleetiq_pubsub_redis_catch_ups_total')).toBeGreaterThanOrEqual(1);
    // Pure subscribers get the change too (the next republication at the latest).
    emulator.control.setInstanceStatus(changed, 'ACTIVE');
    await waitFor(
      'a change after the outage on the channel',
      () => subscriber.last(changed)?.InstanceStatus === 'ACTIVE',
    );
  });
});

describe('GameLift', () => {
  it('throttled: counts throttles, backs off and still publishes every status', async () => {
    const { server, client } = await redisServer();
    emulator.control.setRateLimit('DescribeGameServerInstances', { ratePerSecond: 4, burst: 2 });
    emulator.control.resetCallCounts();
    const s = await service({
      fleetiqUrl: emulator.url,
      redisUrl: server.url,
      // 2 groups, 4 pages per 0.1 s: forty times what the emulator lets through; our cap is off.
      config: configFile({
        GameServerGroups: ['big', 'small'],
        PollIntervalSeconds: 0.1,
        MaxCallsPerSecond: 1000,
      }),
    });
    await waitFor(
      'throttled attempts counted',
      async () => (await metricSum(s.registry, 'fleetiq_pubsub_throttles_total')) >= 3,
    );
    await waitFor(
      'a poll that failed on throttling (SDK retries exhausted)',
      async () => (await metricSum(s.registry, 'fleetiq_pubsub_errors_total', { kind: 'throttled' })) >= 1,
    );
    const all = [...ids('big'), ...ids('small')];
    await waitFor(
      'every status published anyway',
      async () => (await client.dbsize()) >= all.length + 1,
      20_000,
    );
    const counts = emulator.control.callCounts().DescribeGameServerInstances;
    expect(counts.throttled).toBeGreaterThan(0);
    expect(await metricSum(s.registry, 'fleetiq_pubsub_throttles_total')).toBe(counts.throttled);
    // Backing off: the client-side rate adapted far below the configured 1000/s.
    expect(await metricValue(s.registry, 'fleetiq_pubsub_call_rate_limit')).toBeLessThan(100);
  });

  it('never exceeds the configured call rate: no throttling under a limit above it', async () => {
    const { server, client } = await redisServer();
    emulator.control.setRateLimit('DescribeGameServerInstances', { ratePerSecond: 5, burst: 5 });
    emulator.control.resetCallCounts();
    const s = await service({
      fleetiqUrl: emulator.url,
      redisUrl: server.url,
      config: configFile({
        GameServerGroups: ['big', 'small'],
        PollIntervalSeconds: 0.1,
        MaxCallsPerSecond: 4,
      }),
    });
    const all = [...ids('big'), ...ids('small')];
    await waitFor('every status published', async () => (await client.dbsize()) >= all.length + 1);
    await waitFor(
      'a dozen calls',
      () => emulator.control.callCounts().DescribeGameServerInstances.calls >= 12,
    );
    const counts = emulator.control.callCounts().DescribeGameServerInstances;
    expect(counts.throttled).toBe(0);
    expect(await metricSum(s.registry, 'fleetiq_pubsub_throttles_total')).toBe(0);
  });

  it('5xx: the SDK retries, failed polls back off, and polling recovers once GameLift does', async () => {
    const { server, client } = await redisServer();
    const subscriber = await Subscriber.start(server.url);
    cleanups.push(() => subscriber.stop());
    // Every first attempt fails with a 500: the SDK's retry absorbs it.
    emulator.control.addFault({
      operation: 'DescribeGameServerInstances',
      errorType: 'InternalServiceException',
      attempts: [1],
    });
    emulator.control.resetCallCounts();
    const s = await service({
      fleetiqUrl: emulator.url,
      redisUrl: server.url,
      config: configFile({ GameServerGroups: ['small'], PollIntervalSeconds: 0.2 }),
    });
    for (const id of ids('small'))
      await waitFor(`status of ${id}`, async () => (await latest(client, id)) !== undefined);
    expect(emulator.control.callCounts().DescribeGameServerInstances.faulted).toBeGreaterThan(0);
    expect(await metricSum(s.registry, 'fleetiq_pubsub_errors_total')).toBe(0);

    // Now every attempt fails: polls fail and are counted as server errors; nothing crashes.
    emulator.control.clearFaults();
    emulator.control.addFault({
      operation: 'DescribeGameServerInstances',
      errorType: 'InternalServiceException',
    });
    await waitFor(
      'failed polls counted',
      async () =>
        (await metricSum(s.registry, 'fleetiq_pubsub_errors_total', { group: 'small', kind: 'server' })) >= 2,
    );
    emulator.control.clearFaults();
    const id = ids('small')[1]!;
    emulator.control.setInstanceStatus(id, 'DRAINING');
    await waitFor('a change after recovery', () => subscriber.last(id)?.InstanceStatus === 'DRAINING');
    emulator.control.setInstanceStatus(id, 'ACTIVE');
  });

  it('a group that does not exist is reported; the others keep working', async () => {
    const { server, client } = await redisServer();
    const s = await service({
      fleetiqUrl: emulator.url,
      redisUrl: server.url,
      config: configFile({ GameServerGroups: ['no-such-group', 'small'], PollIntervalSeconds: 0.2 }),
    });
    await waitFor(
      'NotFound counted',
      async () =>
        (await metricSum(s.registry, 'fleetiq_pubsub_errors_total', {
          group: 'no-such-group',
          kind: 'not_found',
        })) >= 1,
    );
    for (const id of ids('small'))
      await waitFor(`status of ${id}`, async () => (await latest(client, id)) !== undefined);
    expect(
      await metricValue(s.registry, 'fleetiq_pubsub_instances', { group: 'small', status: 'ACTIVE' }),
    ).toBe(3);
    expect(await metricSum(s.registry, 'fleetiq_pubsub_errors_total', { group: 'small' })).toBe(0);
    expect(await readyz(s)).toBe(200);
    // The failing group shows in "seconds since the last successful poll" (counting from the start).
    const since = (group: string) =>
      metricValue(s.registry, 'fleetiq_pubsub_seconds_since_last_successful_poll', { group });
    expect(await since('no-such-group')).toBeGreaterThanOrEqual(0);
    await waitFor(
      'the missing group to fall behind the working one',
      async () => (await since('no-such-group'))! > (await since('small'))! + 0.3,
    );
  });
});

describe('shutdown', () => {
  it('finishes the poll in flight before stopping', async () => {
    const { server, client } = await redisServer();
    const s = await startService({
      fleetiqUrl: emulator.url,
      redisUrl: server.url,
      config: configFile({ GameServerGroups: ['small'], PollIntervalSeconds: 0.2 }),
    });
    const id = ids('small')[2]!;
    await waitFor('first publication', async () => (await latest(client, id)) !== undefined);
    emulator.control.resetCallCounts();
    emulator.control.addFault({
      operation: 'DescribeGameServerInstances',
      kind: 'hang',
      delayMs: 400,
      count: 1,
    });
    await waitFor(
      'a poll held in flight',
      () => emulator.control.callCounts().DescribeGameServerInstances.hung === 1,
    );
    emulator.control.setInstanceStatus(id, 'DRAINING'); // the held call answers with this
    await s.stop();
    expect((await latest(client, id))!.InstanceStatus).toBe('DRAINING');
    emulator.control.setInstanceStatus(id, 'ACTIVE');
  });
});
