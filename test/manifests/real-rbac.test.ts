// Least privilege on the real kube-apiserver: manifests/base is applied with `kubectl apply
// --server-side`, then each ServiceAccount of the manifests gets a real token from the TokenRequest
// API and acts with it, over HTTPS, against the real RBAC authorizer:
// - every write the product makes succeeds, made by the product's own client code where it has one
//   (the reconciler's AgentKubeApi and patch builders, pubsub's Lease API, the webhook's toleration
//   patch and built-in certificate management);
// - a representative set of writes (and secret reads) each account must never make is refused (403);
// - `kubectl auth can-i --list`, as each account, lists exactly the rules the manifests grant, so
//   nothing else is allowed anywhere.
// RBAC still lets the reconciler and the webhook patch any pod, and the reconciler any node: those
// are left to the ValidatingAdmissionPolicies of manifests/base, proven in real-policies.test.ts. The
// reconciler's token is bound to a pod on its node, as the kubelet's projected token is, which puts
// the node's name in the token's claims for such a policy to check (shown below).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { ensureOptionsFor, type CertificateSettings } from '../../certs/config.js';
import { ensureCertificates } from '../../certs/ensure.js';
import { requestOptions } from '../../certs/kube-request.js';
import { leaseApiFor } from '../../pubsub/leader-election.js';
import { restKubeApi } from '../../reconciler/kube-api.js';
import { statusCode } from '../../shared/kube-error.js';
import { nodeMergePatch, shutdownPatch } from '../../reconciler/plan.js';
import { renderKubeconfig } from '../../sandbox/kube/kubeconfig.js';
import { drainTolerationPatch } from '../../shared/drain-contract.js';
import type { KubeObject } from '../../sandbox/kube/types.js';
import { DirectNodeStatus } from '../../webhook/node-status.js';
import { apiRequest, CONTROL_PLANE_START_MS, useControlPlane } from '../helpers/control-plane.js';
import { webhookSettings } from './component-config.js';
import { installBase, runKubectl } from './real-kubectl.js';
import { NAMESPACE, parseManifests } from './render.js';

const cp = useControlPlane();
const GAMES = 'game-servers';
const NODE = 'ip-10-0-1-1.us-west-2.compute.internal';
const OTHER_NODE = 'ip-10-0-1-2.us-west-2.compute.internal';
const DRAIN_TOLERATION = {
  key: 'gamelift.status/draining',
  operator: 'Equal',
  value: 'true',
  effect: 'NoExecute',
};
/** The reconciler's token is bound to this pod (on NODE), as a DaemonSet pod's own token would be. */
const AGENT_POD = 'fleetiq-agones-reconciler-test';

const ACCOUNTS = ['pubsub', 'webhook', 'reconciler', 'default'] as const;
type Account = (typeof ACCOUNTS)[number];
const saName = (a: Account) => (a === 'default' ? 'default' : `fleetiq-agones-${a}`);
const username = (a: Account) => `system:serviceaccount:${NAMESPACE}:${saName(a)}`;

let dir: string;
let rendered: KubeObject[];
const tokens = {} as Record<Account, string>;
const kubeconfigFiles = {} as Record<Account, string>;

function kubeConfigOf(a: Account): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromString(
    renderKubeconfig({
      server: cp().server,
      caPem: cp().caPem,
      token: tokens[a],
      user: saName(a),
      cluster: 'testbed',
    }),
  );
  return kc;
}

/** The control plane's own kubectl (`kubeconfig` defaults to the admin's), with `input` on stdin. */
const kubectl = (args: string[], options: { input?: string; kubeconfig?: string } = {}) =>
  runKubectl(args, {
    kubeconfig: options.kubeconfig ?? cp().kubeconfigPath,
    cacheDir: join(dir, 'cache'),
    ...(options.input !== undefined ? { input: options.input } : {}),
  });

