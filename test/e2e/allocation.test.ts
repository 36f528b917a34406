// The webhook end to end: the API server (the real kube-apiserver, or the emulator: see harness.ts;
// RBAC on) calls the real webhook over TLS through the MutatingWebhookConfiguration of
// manifests/base, for GameServer updates made by the simulated Agones (allocator, SDK, controllers)
// and by clients; the taint-eviction controller evicts what does not tolerate a drain. One cluster
// for the whole file: each test leaves it as the next expects.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { CustomObjectsApi, Watch } from '@kubernetes/client-node';
import {
  DRAIN_TAINT,
  DRAIN_TOLERATION,
  DRAIN_TOLERATION_ANNOTATION,
  INSTANCE_STATUS_LABEL,
  LEGACY_ACTIVE_TAINT_KEY,
} from '../../shared/contract.js';
import { DRAIN_PHASE_LABEL, KARPENTER_DO_NOT_DISRUPT_ANNOTATION } from '../../shared/drain-contract.js';
import { sortPacked } from '../../sandbox/cluster/allocation.js';
import type { KubeObject } from '../../sandbox/kube/types.js';
import {
  GS,
  GSA,
  E2E_START_MS,
  NODES,
  PODS,
  gameServersOf,
  metricSum,
  metricValue,
  startE2e,
  statsDelta,
  until,
  type E2e,
} from './harness.js';

const FLEET = 'arena';
const REPLICAS = 10;
let e: E2e;

beforeAll(async () => {
  // Four nodes of four pods: a Packed fleet of 10 fills two nodes and half of a third.
  e = await startE2e({
    speed: 30,
    nodes: { count: 4, capacity: { pods: 4 } },
    fleets: [{ name: FLEET, replicas: REPLICAS, terminationGracePeriodSeconds: 5 }],
  });
}, E2E_START_MS);

afterAll(async () => {
  await e?.stop();
}, 90_000);

const gsRef = (name: string) => ({ ...GS, namespace: 'default', name });
const podRef = (name: string) => ({ ...PODS, namespace: 'default', name });

/** An allocation as a matchmaker sends it: client-node over HTTPS to the API server. */
async function allocate(spec: Record<string, unknown> = {}): Promise<KubeObject> {
  return (await e.adminKubeConfig.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({
    group: GSA.group,
    version: GSA.version,
    namespace: 'default',
    plural: GSA.resource,
    body: {
      apiVersion: 'allocation.agones.dev/v1',
      kind: 'GameServerAllocation',
      spec: { selectors: [{ matchLabels: { 'agones.dev/fleet': FLEET } }], ...spec },
    },
  })) as KubeObject;
}

const drainTolerations = (pod: KubeObject) =>
  ((pod.spec?.tolerations ?? []) as { key?: string }[]).filter((t) => t.key === DRAIN_TOLERATION.key);

/** The fleet is back to REPLICAS Ready+Allocated GameServers, none being deleted or in transit. */
async function fleetSettled(replicas = REPLICAS): Promise<KubeObject[]> {
  return until(
    `fleet ${FLEET} settled at ${replicas}`,
    async () => {
      const list = await gameServersOf(e.admin, FLEET);
      return list.length === replicas &&
        list.every((g) => ['Ready', 'Allocated'].includes(g.status?.state) && !g.metadata.deletionTimestamp)
        ? list
        : undefined;
    },
    20_000,
  );
}

/** The allocator's cache shows the GameServer in `state` (its watch caught up). */
async function allocatorSees(name: string, state: string): Promise<void> {
  await until(
    `allocator cache shows ${name} ${state}`,
    () => e.sim.allocator.cache.get(`default/${name}`)?.status?.state === state,
  );
}

/** What the webhook's ServiceAccount asked the API server about this pod. */
const webhookPodRequests = async (name: string) =>
  (await e.requests(e.webhookUser)).filter(
    (r) => r.resource === 'pods' && r.namespace === 'default' && r.name === name,
  );

const admissionsWith = (outcome: string) => e.admissions.filter((a) => a.outcome === outcome).length;

let allocatedName = '';
let allocatedNode = '';

