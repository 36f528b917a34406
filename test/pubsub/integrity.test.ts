// Status integrity against anything that can write Redis (but does not hold the signing key): a real
// redis-server, the real publisher, and the writes such an attacker would make. Each case here
// silenced, delayed or falsified a status before pubsub stopped trusting what it reads from Redis.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { startRedis, type RedisServer } from '../helpers/redis.js';
import { MAX_SEQUENCE_AHEAD_US, SEQUENCE_KEY, StatusPublisher } from '../../pubsub/publisher.js';
import type { ObservedInstance } from '../../pubsub/poller.js';
import { latestStatusKey, signStatusMessage } from '../../shared/status-message.js';
import type { InstanceStatus } from '../../shared/contract.js';
import { latest, Subscriber, waitFor } from './helpers.js';

const ARN = 'arn:aws:gamelift:us-west-2:111122223333:gameservergroup/g1';
const SECRET = 's3cret';
const signed = { republishMs: 30_000, statusTtlMs: 30_000, signingSecret: SECRET };

function obs(n: number, status: InstanceStatus = 'ACTIVE'): ObservedInstance {
  return {
    group: 'g1',
    groupArn: ARN,
    instanceId: `i-${String(n).padStart(17, '0')}`,
    status,
    observedAt: Date.now(),
  };
}
const id = (n: number) => obs(n).instanceId;

let server: RedisServer;
let redis: Redis;
let subscriber: Subscriber;

beforeAll(async () => {
  server = await startRedis();
  redis = new Redis(server.port, '127.0.0.1');
  subscriber = await Subscriber.start(server.url, { secret: SECRET });
});
afterAll(async () => {
  subscriber.stop();
  redis.disconnect();
  await server.stop();
});
beforeEach(async () => {
  await redis.flushall();
  subscriber.messages.clear();
  subscriber.rejected.length = 0;
});

/** The Redis server's clock in microseconds, as the sequence script reads it. */
async function redisClockUs(): Promise<number> {
  const [s, us] = await redis.time();
  return Number(s) * 1_000_000 + Number(us);
}

describe('the sequence counter is not trusted', () => {
  it('SET fleetiq:status-sequence 1 silences nothing: the next status lands above every earlier one', async () => {
    const publisher = new StatusPublisher(redis, signed);
    await publisher.sync('g1', [obs(1)], true);
    const before = (await latest(redis, id(1), SECRET))!.Sequence;

    await redis.set(SEQUENCE_KEY, '1');
    const report = await publisher.sync('g1', [obs(1, 'DRAINING')], true);
    expect(report).toMatchObject({ published: 1, superseded: 0, counterRepaired: true });
    const after = (await latest(redis, id(1), SECRET))!;
    expect(after.InstanceStatus).toBe('DRAINING');
    expect(after.Sequence).toBeGreaterThan(before);
    await waitFor('DRAINING on the channel', () => subscriber.last(id(1))?.InstanceStatus === 'DRAINING');

    // A restarted pubsub (no memory of what it published) is not fooled either.
    await redis.set(SEQUENCE_KEY, '1');
    const restarted = new StatusPublisher(redis, signed);
    expect(await restarted.sync('g1', [obs(1, 'SPOT_TERMINATING')], true)).toMatchObject({ published: 1 });
    const third = (await latest(redis, id(1), SECRET))!;
    expect(third.InstanceStatus).toBe('SPOT_TERMINATING');
    expect(third.Sequence).toBeGreaterThan(after.Sequence);
    expect(subscriber.rejected).toEqual([]);
  });

  it('a genuine status above a lowered counter is published over, never yielded to', async () => {
    // A correctly signed status whose sequence is ahead of the clock (a large burst, or a Redis clock
    // that stepped back), then the counter lowered below it: yielding would silence the instance.
    const ahead = (await redisClockUs()) + 20_000_000;
    const genuine = signStatusMessage(
      {
        GameServerGroupName: 'g1',
        GameServerGroupArn: ARN,
        InstanceId: id(1),
        InstanceStatus: 'ACTIVE',
        ObservedAt: new Date().toISOString(),
        Sequence: ahead,
      },
      SECRET,
    );
    await redis.set(latestStatusKey(id(1)), JSON.stringify(genuine), 'PX', 30_000);
    await redis.set(SEQUENCE_KEY, '1');

    const publisher = new StatusPublisher(redis, signed);
    const report = await publisher.sync('g1', [obs(1, 'DRAINING')], true);
    expect(report).toMatchObject({ published: 1, superseded: 0, mismatched: 1 });
    const stored = (await latest(redis, id(1), SECRET))!;
    expect(stored.InstanceStatus).toBe('DRAINING');
    expect(stored.Sequence).toBeGreaterThan(ahead);
    await waitFor('DRAINING on the channel', () => subscriber.last(id(1))?.InstanceStatus === 'DRAINING');
  });

  it.each([
    ['not a number', async () => void (await redis.set(SEQUENCE_KEY, 'abc'))],
    ['another type', async () => void (await redis.hset(SEQUENCE_KEY, 'x', '1'))],
    ['near 2^53', async () => void (await redis.set(SEQUENCE_KEY, '9007199254740000'))],
  ])('a counter that is %s is healed, and sequences stay close to the clock', async (_what, poison) => {
    const publisher = new StatusPublisher(redis, signed);
    await publisher.sync('g1', [obs(1)], true);
    const before = (await latest(redis, id(1), SECRET))!.Sequence;
    await redis.del(SEQUENCE_KEY);
    await poison();

    const report = await publisher.sync('g1', [obs(1, 'DRAINING')], true);
    expect(report).toMatchObject({ published: 1, counterRepaired: true });
    const after = (await latest(redis, id(1), SECRET))!;
    expect(after.InstanceStatus).toBe('DRAINING');
    expect(after.Sequence).toBeGreaterThan(before);
    expect(after.Sequence).toBeLessThan((await redisClockUs()) + MAX_SEQUENCE_AHEAD_US);
    expect(await redis.type(SEQUENCE_KEY)).toBe('string');
  });
});

