// The agent is restart-safe: stopping it (SIGTERM) never deregisters, a new agent resumes a drain from
// what the Node records at any phase, and with Redis down it learns the status from FleetIQ itself.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  DRAIN_TAINT,
  DRAIN_TOLERATION,
  INSTANCE_STATUS_LABEL,
  type InstanceStatus,
} from '../../shared/contract.js';
import {
  DRAIN_PHASE_ANNOTATION,
  drainRecordAnnotations,
  type DrainRecord,
} from '../../shared/drain-contract.js';
import {
  getGameServer,
  getNode,
  getPod,
  instanceIds,
  nodeEventReasons,
  startWorld,
  waitFor,
  type World,
} from './agent-support.js';
import { createGameServer, createNode, setGameServerState } from '../../sandbox/system/agent-fixtures.js';
import { TEST_KUBE_START_MS } from '../helpers/test-kube.js';

const IDS = instanceIds('r', 12);
let w: World;

beforeAll(async () => {
  w = await startWorld({ instanceIds: IDS });
}, TEST_KUBE_START_MS);

afterAll(async () => {
  await w?.stop();
});

const phaseOf = async (node: string) =>
  (await getNode(w.admin, node)).metadata.annotations?.[DRAIN_PHASE_ANNOTATION];
const registrations = (id: string) =>
  w.fleetiq.control.events().filter((e) => e.type === 'game-server-registered' && e.instanceId === id).length;

/** A node as an agent that died in `record.phase` left it. */
async function nodeLeftIn(
  name: string,
  id: string,
  record: DrainRecord,
  status: InstanceStatus,
): Promise<void> {
  const tainted =
    record.phase === 'Tainted' || record.phase === 'SpotEvicting' || record.phase === 'Deregistered';
  const annotations = Object.fromEntries(
    Object.entries(drainRecordAnnotations(record)).filter((e): e is [string, string] => e[1] !== null),
  );
  await createNode(w.admin, name, id, {
    unschedulable: true,
    annotations,
    labels: { [INSTANCE_STATUS_LABEL]: status },
    ...(tainted ? { taints: [{ ...DRAIN_TAINT }] } : {}),
  });
}

describe('stopping the agent', () => {
  it('never deregisters; a new agent resumes the drain where it was, without repeating it', async () => {
    const id = IDS[0];
    const node = 'node-sigterm';
    await createNode(w.admin, node, id);
    await createGameServer(w.admin, 'sigterm-alloc', node, 'Allocated', { tolerates: true });
    await w.publisher.publish(id, 'ACTIVE');
    const first = await w.startAgent(node);
    await waitFor('registered and UTILIZED', () => w.registered(id)?.utilizationStatus === 'UTILIZED');
    await w.publisher.publish(id, 'DRAINING');
    await waitFor('Tainted', async () => (await phaseOf(node)) === 'Tainted');

    await first.stop();
    expect(first.ready()).toBe('stopping');
    expect(w.registered(id)).toBeDefined();
    const lastReport = w.registered(id)!.lastHealthCheckTime;

    const second = await w.startAgent(node);
    await waitFor('resumed at Tainted', () => second.phase() === 'Tainted');
    await waitFor('health reports again', () => w.registered(id)!.lastHealthCheckTime > lastReport);
    await setGameServerState(w.admin, 'sigterm-alloc', 'Shutdown');
    await waitFor('deregistered by the new agent', () => w.registered(id) === undefined);
    const reasons = await nodeEventReasons(w.admin, node);
    expect(reasons.filter((r) => r === 'FleetIQDraining')).toHaveLength(1);
    expect(reasons.filter((r) => r === 'Cordoned')).toHaveLength(1);
  });

  it('stopped at an arbitrary point of a drain, a new agent completes it', async () => {
    const id = IDS[1];
    const node = 'node-killed';
    await createNode(w.admin, node, id);
    for (let i = 0; i < 6; i++) await createGameServer(w.admin, `killed-ready-${i}`, node, 'Ready');
    await createGameServer(w.admin, 'killed-alloc', node, 'Allocated');
    await w.publisher.publish(id, 'DRAINING');
    const first = await w.startAgent(node);
    await waitFor('a drain in progress', async () => (await phaseOf(node)) !== undefined, 45_000);
    await first.stop();

    const second = await w.startAgent(node);
    await waitFor('Tainted', async () => (await phaseOf(node)) === 'Tainted');
    expect(second.phase()).toBe('Tainted');
    for (let i = 0; i < 6; i++)
      expect((await getGameServer(w.admin, `killed-ready-${i}`)).status.state).toBe('Shutdown');
    expect((await getGameServer(w.admin, 'killed-alloc')).status.state).toBe('Allocated');
    expect((await getPod(w.admin, 'killed-alloc')).spec.tolerations).toContainEqual(DRAIN_TOLERATION);
  });
});

