// The webhook's Kubernetes I/O against the API server emulator (real client-node over HTTPS):
// the guarded JSON Patch of the pod, the fence's node-status watch, builtin certificate management,
// and a transition answered over HTTPS with a real pod behind it. (The API server calling the webhook
// through a MutatingWebhookConfiguration is the end-to-end suite's business.)
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type V1Pod,
} from '@kubernetes/client-node';
import {
  DRAIN_TOLERATION,
  DRAIN_TOLERATION_ANNOTATION,
  INSTANCE_STATUS_LABEL,
} from '../../shared/contract.js';
import { createLogger } from '../../shared/logger.js';
import { DEFAULT_CERTIFICATE_POLICY } from '../../certs/ensure.js';
import { startKubeEmulator, type KubeEmulator } from '../../sandbox/kube/emulator.js';
import { webhookConfig } from '../../webhook/config.js';
import { DirectNodeStatus, WatchedNodeStatus } from '../../webhook/node-status.js';
import { KubePodTolerator } from '../../webhook/pod-toleration.js';
import type { PodView } from '../../webhook/decide.js';
import { drainTolerationPatch } from '../../shared/drain-contract.js';
import { requestOptions } from '../../certs/kube-request.js';
import { startWebhook } from '../../webhook/server.js';
import { withConnectionReuse } from '../../shared/kube-connection.js';
import { httpsRequest } from './fixtures.js';
import { gameServerReview } from '../../sandbox/system/admission-review.js';
import { waitFor } from '../helpers/wait.js';

const NS = 'games';
let emu: KubeEmulator;
let kc: KubeConfig;
let core: CoreV1Api;
let custom: CustomObjectsApi;
const silent = createLogger('webhook-test', 'silent');
const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

async function node(name: string, status?: string): Promise<void> {
  await core.createNode({
    body: {
      metadata: {
        name,
        labels: { role: 'game-servers', ...(status ? { [INSTANCE_STATUS_LABEL]: status } : {}) },
      },
    },
  });
}

async function setNodeStatus(name: string, status: string | null): Promise<void> {
  await core.patchNode({ name, body: { metadata: { labels: { [INSTANCE_STATUS_LABEL]: status } } } }, merge);
}

/** A GameServer and its pod as Agones makes them: same name, controller reference to the GameServer. */
async function gameServerWithPod(
  name: string,
  nodeName: string,
  tolerations?: object[],
): Promise<{ uid: string; pod: V1Pod; gs: Record<string, any> }> {
  const gs = (await custom.createNamespacedCustomObject({
    group: 'agones.dev',
    version: 'v1',
    namespace: NS,
    plural: 'gameservers',
    body: {
      apiVersion: 'agones.dev/v1',
      kind: 'GameServer',
      metadata: { name, namespace: NS },
      spec: { container: 'game' },
      status: { state: 'Ready' },
    },
  })) as { metadata: { uid: string } } & Record<string, any>;
  const pod = await core.createNamespacedPod({
    namespace: NS,
    body: {
      metadata: {
        name,
        namespace: NS,
        labels: { 'agones.dev/role': 'gameserver', 'agones.dev/gameserver': name },
        ownerReferences: [
          {
            apiVersion: 'agones.dev/v1',
            kind: 'GameServer',
            name,
            uid: gs.metadata.uid,
            controller: true,
            blockOwnerDeletion: true,
          },
        ],
      },
      spec: {
        nodeName,
        containers: [{ name: 'game', image: 'game:1' }],
        ...(tolerations ? { tolerations: tolerations as never } : {}),
      },
    },
  });
  return { uid: gs.metadata.uid, pod, gs };
}

/** The review the API server sends for allocating this stored GameServer: oldObject is the stored one. */
function allocationReviewOf(stored: Record<string, any>, requestUid: string) {
  return gameServerReview('Ready', 'Allocated', {
    uid: requestUid,
    oldObject: stored,
    object: { ...stored, status: { ...stored.status, state: 'Allocated' } },
  });
}

