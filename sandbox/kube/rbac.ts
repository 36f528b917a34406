// RBAC authorization of the emulated API server, evaluated from the stored
// rbac.authorization.k8s.io/v1 objects exactly as kube-apiserver's RBAC authorizer does, plus an
// audit of every decision: which identity asked for what, and which binding, role and rule allowed
// it. The audit is what later proves least privilege: a rule that no request ever needed is a
// rule the manifests should not grant.
//
// Evaluation order (as in kube's DefaultRuleResolver.VisitRulesFor): ClusterRoleBindings first,
// then the RoleBindings of the request's namespace; within each, bindings by name (the real lister
// order is unspecified, so we pick a stable one) and each role's rules in stored order. The first
// rule that allows the request is the one the audit credits.
//
// Caching: the compiled rule set is keyed on a fingerprint of the four RBAC lists (each object's
// namespace/name@resourceVersion), recomputed on every decision unless the caller supplies
// `subscribe`, a change feed for the four resources, in which case the fingerprint is skipped and
// the cache is dropped when the feed fires. Either way a changed Role is seen by the next request.

import { ApiError, forbidden, qualifiedResource } from './errors.js';
import { MASTERS_GROUP, AUTHENTICATED_GROUP, UNAUTHENTICATED_GROUP } from './authn.js';
import type {
  AuthorizationDecision,
  Authorizer,
  KubeObject,
  ObjectReader,
  ResourceAttributes,
  UserInfo,
  Verb,
} from './types.js';

const RBAC_GROUP = 'rbac.authorization.k8s.io';

