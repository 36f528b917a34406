// Utilization and Spot interruptions in the simulated cluster, with pubsub, the webhook and one agent
// per node: in `allocated` mode FleetIQ sees UTILIZED exactly while a node hosts sessions; on a Spot
// notice the agent asks every game server to end gracefully and deregisters before the instance goes.
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
    // Real time for the agent: a short idle period so AVAILABLE comes back within the test.
    decide: { idlePeriodMs: 1_500 },
    exitOnSigtermSeconds: 5,
  });
}, TEST_KUBE_START_MS);

afterAll(async () => {
  await s?.stop();
});

describe('allocated utilization mode', () => {
  it('is UTILIZED while the node hosts a session and AVAILABLE again after the idle period', async () => {
    for (const id of s.agentOf.keys())
      await waitFor(`${id} AVAILABLE`, () => s.fleetiqGameServer(id)?.utilizationStatus === 'AVAILABLE');
    const seen = new Map<string, string[]>();
    const sample = () => {
      for (const id of s.agentOf.keys()) {
        const u = s.fleetiqGameServer(id)?.utilizationStatus ?? 'absent';
        const list = seen.get(id) ?? [];
        if (list.at(-1) !== u) list.push(u);
        seen.set(id, list);
      }
    };
    const track = setInterval(sample, 5);
    try {
      const session = (await s.sim.sessions.startSession({ fleet: 'game', durationSeconds: 60 }))!;
      expect(session).toBeDefined();
      const host = s.sim.nodes.instanceIdOf(session.nodeName!)!;
      await waitFor(
        'UTILIZED during the session',
        () => s.fleetiqGameServer(host)?.utilizationStatus === 'UTILIZED',
      );
      expect(session.outcome).toBe('active');
      await waitFor('the session to end', () => session.outcome !== 'active', 45_000);
      await waitFor(
        'AVAILABLE again',
        () => s.fleetiqGameServer(host)?.utilizationStatus === 'AVAILABLE',
        10_000,
      );
      sample();
      // Becoming AVAILABLE again is a deregistration and a new registration (FleetIQ forbids UTILIZED →
      // AVAILABLE), so the game server is briefly absent in between.
      expect(seen.get(host)!.filter((u) => u !== 'absent')).toEqual(['AVAILABLE', 'UTILIZED', 'AVAILABLE']);
      for (const [id, list] of seen) if (id !== host) expect(list).toEqual(['AVAILABLE']);
      expect(session.outcome).toBe('completed');
    } finally {
      clearInterval(track);
    }
  });
});

describe('a Spot interruption notice', () => {
  it('ends every game server gracefully within the notice and deregisters before the instance goes', async () => {
    const sessions: SessionRecord[] = [];
    for (let i = 0; i < 2; i++)
      sessions.push((await s.sim.sessions.startSession({ fleet: 'game', durationSeconds: 5_000 }))!);
    const byInstance = await s.allocatedByInstance();
    const target = [...byInstance.entries()].sort((a, b) => b[1].length - a[1].length)[0][0];
    const node = s.nodeOf(target);
    const onTarget = sessions.filter((r) => r.nodeName === node);
    expect(onTarget.length).toBeGreaterThan(0);

    // Every deletion of a pod on that node, with the grace period it was given.
    const graces = new Map<string, number>();
    const stopWatch = s.world.admin.watch(
      { group: '', version: 'v1', resource: 'pods', namespace: 'default' },
      { fieldSelector: `spec.nodeName=${node}` },
      (ev) => {
        const m = ev.object.metadata;
        if (m.deletionTimestamp && !graces.has(m.name!))
          graces.set(m.name!, m.deletionGracePeriodSeconds ?? -1);
      },
    );
    try {
      const noticeAt = s.clock.now();
      s.world.fleetiq.control.setInstanceStatus(target, 'SPOT_TERMINATING');
      s.sim.ledger.markInterruptedBySpotNotice({ nodeName: node });
      await waitFor(
        'the instance to be reclaimed',
        () => s.world.fleetiq.control.instance(target)?.terminated,
        45_000,
      );
      const terminatedAt = s.world.fleetiq.control.instance(target)!.terminationTime!;
      expect(terminatedAt - noticeAt).toBeLessThanOrEqual(121_000);

      // The agent deregistered (reason api) before FleetIQ reclaimed the instance.
      const events = s.world.fleetiq.control.events();
      const dereg = events.find((e) => e.type === 'game-server-deregistered' && e.instanceId === target);
      expect(dereg).toMatchObject({ reason: 'api' });
      expect(dereg!.time).toBeLessThan(terminatedAt);

      // Every game server pod was asked to stop with a grace period that fits the notice, and the
      // sessions on it ended when their game server exited, before the instance went away.
      for (const r of onTarget) {
        expect(graces.get(r.gameServer)).toBeGreaterThanOrEqual(1);
        expect(graces.get(r.gameServer)).toBeLessThanOrEqual(90);
        expect(r.interruptedBySpotNotice).toBe(true);
        expect(r.endedAt).toBeLessThan(terminatedAt);
        expect(r.lostReason).not.toBe('node-gone');
      }
    } finally {
      stopWatch();
    }
    // Sessions elsewhere are untouched.
    for (const r of sessions.filter((x) => x.nodeName !== node)) expect(r.outcome).toBe('active');
  });
});