async function admin(method: string, path: string, body?: unknown): Promise<any> {
  const res = await apiRequest(cp(), method, path, body);
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

/** A real token of the account from the TokenRequest API (bound to `pod` when given). */
async function issueToken(a: Account, pod?: KubeObject): Promise<string> {
  const res = await admin('POST', `/api/v1/namespaces/${NAMESPACE}/serviceaccounts/${saName(a)}/token`, {
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

function gameServerPod(name: string): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: GAMES,
      labels: { 'agones.dev/role': 'gameserver', 'agones.dev/gameserver': name },
    },
    spec: {
      nodeName: NODE,
      serviceAccountName: 'agones-sdk',
      automountServiceAccountToken: false,
      containers: [{ name: 'game', image: 'example.invalid/game:1' }],
    },
  };
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

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'manifests-real-rbac-'));
  rendered = parseManifests(await installBase(cp(), kubectl, [GAMES]));

  for (const name of [NODE, OTHER_NODE])
    await admin('POST', '/api/v1/nodes', {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name, labels: { 'kubernetes.io/hostname': name } },
      spec: { providerID: `aws:///us-west-2a/i-0${name === NODE ? '1' : '2'}23456789abcdef0` },
    });
  for (const name of ['gs-1', 'gs-2', 'gs-3'])
    await admin('POST', `/api/v1/namespaces/${GAMES}/pods`, gameServerPod(name));
  await admin('POST', `/apis/agones.dev/v1/namespaces/${GAMES}/gameservers`, {
    apiVersion: 'agones.dev/v1',
    kind: 'GameServer',
    metadata: { name: 'gs-2', namespace: GAMES },
    spec: { ports: [{ name: 'default', containerPort: 7654 }] },
    status: { state: 'Ready', nodeName: NODE },
  });
  // Satisfies the namespace's Pod Security "restricted", like the DaemonSet's pods.
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

  for (const a of ACCOUNTS) {
    tokens[a] = await issueToken(a, a === 'reconciler' ? agentPod : undefined);
    kubeconfigFiles[a] = join(dir, `${a}.kubeconfig`);
    await writeFile(
      kubeconfigFiles[a],
      renderKubeconfig({
        server: cp().server,
        caPem: cp().caPem,
        token: tokens[a],
        user: saName(a),
        cluster: 'testbed',
      }),
      { mode: 0o600 },
    );
  }
}, CONTROL_PLANE_START_MS);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('tokens from the TokenRequest API', () => {
  it.each(ACCOUNTS)('authenticate %s as its ServiceAccount', async (a) => {
    const res = await apiRequest(
      cp(),
      'POST',
      '/apis/authentication.k8s.io/v1/selfsubjectreviews',
      { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
      { token: tokens[a] },
    );
    expect(res.status).toBe(201);
    expect(res.body.status.userInfo.username).toBe(username(a));
    expect(res.body.status.userInfo.groups).toEqual(
      expect.arrayContaining(['system:serviceaccounts', `system:serviceaccounts:${NAMESPACE}`]),
    );
  });

  it('bound to the agent’s pod, carry the name of its node (what a policy can hold the agent to)', async () => {
    const res = await apiRequest(
      cp(),
      'POST',
      '/apis/authentication.k8s.io/v1/selfsubjectreviews',
      { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
      { token: tokens.reconciler },
    );
    expect(res.body.status.userInfo.extra).toMatchObject({
      'authentication.kubernetes.io/node-name': [NODE],
      'authentication.kubernetes.io/pod-name': [AGENT_POD],
    });
  });
});

describe('every write the product makes is allowed, made by its own code with its own token', () => {
  it('pubsub: creates, reads and renews its leader-election Lease', async () => {
    const leases = leaseApiFor(kubeConfigOf('pubsub'), NAMESPACE, 'fleetiq-agones-pubsub');
    expect(await leases.get()).toBeUndefined();
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
    expect((await leases.get())?.spec?.holderIdentity).toBe('pubsub-1');
  });

  it('webhook: reads the GameServer, its pod and the node, appends the drain toleration, records an Event', async () => {
    const kc = kubeConfigOf('webhook');
    const core = kc.makeApiClient(CoreV1Api);
    const gs = await kc.makeApiClient(CustomObjectsApi).getNamespacedCustomObject({
      group: 'agones.dev',
      version: 'v1',
      namespace: GAMES,
      plural: 'gameservers',
      name: 'gs-2',
    });
    expect((gs as KubeObject).status.state).toBe('Ready');
    const pod = await core.readNamespacedPod({ name: 'gs-1', namespace: GAMES });
    const patched = await core.patchNamespacedPod(
      { name: 'gs-1', namespace: GAMES, body: drainTolerationPatch(JSON.parse(JSON.stringify(pod))) },
      requestOptions({ jsonPatch: true }),
    );
    expect(patched.spec?.tolerations).toContainEqual(DRAIN_TOLERATION);
    // Taints not compared: the real node lifecycle controller taints a node without a kubelet not-ready.
    expect(await new DirectNodeStatus(kc).sessionSignalsOf(NODE)).toMatchObject({
      labels: {},
      cordoned: false,
    });
    const listed = await core.listNode({
      labelSelector: 'gamelift.status/instance-status in (DRAINING,SPOT_TERMINATING)',
    });
    expect(listed.items).toEqual([]);
    // The cordoned nodes' selection (a field selector the API server supports for nodes).
    const cordoned = await core.listNode({ fieldSelector: 'spec.unschedulable=true' });
    expect(cordoned.items).toEqual([]);
    // The fence's watch: the server ends it after a second, with 200.
    const watch = await apiRequest(cp(), 'GET', '/api/v1/nodes?watch=true&timeoutSeconds=1', undefined, {
      token: tokens.webhook,
    });
    expect(watch.status).toBe(200);
    const event = await core.createNamespacedEvent({
      namespace: GAMES,
      body: {
        metadata: { name: 'gs-1.test', namespace: GAMES },
        involvedObject: { apiVersion: 'agones.dev/v1', kind: 'GameServer', name: 'gs-1', namespace: GAMES },
        reason: 'DrainTolerationFailed',
        message: 'test',
        type: 'Warning',
      },
    });
    expect(event.metadata?.uid).toEqual(expect.any(String));
  });

  it('webhook (built-in certificates): creates its Secret and publishes the caBundle, then finds both in place', async () => {
    const kc = kubeConfigOf('webhook');
    const tls = webhookSettings(rendered).config.tls as { mode: string } & CertificateSettings;
    expect(tls.mode).toBe('builtin');
    const first = await ensureCertificates(ensureOptionsFor(tls, kc));
    expect(first.published).toBe(true);
    const mwc = await admin(
      'GET',
      '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/fleetiq-agones-webhook',
    );
    expect(Buffer.from(mwc.webhooks[0].clientConfig.caBundle, 'base64').toString()).toBe(first.caBundlePem);
    expect((await ensureCertificates(ensureOptionsFor(tls, kc))).applied).toEqual([]);
  });

  it('reconciler: observes and patches its node, fences its pods and GameServers, deletes a pod, writes a Node Event', async () => {
    const api = restKubeApi(kubeConfigOf('reconciler'));
    expect((await api.listNodes(`metadata.name=${NODE}`)).items).toHaveLength(1);
    const node = await onConflictRetry(async () =>
      api.patchNode(
        NODE,
        nodeMergePatch(await api.getNode(NODE), [
          { kind: 'label', status: 'DRAINING' },
          { kind: 'cordon' },
          { kind: 'taint' },
        ]),
      ),
    );
    expect(node.metadata.labels?.['gamelift.status/instance-status']).toBe('DRAINING');
    expect(node.spec.unschedulable).toBe(true);
    expect(node.spec.taints).toContainEqual({
      key: 'gamelift.status/draining',
      value: 'true',
      effect: 'NoExecute',
    });
    const pods = await api.listPods(`spec.nodeName=${NODE}`, 'agones.dev/role=gameserver');
    expect(pods.items.map((p) => p.metadata.name).sort()).toEqual(['gs-1', 'gs-2', 'gs-3']);
    const pod = (await api.getPod(GAMES, 'gs-2'))!;
    const tolerating = await api.patchPod(GAMES, 'gs-2', drainTolerationPatch(pod));
    expect(tolerating.spec.tolerations).toContainEqual(DRAIN_TOLERATION);
    const gs = (await api.getGameServer(GAMES, 'gs-2'))!;
    const shut = await api.patchGameServer(
      GAMES,
      'gs-2',
      shutdownPatch(gs, { resourceVersion: gs.metadata.resourceVersion!, state: 'Ready' }),
    );
    expect(shut.status.state).toBe('Shutdown');
    const deleted = await api.deletePod(GAMES, 'gs-3', 30);
    expect(deleted?.metadata.deletionTimestamp).toEqual(expect.any(String));
    await api.createEvent('default', {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: `${NODE}.test`, namespace: 'default' },
      involvedObject: { apiVersion: 'v1', kind: 'Node', name: NODE },
      reason: 'FleetIQDraining',
      message: 'test',
      type: 'Normal',
    });
  });
});

interface Refusal {
  what: string;
  method: string;
  path: string;
  body?: unknown;
  contentType?: string;
}

const ns = (namespace: string, rest: string) => `/api/v1/namespaces/${namespace}/${rest}`;
const secret = (namespace: string, name: string) => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name, namespace },
  stringData: { x: 'y' },
});
const MERGE = 'application/merge-patch+json';
const MWC = '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations';
const GS_PATH = `/apis/agones.dev/v1/namespaces/${GAMES}/gameservers`;

