// The agent taking over a node from the old Python adapter's daemon (docs/migration.md). The node is
// left as the model of the old daemon (sandbox/legacy, written from its documented behaviour) leaves
// it: registered, claimed and UTILIZED in FleetIQ, tainted gamelift.status/active=true:NoExecute, and
// possibly cordoned and tainted gamelift.status/draining by a drain of its own. The old daemon is then
// taken off the node without deregistering (the guide's IAM deny), and the agent must adopt all of it.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { GameLiftClient } from '@aws-sdk/client-gamelift';
import { DeregisterGameServerCommand } from '@aws-sdk/client-gamelift';
import { DRAIN_TAINT_KEY, INSTANCE_STATUS_LABEL, LEGACY_ACTIVE_TAINT_KEY } from '../../shared/contract.js';
import { CORDONED_BY_AGENT_ANNOTATION, DRAIN_PHASE_ANNOTATION } from '../../shared/drain-contract.js';
import { LEGACY_ACTIVE_TOLERATION, LegacyDaemon } from '../../sandbox/legacy/daemon.js';
import {
  GROUP,
  PODS,
  createGameServer,
  createNode,
  setGameServerState,
} from '../../sandbox/system/agent-fixtures.js';
import { TEST_KUBE_START_MS } from '../helpers/test-kube.js';
import { gameLiftClient } from './helpers.js';
import {
  getNode,
  getPod,
  instanceIds,
  nodeEventReasons,
  silent,
  startWorld,
  waitFor,
  type World,
} from './agent-support.js';

const IDS = instanceIds('l', 4);
let w: World;
let gamelift: GameLiftClient;

beforeAll(async () => {
  w = await startWorld({ instanceIds: IDS });
  gamelift = gameLiftClient(w.fleetiq.url, 2);
}, TEST_KUBE_START_MS);

afterAll(async () => {
  gamelift?.destroy();
  await w?.stop();
});

const registrations = (id: string) =>
  w.fleetiq.control.events().filter((e) => e.type === 'game-server-registered' && e.instanceId === id).length;
const taintKeys = async (node: string) =>
  ((await getNode(w.admin, node)).spec.taints ?? []).map((t: { key: string }) => t.key);

/** A game server of a fleet made for the old adapter: its pod tolerates the old daemon's taint. */
async function legacyFleetGameServer(name: string, node: string, state: string): Promise<void> {
  await createGameServer(w.admin, name, node, state);
  const pod = await getPod(w.admin, name);
  const ops = Array.isArray(pod.spec.tolerations)
    ? [{ op: 'add', path: '/spec/tolerations/-', value: LEGACY_ACTIVE_TOLERATION }]
    : [{ op: 'add', path: '/spec/tolerations', value: [LEGACY_ACTIVE_TOLERATION] }];
  await w.admin.patch({ ...PODS, namespace: 'default', name }, 'json', ops);
}

/** The old daemon on `node` from start to its removal; its deregistration is refused (IAM deny). */
async function oldDaemonRan(node: string, id: string, during?: () => Promise<void>): Promise<void> {
  const daemon = await LegacyDaemon.start({
    nodeName: node,
    instanceId: id,
    group: GROUP,
    kube: w.admin,
    gamelift,
    redisUrl: w.redis.url,
    healthIntervalMs: 1_000,
    drainCheckIntervalMs: 300,
    logger: silent,
  });
  await during?.();
  // Its pod is deleted with DeregisterGameServer denied to its role: as far as FleetIQ is concerned,
  // it simply stops reporting (the kill models exactly that).
  await daemon.stop('killed');
}

