// Least privilege beyond RBAC, on the real kube-apiserver: manifests/base is applied with `kubectl apply
// --server-side` (its ValidatingAdmissionPolicies included), then each ServiceAccount acts with a real
// token from the TokenRequest API. The reconciler's is bound to a pod on its node, as the kubelet's
// projected token of a DaemonSet pod is, so it carries `authentication.kubernetes.io/node-name`.
// - every write the product makes is still allowed, made by the product's own code;
// - each dangerous write RBAC allows is refused by the policy, with the policy's own message;
// - a couple of the refusals are also shown through kubectl, as an operator would see them.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { ensureOptionsFor, type CertificateSettings } from '../../certs/config.js';
import { ensureCertificates } from '../../certs/ensure.js';
import { requestOptions } from '../../certs/kube-request.js';
import { leaseApiFor } from '../../pubsub/leader-election.js';
import { restKubeApi } from '../../reconciler/kube-api.js';
import { statusCode } from '../../shared/kube-error.js';
import { nodeMergePatch, shutdownPatch } from '../../reconciler/plan.js';
import { legacyTaintRemovalPatch } from '../../reconciler/legacy.js';
import { renderKubeconfig } from '../../sandbox/kube/kubeconfig.js';
import { KARPENTER_DO_NOT_DISRUPT_ANNOTATION, sessionPodPatch } from '../../shared/drain-contract.js';
import type { KubeObject } from '../../sandbox/kube/types.js';
import { apiRequest, CONTROL_PLANE_START_MS, useControlPlane } from '../helpers/control-plane.js';
import { waitFor } from '../helpers/wait.js';
import { webhookSettings } from './component-config.js';
import { installBase, runKubectl } from './real-kubectl.js';
import { NAMESPACE, parseManifests } from './render.js';

const cp = useControlPlane();
const GAMES = 'game-servers';
const NODE = 'ip-10-0-2-1.us-west-2.compute.internal';
const OTHER_NODE = 'ip-10-0-2-2.us-west-2.compute.internal';
const AGENT_POD = 'fleetiq-agones-reconciler-policy-test';
const DRAIN_TOLERATION = {
  key: 'gamelift.status/draining',
  operator: 'Equal',
  value: 'true',
  effect: 'NoExecute',
};
const MARK = KARPENTER_DO_NOT_DISRUPT_ANNOTATION;
const MERGE = 'application/merge-patch+json';
const JSON_PATCH = 'application/json-patch+json';
const MWC = '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/fleetiq-agones-webhook';
const GS = (name: string) => `/apis/agones.dev/v1/namespaces/${GAMES}/gameservers/${name}`;
const POD = (namespace: string, name: string) => `/api/v1/namespaces/${namespace}/pods/${name}`;

type Token = 'reconciler' | 'reconcilerUnbound' | 'webhook' | 'pubsub';
const SA: Record<Token, string> = {
  reconciler: 'fleetiq-agones-reconciler',
  reconcilerUnbound: 'fleetiq-agones-reconciler',
  webhook: 'fleetiq-agones-webhook',
  pubsub: 'fleetiq-agones-pubsub',
};

let dir: string;
let rendered: KubeObject[];
const tokens = {} as Record<Token, string>;
const kubeconfigFiles = {} as Record<Token, string>;

const kubectl = (args: string[], options: { input?: string; kubeconfig?: string } = {}) =>
  runKubectl(args, {
    kubeconfig: options.kubeconfig ?? cp().kubeconfigPath,
    cacheDir: join(dir, 'cache'),
    ...(options.input !== undefined ? { input: options.input } : {}),
  });

function kubeconfigText(t: Token): string {
  return renderKubeconfig({
    server: cp().server,
    caPem: cp().caPem,
    token: tokens[t],
    user: SA[t],
    cluster: 'testbed',
  });
}

function kubeConfigOf(t: Token): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromString(kubeconfigText(t));
  return kc;
}

async function admin(method: string, path: string, body?: unknown, contentType?: string): Promise<any> {
  const res = await apiRequest(cp(), method, path, body, contentType ? { contentType } : {});
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

async function issueToken(serviceAccount: string, pod?: KubeObject): Promise<string> {
  const res = await admin('POST', `/api/v1/namespaces/${NAMESPACE}/serviceaccounts/${serviceAccount}/token`, {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'TokenRequest',
    spec: {
      expirationSeconds: 3600,
      ...(pod
        ? {
            boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: pod.metadata.name, uid: pod.metadata.uid },
          }
        : {}),
    },
  });
  return res.status.token as string;
}

function pod(namespace: string, name: string, node: string, gameServer = true): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace,
      labels: gameServer ? { 'agones.dev/role': 'gameserver', 'agones.dev/gameserver': name } : { app: name },
    },
    spec: {
      nodeName: node,
      automountServiceAccountToken: false,
      containers: [{ name: 'game', image: 'example.invalid/game:1' }],
    },
  };
}

