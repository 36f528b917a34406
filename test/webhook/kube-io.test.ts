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
  DRAIN_TAINT,
  DRAIN_TOLERATION,
  DRAIN_TOLERATION_ANNOTATION,
  INSTANCE_STATUS_LABEL,
  LEGACY_ACTIVE_TAINT_KEY,
} from '../../shared/contract.js';
import { createLogger } from '../../shared/logger.js';
import { DEFAULT_CERTIFICATE_POLICY } from '../../certs/ensure.js';
import { startKubeEmulator, type KubeEmulator } from '../../sandbox/kube/emulator.js';
import { webhookConfig, type WebhookConfig } from '../../webhook/config.js';
import { DirectNodeStatus, WatchedNodeStatus } from '../../webhook/node-status.js';
import { KubePodTolerator } from '../../webhook/pod-toleration.js';
import type { PodView } from '../../webhook/decide.js';
import {
  DRAIN_PHASE_LABEL,
  KARPENTER_DO_NOT_DISRUPT_ANNOTATION,
  drainTolerationPatch,
  nodeRefusesSessions,
} from '../../shared/drain-contract.js';
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

async function node(name: string, status?: string, phase?: string): Promise<void> {
  await core.createNode({
    body: {
      metadata: {
        name,
        labels: {
          role: 'game-servers',
          ...(status ? { [INSTANCE_STATUS_LABEL]: status } : {}),
          ...(phase ? { [DRAIN_PHASE_LABEL]: phase } : {}),
        },
      },
    },
  });
}

async function setNodeStatus(name: string, status: string | null): Promise<void> {
  await core.patchNode({ name, body: { metadata: { labels: { [INSTANCE_STATUS_LABEL]: status } } } }, merge);
}

async function setDrainPhase(name: string, phase: string | null): Promise<void> {
  await core.patchNode({ name, body: { metadata: { labels: { [DRAIN_PHASE_LABEL]: phase } } } }, merge);
}

/** A GameServer and its pod as Agones makes them: same name, controller reference to the GameServer. */
async function gameServerWithPod(
  name: string,
  nodeName: string,
  tolerations?: object[],
  annotations?: Record<string, string>,
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
        ...(annotations ? { annotations } : {}),
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
/** The pod's annotations (Karpenter's mark among them). */
const podAnnotations = async (name: string) => ({ ...(await readPod(name)).metadata?.annotations });
const MARKED = { [KARPENTER_DO_NOT_DISRUPT_ANNOTATION]: 'true' };

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
  // Drained for a reason that leaves FleetIQ's status ACTIVE (an operator's request, a rebalance).
  await node('node-tainted', 'ACTIVE', 'Tainted');
});

afterAll(async () => {
  await emu?.stop();
});