const readPod = (name: string) => core.readNamespacedPod({ name, namespace: NS });
/** The pod's tolerations of the drain taint (the API server adds its default not-ready/unreachable ones). */
const drainTolerations = async (name: string) =>
  ((await readPod(name)).spec?.tolerations ?? [])
    .filter((t) => t.key === DRAIN_TOLERATION.key)
    .map((t) => ({ ...t }));

beforeAll(async () => {
  emu = await startKubeEmulator({ authorization: 'allow-all' });
  kc = new KubeConfig();
  kc.loadFromString(emu.kubeconfig());
  // The test's own calls over one pool too, so the emulator's connection count shows the webhook's.
  const shared = withConnectionReuse(kc);
  core = shared.makeApiClient(CoreV1Api);
  custom = shared.makeApiClient(CustomObjectsApi);
  await core.createNamespace({ body: { metadata: { name: NS } } });
  await node('node-active', 'ACTIVE');
  await node('node-plain');
  await node('node-draining', 'DRAINING');
});

afterAll(async () => {
  await emu?.stop();
});

describe('KubePodTolerator', () => {
  const tolerator = () => new KubePodTolerator(kc, new DirectNodeStatus(kc), { fence: true, budgetMs: 2000 });

  it('adds the toleration to a pod without any, then does nothing the second time', async () => {
    const { uid } = await gameServerWithPod('gs-a', 'node-active');
    const first = await tolerator().ensure({ namespace: NS, name: 'gs-a', uid });
    expect(first).toEqual({ kind: 'tolerated', attempts: 1, apiMs: expect.any(Number) });
    expect(first.apiMs).toBeGreaterThan(0);
    const pod = await readPod('gs-a');
    expect(await drainTolerations('gs-a')).toEqual([DRAIN_TOLERATION]);
    expect(await tolerator().ensure({ namespace: NS, name: 'gs-a', uid })).toMatchObject({
      kind: 'already-tolerating',
    });
    expect((await readPod('gs-a')).metadata?.resourceVersion).toBe(pod.metadata?.resourceVersion);
  });

  it('appends to existing tolerations, keeping them', async () => {
    const existing = {
      key: 'node.kubernetes.io/not-ready',
      operator: 'Exists',
      effect: 'NoExecute',
      tolerationSeconds: 300,
    };
    const { uid } = await gameServerWithPod('gs-b', 'node-plain', [existing]);
    expect((await tolerator().ensure({ namespace: NS, name: 'gs-b', uid })).kind).toBe('tolerated');
    const tolerations = ((await readPod('gs-b')).spec?.tolerations ?? []).map((t) => ({ ...t }));
    expect(tolerations[0]).toEqual(existing);
    expect(tolerations.at(-1)).toEqual(DRAIN_TOLERATION);
    expect(await drainTolerations('gs-b')).toHaveLength(1);
  });

  it('never touches a pod another GameServer (or a re-created namesake) controls', async () => {
    await gameServerWithPod('gs-c', 'node-active');
    const before = await readPod('gs-c');
    const result = await tolerator().ensure({ namespace: NS, name: 'gs-c', uid: 'uid-of-an-older-gs-c' });
    expect(result).toMatchObject({ kind: 'failed', reason: 'not-owned' });
    expect((await readPod('gs-c')).metadata?.resourceVersion).toBe(before.metadata?.resourceVersion);
  });

  it('fences a node that is DRAINING, a terminating pod, and a missing pod', async () => {
    const drained = await gameServerWithPod('gs-d', 'node-draining');
    expect(await tolerator().ensure({ namespace: NS, name: 'gs-d', uid: drained.uid })).toMatchObject({
      kind: 'fenced',
      message: expect.stringContaining('DRAINING'),
    });
    expect(await drainTolerations('gs-d')).toEqual([]);

    const terminating = await gameServerWithPod('gs-e', 'node-active');
    // A finalizer keeps the deleted pod around, terminating, as the kubelet would while it stops.
    await core.patchNamespacedPod(
      { name: 'gs-e', namespace: NS, body: { metadata: { finalizers: ['test/hold'] } } },
      merge,
    );
    await core.deleteNamespacedPod({ name: 'gs-e', namespace: NS });
    expect(await tolerator().ensure({ namespace: NS, name: 'gs-e', uid: terminating.uid })).toMatchObject({
      kind: 'fenced',
      message: expect.stringContaining('terminating'),
    });

    expect(await tolerator().ensure({ namespace: NS, name: 'gs-nope', uid: 'x' })).toMatchObject({
      kind: 'fenced',
      message: expect.stringContaining('no pod'),
    });
  });

  it('sends a JSON Patch guarded by test operations, which the API server refuses for a re-created pod', async () => {
    const { uid } = await gameServerWithPod('gs-f', 'node-active', []);
    const asRead = await readPod('gs-f');
    const patch = drainTolerationPatch(asRead as PodView);
    // The pod is deleted and re-created under the same name between our read and our patch.
    await core.deleteNamespacedPod({ name: 'gs-f', namespace: NS, gracePeriodSeconds: 0 });
    await waitFor(
      'the pod to be gone',
      async () =>
        !(await core.listNamespacedPod({ namespace: NS })).items.some((p) => p.metadata?.name === 'gs-f'),
    );
    await core.createNamespacedPod({
      namespace: NS,
      body: {
        metadata: { name: 'gs-f', namespace: NS, ownerReferences: asRead.metadata!.ownerReferences! },
        spec: { nodeName: 'node-active', containers: [{ name: 'game', image: 'game:1' }], tolerations: [] },
      },
    });
    await expect(
      core.patchNamespacedPod(
        { name: 'gs-f', namespace: NS, body: patch },
        requestOptions({ jsonPatch: true }),
      ),
    ).rejects.toMatchObject({ code: 422 });
    expect(await drainTolerations('gs-f')).toEqual([]);
    // Read afresh, the tolerator handles the new pod (same owner) correctly.
    expect((await tolerator().ensure({ namespace: NS, name: 'gs-f', uid })).kind).toBe('tolerated');
  });
});