describe('a new agent on a node left in each phase', () => {
  const startedAt = Date.now() - 5_000;

  it('Cordoned: fences, taints, waits', async () => {
    const id = IDS[2];
    const node = 'node-left-cordoned';
    await nodeLeftIn(
      node,
      id,
      { phase: 'Cordoned', reason: 'fleetiq', startedAt, cordonedByAgent: true },
      'DRAINING',
    );
    await createGameServer(w.admin, 'left-cordoned-ready', node, 'Ready');
    await createGameServer(w.admin, 'left-cordoned-alloc', node, 'Allocated');
    await w.publisher.publish(id, 'DRAINING');
    const agent = await w.startAgent(node);
    await waitFor('Tainted', async () => (await phaseOf(node)) === 'Tainted');
    expect(agent.phase()).toBe('Tainted');
    expect((await getGameServer(w.admin, 'left-cordoned-ready')).status.state).toBe('Shutdown');
    expect((await getPod(w.admin, 'left-cordoned-alloc')).spec.tolerations).toContainEqual(DRAIN_TOLERATION);
    // The drain's start time is the recorded one, not the restart's.
    expect((await getNode(w.admin, node)).metadata.annotations?.['gamelift.status/drain-started-at']).toBe(
      new Date(startedAt).toISOString(),
    );
  });

  it('Fenced: taints', async () => {
    const id = IDS[3];
    const node = 'node-left-fenced';
    await nodeLeftIn(
      node,
      id,
      { phase: 'Fenced', reason: 'fleetiq', startedAt, cordonedByAgent: true },
      'DRAINING',
    );
    await createGameServer(w.admin, 'left-fenced-alloc', node, 'Allocated', { tolerates: true });
    await w.publisher.publish(id, 'DRAINING');
    await w.startAgent(node);
    await waitFor('Tainted', async () => (await phaseOf(node)) === 'Tainted');
    expect((await getNode(w.admin, node)).spec.taints).toContainEqual(
      expect.objectContaining({ ...DRAIN_TAINT }),
    );
  });

  it('Tainted with no session left: deregisters', async () => {
    const id = IDS[4];
    const node = 'node-left-tainted';
    await nodeLeftIn(
      node,
      id,
      { phase: 'Tainted', reason: 'fleetiq', startedAt, cordonedByAgent: true },
      'DRAINING',
    );
    await w.publisher.publish(id, 'DRAINING');
    await w.startAgent(node);
    await waitFor('Deregistered', async () => (await phaseOf(node)) === 'Deregistered');
    expect(w.registered(id)).toBeUndefined();
  });

  it('SpotEvicting: deletes the remaining game server pods within the notice, deregisters', async () => {
    const id = IDS[5];
    const node = 'node-left-spot';
    await nodeLeftIn(
      node,
      id,
      { phase: 'SpotEvicting', reason: 'spot', startedAt, cordonedByAgent: true, spotNoticeAt: startedAt },
      'SPOT_TERMINATING',
    );
    await createGameServer(w.admin, 'left-spot-alloc', node, 'Allocated', { tolerates: true });
    await w.publisher.publish(id, 'SPOT_TERMINATING');
    await w.startAgent(node);
    await waitFor('Deregistered', async () => (await phaseOf(node)) === 'Deregistered');
    const pod = await getPod(w.admin, 'left-spot-alloc');
    expect(pod.metadata.deletionTimestamp).toBeDefined();
    // 120 s notice seen 5 s ago, 15 s kept back: at most 90 s (SPOT_GRACE), at least 1.
    expect(pod.metadata.deletionGracePeriodSeconds).toBeGreaterThanOrEqual(1);
    expect(pod.metadata.deletionGracePeriodSeconds).toBeLessThanOrEqual(90);
  });

  it('Deregistered: starts no FleetIQ membership while DRAINING, and comes back on a later ACTIVE', async () => {
    const id = IDS[6];
    const node = 'node-left-deregistered';
    await nodeLeftIn(
      node,
      id,
      { phase: 'Deregistered', reason: 'fleetiq', startedAt, cordonedByAgent: true },
      'DRAINING',
    );
    await w.publisher.publish(id, 'DRAINING');
    const agent = await w.startAgent(node);
    await waitFor('a decision', () => agent.lastDecision() !== undefined);
    await waitFor('ready', () => agent.ready() === true);
    const decisions = agent.stats().decisions;
    await w.publisher.publish(id, 'DRAINING');
    await waitFor('another decision', () => agent.stats().decisions > decisions);
    expect(agent.phase()).toBe('Deregistered');
    expect(agent.lastDecision()?.membership).toEqual([]);
    expect(registrations(id)).toBe(0);
    expect(w.registered(id)).toBeUndefined();
    expect((await getNode(w.admin, node)).spec.unschedulable).toBe(true);

    // FleetIQ says ACTIVE again (the instance lives on): the node is not stranded.
    await w.publisher.publish(id, 'ACTIVE');
    await waitFor('the node back', async () => {
      const n = await getNode(w.admin, node);
      return (
        !n.spec.unschedulable &&
        !(n.spec.taints ?? []).some((t: { key: string }) => t.key === DRAIN_TAINT.key) &&
        n.metadata.labels?.[INSTANCE_STATUS_LABEL] === 'ACTIVE' &&
        n.metadata.annotations?.[DRAIN_PHASE_ANNOTATION] === undefined
      );
    });
    await waitFor('registered again', () => w.registered(id));
    const first = w.registered(id)!.lastHealthCheckTime;
    await waitFor('health reports', () => w.registered(id)!.lastHealthCheckTime > first);
    await waitFor('the Event', async () => (await nodeEventReasons(w.admin, node)).includes('Reregistered'));
    expect(agent.phase()).toBe('Active');
  });
});

