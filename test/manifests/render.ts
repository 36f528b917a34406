// Renders the kustomizations under manifests/ with the real `kubectl kustomize` (kubectl bundles
// kustomize) and parses the output into objects. Used by the manifest tests and by end-to-end tests
// that load the rendered RBAC (or anything else) into the Kubernetes emulator.
import { execFile } from 'node:child_process';
import { dirname, resolve } from 'node:path';
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

/** The objects of `manifests/overlays/<name>` (or `base`), as `kubectl apply -k` would send them. */
export function renderOverlay(name: OverlayName | 'base'): Promise<KubeObject[]> {
  return renderKustomization(resolve(MANIFESTS_DIR, name === 'base' ? 'base' : `overlays/${name}`));
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
