// MutatingWebhookConfiguration (admissionregistration.k8s.io/v1): its shape, the defaults
// kube-apiserver fills in when one is written, and the validation that rejects a bad one with 422
// (pkg/apis/admissionregistration/validation), worded as the real field errors are.

import { invalid, type ApiError, type FieldError } from '../errors.js';
import type { KubeObject } from '../types.js';
import { compileExpression, type MatchCondition } from './cel.js';
import { qualifiedNameErrors, validateLabelSelector, type LabelSelector } from './label-selector.js';

export const ADMISSION_GROUP = 'admissionregistration.k8s.io';
export const MUTATING_CONFIGS = 'mutatingwebhookconfigurations';

export interface RuleWithOperations {
  operations?: string[];
  apiGroups?: string[];
  apiVersions?: string[];
  resources?: string[];
  scope?: string;
}

export interface ServiceReference {
  namespace: string;
  name: string;
  path?: string;
  port?: number;
}

export interface WebhookClientConfig {
  url?: string;
  service?: ServiceReference;
  caBundle?: string;
}

export interface MutatingWebhook {
  name: string;
  clientConfig: WebhookClientConfig;
  rules?: RuleWithOperations[];
  failurePolicy?: string;
  matchPolicy?: string;
  namespaceSelector?: LabelSelector;
  objectSelector?: LabelSelector;
  sideEffects?: string;
  timeoutSeconds?: number;
  admissionReviewVersions?: string[];
  reinvocationPolicy?: string;
  matchConditions?: MatchCondition[];
}

/** The review versions we can speak, in kube's order of preference when a webhook lists several. */
export const ACCEPTED_REVIEW_VERSIONS = ['v1', 'v1beta1'];

/** A copy with kube's v1 defaults filled in (SetDefaults_MutatingWebhook, _Rule, _ServiceReference). */
export function defaultMutatingWebhookConfiguration(obj: KubeObject): KubeObject {
  const copy = structuredClone(obj);
  applyMutatingWebhookConfigurationDefaults(copy);
  return copy;
}

/** The same defaults, filled into `obj` in place (for a storage strategy's defaulting step). */
export function applyMutatingWebhookConfigurationDefaults(obj: KubeObject): void {
  if (Array.isArray(obj.webhooks)) {
    obj.webhooks = (obj.webhooks as MutatingWebhook[]).map((h) =>
      h !== null && typeof h === 'object' ? defaultWebhook(h) : h,
    );
  }
}

export function defaultWebhook(hook: MutatingWebhook): MutatingWebhook {
  const h: MutatingWebhook = { ...hook };
  h.failurePolicy ??= 'Fail';
  h.matchPolicy ??= 'Equivalent';
  h.namespaceSelector ??= {};
  h.objectSelector ??= {};
  h.timeoutSeconds ??= 10;
  h.reinvocationPolicy ??= 'Never';
  if (Array.isArray(h.rules)) {
    h.rules = h.rules.map((r) => (r !== null && typeof r === 'object' ? { ...r, scope: r.scope ?? '*' } : r));
  }
  if (h.clientConfig?.service && typeof h.clientConfig.service === 'object') {
    h.clientConfig = {
      ...h.clientConfig,
      service: { ...h.clientConfig.service, port: h.clientConfig.service.port ?? 443 },
    };
  }
  return h;
}

// --- field error wording (k8s.io/apimachinery/pkg/util/validation/field) ---

/** Go's %#v-ish rendering of a value in an "Invalid value: ..." message. */
function goValue(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return `[]string{${v.map((x) => JSON.stringify(x)).join(', ')}}`;
  if (v === undefined || v === null) return 'null';
  return String(v);
}
const required = (field: string, detail = ''): FieldError => ({
  type: 'FieldValueRequired',
  field,
  message: detail ? `Required value: ${detail}` : 'Required value',
});
const invalidValue = (field: string, value: unknown, detail: string): FieldError => ({
  type: 'FieldValueInvalid',
  field,
  message: `Invalid value: ${goValue(value)}: ${detail}`,
});
const notSupported = (field: string, value: unknown, supported: string[]): FieldError => ({
  type: 'FieldValueNotSupported',
  field,
  message: `Unsupported value: ${goValue(value)}: supported values: ${supported.map((s) => JSON.stringify(s)).join(', ')}`,
});
const duplicate = (field: string, value: unknown): FieldError => ({
  type: 'FieldValueDuplicate',
  field,
  message: `Duplicate value: ${goValue(value)}`,
});

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1123_SUBDOMAIN_MSG =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const DNS1035_LABEL_MSG =
  "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";

