// A webhook outage (every replica gone from the Service) as the API server lives it: with the
// configuration's failurePolicy Fail (manifests/base) allocations are refused and nothing is lost;
// with Ignore (the fail-open overlay) they go through, without the drain toleration.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { DRAIN_TOLERATION, DRAIN_TOLERATION_ANNOTATION } from '../../shared/contract.js';
import type { KubeObject } from '../../sandbox/kube/types.js';
import { findObject, renderOverlay } from '../manifests/render.js';
import {
  E2E_START_MS,
  GS,
  PODS,
  WEBHOOK_CONFIGS,
  WEBHOOK_NAME,
  gameServersOf,
  startE2e,
  until,
  type E2e,
} from './harness.js';

const FLEET = 'arena';
let e: E2e;
let custom: CustomObjectsApi;

beforeAll(async () => {
  e = await startE2e({
    speed: 30,
    nodes: { count: 3, capacity: { pods: 4 } },
    fleets: [{ name: FLEET, replicas: 8 }],
  });
  custom = e.adminKubeConfig.makeApiClient(CustomObjectsApi);
}, E2E_START_MS);

afterAll(async () => {
  await e?.stop();
}, 90_000);

/** An allocation as a matchmaker sends it: client-node over HTTPS. */
function allocate(): Promise<KubeObject> {
  return custom.createNamespacedCustomObject({
    group: 'allocation.agones.dev',
    version: 'v1',
    namespace: 'default',
    plural: 'gameserverallocations',
    body: {
      apiVersion: 'allocation.agones.dev/v1',
      kind: 'GameServerAllocation',
      spec: { selectors: [{ matchLabels: { 'agones.dev/fleet': FLEET } }] },
    },
  }) as Promise<KubeObject>;
}

const drainTolerations = (pod: KubeObject) =>
  ((pod.spec?.tolerations ?? []) as { key?: string }[]).filter((t) => t.key === DRAIN_TOLERATION.key);

/** name → resourceVersion and state of every GameServer of the fleet, and of every pod. */
async function snapshot(): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const g of await gameServersOf(e.admin, FLEET))
    out[`gs/${g.metadata.name}`] = `${g.metadata.resourceVersion}/${g.status?.state}`;
  for (const p of (await e.admin.list({ ...PODS, namespace: 'default' })).items)
    out[`pod/${p.metadata.name}`] = p.metadata.resourceVersion!;
  return out;
}

async function setFailurePolicy(policy: string): Promise<void> {
  await e.admin.patch({ ...WEBHOOK_CONFIGS, name: WEBHOOK_NAME }, 'json', [
    { op: 'replace', path: '/webhooks/0/failurePolicy', value: policy },
  ]);
}

describe('a webhook outage', () => {
  it('with failurePolicy Fail: allocations fail and nothing is lost; they work again once it is back', async () => {
    const base = findObject(e.manifests, 'MutatingWebhookConfiguration', WEBHOOK_NAME);
    expect(base.webhooks[0].failurePolicy).toBe('Fail');
    const before = await snapshot();
    const stats = await e.webhookStats();
    const failedBefore = e.sim.allocator.stats.failed;

    e.route([], { crash: true });
    try {
      await expect(allocate()).rejects.toMatchObject({
        code: 500,
        body: expect.stringContaining('failed calling webhook'),
      });
      // Agones tried 5 times; each update was refused by the API server, none was stored.
      expect(e.sim.allocator.stats.failed).toBe(failedBefore + 1);
      expect((await e.webhookStats()).outcomes.failedClosed ?? 0).toBe(
        (stats.outcomes.failedClosed ?? 0) + 5,
      );
      expect(await snapshot()).toEqual(before);
    } finally {
      e.route(e.replicas);
    }

    // The GameServers the allocator tried went back to its cache: the next allocation succeeds.
    const res = await allocate();
    expect(res.status).toMatchObject({ state: 'Allocated' });
    const pod = await e.admin.get({ ...PODS, namespace: 'default', name: res.status.gameServerName });
    expect(drainTolerations(pod)).toEqual([DRAIN_TOLERATION]);
  });

  it('with failurePolicy Ignore (the fail-open overlay): allocations go through without the toleration', async () => {
    const failOpen = findObject(
      await renderOverlay('fail-open'),
      'MutatingWebhookConfiguration',
      WEBHOOK_NAME,
    );
    expect(failOpen.webhooks[0].failurePolicy).toBe('Ignore');
    await setFailurePolicy(failOpen.webhooks[0].failurePolicy);
    const stats = await e.webhookStats();
    const admissions = e.admissions.length;
    e.route([], { crash: true });
    let name = '';
    try {
      const res = await allocate();
      expect(res.status).toMatchObject({ state: 'Allocated' });
      name = res.status.gameServerName;
      expect((await e.webhookStats()).outcomes.failedOpen ?? 0).toBe((stats.outcomes.failedOpen ?? 0) + 1);
      expect(e.admissions.length).toBe(admissions);
      const gs = await e.admin.get({ ...GS, namespace: 'default', name });
      expect(gs.status.state).toBe('Allocated');
      expect(gs.metadata.annotations?.[DRAIN_TOLERATION_ANNOTATION]).toBeUndefined();
      const pod = await e.admin.get({ ...PODS, namespace: 'default', name });
      expect(drainTolerations(pod)).toEqual([]);
    } finally {
      e.route(e.replicas);
      await setFailurePolicy('Fail');
    }
    // Back to normal: the next allocation is protected again.
    await until(
      'allocator caught up',
      () => e.sim.allocator.cache.get(`default/${name}`)?.status?.state === 'Allocated',
    );
    const res = await allocate();
    const pod = await e.admin.get({ ...PODS, namespace: 'default', name: res.status.gameServerName });
    expect(drainTolerations(pod)).toEqual([DRAIN_TOLERATION]);
  });
});
