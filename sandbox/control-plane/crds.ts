// CustomResourceDefinitions of other projects' kinds for the real API server of the test bed, written
// by us: the group, version, names, scope, subresources and printer columns of theirs, with a
// structural schema that keeps every field of spec and status (their validation is not ours to copy).
import type { KubeObject, LocalClient } from '../kube/types.js';
import { waitForCondition } from './wait.js';

const KEEP_ALL = {
  type: 'object',
  properties: {
    spec: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
    status: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
  },
};

export interface CrdShape {
  group: string;
  version: string;
  plural: string;
  kind: string;
  shortNames: string[];
  categories?: string[];
  subresources?: Record<string, unknown>;
  columns?: { name: string; type: string; jsonPath: string }[];
}

/** A namespaced CRD of `s`'s kind that keeps every field. */
export function keepAllCrd(s: CrdShape): KubeObject {
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
        ...(s.categories ? { categories: s.categories } : {}),
      },
      versions: [
        {
          name: s.version,
          served: true,
          storage: true,
          schema: { openAPIV3Schema: KEEP_ALL },
          ...(s.subresources ? { subresources: s.subresources } : {}),
          ...(s.columns
            ? {
                additionalPrinterColumns: [
                  ...s.columns,
                  { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
                ],
              }
            : {}),
        },
      ],
    },
  };
}

const CRDS = { group: 'apiextensions.k8s.io', version: 'v1', resource: 'customresourcedefinitions' } as const;

/**
 * Creates the CRDs (those that exist already are left as they are) and resolves once the API server
 * serves each: Established, and its storage ready to list (Established comes first, and a list
 * before then is refused with "storage is (re)initializing").
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
      await admin.list(
        { group: c.spec.group, version: c.spec.versions[0].name, resource: c.spec.names.plural },
        { limit: 1 },
      );
      return true;
    });
}