const isDns1123Subdomain = (s: string): boolean => s.length <= 253 && DNS1123_SUBDOMAIN.test(s);

function validateFullyQualifiedName(field: string, name: unknown): FieldError[] {
  if (typeof name !== 'string' || name.length === 0) return [required(field)];
  if (!isDns1123Subdomain(name)) return [invalidValue(field, name, DNS1123_SUBDOMAIN_MSG)];
  if (name.split('.').length < 3) {
    return [invalidValue(field, name, 'should be a domain with at least three segments separated by dots')];
  }
  return [];
}

const strings = (v: unknown): string[] => (Array.isArray(v) ? v.map((x) => String(x)) : []);

function validateRule(rule: RuleWithOperations, at: string): FieldError[] {
  const errs: FieldError[] = [];
  const ops = strings(rule.operations);
  if (ops.length === 0) errs.push(required(`${at}.operations`));
  if (ops.length > 1 && ops.includes('*')) {
    errs.push(invalidValue(`${at}.operations`, ops, "if '*' is present, must not specify other operations"));
  }
  ops.forEach((op, i) => {
    if (!['*', 'CONNECT', 'CREATE', 'DELETE', 'UPDATE'].includes(op)) {
      errs.push(notSupported(`${at}.operations[${i}]`, op, ['*', 'CONNECT', 'CREATE', 'DELETE', 'UPDATE']));
    }
  });
  const groups = strings(rule.apiGroups);
  if (groups.length === 0) errs.push(required(`${at}.apiGroups`));
  if (groups.length > 1 && groups.includes('*')) {
    errs.push(
      invalidValue(`${at}.apiGroups`, groups, "if '*' is present, must not specify other API groups"),
    );
  }
  const versions = strings(rule.apiVersions);
  if (versions.length === 0) errs.push(required(`${at}.apiVersions`));
  if (versions.length > 1 && versions.includes('*')) {
    errs.push(
      invalidValue(`${at}.apiVersions`, versions, "if '*' is present, must not specify other API versions"),
    );
  }
  versions.forEach((v, i) => {
    if (v.length === 0) errs.push(required(`${at}.apiVersions[${i}]`));
  });
  errs.push(...validateResources(strings(rule.resources), `${at}.resources`));
  if (rule.scope !== undefined && !['*', 'Cluster', 'Namespaced'].includes(rule.scope)) {
    errs.push(notSupported(`${at}.scope`, rule.scope, ['*', 'Cluster', 'Namespaced']));
  }
  return errs;
}

function validateResources(resources: string[], at: string): FieldError[] {
  const errs: FieldError[] = [];
  if (resources.length === 0) errs.push(required(at));
  const withWildcardSub = new Set<string>();
  const subWithWildcardRes = new Set<string>();
  let doubleWildcard = false;
  let singleWildcard = false;
  let withoutSubresource = false;
  resources.forEach((resSub, i) => {
    if (resSub === '') {
      errs.push(required(`${at}[${i}]`));
      return;
    }
    if (resSub === '*/*') doubleWildcard = true;
    if (resSub === '*') singleWildcard = true;
    const slash = resSub.indexOf('/');
    if (slash === -1) {
      withoutSubresource = resSub !== '*';
      return;
    }
    const res = resSub.slice(0, slash);
    const sub = resSub.slice(slash + 1);
    if (withWildcardSub.has(res)) {
      errs.push(invalidValue(`${at}[${i}]`, resSub, `if '${res}/*' is present, must not specify ${resSub}`));
    }
    if (subWithWildcardRes.has(sub)) {
      errs.push(invalidValue(`${at}[${i}]`, resSub, `if '*/${sub}' is present, must not specify ${resSub}`));
    }
    if (sub === '*') withWildcardSub.add(res);
    if (res === '*') subWithWildcardRes.add(sub);
  });
  if (resources.length > 1 && doubleWildcard) {
    errs.push(invalidValue(at, resources, "if '*/*' is present, must not specify other resources"));
  }
  if (singleWildcard && withoutSubresource) {
    errs.push(
      invalidValue(at, resources, "if '*' is present, must not specify other resources without subresources"),
    );
  }
  return errs;
}

