// Time-driven rules on a fast SimClock, seen through the real SDK and the emulator's hooks:
// claim windows, health timeouts, drains, Spot interruptions and the spot market.
import { afterEach, describe, expect, it } from '@jest/globals';
import {
  ClaimGameServerCommand,
  DeregisterGameServerCommand,
  DescribeGameServerCommand,
  DescribeGameServerInstancesCommand,
  GameLiftClient,
  RegisterGameServerCommand,
  UpdateGameServerCommand,
} from '@aws-sdk/client-gamelift';
import { SimClock } from '../../../sandbox/clock.js';
import {
  startFleetIQEmulator,
  type FleetIQEmulator,
  type FleetIQEmulatorOptions,
} from '../../../sandbox/fleetiq/emulator.js';
import { errorOf, gameLift, silentLogger, waitFor } from './helpers.js';

const GROUP = 'lifecycle';
const running: Array<{ emulator: FleetIQEmulator; client: GameLiftClient }> = [];

async function start(speed: number, options: Partial<FleetIQEmulatorOptions> = {}) {
  const terminated: Array<{ group: string; instanceId: string; reason: string; at: number }> = [];
  const launched: Array<{ group: string; instanceId: string; at: number }> = [];
  const clock = new SimClock({ speed });
  const emulator = await startFleetIQEmulator({
    logger: silentLogger,
    clock,
    rateLimits: false,
    groups: [{ name: GROUP, instances: 4 }],
    onInstanceTerminated: (group, instanceId, reason) => {
      terminated.push({ group, instanceId, reason, at: clock.now() });
    },
    onInstanceLaunched: (group, instanceId) => {
      launched.push({ group, instanceId, at: clock.now() });
    },
    ...options,
  });
  const client = gameLift(emulator.url);
  running.push({ emulator, client });
  const ids = emulator.control.instances({ group: GROUP }).map((i) => i.instanceId);
  return { emulator, client, clock, ids, terminated, launched };
}

afterEach(async () => {
  for (const { emulator, client } of running.splice(0)) {
    client.destroy();
    await emulator.stop();
  }
});