describe('a node the old daemon ran, taken over by the agent', () => {
  it('is adopted: the claimed registration kept (not registered twice), its taint removed, and re-registered if the old daemon deregisters after all', async () => {
    const id = IDS[0];
    const node = 'node-legacy-active';
    await createNode(w.admin, node, id);
    await legacyFleetGameServer('legacy-alloc', node, 'Allocated');
    await oldDaemonRan(node, id);
    expect(await taintKeys(node)).toContain(LEGACY_ACTIVE_TAINT_KEY);
    expect(w.registered(id)).toMatchObject({ utilizationStatus: 'UTILIZED', claimStatus: 'CLAIMED' });
    expect(registrations(id)).toBe(1);

    await w.publisher.publish(id, 'ACTIVE');
    const agent = await w.startAgent(node);
    await waitFor(
      'the old taint removed',
      async () => !(await taintKeys(node)).includes(LEGACY_ACTIVE_TAINT_KEY),
    );
    expect(agent.phase()).toBe('Active');
    const n = await getNode(w.admin, node);
    expect(n.spec.unschedulable).toBeFalsy();
    expect(n.metadata.labels?.[INSTANCE_STATUS_LABEL]).toBe('ACTIVE');
    await waitFor('its Event', async () =>
      (await nodeEventReasons(w.admin, node)).includes('LegacyTaintRemoved'),
    );
    // Adopted: RegisterGameServer met ConflictException; the health reports run on the same game server.
    const before = w.registered(id)!.lastHealthCheckTime;
    await waitFor('health reports by the agent', () => w.registered(id)!.lastHealthCheckTime > before);
    expect(registrations(id)).toBe(1);
    expect(w.registered(id)!.utilizationStatus).toBe('UTILIZED');

    // Had the old daemon deregistered on its way out (no IAM deny), the agent registers the instance
    // again at its next health report and marks it UTILIZED for the session it holds.
    await gamelift.send(new DeregisterGameServerCommand({ GameServerGroupName: GROUP, GameServerId: id }));
    await waitFor('registered again, UTILIZED', () => w.registered(id)?.utilizationStatus === 'UTILIZED');
    expect(registrations(id)).toBe(2);
    expect(agent.phase()).toBe('Active');
  });

  it('adopts a drain the old daemon left half done, and deregisters once the last session ends', async () => {
    const id = IDS[1];
    const node = 'node-legacy-draining';
    await createNode(w.admin, node, id);
    await legacyFleetGameServer('legacy-drain-alloc', node, 'Allocated');
    await legacyFleetGameServer('legacy-drain-ready', node, 'Ready');
    await oldDaemonRan(node, id, async () => {
      w.fleetiq.control.setInstanceStatus(id, 'DRAINING');
      await w.publisher.publish(id, 'DRAINING');
      await waitFor('the old daemon drained the node', async () =>
        (await taintKeys(node)).includes(DRAIN_TAINT_KEY),
      );
    });
    const left = await getNode(w.admin, node);
    expect(left.spec.unschedulable).toBe(true);

    const agent = await w.startAgent(node);
    await waitFor('Tainted, waiting for the session', () => agent.phase() === 'Tainted');
    const n = await getNode(w.admin, node);
    // The cordon is the old daemon's: the agent records that it did not make it.
    expect(n.metadata.annotations?.[CORDONED_BY_AGENT_ANNOTATION]).toBe('false');
    expect(n.metadata.labels?.[INSTANCE_STATUS_LABEL]).toBe('DRAINING');
    expect(w.registered(id)?.utilizationStatus).toBe('UTILIZED');
    await setGameServerState(w.admin, 'legacy-drain-alloc', 'Shutdown');
    await waitFor('deregistered by the agent', () => w.registered(id) === undefined);
    await waitFor(
      'recorded Deregistered',
      async () =>
        (await getNode(w.admin, node)).metadata.annotations?.[DRAIN_PHASE_ANNOTATION] === 'Deregistered',
    );
    expect(registrations(id)).toBe(1);
  });

  it("ACTIVE after the old daemon's drain: the drain taint goes, the cordon it cannot tell from an operator's stays", async () => {
    const id = IDS[2];
    const node = 'node-legacy-reverted';
    await createNode(w.admin, node, id);
    await legacyFleetGameServer('legacy-revert-alloc', node, 'Allocated');
    await oldDaemonRan(node, id, async () => {
      await w.publisher.publish(id, 'DRAINING');
      await waitFor('the old daemon drained the node', async () =>
        (await taintKeys(node)).includes(DRAIN_TAINT_KEY),
      );
    });
    await w.publisher.publish(id, 'ACTIVE');
    await w.startAgent(node);
    await waitFor('both taints gone', async () =>
      (await taintKeys(node)).every((k: string) => k !== DRAIN_TAINT_KEY && k !== LEGACY_ACTIVE_TAINT_KEY),
    );
    const n = await getNode(w.admin, node);
    expect(n.spec.unschedulable).toBe(true);
    expect(n.metadata.annotations?.[DRAIN_PHASE_ANNOTATION]).toBeUndefined();
    await waitFor('DrainReverted', async () =>
      (await nodeEventReasons(w.admin, node)).includes('DrainReverted'),
    );
    expect(registrations(id)).toBe(1);
  });
});