describe('KubePodTolerator', () => {
  const tolerator = (karpenterDoNotDisrupt = true) =>
    new KubePodTolerator(kc, new DirectNodeStatus(kc), {
      fence: true,
      karpenterDoNotDisrupt,
      budgetMs: 2000,
    });

  it('adds the toleration and the Karpenter mark to a pod without any, then does nothing the second time', async () => {
    const { uid } = await gameServerWithPod('gs-a', 'node-active');
    const first = await tolerator().ensure({ namespace: NS, name: 'gs-a', uid });
    expect(first).toEqual({ kind: 'tolerated', attempts: 1, marked: true, apiMs: expect.any(Number) });
    expect(first.apiMs).toBeGreaterThan(0);
    const pod = await readPod('gs-a');
    expect(await drainTolerations('gs-a')).toEqual([DRAIN_TOLERATION]);
    expect(await podAnnotations('gs-a')).toEqual(MARKED);
    expect(await tolerator().ensure({ namespace: NS, name: 'gs-a', uid })).toMatchObject({
      kind: 'already-tolerating',
      marked: false,
    });
    expect((await readPod('gs-a')).metadata?.resourceVersion).toBe(pod.metadata?.resourceVersion);
  });

  it('with the mark off, adds only the toleration; turned on, marks the pod that already tolerates', async () => {
    const { uid } = await gameServerWithPod('gs-k', 'node-active', undefined, { 'example.com/team': 'blue' });
    expect(await tolerator(false).ensure({ namespace: NS, name: 'gs-k', uid })).toMatchObject({
      kind: 'tolerated',
      marked: false,
    });
    expect(await podAnnotations('gs-k')).toEqual({ 'example.com/team': 'blue' });
    const tolerations = (await readPod('gs-k')).spec?.tolerations;
    // The next Allocated admission (a re-allocation) with the mark on: the mark only.
    expect(await tolerator().ensure({ namespace: NS, name: 'gs-k', uid })).toMatchObject({
      kind: 'already-tolerating',
      marked: true,
    });
    expect(await podAnnotations('gs-k')).toEqual({ 'example.com/team': 'blue', ...MARKED });
    expect((await readPod('gs-k')).spec?.tolerations).toEqual(tolerations);
  });

  it('overwrites a mark the pod template set to anything but "true"', async () => {
    const { uid } = await gameServerWithPod('gs-m', 'node-active', [{ ...DRAIN_TOLERATION }], {
      [KARPENTER_DO_NOT_DISRUPT_ANNOTATION]: '1s',
    });
    expect(await tolerator().ensure({ namespace: NS, name: 'gs-m', uid })).toMatchObject({
      kind: 'already-tolerating',
      marked: true,
    });
    expect(await podAnnotations('gs-m')).toEqual(MARKED);
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

  it('fences a node that is DRAINING, one in a drain phase while ACTIVE, a terminating pod, and a missing pod', async () => {
    const drained = await gameServerWithPod('gs-d', 'node-draining');
    expect(await tolerator().ensure({ namespace: NS, name: 'gs-d', uid: drained.uid })).toMatchObject({
      kind: 'fenced',
      message: expect.stringContaining('DRAINING'),
    });
    expect(await drainTolerations('gs-d')).toEqual([]);
    expect(await podAnnotations('gs-d')).toEqual({});

    const tainted = await gameServerWithPod('gs-dt', 'node-tainted');
    expect(await tolerator().ensure({ namespace: NS, name: 'gs-dt', uid: tainted.uid })).toMatchObject({
      kind: 'fenced',
      message: expect.stringContaining(`draining (${DRAIN_PHASE_LABEL}=Tainted)`),
    });
    expect(await drainTolerations('gs-dt')).toEqual([]);

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
  const labelsOf = async (w: WatchedNodeStatus, name: string) => (await w.sessionSignalsOf(name))?.labels;
  const statusOf = async (w: WatchedNodeStatus, name: string) =>
    (await labelsOf(w, name))?.[INSTANCE_STATUS_LABEL];
  const phaseOf = async (w: WatchedNodeStatus, name: string) =>
    (await labelsOf(w, name))?.[DRAIN_PHASE_LABEL];

  it('becomes ready after listing, follows label changes, and drops nodes leaving the fenced set', async () => {
    const restarts: string[] = [];
    const watched = new WatchedNodeStatus(kc, { logger: silent, onRestart: (r) => restarts.push(r) });
    expect(watched.ready()).not.toBe(true);
    watched.start();
    try {
      await waitFor('the first lists', () => watched.ready() === true);
      await waitFor('the watches', () => watched.isWatching());
      expect(await watched.sessionSignalsOf('node-draining')).toEqual({
        labels: { [INSTANCE_STATUS_LABEL]: 'DRAINING' },
        cordoned: false,
        taintKeys: [],
      });
      // ACTIVE but in a drain phase: only the drain-phase cache holds it, and says only its own label.
      expect(await labelsOf(watched, 'node-tainted')).toEqual({ [DRAIN_PHASE_LABEL]: 'Tainted' });
      // Takes sessions: not cached at all.
      expect(await watched.sessionSignalsOf('node-active')).toEqual({
        labels: {},
        cordoned: false,
        taintKeys: [],
      });
      await node('node-w');
      await setNodeStatus('node-w', 'SPOT_TERMINATING');
      await waitFor(
        'SPOT_TERMINATING',
        async () => (await statusOf(watched, 'node-w')) === 'SPOT_TERMINATING',
      );
      await setNodeStatus('node-w', 'ACTIVE');
      await waitFor(
        'the node to leave the fenced set',
        async () => (await statusOf(watched, 'node-w')) === undefined,
      );
      await setNodeStatus('node-w', 'DRAINING');
      await waitFor('DRAINING', async () => (await statusOf(watched, 'node-w')) === 'DRAINING');
      await core.deleteNode({ name: 'node-w' });
      await waitFor(
        'the deleted node to leave',
        async () => (await statusOf(watched, 'node-w')) === undefined,
      );
      expect(restarts[0]).toBe('start');
    } finally {
      await watched.stop();
    }
  });

  it('follows the drain phase of a node FleetIQ still calls ACTIVE, and counts each refusing node once', async () => {
    const counts: number[] = [];
    const watched = new WatchedNodeStatus(kc, { logger: silent, onFencedCount: (n) => counts.push(n) });
    watched.start();
    try {
      await waitFor('the watches', () => watched.isWatching());
      // node-draining and node-tainted.
      expect(counts.at(-1)).toBe(2);
      await node('node-p', 'ACTIVE', 'Active');
      for (const phase of ['Cordoned', 'Fenced', 'Tainted', 'Drained']) {
        await setDrainPhase('node-p', phase);
        await waitFor(`drain phase ${phase}`, async () => (await phaseOf(watched, 'node-p')) === phase);
      }
      await waitFor('three nodes refusing sessions', () => counts.at(-1) === 3);
      // Also DRAINING: in both caches, still one node.
      await setNodeStatus('node-p', 'DRAINING');
      await waitFor('DRAINING', async () => (await statusOf(watched, 'node-p')) === 'DRAINING');
      expect(counts.at(-1)).toBe(3);
      // A revert: ACTIVE and Active again leaves both selections.
      await core.patchNode(
        {
          name: 'node-p',
          body: {
            metadata: { labels: { [INSTANCE_STATUS_LABEL]: 'ACTIVE', [DRAIN_PHASE_LABEL]: 'Active' } },
          },
        },
        merge,
      );
      await waitFor('the node to take sessions again', async () => {
        const labels = await labelsOf(watched, 'node-p');
        return labels !== undefined && Object.keys(labels).length === 0;
      });
      await waitFor('two nodes refusing sessions', () => counts.at(-1) === 2);
    } finally {
      await watched.stop();
      await core.deleteNode({ name: 'node-p' });
    }
  });

  it("follows the cordon and the taints of a node the old adapter's daemon drains", async () => {
    const counts: number[] = [];
    const watched = new WatchedNodeStatus(kc, { logger: silent, onFencedCount: (n) => counts.push(n) });
    watched.start();
    const taints = (keys: string[]) => keys.map((key) => ({ key, value: 'true', effect: 'NoExecute' }));
    const setSpec = (spec: object) => core.patchNode({ name: 'node-l', body: { spec } }, merge);
    const refuses = async () => {
      const signals = await watched.sessionSignalsOf('node-l');
      return signals !== undefined && nodeRefusesSessions(signals) !== undefined;
    };
    try {
      await waitFor('the watches', () => watched.isWatching());
      await node('node-l');
      await setSpec({ taints: taints([LEGACY_ACTIVE_TAINT_KEY]) });
      // The old daemon runs it, not draining: not cordoned, so in no selection.
      await setSpec({ unschedulable: true, taints: taints([LEGACY_ACTIVE_TAINT_KEY]) });
      await waitFor("the old daemon's cordon", refuses);
      expect(await watched.sessionSignalsOf('node-l')).toEqual({
        labels: {},
        cordoned: true,
        taintKeys: [LEGACY_ACTIVE_TAINT_KEY],
      });
      await waitFor('three nodes refusing sessions', () => counts.at(-1) === 3);
      // Then its drain taint: still refused.
      await setSpec({ taints: taints([LEGACY_ACTIVE_TAINT_KEY, DRAIN_TAINT.key]) });
      await waitFor('the drain taint seen', async () =>
        (await watched.sessionSignalsOf('node-l'))?.taintKeys.includes(DRAIN_TAINT.key),
      );
      expect(await refuses()).toBe(true);
      // The node agent took the node over and removed the old taint: a cordon alone refuses nothing.
      await setSpec({ taints: taints([DRAIN_TAINT.key]) });
      await waitFor('the old taint gone', async () => !(await refuses()));
      expect(counts.at(-1)).toBe(2);
      // Uncordoned: out of the cordoned selection.
      await setSpec({ unschedulable: false });
      await waitFor(
        'the node to leave the cordoned selection',
        async () => !(await watched.sessionSignalsOf('node-l'))?.cordoned,
      );
    } finally {
      await watched.stop();
      await core.deleteNode({ name: 'node-l' });
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
        'nine watches the server ended',
        () => restarts.filter((r) => r === 'watch-ended').length >= 9,
      );
      await node('node-r');
      await setNodeStatus('node-r', 'DRAINING');
      await waitFor(
        'DRAINING, from the cache',
        async () => watched.isWatching() && (await statusOf(watched, 'node-r')) === 'DRAINING',
      );
      await setDrainPhase('node-r', 'Cordoned');
      await waitFor(
        'Cordoned, from the cache',
        async () => watched.isWatching() && (await phaseOf(watched, 'node-r')) === 'Cordoned',
      );
      expect(restarts.filter((r) => r === 'start')).toHaveLength(3);
      expect(restarts.filter((r) => r !== 'watch-ended' && r !== 'start')).toEqual([]);
      // One list per selection, ever. (The waits above read only while watching, which sessionSignalsOf
      // checks in the same tick: no GET for a gap between two watches.)
      expect(nodeRequests('list') - lists).toBe(3);
      expect(nodeRequests('get') - gets).toBe(0);
    } finally {
      await watched.stop();
    }
    // Stopped, it no longer knows: a lookup asks the API server (an ACTIVE node is not in the cache).
    expect(watched.isWatching()).toBe(false);
    expect(await labelsOf(watched, 'node-active')).toEqual({ [INSTANCE_STATUS_LABEL]: 'ACTIVE' });
    expect(await labelsOf(watched, 'node-tainted')).toEqual({
      [INSTANCE_STATUS_LABEL]: 'ACTIVE',
      [DRAIN_PHASE_LABEL]: 'Tainted',
    });
    expect(await watched.sessionSignalsOf('no-such-node')).toBeUndefined();
    expect(nodeRequests('get') - gets).toBe(3);
  });
});

describe('the webhook with builtin certificates and a real pod behind a transition', () => {
  const start = (overrides: Partial<Omit<WebhookConfig, 'tls'>> = {}) =>
    startWebhook(
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
        { listen: { host: '127.0.0.1', port: 0 }, opsListen: { host: '127.0.0.1', port: 0 }, ...overrides },
      ),
      { kubeConfig: kc, logger: silent },
    );

  it('creates its certificates, serves them, tolerates and marks the pod and annotates the GameServer', async () => {
    const webhook = await start();
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
      // Karpenter's mark, in the same pod update (the setting's default).
      expect(await podAnnotations('gs-t')).toEqual(MARKED);

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
      // So is one onto a node the agent drains while FleetIQ still says ACTIVE (drain phase Tainted),
      // from the watch-fed cache.
      const tainted = await gameServerWithPod('gs-ut', 'node-tainted');
      const fencedTainted = await httpsRequest(webhook.admissionUrl, {
        body: JSON.stringify(allocationReviewOf(tainted.gs, 'req-ut')),
        headers: { 'content-type': 'application/json' },
        ca: caBundle,
        servername: 'fleetiq-agones-webhook.games.svc',
      });
      expect(fencedTainted.json.response).toMatchObject({
        uid: 'req-ut',
        allowed: false,
        status: {
          code: 409,
          reason: 'Conflict',
          message: expect.stringContaining(`draining (${DRAIN_PHASE_LABEL}=Tainted)`),
        },
      });
      expect(await drainTolerations('gs-ut')).toEqual([]);
      expect(await podAnnotations('gs-ut')).toEqual({});

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

  it('with --karpenter-do-not-disrupt off, the pod is made tolerant but not marked', async () => {
    const webhook = await start({ karpenterDoNotDisrupt: false });
    try {
      await waitFor('readiness', async () => (await fetch(`${webhook.opsUrl}/readyz`)).status === 200);
      const caBundle = webhook.certificate().caBundlePem!;
      const { gs } = await gameServerWithPod('gs-off', 'node-active', undefined, {
        'example.com/team': 'red',
      });
      const answer = await httpsRequest(webhook.admissionUrl, {
        body: JSON.stringify(allocationReviewOf(gs, 'req-off')),
        headers: { 'content-type': 'application/json' },
        ca: caBundle,
        servername: 'fleetiq-agones-webhook.games.svc',
      });
      expect(answer.json.response).toMatchObject({ uid: 'req-off', allowed: true, patchType: 'JSONPatch' });
      expect(await drainTolerations('gs-off')).toEqual([DRAIN_TOLERATION]);
      expect(await podAnnotations('gs-off')).toEqual({ 'example.com/team': 'red' });
    } finally {
      await webhook.stop();
    }
  });
});
