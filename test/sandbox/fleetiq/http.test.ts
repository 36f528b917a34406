// The HTTP surface below the SDK: raw awsJson1_1 requests the SDK would never send, and the
// /_emulator/ control endpoints.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DescribeGameServerInstancesCommand } from '@aws-sdk/client-gamelift';
import { startFleetIQEmulator, type FleetIQEmulator } from '../../../sandbox/fleetiq/emulator.js';
import { gameLift, silentLogger, waitFor } from './helpers.js';

let emulator: FleetIQEmulator;
const terminated: string[] = [];

beforeAll(async () => {
  emulator = await startFleetIQEmulator({
    logger: silentLogger,
    seed: 3,
    groups: [{ name: 'web', instances: 2 }],
    onInstanceTerminated: (_group, instanceId) => {
      terminated.push(instanceId);
    },
  });
});

afterAll(async () => {
  await emulator?.stop();
});

async function aws(
  target: string | undefined,
  body: string,
  init: { method?: string; path?: string; contentType?: string } = {},
) {
  const headers: Record<string, string> = {
    'content-type': init.contentType ?? 'application/x-amz-json-1.1',
  };
  if (target !== undefined) headers['x-amz-target'] = target;
  const res = await fetch(`${emulator.url}${init.path ?? '/'}`, {
    method: init.method ?? 'POST',
    headers,
    ...(init.method === 'GET' ? {} : { body }),
  });
  return {
    status: res.status,
    body: (await res.json()) as { __type?: string; message?: string; [k: string]: unknown },
  };
}

