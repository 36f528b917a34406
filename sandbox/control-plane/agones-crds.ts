// The Agones resources the simulated Agones uses (GameServer, GameServerSet, Fleet), as
// CustomResourceDefinitions for a real API server (crds.ts): the names, short names, scope,
// subresources and printer columns of Agones' own CRDs. GameServer has no status subresource (Agones
// writes its status through the main resource); GameServerSet and Fleet have status and scale.
// GameServerAllocation is not a CRD in Agones either (an aggregated API serves it); on the real control
// plane the simulated allocator answers it in-process (sandbox/cluster/remote-host.ts).
import type { KubeObject, LocalClient, ResourceRef } from '../kube/types.js';
import { installCrds, keepAllCrd } from './crds.js';

const replicated = {
  subresources: {
    status: {},
    scale: {
      specReplicasPath: '.spec.replicas',
      statusReplicasPath: '.status.replicas',
      labelSelectorPath: '.status.labelSelector',
    },
  },
  columns: [
    { name: 'Scheduling', type: 'string', jsonPath: '.spec.scheduling' },
    { name: 'Desired', type: 'integer', jsonPath: '.spec.replicas' },
    { name: 'Current', type: 'integer', jsonPath: '.status.replicas' },
    { name: 'Allocated', type: 'integer', jsonPath: '.status.allocatedReplicas' },
    { name: 'Ready', type: 'integer', jsonPath: '.status.readyReplicas' },
  ],
};
// Agones' names: short names as its CRDs declare them, and no categories.
const agones = { group: 'agones.dev', version: 'v1' };

export const AGONES_CRDS: readonly KubeObject[] = [
  keepAllCrd({
    ...agones,
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
  keepAllCrd({
    ...agones,
    ...replicated,
    plural: 'gameserversets',
    kind: 'GameServerSet',
    shortNames: ['gss', 'gsset'],
  }),
  keepAllCrd({ ...agones, ...replicated, plural: 'fleets', kind: 'Fleet', shortNames: ['flt'] }),
];

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
  await installCrds(admin, AGONES_CRDS, options);
  for (const ns of options.gameServerNamespaces ?? ['default']) {
    await createIfMissing(admin, NAMESPACES, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    await createIfMissing(
      admin,
      { ...SERVICE_ACCOUNTS, namespace: ns },
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'agones-sdk', namespace: ns } },
    );
  }
}
