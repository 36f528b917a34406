// The world the node agent's end-to-end tests run in: the Kubernetes control plane of the tests (the
// real kube-apiserver with its controllers by default, the emulator with
// FLEETIQ_TEST_CONTROL_PLANE=emulated; RBAC on, the agent runs as its ServiceAccount with exactly the
// rules below), the FleetIQ emulator, a real redis-server, and helpers to create Nodes, GameServers
// with their pods, and to publish statuses the way pubsub does (signed, sequenced, latest key + channel).
//
// No kubelet runs here: Nodes, GameServers and pods are objects the tests write. On the real control
// plane the controllers still act on them as on a cluster: the taint-eviction controller deletes
// pods that do not tolerate the drain taint, and a deleted pod stays Terminating (no kubelet confirms it).
import { KubeConfig } from '@kubernetes/client-node';
import type { RequestLogEntry } from '../../sandbox/kube/request-log.js';
import type { LocalClient } from '../../sandbox/kube/types.js';
import type { FleetIQEmulator } from '../../sandbox/fleetiq/emulator.js';
import type { SimClock } from '../../sandbox/clock.js';
import {
  AGENT_USER,
  EVENTS,
  GAMESERVERS,
  GROUP,
  NODES,
  PODS,
  SECRET,
  StatusPublisher,
  grantAgentRbac,
} from '../../sandbox/system/agent-fixtures.js';
import {
  reconcilerConfig,
  startReconciler,
  type AgentTimings,
  type ReconcilerOptions,
  type RunningReconciler,
} from '../../reconciler/agent.js';
import type { ReconcilerConfig } from '../../reconciler/config.js';
import type { DecideConfig } from '../../reconciler/decide.js';
import type { RedisServer } from '../helpers/redis.js';
import { startTestKube, type TestKube } from '../helpers/test-kube.js';
import { gameLiftClient, silent, waitFor } from './helpers.js';

/** `n` instance ids FleetIQ accepts, distinct per test file (prefix). */
export function instanceIds(prefix: string, n: number): string[] {
  return Array.from({ length: n }, (_, i) => `i-${prefix}${String(i).padStart(17 - prefix.length, '0')}`);
}

export interface World {
  kube: TestKube;
  admin: LocalClient;
  fleetiq: FleetIQEmulator;
  redis: RedisServer;
  publisher: StatusPublisher;
  agents: RunningReconciler[];
  /**
   * The agent's kubeconfig (its ServiceAccount's token); with the admission policies on, bound to a pod
   * on `nodeName` as a DaemonSet pod's token is, so that the policies let it write that node.
   */
  agentKubeconfig(nodeName?: string): Promise<string>;
  /** What the agent asked the API server so far, and the answers. */
  agentRequests(): Promise<RequestLogEntry[]>;
  /** The game server FleetIQ holds for this instance in the test group, if any. */
  registered(instanceId: string): ReturnType<FleetIQEmulator['control']['gameServers']>[number] | undefined;
  startAgent(
    nodeName: string,
    options?: {
      decide?: Partial<DecideConfig>;
      config?: Partial<Omit<ReconcilerConfig, 'decide'>>;
      timings?: Partial<AgentTimings>;
      extra?: Partial<ReconcilerOptions>;
    },
  ): Promise<RunningReconciler>;
  stop(): Promise<void>;
}

export const TEST_DECIDE: Partial<DecideConfig> = {
  statusStaleAfterMs: 60_000,
  idlePeriodMs: 60_000,
  // Tests publish a status once: an empty node is deregistered without waiting for a newer DRAINING
  // (the tests of that wait set it themselves).
  drainingStableMs: 0,
};