/** Writes (and secret reads) that would take an account beyond its job. */
const COMMON_REFUSALS: Refusal[] = [
  { what: 'read a Secret in kube-system', method: 'GET', path: ns('kube-system', 'secrets/any') },
  { what: 'list Secrets of every namespace', method: 'GET', path: '/api/v1/secrets' },
  { what: 'read the Redis URL Secret', method: 'GET', path: ns(NAMESPACE, 'secrets/fleetiq-agones-redis') },
  {
    what: 'replace the Redis URL Secret',
    method: 'PUT',
    path: ns(NAMESPACE, 'secrets/fleetiq-agones-redis'),
    body: secret(NAMESPACE, 'fleetiq-agones-redis'),
  },
  {
    what: 'create a Secret in kube-system',
    method: 'POST',
    path: ns('kube-system', 'secrets'),
    body: secret('kube-system', 'x'),
  },
  { what: 'create a pod', method: 'POST', path: ns(GAMES, 'pods'), body: gameServerPod('intruder') },
  {
    what: 'create a pod in its own namespace',
    method: 'POST',
    path: ns(NAMESPACE, 'pods'),
    body: gameServerPod('intruder'),
  },
  { what: 'exec into a pod', method: 'POST', path: ns(GAMES, 'pods/gs-1/exec?command=sh&stdout=true') },
  {
    what: 'issue a token for another ServiceAccount',
    method: 'POST',
    path: ns('kube-system', 'serviceaccounts/default/token'),
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: {} },
  },
  {
    what: 'change its own Deployment/DaemonSet (e.g. its image)',
    method: 'PATCH',
    path: `/apis/apps/v1/namespaces/${NAMESPACE}/deployments/fleetiq-agones-webhook`,
    body: { spec: { template: { spec: { containers: [{ name: 'webhook', image: 'evil' }] } } } },
    contentType: MERGE,
  },
  {
    what: 'bind itself to cluster-admin',
    method: 'POST',
    path: '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings',
    body: {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: 'escalate' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
      subjects: [{ kind: 'ServiceAccount', name: 'fleetiq-agones-webhook', namespace: NAMESPACE }],
    },
  },
  {
    what: 'widen its own ClusterRole',
    method: 'PATCH',
    path: '/apis/rbac.authorization.k8s.io/v1/clusterroles/fleetiq-agones-reconciler',
    body: { rules: [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }] },
    contentType: MERGE,
  },
  {
    what: 'create a ValidatingWebhookConfiguration',
    method: 'POST',
    path: '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations',
    body: {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingWebhookConfiguration',
      metadata: { name: 'x' },
    },
  },
  {
    what: 'delete the MutatingWebhookConfiguration',
    method: 'DELETE',
    path: `${MWC}/fleetiq-agones-webhook`,
  },
  { what: 'delete a Node', method: 'DELETE', path: `/api/v1/nodes/${OTHER_NODE}` },
  {
    what: 'update a Node’s status',
    method: 'PATCH',
    path: `/api/v1/nodes/${OTHER_NODE}/status`,
    body: { status: { conditions: [] } },
    contentType: MERGE,
  },
  { what: 'proxy to a kubelet', method: 'GET', path: `/api/v1/nodes/${OTHER_NODE}/proxy/pods` },
  {
    what: 'scale a Fleet',
    method: 'PATCH',
    path: `/apis/agones.dev/v1/namespaces/${GAMES}/fleets/simple`,
    body: { spec: { replicas: 0 } },
    contentType: MERGE,
  },
  { what: 'delete a GameServer', method: 'DELETE', path: `${GS_PATH}/gs-2` },
  { what: 'list GameServers', method: 'GET', path: GS_PATH },
  {
    what: 'delete a Lease of another component',
    method: 'DELETE',
    path: '/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-scheduler',
  },
];

