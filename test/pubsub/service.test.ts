// The real pubsub service against the FleetIQ emulator (real GameLift SDK over HTTP) and a real
// redis-server: everything it publishes, how changes travel, configuration reloads, signing.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { startFleetIQEmulator, type FleetIQEmulator } from '../../sandbox/fleetiq/emulator.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';
import type { PubsubService } from '../../pubsub/service.js';
import { latestStatusKey, signStatusMessage } from '../../shared/status-message.js';
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
let redisServer: RedisServer;
let redis: Redis;

beforeAll(async () => {
  emulator = await startFleetIQEmulator({
    logger: silent,
    seed: 7,
    // 2,300 instances over pages of 1000: the big group takes three pages per poll.
    groups: [
      { name: 'big', instances: 2300 },
      { name: 'small', instances: 3 },
      { name: 'later', instances: 2 },
    ],
  });
  redisServer = await startRedis();
  redis = new Redis(redisServer.url);
});

afterAll(async () => {
  redis?.disconnect();
  await redisServer?.stop();
  await emulator?.stop();
});

const ids = (group: string) => emulator.control.instances({ group }).map((i) => i.instanceId);

describe('pubsub service', () => {
  let config: ConfigFile;
  let service: PubsubService;
  let subscriber: Subscriber;

  beforeAll(async () => {
    await redis.flushall();
    subscriber = await Subscriber.start(redisServer.url);
    config = new ConfigFile({
      GameServerGroups: ['big', 'small'],
      PollIntervalSeconds: 0.2,
      RepublishSeconds: 1,
    });
    service = await startService({ fleetiqUrl: emulator.url, redisUrl: redisServer.url, config });
  });
  afterAll(async () => {
    await service?.stop();
    subscriber?.stop();
    config?.remove();
  });

  it('publishes every instance of every group, all pages, as the latest status and on its channel', async () => {
    const all = [...ids('big'), ...ids('small')];
    expect(all).toHaveLength(2303);
    await waitFor('a latest-status key per instance', async () => (await redis.dbsize()) >= all.length + 1);
    const sample = [all[0]!, all[1500]!, all[2299]!, all[2302]!];
    for (const id of sample) {
      const message = await latest(redis, id);
      const instance = emulator.control.instance(id)!;
      expect(message).toMatchObject({
        GameServerGroupName: instance.groupName,
        GameServerGroupArn: instance.groupArn,
        InstanceId: id,
        InstanceStatus: 'ACTIVE',
      });
      // Expires after a few intervals, at least 30 s (the default), and is refreshed every poll.
      const ttl = await redis.pttl(latestStatusKey(id));
      expect(ttl).toBeGreaterThan(20_000);
      expect(ttl).toBeLessThanOrEqual(30_000);
    }
    await waitFor('messages on the channels', () => sample.every((id) => subscriber.of(id).length > 0));
    expect(
      await metricSum(service.registry, 'fleetiq_pubsub_pages_total', { group: 'big' }),
    ).toBeGreaterThanOrEqual(3);
    expect(
      await metricValue(service.registry, 'fleetiq_pubsub_instances', { group: 'big', status: 'ACTIVE' }),
    ).toBe(2300);
    expect(await metricValue(service.registry, 'fleetiq_pubsub_is_leader')).toBe(1);
    expect(await metricSum(service.registry, 'fleetiq_pubsub_errors_total')).toBe(0);
  });

  it('asks for the largest page the API serves', async () => {
    emulator.control.resetCallCounts();
    await waitFor(
      'a few polls',
      () => emulator.control.callCounts().DescribeGameServerInstances.succeeded >= 8,
    );
    const polls = await metricSum(service.registry, 'fleetiq_pubsub_polls_total', {
      group: 'big',
      result: 'ok',
    });
    const pages = await metricSum(service.registry, 'fleetiq_pubsub_pages_total', { group: 'big' });
    expect(pages / polls).toBe(3); // ceil(2300 / 1000): Limit = 1000
  });

  it('publishes a changed status at once with a higher sequence', async () => {
    const id = ids('small')[0]!;
    const before = (await latest(redis, id))!;
    const changedAt = Date.now();
    emulator.control.setInstanceStatus(id, 'DRAINING');
    const message = await waitFor('DRAINING on the channel', () =>
      subscriber.of(id).find((m) => m.InstanceStatus === 'DRAINING'),
    );
    expect(message.Sequence).toBeGreaterThan(before.Sequence);
    expect(Date.parse(message.ObservedAt)).toBeGreaterThanOrEqual(changedAt - 50);
    expect((await latest(redis, id))!.InstanceStatus).toBe('DRAINING');
    await waitFor(
      'the gauge to count it',
      async () =>
        (await metricValue(service.registry, 'fleetiq_pubsub_instances', {
          group: 'small',
          status: 'DRAINING',
        })) === 1,
    );
    emulator.control.setInstanceStatus(id, 'ACTIVE');
    await waitFor('ACTIVE again', () => subscriber.last(id)?.InstanceStatus === 'ACTIVE');
  });

  it('re-publishes an unchanged status periodically for pure subscribers, sequences increasing', async () => {
    const id = ids('small')[1]!;
    const seen = subscriber.of(id).length;
    await waitFor(
      'two more publications of the unchanged status',
      () => subscriber.of(id).length >= seen + 2,
    );
    const messages = subscriber.of(id);
    expect(messages.every((m) => m.InstanceStatus === 'ACTIVE')).toBe(true);
    for (let i = 1; i < messages.length; i++)
      expect(messages[i]!.Sequence).toBeGreaterThan(messages[i - 1]!.Sequence);
    // Not on every poll (every 0.2 s) but every RepublishSeconds (1 s).
    const span =
      Date.parse(messages.at(-1)!.ObservedAt) - Date.parse(messages[seen - 1 < 0 ? 0 : seen - 1]!.ObservedAt);
    expect(span).toBeGreaterThanOrEqual(900);
  });

  it('serves /healthz, /readyz and /metrics', async () => {
    expect((await fetch(`${service.opsUrl}/healthz`)).status).toBe(200);
    expect((await fetch(`${service.opsUrl}/readyz`)).status).toBe(200);
    const text = await (await fetch(`${service.opsUrl}/metrics`)).text();
    for (const name of [
      'fleetiq_pubsub_polls_total',
      'fleetiq_pubsub_pages_total',
      'fleetiq_pubsub_throttles_total',
      'fleetiq_pubsub_errors_total',
      'fleetiq_pubsub_instances',
      'fleetiq_pubsub_publish_duration_seconds_bucket',
      'fleetiq_pubsub_seconds_since_last_successful_poll',
      'fleetiq_pubsub_is_leader',
    ]) {
      expect(text).toContain(name);
    }
    const since = await metricValue(service.registry, 'fleetiq_pubsub_seconds_since_last_successful_poll', {
      group: 'big',
    });
    expect(since).toBeGreaterThanOrEqual(0);
    expect(since).toBeLessThan(5);
  });

  it('applies a changed configuration file without a restart, and keeps the last good one when invalid', async () => {
    config.write({
      GameServerGroups: ['big', 'small', 'later'],
      PollIntervalSeconds: 0.2,
      RepublishSeconds: 1,
    });
    const laterIds = ids('later');
    await waitFor('the added group published', async () => (await latest(redis, laterIds[0]!)) !== undefined);
    expect(service.config().gameServerGroups).toEqual(['big', 'small', 'later']);
    expect(await metricValue(service.registry, 'fleetiq_pubsub_config_valid')).toBe(1);

    config.write({ GameServerGroups: ['small'], PollIntervalSeconds: 'fast' });
    await waitFor(
      'the invalid file reported',
      async () => (await metricValue(service.registry, 'fleetiq_pubsub_config_valid')) === 0,
    );
    expect(
      await metricValue(service.registry, 'fleetiq_pubsub_config_reloads_total', { result: 'invalid' }),
    ).toBe(1);
    expect(service.config().gameServerGroups).toEqual(['big', 'small', 'later']);
    // Still polling everything in the last good configuration.
    const id = laterIds[1]!;
    emulator.control.setInstanceStatus(id, 'DRAINING');
    await waitFor('a change in the kept group', () => subscriber.last(id)?.InstanceStatus === 'DRAINING');

    config.write({ GameServerGroups: ['big', 'small'], PollIntervalSeconds: 0.2, RepublishSeconds: 1 });
    await waitFor(
      'valid again',
      async () => (await metricValue(service.registry, 'fleetiq_pubsub_config_valid')) === 1,
    );
    expect(service.config().gameServerGroups).toEqual(['big', 'small']);
    await waitFor(
      'the removed group gone from the gauge',
      async () =>
        (await metricValue(service.registry, 'fleetiq_pubsub_instances', {
          group: 'later',
          status: 'ACTIVE',
        })) === undefined,
    );
    expect(subscriber.rejected).toEqual([]);
  });
});

