// Drains in the simulated cluster: real GameServers with pods, allocations through the Agones allocator,
// the webhook on the allocation path, the taint manager evicting what does not tolerate the taint (the
// real kube-controller-manager's unless FLEETIQ_TEST_CONTROL_PLANE=emulated),
// sessions held by players, pubsub publishing FleetIQ's statuses and one agent per node. The figure
// that matters: sessions lost.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DRAIN_PHASE_ANNOTATION } from '../../shared/drain-contract.js';
import { INSTANCE_STATUS_LABEL } from '../../shared/contract.js';
import type { SessionRecord } from '../../sandbox/cluster/index.js';
import { startSimWorld, type SimWorld } from './sim-world.js';
import { TEST_KUBE_START_MS } from '../helpers/test-kube.js';
import { waitFor } from './helpers.js';

let s: SimWorld;

beforeAll(async () => {
  s = await startSimWorld({
    instances: 3,
    fleet: { name: 'game', replicas: 6, terminationGracePeriodSeconds: 60 },
    nodeCapacityPods: 8,
  });
}, TEST_KUBE_START_MS);

afterAll(async () => {
  await s?.stop();
});

const nodeExists = async (name: string) =>
  s.world.admin.get({ group: '', version: 'v1', resource: 'nodes', name }).then(
    () => true,
    () => false,
  );

async function busiestInstance(): Promise<string> {
  const byInstance = await s.allocatedByInstance();
  return [...byInstance.entries()].sort((a, b) => b[1].length - a[1].length)[0][0];
}

function outcome(records: SessionRecord[]) {
  return {
    completed: records.filter((r) => r.outcome === 'completed').length,
    lost: records.filter((r) => r.outcome === 'lost').map((r) => `${r.gameServer}: ${r.lostReason}`),
    active: records.filter((r) => r.outcome === 'active').length,
  };
}

describe('a DRAINING instance', () => {
  it('drains to deregistration and instance termination, every allocated session completing', async () => {
    const sessions: SessionRecord[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await s.sim.sessions.startSession({ fleet: 'game', durationSeconds: 100 });
      expect(r).toBeDefined();
      sessions.push(r!);
    }
    const target = await busiestInstance();
    const node = s.nodeOf(target);
    expect((await s.allocatedByInstance()).get(target)!.length).toBeGreaterThan(0);
    await waitFor(
      'UTILIZED while it hosts sessions',
      () => s.fleetiqGameServer(target)?.utilizationStatus === 'UTILIZED',
    );

    s.world.fleetiq.control.setInstanceStatus(target, 'DRAINING');
    await waitFor('the drain to reach Tainted', async () => {
      const n = await s.world.admin.get({ group: '', version: 'v1', resource: 'nodes', name: node });
      return (
        n.metadata.annotations?.[DRAIN_PHASE_ANNOTATION] === 'Tainted' &&
        n.metadata.labels?.[INSTANCE_STATUS_LABEL] === 'DRAINING'
      );
    });
    // While the sessions run, the instance stays: UTILIZED and registered.
    expect(s.world.fleetiq.control.instance(target)?.terminated).toBe(false);

    await waitFor(
      'FleetIQ to terminate the drained instance',
      () => s.world.fleetiq.control.instance(target)?.terminated,
      45_000,
    );
    await waitFor('its node to go', async () => !(await nodeExists(node)), 45_000);
    expect(outcome(sessions)).toEqual({ completed: 3, lost: [], active: 0 });
    const deregistered = s.world.fleetiq.control
      .events()
      .find((e) => e.type === 'game-server-deregistered' && e.instanceId === target);
    expect(deregistered).toMatchObject({ reason: 'api' }); // by the agent, not by the termination

    // FleetIQ's replacement came up with its own agent; the fleet is whole again elsewhere.
    await waitFor(
      'a replacement instance with a registered agent',
      () => s.launched.some((id) => s.agentOf.get(id)?.phase() === 'Active' && s.fleetiqGameServer(id)),
      10_000,
    );
    await s.sim.waitForFleetReady('game', { timeoutMs: 90_000 });
  });

  it('loses no session to allocations racing the drain', async () => {
    const first = s.sim.ledger.all().length;
    const stopLoad = s.sim.sessions.startLoad({
      fleet: 'game',
      ratePerSecond: 0.1,
      durationSeconds: { min: 20, max: 60 },
    });
    try {
      await waitFor('a few sessions', () => s.sim.ledger.all().length - first >= 3, 45_000);
      const target = await busiestInstance();
      expect((await s.allocatedByInstance()).get(target)!.length).toBeGreaterThan(0);
      s.world.fleetiq.control.setInstanceStatus(target, 'DRAINING');
      await waitFor(
        'the drained instance terminated',
        () => s.world.fleetiq.control.instance(target)?.terminated,
        25_000,
      );
    } finally {
      stopLoad();
    }
    const mine = () => s.sim.ledger.all().slice(first);
    await waitFor('every session to end', () => mine().every((r) => r.outcome !== 'active'), 45_000);
    const o = outcome([...mine()]);
    expect(o.lost).toEqual([]);
    expect(o.completed).toBeGreaterThanOrEqual(3);
    expect(s.sim.sessions.allocations.succeeded).toBeGreaterThanOrEqual(o.completed);
  });
});
