// Which webhooks a request goes to: rules (operations, groups, versions, resources with
// subresources, scope), namespaceSelector and objectSelector, with kube-apiserver's semantics
// (admission/plugin/webhook/{predicates,generic}). Pure functions of the request and the
// namespace's labels.

import { notFound, type ApiError } from '../errors.js';
import type { AdmissionAttributes } from '../types.js';
import type { RuleWithOperations } from './config.js';
import { isEmptySelector, selectorMatches, type LabelSelector } from './label-selector.js';

const isNamespaceResource = (a: AdmissionAttributes): boolean =>
  a.resource.group === '' && a.resource.version === 'v1' && a.resource.resource === 'namespaces';

/**
 * The request's namespace as admission sees it: for a Namespace object itself it is the
 * namespace's own name ("attr.GetNamespace() is set to the name of the namespace for requests of
 * the namespace object itself").
 */
export function admissionNamespace(a: AdmissionAttributes): string {
  if (a.resource.group === '' && a.resource.resource === 'namespaces') return a.namespace || a.name;
  return a.namespace ?? '';
}

const exactOrWildcard = (items: string[] | undefined, requested: string): boolean =>
  (items ?? []).some((i) => i === '*' || i === requested);

export function ruleMatches(rule: RuleWithOperations, a: AdmissionAttributes): boolean {
  const scope = rule.scope ?? '*';
  const ns = admissionNamespace(a);
  if (scope === 'Namespaced' && (isNamespaceResource(a) || ns === '')) return false;
  if (scope === 'Cluster' && !(isNamespaceResource(a) || ns === '')) return false;
  if (scope !== '*' && scope !== 'Namespaced' && scope !== 'Cluster') return false;
  if (!(rule.operations ?? []).some((op) => op === '*' || op === a.operation)) return false;
  if (!exactOrWildcard(rule.apiGroups, a.resource.group)) return false;
  if (!exactOrWildcard(rule.apiVersions, a.resource.version)) return false;
  const opSub = a.subResource ?? '';
  return (rule.resources ?? []).some((r) => {
    const slash = r.indexOf('/');
    const res = slash === -1 ? r : r.slice(0, slash);
    const sub = slash === -1 ? '' : r.slice(slash + 1);
    return (res === '*' || res === a.resource.resource) && (sub === '*' || sub === opSub);
  });
}

export function rulesMatch(rules: RuleWithOperations[] | undefined, a: AdmissionAttributes): boolean {
  return (Array.isArray(rules) ? rules : []).some(
    (r) => r !== null && typeof r === 'object' && ruleMatches(r, a),
  );
}

/** Labels of a stored namespace, or undefined when there is no such namespace. */
export type NamespaceLabelsLookup = (name: string) => Record<string, string> | undefined;

/**
 * namespaceSelector: cluster-scoped objects other than namespaces are never excluded; a Namespace
 * being created or updated is judged by its new labels; a namespace that does not exist is a 404
 * (kube's "for backwards compatibility, return a 404").
 */
export function namespaceSelectorMatches(
  selector: LabelSelector | undefined,
  a: AdmissionAttributes,
  lookup: NamespaceLabelsLookup,
): boolean | ApiError {
  const ns = admissionNamespace(a);
  if (ns === '' && !(a.resource.group === '' && a.resource.resource === 'namespaces')) return true;
  if (isEmptySelector(selector)) return true;
  let labels: Record<string, string> | undefined;
  if (
    a.resource.group === '' &&
    a.resource.resource === 'namespaces' &&
    !a.subResource &&
    (a.operation === 'CREATE' || a.operation === 'UPDATE')
  ) {
    labels = a.object?.metadata?.labels ?? {};
  } else {
    labels = lookup(ns);
    if (labels === undefined) return notFound('', 'namespaces', ns);
  }
  return selectorMatches(selector, labels);
}

/** objectSelector: matches when the new object's or the old object's labels match. */
export function objectSelectorMatches(selector: LabelSelector | undefined, a: AdmissionAttributes): boolean {
  if (isEmptySelector(selector)) return true;
  const matchesObject = (o: AdmissionAttributes['object']) =>
    o !== undefined && selectorMatches(selector, o.metadata?.labels);
  return matchesObject(a.object) || matchesObject(a.oldObject);
}

const EXEMPT_RESOURCES = new Set([
  'validatingwebhookconfigurations',
  'mutatingwebhookconfigurations',
  'validatingadmissionpolicies',
  'validatingadmissionpolicybindings',
  'mutatingadmissionpolicies',
  'mutatingadmissionpolicybindings',
]);

/** Webhooks are never called for the admission configuration objects themselves (so a broken webhook can be removed). */
export function isExemptConfigurationResource(a: AdmissionAttributes): boolean {
  return a.resource.group === 'admissionregistration.k8s.io' && EXEMPT_RESOURCES.has(a.resource.resource);
}
