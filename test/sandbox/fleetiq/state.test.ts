// FleetIQ's rules on the pure state, with time moved by hand: every timing boundary is exact.
import { describe, expect, it } from '@jest/globals';
import { FleetIQError, type FleetIQOperation } from '../../../sandbox/fleetiq/protocol.js';
import {
  ControlError,
  FleetIQState,
  type FleetIQEvent,
  type FleetIQSettings,
} from '../../../sandbox/fleetiq/state.js';
import { validateInput } from '../../../sandbox/fleetiq/validation.js';

const T0 = Date.UTC(2030, 0, 1);

function setup(settings: Partial<FleetIQSettings> = {}, instances = 3) {
  let t = T0;
  const events: FleetIQEvent[] = [];
  const state = new FleetIQState({
    now: () => t,
    seed: 42,
    settings,
    groups: [
      { name: 'g1', instances },
      { name: 'g2', instances: 1 },
    ],
    onEvent: (e) => events.push(e),
  });
  const call = (op: FleetIQOperation, input: Record<string, unknown>): any =>
    state.call(op, validateInput(op, input));
  const fails = (op: FleetIQOperation, input: Record<string, unknown>): FleetIQError => {
    try {
      call(op, input);
    } catch (err) {
      if (err instanceof FleetIQError) return err;
      throw err;
    }
    throw new Error(`${op} was expected to fail`);
  };
  const ids = (group = 'g1') => state.listInstances({ group }).map((i) => i.instanceId);
  const advance = (ms: number) => {
    t += ms;
    state.reconcile();
  };
  const register = (id: string, instanceId = ids()[0], extra: Record<string, unknown> = {}) =>
    call('RegisterGameServer', {
      GameServerGroupName: 'g1',
      GameServerId: id,
      InstanceId: instanceId,
      ...extra,
    }).GameServer;
  return { state, call, fails, ids, advance, register, events, now: () => t };
}

describe('FleetIQ state: groups and instances', () => {
  it('generates EC2-shaped instance ids from the seed, the same for the same seed', () => {
    const a = setup();
    const b = setup();
    const c = new FleetIQState({ now: () => T0, seed: 43, groups: [{ name: 'g1', instances: 3 }] });
    expect(a.ids()).toHaveLength(3);
    for (const id of a.ids()) expect(id).toMatch(/^i-[0-9a-f]{17}$/);
    expect(b.ids()).toEqual(a.ids());
    expect(c.listInstances().map((i) => i.instanceId)).not.toEqual(a.ids());
  });

  it('describes a group with its ARN, protection, balancing and Auto Scaling group, by name or ARN', () => {
    const { call, fails } = setup();
    const out = call('DescribeGameServerGroup', { GameServerGroupName: 'g1' }).GameServerGroup;
    expect(out).toMatchObject({
      GameServerGroupName: 'g1',
      GameServerGroupArn: 'arn:aws:gamelift:us-east-1:123456789012:gameservergroup/g1',
      Status: 'ACTIVE',
      GameServerProtectionPolicy: 'NO_PROTECTION',
      BalancingStrategy: 'SPOT_PREFERRED',
      CreationTime: T0 / 1000,
    });
    expect(out.AutoScalingGroupArn).toMatch(
      /^arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:[0-9a-f-]{36}:autoScalingGroupName\//,
    );
    expect(out.InstanceDefinitions.length).toBeGreaterThanOrEqual(2);
    expect(
      call('DescribeGameServerGroup', { GameServerGroupName: out.GameServerGroupArn }).GameServerGroup
        .GameServerGroupName,
    ).toBe('g1');
    expect(fails('DescribeGameServerGroup', { GameServerGroupName: 'nope' }).type).toBe('NotFoundException');
    // An ARN is only this group's if region and account match too.
    expect(
      fails('DescribeGameServerGroup', {
        GameServerGroupName: 'arn:aws:gamelift:eu-west-1:123456789012:gameservergroup/g1',
      }).type,
    ).toBe('NotFoundException');
  });

  it('rejects bad groups and instance ids on the control side', () => {
    const { state, ids } = setup();
    expect(() => state.createGroup({ name: 'g1' })).toThrow(ControlError);
    expect(() => state.createGroup({ name: 'bad name' })).toThrow(/group name/);
    expect(() => state.addInstances('g1', { instanceIds: ['i-short'] })).toThrow(/does not match/);
    expect(() => state.addInstances('g2', { instanceIds: [ids()[0]] })).toThrow(/already exists/);
    expect(() => state.addInstances('nope', { count: 1 })).toThrow(/not found/);
    expect(() => state.addInstances('g1', { count: -1 })).toThrow(/count/);
    const added = state.addInstances('g1', { instanceIds: ['i-0123456789abcdef0'], count: 1 });
    expect(added.map((i) => i.status)).toEqual(['ACTIVE', 'ACTIVE']);
    expect(added[0].instanceId).toBe('i-0123456789abcdef0');
    expect(state.listInstances({ group: 'g1' })).toHaveLength(5);
  });
});

