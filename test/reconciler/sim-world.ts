// The whole system on one machine for the agent's simulation tests: the Kubernetes control plane of
// the tests (the real kube-apiserver, controller-manager and scheduler unless
// FLEETIQ_TEST_CONTROL_PLANE=emulated; RBAC on, the installation from manifests/ applied) with the
// simulated cluster (kubelets, Agones, players; on the emulator also the scheduler and taint manager,
// which the real control plane brings itself) on a fast SimClock,
// the FleetIQ emulator on the same clock (its instances ARE the cluster's nodes: a terminated instance
// takes its node away, a launched one registers a node and gets an agent), Redis, the real pubsub
// publishing FleetIQ's statuses, the real webhook registered with the API server, and one real agent
// per node (on real time, as in production). The parts come from the system builder
// (sandbox/system/system.ts) through the test control plane (test/helpers/test-kube.ts): pubsub and
// the webhook as the sandbox runs them (startComponents: under their ServiceAccounts, pubsub with its
// Lease, the webhook with its built-in certificates behind the Service stand-in); the agents, which
// these tests are about, with the agent tests' timings (agent-support.ts).
import { SimClock } from '../../sandbox/clock.js';
import { SANDBOX_TIMINGS, type ComponentTimings } from '../../sandbox/run/components.js';
import { WEBHOOK_CONFIGURATION_NAME } from '../../sandbox/run/manifests.js';
import { startTestKube } from '../helpers/test-kube.js';
import type { ClusterSimulation, FleetOptions } from '../../sandbox/cluster/index.js';
import type { KubeObject } from '../../sandbox/kube/types.js';
import type { PubsubService } from '../../pubsub/service.js';
import type { RunningWebhook } from '../../webhook/server.js';
import type { RunningReconciler } from '../../reconciler/agent.js';
import type { DecideConfig } from '../../reconciler/decide.js';
import type { ImdsEmulator } from '../../sandbox/imds/emulator.js';
import { startWorld, type World } from './agent-support.js';
import { GROUP, SECRET } from '../../sandbox/system/agent-fixtures.js';
import { waitFor } from './helpers.js';

/** pubsub polls FleetIQ four times a second (the agents here are started by the world, not by these). */
const TIMINGS: ComponentTimings = { ...SANDBOX_TIMINGS, pubsubPollSeconds: 0.25, pubsubRepublishSeconds: 5 };
const CREDENTIALS = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'dummy-secret' };

export interface SimWorld {
  world: World;
  clock: SimClock;
  sim: ClusterSimulation;
  pubsub: PubsubService;
  webhook: RunningWebhook;
  /** The running agent of each live instance. */
  agentOf: Map<string, RunningReconciler>;
  /** Replacement instances FleetIQ launched (each got a node and an agent). */
  launched: string[];
  /** Each instance's emulated instance metadata (with `imds: true`). */
  imdsOf: Map<string, ImdsEmulator>;
  nodeOf(instanceId: string): string;
  /** FleetIQ's view of the game server of an instance. */
  fleetiqGameServer(instanceId: string): { utilizationStatus: string } | undefined;
  /** Instances (live) and the Allocated GameServers on their nodes. */
  allocatedByInstance(): Promise<Map<string, KubeObject[]>>;
  stop(): Promise<void>;
}

/**
 * A world of `instances` nodes with the simulated cluster, the fleet Ready, pubsub leading, the webhook
 * registered, and every node's agent registered with FleetIQ.
 */
