// What an operator sees on a Node while the agent works: the drain phase as a label (kubectl -L/-l),
// the FleetIQ status the agent last observed and when, and the Events of a Spot drain.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  DRAIN_PHASE_ANNOTATION,
  DRAIN_PHASE_LABEL,
  DRAIN_REASON_ANNOTATION,
  FLEETIQ_STATUS_ANNOTATION,
  FLEETIQ_STATUS_OBSERVED_AT_ANNOTATION,
  drainRecordAnnotations,
} from '../../shared/drain-contract.js';
import { decide } from '../../reconciler/decide.js';
import { getNode, instanceIds, nodeEventReasons, startWorld, waitFor, type World } from './agent-support.js';
import { EVENTS, NODES, createGameServer, createNode } from '../../sandbox/system/agent-fixtures.js';
import { TEST_KUBE_START_MS } from '../helpers/test-kube.js';
import { CONFIG, T0, fresh, gs, makeNode, observation } from './world.js';

const IDS = instanceIds('o', 4);
let w: World;

beforeAll(async () => {
  w = await startWorld({ instanceIds: IDS });
}, TEST_KUBE_START_MS);

afterAll(async () => {
  await w?.stop();
});

const labelled = async (phase: string) =>
  (await w.admin.list(NODES, { labelSelector: `${DRAIN_PHASE_LABEL}=${phase}` })).items.map(
    (n) => n.metadata.name,
  );

describe('the FleetIQ status the agent observed', () => {
  it('is recorded on the Node with the time FleetIQ said it, and follows a change', async () => {
    const id = IDS[0];
    const node = 'node-observed';
    await createNode(w.admin, node, id);
    const activeAt = new Date(Date.now() - 3_000);
    await w.publisher.publish(id, 'ACTIVE', activeAt);
    const agent = await w.startAgent(node);
    // Readiness as a gauge too, for the "agent not ready" alert.
    await waitFor('ready', () => agent.ready() === true);
    expect(await (await fetch(`${agent.opsUrl}/metrics`)).text()).toMatch(/^fleetiq_reconciler_ready 1$/m);
    // Every column of `kubectl get nodes -L ...drain-phase` filled, healthy nodes included.
    await waitFor(
      'the Active phase label',
      async () => (await getNode(w.admin, node)).metadata.labels?.[DRAIN_PHASE_LABEL] === 'Active',
    );
    await waitFor(
      'the observed status',
      async () =>
        (await getNode(w.admin, node)).metadata.annotations?.[FLEETIQ_STATUS_ANNOTATION] === 'ACTIVE',
    );
    expect((await getNode(w.admin, node)).metadata.annotations?.[FLEETIQ_STATUS_OBSERVED_AT_ANNOTATION]).toBe(
      activeAt.toISOString(),
    );

    const drainingAt = new Date();
    await w.publisher.publish(id, 'DRAINING', drainingAt);
    await waitFor(
      'DRAINING recorded',
      async () =>
        (await getNode(w.admin, node)).metadata.annotations?.[FLEETIQ_STATUS_ANNOTATION] === 'DRAINING',
    );
    const n = await getNode(w.admin, node);
    expect(n.metadata.annotations?.[FLEETIQ_STATUS_OBSERVED_AT_ANNOTATION]).toBe(drainingAt.toISOString());
    // No session on the node: the drain runs to its end, and the phase is a label as well.
    await waitFor(
      'Deregistered',
      async () => (await getNode(w.admin, node)).metadata.labels?.[DRAIN_PHASE_LABEL] === 'Deregistered',
    );
    expect(await labelled('Deregistered')).toContain(node);
  });
});