describe('FleetIQ state: RegisterGameServer / DeregisterGameServer', () => {
  it('registers a game server AVAILABLE with its registration and health check time', () => {
    const { register, ids } = setup();
    const gs = register('gs-1', ids()[0], { ConnectionInfo: '10.0.0.1:7777', GameServerData: '{"map":"x"}' });
    expect(gs).toEqual({
      GameServerGroupName: 'g1',
      GameServerGroupArn: 'arn:aws:gamelift:us-east-1:123456789012:gameservergroup/g1',
      GameServerId: 'gs-1',
      InstanceId: ids()[0],
      ConnectionInfo: '10.0.0.1:7777',
      GameServerData: '{"map":"x"}',
      UtilizationStatus: 'AVAILABLE',
      RegistrationTime: T0 / 1000,
      LastHealthCheckTime: T0 / 1000,
    });
  });

  it('answers a duplicate id with ConflictException, but the same id may live in another group', () => {
    const { register, fails, call, ids } = setup();
    register('gs-1');
    const err = fails('RegisterGameServer', {
      GameServerGroupName: 'g1',
      GameServerId: 'gs-1',
      InstanceId: ids()[1],
    });
    expect(err.type).toBe('ConflictException');
    expect(err.message).toContain('gs-1');
    expect(
      call('RegisterGameServer', {
        GameServerGroupName: 'g2',
        GameServerId: 'gs-1',
        InstanceId: ids('g2')[0],
      }).GameServer.GameServerGroupName,
    ).toBe('g2');
  });

  it('refuses an unknown group (NotFound) and an instance not in the group or terminated (InvalidRequest)', () => {
    const { fails, ids, state } = setup();
    expect(
      fails('RegisterGameServer', { GameServerGroupName: 'nope', GameServerId: 'gs-1', InstanceId: ids()[0] })
        .type,
    ).toBe('NotFoundException');
    const foreign = fails('RegisterGameServer', {
      GameServerGroupName: 'g1',
      GameServerId: 'gs-1',
      InstanceId: ids('g2')[0],
    });
    expect(foreign.type).toBe('InvalidRequestException');
    expect(foreign.message).toMatch(/not part of game server group g1/);
    expect(
      fails('RegisterGameServer', {
        GameServerGroupName: 'g1',
        GameServerId: 'gs-1',
        InstanceId: 'i-00000000000000000',
      }).type,
    ).toBe('InvalidRequestException');
    const gone = ids()[2];
    state.removeInstance(gone);
    const terminated = fails('RegisterGameServer', {
      GameServerGroupName: 'g1',
      GameServerId: 'gs-1',
      InstanceId: gone,
    });
    expect(terminated.type).toBe('InvalidRequestException');
    expect(terminated.message).toMatch(/terminated/);
  });

  it('deregisters, after which the id is unknown and can be registered again', () => {
    const { register, call, fails } = setup();
    register('gs-1');
    expect(call('DeregisterGameServer', { GameServerGroupName: 'g1', GameServerId: 'gs-1' })).toEqual({});
    expect(fails('DescribeGameServer', { GameServerGroupName: 'g1', GameServerId: 'gs-1' }).type).toBe(
      'NotFoundException',
    );
    expect(fails('DeregisterGameServer', { GameServerGroupName: 'g1', GameServerId: 'gs-1' }).type).toBe(
      'NotFoundException',
    );
    expect(register('gs-1').UtilizationStatus).toBe('AVAILABLE');
  });
});

