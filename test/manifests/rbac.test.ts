// Least privilege, decided by the Kubernetes emulator's RBAC authorizer (which evaluates Roles and
// bindings as kube-apiserver does) over the rendered manifests:
// - every API call each component makes (listed below with where in the code it is made) is allowed
//   for its ServiceAccount;
// - every verb of every rule granted is one of those calls (nothing granted that no code needs);
// - calls a compromised or buggy component might try are denied.
// End-to-end tests later run the components themselves under these identities.
import { beforeAll, describe, expect, it } from '@jest/globals';
import { createRbacAuthorizer } from '../../sandbox/kube/rbac.js';
import type { KubeObject, ObjectReader, ResourceAttributes, Verb } from '../../sandbox/kube/types.js';
import { componentUser, NAMESPACE, rbacObjects, renderOverlay, type Component } from './render.js';

interface Call {
  verb: Verb;
  group: string;
  resource: string;
  namespace?: string;
  name?: string;
  subresource?: string;
  /** Where the code makes it (for whoever changes one side). */
  why: string;
}

const GAME_NS = 'game-servers';

/** What each component calls. Keep in step with the code (see `why`). */
const NEEDS: Record<Component, Call[]> = {
  pubsub: [
    ...(['get', 'update'] as const).map((verb) => ({
      verb,
      group: 'coordination.k8s.io',
      resource: 'leases',
      namespace: NAMESPACE,
      name: 'fleetiq-agones-pubsub',
      why: 'pubsub/leader-election.ts leaseApiFor: readNamespacedLease, replaceNamespacedLease',
    })),
    {
      verb: 'create',
      group: 'coordination.k8s.io',
      resource: 'leases',
      namespace: NAMESPACE,
      why: 'pubsub/leader-election.ts leaseApiFor: createNamespacedLease',
    },
  ],
  webhook: [
    {
      verb: 'get',
      group: '',
      resource: 'pods',
      namespace: GAME_NS,
      name: 'gs-1',
      why: 'webhook/pod-toleration.ts readNamespacedPod',
    },
    {
      verb: 'patch',
      group: '',
      resource: 'pods',
      namespace: GAME_NS,
      name: 'gs-1',
      why: 'webhook/pod-toleration.ts patchNamespacedPod',
    },
    {
      verb: 'get',
      group: 'agones.dev',
      resource: 'gameservers',
      namespace: GAME_NS,
      name: 'gs-1',
      why: 'webhook/pod-toleration.ts getNamespacedCustomObject (the stored GameServer)',
    },
    {
      verb: 'get',
      group: '',
      resource: 'nodes',
      name: 'ip-10-0-0-1',
      why: 'webhook/node-status.ts readNode',
    },
    { verb: 'list', group: '', resource: 'nodes', why: 'webhook/node-status.ts listNode (label selector)' },
    { verb: 'watch', group: '', resource: 'nodes', why: 'webhook/node-status.ts Watch /api/v1/nodes' },
    {
      verb: 'create',
      group: '',
      resource: 'events',
      namespace: GAME_NS,
      why: 'webhook/events.ts createNamespacedEvent',
    },
    ...(['get', 'update'] as const).map((verb) => ({
      verb,
      group: '',
      resource: 'secrets',
      namespace: NAMESPACE,
      name: 'fleetiq-agones-webhook-tls',
      why: 'certs/ensure.ts readNamespacedSecret, replaceNamespacedSecret (built-in certificates)',
    })),
    {
      verb: 'create',
      group: '',
      resource: 'secrets',
      namespace: NAMESPACE,
      why: 'certs/ensure.ts createNamespacedSecret',
    },
    ...(['get', 'patch'] as const).map((verb) => ({
      verb,
      group: 'admissionregistration.k8s.io',
      resource: 'mutatingwebhookconfigurations',
      name: 'fleetiq-agones-webhook',
      why: 'certs/ensure.ts readMutatingWebhookConfiguration, patchMutatingWebhookConfiguration (caBundle)',
    })),
  ],
  // reconciler/kube-api.ts makes every call; agent.ts drives the informers.
  reconciler: [
    ...(['get', 'list', 'watch', 'patch'] as const).map((verb) => ({
      verb,
      group: '',
      resource: 'nodes',
      ...(verb === 'list' || verb === 'watch' ? {} : { name: 'ip-10-0-0-1' }),
      why: 'reconciler/kube-api.ts readNode, listNode + watch (fieldSelector metadata.name), patchNode (merge patch)',
    })),
    ...(['list', 'watch'] as const).map((verb) => ({
      verb,
      group: '',
      resource: 'pods',
      why: 'reconciler/kube-api.ts listPodForAllNamespaces + watch /api/v1/pods (fieldSelector spec.nodeName)',
    })),
    ...(['get', 'patch', 'delete'] as const).map((verb) => ({
      verb,
      group: '',
      resource: 'pods',
      namespace: GAME_NS,
      name: 'gs-1',
      why: 'reconciler/kube-api.ts readNamespacedPod, patchNamespacedPod (toleration), deleteNamespacedPod',
    })),
    ...(['get', 'patch'] as const).map((verb) => ({
      verb,
      group: 'agones.dev',
      resource: 'gameservers',
      namespace: GAME_NS,
      name: 'gs-1',
      why: 'reconciler/kube-api.ts getNamespacedCustomObject, patchNamespacedCustomObject (JSON Patch)',
    })),
    {
      verb: 'create',
      group: '',
      resource: 'events',
      namespace: 'default',
      why: 'reconciler/events.ts createNamespacedEvent in "default" (Events on its Node)',
    },
  ],
};