export interface PolicyRule {
  verbs?: string[];
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

interface Subject {
  kind?: string;
  name?: string;
  namespace?: string;
  apiGroup?: string;
}

/** Which stored rule allowed a request (the audit's unit of "used"). */
export interface RbacMatch {
  bindingKind: 'ClusterRoleBinding' | 'RoleBinding';
  bindingName: string;
  bindingNamespace?: string;
  roleKind: 'ClusterRole' | 'Role';
  roleName: string;
  /** Set for a Role (a ClusterRole referenced from a RoleBinding has none). */
  roleNamespace?: string;
  ruleIndex: number;
}

/** One kind of decision for one identity, with how many times it was made. */
export interface RbacAuditEntry {
  user: string;
  verb: string;
  /** Resource requests: group, resource (`pods/eviction` with a subresource), namespace, name. */
  group?: string;
  resource?: string;
  namespace?: string;
  name?: string;
  /** Non-resource requests (discovery and the like). */
  path?: string;
  allowed: boolean;
  /** How it was allowed: an RBAC rule, membership of system:masters, or the built-in discovery policy. */
  via?: 'rbac' | 'system:masters' | 'bootstrap';
  matched?: RbacMatch;
  count: number;
}

export interface RbacRuleRef {
  roleKind: 'ClusterRole' | 'Role';
  roleName: string;
  roleNamespace?: string;
  ruleIndex: number;
  rule: PolicyRule;
}

export interface RbacAudit {
  /** Every distinct decision so far (optionally only one identity's), in first-seen order. */
  entries(user?: string): RbacAuditEntry[];
  /**
   * The rules of the stored Roles and ClusterRoles that never were the rule allowing a request.
   * `roleNames` narrows to those roles: a ClusterRole by name, a Role by `name` or `namespace/name`.
   */
  unusedRules(roleNames?: string[]): RbacRuleRef[];
  clear(): void;
}

export interface RbacAuthorizer extends Authorizer {
  /** Authorization of a request that is not for a resource (`/api`, `/version`, ...); verb is the lowercase HTTP method. */
  authorizeNonResource(user: UserInfo, path: string, verb: string): AuthorizationDecision;
  /** Drops the compiled rule set (for callers that know the RBAC objects changed). */
  invalidate(): void;
  readonly audit: RbacAudit;
}

export interface RbacAuthorizerOptions {
  /**
   * A change feed for Roles, ClusterRoles, RoleBindings and ClusterRoleBindings: called once with a
   * listener the caller invokes after any change to them. With it, decisions skip the per-request
   * fingerprint of the four lists.
   */
  subscribe?: (onChange: () => void) => void;
}

// ---------------------------------------------------------------------------------------------
// Rule matching (pure; mirrors k8s.io/kubernetes/pkg/apis/rbac/v1/evaluation_helpers.go)

export function verbMatches(rule: PolicyRule, verb: string): boolean {
  return (rule.verbs ?? []).some((v) => v === '*' || v === verb);
}

export function apiGroupMatches(rule: PolicyRule, group: string): boolean {
  return (rule.apiGroups ?? []).some((g) => g === '*' || g === group);
}

/** `combined` is `resource` or `resource/subresource`; `*` covers subresources too, `*\/sub` any resource's `sub`. */
export function resourceMatches(rule: PolicyRule, combined: string, subresource: string): boolean {
  for (const r of rule.resources ?? []) {
    if (r === '*' || r === combined) return true;
    if (subresource && r.length === subresource.length + 2 && r.startsWith('*/') && r.endsWith(subresource)) {
      return true;
    }
  }
  return false;
}

/** A rule with resourceNames never matches a request without a name (list, create, deletecollection). */
export function resourceNameMatches(rule: PolicyRule, name: string): boolean {
  const names = rule.resourceNames ?? [];
  return names.length === 0 || names.includes(name);
}

export function nonResourceURLMatches(rule: PolicyRule, path: string): boolean {
  for (const u of rule.nonResourceURLs ?? []) {
    if (u === '*' || u === path) return true;
    if (u.endsWith('*') && path.startsWith(u.replace(/\*+$/, ''))) return true;
  }
  return false;
}

/**
 * The name authorization sees. For create it is only the URL's: a create of a subresource
 * (`pods/x/eviction`) names its parent, a plain create names nothing (the name is in the body), so
 * resourceNames never grant a create — as kube's RequestInfo leaves Name empty there.
 */
export function authorizationName(verb: string, attrs: ResourceAttributes): string {
  if (verb === 'create' && !attrs.subresource) return '';
  return attrs.name ?? '';
}

export function resourceRuleAllows(rule: PolicyRule, verb: string, attrs: ResourceAttributes): boolean {
  const sub = attrs.subresource ?? '';
  const combined = sub ? `${attrs.resource}/${sub}` : attrs.resource;
  return (
    verbMatches(rule, verb) &&
    apiGroupMatches(rule, attrs.group) &&
    resourceMatches(rule, combined, sub) &&
    resourceNameMatches(rule, authorizationName(verb, attrs))
  );
}

export function nonResourceRuleAllows(rule: PolicyRule, verb: string, path: string): boolean {
  return verbMatches(rule, verb) && nonResourceURLMatches(rule, path);
}

// ---------------------------------------------------------------------------------------------
// The sentences of kube-apiserver's 403s (staging/src/k8s.io/apiserver/pkg/endpoints/handlers/responsewriters)

const q = (s: string): string => JSON.stringify(s);

/** `User "u" cannot patch resource "pods" in API group "" in the namespace "default"` (or `at the cluster scope`). */
export function denialSentence(user: UserInfo, verb: string, attrs: ResourceAttributes): string {
  const resource = attrs.subresource ? `${attrs.resource}/${attrs.subresource}` : attrs.resource;
  const where = attrs.namespace ? `in the namespace ${q(attrs.namespace)}` : 'at the cluster scope';
  return `User ${q(user.username)} cannot ${verb} resource ${q(resource)} in API group ${q(attrs.group)} ${where}`;
}

/** `User "u" cannot get path "/apis"`. */
export function nonResourceDenialSentence(user: UserInfo, verb: string, path: string): string {
  return `User ${q(user.username)} cannot ${verb} path ${q(path)}`;
}

/**
 * The whole 403 message for a denied resource request, given the decision's reason:
 * `pods "x" is forbidden: <reason>`, `gameservers.agones.dev is forbidden: <reason>` without a name.
 */
export function forbiddenMessage(attrs: ResourceAttributes, verb: Verb | string, reason: string): string {
  const name = authorizationName(verb, attrs);
  const what = qualifiedResource(attrs.group, attrs.resource);
  return name ? `${what} ${q(name)} is forbidden: ${reason}` : `${what} is forbidden: ${reason}`;
}

/** The 403 ApiError kube-apiserver returns for a denied resource request. */
export function forbiddenError(attrs: ResourceAttributes, verb: Verb | string, reason: string): ApiError {
  const name = authorizationName(verb, attrs);
  return forbidden(attrs.group, attrs.resource, name || undefined, reason);
}

/** The 403 for a denied non-resource request: `forbidden: User "u" cannot get path "/x"`. */
export function forbiddenNonResourceError(reason: string): ApiError {
  return new ApiError(403, 'Forbidden', `forbidden: ${reason}`, {});
}

// ---------------------------------------------------------------------------------------------
// Compilation of the stored objects into an index by subject

interface CompiledBinding {
  kind: 'ClusterRoleBinding' | 'RoleBinding';
  name: string;
  namespace?: string;
  subjects: Subject[];
  roleKind: 'ClusterRole' | 'Role';
  roleName: string;
  roleNamespace?: string;
  /** undefined when the role reference does not resolve; `error` says why, as kube words it. */
  rules?: PolicyRule[];
  error?: string;
}

interface CompiledPolicy {
  clusterBindings: CompiledBinding[];
  clusterIndex: Map<string, number[]>;
  namespaced: Map<string, { bindings: CompiledBinding[]; index: Map<string, number[]> }>;
  roles: KubeObject[];
  clusterRoles: KubeObject[];
}

const userKey = (name: string): string => `u\u0000${name}`;
const groupKey = (name: string): string => `g\u0000${name}`;
const serviceAccountUsername = (ns: string, name: string): string => `system:serviceaccount:${ns}:${name}`;

/** The index key a subject matches, or undefined when it can never match (kube's appliesToUser). */
function subjectKey(subject: Subject, bindingNamespace: string): string | undefined {
  switch (subject.kind) {
    case 'User':
      return subject.name ? userKey(subject.name) : undefined;
    case 'Group':
      return subject.name ? groupKey(subject.name) : undefined;
    case 'ServiceAccount': {
      // A RoleBinding's ServiceAccount subject defaults to the binding's namespace; a
      // ClusterRoleBinding's has no namespace to default to and then matches nobody.
      const ns = subject.namespace || bindingNamespace;
      return ns && subject.name ? userKey(serviceAccountUsername(ns, subject.name)) : undefined;
    }
    default:
      return undefined;
  }
}

function subjectApplies(user: UserInfo, subject: Subject, bindingNamespace: string): boolean {
  const key = subjectKey(subject, bindingNamespace);
  if (key === undefined) return false;
  return key.startsWith('u') ? key === userKey(user.username) : user.groups.includes(subject.name!);
}

function describeSubject(subject: Subject, bindingNamespace: string): string {
  if (subject.kind === 'ServiceAccount') {
    return `${subject.kind} ${q(`${subject.name}/${subject.namespace || bindingNamespace}`)}`;
  }
  return `${subject.kind} ${q(subject.name ?? '')}`;
}

const byName = (a: KubeObject, b: KubeObject): number =>
  (a.metadata.name ?? '') < (b.metadata.name ?? '')
    ? -1
    : (a.metadata.name ?? '') > (b.metadata.name ?? '')
      ? 1
      : 0;

function compile(
  roles: KubeObject[],
  clusterRoles: KubeObject[],
  roleBindings: KubeObject[],
  clusterRoleBindings: KubeObject[],
): CompiledPolicy {
  const clusterRoleByName = new Map(clusterRoles.map((r) => [r.metadata.name ?? '', r]));
  const roleByKey = new Map(roles.map((r) => [`${r.metadata.namespace ?? ''}/${r.metadata.name ?? ''}`, r]));

  const resolve = (binding: KubeObject, bindingNamespace: string): CompiledBinding => {
    const roleRef = (binding.roleRef ?? {}) as { kind?: string; name?: string };
    const roleName = roleRef.name ?? '';
    const base = {
      kind: (bindingNamespace ? 'RoleBinding' : 'ClusterRoleBinding') as CompiledBinding['kind'],
      name: binding.metadata.name ?? '',
      ...(bindingNamespace ? { namespace: bindingNamespace } : {}),
      subjects: Array.isArray(binding.subjects) ? (binding.subjects as Subject[]) : [],
      roleName,
    };
    if (roleRef.kind === 'ClusterRole') {
      const role = clusterRoleByName.get(roleName);
      return role
        ? { ...base, roleKind: 'ClusterRole', rules: rulesOf(role) }
        : { ...base, roleKind: 'ClusterRole', error: `clusterrole.${RBAC_GROUP} ${q(roleName)} not found` };
    }
    if (roleRef.kind === 'Role') {
      const role = roleByKey.get(`${bindingNamespace}/${roleName}`);
      const withNs = { ...base, roleKind: 'Role' as const, roleNamespace: bindingNamespace };
      return role
        ? { ...withNs, rules: rulesOf(role) }
        : { ...withNs, error: `role.${RBAC_GROUP} ${q(roleName)} not found` };
    }
    return {
      ...base,
      roleKind: 'ClusterRole',
      error: `unsupported role reference kind: ${q(roleRef.kind ?? '')}`,
    };
  };

  const indexBindings = (bindings: CompiledBinding[], bindingNamespace: string): Map<string, number[]> => {
    const index = new Map<string, number[]>();
    bindings.forEach((b, i) => {
      for (const s of b.subjects) {
        const key = subjectKey(s, bindingNamespace);
        if (key === undefined) continue;
        const list = index.get(key) ?? [];
        if (list[list.length - 1] !== i) list.push(i);
        index.set(key, list);
      }
    });
    return index;
  };

  const clusterBindings = [...clusterRoleBindings].sort(byName).map((b) => resolve(b, ''));
  const byNamespace = new Map<string, KubeObject[]>();
  for (const rb of roleBindings) {
    const ns = rb.metadata.namespace ?? '';
    if (!ns) continue;
    byNamespace.set(ns, [...(byNamespace.get(ns) ?? []), rb]);
  }
  const namespaced = new Map<string, { bindings: CompiledBinding[]; index: Map<string, number[]> }>();
  for (const [ns, list] of byNamespace) {
    const bindings = list.sort(byName).map((b) => resolve(b, ns));
    namespaced.set(ns, { bindings, index: indexBindings(bindings, ns) });
  }
  return {
    clusterBindings,
    clusterIndex: indexBindings(clusterBindings, ''),
    namespaced,
    roles,
    clusterRoles,
  };
}

function rulesOf(role: KubeObject): PolicyRule[] {
  return Array.isArray(role.rules) ? (role.rules as PolicyRule[]) : [];
}

/** Indexes (ascending, deduplicated) of the bindings one of whose subjects may be this user. */
function candidateBindings(index: Map<string, number[]>, user: UserInfo): number[] {
  const found = new Set<number>(index.get(userKey(user.username)) ?? []);
  for (const g of user.groups) for (const i of index.get(groupKey(g)) ?? []) found.add(i);
  return [...found].sort((a, b) => a - b);
}

// ---------------------------------------------------------------------------------------------
// Built-in policy: what kube-apiserver's bootstrap ClusterRoles system:discovery and
// system:public-info-viewer grant (bound to system:authenticated / everyone). Applied to
// non-resource requests when no stored rule allows them, so discovery works without seeding.

const DISCOVERY_URLS = [
  '/api',
  '/api/*',
  '/apis',
  '/apis/*',
  '/healthz',
  '/livez',
  '/openapi',
  '/openapi/*',
  '/readyz',
  '/version',
  '/version/',
];
const PUBLIC_INFO_URLS = ['/healthz', '/livez', '/readyz', '/version', '/version/'];

function bootstrapAllows(user: UserInfo, verb: string, path: string): string | undefined {
  if (verb !== 'get') return undefined;
  const authenticated = user.groups.includes(AUTHENTICATED_GROUP);
  if (authenticated && nonResourceURLMatches({ nonResourceURLs: DISCOVERY_URLS }, path))
    return 'system:discovery';
  if (
    (authenticated || user.groups.includes(UNAUTHENTICATED_GROUP)) &&
    nonResourceURLMatches({ nonResourceURLs: PUBLIC_INFO_URLS }, path)
  ) {
    return 'system:public-info-viewer';
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------

export function createRbacAuthorizer(
  reader: ObjectReader,
  options: RbacAuthorizerOptions = {},
): RbacAuthorizer {
  let cached: { fingerprint: string; policy: CompiledPolicy } | undefined;
  let dirty = true;
  const feed = options.subscribe !== undefined;
  options.subscribe?.(() => {
    dirty = true;
  });

  const policy = (): CompiledPolicy => {
    if (feed && !dirty && cached) return cached.policy;
    const roles = reader.list(RBAC_GROUP, 'roles');
    const clusterRoles = reader.list(RBAC_GROUP, 'clusterroles');
    const roleBindings = reader.list(RBAC_GROUP, 'rolebindings');
    const clusterRoleBindings = reader.list(RBAC_GROUP, 'clusterrolebindings');
    const fingerprint = feed
      ? ''
      : [roles, clusterRoles, roleBindings, clusterRoleBindings].map(fingerprintOf).join('|');
    if (!feed && cached && cached.fingerprint === fingerprint) return cached.policy;
    cached = { fingerprint, policy: compile(roles, clusterRoles, roleBindings, clusterRoleBindings) };
    dirty = false;
    return cached.policy;
  };

  const audit = new AuditLog(() => policy());

  const authorize = (
    user: UserInfo,
    verb: Verb | string,
    attrs: ResourceAttributes,
  ): AuthorizationDecision => {
    const record = {
      user: user.username,
      verb,
      group: attrs.group,
      resource: attrs.subresource ? `${attrs.resource}/${attrs.subresource}` : attrs.resource,
      ...(attrs.namespace ? { namespace: attrs.namespace } : {}),
      ...(authorizationName(verb, attrs) ? { name: authorizationName(verb, attrs) } : {}),
    };
    if (user.groups.includes(MASTERS_GROUP)) {
      audit.record({ ...record, allowed: true, via: 'system:masters' });
      return { allowed: true, reason: '' };
    }
    const found = visitRules(policy(), user, attrs.namespace ?? '', (rule) =>
      resourceRuleAllows(rule, verb, attrs),
    );
    if (found.match) {
      audit.record({ ...record, allowed: true, via: 'rbac', matched: found.match });
      return {
        allowed: true,
        reason: found.reason,
        matched: {
          binding: found.match.bindingName,
          role: found.match.roleName,
          ruleIndex: found.match.ruleIndex,
        },
      };
    }
    audit.record({ ...record, allowed: false });
    return { allowed: false, reason: withRbacErrors(denialSentence(user, verb, attrs), found.errors) };
  };

  const authorizeNonResource = (user: UserInfo, path: string, verb: string): AuthorizationDecision => {
    const v = verb.toLowerCase();
    const record = { user: user.username, verb: v, path };
    if (user.groups.includes(MASTERS_GROUP)) {
      audit.record({ ...record, allowed: true, via: 'system:masters' });
      return { allowed: true, reason: '' };
    }
    // Non-resource rules only come from ClusterRoles bound cluster-wide: no namespace here.
    const found = visitRules(policy(), user, '', (rule) => nonResourceRuleAllows(rule, v, path));
    if (found.match) {
      audit.record({ ...record, allowed: true, via: 'rbac', matched: found.match });
      return {
        allowed: true,
        reason: found.reason,
        matched: {
          binding: found.match.bindingName,
          role: found.match.roleName,
          ruleIndex: found.match.ruleIndex,
        },
      };
    }
    const bootstrapRole = bootstrapAllows(user, v, path);
    if (bootstrapRole) {
      audit.record({ ...record, allowed: true, via: 'bootstrap' });
      return {
        allowed: true,
        reason: `RBAC: allowed by ClusterRoleBinding ${q(bootstrapRole)} of ClusterRole ${q(bootstrapRole)}`,
        matched: { binding: bootstrapRole, role: bootstrapRole, ruleIndex: 0 },
      };
    }
    audit.record({ ...record, allowed: false });
    return { allowed: false, reason: withRbacErrors(nonResourceDenialSentence(user, v, path), found.errors) };
  };

  return {
    authorize,
    authorizeNonResource,
    invalidate: () => {
      dirty = true;
      cached = undefined;
    },
    audit,
  };
}

/** kube appends what went wrong resolving a binding's role: `...: RBAC: clusterrole... "x" not found`. */
function withRbacErrors(sentence: string, errors: string[]): string {
  if (errors.length === 0) return sentence;
  return `${sentence}: RBAC: ${errors.length === 1 ? errors[0] : `[${errors.join(', ')}]`}`;
}

function fingerprintOf(list: KubeObject[]): string {
  let s = `${list.length}`;
  for (const o of list) {
    const rv = o.metadata.resourceVersion;
    s += `;${o.metadata.namespace ?? ''}/${o.metadata.name ?? ''}@${rv ?? JSON.stringify(o)}`;
  }
  return s;
}

interface VisitResult {
  match?: RbacMatch;
  reason: string;
  errors: string[];
}

function visitRules(
  policy: CompiledPolicy,
  user: UserInfo,
  namespace: string,
  allows: (rule: PolicyRule) => boolean,
): VisitResult {
  const errors: string[] = [];
  const scan = (bindings: CompiledBinding[], index: Map<string, number[]>, bindingNamespace: string) => {
    for (const i of candidateBindings(index, user)) {
      const b = bindings[i]!;
      const subject = b.subjects.find((s) => subjectApplies(user, s, bindingNamespace));
      if (!subject) continue;
      if (!b.rules) {
        errors.push(b.error ?? 'unresolvable role reference');
        continue;
      }
      const ruleIndex = b.rules.findIndex(allows);
      if (ruleIndex === -1) continue;
      const bindingLabel = b.kind === 'RoleBinding' ? `${b.name}/${b.namespace}` : b.name;
      return {
        match: {
          bindingKind: b.kind,
          bindingName: b.name,
          ...(b.namespace ? { bindingNamespace: b.namespace } : {}),
          roleKind: b.roleKind,
          roleName: b.roleName,
          ...(b.roleNamespace ? { roleNamespace: b.roleNamespace } : {}),
          ruleIndex,
        },
        reason: `RBAC: allowed by ${b.kind} ${q(bindingLabel)} of ${b.roleKind} ${q(b.roleName)} to ${describeSubject(subject, bindingNamespace)}`,
        errors,
      } satisfies VisitResult;
    }
    return undefined;
  };
  const cluster = scan(policy.clusterBindings, policy.clusterIndex, '');
  if (cluster) return cluster;
  if (namespace) {
    const ns = policy.namespaced.get(namespace);
    const local = ns && scan(ns.bindings, ns.index, namespace);
    if (local) return local;
  }
  return { reason: '', errors };
}

// ---------------------------------------------------------------------------------------------

type AuditRecord = Omit<RbacAuditEntry, 'count'>;

const ruleKey = (kind: string, namespace: string | undefined, name: string, index: number): string =>
  `${kind}\u0000${namespace ?? ''}\u0000${name}\u0000${index}`;

/**
 * Decisions aggregated by (identity, verb, resource, namespace, name, outcome, rule): bounded by
 * the distinct requests a run makes rather than by their number, so a benchmark can keep it on.
 */
class AuditLog implements RbacAudit {
  private readonly byKey = new Map<string, RbacAuditEntry>();
  private readonly used = new Set<string>();

  constructor(private readonly currentPolicy: () => CompiledPolicy) {}

  record(entry: AuditRecord): void {
    const m = entry.matched;
    const key = JSON.stringify([
      entry.user,
      entry.verb,
      entry.group,
      entry.resource,
      entry.namespace,
      entry.name,
      entry.path,
      entry.allowed,
      entry.via,
      m && [
        m.bindingKind,
        m.bindingNamespace,
        m.bindingName,
        m.roleKind,
        m.roleNamespace,
        m.roleName,
        m.ruleIndex,
      ],
    ]);
    const existing = this.byKey.get(key);
    if (existing) {
      existing.count++;
      return;
    }
    this.byKey.set(key, { ...entry, count: 1 });
    if (m) this.used.add(ruleKey(m.roleKind, m.roleNamespace, m.roleName, m.ruleIndex));
  }

  entries(user?: string): RbacAuditEntry[] {
    const all = [...this.byKey.values()].map((e) => ({ ...e }));
    return user === undefined ? all : all.filter((e) => e.user === user);
  }

  unusedRules(roleNames?: string[]): RbacRuleRef[] {
    const policy = this.currentPolicy();
    const wanted = roleNames && new Set(roleNames);
    const out: RbacRuleRef[] = [];
    const consider = (role: KubeObject, kind: 'ClusterRole' | 'Role') => {
      const name = role.metadata.name ?? '';
      const namespace = kind === 'Role' ? role.metadata.namespace : undefined;
      if (wanted && !wanted.has(name) && !(namespace && wanted.has(`${namespace}/${name}`))) return;
      rulesOf(role).forEach((rule, ruleIndex) => {
        if (this.used.has(ruleKey(kind, namespace, name, ruleIndex))) return;
        out.push({
          roleKind: kind,
          roleName: name,
          ...(namespace ? { roleNamespace: namespace } : {}),
          ruleIndex,
          rule,
        });
      });
    };
    [...policy.clusterRoles].sort(byName).forEach((r) => consider(r, 'ClusterRole'));
    [...policy.roles].sort(byName).forEach((r) => consider(r, 'Role'));
    return out;
  }

  clear(): void {
    this.byKey.clear();
    this.used.clear();
  }
}
