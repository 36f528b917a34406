import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { startRedis, type RedisServer } from '../helpers/redis.js';
import { planPublication, StatusPublisher } from '../../pubsub/publisher.js';
import type { ObservedInstance } from '../../pubsub/poller.js';
import { latestStatusKey, parseStatusMessage } from '../../shared/status-message.js';
import type { InstanceStatus } from '../../shared/contract.js';
import { waitFor } from '../helpers/wait.js';

const ARN = 'arn:aws:gamelift:us-west-2:111122223333:gameservergroup/g1';
/** The integrity part of a sync report when nothing in Redis was tampered with. */
const untouched = { mismatched: 0, counterRepaired: false, unrepaired: 0 };

function obs(n: number, status: InstanceStatus = 'ACTIVE', observedAt = Date.now()): ObservedInstance {
  return { group: 'g1', groupArn: ARN, instanceId: `i-${String(n).padStart(17, '0')}`, status, observedAt };
}

describe('planPublication', () => {
  it('publishes new and changed statuses at once, unchanged ones every republish period', () => {
    const now = 100_000;
    const published = new Map([
      [obs(1).instanceId, { status: 'ACTIVE', groupArn: ARN, at: now - 1000 }],
      [obs(2).instanceId, { status: 'ACTIVE', groupArn: ARN, at: now - 1000 }],
      [obs(3).instanceId, { status: 'ACTIVE', groupArn: ARN, at: now - 30_000 }],
    ]);
    const plan = planPublication(
      [obs(1), obs(2, 'DRAINING'), obs(3), obs(4)],
      (id) => published.get(id),
      now,
      30_000,
    );
    expect(plan.publish.map((o) => o.instanceId)).toEqual([
      obs(2).instanceId,
      obs(3).instanceId,
      obs(4).instanceId,
    ]);
    expect(plan.refresh.map((o) => o.instanceId)).toEqual([obs(1).instanceId]);
  });
});

