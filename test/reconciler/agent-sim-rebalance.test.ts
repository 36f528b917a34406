// An EC2 rebalance recommendation in the instance's own metadata, with REBALANCE_RECOMMENDATION=drain:
// the agent drains the node ahead of the Spot notice while the instance stays registered and FleetIQ
// says ACTIVE; the notice that follows finds fewer sessions and ends them gracefully; a recommendation
// no notice follows is reverted once its window (counted from its noticeTime) has passed.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { SessionRecord } from '../../sandbox/cluster/index.js';
import {
  DRAIN_REASON_ANNOTATION,
  REBALANCE_SEEN_ANNOTATION,
  readDrainRecord,
} from '../../shared/drain-contract.js';
import { startSimWorld, type SimWorld } from './sim-world.js';
import { TEST_KUBE_START_MS } from '../helpers/test-kube.js';
import { waitFor } from './helpers.js';

const WINDOW_MS = 60_000;
let s: SimWorld;

beforeAll(async () => {
  s = await startSimWorld({
    instances: 3,
    fleet: { name: 'game', replicas: 6, terminationGracePeriodSeconds: 100 },
    nodeCapacityPods: 8,
    exitOnSigtermSeconds: 5,
    imds: true,
    decide: { rebalanceAction: 'drain', rebalanceDrainWindowMs: WINDOW_MS },
  });
}, TEST_KUBE_START_MS);

afterAll(async () => {
  await s?.stop();
});

const nodeObject = (name: string) => s.world.admin.get({ group: '', version: 'v1', resource: 'nodes', name });

describe('a rebalance recommendation in instance metadata (drain mode)', () => {
  it('drains ahead of the Spot notice, registered, then the notice ends what is left gracefully', async () => {
    const sessions: SessionRecord[] = [];
    for (let i = 0; i < 3; i++)
      sessions.push((await s.sim.sessions.startSession({ fleet: 'game', durationSeconds: 5_000 }))!);
    const byInstance = await s.allocatedByInstance();
    const target = [...byInstance.entries()].sort((a, b) => b[1].length - a[1].length)[0]![0];
    const node = s.nodeOf(target);
    const onTarget = sessions.filter((r) => r.nodeName === node);
    expect(onTarget.length).toBeGreaterThan(0);

    const doc = s.imdsOf.get(target)!.control.postRebalanceRecommendation();
    await waitFor(
      'the rebalance drain to wait on the sessions',
      () => s.agentOf.get(target)?.phase() === 'Tainted',
    );
    const n = await nodeObject(node);
    expect(n.spec?.unschedulable).toBe(true);
    expect(n.metadata.annotations?.[DRAIN_REASON_ANNOTATION]).toBe('rebalance');
    expect(n.metadata.annotations?.[REBALANCE_SEEN_ANNOTATION]).toBe(
      new Date(Date.parse(doc.noticeTime)).toISOString(),
    );
    // Registered, FleetIQ unaware, the sessions untouched.
    expect(s.fleetiqGameServer(target)).toBeDefined();
    expect(s.world.fleetiq.control.instance(target)?.status).toBe('ACTIVE');
    for (const r of onTarget) expect(r.outcome).toBe('active');

    // The Spot notice follows: it takes the drain over.
    s.imdsOf.get(target)!.control.postSpotNotice();
    s.sim.ledger.markInterruptedBySpotNotice({ nodeName: node });
    await waitFor('the agent to deregister', () => s.agentOf.get(target)?.phase() === 'Deregistered', 45_000);
    await waitFor(
      'the sessions on the node to end',
      () => onTarget.every((r) => r.outcome !== 'active'),
      45_000,
    );
    for (const r of onTarget) {
      expect(r.interruptedBySpotNotice).toBe(true);
      expect(r.lostReason).not.toBe('node-gone');
    }
    for (const r of sessions.filter((x) => x.nodeName !== node)) expect(r.outcome).toBe('active');
  });

  it('is reverted when its window passes without a notice, and not drained again', async () => {
    const other = [...s.agentOf.keys()].find(
      (id) => s.agentOf.get(id)?.phase() === 'Active' && s.fleetiqGameServer(id),
    )!;
    const node = s.nodeOf(other);
    // Issued almost a window ago (the agent's clock is the real one): a few seconds of drain are left.
    s.imdsOf
      .get(other)!
      .control.postRebalanceRecommendation({ noticeTime: new Date(Date.now() - WINDOW_MS + 4_000) });
    await waitFor('the rebalance drain', async () => {
      const n = await nodeObject(node);
      return n.metadata.annotations?.[DRAIN_REASON_ANNOTATION] === 'rebalance';
    });
    await waitFor(
      'the revert once the window has passed',
      async () => {
        const n = await nodeObject(node);
        return readDrainRecord(n.metadata.annotations ?? {}, Date.now()) === null && !n.spec?.unschedulable;
      },
      30_000,
    );
    // The recommendation is still in metadata, the agent acknowledged it: it stays Active.
    const n = await nodeObject(node);
    expect(n.metadata.annotations?.[REBALANCE_SEEN_ANNOTATION]).toBeDefined();
    expect(s.agentOf.get(other)?.phase()).toBe('Active');
    expect(s.fleetiqGameServer(other)).toBeDefined();
  });
});
