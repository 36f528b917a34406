// CustomResourceDefinitions of the two optional dependencies the manifests' components target, so
// their objects can be applied to a real API server: cert-manager's Issuer and Certificate
// (components/cert-manager) and the Prometheus Operator's PodMonitor and PrometheusRule
// (components/monitoring). Written by us, not copied from those projects: the group, version,
// names, short names and scope match theirs, but the schema keeps every field of spec and status
// (a structural "keep-all" schema, like agones-crds.ts). So a real API server checks these objects'
// metadata and kind, and accepts any spec: validating the specs themselves is left to the
// kubernetes-models schema tests (test/manifests/schema.test.ts).
import type { KubeObject, LocalClient } from '../kube/types.js';
import { waitForCondition } from './wait.js';

const KEEP_ALL = {
  type: 'object',
  properties: {
    spec: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
    status: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
  },
};

interface CrdShape {
  group: string;
  version: string;
  plural: string;
  kind: string;
  shortNames: string[];
  categories: string[];
  /** cert-manager's resources have a status subresource; the Prometheus Operator's monitors do not. */
  status?: boolean;
}

function crd(s: CrdShape): KubeObject {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${s.plural}.${s.group}`,
      labels: { 'app.kubernetes.io/part-of': 'fleetiq-agones-testbed' },
    },
    spec: {
      group: s.group,
      scope: 'Namespaced',
      names: {
        plural: s.plural,
        singular: s.kind.toLowerCase(),
        kind: s.kind,
        listKind: `${s.kind}List`,
        shortNames: s.shortNames,
        categories: s.categories,
      },
      versions: [
        {
          name: s.version,
          served: true,
          storage: true,
          schema: { openAPIV3Schema: KEEP_ALL },
          ...(s.status ? { subresources: { status: {} } } : {}),
        },
      ],
    },
  };
}

/** cert-manager.io/v1 Issuer and Certificate (components/cert-manager). */
export const CERT_MANAGER_CRDS: readonly KubeObject[] = [
  crd({
    group: 'cert-manager.io',
    version: 'v1',
    plural: 'issuers',
    kind: 'Issuer',
    shortNames: [],
    categories: ['cert-manager'],
    status: true,
  }),
  crd({
    group: 'cert-manager.io',
    version: 'v1',
    plural: 'certificates',
    kind: 'Certificate',
    shortNames: ['cert', 'certs'],
    categories: ['cert-manager'],
    status: true,
  }),
];

/** monitoring.coreos.com/v1 PodMonitor and PrometheusRule (components/monitoring). */
export const PROMETHEUS_OPERATOR_CRDS: readonly KubeObject[] = [
  crd({
    group: 'monitoring.coreos.com',
    version: 'v1',
    plural: 'podmonitors',
    kind: 'PodMonitor',
    shortNames: ['pmon'],
    categories: ['prometheus-operator'],
  }),
  crd({
    group: 'monitoring.coreos.com',
    version: 'v1',
    plural: 'prometheusrules',
    kind: 'PrometheusRule',
    shortNames: ['promrule'],
    categories: ['prometheus-operator'],
  }),
];

const CRDS = { group: 'apiextensions.k8s.io', version: 'v1', resource: 'customresourcedefinitions' } as const;

/**
 * Creates the CRDs (those that exist already are left as they are) and resolves once the API server
 * serves each: Established, and its storage ready to list.
 */
export async function installCrds(
  admin: LocalClient,
  crds: readonly KubeObject[],
  options: { timeoutMs?: number } = {},
): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  for (const c of crds) {
    try {
      await admin.create(CRDS, c);
    } catch (err) {
      if ((err as { code?: number }).code !== 409) throw err;
    }
  }
  for (const c of crds)
    await waitForCondition(`CRD ${c.metadata.name} to be established`, timeoutMs, async () => {
      const got = await admin.get({ ...CRDS, name: c.metadata.name });
      if (!(got.status?.conditions ?? []).some((x: any) => x.type === 'Established' && x.status === 'True'))
        return false;
      // Established comes before the resource's storage is ready to list.
      await admin.list(
        { group: c.spec.group, version: c.spec.versions[0].name, resource: c.spec.names.plural },
        { limit: 1 },
      );
      return true;
    });
}