async function gameServer(name: string, state: string, node: string): Promise<void> {
  await admin('POST', `/apis/agones.dev/v1/namespaces/${GAMES}/gameservers`, {
    apiVersion: 'agones.dev/v1',
    kind: 'GameServer',
    metadata: { name, namespace: GAMES },
    spec: { ports: [{ name: 'default', containerPort: 7654 }] },
    status: { state, nodeName: node },
  });
}

/** Retries a read-modify-write on 409: the node lifecycle controller writes these kubelet-less nodes too. */
async function onConflictRetry<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (statusCode(err) !== 409 && (err as { code?: number }).code !== 409) throw err;
      if (attempt >= 5) throw err;
    }
  }
}

/** A dry-run write that only a policy in force refuses, with its message. */
async function refusedByPolicy(t: Token, method: string, path: string, body: unknown, text: string) {
  const res = await apiRequest(cp(), method, `${path}?dryRun=All`, body, {
    token: tokens[t],
    contentType: method === 'PATCH' ? MERGE : 'application/json',
  });
  if (res.status === 403 && String(res.body?.message).includes(text)) return true;
  // Thrown, so a policy that never comes into force is reported with what the server last said.
  throw new Error(`${t} ${method} ${path}: ${res.status} ${JSON.stringify(res.body?.message ?? res.body)}`);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'manifests-real-policies-'));
  rendered = parseManifests(await installBase(cp(), kubectl, [GAMES]));

  for (const [name, id] of [
    [NODE, '1'],
    [OTHER_NODE, '2'],
  ] as const)
    await admin('POST', '/api/v1/nodes', {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name, labels: { 'kubernetes.io/hostname': name } },
      spec: { providerID: `aws:///us-west-2a/i-0${id}23456789abcdef0` },
    });
  for (const name of ['gs-ready', 'gs-allocated', 'gs-webhook', 'gs-delete'])
    await admin('POST', `/api/v1/namespaces/${GAMES}/pods`, pod(GAMES, name, NODE));
  await admin('POST', `/api/v1/namespaces/${GAMES}/pods`, pod(GAMES, 'gs-elsewhere', OTHER_NODE));
  // Session pods that already tolerate, one with a mark its pod template set to "false" (and another
  // annotation): the product's patch sets the mark alone.
  for (const name of ['gs-marked-false', 'gs-agent-marked-false']) {
    const p = pod(GAMES, name, NODE);
    p.metadata.annotations = { [MARK]: 'false', 'example.com/team': 'blue' };
    p.spec.tolerations = [{ ...DRAIN_TOLERATION }];
    await admin('POST', `/api/v1/namespaces/${GAMES}/pods`, p);
  }
  await admin('POST', `/api/v1/namespaces/${GAMES}/pods`, pod(GAMES, 'not-a-game-server', NODE, false));
  await admin('POST', '/api/v1/namespaces/kube-system/pods', pod('kube-system', 'system-pod', NODE, false));
  await gameServer('gs-ready', 'Ready', NODE);
  await gameServer('gs-allocated', 'Allocated', NODE);
  await gameServer('gs-elsewhere', 'Ready', OTHER_NODE);
  const agentPod = await admin('POST', `/api/v1/namespaces/${NAMESPACE}/pods`, {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: AGENT_POD, namespace: NAMESPACE },
    spec: {
      nodeName: NODE,
      serviceAccountName: 'fleetiq-agones-reconciler',
      securityContext: { runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [
        {
          name: 'reconciler',
          image: 'example.invalid/fleetiq-agones:test',
          securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
        },
      ],
    },
  });
  tokens.reconciler = await issueToken(SA.reconciler, agentPod);
  tokens.reconcilerUnbound = await issueToken(SA.reconciler);
  tokens.webhook = await issueToken(SA.webhook);
  tokens.pubsub = await issueToken(SA.pubsub);
  for (const t of Object.keys(SA) as Token[]) {
    kubeconfigFiles[t] = join(dir, `${t}.kubeconfig`);
    await writeFile(kubeconfigFiles[t], kubeconfigText(t), { mode: 0o600 });
  }

  // The API server loads new policies asynchronously: wait until each of the three is in force.
  await waitFor(
    'the policies to be in force',
    async () =>
      (await refusedByPolicy(
        'pubsub',
        'POST',
        `/apis/coordination.k8s.io/v1/namespaces/${NAMESPACE}/leases`,
        { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'probe' } },
        'leader-election Lease',
      )) &&
      (await refusedByPolicy(
        'webhook',
        'POST',
        `/api/v1/namespaces/${NAMESPACE}/secrets`,
        { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'probe' } },
        'kubernetes.io/tls Secret',
      )) &&
      (await refusedByPolicy(
        'reconcilerUnbound',
        'PATCH',
        `/api/v1/nodes/${NODE}`,
        { spec: { unschedulable: true } },
        'names none',
      )),
    60_000,
  );
}, CONTROL_PLANE_START_MS);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('the policies themselves', () => {
  it('are installed, and none reports a failed condition', async () => {
    const list = await admin('GET', '/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies');
    const ours = (list.items as KubeObject[]).filter((p) =>
      (p.metadata.name ?? '').startsWith('fleetiq-agones-'),
    );
    expect(ours.map((p) => p.metadata.name).sort()).toEqual([
      'fleetiq-agones-pubsub-writes',
      'fleetiq-agones-reconciler-writes',
      'fleetiq-agones-webhook-writes',
    ]);
    for (const p of ours)
      for (const c of p.status?.conditions ?? [])
        expect({ policy: p.metadata.name, ...c }).not.toMatchObject({ status: 'False' });
  });
});

