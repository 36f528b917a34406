// Two real pubsub replicas electing a leader through a coordination.k8s.io/v1 Lease on the
// Kubernetes control plane of the tests (the real kube-apiserver unless
// FLEETIQ_TEST_CONTROL_PLANE=emulated; over HTTPS, as a ServiceAccount with its RBAC and a
// TokenRequest token), polling the FleetIQ emulator and publishing to a real redis-server.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { KubeConfig } from '@kubernetes/client-node';
import { Redis } from 'ioredis';
import { startFleetIQEmulator, type FleetIQEmulator } from '../../sandbox/fleetiq/emulator.js';
import type { KubeObject, UserInfo } from '../../sandbox/kube/types.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';
import { startTestKube, TEST_KUBE_START_MS, type TestKube } from '../helpers/test-kube.js';
import type { PubsubService } from '../../pubsub/service.js';
import {
  ConfigFile,
  latest,
  metricSum,
  metricValue,
  silent,
  startService,
  Subscriber,
  waitFor,
} from './helpers.js';

const NAMESPACE = 'fleetiq-system';
const LEASE = 'fleetiq-agones-pubsub';
const PUBSUB_USER: UserInfo = {
  username: `system:serviceaccount:${NAMESPACE}:pubsub`,
  groups: ['system:serviceaccounts', `system:serviceaccounts:${NAMESPACE}`, 'system:authenticated'],
};
const leases = { group: 'coordination.k8s.io', version: 'v1', resource: 'leases', namespace: NAMESPACE };
const rbac = 'rbac.authorization.k8s.io';

let kube: TestKube;
let fleetiq: FleetIQEmulator;
let redisServer: RedisServer;
let redis: Redis;
let config: ConfigFile;
const running = new Set<PubsubService>();

beforeAll(async () => {
  kube = await startTestKube();
  const admin = kube.admin;
  // The installation's namespace; a ServiceAccount of this test's own (a token is issued to it).
  await admin
    .create({ group: '', version: 'v1', resource: 'namespaces' }, { metadata: { name: NAMESPACE } })
    .catch((err: { code?: number }) => {
      if (err.code !== 409) throw err;
    });
  await admin.create(
    { group: '', version: 'v1', resource: 'serviceaccounts', namespace: NAMESPACE },
    { metadata: { name: 'pubsub', namespace: NAMESPACE } },
  );
  // Exactly what the pubsub Deployment's service account is granted: its Lease, nothing else.
  await admin.create(
    { group: rbac, version: 'v1', resource: 'roles', namespace: NAMESPACE },
    {
      apiVersion: `${rbac}/v1`,
      kind: 'Role',
      metadata: { namespace: NAMESPACE, name: 'pubsub-leader-election' },
      rules: [
        { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] },
      ],
    },
  );
  await admin.create(
    { group: rbac, version: 'v1', resource: 'rolebindings', namespace: NAMESPACE },
    {
      apiVersion: `${rbac}/v1`,
      kind: 'RoleBinding',
      metadata: { namespace: NAMESPACE, name: 'pubsub-leader-election' },
      roleRef: { apiGroup: rbac, kind: 'Role', name: 'pubsub-leader-election' },
      subjects: [{ kind: 'ServiceAccount', name: 'pubsub', namespace: NAMESPACE }],
    },
  );
  fleetiq = await startFleetIQEmulator({ logger: silent, seed: 5, groups: [{ name: 'pool', instances: 4 }] });
  redisServer = await startRedis();
  redis = new Redis(redisServer.url);
  config = new ConfigFile({ GameServerGroups: ['pool'], PollIntervalSeconds: 0.2 });
}, TEST_KUBE_START_MS);

afterAll(async () => {
  for (const s of running) await s.stop({ release: false });
  redis?.disconnect();
  await redisServer?.stop();
  await fleetiq?.stop();
  await kube?.stop();
  config?.remove();
});

async function kubeConfig(): Promise<KubeConfig> {
  const kc = new KubeConfig();
  kc.loadFromString(await kube.backend.kubeconfig(PUBSUB_USER));
  return kc;
}

async function replica(
  identity: string,
  timings = { leaseDurationMs: 1000, renewDeadlineMs: 600, retryPeriodMs: 150 },
): Promise<PubsubService> {
  const service = await startService({
    fleetiqUrl: fleetiq.url,
    redisUrl: redisServer.url,
    config,
    leaderElection: {
      namespace: NAMESPACE,
      name: LEASE,
      identity,
      kubeConfig: await kubeConfig(),
      ...timings,
    },
  });
  running.add(service);
  return service;
}

async function stop(service: PubsubService, release: boolean): Promise<void> {
  await service.stop({ release });
  running.delete(service);
}

async function lease(): Promise<KubeObject> {
  return kube.admin.get({ ...leases, name: LEASE });
}

const polls = (s: PubsubService) => metricSum(s.registry, 'fleetiq_pubsub_polls_total');
const ids = () => fleetiq.control.instances({ group: 'pool' }).map((i) => i.instanceId);