describe('Redis unavailable', () => {
  it('learns the status from FleetIQ itself and drains', async () => {
    const id = IDS[7];
    const node = 'node-no-redis';
    await createNode(w.admin, node, id);
    await w.redis.stop();
    try {
      const agent = await w.startAgent(node, { config: { fleetiqFallbackIntervalMs: 300 } });
      await waitFor(
        'ACTIVE from FleetIQ',
        async () => (await getNode(w.admin, node)).metadata.labels?.[INSTANCE_STATUS_LABEL] === 'ACTIVE',
      );
      w.fleetiq.control.setInstanceStatus(id, 'DRAINING');
      await waitFor('drained', async () => (await phaseOf(node)) === 'Deregistered');
      const metrics = await (await fetch(`${agent.opsUrl}/metrics`)).text();
      expect(metrics).toMatch(/fleetiq_reconciler_fleetiq_fallback_calls_total\{result="ok"\} [1-9]/);
    } finally {
      await w.redis.start();
    }
  });
});

describe('a Node without an AWS providerID', () => {
  it('is identified through IMDSv2 (token, then instance id)', async () => {
    const id = IDS[8];
    // A minimal instance metadata service: IMDSv2 only (a token is required).
    const server = http.createServer((req, res) => {
      if (req.method === 'PUT' && req.url === '/latest/api/token') return void res.end('T0KEN');
      if (req.url === '/latest/meta-data/instance-id' && req.headers['x-aws-ec2-metadata-token'] === 'T0KEN')
        return void res.end(id);
      res.writeHead(401).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      await createNode(w.admin, 'node-imds', id, { providerID: null });
      await w.publisher.publish(id, 'ACTIVE');
      const agent = await w.startAgent('node-imds', {
        config: { imdsEndpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}` },
        extra: { imdsInstanceId: undefined },
      });
      expect(agent.instanceId()).toBe(id);
      await waitFor('registered', () => w.registered(id) !== undefined);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});