async function control(method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown) {
  const res = await fetch(`${emulator.url}/_emulator${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text) as any };
}

describe('awsJson1_1 errors over HTTP', () => {
  it('answers a well-formed raw call', async () => {
    const r = await aws('GameLift.DescribeGameServerGroup', '{"GameServerGroupName":"web"}');
    expect(r.status).toBe(200);
    expect((r.body.GameServerGroup as { GameServerGroupName: string }).GameServerGroupName).toBe('web');
  });

  it.each([
    [
      'malformed JSON',
      'GameLift.DescribeGameServerGroup',
      '{"GameServerGroupName":',
      {},
      'SerializationException',
      /not valid JSON/,
    ],
    ['missing target', undefined, '{}', {}, 'InvalidRequestException', /x-amz-target/],
    ['garbled target', 'Nonsense', '{}', {}, 'InvalidRequestException', /garbled/],
    [
      'unknown operation',
      'GameLift.CreateGameServerGroup',
      '{}',
      {},
      'UnknownOperationException',
      /CreateGameServerGroup/,
    ],
    [
      'wrong method',
      'GameLift.DescribeGameServerGroup',
      '',
      { method: 'GET' },
      'InvalidRequestException',
      /POST \//,
    ],
    [
      'wrong path',
      'GameLift.DescribeGameServerGroup',
      '{}',
      { path: '/other' },
      'InvalidRequestException',
      /POST \//,
    ],
    [
      'wrong field type',
      'GameLift.DescribeGameServerInstances',
      '{"GameServerGroupName":"web","Limit":"10"}',
      {},
      'SerializationException',
      /Limit/,
    ],
    ['null body', 'GameLift.DescribeGameServerGroup', 'null', {}, 'SerializationException', /JSON object/],
  ])('answers %s with 400 and a __type', async (_name, target, body, init, type, message) => {
    const r = await aws(target, body, init);
    expect(r.status).toBe(400);
    expect(r.body.__type).toBe(type);
    expect(r.body.message).toMatch(message);
  });

  it('refuses an oversized body and keeps serving', async () => {
    const r = await aws(
      'GameLift.DescribeGameServerGroup',
      JSON.stringify({ GameServerGroupName: 'x'.repeat(2 * 1024 * 1024) }),
    );
    expect(r.status).toBe(400);
    expect(r.body.__type).toBe('SerializationException');
    expect((await aws('GameLift.DescribeGameServerGroup', '{"GameServerGroupName":"web"}')).status).toBe(200);
  });
});

describe('/_emulator control endpoints', () => {
  it('inspects state, groups, clock and metrics', async () => {
    const state = await control('GET', '/state');
    expect(state.status).toBe(200);
    expect(state.body.groups.map((g: { name: string }) => g.name)).toEqual(['web']);
    expect(state.body.instances).toHaveLength(2);
    expect(state.body.settings.spotTerminationSeconds).toBe(120);
    expect((await control('GET', '/clock')).body.speed).toBe(1);
    const metrics = await fetch(`${emulator.url}/_emulator/metrics`);
    expect(await metrics.text()).toContain('fleetiq_emulator_calls_total');
  });

  it('adds instances, changes their status and terminates them (firing the hook)', async () => {
    const added = await control('POST', '/instances', { group: 'web', count: 2 });
    expect(added.status).toBe(200);
    expect(added.body.instances).toHaveLength(2);
    const [a, b] = added.body.instances.map((i: { instanceId: string }) => i.instanceId);
    const drained = await control('POST', '/instances/status', { instanceId: a, status: 'DRAINING' });
    expect(drained.body.instance).toMatchObject({ status: 'DRAINING', terminationDueAt: expect.any(Number) });
    const client = gameLift(emulator.url);
    try {
      const seen = await client.send(
        new DescribeGameServerInstancesCommand({ GameServerGroupName: 'web', InstanceIds: [a] }),
      );
      expect(seen.GameServerInstances?.[0].InstanceStatus).toBe('DRAINING');
    } finally {
      client.destroy();
    }
    const removed = await control('POST', '/instances/terminate', { instanceId: b });
    expect(removed.body.instance).toMatchObject({ terminated: true, terminationReason: 'removed' });
    await waitFor('onInstanceTerminated', () => terminated.includes(b));
    const listed = await control('GET', '/instances?group=web&status=DRAINING');
    expect(listed.body.instances.map((i: { instanceId: string }) => i.instanceId)).toEqual([a]);
    const withTerminated = await control('GET', '/instances?group=web&includeTerminated=true');
    expect(withTerminated.body.instances).toHaveLength(4);
  });

  it('answers bad control input with a clear 4xx', async () => {
    const cases: Array<[Awaited<ReturnType<typeof control>>, number, RegExp]> = [
      [await control('POST', '/instances', { group: 'nope', count: 1 }), 404, /nope/],
      [await control('POST', '/instances', { group: 'web', count: 'many' }), 400, /count/],
      [await control('POST', '/instances', '{broken'), 400, /not valid JSON/],
      [
        await control('POST', '/instances/status', { instanceId: 'i-00000000000000000', status: 'DRAINING' }),
        404,
        /not found/,
      ],
      [await control('POST', '/instances/status', { instanceId: 'x', status: 'MELTING' }), 400, /status/],
      [await control('POST', '/instances/status', {}), 400, /instanceId is required/],
      [await control('GET', '/instances?status=MELTING'), 400, /status/],
      [await control('POST', '/spot-market/start', { ratePerMinute: -1 }), 400, /ratePerMinute/],
      [await control('POST', '/spot-market/start', { ratePerMinute: 1, groups: ['nope'] }), 400, /groups/],
      [await control('POST', '/faults', { operation: 'Nope' }), 400, /operation/],
      [await control('POST', '/faults/remove', { id: 999 }), 404, /999/],
      [
        await control('POST', '/rate-limits', { operation: 'ListGameServers', ratePerSecond: 0, burst: 1 }),
        400,
        /ListGameServers/,
      ],
      [
        await control('POST', '/rate-limits', { operation: 'Nope', ratePerSecond: 1, burst: 1 }),
        400,
        /operation/,
      ],
      [
        await control('POST', '/settings', { healthCheckTimeoutSeconds: -5 }),
        400,
        /healthCheckTimeoutSeconds/,
      ],
      [await control('POST', '/groups', { name: 'web' }), 409, /already exists/],
      [await control('PUT', '/calls'), 405, /PUT not allowed/],
      [await control('GET', '/nothing-here'), 404, /no control endpoint/],
    ];
    for (const [r, status, message] of cases) {
      expect({ status: r.status, error: r.body.error }).toEqual({
        status,
        error: expect.stringMatching(message),
      });
    }
  });

  it('counts calls, configures faults and rate limits, runs the spot market', async () => {
    await control('POST', '/calls/reset');
    const fault = await control('POST', '/faults', { operation: 'DescribeGameServerGroup', count: 1 });
    expect(fault.body.fault).toMatchObject({ id: expect.any(Number), hits: 0, kind: 'error' });
    expect((await aws('GameLift.DescribeGameServerGroup', '{"GameServerGroupName":"web"}')).status).toBe(500);
    expect((await aws('GameLift.DescribeGameServerGroup', '{"GameServerGroupName":"web"}')).status).toBe(200);
    const calls = await control('GET', '/calls');
    expect(calls.body.calls.DescribeGameServerGroup).toMatchObject({ calls: 2, faulted: 1, succeeded: 1 });

    await control('POST', '/rate-limits', {
      operation: 'DescribeGameServerGroup',
      ratePerSecond: 0.001,
      burst: 1,
    });
    expect((await aws('GameLift.DescribeGameServerGroup', '{"GameServerGroupName":"web"}')).status).toBe(200);
    const throttled = await aws('GameLift.DescribeGameServerGroup', '{"GameServerGroupName":"web"}');
    expect(throttled).toEqual({
      status: 400,
      body: { __type: 'ThrottlingException', message: 'Rate exceeded' },
    });
    await control('POST', '/rate-limits', { disableAll: true });
    expect((await control('GET', '/rate-limits')).body.rateLimits.DescribeGameServerGroup).toBeNull();
    expect((await aws('GameLift.DescribeGameServerGroup', '{"GameServerGroupName":"web"}')).status).toBe(200);

    const started = await control('POST', '/spot-market/start', { ratePerMinute: 2, groups: ['web'] });
    expect(started.body.spotMarket).toMatchObject({
      running: true,
      options: { ratePerMinute: 2, groups: ['web'] },
    });
    expect((await control('POST', '/spot-market/stop')).body.spotMarket.running).toBe(false);

    const created = await control('POST', '/groups', {
      name: 'batch',
      instances: 1,
      protectionPolicy: 'FULL_PROTECTION',
    });
    expect(created.body.group).toMatchObject({
      name: 'batch',
      protectionPolicy: 'FULL_PROTECTION',
      instanceCount: 1,
    });
    const settings = await control('POST', '/settings', { drainingTerminationDelaySeconds: 5 });
    expect(settings.body.settings.drainingTerminationDelaySeconds).toBe(5);
    const events = await control('GET', '/events?since=0');
    expect(events.body.events.some((e: { type: string }) => e.type === 'instance-launched')).toBe(true);
  });
});