export async function startWorld(o: {
  instanceIds: string[];
  clock?: SimClock;
  fleetiqSettings?: { drainingTerminationDelaySeconds?: number; healthCheckTimeoutSeconds?: number };
  /** The control plane (default: one of the world's own). */
  kube?: TestKube;
  /**
   * A world's own control plane enforces manifests/base's admission policies (the real one only);
   * each agent then writes with a token bound to a pod on its node.
   */
  admissionPolicies?: boolean;
}): Promise<World> {
  const kube =
    o.kube ??
    (await startTestKube({
      ...(o.clock ? { clock: o.clock } : {}),
      ...(o.admissionPolicies ? { admissionPolicies: true } : {}),
    }));
  const admin = kube.admin;
  await grantAgentRbac(admin);
  // On the control plane's system, which stops them too when the world does not get to (a failed start).
  const fleetiq = await kube.system.startFleetIQ({
    groups: [{ name: GROUP, instanceIds: o.instanceIds }],
    logger: silent,
    drainingTerminationDelaySeconds: o.fleetiqSettings?.drainingTerminationDelaySeconds ?? 1,
    healthCheckTimeoutSeconds: o.fleetiqSettings?.healthCheckTimeoutSeconds ?? 600,
  });
  const redis = await kube.system.startRedis();
  const publisher = await StatusPublisher.connect(redis.port);
  const agents: RunningReconciler[] = [];
  const gamelift = gameLiftClient(fleetiq.url, 2);
  const world: World = {
    registered: (instanceId) =>
      fleetiq.control.gameServers({ group: GROUP }).find((g) => g.gameServerId === instanceId),
    kube,
    admin,
    fleetiq,
    redis,
    publisher,
    agents,
    agentKubeconfig: (nodeName) =>
      kube.backend.kubeconfig(AGENT_USER, o.admissionPolicies && nodeName ? { nodeName } : {}),
    agentRequests: () => kube.requests(AGENT_USER),
    async startAgent(nodeName, opts = {}) {
      const config = reconcilerConfig({
        nodeName,
        gameServerGroup: GROUP,
        redisUrl: redis.url,
        statusSigningSecret: SECRET,
        overrides: {
          healthIntervalMs: 1_000,
          fleetiqFallbackIntervalMs: 60_000,
          shutdownGraceMs: 2_000,
          ...opts.config,
        },
        decide: { ...TEST_DECIDE, ...opts.decide },
      });
      const kubeConfig = new KubeConfig();
      kubeConfig.loadFromString(await world.agentKubeconfig(nodeName));
      const agent = await startReconciler({
        config,
        kubeConfig,
        gameLift: gamelift,
        logger: silent,
        opsListen: { host: '127.0.0.1', port: 0 },
        defaultMetrics: false,
        redisOptions: { retryStrategy: () => 50 },
        imdsInstanceId: () => Promise.reject(new Error('no IMDS in tests')),
        timings: { drainSessionRecheckMs: 300, activeSessionRecheckMs: 500, ...opts.timings },
        ...opts.extra,
      });
      agents.push(agent);
      await agent.booted;
      return agent;
    },
    async stop() {
      await Promise.all(agents.map((a) => a.stop()));
      gamelift.destroy();
      publisher.close();
      await fleetiq.stop();
      await redis.stop();
      if (!o.kube) await kube.stop();
    },
  };
  return world;
}

export const getNode = (admin: LocalClient, name: string) => admin.get({ ...NODES, name });
export const getGameServer = (admin: LocalClient, name: string, namespace = 'default') =>
  admin.get({ ...GAMESERVERS, namespace, name });
export const getPod = (admin: LocalClient, name: string, namespace = 'default') =>
  admin.get({ ...PODS, namespace, name });

/** Event reasons on the Node, oldest first. */
export async function nodeEventReasons(admin: LocalClient, nodeName: string): Promise<string[]> {
  const list = await admin.list(
    { ...EVENTS, namespace: 'default' },
    { fieldSelector: `involvedObject.name=${nodeName}` },
  );
  return list.items
    .filter((e) => e.involvedObject?.kind === 'Node')
    .sort((a, b) => String(a.metadata.name).localeCompare(String(b.metadata.name)))
    .map((e) => e.reason as string);
}

export { waitFor, silent };