describe('pubsub service with a signing secret', () => {
  it('signs every message; agents with the secret verify them, others reject them', async () => {
    await redis.flushall();
    const subscriber = await Subscriber.start(redisServer.url, { secret: 'shared-secret' });
    const config = new ConfigFile({ GameServerGroups: ['small'], PollIntervalSeconds: 0.2 });
    const service = await startService({
      fleetiqUrl: emulator.url,
      redisUrl: redisServer.url,
      config,
      signingSecret: 'shared-secret',
    });
    try {
      const id = ids('small')[2]!;
      await waitFor('a signed message', () => subscriber.of(id).length > 0);
      expect(subscriber.rejected).toEqual([]);
      expect(subscriber.of(id)[0]!.Signature).toMatch(/^[0-9a-f]{64}$/);
      expect(await latest(redis, id, 'shared-secret')).toBeDefined();
      await expect(latest(redis, id, 'wrong-secret')).rejects.toThrow(/bad signature/);
    } finally {
      await service.stop();
      subscriber.stop();
      config.remove();
    }
  });

  it('is not ready while something keeps overwriting a latest-status key, counts the repairs, and recovers', async () => {
    await redis.flushall();
    const config = new ConfigFile({ GameServerGroups: ['small'], PollIntervalSeconds: 0.2 });
    const service = await startService({
      fleetiqUrl: emulator.url,
      redisUrl: redisServer.url,
      config,
      signingSecret: 'shared-secret',
    });
    const id = ids('small')[0]!;
    // A genuine but old DRAINING, written back over and over by anything that can write Redis.
    const replay = JSON.stringify(
      signStatusMessage(
        {
          GameServerGroupName: 'small',
          GameServerGroupArn: 'small',
          InstanceId: id,
          InstanceStatus: 'DRAINING',
          ObservedAt: new Date().toISOString(),
          Sequence: 1,
        },
        'shared-secret',
      ),
    );
    let attacking = true;
    const attacker = (async () => {
      while (attacking) {
        await redis.set(latestStatusKey(id), replay);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const readyz = async () => {
      const res = await fetch(`${service.opsUrl}/readyz`);
      return { status: res.status, text: await res.text() };
    };
    try {
      await waitFor('not ready for status integrity', async () =>
        /status-integrity: 1 latest-status keys .* small/.test((await readyz()).text),
      );
      expect(service.isReady()).toBe(false);
      // The Component handle says why, as /readyz does.
      expect(service.ready()).toMatch(/overwritten by another writer/);
      expect(
        await metricSum(service.registry, 'fleetiq_pubsub_status_repairs_total', { what: 'latest_key' }),
      ).toBeGreaterThan(1);
      attacking = false;
      await attacker;
      await waitFor('ready again', async () => (await readyz()).status === 200);
      expect(service.ready()).toBe(true);
      expect((await latest(redis, id, 'shared-secret'))!.InstanceStatus).toBe('ACTIVE');
      expect(
        await metricValue(service.registry, 'fleetiq_pubsub_status_mismatches', { group: 'small' }),
      ).toBe(0);
    } finally {
      attacking = false;
      await attacker;
      await service.stop();
      config.remove();
    }
  });
});

describe('pubsub service, a group removed while its poll is in flight', () => {
  it('drops that poll’s result: the removed group does not come back into the instance gauge', async () => {
    const config = new ConfigFile({
      GameServerGroups: ['later'],
      PollIntervalSeconds: 0.2,
      RepublishSeconds: 1,
    });
    const service = await startService({ fleetiqUrl: emulator.url, redisUrl: redisServer.url, config });
    const laterSeries = () =>
      metricValue(service.registry, 'fleetiq_pubsub_instances', { group: 'later', status: 'ACTIVE' });
    const laterPolls = async () =>
      (await metricValue(service.registry, 'fleetiq_pubsub_polls_total', { group: 'later', result: 'ok' })) ??
      0;
    try {
      await waitFor('the group in the gauge', async () => (await laterSeries()) !== undefined);
      const hungBefore = emulator.control.callCounts().DescribeGameServerInstances.hung;
      const fault = emulator.control.addFault({
        operation: 'DescribeGameServerInstances',
        kind: 'hang',
        delayMs: 8000,
        count: 1,
      });
      await waitFor(
        'a poll of the group held by FleetIQ',
        () => emulator.control.callCounts().DescribeGameServerInstances.hung > hungBefore,
      );
      const pollsBefore = await laterPolls();
      config.write({ GameServerGroups: ['small'], PollIntervalSeconds: 0.2, RepublishSeconds: 1 });
      await waitFor('the group removed', () => service.config().gameServerGroups.join() === 'small');
      // The removal happened while the poll was held: it has not come back yet.
      expect(await laterPolls()).toBe(pollsBefore);
      expect(await laterSeries()).toBeUndefined();
      await waitFor('the held poll back', async () => (await laterPolls()) > pollsBefore, 15_000);
      expect(emulator.control.faults().find((f) => f.id === fault.id)).toBeUndefined();
      expect(await laterSeries()).toBeUndefined();
      expect(
        await metricValue(service.registry, 'fleetiq_pubsub_seconds_since_last_successful_poll', {
          group: 'later',
        }),
      ).toBeUndefined();
    } finally {
      await service.stop();
      config.remove();
    }
  });
});