/** What must stay out of reach (a compromised component must not get further). */
const DENIED: Record<Component, Omit<Call, 'why'>[]> = {
  pubsub: [
    {
      verb: 'get',
      group: 'coordination.k8s.io',
      resource: 'leases',
      namespace: NAMESPACE,
      name: 'another-lease',
    },
    {
      verb: 'update',
      group: 'coordination.k8s.io',
      resource: 'leases',
      namespace: 'kube-system',
      name: 'fleetiq-agones-pubsub',
    },
    {
      verb: 'delete',
      group: 'coordination.k8s.io',
      resource: 'leases',
      namespace: NAMESPACE,
      name: 'fleetiq-agones-pubsub',
    },
    { verb: 'list', group: 'coordination.k8s.io', resource: 'leases', namespace: NAMESPACE },
    { verb: 'get', group: '', resource: 'secrets', namespace: NAMESPACE, name: 'fleetiq-agones-redis' },
    { verb: 'list', group: '', resource: 'pods' },
    { verb: 'get', group: '', resource: 'nodes', name: 'ip-10-0-0-1' },
  ],
  webhook: [
    { verb: 'delete', group: '', resource: 'pods', namespace: GAME_NS, name: 'gs-1' },
    { verb: 'update', group: '', resource: 'pods', namespace: GAME_NS, name: 'gs-1' },
    { verb: 'list', group: '', resource: 'pods' },
    {
      verb: 'create',
      group: '',
      resource: 'pods',
      subresource: 'eviction',
      namespace: GAME_NS,
      name: 'gs-1',
    },
    { verb: 'patch', group: '', resource: 'nodes', name: 'ip-10-0-0-1' },
    { verb: 'get', group: '', resource: 'secrets', namespace: NAMESPACE, name: 'fleetiq-agones-redis' },
    {
      verb: 'get',
      group: '',
      resource: 'secrets',
      namespace: 'kube-system',
      name: 'fleetiq-agones-webhook-tls',
    },
    { verb: 'create', group: '', resource: 'secrets', namespace: GAME_NS },
    { verb: 'list', group: '', resource: 'secrets', namespace: NAMESPACE },
    {
      verb: 'patch',
      group: 'admissionregistration.k8s.io',
      resource: 'mutatingwebhookconfigurations',
      name: 'agones-mutation-webhook',
    },
    { verb: 'patch', group: 'agones.dev', resource: 'gameservers', namespace: GAME_NS, name: 'gs-1' },
  ],
  reconciler: [
    { verb: 'update', group: '', resource: 'nodes', name: 'ip-10-0-0-1' },
    // Node Events go to "default" only.
    { verb: 'create', group: '', resource: 'events', namespace: NAMESPACE },
    { verb: 'create', group: '', resource: 'events', namespace: GAME_NS },
    { verb: 'patch', group: '', resource: 'events', namespace: 'default', name: 'ip-10-0-0-1.1' },
    { verb: 'delete', group: '', resource: 'nodes', name: 'ip-10-0-0-1' },
    { verb: 'create', group: '', resource: 'pods', namespace: GAME_NS },
    { verb: 'create', group: '', resource: 'pods', subresource: 'exec', namespace: GAME_NS, name: 'gs-1' },
    { verb: 'patch', group: '', resource: 'pods', subresource: 'status', namespace: GAME_NS, name: 'gs-1' },
    { verb: 'get', group: '', resource: 'secrets', namespace: NAMESPACE, name: 'fleetiq-agones-redis' },
    { verb: 'list', group: 'agones.dev', resource: 'gameservers' },
    { verb: 'delete', group: 'agones.dev', resource: 'gameservers', namespace: GAME_NS, name: 'gs-1' },
    { verb: 'update', group: 'agones.dev', resource: 'gameservers', namespace: GAME_NS, name: 'gs-1' },
    { verb: 'patch', group: 'agones.dev', resource: 'fleets', namespace: GAME_NS, name: 'fleet' },
  ],
};

