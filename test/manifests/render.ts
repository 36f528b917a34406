// Renders the kustomizations under manifests/ with the real `kubectl kustomize` (kubectl bundles
// kustomize) and parses the output into objects. Used by the manifest tests and by end-to-end tests
// that load the rendered RBAC (or anything else) into the Kubernetes emulator.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { serviceAccountUser } from '../../sandbox/kube/authn.js';
import type { KubeObject, UserInfo } from '../../sandbox/kube/types.js';

const run = promisify(execFile);

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const MANIFESTS_DIR = resolve(REPO_ROOT, 'manifests');

/** Every overlay under manifests/overlays, each a complete installation. */
export const OVERLAYS = ['dev', 'eks', 'cert-manager', 'fail-open', 'monitoring'] as const;
export type OverlayName = (typeof OVERLAYS)[number];

/** The namespace everything namespaced is installed in. */
export const NAMESPACE = 'fleetiq-system';

/** `kubectl kustomize <dir>` (KUBECTL overrides the binary), parsed: one object per YAML document. */
export async function renderKustomization(dir: string): Promise<KubeObject[]> {
  const kubectl = process.env.KUBECTL ?? 'kubectl';
  let stdout: string;
  try {
    ({ stdout } = await run(kubectl, ['kustomize', dir], { maxBuffer: 64 * 1024 * 1024 }));
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`kubectl kustomize ${dir} failed: ${(e.stderr || e.message).slice(0, 2000)}`);
  }
  return parseManifests(stdout, dir);
}

/** Parses multi-document YAML into objects, failing on any YAML error (with the document's index). */
export function parseManifests(text: string, source = 'manifests'): KubeObject[] {
  const objects: KubeObject[] = [];
  parseAllDocuments(text).forEach((doc, i) => {
    if (doc.errors.length > 0) throw new Error(`${source}: document ${i}: ${doc.errors[0]!.message}`);
    const value = doc.toJS();
    if (value !== null && value !== undefined) objects.push(value as KubeObject);
  });
  return objects;
}

/**
 * What an operator writes into `aws.env` beside their copy of overlays/eks: the region and roles the
 * documentation's IAM policy templates (manifests/iam/) name, so the tests can check the two agree.
 */
export const SAMPLE_EKS_AWS_ENV = {
  AWS_REGION: 'us-west-2',
  PUBSUB_ROLE_ARN: 'arn:aws:iam::111122223333:role/fleetiq-agones-pubsub',
  RECONCILER_ROLE_ARN: 'arn:aws:iam::111122223333:role/fleetiq-agones-reconciler',
};

const eksCopies: string[] = [];
process.once('exit', () => {
  for (const dir of eksCopies) rmSync(dir, { recursive: true, force: true });
});

/**
 * overlays/eks as an operator uses it (docs/install.md): the folder copied elsewhere, its paths
 * pointing back at this repository's base and components, and an aws.env of `env` beside it
 * (overlays/eks itself refuses to build without one). Removed when the process exits.
 */
export function eksOverlayCopy(env: Record<string, string> = SAMPLE_EKS_AWS_ENV): string {
  const dir = mkdtempSync(join(tmpdir(), 'fleetiq-eks-overlay-'));
  eksCopies.push(dir);
  const source = resolve(MANIFESTS_DIR, 'overlays/eks');
  const back = relative(dir, MANIFESTS_DIR);
  const kustomization = readFileSync(join(source, 'kustomization.yaml'), 'utf8').replace(
    /^(\s+- )\.\.\/\.\.\//gm,
    `$1${back}/`,
  );
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'kustomization.yaml'), kustomization);
  writeFileSync(
    join(dir, 'aws.env'),
    Object.entries(env)
      .map(([k, v]) => `${k}=${v}\n`)
      .join(''),
  );
  return dir;
}

/** The folder `kubectl kustomize` builds for `manifests/overlays/<name>` (or `base`). */
export function overlayDir(name: OverlayName | 'base'): string {
  if (name === 'eks') return eksOverlayCopy();
  return resolve(MANIFESTS_DIR, name === 'base' ? 'base' : `overlays/${name}`);
}

/** The objects of `manifests/overlays/<name>` (or `base`), as `kubectl apply -k` would send them. */
export function renderOverlay(name: OverlayName | 'base'): Promise<KubeObject[]> {
  return renderKustomization(overlayDir(name));
}

/** The one object of that kind and name (throws when there is none or more than one). */
export function findObject(objects: KubeObject[], kind: string, name: string): KubeObject {
  const found = objects.filter((o) => o.kind === kind && o.metadata?.name === name);
  if (found.length !== 1) throw new Error(`expected one ${kind} ${name}, found ${found.length}`);
  return found[0]!;
}

/** The RBAC objects (Roles, ClusterRoles and their bindings) of a rendered installation. */
export function rbacObjects(objects: KubeObject[]): KubeObject[] {
  return objects.filter((o) => o.apiVersion === 'rbac.authorization.k8s.io/v1');
}

/** The components, each with its own ServiceAccount `fleetiq-agones-<component>`. */
export const COMPONENTS = ['pubsub', 'webhook', 'reconciler'] as const;
export type Component = (typeof COMPONENTS)[number];

/** The identity a component's pods act as: its ServiceAccount in the installation namespace. */
export function componentUser(component: Component): UserInfo {
  return serviceAccountUser(NAMESPACE, `fleetiq-agones-${component}`);
}