describe('allocation through a GameServerAllocation', () => {
  it('makes the pod tolerate the drain taint and marks it for Karpenter before the GameServer is Allocated in storage, and annotates it', async () => {
    // Watch pods and GameServers over HTTPS as any client would.
    const watch = new Watch(e.adminKubeConfig);
    const podEvents: { name: string; rv: number; tolerating: boolean }[] = [];
    const allocatedAt = new Map<string, { rv: number; podReadThen: KubeObject | undefined }>();
    const reads: Promise<void>[] = [];
    const podWatch = await watch.watch(
      '/api/v1/namespaces/default/pods',
      { labelSelector: 'agones.dev/role=gameserver' },
      (type: string, pod: any) => {
        if (type !== 'ADDED' && type !== 'MODIFIED') return;
        podEvents.push({
          name: pod.metadata.name,
          rv: Number(pod.metadata.resourceVersion),
          tolerating: drainTolerations(pod).length > 0,
        });
      },
      () => {},
    );
    const gsWatch = await watch.watch(
      '/apis/agones.dev/v1/namespaces/default/gameservers',
      {},
      (type: string, gs: any) => {
        const name = gs.metadata.name as string;
        if (type !== 'MODIFIED' || gs.status?.state !== 'Allocated' || allocatedAt.has(name)) return;
        const entry = {
          rv: Number(gs.metadata.resourceVersion),
          podReadThen: undefined as KubeObject | undefined,
        };
        allocatedAt.set(name, entry);
        // The pod as the API server has it the moment the Allocated event arrives.
        reads.push(
          e.admin.get(podRef(name)).then((p) => {
            entry.podReadThen = p;
          }),
        );
      },
      () => {},
    );
    try {
      const res = await allocate();
      expect(res.status.state).toBe('Allocated');
      allocatedName = res.status.gameServerName;
      allocatedNode = res.status.nodeName;

      const seen = await until('the Allocated event', () => allocatedAt.get(allocatedName));
      await Promise.all(reads);
      expect(drainTolerations(seen.podReadThen!)).toEqual([DRAIN_TOLERATION]);
      // Karpenter's mark came with it (the setting's default), in the same pod update.
      expect(seen.podReadThen!.metadata.annotations?.[KARPENTER_DO_NOT_DISRUPT_ANNOTATION]).toBe('true');
      const toleratingWrite = await until('the pod event carrying the toleration', () =>
        podEvents.find((p) => p.name === allocatedName && p.tolerating),
      );
      // The toleration was committed before the GameServer became Allocated.
      expect(toleratingWrite.rv).toBeLessThan(seen.rv);
      // And no earlier version of the pod had it: this allocation added it.
      expect(
        podEvents.filter((p) => p.name === allocatedName && p.rv < toleratingWrite.rv && p.tolerating),
      ).toEqual([]);
      const gs = await e.admin.get(gsRef(allocatedName));
      expect(gs.status.state).toBe('Allocated');
      expect(gs.metadata.annotations?.[DRAIN_TOLERATION_ANNOTATION]).toBe('true');
      expect(e.admissions.at(-1)).toMatchObject({ outcome: 'tolerated', allowed: true });
      // Written by the webhook's ServiceAccount, as manifests/base's RBAC allows it.
      expect((await webhookPodRequests(allocatedName)).map((r) => [r.verb, r.code, r.binding])).toEqual([
        ['get', 200, 'fleetiq-agones-webhook'],
        ['patch', 200, 'fleetiq-agones-webhook'],
      ]);
      expect((await e.webhookStats()).outcomes.patched).toBe(1);
    } finally {
      podWatch.abort();
      gsWatch.abort();
    }
  });

  it('a drain taint on the node right after evicts the Ready game servers there but not the allocated one', async () => {
    const node = await e.admin.get({ ...NODES, name: allocatedNode });
    const readyThere = (await gameServersOf(e.admin, FLEET)).filter(
      (g) => g.status?.nodeName === allocatedNode && g.status?.state === 'Ready',
    );
    expect(readyThere.length).toBeGreaterThan(0);
    const states = new Map<string, string[]>();
    const stopWatch = e.admin.watch({ ...GS, namespace: 'default' }, {}, (ev) => {
      if (ev.type !== 'ADDED' && ev.type !== 'MODIFIED') return;
      const name = ev.object.metadata.name!;
      states.set(name, [...(states.get(name) ?? []), ev.object.status?.state]);
    });
    try {
      await e.admin.update(
        { ...NODES, name: allocatedNode },
        { ...node, spec: { ...node.spec, taints: [...(node.spec?.taints ?? []), { ...DRAIN_TAINT }] } },
      );
      // Every Ready one there goes Unhealthy once its pod is evicted, and the fleet replaces them elsewhere.
      for (const g of readyThere)
        await until(`${g.metadata.name} Unhealthy`, () =>
          states.get(g.metadata.name!)?.includes('Unhealthy'),
        );
      const settled = await fleetSettled();
      for (const g of settled) {
        if (g.metadata.name === allocatedName) continue;
        expect(g.status.nodeName).not.toBe(allocatedNode);
      }
      for (const g of readyThere)
        await expect(e.admin.get(podRef(g.metadata.name!))).rejects.toMatchObject({ code: 404 });
      // The allocated one kept its pod (not even terminating) and its state.
      const pod = await e.admin.get(podRef(allocatedName));
      expect(pod.metadata.deletionTimestamp).toBeUndefined();
      expect(pod.spec.nodeName).toBe(allocatedNode);
      expect((await e.admin.get(gsRef(allocatedName))).status.state).toBe('Allocated');
      expect(states.get(allocatedName) ?? []).not.toContain('Unhealthy');
    } finally {
      stopWatch();
      const now = await e.admin.get({ ...NODES, name: allocatedNode });
      await e.admin.update(
        { ...NODES, name: allocatedNode },
        {
          ...now,
          spec: {
            ...now.spec,
            taints: (now.spec?.taints ?? []).filter((t: { key: string }) => t.key !== DRAIN_TAINT.key),
          },
        },
      );
    }
  });

  it('a re-allocation (Allocated → Allocated) reaches the webhook and adds nothing twice', async () => {
    await allocatorSees(allocatedName, 'Allocated');
    const before = await e.admin.get(gsRef(allocatedName));
    const calls = (await e.webhookStats()).calls;
    const res = await allocate({
      selectors: [{ gameServerState: 'Allocated', matchLabels: { 'agones.dev/fleet': FLEET } }],
    });
    expect(res.status).toMatchObject({ state: 'Allocated', gameServerName: allocatedName });
    // The SDK re-allocating itself is the other Allocated → Allocated path.
    await e.sim.sdk(allocatedName).allocate();
    expect((await e.webhookStats()).calls).toBe(calls + 2);
    expect(e.admissions.slice(-2).map((a) => a.outcome)).toEqual([
      'already_tolerating',
      'already_tolerating',
    ]);

    const pod = await e.admin.get(podRef(allocatedName));
    expect(drainTolerations(pod)).toEqual([DRAIN_TOLERATION]);
    const gs = await e.admin.get(gsRef(allocatedName));
    expect(gs.metadata.annotations?.['agones.dev/last-allocated']).not.toBe(
      before.metadata.annotations?.['agones.dev/last-allocated'],
    );
    expect(gs.metadata.annotations?.[DRAIN_TOLERATION_ANNOTATION]).toBe('true');
  });
});