describe('leader election', () => {
  let a: PubsubService;
  let b: PubsubService;

  it('elects exactly one leader; the follower is ready and does not poll', async () => {
    a = await replica('pubsub-a');
    b = await replica('pubsub-b');
    await waitFor('a leader', () => a.isLeader() || b.isLeader());
    const [leader, follower] = a.isLeader() ? [a, b] : [b, a];
    const spec = (await lease()).spec;
    expect(spec.holderIdentity).toBe(leader === a ? 'pubsub-a' : 'pubsub-b');
    expect(spec.leaseDurationSeconds).toBe(1);
    // MicroTime on the wire: RFC 3339 with exactly six fractional digits.
    expect(spec.acquireTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    expect(spec.renewTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);

    for (const id of ids())
      await waitFor(`status of ${id}`, async () => (await latest(redis, id)) !== undefined);
    await waitFor('the lease renewed', async () => (await lease()).spec.renewTime !== spec.renewTime);
    expect(follower.isLeader()).toBe(false);
    expect(await polls(follower)).toBe(0);
    expect(await metricValue(follower.registry, 'fleetiq_pubsub_is_leader')).toBe(0);
    expect(await metricValue(leader.registry, 'fleetiq_pubsub_is_leader')).toBe(1);
    expect((await fetch(`${follower.opsUrl}/readyz`)).status).toBe(200);
    // Its Role was enough: nothing was forbidden.
    expect((await kube.requests(PUBSUB_USER)).filter((e) => e.code === 403)).toEqual([]);
  });

  it('the follower takes over when the leader is killed; sequences keep increasing', async () => {
    const [leader, follower] = a.isLeader() ? [a, b] : [b, a];
    const subscriber = await Subscriber.start(redisServer.url);
    try {
      const id = ids()[0]!;
      const before = (await latest(redis, id))!.Sequence;
      const transitions = (await lease()).spec.leaseTransitions ?? 0;
      await stop(leader, false); // killed: no release, the lease must run out
      await waitFor('the follower to lead', () => follower.isLeader(), 4000);
      const spec = (await lease()).spec;
      expect(spec.holderIdentity).toBe(follower === a ? 'pubsub-a' : 'pubsub-b');
      expect(spec.leaseTransitions).toBe(transitions + 1);

      fleetiq.control.setInstanceStatus(id, 'DRAINING');
      const message = await waitFor('the change published by the new leader', () =>
        subscriber.of(id).find((m) => m.InstanceStatus === 'DRAINING'),
      );
      expect(message.Sequence).toBeGreaterThan(before);
      fleetiq.control.setInstanceStatus(id, 'ACTIVE');
    } finally {
      subscriber.stop();
    }
  });

  it('stops polling at once when it loses the lease', async () => {
    const leader = a.isLeader() ? a : b;
    expect(leader.isLeader()).toBe(true);
    // Someone else holds the lease now (as after a partition): the next renewal sees it.
    const current = await lease();
    await kube.admin.update(
      { ...leases, name: LEASE },
      { ...current, spec: { ...current.spec, holderIdentity: 'intruder', leaseDurationSeconds: 3600 } },
    );
    await waitFor('the leader to step down', () => !leader.isLeader());
    fleetiq.control.resetCallCounts();
    expect(await metricValue(leader.registry, 'fleetiq_pubsub_is_leader')).toBe(0);
    const after = await polls(leader);
    // It keeps checking the lease as a candidate: three more checks span more than a poll interval.
    const leaseGets = async () =>
      (await kube.requests(PUBSUB_USER)).filter((e) => e.resource === 'leases' && e.verb === 'get').length;
    const checks = await leaseGets();
    await waitFor('three more lease checks', async () => (await leaseGets()) >= checks + 3);
    expect(await polls(leader)).toBe(after);
    expect(fleetiq.control.callCounts().DescribeGameServerInstances.calls).toBe(0);
    await stop(leader, false);
    await kube.admin.delete({ ...leases, name: LEASE });
  });

  it('on SIGTERM releases the lease so the follower takes over without waiting it out', async () => {
    // A long lease: a follower that had to wait for expiry would need 5 s.
    const timings = { leaseDurationMs: 5000, renewDeadlineMs: 3000, retryPeriodMs: 150 };
    const first = await replica('pubsub-c', timings);
    await waitFor('first to lead', () => first.isLeader());
    const second = await replica('pubsub-d', timings);
    await waitFor(
      'the follower to see the leader',
      async () => (await lease()).spec.holderIdentity === 'pubsub-c',
    );
    await stop(first, true);
    const released = (await lease()).spec;
    expect(['', 'pubsub-d']).toContain(released.holderIdentity);
    await waitFor('the follower to lead', () => second.isLeader(), 3000);
    expect((await lease()).spec.holderIdentity).toBe('pubsub-d');
  });
});
