// Throttling and injected faults as the real SDK experiences them, including its own retries.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import {
  DescribeGameServerCommand,
  DescribeGameServerGroupCommand,
  DescribeGameServerInstancesCommand,
  InternalServiceException,
  NotFoundException,
  paginateDescribeGameServerInstances,
} from '@aws-sdk/client-gamelift';
import { startFleetIQEmulator, type FleetIQEmulator } from '../../../sandbox/fleetiq/emulator.js';
import { DEFAULT_RATE_LIMITS } from '../../../sandbox/fleetiq/throttle.js';
import { errorOf, gameLift, silentLogger } from './helpers.js';

let emulator: FleetIQEmulator;
const GROUP = 'throttled';

beforeAll(async () => {
  emulator = await startFleetIQEmulator({
    logger: silentLogger,
    seed: 5,
    groups: [{ name: GROUP, instances: 3 }],
  });
});

afterAll(async () => {
  await emulator?.stop();
});

beforeEach(() => {
  emulator.control.clearFaults();
  emulator.control.setRateLimits(DEFAULT_RATE_LIMITS);
  emulator.control.resetCallCounts();
});

describe('throttling', () => {
  it('throttles a client calling DescribeGameServerInstances in a tight loop, as AWS answers it', async () => {
    const client = gameLift(emulator.url);
    const outcomes: string[] = [];
    try {
      for (let i = 0; i < 120; i++) {
        try {
          await client.send(new DescribeGameServerInstancesCommand({ GameServerGroupName: GROUP }));
          outcomes.push('ok');
        } catch (err) {
          outcomes.push((err as Error).name);
          expect((err as Error).message).toBe('Rate exceeded');
          expect((err as { $metadata: { httpStatusCode: number } }).$metadata.httpStatusCode).toBe(400);
        }
      }
    } finally {
      client.destroy();
    }
    const counts = emulator.control.callCounts().DescribeGameServerInstances;
    expect(outcomes.filter((o) => o === 'ThrottlingException').length).toBeGreaterThan(0);
    expect(counts.calls).toBe(120);
    expect(counts.throttled).toBe(outcomes.filter((o) => o === 'ThrottlingException').length);
    expect(counts.errors.ThrottlingException).toBe(counts.throttled);
    // Other operations have buckets of their own.
    expect(emulator.control.callCounts().DescribeGameServerGroup.calls).toBe(0);
  });

  it('does not throttle a poller listing 10 groups with 10,000 instances every 10 s', async () => {
    const poller = await startFleetIQEmulator({
      logger: silentLogger,
      groups: Array.from({ length: 10 }, (_, i) => ({ name: `fleet-${i}`, instances: 1000 })),
    });
    const client = gameLift(poller.url);
    try {
      let seen = 0;
      for (let round = 0; round < 2; round++) {
        // Two polls back to back: the real poller has 10 s between them, this is strictly harder.
        for (let g = 0; g < 10; g++) {
          for await (const page of paginateDescribeGameServerInstances(
            { client },
            { GameServerGroupName: `fleet-${g}` },
          )) {
            seen += page.GameServerInstances!.length;
          }
        }
      }
      expect(seen).toBe(20_000);
      const counts = poller.control.callCounts().DescribeGameServerInstances;
      expect(counts.throttled).toBe(0);
      expect(counts.calls).toBe(20);
    } finally {
      client.destroy();
      await poller.stop();
    }
  });

  it('is retried by the SDK with backoff until a token is free again', async () => {
    // One token per 500 ms: the second call (sent right after the first) finds the bucket empty.
    emulator.control.setRateLimit('DescribeGameServerGroup', { ratePerSecond: 2, burst: 1 });
    const client = gameLift(emulator.url, { maxAttempts: 5, backoffMs: 300 });
    try {
      await client.send(new DescribeGameServerGroupCommand({ GameServerGroupName: GROUP }));
      const out = await client.send(new DescribeGameServerGroupCommand({ GameServerGroupName: GROUP }));
      expect(out.GameServerGroup?.GameServerGroupName).toBe(GROUP);
      // The second call was throttled at least once, retried after the backoff, then answered.
      expect(out.$metadata.attempts).toBeGreaterThanOrEqual(2);
      const counts = emulator.control.callCounts().DescribeGameServerGroup;
      expect(counts.throttled).toBe(out.$metadata.attempts! - 1);
      expect(counts.calls).toBe(1 + out.$metadata.attempts!);
      expect(counts.succeeded).toBe(2);
    } finally {
      client.destroy();
    }
  });

  it('gives up after maxAttempts when the limit stays exceeded', async () => {
    emulator.control.setRateLimit('DescribeGameServerGroup', { ratePerSecond: 0.001, burst: 1 });
    const client = gameLift(emulator.url, { maxAttempts: 3, backoffMs: 1 });
    try {
      await client.send(new DescribeGameServerGroupCommand({ GameServerGroupName: GROUP }));
      const err = await errorOf(
        client.send(new DescribeGameServerGroupCommand({ GameServerGroupName: GROUP })),
      );
      expect(err.name).toBe('ThrottlingException');
      expect(err.$metadata.attempts).toBe(3);
      expect(emulator.control.callCounts().DescribeGameServerGroup).toMatchObject({ calls: 4, throttled: 3 });
    } finally {
      client.destroy();
    }
  });
});