describe('FleetIQ state: UpdateGameServer', () => {
  it('refreshes LastHealthCheckTime on HEALTHY, moves AVAILABLE to UTILIZED, updates data', () => {
    const { register, call, advance } = setup();
    register('gs-1');
    advance(30_000);
    const healthy = call('UpdateGameServer', {
      GameServerGroupName: 'g1',
      GameServerId: 'gs-1',
      HealthCheck: 'HEALTHY',
    }).GameServer;
    expect(healthy.LastHealthCheckTime).toBe((T0 + 30_000) / 1000);
    expect(healthy.RegistrationTime).toBe(T0 / 1000);
    const utilized = call('UpdateGameServer', {
      GameServerGroupName: 'g1',
      GameServerId: 'gs-1',
      UtilizationStatus: 'UTILIZED',
      GameServerData: 'players=4',
    }).GameServer;
    expect(utilized).toMatchObject({ UtilizationStatus: 'UTILIZED', GameServerData: 'players=4' });
    // Without HealthCheck the health time stays.
    expect(utilized.LastHealthCheckTime).toBe((T0 + 30_000) / 1000);
  });

  it('rejects UTILIZED → AVAILABLE and leaves the game server unchanged', () => {
    const { register, call, fails } = setup();
    register('gs-1');
    call('UpdateGameServer', {
      GameServerGroupName: 'g1',
      GameServerId: 'gs-1',
      UtilizationStatus: 'UTILIZED',
    });
    const err = fails('UpdateGameServer', {
      GameServerGroupName: 'g1',
      GameServerId: 'gs-1',
      UtilizationStatus: 'AVAILABLE',
      GameServerData: 'changed',
    });
    expect(err.type).toBe('InvalidRequestException');
    expect(err.message).toMatch(/UTILIZED/);
    const gs = call('DescribeGameServer', { GameServerGroupName: 'g1', GameServerId: 'gs-1' }).GameServer;
    expect(gs.UtilizationStatus).toBe('UTILIZED');
    expect(gs.GameServerData).toBeUndefined();
  });

  it('answers an unknown game server with NotFoundException', () => {
    const { fails } = setup();
    expect(
      fails('UpdateGameServer', { GameServerGroupName: 'g1', GameServerId: 'nope', HealthCheck: 'HEALTHY' })
        .type,
    ).toBe('NotFoundException');
  });
});