describe('FleetIQ emulator lifecycle on the SimClock', () => {
  it('lets a claim lapse after 60 s of emulator time', async () => {
    const { client, clock, ids } = await start(600, { healthCheckTimeoutSeconds: 3600 });
    await client.send(
      new RegisterGameServerCommand({
        GameServerGroupName: GROUP,
        GameServerId: 'claim-me',
        InstanceId: ids[0],
      }),
    );
    const claim = await client.send(new ClaimGameServerCommand({ GameServerGroupName: GROUP }));
    const claimedAt = claim.GameServer!.LastClaimTime!.getTime();
    await waitFor('the claim to lapse', async () => {
      const { GameServer } = await client.send(
        new DescribeGameServerCommand({ GameServerGroupName: GROUP, GameServerId: 'claim-me' }),
      );
      return GameServer?.ClaimStatus === undefined;
    });
    expect(clock.now() - claimedAt).toBeGreaterThanOrEqual(60_000);
    const again = await client.send(
      new ClaimGameServerCommand({ GameServerGroupName: GROUP, GameServerId: 'claim-me' }),
    );
    expect(again.GameServer?.ClaimStatus).toBe('CLAIMED');
  });

  it('deregisters a game server that stops reporting health, not one that keeps reporting', async () => {
    const { client, clock, ids, emulator } = await start(30, { healthCheckTimeoutSeconds: 30 });
    const silent = await client.send(
      new RegisterGameServerCommand({
        GameServerGroupName: GROUP,
        GameServerId: 'silent',
        InstanceId: ids[0],
      }),
    );
    await client.send(
      new RegisterGameServerCommand({
        GameServerGroupName: GROUP,
        GameServerId: 'chatty',
        InstanceId: ids[1],
      }),
    );
    // Times the emulator recorded: the test's own clock reading lags by the response time.
    const registeredAt = silent.GameServer!.RegistrationTime!.getTime();
    await waitFor('the silent game server to be deregistered', async () => {
      await client.send(
        new UpdateGameServerCommand({
          GameServerGroupName: GROUP,
          GameServerId: 'chatty',
          HealthCheck: 'HEALTHY',
        }),
      );
      const err = await client
        .send(new DescribeGameServerCommand({ GameServerGroupName: GROUP, GameServerId: 'silent' }))
        .then(
          () => undefined,
          (e: Error) => e,
        );
      return err?.name === 'NotFoundException';
    });
    expect(clock.now() - registeredAt).toBeGreaterThanOrEqual(30_000);
    const chatty = await client.send(
      new DescribeGameServerCommand({ GameServerGroupName: GROUP, GameServerId: 'chatty' }),
    );
    expect(chatty.GameServer?.GameServerId).toBe('chatty');
    const event = emulator.control
      .events()
      .find((e) => e.type === 'game-server-deregistered' && e.gameServerId === 'silent');
    expect(event).toMatchObject({ reason: 'health-timeout' });
  });

  it('terminates a DRAINING instance once its last UTILIZED game server is gone, after the delay, and replaces it', async () => {
    const { client, clock, ids, emulator, terminated, launched } = await start(600, {
      drainingTerminationDelaySeconds: 30,
      healthCheckTimeoutSeconds: 3600,
    });
    const target = ids[2];
    await client.send(
      new RegisterGameServerCommand({
        GameServerGroupName: GROUP,
        GameServerId: 'session',
        InstanceId: target,
      }),
    );
    await client.send(
      new UpdateGameServerCommand({
        GameServerGroupName: GROUP,
        GameServerId: 'session',
        UtilizationStatus: 'UTILIZED',
      }),
    );
    emulator.control.setInstanceStatus(target, 'DRAINING');
    // A UTILIZED session holds the instance: several drain delays pass and it is still there.
    const drainStarted = clock.now();
    await waitFor('three drain delays to pass', () => clock.now() - drainStarted > 90_000);
    emulator.control.reconcile();
    expect(terminated).toEqual([]);
    const listed = await client.send(
      new DescribeGameServerInstancesCommand({ GameServerGroupName: GROUP, InstanceIds: [target] }),
    );
    expect(listed.GameServerInstances?.[0].InstanceStatus).toBe('DRAINING');

    await client.send(
      new DeregisterGameServerCommand({ GameServerGroupName: GROUP, GameServerId: 'session' }),
    );
    const idleSince = emulator.control
      .events()
      .find((e) => e.type === 'game-server-deregistered' && e.gameServerId === 'session')!.time;
    await waitFor('onInstanceTerminated', () => terminated.length === 1);
    expect(terminated[0]).toMatchObject({ group: GROUP, instanceId: target, reason: 'drained' });
    expect(terminated[0].at - idleSince).toBeGreaterThanOrEqual(30_000);
    await waitFor('onInstanceLaunched for the replacement', () => launched.length === 1);

    const after = await client.send(new DescribeGameServerInstancesCommand({ GameServerGroupName: GROUP }));
    const statuses = Object.fromEntries(
      after.GameServerInstances!.map((i) => [i.InstanceId, i.InstanceStatus]),
    );
    expect(statuses[target]).toBeUndefined();
    expect(statuses[launched[0].instanceId]).toBe('ACTIVE');
    expect(Object.keys(statuses)).toHaveLength(4);
    const err = await errorOf(
      client.send(
        new RegisterGameServerCommand({
          GameServerGroupName: GROUP,
          GameServerId: 'late',
          InstanceId: target,
        }),
      ),
    );
    expect(err.name).toBe('InvalidRequestException');
  });

  it('terminates a SPOT_TERMINATING instance 2 minutes after the notice even with a session on it', async () => {
    const { client, ids, emulator, terminated } = await start(600, {
      healthCheckTimeoutSeconds: 3600,
    });
    const target = ids[1];
    await client.send(
      new RegisterGameServerCommand({
        GameServerGroupName: GROUP,
        GameServerId: 'doomed',
        InstanceId: target,
      }),
    );
    await client.send(
      new UpdateGameServerCommand({
        GameServerGroupName: GROUP,
        GameServerId: 'doomed',
        UtilizationStatus: 'UTILIZED',
      }),
    );
    const noticeAt = emulator.control.setInstanceStatus(target, 'SPOT_TERMINATING').statusSince;
    await waitFor('onInstanceTerminated', () => terminated.length === 1, 10_000);
    expect(terminated[0]).toMatchObject({ instanceId: target, reason: 'spot-interruption' });
    expect(terminated[0].at - noticeAt).toBeGreaterThanOrEqual(120_000);
    const err = await errorOf(
      client.send(new DescribeGameServerCommand({ GameServerGroupName: GROUP, GameServerId: 'doomed' })),
    );
    expect(err.name).toBe('NotFoundException');
  });

  it('runs a seeded spot market that hits ACTIVE instances at the configured rate until stopped', async () => {
    const { emulator, clock } = await start(600, {
      groups: [{ name: GROUP, instances: 20 }],
      spotTerminationSeconds: 3600,
      drainingTerminationDelaySeconds: 3600,
    });
    const startedAt = clock.now();
    emulator.control.startSpotMarket({ ratePerMinute: 6, pattern: 'regular', spotTerminatingShare: 0.5 });
    await waitFor('five spot market hits', () => emulator.control.spotMarket().hits >= 5);
    emulator.control.stopSpotMarket();
    const hits = emulator.control.spotMarket().hits;
    // One hit per 10 simulated seconds.
    expect(clock.now() - startedAt).toBeGreaterThanOrEqual(hits * 10_000 - 1);
    const hit = emulator.control.instances({ group: GROUP }).filter((i) => i.status !== 'ACTIVE');
    expect(hit).toHaveLength(hits);
    expect(emulator.control.spotMarket().running).toBe(false);
    const changes = emulator.control.events().filter((e) => e.type === 'instance-status-changed');
    expect(changes).toHaveLength(hits);
    for (const c of changes) expect(c).toMatchObject({ from: 'ACTIVE' });
  });

  it('picks the same instances for the same seed', async () => {
    const picks = async () => {
      const { emulator } = await start(600, {
        seed: 99,
        groups: [{ name: GROUP, instances: 20 }],
        spotTerminationSeconds: 3600,
        drainingTerminationDelaySeconds: 3600,
      });
      emulator.control.startSpotMarket({ ratePerMinute: 12 });
      await waitFor('four spot market hits', () => emulator.control.spotMarket().hits >= 4);
      emulator.control.stopSpotMarket();
      return emulator.control
        .events()
        .filter((e) => e.type === 'instance-status-changed')
        .slice(0, 4)
        .map((e) => e.type === 'instance-status-changed' && `${e.instanceId}:${e.to}`);
    };
    const first = await picks();
    expect(await picks()).toEqual(first);
    expect(new Set(first).size).toBe(4);
  });
});
