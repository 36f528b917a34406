// The installation the sandbox runs under: manifests/base rendered as `kubectl apply -k` would send
// it, and the parts that matter to an in-process run put into the API server (emulated or real): the namespace,
// the ServiceAccounts, every Role/ClusterRole and binding (so each component works with exactly the
// permissions a cluster gives it), the ConfigMaps, the webhook Service and the
// MutatingWebhookConfiguration (matchConditions, failurePolicy, timeout: the API server calls the
// webhook through it). Deployments and the DaemonSet are left out: no kubelet of the sandbox runs
// containers; the sandbox runs the components itself, under those ServiceAccounts.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import type { KubeObject, LocalClient } from '../kube/types.js';

const run = promisify(execFile);

export const INSTALL_NAMESPACE = 'fleetiq-system';
export const WEBHOOK_CONFIGURATION_NAME = 'fleetiq-agones-webhook';
export const WEBHOOK_SERVICE_NAME = 'fleetiq-agones-webhook';

/** The kinds the sandbox applies, in dependency order. */
const APPLIED_KINDS = [
  'Namespace',
  'ServiceAccount',
  'ClusterRole',
  'Role',
  'ClusterRoleBinding',
  'RoleBinding',
  'ConfigMap',
  'Service',
  'MutatingWebhookConfiguration',
  'ValidatingAdmissionPolicy',
  'ValidatingAdmissionPolicyBinding',
];

/** Applied only when asked: the emulator does not enforce them, and they need node-bound agent tokens. */
const POLICY_KINDS = new Set(['ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding']);

const CLUSTER_SCOPED = new Set([
  'Namespace',
  'ClusterRole',
  'ClusterRoleBinding',
  'MutatingWebhookConfiguration',
  'ValidatingAdmissionPolicy',
  'ValidatingAdmissionPolicyBinding',
]);

/** The repository's manifests/ directory, found upwards from this module (works from dist/ too). */
export function manifestsDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'manifests', 'base', 'kustomization.yaml');
    if (existsSync(candidate)) return join(dir, 'manifests');
    dir = resolve(dir, '..');
  }
  throw new Error('manifests/base/kustomization.yaml not found above sandbox/run');
}

function parseDocuments(text: string, source: string): KubeObject[] {
  const out: KubeObject[] = [];
  parseAllDocuments(text).forEach((doc, i) => {
    if (doc.errors.length > 0) throw new Error(`${source}: document ${i}: ${doc.errors[0]!.message}`);
    const v = doc.toJS();
    if (v) out.push(v as KubeObject);
  });
  return out;
}

/**
 * manifests/base as kustomize renders it (`kubectl kustomize`). Without kubectl, the same objects
 * are read from the kustomization's resources with its namespace transformer applied (fill in the
 * namespace where none is set), which is all of base's rendering that the sandbox depends on.
 */
export async function renderBaseManifests(): Promise<{ objects: KubeObject[]; renderedBy: string }> {
  const base = join(manifestsDir(), 'base');
  try {
    const { stdout } = await run(process.env.KUBECTL ?? 'kubectl', ['kustomize', base], {
      maxBuffer: 64 * 1024 * 1024,
    });
    return {
      objects: parseDocuments(stdout, 'kubectl kustomize manifests/base'),
      renderedBy: 'kubectl kustomize',
    };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const kustomization = parseYaml(await readFile(join(base, 'kustomization.yaml'), 'utf8')) as {
    resources: string[];
  };
  const objects: KubeObject[] = [];
  for (const file of kustomization.resources) {
    for (const obj of parseDocuments(await readFile(join(base, file), 'utf8'), file)) {
      if (!CLUSTER_SCOPED.has(obj.kind ?? '') && !obj.metadata.namespace)
        obj.metadata = { ...obj.metadata, namespace: INSTALL_NAMESPACE };
      objects.push(obj);
    }
  }
  return { objects, renderedBy: 'manifests/base resources (kubectl not found)' };
}

export interface InstallOptions {
  failurePolicy: 'Fail' | 'Ignore';
  /** Also the ValidatingAdmissionPolicies and their Bindings (default: not). */
  admissionPolicies?: boolean;
}

/** What the sandbox put into the API server. */
export interface Installation {
  objects: KubeObject[];
  renderedBy: string;
}

/** Where the API server serves a kind (undefined: not served). */
export type KindResolver = (
  apiVersion: string,
  kind: string,
) => { group: string; version: string; plural: string; namespaced: boolean } | undefined;

/** Creates the installation's objects in the API server (as the admin, like `kubectl apply`). */
export async function applyInstallation(
  admin: LocalClient,
  resolve: KindResolver,
  options: InstallOptions,
): Promise<Installation> {
  const { objects, renderedBy } = await renderBaseManifests();
  const applied: KubeObject[] = [];
  for (const kind of APPLIED_KINDS) {
    if (POLICY_KINDS.has(kind) && !options.admissionPolicies) continue;
    for (const obj of objects.filter((o) => o.kind === kind)) {
      const rt = resolve(obj.apiVersion ?? '', kind);
      if (!rt) throw new Error(`the API server does not serve ${obj.apiVersion} ${kind}`);
      const body =
        kind === 'MutatingWebhookConfiguration' ? withFailurePolicy(obj, options.failurePolicy) : obj;
      const ref = {
        group: rt.group,
        version: rt.version,
        resource: rt.plural,
        ...(rt.namespaced ? { namespace: obj.metadata.namespace ?? INSTALL_NAMESPACE } : {}),
      };
      try {
        applied.push(await admin.create(ref, body));
      } catch (err) {
        if ((err as { code?: number }).code !== 409) throw err;
      }
    }
  }
  return { objects: applied, renderedBy };
}

/** The configuration with every webhook's failurePolicy set (the fail-open overlay's choice, or Fail). */
export function withFailurePolicy(mwc: KubeObject, failurePolicy: 'Fail' | 'Ignore'): KubeObject {
  return {
    ...mwc,
    webhooks: (mwc.webhooks as Record<string, unknown>[]).map((w) => ({ ...w, failurePolicy })),
  };
}