describe('WatchedNodeStatus', () => {
  it('becomes ready after listing, follows label changes, and drops nodes leaving the fenced set', async () => {
    const restarts: string[] = [];
    const watched = new WatchedNodeStatus(kc, { logger: silent, onRestart: (r) => restarts.push(r) });
    expect(watched.ready()).not.toBe(true);
    watched.start();
    try {
      await waitFor('the first list', () => watched.ready() === true);
      await waitFor('the watch', () => watched.isWatching());
      expect(await watched.statusOf('node-draining')).toBe('DRAINING');
      expect(await watched.statusOf('node-active')).toBeUndefined(); // not fenced: not cached at all
      await node('node-w');
      await setNodeStatus('node-w', 'SPOT_TERMINATING');
      await waitFor(
        'SPOT_TERMINATING',
        async () => (await watched.statusOf('node-w')) === 'SPOT_TERMINATING',
      );
      await setNodeStatus('node-w', 'ACTIVE');
      await waitFor(
        'the node to leave the fenced set',
        async () => (await watched.statusOf('node-w')) === undefined,
      );
      await setNodeStatus('node-w', 'DRAINING');
      await waitFor('DRAINING', async () => (await watched.statusOf('node-w')) === 'DRAINING');
      await core.deleteNode({ name: 'node-w' });
      await waitFor(
        'the deleted node to leave',
        async () => (await watched.statusOf('node-w')) === undefined,
      );
      expect(restarts[0]).toBe('start');
    } finally {
      await watched.stop();
    }
  });

  it('resumes watches the server ends without listing again, and GETs the node only while not watching', async () => {
    const nodeRequests = (verb: string) =>
      emu.requestLog.entries().filter((e) => e.resource === 'nodes' && e.verb === verb).length;
    const lists = nodeRequests('list');
    const gets = nodeRequests('get');
    const restarts: string[] = [];
    const watched = new WatchedNodeStatus(kc, {
      logger: silent,
      onRestart: (r) => restarts.push(r),
      watchTimeoutSeconds: { min: 1, max: 1 },
    });
    expect(watched.isWatching()).toBe(false);
    watched.start();
    try {
      await waitFor(
        'three watches the server ended',
        () => restarts.filter((r) => r === 'watch-ended').length >= 3,
      );
      await node('node-r');
      await setNodeStatus('node-r', 'DRAINING');
      await waitFor(
        'DRAINING, from the cache',
        async () => (await watched.statusOf('node-r')) === 'DRAINING',
      );
      expect(restarts[0]).toBe('start');
      expect(restarts.filter((r) => r !== 'watch-ended' && r !== 'start')).toEqual([]);
      expect(nodeRequests('list') - lists).toBe(1);
      expect(nodeRequests('get') - gets).toBe(0);
    } finally {
      await watched.stop();
    }
    // Stopped, it no longer knows: a lookup asks the API server (an ACTIVE node is not in the cache).
    expect(watched.isWatching()).toBe(false);
    expect(await watched.statusOf('node-active')).toBe('ACTIVE');
    expect(nodeRequests('get') - gets).toBe(1);
  });
});