const RESOURCES: Record<string, string> = {
  Role: 'roles',
  ClusterRole: 'clusterroles',
  RoleBinding: 'rolebindings',
  ClusterRoleBinding: 'clusterrolebindings',
};

/** The authorizer reads RBAC objects through this: the rendered ones, as if applied. */
function readerOf(objects: KubeObject[]): ObjectReader {
  const stored = rbacObjects(objects).map((o, i) => ({
    ...o,
    metadata: { ...o.metadata, resourceVersion: String(i + 1), uid: `uid-${i}` },
  }));
  const matching = (resource: string, namespace?: string) =>
    stored.filter(
      (o) =>
        RESOURCES[o.kind] === resource && (namespace === undefined || o.metadata.namespace === namespace),
    );
  return {
    list: (_group, resource, namespace) => matching(resource, namespace),
    get: (_group, resource, namespace, name) =>
      matching(resource, namespace).find((o) => o.metadata.name === name),
  };
}

function attrs(c: Omit<Call, 'why'>): ResourceAttributes {
  return {
    group: c.group,
    version: 'v1',
    resource: c.resource,
    ...(c.subresource ? { subresource: c.subresource } : {}),
    ...(c.namespace ? { namespace: c.namespace } : {}),
    ...(c.name ? { name: c.name } : {}),
  };
}

const describeCall = (c: Omit<Call, 'why'>) =>
  `${c.verb} ${c.group || 'core'}/${c.resource}${c.subresource ? `/${c.subresource}` : ''}${c.namespace ? ` in ${c.namespace}` : ''}${c.name ? ` named ${c.name}` : ''}`;

/** Every (verb, group, resource) a component's roles grant that none of its calls needs. */
function unneededGrants(objects: KubeObject[], component: Component, calls: Call[]): string[] {
  const out: string[] = [];
  const roles = rbacObjects(objects).filter(
    (o) =>
      (o.kind === 'Role' || o.kind === 'ClusterRole') &&
      o.metadata.name!.startsWith(`fleetiq-agones-${component}`),
  );
  for (const role of roles)
    for (const rule of role.rules)
      for (const group of rule.apiGroups)
        for (const resource of rule.resources)
          for (const verb of rule.verbs) {
            const needed = calls.some(
              (c) =>
                c.group === group &&
                c.verb === verb &&
                (c.subresource ? `${c.resource}/${c.subresource}` : c.resource) === resource &&
                (rule.resourceNames === undefined || rule.resourceNames.includes(c.name)),
            );
            if (!needed)
              out.push(`${role.kind} ${role.metadata.name}: ${verb} ${group || 'core'}/${resource}`);
          }
  return out;
}