describe('StatusPublisher against a real Redis', () => {
  let server: RedisServer;
  let redis: Redis;
  let subscriber: Redis;

  beforeAll(async () => {
    server = await startRedis();
    redis = new Redis(server.port, '127.0.0.1', { lazyConnect: false });
    subscriber = new Redis(server.port, '127.0.0.1');
  });
  afterAll(async () => {
    redis.disconnect();
    subscriber.disconnect();
    await server.stop();
  });
  beforeEach(async () => {
    await redis.flushall();
  });

  it('stores the latest status with an expiry and publishes the same JSON on the instance channel', async () => {
    const received: string[] = [];
    subscriber.on('message', (_channel: string, message: string) => received.push(message));
    await subscriber.subscribe(obs(1).instanceId);
    const publisher = new StatusPublisher(redis, { republishMs: 30_000, statusTtlMs: 30_000 });
    const report = await publisher.sync('g1', [obs(1, 'DRAINING', Date.parse('2024-05-01T10:00:00Z'))], true);
    expect(report).toEqual({ published: 1, refreshed: 0, superseded: 0, restored: 0, ...untouched });
    await waitFor('the message', () => received.length === 1);
    const stored = await redis.get(latestStatusKey(obs(1).instanceId));
    expect(stored).toBe(received[0]);
    const parsed = parseStatusMessage(stored!);
    expect(parsed).toEqual({
      ok: true,
      message: {
        GameServerGroupName: 'g1',
        GameServerGroupArn: ARN,
        InstanceId: obs(1).instanceId,
        InstanceStatus: 'DRAINING',
        ObservedAt: '2024-05-01T10:00:00.000Z',
        Sequence: expect.any(Number),
      },
    });
    // The seed's daemon reads these four fields as they were.
    expect(JSON.parse(stored!)).toMatchObject({ GameServerGroupName: 'g1', InstanceStatus: 'DRAINING' });
    const ttl = await redis.pttl(latestStatusKey(obs(1).instanceId));
    expect(ttl).toBeGreaterThan(25_000);
    expect(ttl).toBeLessThanOrEqual(30_000);
    await subscriber.unsubscribe();
    subscriber.removeAllListeners('message');
  });

  it('refreshes the expiry of an unchanged status without publishing, then republishes it periodically', async () => {
    let now = 1_000_000;
    const publisher = new StatusPublisher(
      redis,
      { republishMs: 30_000, statusTtlMs: 10_000 },
      { now: () => now },
    );
    await publisher.sync('g1', [obs(1)], true);
    const first = parseStatusMessage((await redis.get(latestStatusKey(obs(1).instanceId)))!);
    await redis.pexpire(latestStatusKey(obs(1).instanceId), 500);
    now += 5000;
    expect(await publisher.sync('g1', [obs(1)], true)).toEqual({
      published: 0,
      refreshed: 1,
      superseded: 0,
      restored: 0,
      ...untouched,
    });
    expect(await redis.pttl(latestStatusKey(obs(1).instanceId))).toBeGreaterThan(9000);
    now += 25_000;
    expect((await publisher.sync('g1', [obs(1)], true)).published).toBe(1);
    const second = parseStatusMessage((await redis.get(latestStatusKey(obs(1).instanceId)))!);
    expect(first.ok && second.ok && second.message.Sequence > first.message.Sequence).toBe(true);
  });

  it('publishes a changed status at once with a higher sequence', async () => {
    const publisher = new StatusPublisher(redis, { republishMs: 30_000, statusTtlMs: 30_000 });
    await publisher.sync('g1', [obs(1)], true);
    const a = JSON.parse((await redis.get(latestStatusKey(obs(1).instanceId)))!);
    expect((await publisher.sync('g1', [obs(1, 'DRAINING')], true)).published).toBe(1);
    const b = JSON.parse((await redis.get(latestStatusKey(obs(1).instanceId)))!);
    expect(b.InstanceStatus).toBe('DRAINING');
    expect(b.Sequence).toBeGreaterThan(a.Sequence);
  });

  it('restores a key that vanished although the status did not change', async () => {
    const publisher = new StatusPublisher(redis, { republishMs: 30_000, statusTtlMs: 30_000 });
    await publisher.sync('g1', [obs(1), obs(2)], true);
    await redis.del(latestStatusKey(obs(2).instanceId));
    expect(await publisher.sync('g1', [obs(1), obs(2)], true)).toEqual({
      published: 1,
      refreshed: 1,
      superseded: 0,
      restored: 1,
      ...untouched,
    });
    expect(await redis.exists(latestStatusKey(obs(2).instanceId))).toBe(1);
  });

  it('keeps sequences increasing across publishers (a leader change) and never lets an older one win', async () => {
    const oldLeader = new StatusPublisher(redis, { republishMs: 30_000, statusTtlMs: 30_000 });
    const newLeader = new StatusPublisher(redis, { republishMs: 30_000, statusTtlMs: 30_000 });
    await oldLeader.sync('g1', [obs(1)], true);
    const s1 = JSON.parse((await redis.get(latestStatusKey(obs(1).instanceId)))!).Sequence;
    await newLeader.sync('g1', [obs(1, 'DRAINING')], true);
    const s2 = JSON.parse((await redis.get(latestStatusKey(obs(1).instanceId)))!).Sequence;
    expect(s2).toBeGreaterThan(s1);

    // A deposed leader that took its sequence before its successor published must not overwrite it.
    const successor = new StatusPublisher(redis, { republishMs: 30_000, statusTtlMs: 30_000 });
    const deposed = new StatusPublisher(
      redis,
      { republishMs: 30_000, statusTtlMs: 30_000 },
      { beforePublish: async () => void (await successor.sync('g1', [obs(1, 'SPOT_TERMINATING')], true)) },
    );
    expect(await deposed.sync('g1', [obs(1, 'ACTIVE')], true)).toEqual({
      published: 0,
      refreshed: 0,
      superseded: 1,
      restored: 0,
      ...untouched,
    });
    const latest = JSON.parse((await redis.get(latestStatusKey(obs(1).instanceId)))!);
    expect(latest).toMatchObject({ InstanceStatus: 'SPOT_TERMINATING' });
    expect(latest.Sequence).toBeGreaterThan(s2);
  });

  it('continues above every earlier sequence after Redis lost its counters', async () => {
    const publisher = new StatusPublisher(redis, { republishMs: 30_000, statusTtlMs: 30_000 });
    await publisher.sync('g1', [obs(1)], true);
    const before = JSON.parse((await redis.get(latestStatusKey(obs(1).instanceId)))!).Sequence;
    await redis.flushall();
    await publisher.republishAll();
    const after = JSON.parse((await redis.get(latestStatusKey(obs(1).instanceId)))!).Sequence;
    expect(after).toBeGreaterThan(before);
    expect(Number.isSafeInteger(after)).toBe(true);
  });

  it('signs every message when a secret is configured', async () => {
    const publisher = new StatusPublisher(redis, {
      republishMs: 30_000,
      statusTtlMs: 30_000,
      signingSecret: 's3cret',
    });
    await publisher.sync('g1', [obs(1)], true);
    const raw = (await redis.get(latestStatusKey(obs(1).instanceId)))!;
    expect(parseStatusMessage(raw, 's3cret').ok).toBe(true);
    expect(parseStatusMessage(raw, 'other')).toEqual({ ok: false, error: 'bad signature' });
  });

  it('with signing on, replaces a forged latest status that claims a higher sequence', async () => {
    const publisher = new StatusPublisher(redis, {
      republishMs: 30_000,
      statusTtlMs: 30_000,
      signingSecret: 's3cret',
    });
    const key = latestStatusKey(obs(1).instanceId);
    // What someone with write access to Redis could plant: a plausible message, badly signed, far ahead.
    const forged = {
      InstanceId: obs(1).instanceId,
      InstanceStatus: 'ACTIVE',
      Sequence: 9e15,
      Signature: 'ff',
    };
    await redis.set(key, JSON.stringify(forged));
    const received: string[] = [];
    await subscriber.subscribe(obs(1).instanceId);
    subscriber.on('message', (_channel: string, message: string) => received.push(message));

    expect((await publisher.sync('g1', [obs(1, 'DRAINING')], true)).published).toBe(1);
    const stored = parseStatusMessage((await redis.get(key))!, 's3cret');
    expect(stored.ok && stored.message.InstanceStatus).toBe('DRAINING');
    await waitFor('the message', () => received.length === 1);
    expect(parseStatusMessage(received[0]!, 's3cret').ok).toBe(true);
    await subscriber.unsubscribe(obs(1).instanceId);

    // A genuinely newer, correctly signed status (a successor's) is still left alone.
    const successor = new StatusPublisher(redis, {
      republishMs: 30_000,
      statusTtlMs: 30_000,
      signingSecret: 's3cret',
    });
    const deposed = new StatusPublisher(
      redis,
      { republishMs: 30_000, statusTtlMs: 30_000, signingSecret: 's3cret' },
      { beforePublish: async () => void (await successor.sync('g1', [obs(1, 'SPOT_TERMINATING')], true)) },
    );
    expect((await deposed.sync('g1', [obs(1, 'ACTIVE')], true)).superseded).toBe(1);
    const latest = parseStatusMessage((await redis.get(key))!, 's3cret');
    expect(latest.ok && latest.message.InstanceStatus).toBe('SPOT_TERMINATING');
  });

  it('forgets instances that left the group after a complete poll, not after a partial one', async () => {
    const publisher = new StatusPublisher(redis, { republishMs: 30_000, statusTtlMs: 30_000 });
    await publisher.sync('g1', [obs(1), obs(2)], true);
    expect(publisher.size).toBe(2);
    await publisher.sync('g1', [obs(1)], false);
    expect(publisher.size).toBe(2);
    await publisher.sync('g1', [obs(1)], true);
    expect(publisher.size).toBe(1);
    await publisher.sync('g2', [{ ...obs(7), group: 'g2' }], true);
    publisher.forgetGroup('g1');
    expect(publisher.size).toBe(1);
    await redis.flushall();
    expect((await publisher.republishAll()).published).toBe(1); // only g2's instance
  });

  it('publishes 10,000 statuses in a few pipelined round trips', async () => {
    const publisher = new StatusPublisher(redis, { republishMs: 30_000, statusTtlMs: 30_000 });
    const observed = Array.from({ length: 10_000 }, (_, i) => obs(i));
    const report = await publisher.sync('g1', observed, true);
    expect(report.published).toBe(10_000);
    expect(await redis.dbsize()).toBe(10_001); // latest keys + the sequence counter
    const sequences = new Set<number>();
    for (const o of observed.slice(0, 50))
      sequences.add(JSON.parse((await redis.get(latestStatusKey(o.instanceId)))!).Sequence);
    expect(sequences.size).toBe(50);
    const again = await publisher.sync('g1', observed, true);
    expect(again).toEqual({ published: 0, refreshed: 10_000, superseded: 0, restored: 0, ...untouched });
  });

  it('fails (and keeps the statuses due) while Redis is unreachable', async () => {
    const client = new Redis(server.port, '127.0.0.1', {
      enableOfflineQueue: false,
      retryStrategy: () => 20,
    });
    client.on('error', () => undefined);
    await waitFor('the client ready', () => client.status === 'ready');
    const publisher = new StatusPublisher(client, { republishMs: 30_000, statusTtlMs: 30_000 });
    await server.stop();
    await waitFor('the client disconnected', () => client.status !== 'ready');
    await expect(publisher.sync('g1', [obs(1)], true)).rejects.toThrow();
    await server.start();
    await waitFor('the client ready', () => client.status === 'ready');
    expect((await publisher.sync('g1', [obs(1)], true)).published).toBe(1);
    client.disconnect();
    await waitFor('redis ready', () => redis.status === 'ready');
  });
});