function validateUrl(at: string, raw: string): FieldError[] {
  const form = '; desired format: https://host[/path]';
  let u: URL;
  try {
    u = new URL(raw);
  } catch (err) {
    return [required(at, `url must be a valid URL: ${(err as Error).message}${form}`)];
  }
  const errs: FieldError[] = [];
  if (u.protocol !== 'https:')
    errs.push(
      invalidValue(at, u.protocol.replace(/:$/, ''), `'https' is the only allowed URL scheme${form}`),
    );
  if (!u.host) errs.push(invalidValue(at, u.host, `host must be specified${form}`));
  if (u.username || u.password)
    errs.push(invalidValue(at, u.username, 'user information is not permitted in the URL'));
  if (u.hash) errs.push(invalidValue(at, u.hash.slice(1), 'fragments are not permitted in the URL'));
  if (u.search)
    errs.push(invalidValue(at, u.search.slice(1), 'query parameters are not permitted in the URL'));
  return errs;
}

function validateService(at: string, svc: ServiceReference): FieldError[] {
  const errs: FieldError[] = [];
  if (!svc.name) errs.push(required(`${at}.name`, 'service name is required'));
  if (!svc.namespace) errs.push(required(`${at}.namespace`, 'service namespace is required'));
  const port = svc.port ?? 443;
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    errs.push(invalidValue(`${at}.port`, port, 'port is not valid: must be between 1 and 65535, inclusive'));
  }
  const path = svc.path;
  if (path === undefined || path === '' || path === '/') return errs;
  if (path === '//') return [...errs, invalidValue(`${at}.path`, path, 'segment[0] may not be empty')];
  if (!path.startsWith('/')) errs.push(invalidValue(`${at}.path`, path, "must start with a '/'"));
  let toCheck = path.slice(1);
  if (toCheck.endsWith('/')) toCheck = toCheck.slice(0, -1);
  toCheck.split('/').forEach((step, i) => {
    if (step.length === 0) errs.push(invalidValue(`${at}.path`, path, `segment[${i}] may not be empty`));
    else if (!isDns1123Subdomain(step))
      errs.push(invalidValue(`${at}.path`, path, `segment[${i}]: ${DNS1123_SUBDOMAIN_MSG}`));
  });
  return errs;
}

function validateMatchConditions(conditions: unknown, at: string): FieldError[] {
  if (conditions === undefined || conditions === null) return [];
  const list = Array.isArray(conditions) ? (conditions as MatchCondition[]) : [];
  const errs: FieldError[] = [];
  if (list.length > 64) {
    errs.push({
      type: 'FieldValueTooMany',
      field: at,
      message: `Too many: ${list.length}: must have at most 64 items`,
    });
  }
  const names = new Set<string>();
  list.forEach((c, i) => {
    const expression = typeof c?.expression === 'string' ? c.expression.trim() : '';
    if (!expression) errs.push(required(`${at}[${i}].expression`));
    else {
      const compiled = compileExpression(expression);
      if (!compiled.ok) errs.push(invalidValue(`${at}[${i}].expression`, expression, compiled.error));
    }
    const name = typeof c?.name === 'string' ? c.name : '';
    if (!name) errs.push(required(`${at}[${i}].name`));
    else {
      for (const e of qualifiedNameErrors(name)) errs.push(invalidValue(`${at}[${i}].name`, name, e));
      if (names.has(name)) errs.push(duplicate(`${at}[${i}].name`, name));
      names.add(name);
    }
  });
  return errs;
}

function validateReviewVersions(versions: unknown, at: string): FieldError[] {
  const list = strings(versions);
  if (list.length === 0) return [required(at, `must specify one of ${ACCEPTED_REVIEW_VERSIONS.join(', ')}`)];
  const errs: FieldError[] = [];
  const seen = new Set<string>();
  let accepted = false;
  list.forEach((v, i) => {
    if (seen.has(v)) {
      errs.push(invalidValue(`${at}[${i}]`, v, 'duplicate version'));
      return;
    }
    seen.add(v);
    if (v.length > 63 || !DNS1035_LABEL.test(v)) errs.push(invalidValue(`${at}[${i}]`, v, DNS1035_LABEL_MSG));
    if (ACCEPTED_REVIEW_VERSIONS.includes(v)) accepted = true;
  });
  if (!accepted)
    errs.push(invalidValue(at, list, `must include at least one of ${ACCEPTED_REVIEW_VERSIONS.join(', ')}`));
  return errs;
}