export async function startSimWorld(o: {
  instances: number;
  fleet: FleetOptions;
  speed?: number;
  decide?: Partial<DecideConfig>;
  nodeCapacityPods?: number;
  exitOnSigtermSeconds?: number;
  /** Give every instance its own emulated instance metadata, polled by its agent for Spot notices. */
  imds?: boolean;
}): Promise<SimWorld> {
  const clock = new SimClock({ speed: o.speed ?? 20 });
  // The installation's webhook configuration stays: the webhook below serves it.
  const kube = await startTestKube({ clock, webhook: true }).catch((err) => {
    clock.stop();
    throw err;
  });
  // Everything below stops with the control plane's system, last started first, whether the world
  // started or not.
  const system = kube.system;
  try {
    return await build();
  } catch (err) {
    await kube.stop().catch(() => undefined);
    clock.stop();
    throw err;
  }

  async function build(): Promise<SimWorld> {
    const agentOf = new Map<string, RunningReconciler>();
    const launched: string[] = [];
    const imdsOf = new Map<string, ImdsEmulator>();

    // The instance ids are FleetIQ's; the group is created with them so that the hooks see everything after.
    const ids = Array.from(
      { length: o.instances },
      (_, i) => `i-0${(0xabc000 + i).toString(16).padStart(16, '0')}`,
    );
    const world = await startWorld({
      instanceIds: ids,
      clock,
      kube,
      fleetiqSettings: { drainingTerminationDelaySeconds: 30, healthCheckTimeoutSeconds: 3600 },
    });
    const w = world;
    system.defer('the agents, FleetIQ and Redis', () => w.stop());
    // FleetIQ terminating an instance: the node goes (the agent with it); a replacement comes with an agent.
    w.fleetiq.control.configure({ replaceTerminatedInstances: true });

    const sim = await kube.system.startCluster({
      seed: 11,
      nodes: { count: 0 },
      podStartDelaySeconds: 1,
      readyDelaySeconds: 1,
      exitOnSigtermSeconds: o.exitOnSigtermSeconds ?? 5,
      readyTimeoutMs: kube.kind === 'real' ? 90_000 : 20_000,
      waitForFleets: false,
    });

    const startAgentFor = async (instanceId: string) => {
      const node = await sim.addNode({ instanceId, capacity: { pods: o.nodeCapacityPods ?? 8 } });
      let config = {};
      if (o.imds) {
        const imds = await system.startImds({ instanceId });
        imdsOf.set(instanceId, imds);
        config = { imdsEndpoint: imds.url, spotNoticePollIntervalMs: 500 };
      }
      const agent = await world.startAgent(node.metadata.name!, { decide: o.decide, config });
      agentOf.set(instanceId, agent);
    };

    // The webhook, registered with the API server as the manifests register it (the installation's
    // MutatingWebhookConfiguration, by Service reference; it publishes its own caBundle there), and
    // pubsub publishing FleetIQ's statuses, as the sandbox runs them.
    const components = system.startComponents({
      meter: { url: w.fleetiq.url, credentials: () => CREDENTIALS },
      group: GROUP,
      redisUrl: w.redis.url,
      signingSecret: SECRET,
      timings: TIMINGS,
    });
    await components.startWebhooks(1);
    const webhook = components.webhooks[0]!;
    await waitFor(
      'the webhook caBundle in the MutatingWebhookConfiguration',
      async () => {
        const mwc = await w.admin.get({
          group: 'admissionregistration.k8s.io',
          version: 'v1',
          resource: 'mutatingwebhookconfigurations',
          name: WEBHOOK_CONFIGURATION_NAME,
        });
        return (mwc.webhooks as { clientConfig?: { caBundle?: string } }[]).every((h) =>
          Boolean(h.clientConfig?.caBundle),
        );
      },
      30_000,
    );
    const pubsub = await components.startPubsub(0);
    await waitFor('pubsub to lead', () => pubsub.isLeader(), 30_000);

    for (const id of ids) await startAgentFor(id);
    await sim.applyFleet(o.fleet);
    await sim.waitForFleetReady(o.fleet.name, { timeoutMs: kube.kind === 'real' ? 90_000 : 20_000 });

    // Follow FleetIQ's instance lifecycle (events are polled: the emulator's hooks are set at start).
    let seen = w.fleetiq.control.events().at(-1)?.seq ?? 0;
    let stopped = false;
    system.defer('following FleetIQ', () => {
      stopped = true;
      clearInterval(follow);
    });
    const follow = setInterval(() => {
      if (stopped) return;
      for (const e of w.fleetiq.control.events(seen)) {
        seen = e.seq;
        if (e.type === 'instance-terminated') {
          const agent = agentOf.get(e.instanceId);
          agentOf.delete(e.instanceId);
          void agent?.stop();
          void sim.terminateInstance(e.instanceId).catch(() => undefined);
        } else if (e.type === 'instance-launched' && !ids.includes(e.instanceId)) {
          launched.push(e.instanceId);
          void startAgentFor(e.instanceId).catch(() => undefined);
        }
      }
    }, 20);

    // Every test starts from agents that have registered their instances with FleetIQ.
    await waitFor(
      'every agent registered',
      () =>
        ids.every((id) => w.fleetiq.control.gameServers({ group: GROUP }).some((g) => g.gameServerId === id)),
      10_000,
    );

    return {
      world: w,
      clock,
      sim,
      pubsub,
      webhook,
      agentOf,
      launched,
      imdsOf,
      nodeOf: (id) => sim.nodes.nodeNameOf(id) ?? '',
      fleetiqGameServer: (id) =>
        w.fleetiq.control.gameServers({ group: GROUP }).find((g) => g.gameServerId === id),
      async allocatedByInstance() {
        const out = new Map<string, KubeObject[]>();
        for (const id of agentOf.keys()) out.set(id, []);
        const list = await w.admin.list({
          group: 'agones.dev',
          version: 'v1',
          resource: 'gameservers',
          namespace: 'default',
        });
        for (const gs of list.items) {
          if (gs.status?.state !== 'Allocated') continue;
          const id = sim.nodes.instanceIdOf(gs.status.nodeName);
          if (id && out.has(id)) out.get(id)!.push(gs);
        }
        return out;
      },
      async stop() {
        await kube.stop();
        clock.stop();
      },
    };
  }
}
