// The hardening issue's attacks and outages, each injected with the sandbox's --chaos machinery into one
// small running sandbox (real components, real Redis, the control plane of support.ts): every one must
// have been really injected and had its effect, and leave no session lost and no node stranded.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { INSTANCE_STATUS_LABEL } from '../../../shared/contract.js';
import type { SessionRecord } from '../../../sandbox/cluster/sessions.js';
import { parseChaos, type ChaosFault, type ChaosInjection } from '../../../sandbox/run/chaos.js';
import { FLEET_NAME, type Sandbox } from '../../../sandbox/run/sandbox.js';
import {
  allEnded,
  busiestNode,
  drainPhase,
  getNode,
  lostOf,
  outcomes,
  startSessions,
  startTestSandbox,
  steady,
  waitFor,
} from './support.js';

const one = (spec: string): ChaosFault => parseChaos(spec)[0]!;

describe('chaos in the sandbox: every attack and outage, no session lost, no node stranded', () => {
  let sb: Sandbox;
  const records: SessionRecord[] = [];

  beforeAll(async () => {
    sb = await startTestSandbox(
      {
        // For the last test: a short run with load and a scheduled chaos list.
        duration: '60s',
        allocationRate: '30/min',
        sessionSeconds: '20-40',
        // The webhook outage outlasts the run and the last kill comes after it.
        chaos: 'agent-kill@5s,fleetiq-errors:20s@10s,webhook-down:1h@40s,agent-kill@2h',
      },
      // An empty DRAINING instance stays alive long enough to be made ACTIVE again (attack 6).
      { drainingTerminationDelaySeconds: 3600 },
    );
  }, 120_000);

  afterAll(async () => {
    await sb?.stop();
  }, 120_000);

  const sessions = async (n: number, seconds: number) => {
    const r = await startSessions(sb, n, seconds);
    records.push(...r);
    return r;
  };

  /** The sessions ended, none lost, and no node is left cordoned or tainted under an ACTIVE instance. */
  async function noneLostNoneStranded(held: readonly SessionRecord[]): Promise<void> {
    await allEnded(sb, held, 60_000);
    // Ended gracefully inside a Spot notice is not lost (report.ts); the reasons make a failure readable.
    expect(outcomes(sb, held).lost === 0 ? [] : lostOf(held)).toEqual([]);
    expect(sb.report().sessions.lost).toBe(0);
    await waitFor('no node stranded', () => sb.report().nodes?.stranded === 0);
  }

  /** The players leave: held sessions end now (endNow skips those already over). */
  const endAll = (held: readonly SessionRecord[]) =>
    Promise.all(held.map((r) => sb.topology.sim.sessions.endNow(r)));

  async function restored(nodeName: string): Promise<void> {
    await waitFor(`${nodeName} restored`, async () => {
      const n = await getNode(sb, nodeName);
      return (
        n !== undefined &&
        drainPhase(n) === undefined &&
        !n.spec.unschedulable &&
        !(n.spec.taints ?? []).length &&
        n.metadata.labels?.[INSTANCE_STATUS_LABEL] === 'ACTIVE'
      );
    });
  }

  it('6. an empty node deregistered on DRAINING and made ACTIVE again is not stranded', async () => {
    await steady(sb);
    const [target] = sb.topology.sim.nodes.instances().slice(-1);
    const { nodeName, instanceId } = target!;
    expect(sb.topology.sim.ledger.active().filter((r) => r.nodeName === nodeName)).toEqual([]);
    sb.topology.fleetiq.control.setInstanceStatus(instanceId, 'DRAINING');
    await waitFor(
      'the empty node deregistered',
      async () => drainPhase(await getNode(sb, nodeName)) === 'Deregistered',
    );
    // Cordoned and tainted, registered nowhere: while DRAINING, that is not stranded...
    expect(sb.report().nodes?.stranded).toBe(0);
    sb.topology.fleetiq.control.setInstanceStatus(instanceId, 'ACTIVE');
    await restored(nodeName);
    // ...and once FleetIQ says ACTIVE, the agent registers the instance again and reverts the node.
    await waitFor('registered again', () =>
      sb.topology.fleetiq.control.gameServers().some((g) => g.instanceId === instanceId),
    );
    await noneLostNoneStranded([]);
  }, 120_000);

  it('1. redis-poison-sequence: the lowered sequence is repaired and a later DRAINING is still acted on', async () => {
    await steady(sb);
    const held = await sessions(3, 600);
    const { record, settled } = await sb.chaos.inject(one('redis-poison-sequence@0s'));
    expect(record.target).toMatch(/set to 1/);
    await settled();
    expect(record).toMatchObject({ contained: true, effect: expect.stringMatching(/^repaired by pubsub/) });
    const target = await busiestNode(sb);
    sb.topology.fleetiq.control.setInstanceStatus(target.instanceId, 'DRAINING');
    await waitFor(
      'the drain after the poisoning',
      async () => drainPhase(await getNode(sb, target.nodeName)) === 'Tainted',
    );
    sb.topology.fleetiq.control.setInstanceStatus(target.instanceId, 'ACTIVE');
    await restored(target.nodeName);
    await endAll(held);
    await noneLostNoneStranded(held);
  }, 180_000);

  it('7. replay-status: a captured signed DRAINING written back for a restarted agent is refused', async () => {
    await steady(sb);
    const held = await sessions(2, 600);
    const { record, settled } = await sb.chaos.inject(one('replay-status@0s'));
    await settled();
    expect(record.skipped).toBeUndefined();
    const instanceId = /\((i-[0-9a-f]+)\)/.exec(record.target ?? '')?.[1];
    const target = sb.topology.sim.nodes.instances().find((i) => i.instanceId === instanceId)!;
    // The quietest node holding sessions, not the busiest (where Spot notices aim).
    expect(held.some((r) => r.nodeName === target.nodeName)).toBe(true);
    expect(record).toMatchObject({
      contained: true,
      effect: expect.stringMatching(/^refused by the restarted agent/),
    });
    // The restarted agent settles in Active, the node undrained: the replay changed nothing.
    await waitFor(
      'the restarted agent Active',
      () => sb.components.agents.get(target.nodeName)?.phase() === 'Active',
    );
    const node = await getNode(sb, target.nodeName);
    expect(drainPhase(node)).toBeUndefined();
    expect(node?.spec.unschedulable).toBeFalsy();
    await endAll(held);
    await noneLostNoneStranded(held);
  }, 180_000);

  it('2. redis-down, then a Spot notice only instance metadata knows of: drained in time, nothing lost', async () => {
    await steady(sb);
    const held = await sessions(4, 600);
    const target = await busiestNode(sb);
    const outage = await sb.chaos.inject(one('redis-down:60s@0s'));
    expect(sb.redis?.running()).toBe(false);
    const notice = await sb.chaos.inject(one('imds-spot-notice@0s'));
    expect(notice.record.target).toContain(target.instanceId);
    await notice.settled();
    expect(notice.record).toMatchObject({
      contained: true,
      effect: expect.stringMatching(/^drained on instance metadata alone/),
    });
    await outage.settled();
    expect(sb.redis?.running()).toBe(true);
    expect(outage.record.endedAtSeconds).toBeGreaterThanOrEqual(outage.record.atSeconds);
    // EC2 took the instance back when the notice ran out; its sessions had ended gracefully before.
    expect(sb.topology.fleetiq.control.instance(target.instanceId)?.terminated).toBe(true);
    const onTarget = held.filter((r) => r.nodeName === target.nodeName);
    expect(onTarget.length).toBeGreaterThan(0);
    for (const r of onTarget) expect(r.outcome).not.toBe('active');
    await endAll(held);
    await noneLostNoneStranded(held);
    expect(sb.report().sessions.endedGracefullyBySpotNotice).toBeGreaterThanOrEqual(onTarget.length);
  }, 180_000);

  it('webhook-down (failurePolicy Fail): allocations are refused during the outage, none lost', async () => {
    await steady(sb);
    const held = await sessions(2, 600);
    const { record, settled } = await sb.chaos.inject(one('webhook-down:60s@0s'));
    expect(sb.components.webhooks.filter(Boolean)).toEqual([]);
    const during = await sb.topology.sim.sessions.startSession({ fleet: FLEET_NAME, durationSeconds: 30 });
    expect(during).toBeFalsy();
    await settled();
    expect(record.effect).toMatch(/^[1-9]\d* allocations refused/);
    expect(sb.components.webhooks.filter(Boolean)).toHaveLength(2);
    await waitFor('an allocation once the webhook is back', async () => {
      const r = await sb.topology.sim.sessions.startSession({ fleet: FLEET_NAME, durationSeconds: 20 });
      if (r) records.push(r);
      return r;
    });
    await endAll(held);
    await noneLostNoneStranded(held);
  }, 180_000);

  it('fleetiq-errors: a DRAINING during a FleetIQ outage is acted on once it answers again', async () => {
    await steady(sb);
    const held = await sessions(2, 600);
    const target = await busiestNode(sb);
    const { record, settled } = await sb.chaos.inject(one('fleetiq-errors:60s@0s'));
    sb.topology.fleetiq.control.setInstanceStatus(target.instanceId, 'DRAINING');
    await settled();
    expect(record.effect).toMatch(/^[1-9]\d* FleetIQ calls answered InternalServiceException/);
    await waitFor(
      'the drain after the outage',
      async () => drainPhase(await getNode(sb, target.nodeName)) === 'Tainted',
    );
    sb.topology.fleetiq.control.setInstanceStatus(target.instanceId, 'ACTIVE');
    await restored(target.nodeName);
    await endAll(held);
    await noneLostNoneStranded(held);
  }, 180_000);

  it('agent-kill: the busiest node’s agent is replaced and its sessions are untouched', async () => {
    await steady(sb);
    const held = await sessions(3, 600);
    const target = await busiestNode(sb);
    const before = sb.components.agents.get(target.nodeName);
    const { record, settled } = await sb.chaos.inject(one('agent-kill@0s'));
    await settled();
    expect(record).toMatchObject({
      contained: true,
      effect: expect.stringMatching(/^restarted, back in phase Active/),
    });
    expect(sb.components.agents.get(target.nodeName)).not.toBe(before);
    for (const r of held) expect(r.outcome).toBe('active');
    await endAll(held);
    await noneLostNoneStranded(held);
  }, 180_000);

  it('--chaos runs its list on schedule during the load; the report lists every fault, none lost or stranded', async () => {
    await steady(sb);
    await sb.run();
    const report = sb.report();
    const scheduled = report.chaos!.injected.filter(
      (c: ChaosInjection) => c.fault === 'agent-kill@5s' || c.fault === 'fleetiq-errors:20s@10s',
    );
    expect(scheduled.map((c) => c.fault)).toEqual(['agent-kill@5s', 'fleetiq-errors:20s@10s']);
    for (const c of scheduled) {
      expect(c.skipped).toBeUndefined();
      // Injected at its time of simulated load, give or take the real-time steps before it.
      expect(c.atSeconds).toBeGreaterThanOrEqual(c.fault === 'agent-kill@5s' ? 5 : 10);
    }
    expect(scheduled[1]!.endedAtSeconds).toBeGreaterThanOrEqual(30);
    // An outage still on when the run ends is ended then, the system restored; a fault the run never
    // reached is listed as such.
    const outage = report.chaos!.injected.find((c) => c.fault === 'webhook-down:1h@40s')!;
    expect(outage.atSeconds).toBeGreaterThanOrEqual(40);
    expect(outage.endedAtSeconds).toBeLessThan(3600);
    expect(outage.effect).toMatch(/allocations refused/);
    expect(sb.components.webhooks.filter(Boolean)).toHaveLength(2);
    expect(report.chaos!.injected.find((c) => c.fault === 'agent-kill@2h')).toMatchObject({
      skipped: 'the run ended before its time',
    });
    expect(new Set(report.chaos!.injected.map((c) => c.kind))).toEqual(
      new Set([
        'redis-poison-sequence',
        'replay-status',
        'redis-down',
        'imds-spot-notice',
        'webhook-down',
        'fleetiq-errors',
        'agent-kill',
      ]),
    );
    expect(report.sessions.started).toBeGreaterThan(records.length);
    expect(report.sessions.lost).toBe(0);
    expect(report.nodes).toEqual({ stranded: 0, strandedNodes: [] });
  }, 240_000);
});