describe('FleetIQ state: ClaimGameServer', () => {
  it('claims for 60 s: CLAIMED and LastClaimTime set, re-claim refused, then the claim lapses', () => {
    const { register, call, fails, advance } = setup({ healthCheckTimeoutSeconds: 3600 });
    register('gs-1');
    advance(1000);
    const claimed = call('ClaimGameServer', {
      GameServerGroupName: 'g1',
      GameServerId: 'gs-1',
      GameServerData: 'match=7',
    }).GameServer;
    expect(claimed).toMatchObject({
      ClaimStatus: 'CLAIMED',
      LastClaimTime: (T0 + 1000) / 1000,
      GameServerData: 'match=7',
    });
    expect(fails('ClaimGameServer', { GameServerGroupName: 'g1', GameServerId: 'gs-1' }).type).toBe(
      'ConflictException',
    );
    expect(fails('ClaimGameServer', { GameServerGroupName: 'g1' }).type).toBe('OutOfCapacityException');
    advance(59_999);
    expect(
      call('DescribeGameServer', { GameServerGroupName: 'g1', GameServerId: 'gs-1' }).GameServer.ClaimStatus,
    ).toBe('CLAIMED');
    advance(1);
    const lapsed = call('DescribeGameServer', { GameServerGroupName: 'g1', GameServerId: 'gs-1' }).GameServer;
    expect(lapsed.ClaimStatus).toBeUndefined();
    expect(lapsed.LastClaimTime).toBe((T0 + 1000) / 1000);
    expect(call('ClaimGameServer', { GameServerGroupName: 'g1' }).GameServer.GameServerId).toBe('gs-1');
  });

  it('refuses to claim a UTILIZED game server (Conflict) and finds no capacity in it', () => {
    const { register, call, fails } = setup();
    register('gs-1');
    call('UpdateGameServer', {
      GameServerGroupName: 'g1',
      GameServerId: 'gs-1',
      UtilizationStatus: 'UTILIZED',
    });
    expect(fails('ClaimGameServer', { GameServerGroupName: 'g1', GameServerId: 'gs-1' }).type).toBe(
      'ConflictException',
    );
    expect(fails('ClaimGameServer', { GameServerGroupName: 'g1' }).type).toBe('OutOfCapacityException');
    expect(fails('ClaimGameServer', { GameServerGroupName: 'g1', GameServerId: 'nope' }).type).toBe(
      'NotFoundException',
    );
  });

  it('only claims on DRAINING instances when the filter allows it, never on SPOT_TERMINATING', () => {
    const { register, call, fails, state, ids } = setup();
    const [a, b] = ids();
    register('on-a', a);
    register('on-b', b);
    state.setInstanceStatus(a, 'DRAINING');
    state.setInstanceStatus(b, 'SPOT_TERMINATING');
    const excluded = fails('ClaimGameServer', { GameServerGroupName: 'g1', GameServerId: 'on-a' });
    expect(excluded.type).toBe('ConflictException');
    expect(excluded.message).toMatch(/DRAINING/);
    expect(fails('ClaimGameServer', { GameServerGroupName: 'g1' }).type).toBe('OutOfCapacityException');
    const filter = { InstanceStatuses: ['ACTIVE', 'DRAINING'] };
    expect(
      fails('ClaimGameServer', { GameServerGroupName: 'g1', GameServerId: 'on-b', FilterOption: filter })
        .type,
    ).toBe('ConflictException');
    expect(
      call('ClaimGameServer', { GameServerGroupName: 'g1', FilterOption: filter }).GameServer.GameServerId,
    ).toBe('on-a');
  });

  it('prefers a game server on an ACTIVE instance, then the longest registered', () => {
    const { register, call, state, ids } = setup();
    const [a, b] = ids();
    register('old-draining', a);
    register('first-active', b);
    register('second-active', b);
    state.setInstanceStatus(a, 'DRAINING');
    const filter = { InstanceStatuses: ['ACTIVE', 'DRAINING'] };
    const picks = [1, 2, 3].map(
      () =>
        call('ClaimGameServer', { GameServerGroupName: 'g1', FilterOption: filter }).GameServer.GameServerId,
    );
    expect(picks).toEqual(['first-active', 'second-active', 'old-draining']);
  });
});

describe('FleetIQ state: health timeout', () => {
  it('deregisters a game server that has not reported for the timeout; HEALTHY postpones it', () => {
    const { register, call, fails, advance, events } = setup({ healthCheckTimeoutSeconds: 100 });
    register('quiet');
    register('talker');
    advance(60_000);
    call('UpdateGameServer', { GameServerGroupName: 'g1', GameServerId: 'talker', HealthCheck: 'HEALTHY' });
    advance(39_999);
    expect(
      call('DescribeGameServer', { GameServerGroupName: 'g1', GameServerId: 'quiet' }).GameServer
        .GameServerId,
    ).toBe('quiet');
    advance(1);
    expect(fails('DescribeGameServer', { GameServerGroupName: 'g1', GameServerId: 'quiet' }).type).toBe(
      'NotFoundException',
    );
    expect(
      call('DescribeGameServer', { GameServerGroupName: 'g1', GameServerId: 'talker' }).GameServer
        .GameServerId,
    ).toBe('talker');
    expect(events).toContainEqual(
      expect.objectContaining({
        type: 'game-server-deregistered',
        gameServerId: 'quiet',
        reason: 'health-timeout',
        time: T0 + 100_000,
      }),
    );
    advance(60_000);
    expect(fails('DescribeGameServer', { GameServerGroupName: 'g1', GameServerId: 'talker' }).type).toBe(
      'NotFoundException',
    );
  });

  it('reports when the next transition is due', () => {
    const { register, state } = setup({ healthCheckTimeoutSeconds: 100 });
    expect(state.nextDueAt()).toBe(Infinity);
    register('gs-1');
    expect(state.nextDueAt()).toBe(T0 + 100_000);
  });
});

