import { describe, it, expect, beforeEach } from '@jest/globals';
import {
  createRbacAuthorizer,
  forbiddenError,
  forbiddenMessage,
  forbiddenNonResourceError,
  type RbacAuthorizer,
} from '../../../sandbox/kube/rbac.js';
import { ANONYMOUS_USER, serviceAccountUser } from '../../../sandbox/kube/authn.js';
import type { KubeObject, ResourceAttributes, UserInfo } from '../../../sandbox/kube/types.js';
import { PolicyReader } from './helpers/policy-reader.js';

const RBAC = 'rbac.authorization.k8s.io';
const rbacApi = `${RBAC}/v1`;

function clusterRole(name: string, rules: object[]): KubeObject {
  return { apiVersion: rbacApi, kind: 'ClusterRole', metadata: { name }, rules };
}
function role(namespace: string, name: string, rules: object[]): KubeObject {
  return { apiVersion: rbacApi, kind: 'Role', metadata: { namespace, name }, rules };
}
function clusterRoleBinding(name: string, roleName: string, subjects: object[]): KubeObject {
  return {
    apiVersion: rbacApi,
    kind: 'ClusterRoleBinding',
    metadata: { name },
    roleRef: { apiGroup: RBAC, kind: 'ClusterRole', name: roleName },
    subjects,
  };
}
function roleBinding(
  namespace: string,
  name: string,
  roleRef: { kind: 'Role' | 'ClusterRole'; name: string },
  subjects: object[],
): KubeObject {
  return {
    apiVersion: rbacApi,
    kind: 'RoleBinding',
    metadata: { namespace, name },
    roleRef: { apiGroup: RBAC, ...roleRef },
    subjects,
  };
}

const pods = (namespace: string, name?: string, subresource?: string): ResourceAttributes => ({
  group: '',
  version: 'v1',
  resource: 'pods',
  namespace,
  ...(name ? { name } : {}),
  ...(subresource ? { subresource } : {}),
});
const nodes = (name?: string): ResourceAttributes => ({
  group: '',
  version: 'v1',
  resource: 'nodes',
  ...(name ? { name } : {}),
});
const gameservers = (namespace: string, name?: string): ResourceAttributes => ({
  group: 'agones.dev',
  version: 'v1',
  resource: 'gameservers',
  namespace,
  ...(name ? { name } : {}),
});

const alice: UserInfo = { username: 'alice', groups: ['system:authenticated'] };
const webhookSa = serviceAccountUser('fleetiq', 'webhook');
const reconcilerSa = serviceAccountUser('fleetiq', 'reconciler');