describe('the drain phase label', () => {
  it('selects a Tainted node with -l, and says Active again after a revert', async () => {
    const id = IDS[1];
    const node = 'node-label';
    await createNode(w.admin, node, id);
    await createGameServer(w.admin, 'label-session', node, 'Allocated', { tolerates: true });
    await w.publisher.publish(id, 'ACTIVE');
    await w.startAgent(node);
    await waitFor('registered', () => w.registered(id) !== undefined);
    await w.publisher.publish(id, 'DRAINING');
    await waitFor('selected as Tainted', async () => (await labelled('Tainted')).includes(node));
    const n = await getNode(w.admin, node);
    expect(n.metadata.annotations?.[DRAIN_PHASE_ANNOTATION]).toBe('Tainted');

    await w.publisher.publish(id, 'ACTIVE');
    await waitFor(
      'reverted',
      async () => (await getNode(w.admin, node)).metadata.annotations?.[DRAIN_PHASE_ANNOTATION] === undefined,
    );
    expect((await getNode(w.admin, node)).metadata.labels?.[DRAIN_PHASE_LABEL]).toBe('Active');
  });

  it('is added to a node whose drain an older agent recorded without it', async () => {
    const id = IDS[2];
    const node = 'node-upgraded';
    const record = {
      phase: 'Tainted' as const,
      reason: 'fleetiq' as const,
      startedAt: Date.now() - 60_000,
      cordonedByAgent: true,
    };
    // Older agents wrote neither the phase label nor the drain reason.
    const annotations = Object.fromEntries(
      Object.entries(drainRecordAnnotations(record)).filter(
        (e): e is [string, string] => e[1] !== null && e[0] !== DRAIN_REASON_ANNOTATION,
      ),
    );
    await createNode(w.admin, node, id, {
      annotations,
      labels: { 'gamelift.status/instance-status': 'DRAINING' },
      unschedulable: true,
      taints: [{ key: 'gamelift.status/draining', value: 'true', effect: 'NoExecute' }],
    });
    await createGameServer(w.admin, 'upgraded-session', node, 'Allocated', { tolerates: true });
    await w.publisher.publish(id, 'DRAINING');
    await w.startAgent(node);
    await waitFor('the label', async () => (await labelled('Tainted')).includes(node));
  });

  it('is restored by decide() whatever the status, and removed when there is no drain', () => {
    const tainted = {
      phase: 'Tainted' as const,
      reason: 'fleetiq' as const,
      startedAt: T0 - 1000,
      cordonedByAgent: true,
    };
    const bare = makeNode({ label: 'DRAINING', unschedulable: true, tainted: true, record: tainted });
    delete bare.labels[DRAIN_PHASE_LABEL];
    for (const status of [undefined, fresh('DRAINING')]) {
      const d = decide(
        observation({
          node: structuredClone(bare),
          gameServers: [gs('session', 'Allocated')],
          ...(status ? { status } : {}),
        }),
        CONFIG,
      );
      expect(d.actions.filter((a) => a.kind === 'recordDrainState')).toEqual([
        { kind: 'recordDrainState', record: tainted },
      ]);
    }
    const stray = makeNode({ label: 'ACTIVE' });
    stray.labels[DRAIN_PHASE_LABEL] = 'Fenced';
    expect(
      decide(observation({ node: stray, status: fresh('ACTIVE') }), CONFIG).actions.filter(
        (a) => a.kind === 'recordDrainState',
      ),
    ).toEqual([{ kind: 'recordDrainState', record: null }]);
  });
});

describe('a Spot interruption notice', () => {
  it('raises SpotTerminating (Warning) and Cordoned, as a DRAINING drain raises its Events', async () => {
    const id = IDS[3];
    const node = 'node-spot';
    await createNode(w.admin, node, id);
    // A busy node: a Ready game server to fence and a session, so the cordon is followed by a fence.
    await createGameServer(w.admin, 'spot-ready', node, 'Ready');
    await createGameServer(w.admin, 'spot-session', node, 'Allocated', { tolerates: true });
    await w.publisher.publish(id, 'ACTIVE');
    await w.startAgent(node);
    await waitFor('registered', () => w.registered(id) !== undefined);
    await w.publisher.publish(id, 'SPOT_TERMINATING');
    const reasons = (await waitFor('the Spot drain Events', async () => {
      const r = await nodeEventReasons(w.admin, node);
      return r.includes('DeletingGameServerPods') ? r : undefined;
    }))!;
    expect(reasons).toEqual(expect.arrayContaining(['SpotTerminating', 'Cordoned', 'Fencing', 'Tainted']));
    const events = await w.admin.list(
      { ...EVENTS, namespace: 'default' },
      { fieldSelector: `involvedObject.name=${node}` },
    );
    expect(events.items.find((e) => e.reason === 'SpotTerminating')?.type).toBe('Warning');
    const n = await getNode(w.admin, node);
    expect(['SpotEvicting', 'Deregistered']).toContain(n.metadata.labels?.[DRAIN_PHASE_LABEL]);
    expect(n.metadata.labels?.[DRAIN_PHASE_LABEL]).toBe(n.metadata.annotations?.[DRAIN_PHASE_ANNOTATION]);
  });
});