describe('the least-privilege check itself', () => {
  it('flags a verb or a resource that no call needs (scope is checked by the denials)', async () => {
    const objects = structuredClone(await renderOverlay('base'));
    const webhook = objects.find(
      (o) => o.kind === 'ClusterRole' && o.metadata.name === 'fleetiq-agones-webhook',
    )!;
    webhook.rules[0].verbs.push('delete');
    webhook.rules.push({ apiGroups: [''], resources: ['configmaps'], verbs: ['get'] });
    const pubsub = objects.find((o) => o.kind === 'Role' && o.metadata.name === 'fleetiq-agones-pubsub')!;
    pubsub.rules[0].verbs.push('list');
    expect(unneededGrants(objects, 'webhook', NEEDS.webhook)).toEqual([
      'ClusterRole fleetiq-agones-webhook: delete core/pods',
      'ClusterRole fleetiq-agones-webhook: get core/configmaps',
    ]);
    expect(unneededGrants(objects, 'pubsub', NEEDS.pubsub)).toEqual([
      'Role fleetiq-agones-pubsub: list coordination.k8s.io/leases',
    ]);
  });
});

describe.each([
  ['base', false],
  ['cert-manager', true],
] as Array<['base' | 'cert-manager', boolean]>)('RBAC of %s', (overlay, externalCerts) => {
  let objects: KubeObject[];
  beforeAll(async () => {
    objects = await renderOverlay(overlay);
  });

  const needs = (component: Component) =>
    NEEDS[component].filter((c) => !(externalCerts && /certs\/ensure\.ts/.test(c.why)));

  it.each(['pubsub', 'webhook', 'reconciler'] as const)('allows every call %s makes', (component) => {
    const authorizer = createRbacAuthorizer(readerOf(objects));
    for (const call of needs(component)) {
      const decision = authorizer.authorize(componentUser(component), call.verb, attrs(call));
      expect({ call: describeCall(call), why: call.why, allowed: decision.allowed }).toEqual({
        call: describeCall(call),
        why: call.why,
        allowed: true,
      });
    }
    // The audit agrees: each rule of the component's roles allowed at least one of those calls.
    const roles = rbacObjects(objects)
      .filter(
        (o) =>
          (o.kind === 'Role' || o.kind === 'ClusterRole') &&
          o.metadata.name!.startsWith(`fleetiq-agones-${component}`),
      )
      .map((o) => o.metadata.name!);
    expect(roles.length).toBeGreaterThan(0);
    expect(authorizer.audit.unusedRules(roles)).toEqual([]);
  });

  it.each(['pubsub', 'webhook', 'reconciler'] as const)(
    'grants %s nothing its code does not call',
    (component) => {
      expect(unneededGrants(objects, component, needs(component))).toEqual([]);
    },
  );

  it.each(['pubsub', 'webhook', 'reconciler'] as const)(
    'denies %s what it has no business doing',
    (component) => {
      const authorizer = createRbacAuthorizer(readerOf(objects));
      const denied = [
        ...DENIED[component],
        // With cert-manager, the built-in certificate calls are denied too.
        ...(externalCerts && component === 'webhook'
          ? NEEDS.webhook.filter((c) => /certs\/ensure\.ts/.test(c.why))
          : []),
      ];
      for (const call of denied) {
        const decision = authorizer.authorize(componentUser(component), call.verb, attrs(call));
        expect({ call: describeCall(call), allowed: decision.allowed }).toEqual({
          call: describeCall(call),
          allowed: false,
        });
      }
    },
  );

  it('gives the default ServiceAccount of the namespace nothing', () => {
    const authorizer = createRbacAuthorizer(readerOf(objects));
    const user = {
      username: `system:serviceaccount:${NAMESPACE}:default`,
      groups: ['system:serviceaccounts', `system:serviceaccounts:${NAMESPACE}`, 'system:authenticated'],
    };
    for (const call of Object.values(NEEDS).flat()) {
      expect({
        call: describeCall(call),
        allowed: authorizer.authorize(user, call.verb, attrs(call)).allowed,
      }).toEqual({
        call: describeCall(call),
        allowed: false,
      });
    }
  });
});
