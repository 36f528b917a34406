// The node agent end to end, against the Kubernetes control plane of the tests (the real one unless
// FLEETIQ_TEST_CONTROL_PLANE=emulated; RBAC on, the agent as its ServiceAccount), the FleetIQ emulator
// and a real Redis. Nodes, GameServers and pods are created directly here (no simulated Agones): what
// is checked is what the agent does to them.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DRAIN_TAINT, DRAIN_TOLERATION, INSTANCE_STATUS_LABEL } from '../../shared/contract.js';
import {
  ACTED_ON_OBSERVED_AT_ANNOTATION,
  CORDONED_BY_AGENT_ANNOTATION,
  DRAIN_PHASE_ANNOTATION,
  FLEETIQ_STATUS_OBSERVED_AT_ANNOTATION,
} from '../../shared/drain-contract.js';
import { interceptAdmission } from './admission-hook.js';
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
import {
  AGENT_CLUSTER_ROLE_RULES,
  AGENT_USER,
  GAMESERVERS,
  GROUP,
  NODES,
  createGameServer,
  createNode,
  setGameServerState,
} from '../../sandbox/system/agent-fixtures.js';
import { TEST_KUBE_START_MS } from '../helpers/test-kube.js';
import { inOrder } from './helpers.js';

const IDS = instanceIds('d', 9);
let w: World;

beforeAll(async () => {
  w = await startWorld({ instanceIds: IDS });
}, TEST_KUBE_START_MS);

afterAll(async () => {
  await w?.stop();
});

const drainTaints = (node: any) => (node.spec.taints ?? []).filter((t: any) => t.key === DRAIN_TAINT.key);

describe('an ACTIVE node', () => {
  it('registers with FleetIQ, labels the node ACTIVE, reports health, and is ready', async () => {
    const id = IDS[0];
    await createNode(w.admin, 'node-active', id);
    await w.publisher.publish(id, 'ACTIVE');
    const agent = await w.startAgent('node-active');
    expect(agent.instanceId()).toBe(id);

    await waitFor(
      'the ACTIVE label',
      async () =>
        (await getNode(w.admin, 'node-active')).metadata.labels?.[INSTANCE_STATUS_LABEL] === 'ACTIVE',
    );
    await waitFor('registration', () => w.registered(id)?.utilizationStatus === 'AVAILABLE');
    const first = w.registered(id)!.lastHealthCheckTime;
    await waitFor('a health report', () => w.registered(id)!.lastHealthCheckTime > first);
    await waitFor('ready', () => agent.ready() === true);

    const readyz = await fetch(`${agent.opsUrl}/readyz`);
    expect(readyz.status).toBe(200);
    const metrics = await (await fetch(`${agent.opsUrl}/metrics`)).text();
    expect(metrics).toContain('fleetiq_reconciler_drain_phase{phase="Active"} 1');
    expect(metrics).toContain('fleetiq_reconciler_instance_status{status="ACTIVE"} 1');
    expect(metrics).toMatch(/fleetiq_reconciler_status_age_seconds\{source="redis"\} \d/);
    expect(agent.phase()).toBe('Active');
    const node = await getNode(w.admin, 'node-active');
    expect(node.spec.unschedulable).toBeUndefined();
    expect(node.metadata.annotations?.[DRAIN_PHASE_ANNOTATION]).toBeUndefined();
  });

  it('makes no Kubernetes request at all while nothing changes (watches only, no periodic list)', async () => {
    const agent = w.agents[0];
    await waitFor(
      'settled',
      () => agent.lastDecision()?.actions.length === 0 && agent.lastDecision()?.membership.length === 0,
    );
    // Pubsub republishes an unchanged status: the agent re-decides but reads nothing.
    const before = (await w.agentRequests()).length;
    const passes = agent.stats().passes;
    for (let i = 0; i < 5; i++) await w.publisher.publish(IDS[0], 'ACTIVE');
    await waitFor('the republished statuses to be considered', () => agent.stats().passes >= passes + 1);
    await new Promise((r) => setTimeout(r, 500)); // a quiet interval: the count below must not move
    const during = (await w.agentRequests()).slice(before);
    expect(during).toEqual([]);
  });
});