describe('the webhook with builtin certificates and a real pod behind a transition', () => {
  it('creates its certificates, serves them, tolerates the pod and annotates the GameServer', async () => {
    const webhook = await startWebhook(
      webhookConfig(
        {
          mode: 'builtin',
          checkIntervalMs: 60_000,
          namespace: NS,
          secretName: 'webhook-tls',
          serviceName: 'fleetiq-agones-webhook',
          clusterDomain: 'cluster.local',
          policy: DEFAULT_CERTIFICATE_POLICY,
        },
        { listen: { host: '127.0.0.1', port: 0 }, opsListen: { host: '127.0.0.1', port: 0 } },
      ),
      { kubeConfig: kc, logger: silent },
    );
    try {
      await waitFor(
        'readiness (certificate loaded, node watch listed)',
        async () => (await fetch(`${webhook.opsUrl}/readyz`)).status === 200,
      );
      const secret = await core.readNamespacedSecret({ name: 'webhook-tls', namespace: NS });
      const caBundle = Buffer.from(secret.data!['ca.crt']!, 'base64').toString();
      expect(webhook.certificate().caBundlePem).toBe(caBundle);

      const { gs } = await gameServerWithPod('gs-t', 'node-active');
      const review = allocationReviewOf(gs, 'req-t');
      const answer = await httpsRequest(webhook.admissionUrl, {
        body: JSON.stringify(review),
        headers: { 'content-type': 'application/json' },
        ca: caBundle,
        servername: 'fleetiq-agones-webhook.games.svc',
      });
      expect(answer.status).toBe(200);
      const response = answer.json.response;
      expect(response).toMatchObject({ uid: 'req-t', allowed: true, patchType: 'JSONPatch' });
      // The stored GameServer has no annotations yet: the patch creates the map.
      expect(JSON.parse(Buffer.from(response.patch, 'base64').toString())).toEqual([
        { op: 'add', path: '/metadata/annotations', value: { [DRAIN_TOLERATION_ANNOTATION]: 'true' } },
      ]);
      expect(await drainTolerations('gs-t')).toEqual([DRAIN_TOLERATION]);

      // A transition onto a draining node is refused with 409 Conflict (the allocator moves on).
      const drained = await gameServerWithPod('gs-u', 'node-draining');
      const fenced = await httpsRequest(webhook.admissionUrl, {
        body: JSON.stringify(allocationReviewOf(drained.gs, 'req-u')),
        headers: { 'content-type': 'application/json' },
        ca: caBundle,
        servername: 'fleetiq-agones-webhook.games.svc',
      });
      expect(fenced.json.response).toMatchObject({
        uid: 'req-u',
        allowed: false,
        status: { code: 409, reason: 'Conflict' },
      });

      // Forged reviews — what any client that reaches the webhook port could send — patch nothing: the
      // review is checked against the stored GameServer first.
      const target = await gameServerWithPod('gs-forged', 'node-active');
      const podVersion = async () =>
        (await core.readNamespacedPod({ name: 'gs-forged', namespace: NS })).metadata!.resourceVersion;
      const untouched = await podVersion();
      const forgeries = [
        // Plausible, but not what is stored (the fixture's own resourceVersion and object).
        gameServerReview('Ready', 'Allocated', {
          uid: 'f1',
          name: 'gs-forged',
          namespace: NS,
          gameServerUid: target.uid,
        }),
        // The stored object with another uid.
        (() => {
          const r = allocationReviewOf(target.gs, 'f2');
          for (const o of [r.request.object, r.request.oldObject] as any[])
            o.metadata = { ...o.metadata, uid: 'forged' };
          return r;
        })(),
        // The stored object, claiming a state it is not in.
        gameServerReview('Shutdown', 'Allocated', {
          uid: 'f3',
          oldObject: { ...target.gs, status: { state: 'Shutdown' } },
          object: { ...target.gs, status: { state: 'Allocated' } },
        }),
        // A GameServer that does not exist.
        allocationReviewOf({ ...target.gs, metadata: { ...target.gs.metadata, name: 'gs-nowhere' } }, 'f4'),
      ];
      for (const forged of forgeries) {
        const r = await httpsRequest(webhook.admissionUrl, {
          body: JSON.stringify(forged),
          headers: { 'content-type': 'application/json' },
          ca: caBundle,
          servername: 'fleetiq-agones-webhook.games.svc',
        });
        expect(r.json.response).toEqual({ uid: forged.request.uid, allowed: true });
      }
      expect(await podVersion()).toBe(untouched);
      expect(await drainTolerations('gs-forged')).toEqual([]);
      // The stored GameServer moving on makes an earlier (genuine) review stale: still nothing patched.
      await custom.patchNamespacedCustomObject(
        {
          group: 'agones.dev',
          version: 'v1',
          namespace: NS,
          plural: 'gameservers',
          name: 'gs-forged',
          body: { metadata: { labels: { moved: 'on' } } },
        },
        merge,
      );
      const stale = await httpsRequest(webhook.admissionUrl, {
        body: JSON.stringify(allocationReviewOf(target.gs, 'f5')),
        headers: { 'content-type': 'application/json' },
        ca: caBundle,
        servername: 'fleetiq-agones-webhook.games.svc',
      });
      expect(stale.json.response).toEqual({ uid: 'f5', allowed: true });
      expect(await drainTolerations('gs-forged')).toEqual([]);

      // Each transition reads and patches a pod while the API server waits on the answer: over the
      // connections already open, not two new TLS handshakes per transition.
      const before = emu.tlsConnections();
      for (let i = 0; i < 8; i++) {
        const g = await gameServerWithPod(`gs-r${i}`, 'node-active');
        expect(await drainTolerations(`gs-r${i}`)).toEqual([]);
        const r = await httpsRequest(webhook.admissionUrl, {
          body: JSON.stringify(allocationReviewOf(g.gs, `req-r${i}`)),
          headers: { 'content-type': 'application/json' },
          ca: caBundle,
          servername: 'fleetiq-agones-webhook.games.svc',
        });
        expect(r.json.response).toMatchObject({ uid: `req-r${i}`, allowed: true });
        expect(await drainTolerations(`gs-r${i}`)).toEqual([DRAIN_TOLERATION]);
      }
      // Without reuse the webhook alone would have opened 16 (a GET and a PATCH each).
      expect(emu.tlsConnections() - before).toBeLessThanOrEqual(1);
    } finally {
      await webhook.stop();
    }
  });
});