describe('FleetIQ state: instance lifecycle', () => {
  it('terminates a DRAINING instance only once it has no UTILIZED game server, after the delay, and replaces it', () => {
    const { register, call, state, ids, advance, events } = setup({
      drainingTerminationDelaySeconds: 30,
      healthCheckTimeoutSeconds: 10_000,
    });
    const target = ids()[0];
    register('busy', target);
    register('idle', target);
    call('UpdateGameServer', {
      GameServerGroupName: 'g1',
      GameServerId: 'busy',
      UtilizationStatus: 'UTILIZED',
    });
    state.setInstanceStatus(target, 'DRAINING');
    advance(3_600_000);
    expect(state.getInstance(target)).toMatchObject({ status: 'DRAINING', terminated: false });
    expect(state.getInstance(target)?.terminationDueAt).toBeUndefined();
    const described = call('DescribeGameServerInstances', {
      GameServerGroupName: 'g1',
      InstanceIds: [target],
    });
    expect(described.GameServerInstances).toEqual([
      expect.objectContaining({ InstanceId: target, InstanceStatus: 'DRAINING' }),
    ]);

    call('DeregisterGameServer', { GameServerGroupName: 'g1', GameServerId: 'busy' });
    const drainedAt = T0 + 3_600_000;
    expect(state.getInstance(target)?.terminationDueAt).toBe(drainedAt + 30_000);
    advance(29_999);
    expect(state.getInstance(target)?.terminated).toBe(false);
    advance(1);
    expect(state.getInstance(target)).toMatchObject({
      terminated: true,
      terminationReason: 'drained',
      terminationTime: drainedAt + 30_000,
    });
    // Its game servers left with it, it is no longer described, and a replacement took its place.
    expect(state.gameServerViews({ group: 'g1' })).toEqual([]);
    expect(
      call('DescribeGameServerInstances', { GameServerGroupName: 'g1', InstanceIds: [target] })
        .GameServerInstances,
    ).toEqual([]);
    expect(ids()).toHaveLength(3);
    expect(ids()).not.toContain(target);
    const kinds = events
      .filter((e) => e.type !== 'game-server-registered')
      .map((e) => [e.type, 'reason' in e ? e.reason : undefined]);
    expect(kinds.slice(-4)).toEqual([
      ['game-server-deregistered', 'api'],
      ['game-server-deregistered', 'instance-terminated'],
      ['instance-terminated', 'drained'],
      ['instance-launched', undefined],
    ]);
    expect(events.at(-1)).toMatchObject({ type: 'instance-launched', groupName: 'g1', replaces: target });
  });

  it('restarts the drain countdown if a game server becomes UTILIZED again, and stops it when ACTIVE again', () => {
    const { register, call, state, ids, advance } = setup({
      drainingTerminationDelaySeconds: 30,
      healthCheckTimeoutSeconds: 10_000,
    });
    const target = ids()[0];
    state.setInstanceStatus(target, 'DRAINING');
    advance(20_000);
    register('late', target);
    call('UpdateGameServer', {
      GameServerGroupName: 'g1',
      GameServerId: 'late',
      UtilizationStatus: 'UTILIZED',
    });
    advance(20_000);
    expect(state.getInstance(target)?.terminated).toBe(false);
    state.setInstanceStatus(target, 'ACTIVE');
    call('DeregisterGameServer', { GameServerGroupName: 'g1', GameServerId: 'late' });
    advance(3_600_000);
    expect(state.getInstance(target)).toMatchObject({ status: 'ACTIVE', terminated: false });
  });

  it('terminates SPOT_TERMINATING instances 2 minutes after the notice, UTILIZED or not; the notice is final', () => {
    const { register, call, state, ids, advance } = setup({ healthCheckTimeoutSeconds: 10_000 });
    const target = ids()[1];
    register('playing', target);
    call('UpdateGameServer', {
      GameServerGroupName: 'g1',
      GameServerId: 'playing',
      UtilizationStatus: 'UTILIZED',
    });
    state.setInstanceStatus(target, 'SPOT_TERMINATING');
    expect(() => state.setInstanceStatus(target, 'ACTIVE')).toThrow(/cannot be withdrawn/);
    advance(119_999);
    expect(state.getInstance(target)?.terminated).toBe(false);
    advance(1);
    expect(state.getInstance(target)).toMatchObject({
      terminated: true,
      terminationReason: 'spot-interruption',
    });
    expect(state.gameServerViews()).toEqual([]);
    expect(() => state.setInstanceStatus(target, 'DRAINING')).toThrow(/terminated/);
  });

  it('does not replace when replacements are off, nor after an operator removal', () => {
    const { state, ids, advance } = setup({
      replaceTerminatedInstances: false,
      drainingTerminationDelaySeconds: 1,
    });
    const [a, b] = ids();
    state.setInstanceStatus(a, 'DRAINING');
    advance(1000);
    expect(ids()).toHaveLength(2);
    state.configure({ replaceTerminatedInstances: true });
    state.removeInstance(b);
    expect(ids()).toHaveLength(1);
    expect(state.listInstances({ group: 'g1', includeTerminated: true })).toHaveLength(3);
  });

  it('validates settings changes and applies new delays to running countdowns', () => {
    const { state, ids, advance } = setup({ drainingTerminationDelaySeconds: 600 });
    expect(() => state.configure({ drainingTerminationDelaySeconds: 0 })).toThrow(
      /drainingTerminationDelaySeconds/,
    );
    expect(() => state.configure({ maxPageSize: 1.5 })).toThrow(/maxPageSize/);
    const target = ids()[0];
    state.setInstanceStatus(target, 'DRAINING');
    advance(10_000);
    state.configure({ drainingTerminationDelaySeconds: 5 });
    expect(state.getInstance(target)?.terminated).toBe(true);
  });
});

