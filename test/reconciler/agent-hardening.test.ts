// The agent against what issue #15 tried on it: a genuine, signed DRAINING captured earlier and written
// back after the revert (to a restarted agent), a node deregistered and then left alive, a session
// that never ends, and a Spot notice seen only in the instance's own metadata.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { INSTANCE_STATUS_LABEL } from '../../shared/contract.js';
import { latestStatusKey, statusChannel } from '../../shared/status-message.js';
import { startImdsEmulator, type ImdsEmulator } from '../../sandbox/imds/emulator.js';
import { ACTED_ON_OBSERVED_AT_ANNOTATION, DRAIN_PHASE_ANNOTATION } from '../../shared/drain-contract.js';
import {
  getNode,
  getPod,
  instanceIds,
  nodeEventReasons,
  startWorld,
  waitFor,
  type World,
} from './agent-support.js';
import { createGameServer, createNode } from '../../sandbox/system/agent-fixtures.js';
import { TEST_KUBE_START_MS } from '../helpers/test-kube.js';

const IDS = instanceIds('h', 6);
let w: World;
let raw: Redis;
const imdsServers: ImdsEmulator[] = [];

beforeAll(async () => {
  w = await startWorld({ instanceIds: IDS });
  raw = new Redis(w.redis.port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 1 });
  raw.on('error', () => undefined);
  await raw.connect();
}, TEST_KUBE_START_MS);

afterAll(async () => {
  raw?.disconnect();
  await w?.stop();
  await Promise.all(imdsServers.map((s) => s.stop()));
}, 30_000);