describe('every write the product makes is still allowed, made by its own code', () => {
  it('reconciler: appends the drain toleration and marks the pod, shuts a Ready GameServer down, deletes a game server pod, writes a Node Event', async () => {
    const api = restKubeApi(kubeConfigOf('reconciler'));
    const allocated = (await api.getPod(GAMES, 'gs-allocated'))!;
    const tolerating = await api.patchPod(GAMES, 'gs-allocated', sessionPodPatch(allocated));
    expect(tolerating.spec.tolerations).toContainEqual(DRAIN_TOLERATION);
    expect(tolerating.metadata.annotations).toEqual({ [MARK]: 'true' });
    // The mark alone on a pod that tolerates, overwriting the template's "false", keeping the rest.
    const markedFalse = (await api.getPod(GAMES, 'gs-agent-marked-false'))!;
    const marked = await api.patchPod(GAMES, 'gs-agent-marked-false', sessionPodPatch(markedFalse));
    expect(marked.metadata.annotations).toEqual({ [MARK]: 'true', 'example.com/team': 'blue' });
    const gs = (await api.getGameServer(GAMES, 'gs-ready'))!;
    const shut = await api.patchGameServer(
      GAMES,
      'gs-ready',
      shutdownPatch(gs, { resourceVersion: gs.metadata.resourceVersion!, state: 'Ready' }),
    );
    expect(shut.status.state).toBe('Shutdown');
    const deleted = await api.deletePod(GAMES, 'gs-delete', 30);
    expect(deleted?.metadata.deletionTimestamp).toEqual(expect.any(String));
    await api.createEvent('default', {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: `${NODE}.policy-test`, namespace: 'default' },
      involvedObject: { apiVersion: 'v1', kind: 'Node', name: NODE },
      reason: 'FleetIQDraining',
      message: 'test',
      type: 'Normal',
    });
  });

  it('webhook: appends the drain toleration to a pod and marks it, and records an Event on the GameServer', async () => {
    const core = kubeConfigOf('webhook').makeApiClient(CoreV1Api);
    const sessionPatch = async (name: string) =>
      core.patchNamespacedPod(
        {
          name,
          namespace: GAMES,
          body: sessionPodPatch(
            JSON.parse(JSON.stringify(await core.readNamespacedPod({ name, namespace: GAMES }))),
          ),
        },
        requestOptions({ jsonPatch: true }),
      );
    const patched = await sessionPatch('gs-webhook');
    expect(patched.spec?.tolerations).toContainEqual(DRAIN_TOLERATION);
    expect(patched.metadata?.annotations).toEqual({ [MARK]: 'true' });
    const marked = await sessionPatch('gs-marked-false');
    expect(marked.metadata?.annotations).toEqual({ [MARK]: 'true', 'example.com/team': 'blue' });
    expect(marked.spec?.tolerations?.filter((t) => t.key === DRAIN_TOLERATION.key)).toHaveLength(1);
    const event = await core.createNamespacedEvent({
      namespace: GAMES,
      body: {
        metadata: { name: 'gs-webhook.policy-test', namespace: GAMES },
        involvedObject: {
          apiVersion: 'agones.dev/v1',
          kind: 'GameServer',
          name: 'gs-webhook',
          namespace: GAMES,
        },
        reason: 'DrainTolerationFailed',
        message: 'test',
        type: 'Warning',
      },
    });
    expect(event.metadata?.uid).toEqual(expect.any(String));
  });

  it('webhook (built-in certificates): creates its TLS Secret and publishes the caBundle', async () => {
    const tls = webhookSettings(rendered).config.tls as { mode: string } & CertificateSettings;
    const first = await ensureCertificates(ensureOptionsFor(tls, kubeConfigOf('webhook')));
    expect(first.published).toBe(true);
    const mwc = await admin('GET', MWC);
    expect(Buffer.from(mwc.webhooks[0].clientConfig.caBundle, 'base64').toString()).toBe(first.caBundlePem);
  });

  it('pubsub: creates and renews its leader-election Lease', async () => {
    const leases = leaseApiFor(kubeConfigOf('pubsub'), NAMESPACE, 'fleetiq-agones-pubsub');
    const created = await leases.create({
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: 'fleetiq-agones-pubsub', namespace: NAMESPACE },
      spec: { holderIdentity: 'pubsub-0', leaseDurationSeconds: 15 },
    });
    const renewed = await leases.replace({
      ...created,
      spec: { ...created.spec, holderIdentity: 'pubsub-1' },
    });
    expect(renewed.spec?.holderIdentity).toBe('pubsub-1');
  });
});

