// Helpers of the sandbox's end-to-end tests: a real sandbox (emulators, simulated cluster, Redis and
// the real components) sized small and run fast, and ways to look at it as an operator would.
import { createLogger } from '../../../shared/logger.js';
import { DRAIN_PHASE_ANNOTATION } from '../../../shared/drain-contract.js';
import type { SessionRecord } from '../../../sandbox/cluster/sessions.js';
import type { KubeObject } from '../../../sandbox/kube/types.js';
import { parseSandboxFlags, type SandboxFlags } from '../../../sandbox/run/options.js';
import { sessionOutcomes, type SessionOutcomes } from '../../../sandbox/run/report.js';
import {
  FLEET_NAME,
  startSandbox,
  type Sandbox,
  type SandboxInternals,
} from '../../../sandbox/run/sandbox.js';
import type { ComponentTimings } from '../../../sandbox/run/components.js';
import { testControlPlane } from '../../helpers/test-kube.js';
import { waitFor as waitFor_ } from '../../helpers/wait.js';

export const silent = createLogger('sandbox-test', 'silent');

/** Shorter than the sandbox's own: a test waits on real time for the components. */
export const TEST_TIMINGS: ComponentTimings = {
  pubsubPollSeconds: 0.5,
  pubsubRepublishSeconds: 1,
  lease: { leaseDurationMs: 2_000, renewDeadlineMs: 1_500, retryPeriodMs: 250 },
  agentHealthIntervalMs: 1_000,
  agentDrainSessionRecheckMs: 300,
  agentActiveSessionRecheckMs: 1_000,
  agentSpotNoticePollMs: 500,
  // pubsub republishes every second here: an empty node is deregistered 1-2 s after its drain began.
  decide: { statusStaleAfterMs: 30_000, idlePeriodMs: 30_000, drainingStableMs: 1_000 },
};

export const TEST_INTERNALS: SandboxInternals = {
  logger: silent,
  timings: TEST_TIMINGS,
  exitOnSigtermSeconds: 2,
  terminationGracePeriodSeconds: 30,
};

/**
 * The control plane the end-to-end suites run on: the real one (kube-apiserver, etcd,
 * controller-manager and scheduler of the pinned release) unless FLEETIQ_TEST_CONTROL_PLANE=emulated.
 */
export const TEST_CONTROL_PLANE = testControlPlane();

export async function startTestSandbox(
  flags: SandboxFlags = {},
  internals: SandboxInternals = {},
): Promise<Sandbox> {
  const options = parseSandboxFlags({
    nodes: '4',
    fleetReplicas: '16',
    podsPerNode: '6',
    speed: '20',
    interruptions: 'none',
    ui: false,
    controlPlane: TEST_CONTROL_PLANE,
    ...flags,
  });
  return startSandbox(options, { ...TEST_INTERNALS, ...internals });
}

/** Waits for a condition (see ../helpers/wait.ts), 45_000 ms by default here. */
export const waitFor = <T>(what: string, condition: () => T | Promise<T>, timeoutMs = 45_000) =>
  waitFor_(what, condition, timeoutMs);

const NODES = { group: '', version: 'v1', resource: 'nodes' };
const GAMESERVERS = { group: 'agones.dev', version: 'v1', resource: 'gameservers', namespace: 'default' };

export async function getNode(sb: Sandbox, name: string): Promise<KubeObject | undefined> {
  try {
    return await sb.topology.kube.client().get({ ...NODES, name });
  } catch (err) {
    if ((err as { code?: number }).code === 404) return undefined;
    throw err;
  }
}

export function drainPhase(node: KubeObject | undefined): string | undefined {
  return node?.metadata.annotations?.[DRAIN_PHASE_ANNOTATION];
}

/** Starts `n` sessions of `seconds` (simulated); every one must be allocated. */
export async function startSessions(sb: Sandbox, n: number, seconds: number): Promise<SessionRecord[]> {
  const out: SessionRecord[] = [];
  for (let i = 0; i < n; i++) {
    const r = await sb.topology.sim.sessions.startSession({ fleet: FLEET_NAME, durationSeconds: seconds });
    if (!r) throw new Error(`session ${i + 1} of ${n} could not be allocated`);
    out.push(r);
  }
  return out;
}

/** The live node with the most Allocated game servers, and its instance. */
export async function busiestNode(
  sb: Sandbox,
): Promise<{ nodeName: string; instanceId: string; allocated: number }> {
  const list = await sb.topology.kube.client().list(GAMESERVERS);
  const count = new Map<string, number>();
  for (const gs of list.items)
    if (gs.status?.state === 'Allocated')
      count.set(gs.status.nodeName, (count.get(gs.status.nodeName) ?? 0) + 1);
  const [nodeName, allocated] =
    [...count.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))[0] ?? [];
  if (!nodeName) throw new Error('no Allocated game server anywhere');
  return { nodeName, instanceId: sb.topology.sim.nodes.instanceIdOf(nodeName)!, allocated: allocated! };
}

export function outcomes(sb: Sandbox, records: readonly SessionRecord[]): SessionOutcomes {
  return sessionOutcomes(records, sb.recorder);
}

/** Every session of `records` has ended (completed or lost). */
export async function allEnded(
  sb: Sandbox,
  records: readonly SessionRecord[],
  timeoutMs = 45_000,
): Promise<void> {
  await waitFor(
    `${records.length} sessions to end`,
    () => records.every((r) => r.outcome !== 'active'),
    timeoutMs,
  );
}

/** Lost sessions with their reasons, for readable failures. */
export function lostOf(records: readonly SessionRecord[]): string[] {
  return records
    .filter((r) => r.outcome === 'lost')
    .map((r) => `${r.gameServer} on ${r.nodeName}: ${r.lostReason}`);
}

/** The fleet is whole and every live node has a running, registered agent. */
export async function steady(sb: Sandbox, timeoutMs = 45_000): Promise<void> {
  await sb.topology.sim.waitForFleetReady(FLEET_NAME, { timeoutMs });
  await waitFor(
    'an Active agent on every node, each registered with FleetIQ',
    () => {
      const nodes = sb.topology.sim.nodes.instances();
      const registered = new Set(sb.topology.fleetiq.control.gameServers().map((g) => g.instanceId));
      return nodes.every(
        (n) => sb.components.agents.get(n.nodeName)?.phase() === 'Active' && registered.has(n.instanceId),
      );
    },
    timeoutMs,
  );
}