const REFUSALS: Record<Account, Refusal[]> = {
  pubsub: [
    ...COMMON_REFUSALS,
    {
      what: 'read another Lease',
      method: 'GET',
      path: `/apis/coordination.k8s.io/v1/namespaces/${NAMESPACE}/leases/other`,
    },
    {
      what: 'list Leases',
      method: 'GET',
      path: `/apis/coordination.k8s.io/v1/namespaces/${NAMESPACE}/leases`,
    },
    {
      what: 'delete its own Lease',
      method: 'DELETE',
      path: `/apis/coordination.k8s.io/v1/namespaces/${NAMESPACE}/leases/fleetiq-agones-pubsub`,
    },
    {
      what: 'create a Lease in kube-system',
      method: 'POST',
      path: '/apis/coordination.k8s.io/v1/namespaces/kube-system/leases',
      body: {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: 'fleetiq-agones-pubsub' },
      },
    },
    { what: 'read a Node', method: 'GET', path: `/api/v1/nodes/${NODE}` },
    {
      what: 'patch a Node',
      method: 'PATCH',
      path: `/api/v1/nodes/${NODE}`,
      body: { spec: { unschedulable: true } },
      contentType: MERGE,
    },
    { what: 'list pods', method: 'GET', path: '/api/v1/pods' },
    {
      what: 'patch a pod',
      method: 'PATCH',
      path: ns(GAMES, 'pods/gs-1'),
      body: { metadata: { labels: { x: 'y' } } },
      contentType: MERGE,
    },
  ],
  webhook: [
    ...COMMON_REFUSALS,
    { what: 'delete a pod', method: 'DELETE', path: ns(GAMES, 'pods/gs-1') },
    {
      what: 'evict a pod',
      method: 'POST',
      path: ns(GAMES, 'pods/gs-1/eviction'),
      body: { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: 'gs-1', namespace: GAMES } },
    },
    { what: 'list pods', method: 'GET', path: '/api/v1/pods' },
    {
      what: 'patch a Node',
      method: 'PATCH',
      path: `/api/v1/nodes/${NODE}`,
      body: { spec: { unschedulable: true } },
      contentType: MERGE,
    },
    {
      what: 'patch a GameServer',
      method: 'PATCH',
      path: `${GS_PATH}/gs-2`,
      body: { status: { state: 'Shutdown' } },
      contentType: MERGE,
    },
    {
      what: 'create a Secret in a game server namespace',
      method: 'POST',
      path: ns(GAMES, 'secrets'),
      body: secret(GAMES, 'x'),
    },
    { what: 'list the Secrets of its namespace', method: 'GET', path: ns(NAMESPACE, 'secrets') },
    {
      what: 'delete its serving Secret',
      method: 'DELETE',
      path: ns(NAMESPACE, 'secrets/fleetiq-agones-webhook-tls'),
    },
    {
      what: 'read a Secret of its name in kube-system',
      method: 'GET',
      path: ns('kube-system', 'secrets/fleetiq-agones-webhook-tls'),
    },
    {
      what: 'patch another MutatingWebhookConfiguration',
      method: 'PATCH',
      path: `${MWC}/agones-mutation-webhook`,
      body: { metadata: { labels: { x: 'y' } } },
      contentType: MERGE,
    },
    { what: 'list MutatingWebhookConfigurations', method: 'GET', path: MWC },
  ],
  reconciler: [
    ...COMMON_REFUSALS,
    {
      what: 'replace a Node (PUT)',
      method: 'PUT',
      path: `/api/v1/nodes/${NODE}`,
      body: { apiVersion: 'v1', kind: 'Node', metadata: { name: NODE } },
    },
    {
      what: 'create a Node',
      method: 'POST',
      path: '/api/v1/nodes',
      body: { apiVersion: 'v1', kind: 'Node', metadata: { name: 'fake' } },
    },
    {
      what: 'write an Event in its own namespace',
      method: 'POST',
      path: ns(NAMESPACE, 'events'),
      body: {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name: 'x' },
        involvedObject: { kind: 'Node', name: NODE },
      },
    },
    {
      what: 'write an Event in a game server namespace',
      method: 'POST',
      path: ns(GAMES, 'events'),
      body: {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name: 'x' },
        involvedObject: { kind: 'Node', name: NODE },
      },
    },
    {
      what: 'patch an Event',
      method: 'PATCH',
      path: ns('default', `events/${NODE}.test`),
      body: { message: 'x' },
      contentType: MERGE,
    },
    {
      what: 'patch a pod’s status',
      method: 'PATCH',
      path: ns(GAMES, 'pods/gs-1/status'),
      body: { status: { phase: 'Failed' } },
      contentType: MERGE,
    },
    {
      what: 'evict a pod (it deletes them, as the drain needs)',
      method: 'POST',
      path: ns(GAMES, 'pods/gs-1/eviction'),
      body: { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: 'gs-1', namespace: GAMES } },
    },
    {
      what: 'replace a GameServer (PUT)',
      method: 'PUT',
      path: `${GS_PATH}/gs-2`,
      body: { apiVersion: 'agones.dev/v1', kind: 'GameServer', metadata: { name: 'gs-2' } },
    },
    {
      what: 'create a GameServer',
      method: 'POST',
      path: GS_PATH,
      body: { apiVersion: 'agones.dev/v1', kind: 'GameServer', metadata: { name: 'x' } },
    },
    {
      what: 'read the status-signing Secret',
      method: 'GET',
      path: ns(NAMESPACE, 'secrets/fleetiq-agones-status-signing'),
    },
    {
      what: 'read the webhook’s serving Secret',
      method: 'GET',
      path: ns(NAMESPACE, 'secrets/fleetiq-agones-webhook-tls'),
    },
    {
      what: 'patch the MutatingWebhookConfiguration',
      method: 'PATCH',
      path: `${MWC}/fleetiq-agones-webhook`,
      body: { metadata: { labels: { x: 'y' } } },
      contentType: MERGE,
    },
  ],
  default: [
    ...COMMON_REFUSALS,
    {
      what: 'read pubsub’s Lease',
      method: 'GET',
      path: `/apis/coordination.k8s.io/v1/namespaces/${NAMESPACE}/leases/fleetiq-agones-pubsub`,
    },
    { what: 'read a pod', method: 'GET', path: ns(GAMES, 'pods/gs-1') },
    {
      what: 'patch a pod',
      method: 'PATCH',
      path: ns(GAMES, 'pods/gs-1'),
      body: { metadata: { labels: { x: 'y' } } },
      contentType: MERGE,
    },
    { what: 'read a Node', method: 'GET', path: `/api/v1/nodes/${NODE}` },
    {
      what: 'patch a Node',
      method: 'PATCH',
      path: `/api/v1/nodes/${NODE}`,
      body: { spec: { unschedulable: true } },
      contentType: MERGE,
    },
    { what: 'read a GameServer', method: 'GET', path: `${GS_PATH}/gs-2` },
    {
      what: 'read the webhook’s serving Secret',
      method: 'GET',
      path: ns(NAMESPACE, 'secrets/fleetiq-agones-webhook-tls'),
    },
    {
      what: 'patch the MutatingWebhookConfiguration',
      method: 'PATCH',
      path: `${MWC}/fleetiq-agones-webhook`,
      body: { metadata: { labels: { x: 'y' } } },
      contentType: MERGE,
    },
    {
      what: 'write an Event on a Node',
      method: 'POST',
      path: ns('default', 'events'),
      body: {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name: 'x' },
        involvedObject: { kind: 'Node', name: NODE },
      },
    },
  ],
};