describe('RBAC authorizer', () => {
  let reader: PolicyReader;
  let authz: RbacAuthorizer;
  const put = (resource: string, obj: KubeObject) => reader.put(RBAC, resource, obj);

  beforeEach(() => {
    reader = new PolicyReader();
    authz = createRbacAuthorizer(reader);
  });

  it('denies everything when nothing is bound, with the real sentence', () => {
    const d = authz.authorize(webhookSa, 'patch', pods('default', 'gs-1'));
    expect(d.allowed).toBe(false);
    expect(d.reason).toBe(
      'User "system:serviceaccount:fleetiq:webhook" cannot patch resource "pods" in API group "" in the namespace "default"',
    );
    expect(forbiddenMessage(pods('default', 'gs-1'), 'patch', d.reason)).toBe(
      'pods "gs-1" is forbidden: User "system:serviceaccount:fleetiq:webhook" cannot patch resource "pods" in API group "" in the namespace "default"',
    );
  });

  it('grants a ClusterRole bound by a ClusterRoleBinding in every namespace, only for its verbs', () => {
    put(
      'clusterroles',
      clusterRole('pod-reader', [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] }]),
    );
    put(
      'clusterrolebindings',
      clusterRoleBinding('alice-reads', 'pod-reader', [{ kind: 'User', name: 'alice' }]),
    );
    for (const ns of ['default', 'kube-system']) {
      const d = authz.authorize(alice, 'list', pods(ns));
      expect(d.allowed).toBe(true);
      expect(d.matched).toEqual({ binding: 'alice-reads', role: 'pod-reader', ruleIndex: 0 });
      expect(d.reason).toBe(
        'RBAC: allowed by ClusterRoleBinding "alice-reads" of ClusterRole "pod-reader" to User "alice"',
      );
    }
    expect(authz.authorize(alice, 'delete', pods('default', 'p')).allowed).toBe(false);
    // Another API group is another resource.
    expect(authz.authorize(alice, 'get', { ...pods('default', 'p'), group: 'metrics.k8s.io' }).allowed).toBe(
      false,
    );
    expect(authz.authorize({ username: 'bob', groups: [] }, 'get', pods('default', 'p')).allowed).toBe(false);
  });

  it('limits a Role bound by a RoleBinding to its namespace', () => {
    put(
      'roles',
      role('game', 'gs-editor', [
        { apiGroups: ['agones.dev'], resources: ['gameservers'], verbs: ['get', 'update'] },
      ]),
    );
    put(
      'rolebindings',
      roleBinding('game', 'alice-gs', { kind: 'Role', name: 'gs-editor' }, [{ kind: 'User', name: 'alice' }]),
    );
    expect(authz.authorize(alice, 'update', gameservers('game', 'gs-1')).allowed).toBe(true);
    const other = authz.authorize(alice, 'update', gameservers('other', 'gs-1'));
    expect(other.allowed).toBe(false);
    expect(forbiddenMessage(gameservers('other', 'gs-1'), 'update', other.reason)).toBe(
      'gameservers.agones.dev "gs-1" is forbidden: User "alice" cannot update resource "gameservers" in API group "agones.dev" in the namespace "other"',
    );
  });

  it('scopes a ClusterRole referenced by a RoleBinding to the binding namespace', () => {
    put('clusterroles', clusterRole('pod-admin', [{ apiGroups: [''], resources: ['pods'], verbs: ['*'] }]));
    put(
      'rolebindings',
      roleBinding('game', 'alice-pods', { kind: 'ClusterRole', name: 'pod-admin' }, [
        { kind: 'User', name: 'alice' },
      ]),
    );
    const d = authz.authorize(alice, 'delete', pods('game', 'p'));
    expect(d.allowed).toBe(true);
    expect(d.reason).toBe(
      'RBAC: allowed by RoleBinding "alice-pods/game" of ClusterRole "pod-admin" to User "alice"',
    );
    expect(authz.authorize(alice, 'delete', pods('default', 'p')).allowed).toBe(false);
    // Namespaced bindings never grant cluster-scoped resources.
    put('clusterroles', clusterRole('pod-admin', [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }]));
    expect(authz.authorize(alice, 'get', nodes('n1')).allowed).toBe(false);
  });

  it('matches subresources exactly, by */subresource, and by *', () => {
    put(
      'clusterroles',
      clusterRole('evictor', [{ apiGroups: [''], resources: ['pods/eviction'], verbs: ['create'] }]),
    );
    put(
      'clusterroles',
      clusterRole('status-writer', [{ apiGroups: ['*'], resources: ['*/status'], verbs: ['patch'] }]),
    );
    put(
      'clusterroles',
      clusterRole('everything-in-core', [{ apiGroups: [''], resources: ['*'], verbs: ['get'] }]),
    );
    put(
      'clusterrolebindings',
      clusterRoleBinding('r-evict', 'evictor', [
        { kind: 'ServiceAccount', name: 'reconciler', namespace: 'fleetiq' },
      ]),
    );
    put(
      'clusterrolebindings',
      clusterRoleBinding('r-status', 'status-writer', [
        { kind: 'ServiceAccount', name: 'reconciler', namespace: 'fleetiq' },
      ]),
    );
    put(
      'clusterrolebindings',
      clusterRoleBinding('r-get', 'everything-in-core', [
        { kind: 'ServiceAccount', name: 'reconciler', namespace: 'fleetiq' },
      ]),
    );

    expect(authz.authorize(reconcilerSa, 'create', pods('game', 'gs-1', 'eviction')).allowed).toBe(true);
    // pods/eviction does not grant pods, nor pods a subresource.
    const createPod = authz.authorize(reconcilerSa, 'create', pods('game', 'gs-1'));
    expect(createPod.allowed).toBe(false);
    expect(forbiddenMessage(pods('game', 'gs-1'), 'create', createPod.reason)).toBe(
      'pods is forbidden: User "system:serviceaccount:fleetiq:reconciler" cannot create resource "pods" in API group "" in the namespace "game"',
    );
    expect(authz.authorize(reconcilerSa, 'patch', nodes('n1')).allowed).toBe(false);
    expect(authz.authorize(reconcilerSa, 'patch', { ...nodes('n1'), subresource: 'status' }).allowed).toBe(
      true,
    );
    expect(
      authz.authorize(reconcilerSa, 'patch', { ...pods('game', 'p'), subresource: 'status' }).allowed,
    ).toBe(true);
    expect(
      authz.authorize(reconcilerSa, 'patch', { ...pods('game', 'p'), subresource: 'statusx' }).allowed,
    ).toBe(false);
    // '*' covers subresources too.
    expect(authz.authorize(reconcilerSa, 'get', pods('game', 'p', 'log')).allowed).toBe(true);

    const denied = authz.authorize(webhookSa, 'create', pods('default', 'x', 'eviction'));
    expect(denied.reason).toBe(
      'User "system:serviceaccount:fleetiq:webhook" cannot create resource "pods/eviction" in API group "" in the namespace "default"',
    );
    expect(forbiddenMessage(pods('default', 'x', 'eviction'), 'create', denied.reason)).toBe(
      'pods "x" is forbidden: User "system:serviceaccount:fleetiq:webhook" cannot create resource "pods/eviction" in API group "" in the namespace "default"',
    );
  });

  it('applies resourceNames only to requests that name an object', () => {
    put(
      'clusterroles',
      clusterRole('one-node', [
        {
          apiGroups: [''],
          resources: ['nodes'],
          resourceNames: ['n1'],
          verbs: ['get', 'list', 'patch', 'create'],
        },
      ]),
    );
    put(
      'clusterroles',
      clusterRole('evict-one', [
        { apiGroups: [''], resources: ['pods/eviction'], resourceNames: ['gs-1'], verbs: ['create'] },
      ]),
    );
    put('clusterrolebindings', clusterRoleBinding('a1', 'one-node', [{ kind: 'User', name: 'alice' }]));
    put('clusterrolebindings', clusterRoleBinding('a2', 'evict-one', [{ kind: 'User', name: 'alice' }]));
    expect(authz.authorize(alice, 'get', nodes('n1')).allowed).toBe(true);
    expect(authz.authorize(alice, 'patch', nodes('n1')).allowed).toBe(true);
    expect(authz.authorize(alice, 'get', nodes('n2')).allowed).toBe(false);
    expect(authz.authorize(alice, 'list', nodes()).allowed).toBe(false);
    // A list narrowed to one name by metadata.name is authorized with that name, as in kube.
    expect(authz.authorize(alice, 'list', nodes('n1')).allowed).toBe(true);
    // A plain create names nothing in its URL: resourceNames never grant it, whatever the body says.
    const create = authz.authorize(alice, 'create', nodes('n1'));
    expect(create.allowed).toBe(false);
    expect(forbiddenMessage(nodes('n1'), 'create', create.reason)).toBe(
      'nodes is forbidden: User "alice" cannot create resource "nodes" in API group "" at the cluster scope',
    );
    // A subresource create names its parent.
    expect(authz.authorize(alice, 'create', pods('game', 'gs-1', 'eviction')).allowed).toBe(true);
    expect(authz.authorize(alice, 'create', pods('game', 'gs-2', 'eviction')).allowed).toBe(false);
  });

  it('binds ServiceAccounts: namespace defaults to a RoleBinding’s, never to a ClusterRoleBinding’s', () => {
    put(
      'clusterroles',
      clusterRole('gs-patcher', [
        { apiGroups: ['agones.dev'], resources: ['gameservers'], verbs: ['patch'] },
      ]),
    );
    put(
      'rolebindings',
      roleBinding('fleetiq', 'local-sa', { kind: 'ClusterRole', name: 'gs-patcher' }, [
        { kind: 'ServiceAccount', name: 'webhook' },
      ]),
    );
    expect(authz.authorize(webhookSa, 'patch', gameservers('fleetiq', 'g')).allowed).toBe(true);
    // Same SA name in another namespace is another identity.
    expect(
      authz.authorize(serviceAccountUser('game', 'webhook'), 'patch', gameservers('fleetiq', 'g')).allowed,
    ).toBe(false);

    put(
      'clusterrolebindings',
      clusterRoleBinding('no-ns', 'gs-patcher', [{ kind: 'ServiceAccount', name: 'webhook' }]),
    );
    expect(authz.authorize(webhookSa, 'patch', gameservers('game', 'g')).allowed).toBe(false);
    put(
      'clusterrolebindings',
      clusterRoleBinding('no-ns', 'gs-patcher', [
        { kind: 'ServiceAccount', name: 'webhook', namespace: 'fleetiq' },
      ]),
    );
    expect(authz.authorize(webhookSa, 'patch', gameservers('game', 'g')).allowed).toBe(true);
    // A user named like the SA's username is the SA (that is how kube matches).
    expect(
      authz.authorize(
        { username: 'system:serviceaccount:fleetiq:webhook', groups: [] },
        'patch',
        gameservers('game', 'g'),
      ).allowed,
    ).toBe(true);
  });

  it('binds groups, including the ServiceAccount groups', () => {
    put(
      'clusterroles',
      clusterRole('node-reader', [{ apiGroups: [''], resources: ['nodes'], verbs: ['get'] }]),
    );
    put(
      'clusterrolebindings',
      clusterRoleBinding('fleetiq-sas', 'node-reader', [
        { kind: 'Group', apiGroup: RBAC, name: 'system:serviceaccounts:fleetiq' },
      ]),
    );
    const d = authz.authorize(reconcilerSa, 'get', nodes('n1'));
    expect(d.allowed).toBe(true);
    expect(d.reason).toContain('to Group "system:serviceaccounts:fleetiq"');
    expect(authz.authorize(serviceAccountUser('game', 'x'), 'get', nodes('n1')).allowed).toBe(false);
  });

  it('words cluster-scoped denials "at the cluster scope"', () => {
    const d = authz.authorize(reconcilerSa, 'patch', nodes('ip-10-0-0-1'));
    expect(d.reason).toBe(
      'User "system:serviceaccount:fleetiq:reconciler" cannot patch resource "nodes" in API group "" at the cluster scope',
    );
    const err = forbiddenError(nodes('ip-10-0-0-1'), 'patch', d.reason);
    expect(err.code).toBe(403);
    expect(err.toStatus()).toMatchObject({
      reason: 'Forbidden',
      message: `nodes "ip-10-0-0-1" is forbidden: ${d.reason}`,
      details: { name: 'ip-10-0-0-1', kind: 'nodes' },
    });
  });

  it('always allows system:masters', () => {
    const admin: UserInfo = {
      username: 'kubernetes-admin',
      groups: ['system:masters', 'system:authenticated'],
    };
    expect(authz.authorize(admin, 'deletecollection', nodes()).allowed).toBe(true);
    expect(authz.authorizeNonResource(admin, '/metrics', 'GET').allowed).toBe(true);
  });

  it('appends what kube says about bindings whose role does not exist', () => {
    put('clusterrolebindings', clusterRoleBinding('dangling', 'missing', [{ kind: 'User', name: 'alice' }]));
    put(
      'rolebindings',
      roleBinding('game', 'dangling-role', { kind: 'Role', name: 'gone' }, [{ kind: 'User', name: 'alice' }]),
    );
    expect(authz.authorize(alice, 'get', nodes('n')).reason).toBe(
      'User "alice" cannot get resource "nodes" in API group "" at the cluster scope: RBAC: clusterrole.rbac.authorization.k8s.io "missing" not found',
    );
    expect(authz.authorize(alice, 'get', pods('game', 'p')).reason).toBe(
      'User "alice" cannot get resource "pods" in API group "" in the namespace "game": RBAC: [clusterrole.rbac.authorization.k8s.io "missing" not found, role.rbac.authorization.k8s.io "gone" not found]',
    );
  });

  it('lets authenticated users read discovery, anonymous ones only public info, and evaluates nonResourceURLs', () => {
    for (const path of [
      '/api',
      '/api/v1',
      '/apis',
      '/apis/agones.dev/v1',
      '/version',
      '/openapi/v2',
      '/openapi/v3/apis/apps/v1',
    ]) {
      expect(authz.authorizeNonResource(alice, path, 'GET').allowed).toBe(true);
    }
    expect(authz.authorizeNonResource(alice, '/api', 'POST').allowed).toBe(false);
    expect(authz.authorizeNonResource(ANONYMOUS_USER, '/version', 'GET').allowed).toBe(true);
    const anon = authz.authorizeNonResource(ANONYMOUS_USER, '/apis', 'GET');
    expect(anon.allowed).toBe(false);
    expect(anon.reason).toBe('User "system:anonymous" cannot get path "/apis"');
    expect(forbiddenNonResourceError(anon.reason).toStatus()).toMatchObject({
      code: 403,
      reason: 'Forbidden',
      message: 'forbidden: User "system:anonymous" cannot get path "/apis"',
    });

    expect(authz.authorizeNonResource(alice, '/metrics', 'get').allowed).toBe(false);
    put(
      'clusterroles',
      clusterRole('metrics', [{ nonResourceURLs: ['/metrics', '/debug/*'], verbs: ['get'] }]),
    );
    put(
      'clusterrolebindings',
      clusterRoleBinding('alice-metrics', 'metrics', [{ kind: 'User', name: 'alice' }]),
    );
    expect(authz.authorizeNonResource(alice, '/metrics', 'get').allowed).toBe(true);
    expect(authz.authorizeNonResource(alice, '/debug/pprof/heap', 'get').allowed).toBe(true);
    expect(authz.authorizeNonResource(alice, '/metricsx', 'get').allowed).toBe(false);
    // nonResourceURLs rules grant no resource.
    expect(authz.authorize(alice, 'get', pods('default', 'p')).allowed).toBe(false);
  });

  it('sees RBAC changes on the next request (fingerprint cache)', () => {
    put('clusterroles', clusterRole('r', [{ apiGroups: [''], resources: ['pods'], verbs: ['get'] }]));
    put('clusterrolebindings', clusterRoleBinding('b', 'r', [{ kind: 'User', name: 'alice' }]));
    expect(authz.authorize(alice, 'get', pods('d', 'p')).allowed).toBe(true);
    put('clusterroles', clusterRole('r', [{ apiGroups: [''], resources: ['pods'], verbs: ['list'] }]));
    expect(authz.authorize(alice, 'get', pods('d', 'p')).allowed).toBe(false);
    reader.remove(RBAC, 'clusterrolebindings', undefined, 'b');
    expect(authz.authorize(alice, 'list', pods('d')).allowed).toBe(false);
  });

  it('with a change feed, reads the RBAC objects once and again only after a change', () => {
    let notify: () => void = () => {};
    const fed = createRbacAuthorizer(reader, { subscribe: (fn) => (notify = fn) });
    put('clusterroles', clusterRole('r', [{ apiGroups: [''], resources: ['pods'], verbs: ['get'] }]));
    put('clusterrolebindings', clusterRoleBinding('b', 'r', [{ kind: 'User', name: 'alice' }]));
    const before = reader.listCalls;
    for (let i = 0; i < 100; i++) expect(fed.authorize(alice, 'get', pods('d', `p${i}`)).allowed).toBe(true);
    expect(reader.listCalls - before).toBe(4);
    put('clusterroles', clusterRole('r', [{ apiGroups: [''], resources: ['pods'], verbs: ['list'] }]));
    notify();
    expect(fed.authorize(alice, 'get', pods('d', 'p')).allowed).toBe(false);
  });

  describe('audit', () => {
    beforeEach(() => {
      put(
        'clusterroles',
        clusterRole('reconciler', [
          { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'patch'] },
          { apiGroups: [''], resources: ['pods/eviction'], verbs: ['create'] },
          { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] },
          { apiGroups: [''], resources: ['nodes'], verbs: ['get'] },
        ]),
      );
      put(
        'clusterrolebindings',
        clusterRoleBinding('reconciler', 'reconciler', [
          { kind: 'ServiceAccount', name: 'reconciler', namespace: 'fleetiq' },
        ]),
      );
      put(
        'roles',
        role('fleetiq', 'leases', [
          { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'update'] },
        ]),
      );
      put(
        'rolebindings',
        roleBinding('fleetiq', 'leases', { kind: 'Role', name: 'leases' }, [
          { kind: 'ServiceAccount', name: 'reconciler' },
        ]),
      );
    });

    it('records each identity’s decisions with the binding, role and first matching rule', () => {
      authz.authorize(reconcilerSa, 'get', nodes('n1'));
      authz.authorize(reconcilerSa, 'get', nodes('n1'));
      authz.authorize(reconcilerSa, 'create', pods('game', 'gs-1', 'eviction'));
      authz.authorize(reconcilerSa, 'delete', pods('game', 'gs-1'));
      authz.authorize(webhookSa, 'get', nodes('n1'));
      const mine = authz.audit.entries(reconcilerSa.username);
      expect(mine).toEqual([
        {
          user: reconcilerSa.username,
          verb: 'get',
          group: '',
          resource: 'nodes',
          name: 'n1',
          allowed: true,
          via: 'rbac',
          matched: {
            bindingKind: 'ClusterRoleBinding',
            bindingName: 'reconciler',
            roleKind: 'ClusterRole',
            roleName: 'reconciler',
            ruleIndex: 0,
          },
          count: 2,
        },
        {
          user: reconcilerSa.username,
          verb: 'create',
          group: '',
          resource: 'pods/eviction',
          namespace: 'game',
          name: 'gs-1',
          allowed: true,
          via: 'rbac',
          matched: {
            bindingKind: 'ClusterRoleBinding',
            bindingName: 'reconciler',
            roleKind: 'ClusterRole',
            roleName: 'reconciler',
            ruleIndex: 1,
          },
          count: 1,
        },
        {
          user: reconcilerSa.username,
          verb: 'delete',
          group: '',
          resource: 'pods',
          namespace: 'game',
          name: 'gs-1',
          allowed: false,
          count: 1,
        },
      ]);
      expect(authz.audit.entries(webhookSa.username)).toEqual([
        {
          user: webhookSa.username,
          verb: 'get',
          group: '',
          resource: 'nodes',
          name: 'n1',
          allowed: false,
          count: 1,
        },
      ]);
    });

    it('lists the rules no request needed, and none once every rule was the one that allowed something', () => {
      authz.authorize(reconcilerSa, 'patch', nodes('n1'));
      const unused = authz.audit.unusedRules();
      expect(
        unused.map((r) => `${r.roleKind}:${r.roleNamespace ?? ''}/${r.roleName}#${r.ruleIndex}`),
      ).toEqual([
        'ClusterRole:/reconciler#1',
        'ClusterRole:/reconciler#2',
        // Shadowed by rule 0 for every request it could allow: the audit shows it is redundant.
        'ClusterRole:/reconciler#3',
        'Role:fleetiq/leases#0',
      ]);
      expect(unused[0]!.rule).toEqual({ apiGroups: [''], resources: ['pods/eviction'], verbs: ['create'] });

      authz.authorize(reconcilerSa, 'create', pods('game', 'gs-1', 'eviction'));
      authz.authorize(reconcilerSa, 'watch', pods('game'));
      authz.authorize(reconcilerSa, 'update', {
        group: 'coordination.k8s.io',
        version: 'v1',
        resource: 'leases',
        namespace: 'fleetiq',
        name: 'l',
      });
      expect(authz.audit.unusedRules(['leases'])).toEqual([]);
      expect(authz.audit.unusedRules(['fleetiq/leases', 'reconciler']).map((r) => r.ruleIndex)).toEqual([3]);
      const leaseUse = authz.audit.entries(reconcilerSa.username).find((e) => e.resource === 'leases');
      expect(leaseUse?.matched).toEqual({
        bindingKind: 'RoleBinding',
        bindingName: 'leases',
        bindingNamespace: 'fleetiq',
        roleKind: 'Role',
        roleName: 'leases',
        roleNamespace: 'fleetiq',
        ruleIndex: 0,
      });
    });

    it('credits ClusterRoleBindings before RoleBindings, bindings in name order', () => {
      put(
        'clusterroles',
        clusterRole('leases-too', [
          { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['*'] },
        ]),
      );
      put(
        'clusterrolebindings',
        clusterRoleBinding('z-leases', 'leases-too', [{ kind: 'Group', name: 'system:serviceaccounts' }]),
      );
      put(
        'clusterrolebindings',
        clusterRoleBinding('a-leases', 'leases-too', [
          { kind: 'Group', name: 'system:serviceaccounts:fleetiq' },
        ]),
      );
      const d = authz.authorize(reconcilerSa, 'get', {
        group: 'coordination.k8s.io',
        version: 'v1',
        resource: 'leases',
        namespace: 'fleetiq',
        name: 'l',
      });
      expect(d.matched).toEqual({ binding: 'a-leases', role: 'leases-too', ruleIndex: 0 });
      expect(authz.audit.unusedRules(['leases']).length).toBe(1);
    });

    it('records system:masters, discovery and non-resource decisions', () => {
      const admin: UserInfo = { username: 'admin', groups: ['system:masters'] };
      authz.authorize(admin, 'delete', nodes('n1'));
      authz.authorizeNonResource(alice, '/apis', 'GET');
      expect(authz.audit.entries('admin')).toEqual([
        {
          user: 'admin',
          verb: 'delete',
          group: '',
          resource: 'nodes',
          name: 'n1',
          allowed: true,
          via: 'system:masters',
          count: 1,
        },
      ]);
      expect(authz.audit.entries('alice')).toEqual([
        { user: 'alice', verb: 'get', path: '/apis', allowed: true, via: 'bootstrap', count: 1 },
      ]);
      authz.audit.clear();
      expect(authz.audit.entries()).toEqual([]);
    });
  });
});