interface Refusal {
  what: string;
  as: Token;
  method: string;
  path: string;
  body?: unknown;
  contentType?: string;
  /** A part of the policy's message. */
  message: string;
}

const ANOTHER_NODE = 'may not change another Node';
const NODE_LABELS = 'only gamelift.status/ labels and annotations';
const AGENT_POD_CHANGE =
  'the node agent may only append the toleration gamelift.status/draining=true:NoExecute';
const WEBHOOK_POD_CHANGE =
  'the webhook may only append the toleration gamelift.status/draining=true:NoExecute';
const CA_BUNDLE_ONLY = 'may change only the caBundle of its own MutatingWebhookConfiguration';
const appendToleration = (toleration: object) => [
  { op: 'add', path: '/spec/tolerations/-', value: toleration },
];

const REFUSALS: Refusal[] = [
  // ---- the node agent, with a token bound to a pod on NODE ----
  {
    what: 'cordon another Node',
    as: 'reconciler',
    method: 'PATCH',
    path: `/api/v1/nodes/${OTHER_NODE}`,
    body: { spec: { unschedulable: true } },
    message: ANOTHER_NODE,
  },
  {
    what: 'label another Node with a drain label',
    as: 'reconciler',
    method: 'PATCH',
    path: `/api/v1/nodes/${OTHER_NODE}`,
    body: { metadata: { labels: { 'gamelift.status/instance-status': 'DRAINING' } } },
    message: ANOTHER_NODE,
  },
  {
    what: 'put the drain taint on another Node',
    as: 'reconciler',
    method: 'PATCH',
    path: `/api/v1/nodes/${OTHER_NODE}`,
    body: { spec: { taints: [{ key: 'gamelift.status/draining', value: 'true', effect: 'NoExecute' }] } },
    message: ANOTHER_NODE,
  },
  {
    what: 'annotate another Node',
    as: 'reconciler',
    method: 'PATCH',
    path: `/api/v1/nodes/${OTHER_NODE}`,
    body: { metadata: { annotations: { 'gamelift.status/drain-phase': 'Tainted' } } },
    message: ANOTHER_NODE,
  },
  {
    what: 'request a drain of another Node',
    as: 'reconciler',
    method: 'PATCH',
    path: `/api/v1/nodes/${OTHER_NODE}`,
    body: { metadata: { annotations: { 'gamelift.status/drain-request': 'drain' } } },
    message: ANOTHER_NODE,
  },
  {
    what: 'request a drain of its own Node (an operator’s annotation)',
    as: 'reconciler',
    method: 'PATCH',
    path: `/api/v1/nodes/${NODE}`,
    body: { metadata: { annotations: { 'gamelift.status/drain-request': 'deregister' } } },
    message: 'may not set, change or remove gamelift.status/drain-request',
  },
  {
    what: 'set a label of its own Node outside gamelift.status/',
    as: 'reconciler',
    method: 'PATCH',
    path: `/api/v1/nodes/${NODE}`,
    body: { metadata: { labels: { 'node-role.kubernetes.io/control-plane': '' } } },
    message: NODE_LABELS,
  },
  {
    what: 'remove a label of its own Node outside gamelift.status/',
    as: 'reconciler',
    method: 'PATCH',
    path: `/api/v1/nodes/${NODE}`,
    body: { metadata: { labels: { 'kubernetes.io/hostname': null } } },
    message: NODE_LABELS,
  },
  {
    what: 'set an annotation of its own Node outside gamelift.status/',
    as: 'reconciler',
    method: 'PATCH',
    path: `/api/v1/nodes/${NODE}`,
    body: { metadata: { annotations: { 'example.com/x': 'y' } } },
    message: NODE_LABELS,
  },
  {
    what: 'put another NoExecute taint on its own Node',
    as: 'reconciler',
    method: 'PATCH',
    path: `/api/v1/nodes/${NODE}`,
    body: { spec: { taints: [{ key: 'evict-everything', effect: 'NoExecute' }] } },
    message: 'only the gamelift.status/draining=true:NoExecute taint',
  },
  {
    what: "put the old adapter's gamelift.status/active taint on its own Node (it may only remove it)",
    as: 'reconciler',
    method: 'PATCH',
    path: `/api/v1/nodes/${NODE}`,
    body: { spec: { taints: [{ key: 'gamelift.status/active', value: 'true', effect: 'NoExecute' }] } },
    message: 'only the gamelift.status/draining=true:NoExecute taint',
  },
  {
    what: 'put the drain key on its own Node with another effect',
    as: 'reconciler',
    method: 'PATCH',
    path: `/api/v1/nodes/${NODE}`,
    body: { spec: { taints: [{ key: 'gamelift.status/draining', value: 'true', effect: 'NoSchedule' }] } },
    message: 'only the gamelift.status/draining=true:NoExecute taint',
  },
  {
    what: 'change another field of its own Node’s spec',
    as: 'reconciler',
    method: 'PATCH',
    path: `/api/v1/nodes/${NODE}`,
    body: { spec: { podCIDR: '10.99.0.0/24', podCIDRs: ['10.99.0.0/24'] } },
    message: 'only spec.unschedulable and the drain taint',
  },
  {
    what: 'replace the image of a game server pod on its node',
    as: 'reconciler',
    method: 'PATCH',
    path: POD(GAMES, 'gs-ready'),
    body: [{ op: 'replace', path: '/spec/containers/0/image', value: 'evil.example/backdoor:1' }],
    contentType: JSON_PATCH,
    message: AGENT_POD_CHANGE,
  },
  {
    what: 'relabel a game server pod on its node',
    as: 'reconciler',
    method: 'PATCH',
    path: POD(GAMES, 'gs-ready'),
    body: { metadata: { labels: { 'agones.dev/role': 'other' } } },
    message: AGENT_POD_CHANGE,
  },
  {
    what: 'append another toleration to a pod on its node',
    as: 'reconciler',
    method: 'PATCH',
    path: POD(GAMES, 'gs-ready'),
    body: appendToleration({ operator: 'Exists' }),
    contentType: JSON_PATCH,
    message: AGENT_POD_CHANGE,
  },
  {
    what: 'set the Karpenter mark to "false" on a game server pod on its node',
    as: 'reconciler',
    method: 'PATCH',
    path: POD(GAMES, 'gs-ready'),
    body: { metadata: { annotations: { [MARK]: 'false' } } },
    message: AGENT_POD_CHANGE,
  },
  {
    what: 'remove an annotation of a game server pod on its node',
    as: 'reconciler',
    method: 'PATCH',
    path: POD(GAMES, 'gs-marked-false'),
    body: { metadata: { annotations: { 'example.com/team': null } } },
    message: AGENT_POD_CHANGE,
  },
  {
    what: 'add another annotation along with the Karpenter mark',
    as: 'reconciler',
    method: 'PATCH',
    path: POD(GAMES, 'gs-ready'),
    body: { metadata: { annotations: { [MARK]: 'true', 'example.com/x': 'y' } } },
    message: AGENT_POD_CHANGE,
  },
  {
    what: 'mark a pod on its node that is not a game server',
    as: 'reconciler',
    method: 'PATCH',
    path: POD(GAMES, 'not-a-game-server'),
    body: { metadata: { annotations: { [MARK]: 'true' } } },
    message: AGENT_POD_CHANGE,
  },
  {
    what: 'mark a game server pod on another node',
    as: 'reconciler',
    method: 'PATCH',
    path: POD(GAMES, 'gs-elsewhere'),
    body: { metadata: { annotations: { [MARK]: 'true' } } },
    message: 'may not change a pod of another node',
  },
  {
    what: 'append the drain toleration to a pod on another node',
    as: 'reconciler',
    method: 'PATCH',
    path: POD(GAMES, 'gs-elsewhere'),
    body: appendToleration(DRAIN_TOLERATION),
    contentType: JSON_PATCH,
    message: 'may not change a pod of another node',
  },
  {
    what: 'replace the image of a kube-system pod',
    as: 'reconciler',
    method: 'PATCH',
    path: POD('kube-system', 'system-pod'),
    body: [{ op: 'replace', path: '/spec/containers/0/image', value: 'evil.example/backdoor:1' }],
    contentType: JSON_PATCH,
    message: AGENT_POD_CHANGE,
  },
  {
    what: 'delete a game server pod on another node',
    as: 'reconciler',
    method: 'DELETE',
    path: POD(GAMES, 'gs-elsewhere'),
    message: 'may delete only game server pods on its node',
  },
  {
    what: 'delete a pod on its node that is not a game server',
    as: 'reconciler',
    method: 'DELETE',
    path: POD('kube-system', 'system-pod'),
    message: 'may delete only game server pods on its node',
  },
  {
    what: 'shut down a GameServer on another node',
    as: 'reconciler',
    method: 'PATCH',
    path: GS('gs-elsewhere'),
    body: { status: { state: 'Shutdown' } },
    message: 'may not change a GameServer of another node',
  },
  {
    what: 'shut down an Allocated GameServer on its node',
    as: 'reconciler',
    method: 'PATCH',
    path: GS('gs-allocated'),
    body: { status: { state: 'Shutdown' } },
    message: 'may only move a GameServer that is not Allocated to Shutdown',
  },
  {
    what: 'move an Allocated GameServer on its node to Ready',
    as: 'reconciler',
    method: 'PATCH',
    path: GS('gs-allocated'),
    body: { status: { state: 'Ready' } },
    message: 'may only move a GameServer that is not Allocated to Shutdown',
  },
  {
    what: 'change a GameServer’s spec along with the Shutdown',
    as: 'reconciler',
    method: 'PATCH',
    path: GS('gs-allocated'),
    body: { spec: { ports: [] } },
    message: 'may only move a GameServer that is not Allocated to Shutdown',
  },
  {
    what: 'write an Event about another Node',
    as: 'reconciler',
    method: 'POST',
    path: '/api/v1/namespaces/default/events',
    body: {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: 'forged' },
      involvedObject: { apiVersion: 'v1', kind: 'Node', name: OTHER_NODE },
      reason: 'Forged',
      message: 'x',
    },
    message: 'may write Events only about its own Node',
  },
  // ---- the node agent with a token that names no node ----
  {
    what: 'patch its Node with a token that names no node',
    as: 'reconcilerUnbound',
    method: 'PATCH',
    path: `/api/v1/nodes/${NODE}`,
    body: { spec: { unschedulable: true } },
    message: 'this token names none',
  },
  {
    what: 'delete a game server pod with a token that names no node',
    as: 'reconcilerUnbound',
    method: 'DELETE',
    path: POD(GAMES, 'gs-ready'),
    message: 'this token names none',
  },
  // ---- the webhook ----
  {
    what: 'replace the image of a pod',
    as: 'webhook',
    method: 'PATCH',
    path: POD(GAMES, 'gs-ready'),
    body: [{ op: 'replace', path: '/spec/containers/0/image', value: 'evil.example/backdoor:1' }],
    contentType: JSON_PATCH,
    message: WEBHOOK_POD_CHANGE,
  },
  {
    what: 'replace the image of a kube-system pod',
    as: 'webhook',
    method: 'PATCH',
    path: POD('kube-system', 'system-pod'),
    body: [{ op: 'replace', path: '/spec/containers/0/image', value: 'evil.example/backdoor:1' }],
    contentType: JSON_PATCH,
    message: WEBHOOK_POD_CHANGE,
  },
  {
    what: 'label a pod',
    as: 'webhook',
    method: 'PATCH',
    path: POD(GAMES, 'gs-ready'),
    body: { metadata: { labels: { x: 'y' } } },
    message: WEBHOOK_POD_CHANGE,
  },
  {
    what: 'set the Karpenter mark to a duration (protection that ends) on a game server pod',
    as: 'webhook',
    method: 'PATCH',
    path: POD(GAMES, 'gs-ready'),
    body: { metadata: { annotations: { [MARK]: '1s' } } },
    message: WEBHOOK_POD_CHANGE,
  },
  {
    what: 'remove the Karpenter mark from a game server pod',
    as: 'webhook',
    method: 'PATCH',
    path: POD(GAMES, 'gs-marked-false'),
    body: { metadata: { annotations: { [MARK]: null } } },
    message: WEBHOOK_POD_CHANGE,
  },
  {
    what: 'change another annotation along with the Karpenter mark',
    as: 'webhook',
    method: 'PATCH',
    path: POD(GAMES, 'gs-marked-false'),
    body: { metadata: { annotations: { [MARK]: 'true', 'example.com/team': 'red' } } },
    message: WEBHOOK_POD_CHANGE,
  },
  {
    what: 'mark a kube-system pod',
    as: 'webhook',
    method: 'PATCH',
    path: POD('kube-system', 'system-pod'),
    body: { metadata: { annotations: { [MARK]: 'true' } } },
    message: WEBHOOK_POD_CHANGE,
  },
  {
    what: 'append a tolerate-everything toleration',
    as: 'webhook',
    method: 'PATCH',
    path: POD(GAMES, 'gs-ready'),
    body: appendToleration({ operator: 'Exists' }),
    contentType: JSON_PATCH,
    message: WEBHOOK_POD_CHANGE,
  },
  {
    what: 'point its webhook configuration at an outside URL',
    as: 'webhook',
    method: 'PATCH',
    path: MWC,
    body: [
      { op: 'replace', path: '/webhooks/0/clientConfig', value: { url: 'https://evil.example/mutate' } },
    ],
    contentType: JSON_PATCH,
    message: CA_BUNDLE_ONLY,
  },
  {
    what: 'drop its webhook configuration’s matchConditions',
    as: 'webhook',
    method: 'PATCH',
    path: MWC,
    body: [{ op: 'remove', path: '/webhooks/0/matchConditions' }],
    contentType: JSON_PATCH,
    message: CA_BUNDLE_ONLY,
  },
  {
    what: 'widen its webhook configuration’s rules to every resource',
    as: 'webhook',
    method: 'PATCH',
    path: MWC,
    body: [
      {
        op: 'replace',
        path: '/webhooks/0/rules',
        value: [{ apiGroups: ['*'], apiVersions: ['*'], operations: ['*'], resources: ['*'], scope: '*' }],
      },
    ],
    contentType: JSON_PATCH,
    message: CA_BUNDLE_ONLY,
  },
  {
    what: 'label its webhook configuration',
    as: 'webhook',
    method: 'PATCH',
    path: MWC,
    body: { metadata: { labels: { x: 'y' } } },
    message: CA_BUNDLE_ONLY,
  },
  {
    what: 'write an Event in kube-system about one of its pods',
    as: 'webhook',
    method: 'POST',
    path: '/api/v1/namespaces/kube-system/events',
    body: {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: 'forged' },
      involvedObject: { apiVersion: 'v1', kind: 'Pod', name: 'system-pod', namespace: 'kube-system' },
      reason: 'Forged',
      message: 'x',
    },
    message: "Events only about a GameServer of the Event's namespace",
  },
  {
    what: 'create the status-signing Secret before the operator does',
    as: 'webhook',
    method: 'POST',
    path: `/api/v1/namespaces/${NAMESPACE}/secrets`,
    body: {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'fleetiq-agones-status-signing' },
      stringData: { secret: 'attacker-known' },
    },
    message: 'only its kubernetes.io/tls Secret fleetiq-agones-webhook-tls',
  },
  {
    what: 'create a service-account token Secret for the node agent',
    as: 'webhook',
    method: 'POST',
    path: `/api/v1/namespaces/${NAMESPACE}/secrets`,
    body: {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'kubernetes.io/service-account-token',
      metadata: {
        name: 'fleetiq-agones-webhook-tls',
        annotations: { 'kubernetes.io/service-account.name': 'fleetiq-agones-reconciler' },
      },
    },
    message: 'only its kubernetes.io/tls Secret fleetiq-agones-webhook-tls',
  },
  // ---- pubsub ----
  {
    what: 'create a Lease of another name in its namespace',
    as: 'pubsub',
    method: 'POST',
    path: `/apis/coordination.k8s.io/v1/namespaces/${NAMESPACE}/leases`,
    body: {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: 'fleetiq-agones-webhook' },
    },
    message: 'pubsub may write only its leader-election Lease fleetiq-agones-pubsub',
  },
];