describe('requests the webhook must not act on', () => {
  it('a dry-run update into Allocated changes neither the pod nor the stored GameServer', async () => {
    const custom = e.adminKubeConfig.makeApiClient(CustomObjectsApi);
    const target = (await gameServersOf(e.admin, FLEET)).find((g) => g.status?.state === 'Ready')!;
    const name = target.metadata.name!;
    const podBefore = await e.admin.get(podRef(name));
    const podRequests = (await webhookPodRequests(name)).length;
    const calls = (await e.webhookStats()).calls;
    const body = structuredClone(target);
    body.status.state = 'Allocated';
    const answer = (await custom.replaceNamespacedCustomObject({
      group: 'agones.dev',
      version: 'v1',
      namespace: 'default',
      plural: 'gameservers',
      name,
      body,
      dryRun: 'All',
    })) as KubeObject;
    // The API server did call the webhook (sideEffects NoneOnDryRun allows it), with dryRun set.
    expect((await e.webhookStats()).calls).toBe(calls + 1);
    expect(e.admissions.at(-1)).toMatchObject({ outcome: 'skipped', reason: 'dry-run', allowed: true });
    expect(answer.status.state).toBe('Allocated');
    expect(answer.metadata.annotations?.[DRAIN_TOLERATION_ANNOTATION]).toBeUndefined();

    const stored = await e.admin.get(gsRef(name));
    expect(stored.metadata.resourceVersion).toBe(target.metadata.resourceVersion);
    expect(stored.status.state).toBe('Ready');
    const podAfter = await e.admin.get(podRef(name));
    expect(podAfter.metadata.resourceVersion).toBe(podBefore.metadata.resourceVersion);
    expect(drainTolerations(podAfter)).toEqual([]);
    expect((await webhookPodRequests(name)).length).toBe(podRequests);
  });

  it('never touches a pod controlled by another GameServer: allowed with a warning, an Event and a metric', async () => {
    // A standalone GameServer "lone" whose same-named pod is controlled by another GameServer ("owner").
    const gameServer = (name: string) => ({
      apiVersion: 'agones.dev/v1',
      kind: 'GameServer',
      metadata: { name, namespace: 'default' },
      spec: {
        ports: [{ name: 'default', portPolicy: 'Dynamic', containerPort: 7654, protocol: 'UDP' }],
        template: { spec: { containers: [{ name: 'game', image: 'game:1' }] } },
      },
    });
    const owner = await e.admin.create({ ...GS, namespace: 'default' }, gameServer('owner'));
    const node = (await e.admin.list(NODES)).items[0]!.metadata.name!;
    await e.admin.create(
      { ...PODS, namespace: 'default' },
      {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: {
          name: 'lone',
          namespace: 'default',
          ownerReferences: [
            {
              apiVersion: 'agones.dev/v1',
              kind: 'GameServer',
              name: 'owner',
              uid: owner.metadata.uid!,
              controller: true,
              blockOwnerDeletion: true,
            },
          ],
        },
        spec: { nodeName: node, containers: [{ name: 'game', image: 'game:1' }] },
      },
    );
    await e.admin.create({ ...GS, namespace: 'default' }, gameServer('lone'));
    // Agones leaves "lone" waiting for its own pod (the name is taken), before Ready and not Unhealthy:
    // its create of the pod fails (409), it moves on to Starting and waits there. Creating is only on
    // the way (on the real control plane a read can catch it), and a write based on it would conflict.
    const waiting = await until('lone waits for its pod', async () => {
      const gs = await e.admin.get(gsRef('lone'));
      return gs.status?.state === 'Starting' ? gs : undefined;
    });
    const podRequestsBefore = (await webhookPodRequests('lone')).length;
    const errorsBefore = await metricValue(
      e.replicas[0]!,
      /^fleetiq_webhook_pod_patch_errors_total\{reason="not-owned"\}/,
    );

    // A transition into Allocated, sent as a client would (PUT with the resourceVersion read).
    const body = structuredClone(waiting);
    body.status.state = 'Allocated';
    const answer = await e.api('PUT', '/apis/agones.dev/v1/namespaces/default/gameservers/lone', body);
    expect(answer.status).toBe(200);
    expect(answer.body.status.state).toBe('Allocated');
    expect(answer.warnings).toEqual([
      expect.stringMatching(/default\/lone lacks the drain toleration \(not-owned\)/),
    ]);
    expect(answer.body.metadata.annotations?.[DRAIN_TOLERATION_ANNOTATION]).toBeUndefined();
    expect(e.admissions.at(-1)).toMatchObject({ outcome: 'failed_allowed', reason: 'failed-not-owned' });

    // The webhook read the pod and wrote nothing to it.
    expect((await webhookPodRequests('lone')).slice(podRequestsBefore).map((r) => r.verb)).toEqual(['get']);
    expect(drainTolerations(await e.admin.get(podRef('lone')))).toEqual([]);
    expect(
      await metricValue(e.replicas[0]!, /^fleetiq_webhook_pod_patch_errors_total\{reason="not-owned"\}/),
    ).toBe(errorsBefore + 1);
    const event = await until('the DrainTolerationFailed Event', async () =>
      (
        await e.admin.list(
          { group: '', version: 'v1', resource: 'events', namespace: 'default' },
          { fieldSelector: 'involvedObject.name=lone,reason=DrainTolerationFailed' },
        )
      ).items.at(0),
    );
    expect(event).toMatchObject({ type: 'Warning', involvedObject: { kind: 'GameServer', name: 'lone' } });

    for (const n of ['lone', 'owner']) await e.admin.delete(gsRef(n));
    await e.admin.delete(podRef('lone'), { gracePeriodSeconds: 0 });
    await until('the standalone GameServers gone', async () => {
      const names = (await e.admin.list({ ...GS, namespace: 'default' })).items.map((g) => g.metadata.name);
      return !names.includes('lone') && !names.includes('owner');
    });
  });
});