describe.each(ACCOUNTS)('as %s, the real API server refuses', (account) => {
  it.each(REFUSALS[account].map((r) => [r.what, r] as const))('%s', async (_what, r) => {
    const res = await apiRequest(cp(), r.method, r.path, r.body, {
      token: tokens[account],
      ...(r.contentType ? { contentType: r.contentType } : {}),
    });
    expect({ status: res.status, reason: res.body?.reason }).toEqual({ status: 403, reason: 'Forbidden' });
    expect(res.body.message).toContain(`User "${username(account)}" cannot`);
  });
});

/** `kubectl auth can-i --list` as the account: its resource rules, without those every user has. */
async function canIList(account: Account, namespace: string): Promise<string[]> {
  const r = await kubectl(['auth', 'can-i', '--list', '-n', namespace], {
    kubeconfig: kubeconfigFiles[account],
  });
  if (r.code !== 0) throw new Error(`kubectl auth can-i --list failed: ${r.stderr}`);
  const rules: string[] = [];
  for (const line of r.stdout.split('\n')) {
    const m = /^(\S+)\s+\[\]\s+\[([^\]]*)\]\s+\[([^\]]*)\]\s*$/.exec(line);
    if (!m || m[1]!.startsWith('selfsubject')) continue;
    rules.push(`${m[1]}${m[2] ? ` [${m[2]}]` : ''}: ${m[3]}`);
  }
  return rules.sort();
}

