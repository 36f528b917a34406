// Every FleetIQ operation and rule, driven through the real @aws-sdk/client-gamelift over HTTP.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  ClaimGameServerCommand,
  ConflictException,
  DeregisterGameServerCommand,
  DescribeGameServerCommand,
  DescribeGameServerGroupCommand,
  DescribeGameServerInstancesCommand,
  GameLiftClient,
  InvalidRequestException,
  ListGameServersCommand,
  NotFoundException,
  OutOfCapacityException,
  RegisterGameServerCommand,
  UpdateGameServerCommand,
  paginateDescribeGameServerInstances,
  paginateListGameServers,
} from '@aws-sdk/client-gamelift';
import { startFleetIQEmulator, type FleetIQEmulator } from '../../../sandbox/fleetiq/emulator.js';
import { errorOf, gameLift, silentLogger } from './helpers.js';

let emulator: FleetIQEmulator;
let client: GameLiftClient;
const GROUP = 'sdk-group';
let instanceIds: string[];

beforeAll(async () => {
  emulator = await startFleetIQEmulator({
    logger: silentLogger,
    seed: 11,
    rateLimits: false,
    groups: [
      { name: GROUP, instances: 5, protectionPolicy: 'FULL_PROTECTION', balancingStrategy: 'SPOT_ONLY' },
      { name: 'other-group', instances: 1 },
    ],
  });
  client = gameLift(emulator.url);
  instanceIds = emulator.control.instances({ group: GROUP }).map((i) => i.instanceId);
});

afterAll(async () => {
  client?.destroy();
  await emulator?.stop();
});