describe('FleetIQ state: pagination', () => {
  it('pages DescribeGameServerInstances with Limit; NextToken is absent on the last page', () => {
    const { call, ids } = setup({}, 5);
    const seen: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const out = call('DescribeGameServerInstances', {
        GameServerGroupName: 'g1',
        Limit: 2,
        ...(token ? { NextToken: token } : {}),
      });
      seen.push(...out.GameServerInstances.map((i: any) => i.InstanceId));
      token = out.NextToken;
      pages++;
    } while (token);
    expect(pages).toBe(3);
    expect(seen).toEqual(ids());
    // Exactly one full page: no token.
    expect(
      call('DescribeGameServerInstances', { GameServerGroupName: 'g1', Limit: 5 }).NextToken,
    ).toBeUndefined();
  });

  it('neither repeats nor skips instances when the group changes between pages', () => {
    const { call, ids, state } = setup({}, 4);
    const before = ids();
    const first = call('DescribeGameServerInstances', { GameServerGroupName: 'g1', Limit: 2 });
    state.removeInstance(before[0]);
    state.removeInstance(before[2]);
    const [added] = state.addInstances('g1', { count: 1 });
    const second = call('DescribeGameServerInstances', {
      GameServerGroupName: 'g1',
      Limit: 2,
      NextToken: first.NextToken,
    });
    expect(second.GameServerInstances.map((i: any) => i.InstanceId)).toEqual([before[3], added.instanceId]);
  });

  it('filters by InstanceIds (unknown ones are not returned) and clamps Limit to the page cap', () => {
    const { call, ids } = setup({ maxPageSize: 2 }, 4);
    const [a, , c] = ids();
    const out = call('DescribeGameServerInstances', {
      GameServerGroupName: 'g1',
      InstanceIds: [c, 'i-00000000000000000', a, ids('g2')[0]],
    });
    expect(out.GameServerInstances.map((i: any) => i.InstanceId)).toEqual([a, c]);
    const clamped = call('DescribeGameServerInstances', { GameServerGroupName: 'g1', Limit: 100 });
    expect(clamped.GameServerInstances).toHaveLength(2);
    expect(clamped.NextToken).toBeDefined();
  });

  it('accepts only NextTokens it issued, for the same operation, group and listing', () => {
    const { call, fails, register } = setup({}, 3);
    register('gs-1');
    register('gs-2');
    const token = call('DescribeGameServerInstances', { GameServerGroupName: 'g1', Limit: 1 }).NextToken;
    const listToken = call('ListGameServers', { GameServerGroupName: 'g1', Limit: 1 }).NextToken;
    expect(typeof token).toBe('string');
    expect(
      fails('DescribeGameServerInstances', { GameServerGroupName: 'g1', NextToken: 'forged' }).message,
    ).toMatch(/NextToken/);
    expect(fails('DescribeGameServerInstances', { GameServerGroupName: 'g2', NextToken: token }).type).toBe(
      'InvalidRequestException',
    );
    expect(fails('ListGameServers', { GameServerGroupName: 'g1', NextToken: token }).type).toBe(
      'InvalidRequestException',
    );
    expect(
      fails('ListGameServers', { GameServerGroupName: 'g1', NextToken: listToken, SortOrder: 'DESCENDING' })
        .type,
    ).toBe('InvalidRequestException');
    // A token can be used again (the API's tokens are not single-use).
    expect(
      call('DescribeGameServerInstances', { GameServerGroupName: 'g1', NextToken: token })
        .GameServerInstances,
    ).toHaveLength(2);
  });

  it('lists game servers by registration time, ascending or descending, in pages', () => {
    const { call, register, advance } = setup({ healthCheckTimeoutSeconds: 10_000 });
    for (const id of ['gs-a', 'gs-b', 'gs-c']) {
      register(id);
      advance(1000);
    }
    const all = (order?: string) => {
      const out: string[] = [];
      let token: string | undefined;
      do {
        const page = call('ListGameServers', {
          GameServerGroupName: 'g1',
          Limit: 2,
          ...(order ? { SortOrder: order } : {}),
          ...(token ? { NextToken: token } : {}),
        });
        out.push(...page.GameServers.map((g: any) => g.GameServerId));
        token = page.NextToken;
      } while (token);
      return out;
    };
    expect(all()).toEqual(['gs-a', 'gs-b', 'gs-c']);
    expect(all('ASCENDING')).toEqual(['gs-a', 'gs-b', 'gs-c']);
    expect(all('DESCENDING')).toEqual(['gs-c', 'gs-b', 'gs-a']);
    expect(call('ListGameServers', { GameServerGroupName: 'g2' })).toEqual({ GameServers: [] });
  });
});