describe('DRAINING', () => {
  it('cordons, fences, backfills tolerations, taints, waits for the sessions, then deregisters', async () => {
    const id = IDS[1];
    const node = 'node-drain';
    await createNode(w.admin, node, id);
    await createGameServer(w.admin, 'drain-ready', node, 'Ready');
    await createGameServer(w.admin, 'drain-starting', node, 'Scheduled');
    await createGameServer(w.admin, 'drain-alloc-bare', node, 'Allocated'); // the webhook missed it
    await createGameServer(w.admin, 'drain-alloc-tol', node, 'Allocated', { tolerates: true });
    await w.publisher.publish(id, 'ACTIVE');
    const agent = await w.startAgent(node);
    // allocated mode: sessions on the node make the game server UTILIZED.
    await waitFor('UTILIZED while sessions run', () => w.registered(id)?.utilizationStatus === 'UTILIZED');

    // FleetIQ decides the instance is no longer viable; pubsub publishes it.
    w.fleetiq.control.setInstanceStatus(id, 'DRAINING');
    await w.publisher.publish(id, 'DRAINING');
    await waitFor(
      'phase Tainted',
      async () => (await getNode(w.admin, node)).metadata.annotations?.[DRAIN_PHASE_ANNOTATION] === 'Tainted',
    );
    const n = await getNode(w.admin, node);
    expect(n.spec.unschedulable).toBe(true);
    expect(n.metadata.labels?.[INSTANCE_STATUS_LABEL]).toBe('DRAINING');
    expect(n.metadata.annotations?.[CORDONED_BY_AGENT_ANNOTATION]).toBe('true');
    expect(drainTaints(n)).toEqual([expect.objectContaining({ ...DRAIN_TAINT })]);
    // Fenced: the unallocated ones shut down, the allocated ones kept and tolerating.
    expect((await getGameServer(w.admin, 'drain-ready')).status.state).toBe('Shutdown');
    expect((await getGameServer(w.admin, 'drain-starting')).status.state).toBe('Shutdown');
    expect((await getGameServer(w.admin, 'drain-alloc-bare')).status.state).toBe('Allocated');
    expect((await getPod(w.admin, 'drain-alloc-bare')).spec.tolerations).toContainEqual(DRAIN_TOLERATION);
    expect(agent.phase()).toBe('Tainted');
    expect(agent.lastDecision()?.sessions).toBe(2);
    expect(w.registered(id)).toBeDefined();

    // One session ends by shutdown, the other returns to Ready (reuse): the agent notices both,
    // shuts the Ready one down, and deregisters.
    await setGameServerState(w.admin, 'drain-alloc-tol', 'Shutdown');
    expect(w.registered(id)).toBeDefined();
    await setGameServerState(w.admin, 'drain-alloc-bare', 'Ready');
    await waitFor('deregistration', () => w.registered(id) === undefined);
    await waitFor(
      'phase Deregistered',
      async () =>
        (await getNode(w.admin, node)).metadata.annotations?.[DRAIN_PHASE_ANNOTATION] === 'Deregistered',
    );
    expect((await getGameServer(w.admin, 'drain-alloc-bare')).status.state).toBe('Shutdown');
    await waitFor(
      'the drained instance terminated by FleetIQ',
      () => w.fleetiq.control.instance(id)?.terminated === true,
    );

    const reasons = (await waitFor('the Deregistered event', async () => {
      const r = await nodeEventReasons(w.admin, node);
      return r.includes('Deregistered') ? r : undefined;
    }))!;
    const order = [
      'FleetIQDraining',
      'Cordoned',
      'Fencing',
      'Fenced',
      'Tainted',
      'SessionsRemaining',
      'Deregistered',
    ];
    expect(inOrder(order, reasons)).toBe(true);
    expect(reasons.filter((r) => r === 'FleetIQDraining')).toHaveLength(1);
    expect(agent.phase()).toBe('Deregistered');

    const metrics = await (await fetch(`${agent.opsUrl}/metrics`)).text();
    expect(metrics).toContain('fleetiq_reconciler_drain_phase{phase="Deregistered"} 1');
    expect(metrics).toMatch(/fleetiq_reconciler_actions_total\{action="shutdownGameServer",result="ok"\} 3/);
    expect(metrics).toMatch(/fleetiq_reconciler_actions_total\{action="deregister",result="ok"\} 1/);
    // Never a 403: the ClusterRole is enough.
    expect((await w.agentRequests()).filter((e) => e.code === 403)).toEqual([]);
  });

  it('loses the fence race to an allocation without harm: the shutdown is a compare-and-swap', async () => {
    const id = IDS[2];
    const node = 'node-race';
    await createNode(w.admin, node, id);
    await createGameServer(w.admin, 'race-gs', node, 'Ready');
    await w.publisher.publish(id, 'ACTIVE');
    await w.startAgent(node);

    // Agones allocates the game server just as the agent's shutdown reaches the API server (admission
    // runs before the precondition check, so the allocation is stored first).
    let allocatedFirst = false;
    const hold = await interceptAdmission(w.kube, {
      group: 'agones.dev',
      resource: 'gameservers',
      async intercept(r) {
        if (!allocatedFirst && r.username === AGENT_USER.username && r.name === 'race-gs') {
          allocatedFirst = true;
          await setGameServerState(w.admin, 'race-gs', 'Allocated');
        }
      },
      probe: () =>
        w.admin.patch(
          { ...GAMESERVERS, namespace: 'default', name: 'race-gs' },
          'merge',
          { metadata: { labels: { probe: 'x' } } },
          { dryRun: true },
        ),
    });
    try {
      await w.publisher.publish(id, 'DRAINING');
      await waitFor(
        'phase Tainted',
        async () =>
          (await getNode(w.admin, node)).metadata.annotations?.[DRAIN_PHASE_ANNOTATION] === 'Tainted',
      );
    } finally {
      await hold.release();
    }
    expect(allocatedFirst).toBe(true);
    // The allocation won; the agent then treated it as a session: kept, tolerating the taint.
    expect((await getGameServer(w.admin, 'race-gs')).status.state).toBe('Allocated');
    expect((await getPod(w.admin, 'race-gs')).spec.tolerations).toContainEqual(DRAIN_TOLERATION);
    expect(w.registered(id)).toBeDefined();
  });
});

