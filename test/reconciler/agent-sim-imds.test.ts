// A Spot notice seen ONLY in the instance's own metadata: Redis is down, pubsub gone, and FleetIQ
// never reports SPOT_TERMINATING (it still says ACTIVE). The agent polls instance metadata, drains the
// node within the notice and asks every game server to end gracefully: no session is lost.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { SessionRecord } from '../../sandbox/cluster/index.js';
import { startSimWorld, type SimWorld } from './sim-world.js';
import { TEST_KUBE_START_MS } from '../helpers/test-kube.js';
import { waitFor } from './helpers.js';

let s: SimWorld;

beforeAll(async () => {
  s = await startSimWorld({
    instances: 3,
    fleet: { name: 'game', replicas: 6, terminationGracePeriodSeconds: 100 },
    nodeCapacityPods: 8,
    exitOnSigtermSeconds: 5,
    imds: true,
  });
}, TEST_KUBE_START_MS);

afterAll(async () => {
  await s?.stop();
});

describe('a Spot notice only in instance metadata', () => {
  it('drains the node with Redis down and FleetIQ saying ACTIVE, and no session is lost', async () => {
    const sessions: SessionRecord[] = [];
    for (let i = 0; i < 3; i++)
      sessions.push((await s.sim.sessions.startSession({ fleet: 'game', durationSeconds: 5_000 }))!);
    const byInstance = await s.allocatedByInstance();
    const target = [...byInstance.entries()].sort((a, b) => b[1].length - a[1].length)[0][0];
    const node = s.nodeOf(target);
    const onTarget = sessions.filter((r) => r.nodeName === node);
    expect(onTarget.length).toBeGreaterThan(0);

    // Every status path but instance metadata is cut.
    await s.pubsub.stop({ release: false });
    await s.world.redis.stop();

    const noticeAt = s.clock.now();
    s.imdsOf.get(target)!.control.postSpotNotice();
    s.sim.ledger.markInterruptedBySpotNotice({ nodeName: node });
    await waitFor('the agent to deregister', () => s.agentOf.get(target)?.phase() === 'Deregistered', 45_000);
    await waitFor(
      'the sessions on the node to end',
      () => onTarget.every((r) => r.outcome !== 'active'),
      45_000,
    );

    expect(s.world.fleetiq.control.instance(target)?.status).toBe('ACTIVE');
    // The phase is the one decided; FleetIQ's deregistration follows the drain's node writes.
    const dereg = await waitFor('FleetIQ to deregister the game server', () =>
      s.world.fleetiq.control
        .events()
        .find((e) => e.type === 'game-server-deregistered' && e.instanceId === target),
    );
    expect(dereg).toMatchObject({ reason: 'api' });
    for (const r of onTarget) {
      // Asked to end by the notice (its game server exited on SIGTERM), not cut off by the node going.
      expect(r.interruptedBySpotNotice).toBe(true);
      expect(r.lostReason).not.toBe('node-gone');
      // Ended within the notice (simulated time), before EC2 would reclaim the instance.
      expect(r.endedAt! - noticeAt).toBeLessThan(120_000);
    }
    // Sessions elsewhere are untouched.
    for (const r of sessions.filter((x) => x.nodeName !== node)) expect(r.outcome).toBe('active');
    // The outage ends (so the world stops as it would).
    await s.world.redis.start();
  });
});
