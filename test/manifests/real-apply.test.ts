// Every kustomization the manifest tests render is accepted by the real kube-apiserver, as an operator
// would apply it: `kubectl apply --server-side --dry-run=server --validate=strict`, with the
// kubectl of the control plane's own release, after installing the CRDs of the groups the manifests
// use (Agones; cert-manager and the Prometheus Operator, whose CRDs keep any spec: see
// sandbox/control-plane/extra-crds.ts). The real server validates every built-in object in full
// (server-side apply refuses any field its schema does not declare), compiles the webhook's CEL
// matchConditions, and runs admission, Pod Security "restricted" of the namespace included (its
// violations come back as warnings on workloads, which must not appear). Then base is applied for
// real, its objects are read back, the real ReplicaSet controller creates the pods (refused pods would
// be events, not pods), and applying again changes nothing.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { remoteClusterHost, type RemoteClusterHost } from '../../sandbox/cluster/remote-host.js';
import { installAgonesResources } from '../../sandbox/control-plane/agones-crds.js';
import {
  CERT_MANAGER_CRDS,
  installCrds,
  PROMETHEUS_OPERATOR_CRDS,
} from '../../sandbox/control-plane/extra-crds.js';
import type { KubeObject } from '../../sandbox/kube/types.js';
import { apiRequest, CONTROL_PLANE_START_MS, useControlPlane } from '../helpers/control-plane.js';
import { waitFor } from '../helpers/wait.js';
import { runKubectl, type KubectlRun } from './real-kubectl.js';
import { MANIFESTS_DIR, NAMESPACE, OVERLAYS, overlayDir, parseManifests } from './render.js';

const cp = useControlPlane();
let host: RemoteClusterHost;
let dir: string;

/** The control plane's own kubectl, as its admin, with `input` on stdin. */
const kubectl = (args: string[], input?: string) =>
  runKubectl(args, {
    kubeconfig: cp().kubeconfigPath,
    cacheDir: join(dir, 'cache'),
    ...(input !== undefined ? { input } : {}),
  });

/** `kubectl kustomize` of a folder: the YAML `kubectl apply -k` would send. */
async function kustomize(path: string): Promise<string> {
  const r = await kubectl(['kustomize', path]);
  if (r.code !== 0) throw new Error(`kubectl kustomize ${path} failed: ${r.stderr}`);
  return r.stdout;
}

const identity = (o: KubeObject) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;

/** The objects of a `-o json` answer (one object, or a List of them). */
function objectsOf(stdout: string): KubeObject[] {
  const parsed = JSON.parse(stdout);
  return parsed.kind === 'List' ? parsed.items : [parsed];
}

/** An operator's own kustomization composing base with components (paths must be relative). */
async function composition(name: string, components: string[]): Promise<string> {
  const folder = join(dir, name);
  const rel = (p: string) => relative(folder, resolve(MANIFESTS_DIR, p));
  await rm(folder, { recursive: true, force: true });
  await mkdir(folder, { recursive: true });
  await writeFile(
    join(folder, 'kustomization.yaml'),
    [
      'apiVersion: kustomize.config.k8s.io/v1beta1',
      'kind: Kustomization',
      'resources:',
      `  - ${rel('base')}`,
      'components:',
      ...components.map((c) => `  - ${rel(`components/${c}`)}`),
      '',
    ].join('\n'),
  );
  return folder;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'manifests-real-apply-'));
  host = remoteClusterHost({ server: cp().server, caPem: cp().caPem, token: cp().adminToken });
  await installAgonesResources(host.client());
  await installCrds(host.client(), [...CERT_MANAGER_CRDS, ...PROMETHEUS_OPERATOR_CRDS]);
  // The install's first step (README, "Namespace and Secrets"): a dry run cannot create the
  // namespace the rest of the objects go into.
  const ns = await kubectl([
    'apply',
    '--server-side',
    '--validate=strict',
    '-f',
    resolve(MANIFESTS_DIR, 'base/namespace.yaml'),
  ]);
  if (ns.code !== 0) throw new Error(`applying the namespace failed: ${ns.stderr}`);
}, CONTROL_PLANE_START_MS);