describe('FleetIQ state on a fast SimClock with the due timer', () => {
  it('applies due transitions on time without any API call', async () => {
    const { SimClock } = await import('../../../sandbox/clock.js');
    const { DueTimer } = await import('../../../sandbox/fleetiq/lifecycle.js');
    const { createLogger } = await import('../../../shared/logger.js');
    const { waitFor } = await import('./helpers.js');
    const clock = new SimClock({ speed: 1000 });
    const events: FleetIQEvent[] = [];
    const state = new FleetIQState({
      now: () => clock.now(),
      groups: [{ name: 'g1', instances: 2 }],
      settings: { healthCheckTimeoutSeconds: 60 },
      onEvent: (e) => events.push(e),
    });
    const timer = new DueTimer(state, clock, createLogger('test', 'silent'));
    timer.start();
    try {
      const [a, b] = state.listInstances().map((i) => i.instanceId);
      const t0 = clock.now();
      state.call(
        'RegisterGameServer',
        validateInput('RegisterGameServer', {
          GameServerGroupName: 'g1',
          GameServerId: 'gs-1',
          InstanceId: a,
        }),
      );
      state.setInstanceStatus(b, 'SPOT_TERMINATING');
      await waitFor(
        'the health timeout and the Spot interruption',
        () =>
          events.some((e) => e.type === 'instance-terminated') &&
          events.some((e) => e.type === 'game-server-deregistered'),
      );
      const deregistered = events.find((e) => e.type === 'game-server-deregistered')!;
      const gone = events.find((e) => e.type === 'instance-terminated')!;
      expect(deregistered.time - t0).toBeGreaterThanOrEqual(60_000);
      expect(gone.time - t0).toBeGreaterThanOrEqual(120_000);
      expect(events.filter((e) => e.type === 'instance-launched' && e.replaces === b)).toHaveLength(1);
    } finally {
      timer.stop();
    }
  });
});