describe('the fence', () => {
  // Each way a node refuses sessions (nodeRefusesSessions), as what marks the node and what undoes it.
  // Each drain cordons too. The old daemon's taint is NoSchedule here: this fleet does not tolerate
  // it (a fleet made for the old adapter does), and the fence reads its key only.
  const LEGACY_TAINT = { key: LEGACY_ACTIVE_TAINT_KEY, value: 'true', effect: 'NoSchedule' };
  const cases = [
    {
      why: 'FleetIQ drains it (instance-status DRAINING)',
      mark: { metadata: { labels: { [INSTANCE_STATUS_LABEL]: 'DRAINING' } }, spec: { unschedulable: true } },
    },
    {
      // A drain for a reason of the node's own (an operator's request): FleetIQ's label stays ACTIVE.
      why: 'the agent drains it while FleetIQ still says ACTIVE (drain phase Tainted)',
      mark: {
        metadata: { labels: { [INSTANCE_STATUS_LABEL]: 'ACTIVE', [DRAIN_PHASE_LABEL]: 'Tainted' } },
        spec: { unschedulable: true },
      },
    },
    {
      // The old daemon cordons first and taints later, without fencing (docs/migration.md).
      why: "the old adapter's daemon drains it (cordoned with its gamelift.status/active taint)",
      mark: { spec: { unschedulable: true, taints: [LEGACY_TAINT] } },
    },
  ];
  const unmark = {
    metadata: { labels: { [INSTANCE_STATUS_LABEL]: null, [DRAIN_PHASE_LABEL]: null } },
    spec: { unschedulable: null, taints: null },
  };

  it.each(cases)(
    'refuses allocations on a node when $why, and the allocator moves to other game servers',
    async ({ why, mark }) => {
      const settled = await fleetSettled();
      // Every Ready game server in the allocator's cache (an earlier case touched the ones it refused).
      await until('the allocator cache holding every Ready game server', () =>
        settled
          .filter((g) => g.status.state === 'Ready')
          .every((g) => e.sim.allocator.cache.get(`default/${g.metadata.name}`)?.status?.state === 'Ready'),
      );
      // The node a Packed allocation would pick first, in the allocator's own order.
      const order = sortPacked([...e.sim.allocator.cache.values()], e.sim.allocator.counter.counts).filter(
        (g) => g.status?.state === 'Ready',
      );
      const draining = order[0]!.status.nodeName as string;
      const readyThere = settled
        .filter((g) => g.status.nodeName === draining && g.status.state === 'Ready')
        .map((g) => g.metadata.name!);
      expect(readyThere.length).toBeGreaterThan(0);
      expect((await e.admin.get({ ...NODES, name: draining })).spec?.taints ?? []).toEqual([]);
      // Sessions already there before the drain (an earlier test's, maybe) are not the fence's business.
      const allocatedThere = () =>
        gameServersOf(e.admin, FLEET).then((list) =>
          list
            .filter((g) => g.status?.nodeName === draining && g.status?.state === 'Allocated')
            .map((g) => g.metadata.name!)
            .sort(),
        );
      const allocatedThereBefore = await allocatedThere();

      await e.admin.patch({ ...NODES, name: draining }, 'merge', mark);
      await until(
        'the webhook sees the node fenced',
        async () => (await metricValue(e.replicas[0]!, /^fleetiq_webhook_fenced_nodes /)) === 1,
      );
      const fencedBefore = admissionsWith('fenced');
      const allocated: string[] = [];
      try {
        for (let i = 0; i < 4; i++) {
          const res = await allocate();
          expect(res.status.state).toBe('Allocated');
          expect(res.status.nodeName).not.toBe(draining);
          allocated.push(res.status.gameServerName);
          await allocatorSees(res.status.gameServerName, 'Allocated');
        }
        expect(admissionsWith('fenced') - fencedBefore).toBeGreaterThanOrEqual(1);
        expect(await allocatedThere()).toEqual(allocatedThereBefore);
        // The refused ones are untouched: still Ready, their pods neither tolerating nor marked.
        for (const name of readyThere) {
          expect((await e.admin.get(gsRef(name))).status.state).toBe('Ready');
          const pod = await e.admin.get(podRef(name));
          expect(drainTolerations(pod)).toEqual([]);
          expect(pod.metadata.annotations?.[KARPENTER_DO_NOT_DISRUPT_ANNOTATION]).toBeUndefined();
        }
      } finally {
        await e.admin.patch({ ...NODES, name: draining }, 'merge', unmark);
      }
      await until(
        'the webhook sees no node fenced',
        async () => (await metricValue(e.replicas[0]!, /^fleetiq_webhook_fenced_nodes /)) === 0,
      );
      for (const name of allocated) await e.sim.sdk(name).shutdown();
      // Agones' allocator drops a GameServer whose update met a Conflict until it changes again: touch
      // the ones the fence refused, so that the next case allocates from the whole fleet.
      for (const name of readyThere)
        await e.admin.patch(gsRef(name), 'merge', { metadata: { annotations: { 'e2e/fence-case': why } } });
      await fleetSettled();
    },
  );
});

