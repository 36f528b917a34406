// Drains FleetIQ did not ask for, end to end: an operator's drain request (the gamelift.status/drain-request
// annotation, what `kubectl fleetiq drain` writes) and, with --karpenter-drains, Karpenter's disruption
// taint. Against the control plane of the tests (the real one unless FLEETIQ_TEST_CONTROL_PLANE=emulated;
// there with manifests/base's admission policies in force and the agent writing with a token bound to a
// pod on its node, as a DaemonSet pod does), the FleetIQ emulator and a real Redis. FleetIQ says ACTIVE throughout: the annotation or the taint alone wakes the agent and drives
// the drain.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { KubeConfig } from '@kubernetes/client-node';
import { restKubeApi } from '../../reconciler/kube-api.js';
import { statusCode } from '../../shared/kube-error.js';
import { DRAIN_TAINT, DRAIN_TOLERATION, INSTANCE_STATUS_LABEL } from '../../shared/contract.js';
import {
  DRAIN_ANNOTATIONS,
  DRAIN_PHASE_ANNOTATION,
  DRAIN_PHASE_LABEL,
  DRAIN_REASON_ANNOTATION,
  DRAIN_REQUEST_ANNOTATION,
} from '../../shared/drain-contract.js';
import { KARPENTER_DISRUPTED_TAINT_KEY } from '../../reconciler/karpenter.js';
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
  NODES,
  createGameServer,
  createNode,
  setGameServerState,
} from '../../sandbox/system/agent-fixtures.js';
import { TEST_KUBE_START_MS } from '../helpers/test-kube.js';
import { inOrder } from './helpers.js';

const IDS = instanceIds('q', 5);
let w: World;

beforeAll(async () => {
  w = await startWorld({ instanceIds: IDS, admissionPolicies: true });
  if (w.kube.kind !== 'real') return;
  // The API server puts new policies in force within seconds: wait until an agent's write to a node
  // other than its own is refused, so that every drain below runs under them.
  await createNode(w.admin, 'policy-probe-own', 'i-00000000000000001');
  await createNode(w.admin, 'policy-probe-other', 'i-00000000000000002');
  const kc = new KubeConfig();
  kc.loadFromString(await w.agentKubeconfig('policy-probe-own'));
  const probe = restKubeApi(kc);
  await waitFor(
    'the admission policies in force',
    async () =>
      statusCode(
        await probe
          .patchNode('policy-probe-other', { metadata: { labels: { 'gamelift.status/probe': 'x' } } })
          .catch((err: unknown) => err),
      ) === 403,
    60_000,
  );
}, TEST_KUBE_START_MS);

afterAll(async () => {
  await w?.stop();
});

const phaseOf = async (node: string) =>
  (await getNode(w.admin, node)).metadata.annotations?.[DRAIN_PHASE_ANNOTATION];
const drainTaints = (node: any) => (node.spec.taints ?? []).filter((t: any) => t.key === DRAIN_TAINT.key);
/** What an operator (or `kubectl fleetiq drain` / `undrain`) writes: the request, or null to remove it. */
const request = (node: string, mode: string | null) =>
  w.admin.patch({ ...NODES, name: node }, 'merge', {
    metadata: { annotations: { [DRAIN_REQUEST_ANNOTATION]: mode } },
  });
const eventsUntil = async (node: string, reason: string) =>
  (await waitFor(`the ${reason} Event on ${node}`, async () => {
    const r = await nodeEventReasons(w.admin, node);
    return r.includes(reason) ? r : undefined;
  }))!;
const metricsOf = async (opsUrl: string) => (await fetch(`${opsUrl}/metrics`)).text();

/** A registered node with a Ready game server and a session, its agent started; FleetIQ says ACTIVE. */
async function nodeWithSession(
  node: string,
  id: string,
  prefix: string,
  options?: Parameters<World['startAgent']>[1],
) {
  await createNode(w.admin, node, id);
  await createGameServer(w.admin, `${prefix}-ready`, node, 'Ready');
  // Allocated while the webhook was down: the drain backfills the toleration.
  await createGameServer(w.admin, `${prefix}-session`, node, 'Allocated');
  await w.publisher.publish(id, 'ACTIVE');
  const agent = await w.startAgent(node, options);
  await waitFor('UTILIZED while the session runs', () => w.registered(id)?.utilizationStatus === 'UTILIZED');
  return agent;
}