const metric = async (opsUrl: string, name: string): Promise<string> => {
  const text = await (await fetch(`${opsUrl}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith(name))
    .join('\n');
};

describe('a replayed status', () => {
  it('a signed DRAINING captured before the revert, written back for a restarted agent, is refused', async () => {
    const id = IDS[0];
    const node = 'node-replay';
    await createNode(w.admin, node, id);
    await createGameServer(w.admin, 'replay-session', node, 'Allocated', { tolerates: true });
    const agent = await w.startAgent(node);
    const captured = await w.publisher.publish(id, 'DRAINING');
    await waitFor('the drain', async () => (await getNode(w.admin, node)).spec.unschedulable === true);
    const active = await w.publisher.publish(id, 'ACTIVE');
    await waitFor('the revert', async () => {
      const n = await getNode(w.admin, node);
      return !n.spec.unschedulable && n.metadata.annotations?.[DRAIN_PHASE_ANNOTATION] === undefined;
    });
    // The high-water mark is the ACTIVE's observation time, on the Node.
    expect((await getNode(w.admin, node)).metadata.annotations?.[ACTED_ON_OBSERVED_AT_ANNOTATION]).toBe(
      new Date(active.ObservedAt).toISOString(),
    );
    await agent.stop();

    // The attacker writes the genuine, signed DRAINING back, in the latest key and on the channel.
    await raw.set(latestStatusKey(id), JSON.stringify(captured), 'PX', 600_000);
    const restarted = await w.startAgent(node);
    await waitFor('ready', () => restarted.ready() === true);
    await raw.publish(statusChannel(id), JSON.stringify(captured));
    await waitFor('the replay refused', async () =>
      /rejected: observed before the status already acted on[^}]*\} [1-9]/.test(
        await metric(restarted.opsUrl, 'fleetiq_reconciler_status_messages_total'),
      ),
    );
    const passes = restarted.stats().passes;
    restarted.reconcileNow();
    await waitFor('another pass', () => restarted.stats().passes > passes);
    const n = await getNode(w.admin, node);
    expect(n.spec.unschedulable).toBeFalsy();
    expect(n.metadata.labels?.[INSTANCE_STATUS_LABEL]).toBe('ACTIVE');
    expect(restarted.phase()).toBe('Active');
  });
});

describe('a node left alive after its deregistration', () => {
  it('is reported stranded (a Warning Event and the metric), and still comes back on ACTIVE', async () => {
    const id = IDS[1];
    const node = 'node-stranded';
    await createNode(w.admin, node, id);
    const agent = await w.startAgent(node, { decide: { strandedAfterMs: 500 } });
    await w.publisher.publish(id, 'ACTIVE');
    await waitFor('registered', () => w.registered(id));
    await w.publisher.publish(id, 'DRAINING');
    await waitFor('deregistered', () => agent.phase() === 'Deregistered');
    await waitFor('NodeStranded', async () =>
      (await nodeEventReasons(w.admin, node)).includes('NodeStranded'),
    );
    expect(await metric(agent.opsUrl, 'fleetiq_reconciler_stranded')).toContain(
      'fleetiq_reconciler_stranded 1',
    );

    // FleetIQ says ACTIVE again: the same agent brings the node back and registers it anew.
    await w.publisher.publish(id, 'ACTIVE');
    await waitFor('the node back', async () => {
      const n = await getNode(w.admin, node);
      return !n.spec.unschedulable && n.metadata.labels?.[INSTANCE_STATUS_LABEL] === 'ACTIVE';
    });
    await waitFor('registered again', () => w.registered(id));
    const first = w.registered(id)!.lastHealthCheckTime;
    await waitFor('health reports again', () => w.registered(id)!.lastHealthCheckTime > first);
    await waitFor('not stranded', async () =>
      (await metric(agent.opsUrl, 'fleetiq_reconciler_stranded')).includes('fleetiq_reconciler_stranded 0'),
    );
  });
});

describe('a session that never ends', () => {
  it('raises an Event and the overdue metric past the maximum wait; a Spot notice in instance metadata still ends it gracefully', async () => {
    const id = IDS[2];
    const node = 'node-bad-faith';
    const imds = await startImdsEmulator({ instanceId: id });
    imdsServers.push(imds);
    await createNode(w.admin, node, id);
    await createGameServer(w.admin, 'forever', node, 'Allocated', { tolerates: true });
    await createGameServer(w.admin, 'reserved', node, 'Reserved', { tolerates: true });
    const agent = await w.startAgent(node, {
      decide: { drainMaxWaitMs: 500 },
      config: { imdsEndpoint: imds.url, spotNoticePollIntervalMs: 200 },
      // FleetIQ in this world never hears of the DRAINING the test publishes to Redis: the agent's
      // start-up FleetIQ check (after a random wait of up to 10 s, when no status has come) must
      // not come first on a slow machine and bring a newer ACTIVE.
      extra: { random: () => 0.99 },
    });
    await w.publisher.publish(id, 'DRAINING');
    await waitFor('tainted', () => agent.phase() === 'Tainted');
    await waitFor('DrainMaxWaitExceeded', async () =>
      (await nodeEventReasons(w.admin, node)).includes('DrainMaxWaitExceeded'),
    );
    await waitFor('overdue', async () =>
      (await metric(agent.opsUrl, 'fleetiq_reconciler_drain_overdue')).includes('drain_overdue 1'),
    );
    // Nothing is forced (DRAIN_FORCE_AFTER_MAX_WAIT is off): the sessions are still there.
    expect((await getPod(w.admin, 'forever')).metadata.deletionTimestamp).toBeUndefined();

    // Redis says nothing more; the notice is only in instance metadata.
    imds.control.postSpotNotice();
    await waitFor('the session pods asked to end', async () => {
      const pods = await Promise.all(['forever', 'reserved'].map((p) => getPod(w.admin, p)));
      return pods.every((p) => p.metadata.deletionTimestamp);
    });
    for (const name of ['forever', 'reserved']) {
      const grace = (await getPod(w.admin, name)).metadata.deletionGracePeriodSeconds;
      expect(grace).toBeGreaterThanOrEqual(1);
      expect(grace).toBeLessThanOrEqual(90);
    }
    // Every pod asked to end within the notice: the instance is given up.
    await waitFor('deregistered', () => agent.phase() === 'Deregistered');
    expect(await metric(agent.opsUrl, 'fleetiq_reconciler_spot_notice')).toContain(
      'fleetiq_reconciler_spot_notice 1',
    );
    expect((await getNode(w.admin, node)).metadata.labels?.[INSTANCE_STATUS_LABEL]).toBe('SPOT_TERMINATING');
  });
});