describe('a write RBAC allows but the policies refuse, with the policy’s message', () => {
  it.each(REFUSALS.map((r) => [`${r.as}: ${r.what}`, r] as const))('%s', async (_what, r) => {
    const res = await apiRequest(cp(), r.method, r.path, r.body, {
      token: tokens[r.as],
      contentType: r.contentType ?? (r.method === 'PATCH' ? MERGE : 'application/json'),
    });
    expect({ status: res.status, reason: res.body?.reason }).toEqual({ status: 403, reason: 'Forbidden' });
    expect(res.body.message).toContain('ValidatingAdmissionPolicy');
    expect(res.body.message).toContain(r.message);
  });
});

describe('as kubectl shows it', () => {
  it('the node agent cannot cordon another node', async () => {
    const r = await kubectl(['cordon', OTHER_NODE], { kubeconfig: kubeconfigFiles.reconciler });
    // kubectl 1.34's cordon prints the refusal but exits 0: the node's state, checked below, is the proof.
    expect({ stderr: r.stderr, stdout: r.stdout }).toMatchObject({
      stderr: expect.stringContaining(
        `the node agent of ${NODE} may not change another Node (${OTHER_NODE})`,
      ),
    });
  });

  it('the webhook cannot replace a kube-system pod’s image', async () => {
    const r = await kubectl(
      ['set', 'image', '-n', 'kube-system', 'pod/system-pod', 'game=evil.example/x:1'],
      {
        kubeconfig: kubeconfigFiles.webhook,
      },
    );
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('fleetiq-agones-webhook-writes');
    expect(r.stderr).toContain(WEBHOOK_POD_CHANGE);
  });

  it('and the refused writes changed nothing', async () => {
    const other = await admin('GET', `/api/v1/nodes/${OTHER_NODE}`);
    expect(other.spec.unschedulable).toBeUndefined();
    expect(other.metadata.labels['gamelift.status/instance-status']).toBeUndefined();
    const system = await admin('GET', POD('kube-system', 'system-pod'));
    expect(system.spec.containers[0].image).toBe('example.invalid/game:1');
    expect(system.metadata.deletionTimestamp).toBeUndefined();
    const allocated = await admin('GET', GS('gs-allocated'));
    expect(allocated.status.state).toBe('Allocated');
  });
});