describe('an operator drain request', () => {
  it('drains at once: Ready game servers go, the session finishes, then Drained with the instance still registered; removing it undoes the drain', async () => {
    const id = IDS[0];
    const node = 'node-request';
    const agent = await nodeWithSession(node, id, 'rq');
    await waitFor('settled', () => agent.lastDecision()?.actions.length === 0);

    await request(node, 'drain');
    // The annotation alone wakes the agent: no status is published, no timer is due.
    await waitFor('phase Tainted', async () => (await phaseOf(node)) === 'Tainted');
    const n = await getNode(w.admin, node);
    expect(n.spec.unschedulable).toBe(true);
    expect(drainTaints(n)).toEqual([expect.objectContaining({ ...DRAIN_TAINT })]);
    expect(n.metadata.annotations?.[DRAIN_REASON_ANNOTATION]).toBe('request');
    expect(n.metadata.labels?.[DRAIN_PHASE_LABEL]).toBe('Tainted');
    // FleetIQ still says ACTIVE, and the label says what FleetIQ said.
    expect(n.metadata.labels?.[INSTANCE_STATUS_LABEL]).toBe('ACTIVE');
    // The Ready game server moved at once; the session keeps running, tolerating the taint.
    expect((await getGameServer(w.admin, 'rq-ready')).status.state).toBe('Shutdown');
    expect((await getGameServer(w.admin, 'rq-session')).status.state).toBe('Allocated');
    const sessionPod = await getPod(w.admin, 'rq-session');
    expect(sessionPod.spec.tolerations).toContainEqual(DRAIN_TOLERATION);
    expect(sessionPod.metadata.deletionTimestamp).toBeUndefined();
    expect(w.registered(id)?.utilizationStatus).toBe('UTILIZED');

    await setGameServerState(w.admin, 'rq-session', 'Shutdown');
    await waitFor('phase Drained', async () => (await phaseOf(node)) === 'Drained');
    expect(agent.phase()).toBe('Drained');
    const reasons = await eventsUntil(node, 'Drained');
    expect(
      inOrder(
        ['DrainRequested', 'Cordoned', 'Fencing', 'Fenced', 'Tainted', 'SessionsRemaining', 'Drained'],
        reasons,
      ),
    ).toBe(true);
    expect(reasons).not.toContain('Deregistered');
    // Drained is no deregistration: the instance stays registered, the agent stays ready.
    expect(w.registered(id)).toBeDefined();
    expect(agent.ready()).toBe(true);
    const drained = await metricsOf(agent.opsUrl);
    expect(drained).toContain('fleetiq_reconciler_drain_phase{phase="Drained"} 1');
    expect(drained).toContain('fleetiq_reconciler_drain_reason{reason="request"} 1');
    expect(drained).toContain('fleetiq_reconciler_drains_started_total{reason="request"} 1');
    expect(drained).not.toMatch(/drains_started_total\{reason="fleetiq"\}/);

    // `kubectl fleetiq undrain`: the request removed, the drain is undone without any FleetIQ status.
    await request(node, null);
    await waitFor(
      'phase Active',
      async () => (await getNode(w.admin, node)).metadata.labels?.[DRAIN_PHASE_LABEL] === 'Active',
    );
    const back = await getNode(w.admin, node);
    expect(back.spec.unschedulable).toBeUndefined();
    expect(drainTaints(back)).toEqual([]);
    for (const a of DRAIN_ANNOTATIONS) expect(back.metadata.annotations?.[a]).toBeUndefined();
    expect(await eventsUntil(node, 'DrainReverted')).toContain('DrainReverted');
    expect(await metricsOf(agent.opsUrl)).toContain('fleetiq_reconciler_drain_reason{reason="request"} 0');
    expect(w.registered(id)).toBeDefined();
    // Never a 403: the ClusterRole and the admission policies allow everything a request drain needs.
    const refused = (await w.agentRequests()).filter(
      (e) => e.code === 403 && e.name !== 'policy-probe-other',
    );
    expect(refused).toEqual([]);
  });

  it('withdrawn mid-drain, leaves the session where it is and the node as it was', async () => {
    const id = IDS[1];
    const node = 'node-request-withdrawn';
    await nodeWithSession(node, id, 'rw');
    await request(node, 'drain');
    await waitFor('phase Tainted', async () => (await phaseOf(node)) === 'Tainted');
    await request(node, null);
    await waitFor('no drain phase', async () => (await phaseOf(node)) === undefined);
    const back = await getNode(w.admin, node);
    expect(back.spec.unschedulable).toBeUndefined();
    expect(drainTaints(back)).toEqual([]);
    expect((await getGameServer(w.admin, 'rw-session')).status.state).toBe('Allocated');
    expect((await getPod(w.admin, 'rw-session')).metadata.deletionTimestamp).toBeUndefined();
    expect(w.registered(id)?.utilizationStatus).toBe('UTILIZED');
  });

  it('with deregister, deregisters the instance once the last session ends', async () => {
    const id = IDS[2];
    const node = 'node-request-deregister';
    const agent = await nodeWithSession(node, id, 'rd');
    await request(node, 'deregister');
    await waitFor('phase Tainted', async () => (await phaseOf(node)) === 'Tainted');
    expect(w.registered(id)).toBeDefined();
    await setGameServerState(w.admin, 'rd-session', 'Shutdown');
    await waitFor('deregistration', () => w.registered(id) === undefined);
    await waitFor('phase Deregistered', async () => (await phaseOf(node)) === 'Deregistered');
    const reasons = await eventsUntil(node, 'Deregistered');
    expect(inOrder(['DrainRequested', 'Fenced', 'Tainted', 'Deregistered'], reasons)).toBe(true);
    expect(reasons).not.toContain('Drained');
    expect(agent.phase()).toBe('Deregistered');
    // FleetIQ's ACTIVE does not bring it back while the request stands.
    const passes = agent.stats().passes;
    await w.publisher.publish(id, 'ACTIVE');
    await waitFor('the ACTIVE considered', () => agent.stats().passes > passes);
    expect(agent.phase()).toBe('Deregistered');
    expect(w.registered(id)).toBeUndefined();
  });

  it('survives a restart mid-drain: the new agent resumes from the Node, opening no second drain', async () => {
    const id = IDS[3];
    const node = 'node-request-restart';
    const first = await nodeWithSession(node, id, 'rr');
    await request(node, 'drain');
    await waitFor('phase Tainted', async () => (await phaseOf(node)) === 'Tainted');
    await first.stop();
    expect(w.registered(id)).toBeDefined();

    const second = await w.startAgent(node);
    await waitFor('the new agent in phase Tainted', () => second.phase() === 'Tainted');
    await setGameServerState(w.admin, 'rr-session', 'Shutdown');
    await waitFor('phase Drained', async () => (await phaseOf(node)) === 'Drained');
    const reasons = await eventsUntil(node, 'Drained');
    expect(reasons.filter((r) => r === 'DrainRequested')).toHaveLength(1);
    expect(reasons.filter((r) => r === 'Cordoned')).toHaveLength(1);
    expect(w.registered(id)).toBeDefined();
    // The second agent resumed a drain it did not begin: it counts none.
    expect(await metricsOf(second.opsUrl)).not.toMatch(/drains_started_total\{reason="request"\}/);
  });
});