describe('fault injection', () => {
  it('fails attempt 1 with InternalServiceException (500); the SDK retries and attempt 2 succeeds', async () => {
    emulator.control.addFault({ operation: 'DescribeGameServerGroup', attempts: [1] });
    const client = gameLift(emulator.url, { maxAttempts: 3 });
    try {
      const out = await client.send(new DescribeGameServerGroupCommand({ GameServerGroupName: GROUP }));
      expect(out.$metadata.attempts).toBe(2);
      expect(emulator.control.callCounts().DescribeGameServerGroup).toMatchObject({
        calls: 2,
        faulted: 1,
        succeeded: 1,
      });
    } finally {
      client.destroy();
    }
  });

  it('surfaces InternalServiceException as the modeled class once retries are exhausted', async () => {
    emulator.control.addFault({ operation: 'DescribeGameServerInstances', count: 5 });
    const client = gameLift(emulator.url, { maxAttempts: 2 });
    try {
      const err = await errorOf(
        client.send(new DescribeGameServerInstancesCommand({ GameServerGroupName: GROUP })),
      );
      expect(err).toBeInstanceOf(InternalServiceException);
      expect(err.$metadata.httpStatusCode).toBe(500);
      expect(err.$metadata.attempts).toBe(2);
      expect(emulator.control.faults()[0].hits).toBe(2);
    } finally {
      client.destroy();
    }
  });

  it('does not retry NotFoundException', async () => {
    const client = gameLift(emulator.url, { maxAttempts: 3 });
    try {
      const err = await errorOf(
        client.send(new DescribeGameServerCommand({ GameServerGroupName: GROUP, GameServerId: 'missing' })),
      );
      expect(err).toBeInstanceOf(NotFoundException);
      expect(err.$metadata.attempts).toBe(1);
      expect(emulator.control.callCounts().DescribeGameServer.calls).toBe(1);
    } finally {
      client.destroy();
    }
  });

  it('holds a call past the client timeout on attempt 1; the SDK times out, retries, and attempt 2 answers', async () => {
    emulator.control.addFault({
      operation: 'DescribeGameServerGroup',
      kind: 'hang',
      delayMs: 3000,
      attempts: [1],
    });
    const client = gameLift(emulator.url, {
      maxAttempts: 2,
      config: { requestHandler: { requestTimeout: 500, throwOnRequestTimeout: true } },
    });
    try {
      const out = await client.send(new DescribeGameServerGroupCommand({ GameServerGroupName: GROUP }));
      expect(out.$metadata.attempts).toBe(2);
      expect(emulator.control.callCounts().DescribeGameServerGroup).toMatchObject({ calls: 2, hung: 1 });
    } finally {
      client.destroy();
    }
  });

  it('injects faults with a seeded probability: the same seed fails the same calls', async () => {
    const run = async () => {
      const e = await startFleetIQEmulator({
        logger: silentLogger,
        seed: 77,
        groups: [{ name: GROUP, instances: 1 }],
        rateLimits: false,
        faults: [{ operation: 'DescribeGameServerGroup', probability: 0.5 }],
      });
      const client = gameLift(e.url);
      const pattern: number[] = [];
      try {
        for (let i = 0; i < 30; i++) {
          pattern.push(
            await client.send(new DescribeGameServerGroupCommand({ GameServerGroupName: GROUP })).then(
              () => 0,
              () => 1,
            ),
          );
        }
      } finally {
        client.destroy();
        await e.stop();
      }
      return pattern;
    };
    const first = await run();
    expect(await run()).toEqual(first);
    expect(first).toContain(0);
    expect(first).toContain(1);
  });

  it('can answer a custom error (e.g. throttling sent as a fault) for a count of calls', async () => {
    emulator.control.addFault({
      operation: 'DescribeGameServerGroup',
      errorType: 'UnauthorizedException',
      count: 1,
    });
    const client = gameLift(emulator.url, { maxAttempts: 3 });
    try {
      const err = await errorOf(
        client.send(new DescribeGameServerGroupCommand({ GameServerGroupName: GROUP })),
      );
      expect(err.name).toBe('UnauthorizedException');
      expect(err.$metadata.attempts).toBe(1);
      await client.send(new DescribeGameServerGroupCommand({ GameServerGroupName: GROUP }));
      expect(emulator.control.faults()).toEqual([]);
    } finally {
      client.destroy();
    }
  });
});