afterAll(async () => {
  host?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const KUSTOMIZATIONS: Array<[string, () => Promise<string>]> = [
  ['base', async () => resolve(MANIFESTS_DIR, 'base')],
  ...OVERLAYS.map((o): [string, () => Promise<string>] => [`overlays/${o}`, async () => overlayDir(o)]),
  // As the README's own kustomization composes them for EKS (render.test.ts renders the same).
  [
    'base + components eks, cert-manager, monitoring',
    () => composition('eks-composed', ['eks', 'cert-manager', 'monitoring']),
  ],
  ['base + components eks, fail-open', () => composition('eks-fail-open', ['eks', 'fail-open'])],
];

describe('on the real API server, kubectl apply --server-side --dry-run=server --validate=strict', () => {
  it.each(KUSTOMIZATIONS)('accepts %s whole, without a warning', async (_name, path) => {
    const yaml = await kustomize(await path());
    const rendered = parseManifests(yaml);
    expect(rendered.length).toBeGreaterThan(10);
    const r = await kubectl(
      ['apply', '--server-side', '--dry-run=server', '--validate=strict', '-o', 'json', '-f', '-'],
      yaml,
    );
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    // The server answered for each object: every one came back, with what the server sets on admission.
    const answered = objectsOf(r.stdout);
    expect(answered.map(identity).sort()).toEqual(rendered.map(identity).sort());
    for (const o of answered) expect(o.metadata.creationTimestamp).toEqual(expect.any(String));
  });

  it('refuses an object with a field the API does not know (the check that would catch a typo)', async () => {
    const yaml = await kustomize(resolve(MANIFESTS_DIR, 'base'));
    const objects = parseManifests(yaml);
    const deployment = objects.find((o) => o.kind === 'Deployment')!;
    deployment.spec.template.spec.containers[0].imagePullPolicyy = 'IfNotPresent';
    const r = await kubectl(
      ['apply', '--server-side', '--dry-run=server', '--validate=strict', '-f', '-'],
      JSON.stringify(deployment),
    );
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/containers\[name="pubsub"\]\.imagePullPolicyy: field not declared in schema/);
  });

  it('warns of a pod template breaking Pod Security "restricted" (the warning the runs above must not get)', async () => {
    const yaml = await kustomize(resolve(MANIFESTS_DIR, 'base'));
    const deployment = parseManifests(yaml).find((o) => o.kind === 'Deployment')!;
    deployment.spec.template.spec.containers[0].securityContext.allowPrivilegeEscalation = true;
    const r = await kubectl(
      ['apply', '--server-side', '--dry-run=server', '--validate=strict', '-f', '-'],
      JSON.stringify(deployment),
    );
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(
      /Warning: would violate PodSecurity "restricted:latest": allowPrivilegeEscalation/,
    );
  });

  it('refuses a Certificate whose top level is misplaced, though its CRD keeps any spec', async () => {
    const r = await kubectl(
      ['apply', '--server-side', '--dry-run=server', '--validate=strict', '-f', '-'],
      JSON.stringify({
        apiVersion: 'cert-manager.io/v1',
        kind: 'Certificate',
        metadata: { name: 'misplaced', namespace: NAMESPACE },
        secretName: 'x',
      }),
    );
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/\.secretName: field not declared in schema/);
  });
});

describe('on the real API server, kubectl apply --server-side of base', () => {
  let yaml: string;
  let rendered: KubeObject[];
  let firstApply: KubectlRun;
  beforeAll(async () => {
    yaml = await kustomize(resolve(MANIFESTS_DIR, 'base'));
    rendered = parseManifests(yaml);
    firstApply = await kubectl(['apply', '--server-side', '--validate=strict', '-f', '-'], yaml);
  }, 60_000);

  it('stores every object', async () => {
    expect({ code: firstApply.code, stderr: firstApply.stderr }).toEqual({ code: 0, stderr: '' });
    const got = await kubectl(['get', '-o', 'json', '-f', '-'], yaml);
    expect(got.code).toBe(0);
    const stored = objectsOf(got.stdout);
    expect(stored.map(identity).sort()).toEqual(rendered.map(identity).sort());
    for (const o of stored) expect(o.metadata.uid).toEqual(expect.any(String));
    // The real server compiled and kept the webhook's CEL conditions and its failure policy.
    const mwc = stored.find((o) => o.kind === 'MutatingWebhookConfiguration')!;
    expect(mwc.webhooks[0].matchConditions.map((c: { name: string }) => c.name)).toEqual([
      'becomes-protected',
      'is-an-allocation',
    ]);
    expect(mwc.webhooks[0].failurePolicy).toBe('Fail');
  });

  it('lets the real ReplicaSet controller create the Deployments’ pods under Pod Security "restricted"', async () => {
    const replicas = rendered
      .filter((o) => o.kind === 'Deployment')
      .reduce((n, o) => n + (o.spec.replicas ?? 1), 0);
    expect(replicas).toBe(4);
    const pods = await waitFor(
      `${replicas} pods in ${NAMESPACE}`,
      async () => {
        const res = await apiRequest(cp(), 'GET', `/api/v1/namespaces/${NAMESPACE}/pods`);
        return res.body.items.length === replicas ? (res.body.items as KubeObject[]) : undefined;
      },
      60_000,
    );
    for (const pod of pods) {
      expect(pod.spec.securityContext.runAsNonRoot).toBe(true);
      expect(pod.spec.serviceAccountName).toMatch(/^fleetiq-agones-(pubsub|webhook)$/);
    }
  });

  it('changes nothing when applied again', async () => {
    const before = objectsOf((await kubectl(['get', '-o', 'json', '-f', '-'], yaml)).stdout);
    const again = await kubectl(['apply', '--server-side', '--validate=strict', '-f', '-'], yaml);
    expect({ code: again.code, stderr: again.stderr }).toEqual({ code: 0, stderr: '' });
    const after = objectsOf((await kubectl(['get', '-o', 'json', '-f', '-'], yaml)).stdout);
    // Controllers write the workloads' status meanwhile, so those are compared by generation (it
    // moves with spec only); every other object by resourceVersion.
    const versions = (list: KubeObject[]) =>
      Object.fromEntries(
        list.map((o) => [identity(o), String(o.metadata.generation ?? o.metadata.resourceVersion)]),
      );
    expect(versions(after)).toEqual(versions(before));
  });
});