describe("Karpenter's disruption taint, with --karpenter-drains", () => {
  it('drains the node like a request while the taint is on, and undoes the drain when Karpenter takes it off', async () => {
    const id = IDS[4];
    const node = 'node-karpenter';
    const agent = await nodeWithSession(node, id, 'ka', { decide: { karpenterDrains: true } });
    const karpenterTaints = (taints: object[] | null) =>
      w.admin.patch({ ...NODES, name: node }, 'merge', { spec: { taints } });
    await karpenterTaints([{ key: KARPENTER_DISRUPTED_TAINT_KEY, effect: 'NoSchedule' }]);
    await waitFor('phase Tainted', async () => (await phaseOf(node)) === 'Tainted');
    const n = await getNode(w.admin, node);
    // The agent's taint beside Karpenter's, which it leaves alone.
    expect(n.spec.taints).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ key: KARPENTER_DISRUPTED_TAINT_KEY, effect: 'NoSchedule' }),
        expect.objectContaining({ ...DRAIN_TAINT }),
      ]),
    );
    expect((await getGameServer(w.admin, 'ka-ready')).status.state).toBe('Shutdown');
    expect((await getGameServer(w.admin, 'ka-session')).status.state).toBe('Allocated');
    expect(await eventsUntil(node, 'DrainRequested')).toContain('DrainRequested');

    // The replacement failed to start: Karpenter takes its taint off, the drain is undone.
    const withoutKarpenter = n.spec.taints.filter((t: any) => t.key !== KARPENTER_DISRUPTED_TAINT_KEY);
    await karpenterTaints(withoutKarpenter);
    await waitFor('no drain phase', async () => (await phaseOf(node)) === undefined);
    const back = await getNode(w.admin, node);
    expect(back.spec.unschedulable).toBeUndefined();
    expect(back.spec.taints ?? []).toEqual([]);
    expect((await getGameServer(w.admin, 'ka-session')).status.state).toBe('Allocated');
    expect(agent.phase()).toBe('Active');
  });
});
