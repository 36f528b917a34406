// The migration from the old Python adapter to the node agent, on a live fleet (docs/migration.md):
// every node starts with the model of the old daemon (sandbox/legacy), pubsub feeds them and the
// agents, players keep allocating sessions, FleetIQ keeps draining instances, and at given times the
// nodes move one by one to the node agent in the guide's order. No session may be lost, every node must
// end on the agent, and no instance may have been registered twice (the agent adopts the old daemon's
// registration and claim; the old daemon's deregistration on SIGTERM is refused by the guide's IAM deny).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { LEGACY_ACTIVE_TAINT_KEY } from '../../../shared/contract.js';
import type { Sandbox } from '../../../sandbox/run/sandbox.js';
import { GAME_SERVER_GROUP } from '../../../sandbox/run/topology.js';
import { TEST_TIMINGS, drainPhase, getNode, startTestSandbox, waitFor } from './support.js';

describe('migration: node by node from the old daemon to the node agent, under load', () => {
  let sb: Sandbox;

  beforeAll(async () => {
    sb = await startTestSandbox(
      {
        nodes: '4',
        legacyNodes: '4',
        // The first move comes well over one pubsub poll (1 s real, 20 s simulated at the tests' speed)
        // after the first DRAINING, so the old daemon hears of it before its node can be moved.
        migrate: '30s,38s,46s,54s',
        duration: '75s',
        allocationRate: '30/min',
        sessionSeconds: '20-40',
        // The old daemon never handled Spot notices: only DRAINING here, on nodes still on the old daemon
        // (early, and at 42 s under load, as two nodes have moved), and once every node has moved.
        interruptions: '2s:DRAINING:1,42s:DRAINING:1,62s:DRAINING:1',
      },
      // No idle instance is made AVAILABLE again during the run: each registration counted is a real one.
      { timings: { ...TEST_TIMINGS, decide: { ...TEST_TIMINGS.decide, idlePeriodMs: 600_000 } } },
    );
  }, 120_000);

  afterAll(async () => {
    await sb?.stop();
  }, 120_000);

  it('loses no session, ends with every node on the agent, and registers no instance twice', async () => {
    await sb.run();
    const report = sb.report();
    const m = report.migration!;

    expect(report.sessions.lost).toBe(0);
    expect(report.sessions.started).toBeGreaterThan(10);
    // Every scheduled switch moved a node, each one's SIGTERM deregistration refused by the IAM deny.
    expect(m.switched).toHaveLength(4);
    expect(m.switched.every((s) => s.deregistrationRefused)).toBe(true);
    // Nodes holding sessions were moved, not only idle ones.
    expect(m.switched.some((s) => s.sessions > 0)).toBe(true);
    expect(m.stillOnLegacy).toEqual([]);
    expect(m.withoutAgent).toEqual([]);
    expect(m.registeredMoreThanOnce).toEqual([]);
    // The old daemons followed our pubsub: the DRAINING at 2 s hit a node still on one, which drained it.
    expect(m.legacyDrains).toBeGreaterThanOrEqual(1);
    expect(sb.legacy!.daemons.size).toBe(0);

    // Each live node: its agent running, its instance registered with FleetIQ once (unless drained to
    // the end), and the old daemon's gamelift.status/active taint gone.
    const live = sb.topology.sim.nodes.instances();
    const registrations = (instanceId: string) =>
      sb.topology.fleetiq.control
        .gameServers({ group: GAME_SERVER_GROUP })
        .filter((g) => g.instanceId === instanceId).length;
    for (const { nodeName, instanceId } of live) {
      expect(sb.components.agents.get(nodeName)).toBeDefined();
      // A node drained to the end waits for FleetIQ to terminate its instance, deregistered. The Node
      // records that phase once the deregistration has been answered; the run may end with a last
      // drain's call in flight, hence the wait: a registration too many or too few stays and fails it.
      await waitFor(`${nodeName}: registered once, or deregistered once drained`, async () => {
        const drained = drainPhase(await getNode(sb, nodeName)) === 'Deregistered';
        return registrations(instanceId) === (drained ? 0 : 1);
      });
      // Removed by the agent once it has nothing else to do.
      await waitFor(`${nodeName} without the old daemon's taint`, async () => {
        const node = await getNode(sb, nodeName);
        return !(node?.spec?.taints ?? []).some((t: { key: string }) => t.key === LEGACY_ACTIVE_TAINT_KEY);
      });
    }
    expect(report.nodes?.stranded).toBe(0);
  }, 300_000);
});

// Step 2 of the guide, held: our pubsub and webhook beside old daemons on every node, players allocating
// fast, FleetIQ draining one node after another. The old daemon taints without fencing, so a game server
// allocated as the taint evicts its pod would lose its session; the webhook refuses allocations onto a
// node the old daemon has cordoned (docs/migration.md, incompatibility 10). Without that refusal, every
// seed tried lost sessions here. (Whether a run meets a refusal at all depends on timing: the window is
// from the cordon until the taint has evicted the node's Ready game servers. The refusal itself is
// test/e2e/allocation.test.ts's.)
describe('migration: old daemons draining under our pubsub and webhook, under load', () => {
  let sb: Sandbox;

  beforeAll(async () => {
    sb = await startTestSandbox({
      nodes: '4',
      legacyNodes: '4',
      duration: '70s',
      allocationRate: '90/min',
      sessionSeconds: '20-40',
      interruptions: '10s:DRAINING:1,25s:DRAINING:1,40s:DRAINING:1,55s:DRAINING:1',
    });
  }, 120_000);

  afterAll(async () => {
    await sb?.stop();
  }, 120_000);

  it('loses no session while old daemons drain one node after another', async () => {
    await sb.run();
    const report = sb.report();
    expect(report.sessions.lostSessions).toEqual([]);
    expect(report.sessions.lost).toBe(0);
    expect(report.sessions.started).toBeGreaterThan(15);
    expect(report.migration!.legacyDrains).toBeGreaterThanOrEqual(3);
  }, 300_000);
});
