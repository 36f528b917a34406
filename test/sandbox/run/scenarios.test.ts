// The whole system, in-process: the Kubernetes and FleetIQ emulators, the simulated cluster with Agones
// and players, a real redis-server, and the project's real components (pubsub ×2, webhook ×2, one agent
// per node) under their ServiceAccounts and the manifests' RBAC. Each scenario ends with the figure the
// project is judged by: sessions lost (0 unless stated). Small sizes, simulated time at speed 20.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { DRAIN_TAINT, DRAIN_TOLERATION, INSTANCE_STATUS_LABEL } from '../../../shared/contract.js';
import { signStatusMessage, statusChannel } from '../../../shared/status-message.js';
import { ACTED_ON_OBSERVED_AT_ANNOTATION, DRAIN_ANNOTATIONS } from '../../../shared/drain-contract.js';
import type { KubeObject } from '../../../sandbox/kube/types.js';
import type { SessionRecord } from '../../../sandbox/cluster/sessions.js';
import { runSandboxCli } from '../../../sandbox/run/cli.js';
import type { Sandbox } from '../../../sandbox/run/sandbox.js';
import { GAME_SERVER_GROUP } from '../../../sandbox/run/topology.js';
import {
  TEST_INTERNALS,
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

const run = promisify(execFile);
const REPO = resolve(fileURLToPath(new URL('../../..', import.meta.url)));
const NODES = { group: '', version: 'v1', resource: 'nodes' };
const PODS = { group: '', version: 'v1', resource: 'pods', namespace: 'default' };
const GAMESERVERS = { group: 'agones.dev', version: 'v1', resource: 'gameservers', namespace: 'default' };

const tolerates = (pod: KubeObject) =>
  ((pod.spec?.tolerations ?? []) as object[]).some(
    (t) => JSON.stringify(t) === JSON.stringify(DRAIN_TOLERATION),
  );

async function waitForPhase(
  sb: Sandbox,
  nodeName: string,
  phase: string,
  timeoutMs?: number,
): Promise<KubeObject> {
  try {
    return await waitFor(
      `node ${nodeName} in drain phase ${phase}`,
      async () => {
        const n = await getNode(sb, nodeName);
        return drainPhase(n) === phase ? n : undefined;
      },
      timeoutMs,
    );
  } catch (err) {
    // Say where the drain stood, so a failure on a busy CI machine explains itself.
    const node = await getNode(sb, nodeName).catch(() => undefined);
    const agent = sb.components.agents.get(nodeName);
    const instanceId = sb.topology.sim.nodes.instanceIdOf(nodeName);
    const seen = {
      node: node ? { labels: node.metadata.labels, annotations: node.metadata.annotations } : 'gone',
      agent: agent
        ? { phase: agent.phase(), lastDecision: agent.lastDecision(), stats: agent.stats() }
        : 'none',
      fleetiq: instanceId ? sb.topology.fleetiq.control.instance(instanceId) : undefined,
      pubsubLeader: sb.components.leaderIndex(),
    };
    throw new Error(`${(err as Error).message}\n${JSON.stringify(seen, null, 1)}`);
  }
}

async function waitForTermination(sb: Sandbox, instanceId: string, timeoutMs?: number): Promise<void> {
  await waitFor(
    `FleetIQ to terminate ${instanceId}`,
    () => sb.topology.fleetiq.control.instance(instanceId)?.terminated,
    timeoutMs,
  );
}

function on(records: SessionRecord[], nodeName: string): SessionRecord[] {
  return records.filter((r) => r.nodeName === nodeName);
}

describe('Packed, failurePolicy Fail, signed status messages', () => {
  let sb: Sandbox;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sandbox-scenarios-'));
    sb = await startTestSandbox({
      // For scenario 8: a short run with load and scripted interruptions.
      duration: '40s',
      allocationRate: '30/min',
      sessionSeconds: '20-40',
      interruptions: '5s:DRAINING:1,12s:SPOT_TERMINATING:1',
    });
  }, 90_000);

  // Stopping waits for every component's graceful shutdown and the control plane's processes.
  afterAll(async () => {
    await sb?.stop();
    rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  it('1. drains to termination: cordon, fence, taint, sessions finish, deregistered, terminated, node removed, a replacement joins', async () => {
    await steady(sb);
    // Held until the operator's view below has been checked (a loaded machine may take seconds to
    // run kubectl), then ended.
    const records = await startSessions(sb, 4, 3600);
    const target = await busiestNode(sb);
    const launchedBefore = sb.recorder.instancesLaunched;
    const drainsBefore = { ...sb.recorder.drains };
    sb.topology.fleetiq.control.setInstanceStatus(target.instanceId, 'DRAINING');

    const node = await waitForPhase(sb, target.nodeName, 'Tainted');
    expect(node.spec.unschedulable).toBe(true);
    expect(node.spec.taints).toContainEqual(DRAIN_TAINT);
    expect(node.metadata.labels?.[INSTANCE_STATUS_LABEL]).toBe('DRAINING');
    // Fenced: nothing on the node can take a new session, and every session's pod tolerates the taint.
    const gss = (await sb.topology.kube.client().list(GAMESERVERS)).items.filter(
      (g) => g.status?.nodeName === target.nodeName,
    );
    expect(gss.filter((g) => g.status?.state === 'Ready')).toEqual([]);
    const pods = (
      await sb.topology.kube.client().list(PODS, { fieldSelector: `spec.nodeName=${target.nodeName}` })
    ).items;
    for (const gs of gss.filter((g) => g.status?.state === 'Allocated'))
      expect(tolerates(pods.find((p) => p.metadata.name === gs.metadata.name)!)).toBe(true);

    // The operator's view, through the real kubectl and the plugin on PATH.
    const kubeconfig = join(dir, 'kubeconfig');
    await sb.topology.kube.writeKubeconfig(kubeconfig);
    const bin = join(dir, 'bin');
    const plugin = join(bin, 'kubectl-fleetiq');
    if (!existsSync(bin)) {
      await run('mkdir', ['-p', bin]);
      writeFileSync(
        plugin,
        `#!/bin/sh\ncd ${REPO} && exec "${process.execPath}" --import tsx ${join(REPO, 'cli/kubectl-fleetiq.ts')} "$@"\n`,
      );
      chmodSync(plugin, 0o755);
    }
    // The agent records what FleetIQ said once its pass has nothing left to do.
    await waitFor(
      'the observed status on the node',
      async () =>
        (await getNode(sb, target.nodeName))?.metadata.annotations?.['gamelift.status/fleetiq-status'] ===
        'DRAINING',
    );
    const { stdout } = await run('kubectl', ['fleetiq', 'status'], {
      env: { ...process.env, KUBECONFIG: kubeconfig, PATH: `${bin}:${process.env.PATH}` },
    });
    const row = stdout.split('\n').find((l) => l.startsWith(target.nodeName))!;
    expect(row).toMatch(
      new RegExp(
        `^${target.nodeName}\\s+${target.instanceId}\\s+DRAINING\\s+\\d+s\\s+Tainted\\s+fleetiq\\s+\\d+s\\s+-\\s+\\d+\\s+0$`,
      ),
    );

    // The players leave; the drain then finishes.
    for (const r of records) await sb.topology.sim.sessions.endNow(r);
    await allEnded(sb, records);
    expect(lostOf(records)).toEqual([]);
    await waitForTermination(sb, target.instanceId);
    const dereg = sb.topology.fleetiq.control
      .events()
      .find((e) => e.type === 'game-server-deregistered' && e.instanceId === target.instanceId);
    expect(dereg).toMatchObject({ reason: 'api' }); // by the agent, at the end of its drain
    await waitFor('the node removed', async () => !(await getNode(sb, target.nodeName)));
    await waitFor('a replacement node with its agent', () => sb.recorder.instancesLaunched > launchedBefore);
    await steady(sb);
    expect(sb.recorder.drains.started - drainsBefore.started).toBeGreaterThanOrEqual(1);
    expect(sb.recorder.drains.deregistered - drainsBefore.deregistered).toBeGreaterThanOrEqual(1);
  }, 120_000);

  it('2. loses no session to an allocation storm while two nodes drain', async () => {
    await steady(sb);
    const first = sb.topology.sim.ledger.all().length;
    const okBefore = sb.topology.sim.sessions.allocations.succeeded;
    // 1 allocation per simulated second: 20 a second of real time against a fleet of 16.
    const stop = sb.topology.sim.sessions.startLoad({
      fleet: 'game',
      ratePerSecond: 1,
      durationSeconds: { min: 20, max: 60 },
    });
    let targets: Array<{ nodeName: string; instanceId: string }> = [];
    try {
      await waitFor('a dozen sessions', () => sb.topology.sim.ledger.all().length - first >= 12);
      const byNode = new Map<string, number>();
      for (const r of sb.topology.sim.ledger.active())
        if (r.nodeName) byNode.set(r.nodeName, (byNode.get(r.nodeName) ?? 0) + 1);
      targets = [...byNode.entries()]
        .sort((a, b) => b[1] - a[1])
        .slice(0, 2)
        .map(([nodeName]) => ({ nodeName, instanceId: sb.topology.sim.nodes.instanceIdOf(nodeName)! }));
      expect(targets).toHaveLength(2);
      for (const t of targets) sb.topology.fleetiq.control.setInstanceStatus(t.instanceId, 'DRAINING');
      for (const t of targets) await waitForTermination(sb, t.instanceId, 30_000);
    } finally {
      stop();
    }
    const records = sb.topology.sim.ledger.all().slice(first);
    await allEnded(sb, records);
    expect(lostOf(records)).toEqual([]);
    expect(sb.topology.sim.sessions.allocations.succeeded - okBefore).toBeGreaterThan(20);
    // Nothing was allocated on a drained node once it was tainted.
    for (const t of targets) {
      const taintedAt = sb.recorder.nodes.get(t.nodeName)!.segments.find((s) => s.phase === 'Tainted')?.from;
      expect(taintedAt).toBeDefined();
      expect(on(records, t.nodeName).filter((r) => r.allocatedAt > taintedAt!)).toEqual([]);
    }
  }, 120_000);

  it('3. with the webhook unavailable and failurePolicy Fail, allocations fail but no session is lost', async () => {
    await steady(sb);
    const held = await startSessions(sb, 3, 60);
    const target = await busiestNode(sb);
    await sb.components.stopWebhook(0);
    await sb.components.stopWebhook(1);
    try {
      const failedBefore = sb.topology.sim.sessions.allocations.failed;
      for (let i = 0; i < 4; i++)
        expect(
          await sb.topology.sim.sessions.startSession({ fleet: 'game', durationSeconds: 30 }),
        ).toBeUndefined();
      expect(sb.topology.sim.sessions.allocations.failed - failedBefore).toBe(4);
      // A drain during the outage: the agent needs no webhook.
      sb.topology.fleetiq.control.setInstanceStatus(target.instanceId, 'DRAINING');
      await waitForPhase(sb, target.nodeName, 'Tainted');
      await allEnded(sb, held);
      expect(lostOf(held)).toEqual([]);
    } finally {
      await sb.components.startWebhook(0);
      await sb.components.startWebhook(1);
    }
    const after = await startSessions(sb, 1, 20);
    await allEnded(sb, after);
    expect(lostOf(after)).toEqual([]);
  }, 120_000);

  it('4a. an agent killed at each drain phase resumes the drain from what the node records', async () => {
    await steady(sb);
    const records = await startSessions(sb, 3, 60);
    const target = await busiestNode(sb);
    const killedAt: string[] = [];
    const restarts: Promise<unknown>[] = [];
    const stopWatch = sb.topology.kube
      .client()
      .watch(NODES, { fieldSelector: `metadata.name=${target.nodeName}` }, (e) => {
        const phase = drainPhase(e.object);
        if (e.type !== 'MODIFIED' || !phase || killedAt.includes(phase)) return;
        killedAt.push(phase);
        restarts.push(sb.components.restartAgent(target.nodeName));
      });
    try {
      sb.topology.fleetiq.control.setInstanceStatus(target.instanceId, 'DRAINING');
      await waitForTermination(sb, target.instanceId, 40_000);
    } finally {
      stopWatch();
    }
    await Promise.allSettled(restarts);
    expect(killedAt).toEqual(expect.arrayContaining(['Cordoned', 'Tainted', 'Deregistered']));
    await allEnded(sb, records);
    expect(lostOf(records)).toEqual([]);
    // A restarted agent never registers an instance it deregistered.
    const registrations = sb.topology.fleetiq.control
      .events()
      .filter((e) => e.type === 'game-server-registered' && e.instanceId === target.instanceId);
    expect(registrations).toHaveLength(1);
  }, 120_000);

  it('4b. the pubsub leader killed: the other replica takes over and a drain still happens', async () => {
    await steady(sb);
    const leader = sb.components.leaderIndex()!;
    await sb.components.stopPubsub(leader, 'crash');
    await sb.components.startPubsub(leader);
    const records = await startSessions(sb, 2, 40);
    const target = await busiestNode(sb);
    sb.topology.fleetiq.control.setInstanceStatus(target.instanceId, 'DRAINING');
    await waitForPhase(sb, target.nodeName, 'Tainted', 20_000);
    expect(sb.components.leaderIndex()).toBeDefined();
    await allEnded(sb, records);
    expect(lostOf(records)).toEqual([]);
  }, 120_000);

  it('4c. Redis restarted (empty) while an instance turns DRAINING: the drain still happens', async () => {
    await steady(sb);
    const records = await startSessions(sb, 2, 40);
    const target = await busiestNode(sb);
    await sb.redis!.stop();
    sb.topology.fleetiq.control.setInstanceStatus(target.instanceId, 'DRAINING');
    await sb.redis!.start();
    await waitForPhase(sb, target.nodeName, 'Tainted', 20_000);
    await allEnded(sb, records);
    expect(lostOf(records)).toEqual([]);
  }, 120_000);

  it('4d. GameLift throttling and 5xx: retried, and the drain completes', async () => {
    await steady(sb);
    const control = sb.topology.fleetiq.control;
    control.resetCallCounts();
    control.addFault({
      operation: 'DescribeGameServerInstances',
      errorType: 'InternalServiceException',
      httpStatus: 500,
      probability: 0.5,
    });
    control.addFault({
      operation: 'DescribeGameServerInstances',
      errorType: 'ThrottlingException',
      httpStatus: 400,
      probability: 0.3,
    });
    control.addFault({
      operation: 'UpdateGameServer',
      errorType: 'ThrottlingException',
      httpStatus: 400,
      probability: 0.3,
    });
    control.addFault({
      operation: 'DeregisterGameServer',
      errorType: 'InternalServiceException',
      httpStatus: 503,
      count: 1,
    });
    try {
      const records = await startSessions(sb, 2, 40);
      const target = await busiestNode(sb);
      control.setInstanceStatus(target.instanceId, 'DRAINING');
      await waitForTermination(sb, target.instanceId, 40_000);
      await allEnded(sb, records);
      expect(lostOf(records)).toEqual([]);
      const calls = control.callCounts();
      expect(calls.DescribeGameServerInstances.faulted).toBeGreaterThan(0);
      expect(calls.DeregisterGameServer.faulted).toBe(1);
      expect(calls.DeregisterGameServer.succeeded).toBeGreaterThanOrEqual(1);
    } finally {
      control.clearFaults();
    }
  }, 120_000);

  it('4e. two restarts of one agent at once leave one agent on the node, the other stopped', async () => {
    await steady(sb);
    const nodeName = [...sb.components.agents.keys()][0]!;
    const started = await Promise.all([
      sb.components.restartAgent(nodeName),
      sb.components.restartAgent(nodeName),
    ]);
    const running = sb.components.agents.get(nodeName)!;
    expect(started).toContain(running);
    const other = started.find((a) => a !== running)!;
    expect(other).toBeDefined();
    expect(other.ready()).toBe('stopping');
    await waitFor('the running agent ready', () => running.ready() === true);
  }, 120_000);

  it('5. SPOT_TERMINATING: the sessions get their graceful end inside the 2-minute notice (interrupted, not lost)', async () => {
    await steady(sb);
    // Longer than the notice: without the agent they would be cut by the termination.
    const records = await startSessions(sb, 3, 150);
    const target = await busiestNode(sb);
    const mine = on(records, target.nodeName);
    expect(mine.length).toBeGreaterThan(0);
    sb.topology.fleetiq.control.setInstanceStatus(target.instanceId, 'SPOT_TERMINATING');
    await waitForPhase(sb, target.nodeName, 'SpotEvicting');
    await allEnded(sb, mine, 20_000);
    await waitForTermination(sb, target.instanceId);
    const o = outcomes(sb, mine);
    expect(o).toMatchObject({
      lost: 0,
      interruptedBySpotNotice: mine.length,
      endedGracefullyBySpotNotice: mine.length,
    });
    const terminatedAt = sb.recorder.terminatedAt.get(target.nodeName)!;
    for (const r of mine) expect(r.endedAt!).toBeLessThan(terminatedAt);
    const others = records.filter((r) => r.nodeName !== target.nodeName);
    await allEnded(sb, others);
    expect(outcomes(sb, others).lost).toBe(0);
  }, 120_000);

  it('6. DRAINING then ACTIVE again: the node is restored', async () => {
    await steady(sb);
    const records = await startSessions(sb, 2, 40);
    const target = await busiestNode(sb);
    const reverted = sb.recorder.drains.reverted;
    sb.topology.fleetiq.control.setInstanceStatus(target.instanceId, 'DRAINING');
    await waitForPhase(sb, target.nodeName, 'Tainted');
    sb.topology.fleetiq.control.setInstanceStatus(target.instanceId, 'ACTIVE');
    const node = await waitFor('the node restored', async () => {
      const n = await getNode(sb, target.nodeName);
      return n &&
        !drainPhase(n) &&
        !n.spec.unschedulable &&
        !(n.spec.taints ?? []).length &&
        n.metadata.labels?.[INSTANCE_STATUS_LABEL] === 'ACTIVE'
        ? n
        : undefined;
    });
    // Every drain annotation gone; what is not drain state stays (FleetIQ's last observed status, and
    // the replay high-water mark: the ACTIVE just acted on).
    expect(
      Object.keys(node.metadata.annotations ?? {}).filter((k) =>
        (DRAIN_ANNOTATIONS as readonly string[]).includes(k),
      ),
    ).toEqual([]);
    expect(node.metadata.annotations?.[ACTED_ON_OBSERVED_AT_ANNOTATION]).toBeDefined();
    await waitFor('the revert counted', () => sb.recorder.drains.reverted === reverted + 1);
    await allEnded(sb, records);
    expect(lostOf(records)).toEqual([]);
    expect(sb.topology.fleetiq.control.instance(target.instanceId)?.terminated).toBe(false);
  }, 120_000);

  it('7. a forged Redis message (signing on) is ignored: no drain', async () => {
    await steady(sb);
    const target = sb.topology.sim.nodes.instances()[0]!;
    const agent = sb.components.agents.get(target.nodeName)!;
    const counts = async () => {
      const m = await agent.registry.getSingleMetric('fleetiq_reconciler_status_messages_total')!.get();
      const by = (p: (r: string) => boolean) =>
        m.values.filter((v) => p(String(v.labels.result))).reduce((a, v) => a + v.value, 0);
      return { accepted: by((r) => r === 'accepted'), rejected: by((r) => r.startsWith('rejected')) };
    };
    const before = await counts();
    const forged = signStatusMessage(
      {
        GameServerGroupName: GAME_SERVER_GROUP,
        GameServerGroupArn: `arn:aws:gamelift:us-east-1:123456789012:gameservergroup/${GAME_SERVER_GROUP}`,
        InstanceId: target.instanceId,
        InstanceStatus: 'DRAINING',
        ObservedAt: new Date().toISOString(),
        Sequence: Number.MAX_SAFE_INTEGER,
      },
      'not-the-shared-secret',
    );
    // On the instance's channel only: pubsub honours the Sequence of whatever the latest-status key
    // holds, so a forged key would hold back genuine publications until it expires (a pubsub concern).
    const redis = new Redis(sb.redisUrl, { maxRetriesPerRequest: 1 });
    try {
      await redis.publish(statusChannel(target.instanceId), JSON.stringify(forged));
    } finally {
      redis.disconnect();
    }
    const rejectedAt = await waitFor('the forged message rejected', async () => {
      const c = await counts();
      return c.rejected > before.rejected ? c : undefined;
    });
    // A genuine message after it (pubsub republishes every second) is still accepted...
    await waitFor(
      'a genuine status accepted after the forgery',
      async () => (await counts()).accepted > rejectedAt.accepted,
    );
    // ...and nothing drained.
    const node = (await getNode(sb, target.nodeName))!;
    expect(drainPhase(node)).toBeUndefined();
    expect(node.spec.unschedulable).toBeFalsy();
    expect(node.metadata.labels?.[INSTANCE_STATUS_LABEL]).toBe('ACTIVE');
    expect(agent.phase()).toBe('Active');
  }, 120_000);

  it('8a. Packed: a run with load and scripted interruptions reports no session lost', async () => {
    await steady(sb);
    const drains = { ...sb.recorder.drains };
    const first = sb.topology.sim.ledger.all().length;
    await sb.run();
    const report = sb.report();
    expect(sb.recorder.drains.started - drains.started).toBeGreaterThanOrEqual(2);
    expect(sb.recorder.drains.spotEvictions - drains.spotEvictions).toBeGreaterThanOrEqual(1);
    const records = sb.topology.sim.ledger.all().slice(first);
    expect(records.length).toBeGreaterThan(5);
    expect(outcomes(sb, records).lost).toBe(0);
    // Every scenario of this sandbox, together: no session lost.
    expect(report.sessions).toMatchObject({ lost: 0 }); // on failure, shows lostByReason too
    expect(report.sessions.active).toBe(0);
    expect(report.reactionMs.count).toBeGreaterThan(5);
    expect(report.reactionMs.p99).toBeGreaterThan(0);
    expect(report.apiCalls.kubernetes.reconciler!.total).toBeGreaterThan(0);
    expect(report.apiCalls.kubernetes.webhook!.total).toBeGreaterThan(0);
    expect(report.apiCalls.kubernetes.pubsub!.byRequest['update leases']).toBeGreaterThan(0);
    expect(report.apiCalls.gamelift.pubsub!.byOperation.DescribeGameServerInstances).toBeGreaterThan(0);
    expect(report.apiCalls.gamelift.reconciler!.byOperation.RegisterGameServer).toBeGreaterThan(0);
    // The components acted only with what their RBAC allows: no 403 for any of them.
    await sb.topology.kube.flushRequests();
    for (const c of ['pubsub', 'webhook', 'reconciler'])
      expect(
        sb.topology.kube.forbiddenRequests().filter((e) => e.user.includes(`fleetiq-agones-${c}`)),
      ).toEqual([]);
  }, 120_000);
});

describe('Distributed, failurePolicy Ignore', () => {
  let sb: Sandbox;

  beforeAll(async () => {
    sb = await startTestSandbox({ scheduling: 'Distributed', failurePolicy: 'Ignore' });
  }, 90_000);

  afterAll(async () => {
    await sb?.stop();
  }, 120_000);

  it("3. with the webhook unavailable and failurePolicy Ignore, the agent's backfill protects what was allocated", async () => {
    await steady(sb);
    await sb.components.stopWebhook(0);
    await sb.components.stopWebhook(1);
    let records: SessionRecord[];
    try {
      records = await startSessions(sb, 4, 60);
      const pods = (await sb.topology.kube.client().list(PODS)).items;
      // Admitted without the webhook: no toleration yet.
      for (const r of records)
        expect(tolerates(pods.find((p) => p.metadata.name === r.gameServer)!)).toBe(false);
      const target = await busiestNode(sb);
      sb.topology.fleetiq.control.setInstanceStatus(target.instanceId, 'DRAINING');
      await waitForPhase(sb, target.nodeName, 'Tainted');
      const after = (
        await sb.topology.kube.client().list(PODS, { fieldSelector: `spec.nodeName=${target.nodeName}` })
      ).items;
      for (const r of on(records, target.nodeName))
        expect(tolerates(after.find((p) => p.metadata.name === r.gameServer)!)).toBe(true);
      await allEnded(sb, records);
      expect(lostOf(records)).toEqual([]);
    } finally {
      await sb.components.startWebhook(0);
      await sb.components.startWebhook(1);
    }
  }, 120_000);

  it('8b. Distributed: the same drains to termination, no session lost', async () => {
    await steady(sb);
    const records = await startSessions(sb, 4, 40);
    const target = await busiestNode(sb);
    sb.topology.fleetiq.control.setInstanceStatus(target.instanceId, 'DRAINING');
    await waitForTermination(sb, target.instanceId);
    await allEnded(sb, records);
    expect(lostOf(records)).toEqual([]);
    expect(sb.report().sessions).toMatchObject({ lost: 0 }); // on failure, shows lostByReason too
  }, 120_000);
});

describe('fleetiq-sandbox (the CLI)', () => {
  it('runs, writes the report and the timeline, and exits 0 when no session was lost', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sandbox-cli-'));
    const out: string[] = [];
    const stream = (into: string[]) =>
      ({ write: (s: string) => into.push(s), isTTY: false }) as unknown as NodeJS.WriteStream;
    try {
      const code = await runSandboxCli(
        {
          nodes: '3',
          fleetReplicas: '9',
          scheduling: 'Distributed',
          speed: '20',
          duration: '40s',
          sessionSeconds: '10-30',
          allocationRate: '20/min',
          // Late enough that the players hold sessions by then, however slow the machine: a drain of
          // an empty node leaves no reaction to report.
          interruptions: '20s:DRAINING:1,30s:SPOT_TERMINATING:1',
          report: join(dir, 'report.json'),
          ui: false,
        },
        { stdout: stream(out), stderr: stream(out) },
        TEST_INTERNALS,
      );
      const text = out.join('');
      expect(text).toContain('Result:       no session lost');
      expect(code).toBe(0);
      const report = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8'));
      for (const path of [
        'sessions.started',
        'sessions.completed',
        'sessions.lost',
        'sessions.interruptedBySpotNotice',
        'allocations.succeeded',
        'allocations.failed',
        'drains.started',
        'drains.deregistered',
        'drains.reverted',
        'instances.terminated',
        'reactionMs.p50',
        'reactionMs.p99',
        'reactionMs.max',
      ])
        expect({ path, type: typeof path.split('.').reduce((o, k) => o?.[k], report) }).toEqual({
          path,
          type: 'number',
        });
      expect(report.drains.started).toBeGreaterThanOrEqual(2);
      expect(Object.keys(report.apiCalls.kubernetes)).toEqual(
        expect.arrayContaining(['pubsub', 'webhook', 'reconciler']),
      );
      expect(readFileSync(join(dir, 'report.svg'), 'utf8')).toContain('</svg>');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 90_000);

  it('explains how to install redis-server when it is missing (no stack trace), exit 2', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sandbox-noredis-'));
    try {
      // A PATH with node only: no redis-server, no apt-get to install it with.
      const env: NodeJS.ProcessEnv = { ...process.env, PATH: dirname(process.execPath) };
      delete env.REDIS_URL;
      const result = await run(
        process.execPath,
        [
          '--import',
          'tsx',
          join(REPO, 'sandbox/cli.ts'),
          'sandbox',
          '--no-ui',
          '--log-file',
          join(dir, 'log'),
          '--report',
          join(dir, 'r.json'),
        ],
        { cwd: REPO, env },
      ).then(
        () => ({ code: 0, stderr: '' }),
        (err: { code?: number; stderr?: string }) => ({ code: err.code, stderr: err.stderr ?? '' }),
      );
      expect(result.code).toBe(2);
      expect(result.stderr).toContain('The sandbox needs redis-server');
      expect(result.stderr).toContain('sudo apt-get install redis-server');
      expect(result.stderr).toContain('--redis-url');
      expect(result.stderr).not.toMatch(/\n\s+at /);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('names the flag of an invalid value and exits 2', async () => {
    const err: string[] = [];
    const stream = { write: (s: string) => err.push(s) } as unknown as NodeJS.WriteStream;
    expect(await runSandboxCli({ scheduling: 'Clumped' }, { stdout: stream, stderr: stream })).toBe(2);
    expect(err.join('')).toBe(
      'invalid configuration --scheduling: expected Packed or Distributed, got "Clumped"\n',
    );
  });
});