describe('a session the agent has not heard of (allocated while the webhook was down)', () => {
  it('is reported UTILIZED by the first decision on DRAINING, without waiting for the cordon', async () => {
    const id = IDS[8];
    const node = 'node-unheard';
    await createNode(w.admin, node, id);
    await createGameServer(w.admin, 'unheard-gs', node, 'Ready');
    const active = await w.publisher.publish(id, 'ACTIVE');
    const agent = await w.startAgent(node);
    await waitFor('registered AVAILABLE', () => w.registered(id)?.utilizationStatus === 'AVAILABLE');
    await waitFor(
      'settled, with the game server read as Ready',
      () => agent.lastDecision()?.actions.length === 0 && agent.lastDecision()?.membership.length === 0,
    );
    // And done writing: a pass ends by recording the status it acted on, a node write the hold below
    // would otherwise catch, keeping the loop from ever reaching the DRAINING decision.
    await waitFor('the ACTIVE status recorded on the node', async () => {
      const a = (await getNode(w.admin, node)).metadata.annotations ?? {};
      return (
        a[FLEETIQ_STATUS_OBSERVED_AT_ANNOTATION] === active.ObservedAt &&
        a[ACTED_ON_OBSERVED_AT_ANNOTATION] === active.ObservedAt
      );
    });
    // Agones allocates it; without the webhook nothing touches the pod, so the agent is not told.
    await setGameServerState(w.admin, 'unheard-gs', 'Allocated');

    // FleetIQ terminates a DRAINING instance once none of its game servers is UTILIZED: the report
    // must not wait for the drain's node writes, held here until it has arrived.
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let heldNodeWrites = 0;
    const hold = await interceptAdmission(w.kube, {
      group: '',
      resource: 'nodes',
      async intercept(r) {
        if (r.username === AGENT_USER.username) {
          heldNodeWrites++;
          await released;
        }
      },
      probe: () =>
        w.admin.patch(
          { ...NODES, name: node },
          'merge',
          { metadata: { labels: { probe: 'x' } } },
          { dryRun: true },
        ),
    });
    try {
      w.fleetiq.control.setInstanceStatus(id, 'DRAINING');
      await w.publisher.publish(id, 'DRAINING');
      await waitFor('UTILIZED', () => w.registered(id)?.utilizationStatus === 'UTILIZED');
      // The drain has started (over HTTPS its first node write may reach admission just after the
      // report), and is still held: the report did not wait for it.
      await waitFor('a node write held', () => heldNodeWrites > 0);
      expect(heldNodeWrites).toBeGreaterThan(0);
      expect((await getNode(w.admin, node)).spec.unschedulable).toBeUndefined();
    } finally {
      release();
      await hold.release();
    }
    await waitFor(
      'phase Tainted',
      async () => (await getNode(w.admin, node)).metadata.annotations?.[DRAIN_PHASE_ANNOTATION] === 'Tainted',
    );
    expect((await getPod(w.admin, 'unheard-gs')).spec.tolerations).toContainEqual(DRAIN_TOLERATION);
  });
});