function validateWebhook(hook: MutatingWebhook, at: string): FieldError[] {
  const errs: FieldError[] = [...validateFullyQualifiedName(`${at}.name`, hook.name)];
  (Array.isArray(hook.rules) ? hook.rules : []).forEach((r, i) =>
    errs.push(...validateRule(r ?? {}, `${at}.rules[${i}]`)),
  );
  if (!['Fail', 'Ignore'].includes(hook.failurePolicy!)) {
    errs.push(notSupported(`${at}.failurePolicy`, hook.failurePolicy, ['Fail', 'Ignore']));
  }
  if (!['Equivalent', 'Exact'].includes(hook.matchPolicy!)) {
    errs.push(notSupported(`${at}.matchPolicy`, hook.matchPolicy, ['Equivalent', 'Exact']));
  }
  if (hook.sideEffects === undefined || hook.sideEffects === null) {
    errs.push(required(`${at}.sideEffects`, 'must specify one of None, NoneOnDryRun'));
  } else if (!['None', 'NoneOnDryRun'].includes(hook.sideEffects)) {
    errs.push(notSupported(`${at}.sideEffects`, hook.sideEffects, ['None', 'NoneOnDryRun']));
  }
  const timeout = hook.timeoutSeconds!;
  if (!Number.isInteger(timeout) || timeout > 30 || timeout < 1) {
    errs.push(
      invalidValue(`${at}.timeoutSeconds`, timeout, 'the timeout value must be between 1 and 30 seconds'),
    );
  }
  errs.push(...validateLabelSelector(hook.namespaceSelector, `${at}.namespaceSelector`));
  errs.push(...validateLabelSelector(hook.objectSelector, `${at}.objectSelector`));
  if (!['IfNeeded', 'Never'].includes(hook.reinvocationPolicy!)) {
    errs.push(notSupported(`${at}.reinvocationPolicy`, hook.reinvocationPolicy, ['IfNeeded', 'Never']));
  }
  const cc: WebhookClientConfig = isObject(hook.clientConfig) ? hook.clientConfig : {};
  if ((cc.url == null) === (cc.service == null)) {
    errs.push(required(`${at}.clientConfig`, 'exactly one of url or service is required'));
  } else if (cc.url != null) {
    errs.push(...validateUrl(`${at}.clientConfig.url`, String(cc.url)));
  } else {
    errs.push(
      ...validateService(
        `${at}.clientConfig.service`,
        isObject(cc.service) ? cc.service : ({} as ServiceReference),
      ),
    );
  }
  if (cc.caBundle !== undefined && !isBase64(cc.caBundle)) {
    // The real API server fails to decode the JSON ([]byte is base64) before validation gets here.
    errs.push(invalidValue(`${at}.clientConfig.caBundle`, '<bytes>', 'must be base64-encoded PEM'));
  }
  errs.push(...validateMatchConditions(hook.matchConditions, `${at}.matchConditions`));
  return errs;
}

const isObject = (v: unknown): v is Record<string, any> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

export function isBase64(s: unknown): s is string {
  return typeof s === 'string' && s.length % 4 === 0 && /^[A-Za-z0-9+/]*={0,2}$/.test(s);
}

/**
 * The field errors kube-apiserver finds in this MutatingWebhookConfiguration (empty when valid),
 * for a caller that gathers field errors itself. Validates the defaulted object, as kube-apiserver
 * does (defaulting runs first). Object metadata (name format and the like) is the caller's
 * generic validation.
 */
export function mutatingWebhookConfigurationErrors(obj: KubeObject): FieldError[] {
  const defaulted = defaultMutatingWebhookConfiguration(obj);
  const errs: FieldError[] = [];
  const hooks: MutatingWebhook[] = Array.isArray(defaulted.webhooks) ? defaulted.webhooks : [];
  const names = new Set<string>();
  hooks.forEach((hook, i) => {
    errs.push(...validateWebhook(isObject(hook) ? hook : ({} as MutatingWebhook), `webhooks[${i}]`));
    errs.push(
      ...validateReviewVersions(hook?.admissionReviewVersions, `webhooks[${i}].admissionReviewVersions`),
    );
    if (typeof hook?.name === 'string' && hook.name.length > 0) {
      if (names.has(hook.name)) errs.push(duplicate(`webhooks[${i}].name`, hook.name));
      names.add(hook.name);
    }
  });
  return errs;
}

/** The 422 a real API server answers to writing this MutatingWebhookConfiguration, or undefined when it is valid. */
export function validateMutatingWebhookConfiguration(obj: KubeObject): ApiError | undefined {
  const errs = mutatingWebhookConfigurationErrors(obj);
  if (errs.length === 0) return undefined;
  return invalid(ADMISSION_GROUP, 'MutatingWebhookConfiguration', obj.metadata?.name ?? '', errs);
}