describe('kubectl auth can-i --list, as each account, shows exactly what the manifests grant', () => {
  const cluster = {
    webhook: [
      'pods: get patch',
      'nodes: get list watch',
      'gameservers.agones.dev: get',
      'events: create',
      'mutatingwebhookconfigurations.admissionregistration.k8s.io [fleetiq-agones-webhook]: get patch',
    ],
    reconciler: [
      'pods: get list watch patch delete',
      'nodes: get list watch patch',
      'gameservers.agones.dev: get patch',
    ],
  };
  const expected: Record<Account, Record<string, string[]>> = {
    pubsub: {
      [NAMESPACE]: [
        'leases.coordination.k8s.io: create',
        'leases.coordination.k8s.io [fleetiq-agones-pubsub]: get update',
      ],
      'kube-system': [],
      default: [],
      [GAMES]: [],
    },
    webhook: {
      [NAMESPACE]: [
        ...cluster.webhook,
        'secrets: create',
        'secrets [fleetiq-agones-webhook-tls]: get update',
      ],
      'kube-system': cluster.webhook,
      default: cluster.webhook,
      [GAMES]: cluster.webhook,
    },
    reconciler: {
      [NAMESPACE]: cluster.reconciler,
      'kube-system': cluster.reconciler,
      default: [...cluster.reconciler, 'events: create'],
      [GAMES]: cluster.reconciler,
    },
    default: { [NAMESPACE]: [], 'kube-system': [], default: [], [GAMES]: [] },
  };
  it.each(ACCOUNTS)('%s', async (account) => {
    for (const [namespace, rules] of Object.entries(expected[account]))
      expect({ namespace, rules: await canIList(account, namespace) }).toEqual({
        namespace,
        rules: [...rules].sort(),
      });
  });
});