describe('when the API refuses', () => {
  const ROLE = {
    group: 'rbac.authorization.k8s.io',
    version: 'v1',
    resource: 'clusterroles',
    name: 'fleetiq-agones-reconciler',
  };
  async function setRules(rules: object[]): Promise<void> {
    await w.admin.patch(ROLE, 'merge', { rules });
  }

  it('raises a Warning Event for a failed step, backs off, and finishes once allowed', async () => {
    const id = IDS[5];
    const node = 'node-forbidden';
    await createNode(w.admin, node, id);
    await createGameServer(w.admin, 'forbidden-alloc', node, 'Allocated', { tolerates: true });
    await w.publisher.publish(id, 'ACTIVE');
    const agent = await w.startAgent(node, { timings: { drainBackoff: { initialMs: 50, maxMs: 200 } } });
    await waitFor('settled', () => agent.lastDecision()?.actions.length === 0);
    // No patch on nodes: the cordon cannot happen.
    await setRules(
      AGENT_CLUSTER_ROLE_RULES.map((r) =>
        r.resources[0] === 'nodes' ? { ...r, verbs: ['get', 'list', 'watch'] } : r,
      ),
    );
    try {
      await w.publisher.publish(id, 'DRAINING');
      await waitFor('CordonFailed', async () =>
        (await nodeEventReasons(w.admin, node)).includes('CordonFailed'),
      );
      await waitFor('retries', () => agent.stats().failures >= 3);
      expect((await getNode(w.admin, node)).spec.unschedulable).toBeUndefined();
      const metrics = await (await fetch(`${agent.opsUrl}/metrics`)).text();
      expect(metrics).toMatch(
        /fleetiq_reconciler_api_errors_total\{api="kubernetes",operation="patchNode",code="403"\} [1-9]/,
      );
    } finally {
      await setRules(AGENT_CLUSTER_ROLE_RULES);
    }
    await waitFor(
      'Tainted once allowed',
      async () => (await getNode(w.admin, node)).metadata.annotations?.[DRAIN_PHASE_ANNOTATION] === 'Tainted',
    );
    // One Warning per failure reason per interval, not one per retry.
    expect((await nodeEventReasons(w.admin, node)).filter((r) => r === 'CordonFailed')).toHaveLength(1);
  });

  it('never runs a FleetIQ step twice at once, and backs off while it fails', async () => {
    const registerCalls = () => w.fleetiq.control.callCounts().RegisterGameServer.calls;
    // In flight: the first registration hangs while statuses keep arriving.
    const slow = IDS[7];
    await createNode(w.admin, 'node-slow-fleetiq', slow);
    await w.publisher.publish(slow, 'ACTIVE');
    const before = registerCalls();
    w.fleetiq.control.addFault({ operation: 'RegisterGameServer', kind: 'hang', delayMs: 800, count: 1 });
    const agent = await w.startAgent('node-slow-fleetiq');
    const passes = agent.stats().passes;
    for (let i = 0; i < 5; i++) await w.publisher.publish(slow, 'ACTIVE');
    await waitFor('passes during the hang', () => agent.stats().passes >= passes + 3);
    await waitFor('registered', () => w.registered(slow) !== undefined);
    expect(registerCalls() - before).toBe(1);

    // Failing: three refusals, paced, one Warning Event, then success.
    const failing = IDS[0].replace(/.$/, 'f');
    w.fleetiq.control.addInstances(GROUP, { instanceIds: [failing] });
    await createNode(w.admin, 'node-failing-fleetiq', failing);
    await w.publisher.publish(failing, 'ACTIVE');
    const start = registerCalls();
    w.fleetiq.control.addFault({
      operation: 'RegisterGameServer',
      errorType: 'InvalidRequestException',
      count: 3,
    });
    await w.startAgent('node-failing-fleetiq', {
      timings: { membershipBackoff: { initialMs: 100, maxMs: 400 } },
    });
    await waitFor('registered after the refusals', () => w.registered(failing) !== undefined, 45_000);
    expect(registerCalls() - start).toBe(4);
    const reasons = await waitFor('the Warning Event', async () => {
      const r = await nodeEventReasons(w.admin, 'node-failing-fleetiq');
      return r.includes('RegisterFailed') ? r : undefined;
    });
    expect(reasons!.filter((r) => r === 'RegisterFailed')).toHaveLength(1);
  });

  it('decides nothing while a GameServer cannot be read', async () => {
    const id = IDS[6];
    const node = 'node-unreadable';
    await createNode(w.admin, node, id);
    await createGameServer(w.admin, 'unreadable-ready', node, 'Ready');
    await w.publisher.publish(id, 'ACTIVE');
    const agent = await w.startAgent(node, { timings: { drainBackoff: { initialMs: 50, maxMs: 200 } } });
    await waitFor('settled', () => agent.lastDecision()?.actions.length === 0);
    await setRules(
      AGENT_CLUSTER_ROLE_RULES.map((r) =>
        r.resources[0] === 'gameservers' ? { ...r, verbs: ['patch'] } : r,
      ),
    );
    try {
      await w.publisher.publish(id, 'DRAINING');
      // The cordon needs no game server; after it, every read is refused: no fence, no taint.
      await waitFor('cordoned', async () => (await getNode(w.admin, node)).spec.unschedulable === true);
      const decisions = agent.stats().decisions;
      await waitFor(
        'refused reads',
        async () =>
          (await w.agentRequests()).filter(
            (e) => e.resource === 'gameservers' && e.name === 'unreadable-ready' && e.code === 403,
          ).length >= 3,
      );
      expect(agent.stats().decisions).toBe(decisions);
      expect((await getGameServer(w.admin, 'unreadable-ready')).status.state).toBe('Ready');
      expect((await getNode(w.admin, node)).metadata.annotations?.[DRAIN_PHASE_ANNOTATION]).toBe('Cordoned');
    } finally {
      await setRules(AGENT_CLUSTER_ROLE_RULES);
    }
    await waitFor(
      'deregistered once readable',
      async () =>
        (await getNode(w.admin, node)).metadata.annotations?.[DRAIN_PHASE_ANNOTATION] === 'Deregistered',
    );
    expect((await getGameServer(w.admin, 'unreadable-ready')).status.state).toBe('Shutdown');
  });
});