describe('matchConditions', () => {
  it('keep every update that is not a transition into Allocated away from the webhook', async () => {
    const list = await fleetSettled();
    const ready = list.filter((g) => g.status.state === 'Ready').map((g) => g.metadata.name!);
    const statsBefore = await e.webhookStats();
    const admissions = e.admissions.length;
    const decisions = await metricSum(e.replicas[0]!, 'fleetiq_webhook_decisions_total');

    // Label changes (a client's merge patch; the SDK's SetLabel: Ready → Ready).
    await e.admin.patch(gsRef(ready[0]!), 'merge', { metadata: { labels: { 'example.com/tier': 'gold' } } });
    await e.sim.sdk(ready[1]!).setLabel('map', 'dust');
    // Allocated → RequestReady → Ready (a game server reused after its session).
    await e.sim.sdk(allocatedName).ready();
    await until(
      'reused game server Ready',
      async () => (await e.admin.get(gsRef(allocatedName))).status.state === 'Ready',
    );
    // New game servers: PortAllocation → Creating → Starting → Scheduled → RequestReady → Ready.
    await e.sim.scaleFleet(FLEET, REPLICAS + 2);
    await fleetSettled(REPLICAS + 2);
    // Ready → Shutdown, then deletion.
    await e.sim.sdk(ready[2]!).shutdown();
    await fleetSettled(REPLICAS + 2);

    const stats = statsDelta(await e.webhookStats(), statsBefore);
    expect(stats.calls).toBe(0);
    expect(Object.keys(stats.outcomes)).toEqual(['conditionFalse']);
    // Each of those updates was matched by the rules and stopped by a matchCondition.
    expect(stats.outcomes.conditionFalse).toBeGreaterThanOrEqual(2 * 5 + 4);
    expect(e.admissions.length).toBe(admissions);
    expect(await metricSum(e.replicas[0]!, 'fleetiq_webhook_decisions_total')).toBe(decisions);

    // And an allocation does get through.
    const res = await allocate();
    expect(res.status.state).toBe('Allocated');
    expect(statsDelta(await e.webhookStats(), statsBefore).calls).toBe(1);
    expect(e.admissions.length).toBe(admissions + 1);
    expect(await metricSum(e.replicas[0]!, 'fleetiq_webhook_decisions_total')).toBe(decisions + 1);
  });
});

describe('RBAC', () => {
  it("the webhook's ServiceAccount needed nothing beyond what manifests/base grants it", async () => {
    const requests = await e.requests(e.webhookUser);
    const kinds = new Set(requests.map((r) => `${r.verb} ${r.resource}`));
    // Everything it does was exercised: certificates, the fence's watch, pods, Events.
    for (const k of [
      'create secrets',
      'patch mutatingwebhookconfigurations',
      'watch nodes',
      'get pods',
      'patch pods',
      'create events',
    ])
      expect(kinds).toContain(k);
    expect(requests.filter((r) => r.code === 403)).toEqual([]);
  });
});