// Last: the drain taint is NoExecute, so the taint-eviction controller evicts every pod on the node
// that does not tolerate it, and the pods the refusals above use must still be there for them.
describe('the drain the product makes, last', () => {
  it('reconciler (token bound to a pod on its node): drains its Node and reverts it', async () => {
    const api = restKubeApi(kubeConfigOf('reconciler'));
    const drained = await onConflictRetry(async () =>
      api.patchNode(
        NODE,
        nodeMergePatch(await api.getNode(NODE), [
          {
            kind: 'recordDrainState',
            record: { phase: 'Tainted', reason: 'fleetiq', startedAt: Date.now(), cordonedByAgent: true },
          },
          { kind: 'recordActedOn', observedAt: Date.now() },
          { kind: 'label', status: 'DRAINING' },
          { kind: 'cordon' },
          { kind: 'taint' },
        ]),
      ),
    );
    expect(drained.metadata.labels?.['gamelift.status/instance-status']).toBe('DRAINING');
    expect(drained.metadata.annotations?.['gamelift.status/drain-phase']).toBe('Tainted');
    expect(drained.spec.unschedulable).toBe(true);
    expect(drained.spec.taints).toContainEqual({
      key: 'gamelift.status/draining',
      value: 'true',
      effect: 'NoExecute',
    });
    const reverted = await onConflictRetry(async () =>
      api.patchNode(
        NODE,
        nodeMergePatch(await api.getNode(NODE), [
          { kind: 'recordDrainState', record: null },
          { kind: 'label', status: 'ACTIVE' },
          { kind: 'uncordon' },
          { kind: 'untaint' },
        ]),
      ),
    );
    expect(reverted.metadata.labels?.['gamelift.status/instance-status']).toBe('ACTIVE');
    expect(reverted.metadata.annotations?.['gamelift.status/drain-phase']).toBeUndefined();
    expect(reverted.spec.unschedulable).toBeUndefined();
    expect((reverted.spec.taints ?? []).map((t: { key: string }) => t.key)).not.toContain(
      'gamelift.status/draining',
    );
  });

  it('reconciler: drains its Node on an operator’s request beside Karpenter’s taint, and reverts it, leaving both', async () => {
    const karpenter = { key: 'karpenter.sh/disrupted', effect: 'NoSchedule' };
    await onConflictRetry(async () => {
      const n = await admin('GET', `/api/v1/nodes/${NODE}`);
      return admin(
        'PATCH',
        `/api/v1/nodes/${NODE}`,
        {
          metadata: { annotations: { 'gamelift.status/drain-request': 'drain' } },
          spec: { taints: [...(n.spec.taints ?? []), karpenter] },
        },
        MERGE,
      );
    });
    const api = restKubeApi(kubeConfigOf('reconciler'));
    const record = {
      phase: 'Tainted',
      reason: 'request',
      startedAt: Date.now(),
      cordonedByAgent: true,
    } as const;
    for (const actions of [
      [{ kind: 'recordDrainState', record }, { kind: 'cordon' }, { kind: 'taint' }],
      [{ kind: 'recordDrainState', record: { ...record, phase: 'Drained' } }],
      [{ kind: 'recordDrainState', record: null }, { kind: 'uncordon' }, { kind: 'untaint' }],
    ] as const) {
      const written = await onConflictRetry(async () =>
        api.patchNode(NODE, nodeMergePatch(await api.getNode(NODE), [...actions])),
      );
      expect(written.metadata.annotations?.['gamelift.status/drain-request']).toBe('drain');
      expect(written.spec.taints).toContainEqual(karpenter);
    }
    const drainedAndBack = await admin('GET', `/api/v1/nodes/${NODE}`);
    expect(drainedAndBack.metadata.annotations['gamelift.status/drain-phase']).toBeUndefined();
    expect(drainedAndBack.spec.unschedulable).toBeUndefined();
  });

  it("reconciler: removes the old adapter's gamelift.status/active taint, and only that one", async () => {
    const other = { key: 'example.com/dedicated', value: 'games', effect: 'NoSchedule' };
    const legacy = { key: 'gamelift.status/active', value: 'true', effect: 'NoExecute' };
    await admin('PATCH', `/api/v1/nodes/${NODE}`, { spec: { taints: [other, legacy] } }, MERGE);
    const api = restKubeApi(kubeConfigOf('reconciler'));
    const cleaned = await onConflictRetry(async () =>
      api.patchNode(NODE, legacyTaintRemovalPatch(await api.getNode(NODE))!),
    );
    expect(cleaned.spec.taints).toEqual([other]);
  });
});