describe('ACTIVE again during a drain', () => {
  it('reverts: untaints, uncordons what it cordoned, labels ACTIVE, removes its annotations', async () => {
    const id = IDS[3];
    const node = 'node-revert';
    await createNode(w.admin, node, id);
    await w.publisher.publish(id, 'ACTIVE');
    await w.startAgent(node);
    await w.publisher.publish(id, 'DRAINING');
    // No game servers: straight to Deregistered unless reverted first; hold it in Tainted with a session.
    await createGameServer(w.admin, 'revert-alloc', node, 'Allocated', { tolerates: true });
    await waitFor('tainted', async () => drainTaints(await getNode(w.admin, node)).length === 1);
    await w.publisher.publish(id, 'ACTIVE');
    await waitFor('reverted', async () => {
      const n = await getNode(w.admin, node);
      return (
        drainTaints(n).length === 0 &&
        !n.spec.unschedulable &&
        n.metadata.labels?.[INSTANCE_STATUS_LABEL] === 'ACTIVE' &&
        n.metadata.annotations?.[DRAIN_PHASE_ANNOTATION] === undefined
      );
    });
    expect(w.registered(id)).toBeDefined();
    await waitFor('DrainReverted event', async () =>
      (await nodeEventReasons(w.admin, node)).includes('DrainReverted'),
    );
  });

  it("keeps an operator's cordon made before the drain", async () => {
    const id = IDS[4];
    const node = 'node-operator';
    await createNode(w.admin, node, id, { unschedulable: true });
    await createGameServer(w.admin, 'operator-alloc', node, 'Allocated', { tolerates: true });
    await w.publisher.publish(id, 'ACTIVE');
    await w.startAgent(node);
    await w.publisher.publish(id, 'DRAINING');
    await waitFor('tainted', async () => drainTaints(await getNode(w.admin, node)).length === 1);
    expect((await getNode(w.admin, node)).metadata.annotations?.[CORDONED_BY_AGENT_ANNOTATION]).toBe('false');
    await w.publisher.publish(id, 'ACTIVE');
    await waitFor('reverted', async () => {
      const n = await getNode(w.admin, node);
      return drainTaints(n).length === 0 && n.metadata.annotations?.[DRAIN_PHASE_ANNOTATION] === undefined;
    });
    expect((await getNode(w.admin, node)).spec.unschedulable).toBe(true);
  });
});
