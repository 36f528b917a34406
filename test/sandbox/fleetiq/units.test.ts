// The pure pieces: input constraints, the awsJson1_1 envelope, token buckets and fault decisions.
import { describe, expect, it } from '@jest/globals';
import { SeededRandom } from '../../../sandbox/clock.js';
import { FaultInjector } from '../../../sandbox/fleetiq/faults.js';
import {
  FleetIQError,
  parseCall,
  parseSdkAttempt,
  toEpochSeconds,
  type FleetIQOperation,
} from '../../../sandbox/fleetiq/protocol.js';
import { DEFAULT_RATE_LIMITS, OperationThrottle, TokenBucket } from '../../../sandbox/fleetiq/throttle.js';
import { validateInput } from '../../../sandbox/fleetiq/validation.js';

function rejection(op: FleetIQOperation, input: Record<string, unknown>): FleetIQError {
  try {
    validateInput(op, input);
  } catch (err) {
    if (err instanceof FleetIQError) return err;
    throw err;
  }
  throw new Error(`expected ${JSON.stringify(input)} to be rejected`);
}

const G = { GameServerGroupName: 'group-1' };
const ID = 'i-0123456789abcdefA';

describe('validation', () => {
  it.each<[string, FleetIQOperation, Record<string, unknown>, string, RegExp]>([
    [
      'missing group',
      'DescribeGameServerGroup',
      {},
      'InvalidRequestException',
      /'GameServerGroupName'.*must not be null/,
    ],
    [
      'empty group',
      'DescribeGameServerGroup',
      { GameServerGroupName: '' },
      'InvalidRequestException',
      /GameServerGroupName.*length greater than or equal to 1/,
    ],
    [
      'group too long',
      'DescribeGameServerGroup',
      { GameServerGroupName: 'a'.repeat(257) },
      'InvalidRequestException',
      /GameServerGroupName.*less than or equal to 256/,
    ],
    [
      'group bad characters',
      'DescribeGameServerGroup',
      { GameServerGroupName: 'my group' },
      'InvalidRequestException',
      /GameServerGroupName/,
    ],
    [
      'group bad ARN',
      'DescribeGameServerGroup',
      { GameServerGroupName: 'arn:aws:gamelift:us-east-1:1:fleet/x' },
      'InvalidRequestException',
      /GameServerGroupName/,
    ],
    [
      'group not a string',
      'DescribeGameServerGroup',
      { GameServerGroupName: 7 },
      'SerializationException',
      /GameServerGroupName.*string/,
    ],
    [
      'id too short',
      'DescribeGameServer',
      { ...G, GameServerId: 'ab' },
      'InvalidRequestException',
      /GameServerId.*greater than or equal to 3/,
    ],
    [
      'id too long',
      'DescribeGameServer',
      { ...G, GameServerId: 'a'.repeat(129) },
      'InvalidRequestException',
      /GameServerId.*less than or equal to 128/,
    ],
    [
      'id bad characters',
      'DeregisterGameServer',
      { ...G, GameServerId: 'gs_1' },
      'InvalidRequestException',
      /GameServerId.*pattern/,
    ],
    [
      'id missing',
      'UpdateGameServer',
      { ...G },
      'InvalidRequestException',
      /'GameServerId'.*must not be null/,
    ],
    [
      'instance id missing',
      'RegisterGameServer',
      { ...G, GameServerId: 'gs-1' },
      'InvalidRequestException',
      /'InstanceId'.*must not be null/,
    ],
    [
      'instance id 16 chars',
      'RegisterGameServer',
      { ...G, GameServerId: 'gs-1', InstanceId: 'i-0123456789abcdef' },
      'InvalidRequestException',
      /InstanceId/,
    ],
    [
      'instance id bad chars',
      'RegisterGameServer',
      { ...G, GameServerId: 'gs-1', InstanceId: 'i-0123456789abcdef_' },
      'InvalidRequestException',
      /InstanceId.*pattern/,
    ],
    [
      'connection info empty',
      'RegisterGameServer',
      { ...G, GameServerId: 'gs-1', InstanceId: ID, ConnectionInfo: '' },
      'InvalidRequestException',
      /ConnectionInfo/,
    ],
    [
      'connection info too long',
      'RegisterGameServer',
      { ...G, GameServerId: 'gs-1', InstanceId: ID, ConnectionInfo: 'x'.repeat(513) },
      'InvalidRequestException',
      /ConnectionInfo.*512/,
    ],
    [
      'data too long',
      'UpdateGameServer',
      { ...G, GameServerId: 'gs-1', GameServerData: 'x'.repeat(1025) },
      'InvalidRequestException',
      /GameServerData.*1024/,
    ],
    [
      'utilization enum',
      'UpdateGameServer',
      { ...G, GameServerId: 'gs-1', UtilizationStatus: 'BUSY' },
      'InvalidRequestException',
      /UtilizationStatus.*AVAILABLE, UTILIZED/,
    ],
    [
      'health enum',
      'UpdateGameServer',
      { ...G, GameServerId: 'gs-1', HealthCheck: 'SICK' },
      'InvalidRequestException',
      /HealthCheck.*HEALTHY/,
    ],
    ['sort enum', 'ListGameServers', { ...G, SortOrder: 'RANDOM' }, 'InvalidRequestException', /SortOrder/],
    [
      'limit zero',
      'ListGameServers',
      { ...G, Limit: 0 },
      'InvalidRequestException',
      /Limit.*greater than or equal to 1/,
    ],
    [
      'limit fractional',
      'DescribeGameServerInstances',
      { ...G, Limit: 1.5 },
      'SerializationException',
      /Limit.*integer/,
    ],
    [
      'token empty',
      'DescribeGameServerInstances',
      { ...G, NextToken: '' },
      'InvalidRequestException',
      /NextToken/,
    ],
    [
      'token too long',
      'ListGameServers',
      { ...G, NextToken: 'x'.repeat(1025) },
      'InvalidRequestException',
      /NextToken.*1024/,
    ],
    [
      'instance ids empty',
      'DescribeGameServerInstances',
      { ...G, InstanceIds: [] },
      'InvalidRequestException',
      /InstanceIds.*between 1 and 20/,
    ],
    [
      'instance ids 21',
      'DescribeGameServerInstances',
      { ...G, InstanceIds: Array(21).fill(ID) },
      'InvalidRequestException',
      /InstanceIds.*between 1 and 20/,
    ],
    [
      'instance ids bad entry',
      'DescribeGameServerInstances',
      { ...G, InstanceIds: [ID, 'i-1'] },
      'InvalidRequestException',
      /InstanceIds\.2/,
    ],
    [
      'instance ids not a list',
      'DescribeGameServerInstances',
      { ...G, InstanceIds: ID },
      'SerializationException',
      /InstanceIds.*list/,
    ],
    [
      'filter without ACTIVE',
      'ClaimGameServer',
      { ...G, FilterOption: { InstanceStatuses: ['DRAINING'] } },
      'InvalidRequestException',
      /InstanceStatuses must include ACTIVE/,
    ],
    [
      'filter empty',
      'ClaimGameServer',
      { ...G, FilterOption: { InstanceStatuses: [] } },
      'InvalidRequestException',
      /must include ACTIVE/,
    ],
    [
      'filter bad enum',
      'ClaimGameServer',
      { ...G, FilterOption: { InstanceStatuses: ['ACTIVE', 'SPOT_TERMINATING'] } },
      'InvalidRequestException',
      /InstanceStatuses\.2.*ACTIVE, DRAINING/,
    ],
  ])('rejects %s', (_name, op, input, type, message) => {
    const err = rejection(op, input);
    expect(err.type).toBe(type);
    expect(err.status).toBe(400);
    expect(err.message).toMatch(message);
  });

  it('reports every violation of a request at once', () => {
    const err = rejection('RegisterGameServer', {
      GameServerGroupName: 'g',
      GameServerId: 'x',
      InstanceId: 'nope',
    });
    expect(err.message).toMatch(/^2 validation errors detected: .*GameServerId.*InstanceId/);
  });

  it('accepts valid inputs, group ARNs included, and drops unknown members', () => {
    expect(
      validateInput('ClaimGameServer', {
        GameServerGroupName: 'arn:aws:gamelift:us-east-1:123456789012:gameservergroup/group-1',
        FilterOption: { InstanceStatuses: ['ACTIVE', 'DRAINING'] },
        Unknown: 1,
      }),
    ).toEqual({
      GameServerGroupName: 'arn:aws:gamelift:us-east-1:123456789012:gameservergroup/group-1',
      FilterOption: { InstanceStatuses: ['ACTIVE', 'DRAINING'] },
    });
    expect(
      validateInput('DescribeGameServerInstances', { ...G, InstanceIds: [ID], Limit: 1, NextToken: 't' }),
    ).toEqual({
      ...G,
      InstanceIds: [ID],
      Limit: 1,
      NextToken: 't',
    });
  });
});