describe('latest-status keys are read back, not trusted', () => {
  it('a key of another type is replaced and does not stop the rest of the batch', async () => {
    const publisher = new StatusPublisher(redis, signed);
    await publisher.sync('g1', [obs(1), obs(2), obs(3)], true);
    await redis.del(latestStatusKey(id(2)));
    await redis.hset(latestStatusKey(id(2)), 'InstanceStatus', 'ACTIVE');

    const report = await publisher.sync(
      'g1',
      [obs(1, 'DRAINING'), obs(2, 'DRAINING'), obs(3, 'DRAINING')],
      true,
    );
    expect(report).toMatchObject({ published: 3 });
    for (const n of [1, 2, 3]) expect((await latest(redis, id(n), SECRET))!.InstanceStatus).toBe('DRAINING');
  });

  it('a replayed genuine status is not kept alive by the refresh: the true one is written and published again', async () => {
    const publisher = new StatusPublisher(redis, signed);
    await publisher.sync('g1', [obs(1, 'DRAINING')], true);
    const captured = (await redis.get(latestStatusKey(id(1))))!;
    await publisher.sync('g1', [obs(1, 'ACTIVE')], true);
    await waitFor('ACTIVE on the channel', () => subscriber.last(id(1))?.InstanceStatus === 'ACTIVE');

    // Written back by anyone who can write Redis: correctly signed, only older.
    await redis.set(latestStatusKey(id(1)), captured, 'PX', 30_000);
    subscriber.messages.clear();
    const report = await publisher.sync('g1', [obs(1, 'ACTIVE')], true); // unchanged: a refresh
    expect(report).toMatchObject({ mismatched: 1, published: 1, refreshed: 0, unrepaired: 0 });
    expect((await latest(redis, id(1), SECRET))!.InstanceStatus).toBe('ACTIVE');
    await waitFor('ACTIVE published again', () => subscriber.last(id(1))?.InstanceStatus === 'ACTIVE');
  });

  it('repairs that do not hold are reported until a check finds the key as published', async () => {
    const publisher = new StatusPublisher(redis, signed);
    await publisher.sync('g1', [obs(1, 'DRAINING'), obs(2)], true);
    const captured = (await redis.get(latestStatusKey(id(1))))!;
    await publisher.sync('g1', [obs(1, 'ACTIVE'), obs(2)], true);

    await redis.set(latestStatusKey(id(1)), captured);
    expect(await publisher.sync('g1', [obs(1), obs(2)], true)).toMatchObject({
      mismatched: 1,
      unrepaired: 0,
    });
    await redis.set(latestStatusKey(id(1)), captured);
    expect(await publisher.sync('g1', [obs(1), obs(2)], true)).toMatchObject({
      mismatched: 1,
      unrepaired: 1,
    });
    expect(await publisher.sync('g1', [obs(1), obs(2)], true)).toMatchObject({
      mismatched: 0,
      unrepaired: 0,
      refreshed: 2,
    });
  });

  it('without signing, a planted key that is no status at all is replaced, whatever sequence it claims', async () => {
    const publisher = new StatusPublisher(redis, { republishMs: 30_000, statusTtlMs: 30_000 });
    await redis.set(latestStatusKey(id(1)), '{"InstanceStatus":"DRAINING","Sequence":99999999999999999}');
    expect(await publisher.sync('g1', [obs(1)], true)).toMatchObject({ published: 1, mismatched: 1 });
    expect((await latest(redis, id(1)))!.InstanceStatus).toBe('ACTIVE');
  });
});
