// The Agones resources the simulated Agones uses (GameServer, GameServerSet, Fleet), as
// CustomResourceDefinitions for a real API server: the group, versions, names, short names, scope,
// subresources and printer columns of Agones' own CRDs, with a schema that keeps
// every field (ours is not Agones' full validation schema). GameServerAllocation is not a CRD in
// Agones either (an aggregated API serves it); on the real control plane the simulated allocator
// answers it in-process (sandbox/cluster/remote-host.ts).
import type { KubeObject, LocalClient, ResourceRef } from '../kube/types.js';
import { waitForCondition } from './wait.js';

const KEEP_ALL = {
  type: 'object',
  properties: {
    spec: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
    status: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
  },
};

interface CrdShape {
  plural: string;
  kind: string;
  shortNames: string[];
  /** GameServerSet and Fleet have status and scale subresources; GameServer has neither (Agones writes its status through the main resource). */
  replicated?: boolean;
  columns: { name: string; type: string; jsonPath: string }[];
}

function crd(s: CrdShape): KubeObject {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${s.plural}.agones.dev`,
      labels: { 'app.kubernetes.io/part-of': 'fleetiq-agones-testbed' },
    },
    spec: {
      group: 'agones.dev',
      scope: 'Namespaced',
      names: {
        plural: s.plural,
        singular: s.kind.toLowerCase(),
        kind: s.kind,
        listKind: `${s.kind}List`,
        shortNames: s.shortNames,
        categories: ['all', 'agones'],
      },
      versions: [
        {
          name: 'v1',
          served: true,
          storage: true,
          schema: { openAPIV3Schema: KEEP_ALL },
          ...(s.replicated
            ? {
                subresources: {
                  status: {},
                  scale: {
                    specReplicasPath: '.spec.replicas',
                    statusReplicasPath: '.status.replicas',
                    labelSelectorPath: '.status.labelSelector',
                  },
                },
              }
            : {}),
          additionalPrinterColumns: [
            ...s.columns,
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
        },
      ],
    },
  };
}

const replicaColumns = [
  { name: 'Scheduling', type: 'string', jsonPath: '.spec.scheduling' },
  { name: 'Desired', type: 'integer', jsonPath: '.spec.replicas' },
  { name: 'Current', type: 'integer', jsonPath: '.status.replicas' },
  { name: 'Allocated', type: 'integer', jsonPath: '.status.allocatedReplicas' },
  { name: 'Ready', type: 'integer', jsonPath: '.status.readyReplicas' },
];

export const AGONES_CRDS: readonly KubeObject[] = [
  crd({
    plural: 'gameservers',
    kind: 'GameServer',
    shortNames: ['gs'],
    columns: [
      { name: 'State', type: 'string', jsonPath: '.status.state' },
      { name: 'Address', type: 'string', jsonPath: '.status.address' },
      { name: 'Port', type: 'string', jsonPath: '.status.ports[0].port' },
      { name: 'Node', type: 'string', jsonPath: '.status.nodeName' },
    ],
  }),
  crd({
    plural: 'gameserversets',
    kind: 'GameServerSet',
    shortNames: ['gss', 'gameserverset'],
    replicated: true,
    columns: replicaColumns,
  }),
  crd({
    plural: 'fleets',
    kind: 'Fleet',
    shortNames: ['flt', 'fleet'],
    replicated: true,
    columns: replicaColumns,
  }),
];

const CRDS = { group: 'apiextensions.k8s.io', version: 'v1', resource: 'customresourcedefinitions' } as const;
const NAMESPACES = { group: '', version: 'v1', resource: 'namespaces' } as const;
const SERVICE_ACCOUNTS = { group: '', version: 'v1', resource: 'serviceaccounts' } as const;

async function createIfMissing(admin: LocalClient, ref: ResourceRef, obj: KubeObject): Promise<void> {
  try {
    await admin.create(ref, obj);
  } catch (err) {
    if ((err as { code?: number }).code !== 409) throw err;
  }
}

/**
 * What an Agones installation puts in a cluster that the simulated Agones needs: the CRDs (resolves
 * once the API server serves them), and the `agones-sdk` ServiceAccount game server pods run as, in
 * each game server namespace (pods naming a missing ServiceAccount are refused by admission).
 */
export async function installAgonesResources(
  admin: LocalClient,
  options: { gameServerNamespaces?: string[]; timeoutMs?: number } = {},
): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  for (const c of AGONES_CRDS) await createIfMissing(admin, CRDS, c);
  for (const ns of options.gameServerNamespaces ?? ['default']) {
    await createIfMissing(admin, NAMESPACES, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    await createIfMissing(
      admin,
      { ...SERVICE_ACCOUNTS, namespace: ns },
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'agones-sdk', namespace: ns } },
    );
  }
  for (const c of AGONES_CRDS)
    await waitForCondition(`CRD ${c.metadata.name} to be established`, timeoutMs, async () => {
      const got = await admin.get({ ...CRDS, name: c.metadata.name });
      if (!(got.status?.conditions ?? []).some((x: any) => x.type === 'Established' && x.status === 'True'))
        return false;
      // Established comes before the resource's storage is ready to list ("storage is (re)initializing").
      await admin.list({ group: 'agones.dev', version: 'v1', resource: c.spec.names.plural }, { limit: 1 });
      return true;
    });
}