describe('awsJson1_1 envelope', () => {
  const base = {
    method: 'POST',
    path: '/',
    headers: {
      'x-amz-target': 'GameLift.DescribeGameServerGroup',
      'content-type': 'application/x-amz-json-1.1',
    },
    body: '{"GameServerGroupName":"g"}',
  };
  const fail = (over: Partial<typeof base>): FleetIQError => {
    try {
      parseCall({ ...base, ...over });
    } catch (err) {
      return err as FleetIQError;
    }
    throw new Error('expected rejection');
  };

  it('reads the operation, input and SDK attempt', () => {
    const call = parseCall({ ...base, headers: { ...base.headers, 'amz-sdk-request': 'attempt=3; max=5' } });
    expect(call).toMatchObject({
      operation: 'DescribeGameServerGroup',
      input: { GameServerGroupName: 'g' },
      attempt: 3,
    });
    expect(parseCall({ ...base, body: '' }).input).toEqual({});
  });

  it.each<[string, Partial<typeof base>, string, RegExp]>([
    ['wrong method', { method: 'GET' }, 'InvalidRequestException', /POST \//],
    ['wrong path', { path: '/v1' }, 'InvalidRequestException', /POST \//],
    [
      'missing target',
      { headers: { 'content-type': 'application/x-amz-json-1.1' } as any },
      'InvalidRequestException',
      /missing x-amz-target/,
    ],
    [
      'garbled target',
      { headers: { 'x-amz-target': 'DescribeGameServerGroup' } as any },
      'InvalidRequestException',
      /garbled x-amz-target/,
    ],
    [
      'unknown operation',
      { headers: { 'x-amz-target': 'GameLift.CreateFleet' } as any },
      'UnknownOperationException',
      /CreateFleet is not served/,
    ],
    [
      'wrong content type',
      { headers: { ...base.headers, 'content-type': 'text/plain' } },
      'SerializationException',
      /content-type/,
    ],
    ['malformed JSON', { body: '{"GameServerGroupName":' }, 'SerializationException', /not valid JSON/],
    ['JSON array', { body: '[1]' }, 'SerializationException', /JSON object/],
  ])('rejects %s with 400', (_name, over, type, message) => {
    const err = fail(over);
    expect(err.type).toBe(type);
    expect(err.status).toBe(400);
    expect(err.message).toMatch(message);
  });

  it('parses attempt headers defensively and writes timestamps as epoch seconds', () => {
    expect(parseSdkAttempt(undefined)).toBe(1);
    expect(parseSdkAttempt('attempt=2; max=3')).toBe(2);
    expect(parseSdkAttempt('ttl=x; attempt=4; max=4')).toBe(4);
    expect(parseSdkAttempt('garbage')).toBe(1);
    expect(parseSdkAttempt('attempt=0')).toBe(1);
    expect(toEpochSeconds(1469498468057)).toBe(1469498468.057);
    expect(new FleetIQError('InternalServiceException', 'x').status).toBe(500);
  });
});

describe('throttle', () => {
  it('lets a burst through, then refills at the rate (real time, injected here)', () => {
    let t = 0;
    const bucket = new TokenBucket({ ratePerSecond: 10, burst: 3 }, () => t);
    expect([1, 2, 3, 4].map(() => bucket.tryTake())).toEqual([true, true, true, false]);
    t += 100;
    expect(bucket.tryTake()).toBe(true);
    expect(bucket.tryTake()).toBe(false);
    t += 10_000;
    expect([1, 2, 3, 4].map(() => bucket.tryTake())).toEqual([true, true, true, false]);
  });

  it('keeps defaults per operation, can drop one or all, and rejects bad limits', () => {
    const t = 0;
    const throttle = new OperationThrottle(
      { DescribeGameServer: null, ListGameServers: { ratePerSecond: 1, burst: 1 } },
      () => t,
    );
    expect(throttle.limits().DescribeGameServerInstances).toEqual(
      DEFAULT_RATE_LIMITS.DescribeGameServerInstances,
    );
    expect(throttle.limits().DescribeGameServer).toBeNull();
    expect(Array.from({ length: 500 }, () => throttle.admit('DescribeGameServer')).every(Boolean)).toBe(true);
    expect([throttle.admit('ListGameServers'), throttle.admit('ListGameServers')]).toEqual([true, false]);
    const instances = Array.from({ length: 100 }, () => throttle.admit('DescribeGameServerInstances'));
    expect(instances.filter(Boolean)).toHaveLength(DEFAULT_RATE_LIMITS.DescribeGameServerInstances.burst);
    expect(() => throttle.set('ListGameServers', { ratePerSecond: 0, burst: 1 })).toThrow(/ListGameServers/);
    expect(new OperationThrottle(false).limits().UpdateGameServer).toBeNull();
  });
});

describe('faults', () => {
  it('hits only the given attempts, at most count times', () => {
    const f = new FaultInjector(new SeededRandom(1));
    const rule = f.add({ operation: 'DescribeGameServer', attempts: [1], count: 2 });
    expect(f.decide('DescribeGameServerGroup', 1)).toBeUndefined();
    expect(f.decide('DescribeGameServer', 2)).toBeUndefined();
    expect(f.decide('DescribeGameServer', 1)).toMatchObject({
      kind: 'error',
      errorType: 'InternalServiceException',
      httpStatus: 500,
      ruleId: rule.id,
    });
    expect(f.list()[0].hits).toBe(1);
    expect(f.decide('DescribeGameServer', 1)).toBeDefined();
    expect(f.decide('DescribeGameServer', 1)).toBeUndefined();
    expect(f.list()).toEqual([]);
  });

  it('draws probabilities from the seed, so the same seed hits the same calls', () => {
    const pattern = (seed: number) => {
      const f = new FaultInjector(new SeededRandom(seed));
      f.add({ operation: '*', probability: 0.3 });
      return Array.from({ length: 200 }, () => (f.decide('UpdateGameServer', 1) ? 1 : 0));
    };
    const a = pattern(9);
    expect(pattern(9)).toEqual(a);
    const hits = a.reduce((s: number, x) => s + x, 0);
    expect(hits).toBeGreaterThan(30);
    expect(hits).toBeLessThan(90);
  });

  it('describes hangs and custom errors, and rejects malformed rules naming the field', () => {
    const f = new FaultInjector(new SeededRandom(1));
    f.add({ operation: 'ClaimGameServer', kind: 'hang', delayMs: 250 });
    expect(f.decide('ClaimGameServer', 1)).toMatchObject({ kind: 'hang', delayMs: 250 });
    f.clear();
    f.add({ operation: 'ClaimGameServer', errorType: 'ThrottlingException' });
    expect(f.decide('ClaimGameServer', 1)).toMatchObject({
      errorType: 'ThrottlingException',
      httpStatus: 400,
    });
    expect(() => f.add({ operation: 'Nope' as any })).toThrow(/operation/);
    expect(() => f.add({ operation: '*', probability: 2 })).toThrow(/probability/);
    expect(() => f.add({ operation: '*', attempts: [0] })).toThrow(/attempts/);
    expect(() => f.add({ operation: '*', httpStatus: 200 })).toThrow(/httpStatus/);
    expect(() => f.add({ operation: '*', bogus: 1 } as any)).toThrow(/bogus/);
  });
});