describe('FleetIQ emulator through @aws-sdk/client-gamelift', () => {
  it('describes the game server group (timestamps arrive as Dates), by name and by ARN', async () => {
    const { GameServerGroup: g } = await client.send(
      new DescribeGameServerGroupCommand({ GameServerGroupName: GROUP }),
    );
    expect(g).toMatchObject({
      GameServerGroupName: GROUP,
      GameServerGroupArn: `arn:aws:gamelift:us-east-1:123456789012:gameservergroup/${GROUP}`,
      GameServerProtectionPolicy: 'FULL_PROTECTION',
      BalancingStrategy: 'SPOT_ONLY',
      Status: 'ACTIVE',
    });
    expect(g?.AutoScalingGroupArn).toMatch(/^arn:aws:autoscaling:/);
    expect(g?.RoleArn).toMatch(/^arn:aws:iam::123456789012:role\//);
    expect(g?.CreationTime).toBeInstanceOf(Date);
    expect(Math.abs(g!.CreationTime!.getTime() - emulator.clock.now())).toBeLessThan(60_000);
    const byArn = await client.send(
      new DescribeGameServerGroupCommand({ GameServerGroupName: g!.GameServerGroupArn }),
    );
    expect(byArn.GameServerGroup?.GameServerGroupName).toBe(GROUP);
  });

  it('registers, describes, updates, claims and deregisters a game server', async () => {
    const reg = await client.send(
      new RegisterGameServerCommand({
        GameServerGroupName: GROUP,
        GameServerId: 'life-1',
        InstanceId: instanceIds[0],
        ConnectionInfo: '10.1.2.3:7777',
        GameServerData: 'v1',
      }),
    );
    expect(reg.GameServer).toMatchObject({
      GameServerId: 'life-1',
      UtilizationStatus: 'AVAILABLE',
      InstanceId: instanceIds[0],
    });
    expect(reg.GameServer?.RegistrationTime).toBeInstanceOf(Date);
    expect(reg.GameServer?.ClaimStatus).toBeUndefined();

    const claimed = await client.send(
      new ClaimGameServerCommand({ GameServerGroupName: GROUP, GameServerId: 'life-1' }),
    );
    expect(claimed.GameServer).toMatchObject({ ClaimStatus: 'CLAIMED' });
    expect(claimed.GameServer?.LastClaimTime).toBeInstanceOf(Date);

    const again = await errorOf(
      client.send(new ClaimGameServerCommand({ GameServerGroupName: GROUP, GameServerId: 'life-1' })),
    );
    expect(again).toBeInstanceOf(ConflictException);

    const updated = await client.send(
      new UpdateGameServerCommand({
        GameServerGroupName: GROUP,
        GameServerId: 'life-1',
        UtilizationStatus: 'UTILIZED',
        HealthCheck: 'HEALTHY',
        GameServerData: 'v2',
      }),
    );
    expect(updated.GameServer).toMatchObject({ UtilizationStatus: 'UTILIZED', GameServerData: 'v2' });
    expect(updated.GameServer!.LastHealthCheckTime!.getTime()).toBeGreaterThanOrEqual(
      reg.GameServer!.LastHealthCheckTime!.getTime(),
    );

    const back = await errorOf(
      client.send(
        new UpdateGameServerCommand({
          GameServerGroupName: GROUP,
          GameServerId: 'life-1',
          UtilizationStatus: 'AVAILABLE',
        }),
      ),
    );
    expect(back).toBeInstanceOf(InvalidRequestException);
    expect(back.message).toMatch(/UTILIZED/);

    const described = await client.send(
      new DescribeGameServerCommand({ GameServerGroupName: GROUP, GameServerId: 'life-1' }),
    );
    expect(described.GameServer).toMatchObject({
      UtilizationStatus: 'UTILIZED',
      ConnectionInfo: '10.1.2.3:7777',
    });

    await client.send(
      new DeregisterGameServerCommand({ GameServerGroupName: GROUP, GameServerId: 'life-1' }),
    );
    const gone = await errorOf(
      client.send(new DescribeGameServerCommand({ GameServerGroupName: GROUP, GameServerId: 'life-1' })),
    );
    expect(gone).toBeInstanceOf(NotFoundException);
    expect(gone.$metadata.httpStatusCode).toBe(400);
  });

  it('answers the rules’ errors with the modeled exception classes', async () => {
    await client.send(
      new RegisterGameServerCommand({
        GameServerGroupName: GROUP,
        GameServerId: 'dup',
        InstanceId: instanceIds[1],
      }),
    );
    expect(
      await errorOf(
        client.send(
          new RegisterGameServerCommand({
            GameServerGroupName: GROUP,
            GameServerId: 'dup',
            InstanceId: instanceIds[1],
          }),
        ),
      ),
    ).toBeInstanceOf(ConflictException);
    const unknownGroup = await errorOf(
      client.send(
        new RegisterGameServerCommand({
          GameServerGroupName: 'no-such-group',
          GameServerId: 'x-1',
          InstanceId: instanceIds[1],
        }),
      ),
    );
    expect(unknownGroup.name).toBe('NotFoundException');
    const foreignInstance = await errorOf(
      client.send(
        new RegisterGameServerCommand({
          GameServerGroupName: GROUP,
          GameServerId: 'x-2',
          InstanceId: emulator.control.instances({ group: 'other-group' })[0].instanceId,
        }),
      ),
    );
    expect(foreignInstance).toBeInstanceOf(InvalidRequestException);
    expect(
      await errorOf(
        client.send(
          new UpdateGameServerCommand({
            GameServerGroupName: GROUP,
            GameServerId: 'nobody',
            HealthCheck: 'HEALTHY',
          }),
        ),
      ),
    ).toBeInstanceOf(NotFoundException);
    // Claiming from a group where nothing is available.
    expect(
      await errorOf(client.send(new ClaimGameServerCommand({ GameServerGroupName: 'other-group' }))),
    ).toBeInstanceOf(OutOfCapacityException);
    await client.send(new DeregisterGameServerCommand({ GameServerGroupName: GROUP, GameServerId: 'dup' }));
  });

  it('validates inputs server-side (the SDK checks nothing) and names the field', async () => {
    const cases: Array<[Promise<unknown>, RegExp]> = [
      [
        client.send(
          new RegisterGameServerCommand({
            GameServerGroupName: GROUP,
            GameServerId: 'ab',
            InstanceId: instanceIds[0],
          }),
        ),
        /GameServerId/,
      ],
      [
        client.send(
          new RegisterGameServerCommand({
            GameServerGroupName: GROUP,
            GameServerId: 'abc',
            InstanceId: 'i-123',
          }),
        ),
        /InstanceId/,
      ],
      [
        client.send(
          new RegisterGameServerCommand({ GameServerGroupName: GROUP, GameServerId: 'abc' } as any),
        ),
        /'InstanceId'.*must not be null/,
      ],
      [
        client.send(new DescribeGameServerGroupCommand({ GameServerGroupName: 'bad/name' })),
        /GameServerGroupName/,
      ],
      [
        client.send(new DescribeGameServerInstancesCommand({ GameServerGroupName: GROUP, Limit: 0 })),
        /Limit/,
      ],
      [
        client.send(new DescribeGameServerInstancesCommand({ GameServerGroupName: GROUP, InstanceIds: [] })),
        /InstanceIds/,
      ],
      [
        client.send(
          new DescribeGameServerInstancesCommand({ GameServerGroupName: GROUP, NextToken: 'never-issued' }),
        ),
        /NextToken/,
      ],
      [
        client.send(
          new ClaimGameServerCommand({
            GameServerGroupName: GROUP,
            FilterOption: { InstanceStatuses: ['DRAINING'] },
          }),
        ),
        /ACTIVE/,
      ],
      [
        client.send(
          new UpdateGameServerCommand({
            GameServerGroupName: GROUP,
            GameServerId: 'abc',
            UtilizationStatus: 'NOPE' as any,
          }),
        ),
        /UtilizationStatus/,
      ],
      [
        client.send(new ListGameServersCommand({ GameServerGroupName: GROUP, SortOrder: 'SIDEWAYS' as any })),
        /SortOrder/,
      ],
      [
        client.send(
          new UpdateGameServerCommand({
            GameServerGroupName: GROUP,
            GameServerId: 'abc',
            GameServerData: 'x'.repeat(1025),
          }),
        ),
        /GameServerData/,
      ],
    ];
    for (const [p, message] of cases) {
      const err = await errorOf(p);
      expect(err).toBeInstanceOf(InvalidRequestException);
      expect(err.message).toMatch(message);
    }
  });

  it('pages DescribeGameServerInstances with the SDK paginator and filters by InstanceIds', async () => {
    const pages: string[][] = [];
    for await (const page of paginateDescribeGameServerInstances(
      { client, pageSize: 2 },
      { GameServerGroupName: GROUP },
    )) {
      pages.push(page.GameServerInstances!.map((i) => i.InstanceId!));
    }
    expect(pages.map((p) => p.length)).toEqual([2, 2, 1]);
    expect(pages.flat()).toEqual(instanceIds);
    const filtered = await client.send(
      new DescribeGameServerInstancesCommand({
        GameServerGroupName: GROUP,
        InstanceIds: [instanceIds[3], 'i-00000000000000000', instanceIds[1]],
      }),
    );
    expect(
      filtered.GameServerInstances!.map((i) => [i.InstanceId, i.InstanceStatus, i.GameServerGroupName]),
    ).toEqual([
      [instanceIds[1], 'ACTIVE', GROUP],
      [instanceIds[3], 'ACTIVE', GROUP],
    ]);
    expect(filtered.NextToken).toBeUndefined();
  });

  it('lists game servers by registration time with SortOrder and the SDK paginator', async () => {
    for (const [i, id] of ['list-a', 'list-b', 'list-c'].entries()) {
      await client.send(
        new RegisterGameServerCommand({
          GameServerGroupName: GROUP,
          GameServerId: id,
          InstanceId: instanceIds[i],
        }),
      );
    }
    const collect = async (SortOrder?: 'ASCENDING' | 'DESCENDING') => {
      const ids: string[] = [];
      for await (const page of paginateListGameServers(
        { client, pageSize: 2 },
        { GameServerGroupName: GROUP, SortOrder },
      )) {
        ids.push(...page.GameServers!.map((g) => g.GameServerId!));
      }
      return ids;
    };
    expect(await collect('ASCENDING')).toEqual(['list-a', 'list-b', 'list-c']);
    expect(await collect('DESCENDING')).toEqual(['list-c', 'list-b', 'list-a']);
    for (const id of ['list-a', 'list-b', 'list-c']) {
      await client.send(new DeregisterGameServerCommand({ GameServerGroupName: GROUP, GameServerId: id }));
    }
  });

  it('claims on DRAINING instances only when the filter allows, and reports instance statuses', async () => {
    const [draining] = instanceIds.slice(4);
    await client.send(
      new RegisterGameServerCommand({
        GameServerGroupName: GROUP,
        GameServerId: 'drain-1',
        InstanceId: draining,
      }),
    );
    emulator.control.setInstanceStatus(draining, 'DRAINING');
    const status = await client.send(
      new DescribeGameServerInstancesCommand({ GameServerGroupName: GROUP, InstanceIds: [draining] }),
    );
    expect(status.GameServerInstances?.[0].InstanceStatus).toBe('DRAINING');
    expect(
      await errorOf(
        client.send(new ClaimGameServerCommand({ GameServerGroupName: GROUP, GameServerId: 'drain-1' })),
      ),
    ).toBeInstanceOf(ConflictException);
    expect(
      await errorOf(client.send(new ClaimGameServerCommand({ GameServerGroupName: GROUP }))),
    ).toBeInstanceOf(OutOfCapacityException);
    const claimed = await client.send(
      new ClaimGameServerCommand({
        GameServerGroupName: GROUP,
        FilterOption: { InstanceStatuses: ['ACTIVE', 'DRAINING'] },
      }),
    );
    expect(claimed.GameServer?.GameServerId).toBe('drain-1');
    emulator.control.setInstanceStatus(draining, 'ACTIVE');
    await client.send(
      new DeregisterGameServerCommand({ GameServerGroupName: GROUP, GameServerId: 'drain-1' }),
    );
  });

  it('works through the standard configuration chain (AWS_ENDPOINT_URL_GAMELIFT, env credentials and region)', async () => {
    const saved = { ...process.env };
    Object.assign(process.env, {
      AWS_ENDPOINT_URL_GAMELIFT: emulator.url,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'AKIDENV',
      AWS_SECRET_ACCESS_KEY: 'env-secret',
    });
    delete process.env.AWS_PROFILE;
    delete process.env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS;
    const envClient = new GameLiftClient({ maxAttempts: 1 });
    try {
      const before = emulator.control.callCounts().DescribeGameServerGroup.calls;
      const out = await envClient.send(new DescribeGameServerGroupCommand({ GameServerGroupName: GROUP }));
      expect(out.GameServerGroup?.GameServerGroupName).toBe(GROUP);
      expect(emulator.control.callCounts().DescribeGameServerGroup.calls).toBe(before + 1);
    } finally {
      envClient.destroy();
      for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
      Object.assign(process.env, saved);
    }
  });
});
