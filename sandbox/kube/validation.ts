// Validation that a real API server applies and clients trip over: names, labels, annotations,
// finalizers, owner references, pods (incl. the update restrictions), node taints, tolerations,
// PDBs, events, immutable config maps and workload selectors. Pure functions returning field errors.
import type { FieldError } from './errors.js';
import { jsonEqual } from './json.js';
import {
  dns1035LabelErrors,
  dns1123LabelErrors,
  dns1123SubdomainErrors,
  labelValueErrors,
  pathSegmentNameErrors,
  qualifiedNameErrors,
  quote,
} from './names.js';
import type { ResourceType } from './resources.js';
import type { KubeObject } from './types.js';

const invalidValue = (field: string, value: unknown, detail: string): FieldError => ({
  type: 'FieldValueInvalid',
  field,
  message: `Invalid value: ${quote(value)}: ${detail}`,
});
const required = (field: string, detail?: string): FieldError => ({
  type: 'FieldValueRequired',
  field,
  message: detail ? `Required value: ${detail}` : 'Required value',
});
const forbidden = (field: string, detail: string): FieldError => ({
  type: 'FieldValueForbidden',
  field,
  message: `Forbidden: ${detail}`,
});
const notSupported = (field: string, value: unknown, supported: string[]): FieldError => ({
  type: 'FieldValueNotSupported',
  field,
  message: `Unsupported value: ${quote(value)}: supported values: ${supported.map((s) => `"${s}"`).join(', ')}`,
});
const duplicate = (field: string, value: unknown, detail?: string): FieldError => ({
  type: 'FieldValueDuplicate',
  field,
  message: `Duplicate value: ${quote(value)}${detail ? `: ${detail}` : ''}`,
});
const tooLong = (field: string, max: number): FieldError => ({
  type: 'FieldValueTooLong',
  field,
  message: `Too long: must have at most ${max} bytes`,
});

const isMap = (v: unknown): v is Record<string, any> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);
const deepEqual = jsonEqual;

export function nameErrors(rule: ResourceType['nameRule'], name: string): string[] {
  switch (rule) {
    case 'label':
      return dns1123LabelErrors(name);
    case 'dns1035':
      return dns1035LabelErrors(name);
    case 'path':
      return pathSegmentNameErrors(name);
    default:
      return dns1123SubdomainErrors(name);
  }
}

function validateLabels(labels: unknown, field: string): FieldError[] {
  if (labels === undefined || labels === null) return [];
  if (!isMap(labels)) return [invalidValue(field, labels, 'must be a map of string keys to string values')];
  const errs: FieldError[] = [];
  for (const [k, v] of Object.entries(labels)) {
    for (const e of qualifiedNameErrors(k)) errs.push(invalidValue(field, k, e));
    if (typeof v !== 'string') errs.push(invalidValue(field, v, 'label values must be strings'));
    else for (const e of labelValueErrors(v)) errs.push(invalidValue(field, v, e));
  }
  return errs;
}

function validateAnnotations(annotations: unknown, field: string): FieldError[] {
  if (annotations === undefined || annotations === null) return [];
  if (!isMap(annotations))
    return [invalidValue(field, annotations, 'must be a map of string keys to string values')];
  const errs: FieldError[] = [];
  let size = 0;
  for (const [k, v] of Object.entries(annotations)) {
    for (const e of qualifiedNameErrors(k.toLowerCase())) errs.push(invalidValue(field, k, e));
    if (typeof v !== 'string') errs.push(invalidValue(field, v, 'annotation values must be strings'));
    size += k.length + String(v).length;
  }
  if (size > 256 * 1024) errs.push(tooLong(field, 256 * 1024));
  return errs;
}

const STANDARD_FINALIZERS = new Set(['kubernetes', 'orphan', 'foregroundDeletion']);

function validateFinalizers(finalizers: unknown, builtIn: boolean): FieldError[] {
  if (finalizers === undefined || finalizers === null) return [];
  if (!Array.isArray(finalizers))
    return [invalidValue('metadata.finalizers', finalizers, 'must be a list of strings')];
  const errs: FieldError[] = [];
  finalizers.forEach((f, i) => {
    const field = `metadata.finalizers[${i}]`;
    if (typeof f !== 'string') {
      errs.push(invalidValue(field, f, 'must be a string'));
      return;
    }
    for (const e of qualifiedNameErrors(f)) errs.push(invalidValue(field, f, e));
    if (builtIn && !f.includes('/') && !STANDARD_FINALIZERS.has(f))
      errs.push(
        invalidValue(field, f, 'name is neither a standard finalizer name nor is it fully qualified'),
      );
  });
  return errs;
}

function validateOwnerReferences(refs: unknown): FieldError[] {
  if (refs === undefined || refs === null) return [];
  if (!Array.isArray(refs)) return [invalidValue('metadata.ownerReferences', refs, 'must be a list')];
  const errs: FieldError[] = [];
  const controllers: string[] = [];
  refs.forEach((r, i) => {
    const f = `metadata.ownerReferences[${i}]`;
    if (!isMap(r)) {
      errs.push(invalidValue(f, r, 'must be an object'));
      return;
    }
    if (!r.apiVersion)
      errs.push(invalidValue(`${f}.apiVersion`, r.apiVersion ?? '', 'version must not be empty'));
    if (!r.kind) errs.push(invalidValue(`${f}.kind`, r.kind ?? '', 'kind must not be empty'));
    if (!r.name) errs.push(invalidValue(`${f}.name`, r.name ?? '', 'name must not be empty'));
    if (!r.uid) errs.push(invalidValue(`${f}.uid`, r.uid ?? '', 'uid must not be empty'));
    if (r.controller === true) controllers.push(`${r.kind}/${r.name}`);
  });
  if (controllers.length > 1)
    errs.push(
      invalidValue(
        'metadata.ownerReferences',
        refs,
        `Only one reference can have Controller set to true. Found "true" in references for ${controllers.join(' and ')}`,
      ),
    );
  return errs;
}

/** ObjectMeta rules shared by every type. */
export function validateObjectMeta(rt: ResourceType, obj: KubeObject): FieldError[] {
  const m = obj.metadata ?? {};
  const errs: FieldError[] = [];
  if (!m.name) errs.push(required('metadata.name', 'name or generateName is required'));
  else if (typeof m.name !== 'string') errs.push(invalidValue('metadata.name', m.name, 'must be a string'));
  else for (const e of nameErrors(rt.nameRule, m.name)) errs.push(invalidValue('metadata.name', m.name, e));
  if (rt.namespaced && !m.namespace) errs.push(required('metadata.namespace'));
  errs.push(...validateLabels(m.labels, 'metadata.labels'));
  errs.push(...validateAnnotations(m.annotations, 'metadata.annotations'));
  errs.push(...validateFinalizers(m.finalizers, !rt.custom));
  errs.push(...validateOwnerReferences(m.ownerReferences));
  return errs;
}

// ---------- tolerations and taints ----------

const EFFECTS = ['NoSchedule', 'PreferNoSchedule', 'NoExecute'];

export function validateTolerations(tolerations: unknown, field: string): FieldError[] {
  if (tolerations === undefined || tolerations === null) return [];
  if (!Array.isArray(tolerations)) return [invalidValue(field, tolerations, 'must be a list')];
  const errs: FieldError[] = [];
  tolerations.forEach((t: any, i) => {
    const f = `${field}[${i}]`;
    if (!isMap(t)) {
      errs.push(invalidValue(f, t, 'must be an object'));
      return;
    }
    if (t.key) for (const e of qualifiedNameErrors(t.key)) errs.push(invalidValue(`${f}.key`, t.key, e));
    const op = t.operator ?? '';
    if (!t.key && op !== 'Exists')
      errs.push(
        invalidValue(
          `${f}.operator`,
          op,
          'operator must be Exists when `key` is empty, which means "match all values and all keys"',
        ),
      );
    if (t.tolerationSeconds !== undefined && t.tolerationSeconds !== null && t.effect !== 'NoExecute')
      errs.push(
        invalidValue(
          `${f}.effect`,
          t.effect ?? '',
          "effect must be 'NoExecute' when `tolerationSeconds` is set",
        ),
      );
    if (op === '' || op === 'Equal') {
      for (const e of labelValueErrors(String(t.value ?? '')))
        errs.push(invalidValue(`${f}.value`, t.value, e));
    } else if (op === 'Exists') {
      if (t.value)
        errs.push(invalidValue(`${f}.operator`, t.value, "value must be empty when `operator` is 'Exists'"));
    } else {
      errs.push(notSupported(`${f}.operator`, op, ['Equal', 'Exists']));
    }
    if (t.effect && !EFFECTS.includes(t.effect)) errs.push(notSupported(`${f}.effect`, t.effect, EFFECTS));
  });
  return errs;
}

const NODE_TAINTS_PATH = 'metadata.taints';

export function validateTaints(taints: unknown, field: string): FieldError[] {
  if (taints === undefined || taints === null) return [];
  if (!Array.isArray(taints)) return [invalidValue(field, taints, 'must be a list')];
  const errs: FieldError[] = [];
  const seen = new Set<string>();
  taints.forEach((t: any, i) => {
    const f = `${field}[${i}]`;
    if (!isMap(t)) {
      errs.push(invalidValue(f, t, 'must be an object'));
      return;
    }
    if (!t.key) errs.push(required(`${f}.key`));
    else for (const e of qualifiedNameErrors(t.key)) errs.push(invalidValue(`${f}.key`, t.key, e));
    for (const e of labelValueErrors(String(t.value ?? '')))
      errs.push(invalidValue(`${f}.value`, t.value, e));
    if (!t.effect) errs.push(required(`${f}.effect`));
    else if (!EFFECTS.includes(t.effect)) errs.push(notSupported(`${f}.effect`, t.effect, EFFECTS));
    const id = `${t.key}\u0000${t.effect}`;
    if (seen.has(id))
      errs.push(
        duplicate(
          f,
          // The internal Go type has no JSON tags: its field names are capitalised, all present.
          { Key: t.key, Value: t.value ?? '', Effect: t.effect, TimeAdded: t.timeAdded ?? null },
          'taints must be unique by key and effect pair',
        ),
      );
    seen.add(id);
  });
  return errs;
}

// ---------- pods ----------

const RESTART_POLICIES = ['Always', 'OnFailure', 'Never'];

function validateContainers(list: unknown, field: string, requireOne: boolean): FieldError[] {
  if (list === undefined || list === null || (Array.isArray(list) && list.length === 0))
    return requireOne ? [required(field)] : [];
  if (!Array.isArray(list)) return [invalidValue(field, list, 'must be a list')];
  const errs: FieldError[] = [];
  const names = new Set<string>();
  list.forEach((c: any, i) => {
    const f = `${field}[${i}]`;
    if (!isMap(c)) {
      errs.push(invalidValue(f, c, 'must be an object'));
      return;
    }
    if (!c.name) errs.push(required(`${f}.name`));
    else {
      for (const e of dns1123LabelErrors(c.name)) errs.push(invalidValue(`${f}.name`, c.name, e));
      if (names.has(c.name)) errs.push(duplicate(`${f}.name`, c.name));
      names.add(c.name);
    }
    if (!c.image) errs.push(required(`${f}.image`));
  });
  return errs;
}

export function validatePodSpec(spec: any, field = 'spec'): FieldError[] {
  if (!isMap(spec)) return [required(field)];
  const errs: FieldError[] = [];
  errs.push(...validateContainers(spec.containers, `${field}.containers`, true));
  errs.push(...validateContainers(spec.initContainers, `${field}.initContainers`, false));
  if (spec.restartPolicy !== undefined && !RESTART_POLICIES.includes(spec.restartPolicy))
    errs.push(notSupported(`${field}.restartPolicy`, spec.restartPolicy, RESTART_POLICIES));
  if (spec.nodeName)
    for (const e of dns1123SubdomainErrors(spec.nodeName))
      errs.push(invalidValue(`${field}.nodeName`, spec.nodeName, e));
  errs.push(...validateTolerations(spec.tolerations, `${field}.tolerations`));
  return errs;
}

const POD_UPDATE_FORBIDDEN =
  'pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)';

/** Paths (dotted) at which two JSON values differ, for the diff under the forbidden-update message. */
function diffPaths(a: unknown, b: unknown, prefix: string, out: string[]): void {
  if (deepEqual(a, b)) return;
  if (isMap(a) && isMap(b)) {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)]))
      diffPaths(a[k], b[k], `${prefix}.${k}`, out);
    return;
  }
  if (Array.isArray(a) && Array.isArray(b) && a.length === b.length) {
    a.forEach((x, i) => diffPaths(x, b[i], `${prefix}[${i}]`, out));
    return;
  }
  out.push(`${prefix}: ${JSON.stringify(a) ?? 'null'} -> ${JSON.stringify(b) ?? 'null'}`);
}

/** The real validateOnlyAddedTolerations: every old toleration must still be there (tolerationSeconds aside). */
function validateOnlyAddedTolerations(newT: any[], oldT: any[], field: string): FieldError[] {
  for (const old of oldT) {
    const found = newT.some((n) => deepEqual({ ...old, tolerationSeconds: n?.tolerationSeconds }, n));
    if (!found)
      return [forbidden(field, 'existing toleration can not be modified except its tolerationSeconds')];
  }
  return validateTolerations(newT, field);
}

export function validatePodUpdate(pod: KubeObject, old: KubeObject): FieldError[] {
  const errs: FieldError[] = [];
  const newSpec = pod.spec ?? {};
  const oldSpec = old.spec ?? {};
  errs.push(...validatePodSpec(newSpec));
  errs.push(
    ...validateOnlyAddedTolerations(newSpec.tolerations ?? [], oldSpec.tolerations ?? [], 'spec.tolerations'),
  );
  // Neutralise what may change, then anything left that differs is forbidden.
  const mutable: any = JSON.parse(JSON.stringify(newSpec));
  for (const listName of ['containers', 'initContainers']) {
    const oldList = oldSpec[listName];
    if (
      Array.isArray(mutable[listName]) &&
      Array.isArray(oldList) &&
      mutable[listName].length === oldList.length
    )
      mutable[listName].forEach((c: any, i: number) => {
        if (isMap(c) && isMap(oldList[i])) c.image = oldList[i].image;
      });
  }
  mutable.activeDeadlineSeconds = oldSpec.activeDeadlineSeconds;
  if (mutable.activeDeadlineSeconds === undefined) delete mutable.activeDeadlineSeconds;
  mutable.tolerations = oldSpec.tolerations;
  if (mutable.tolerations === undefined) delete mutable.tolerations;
  if (oldSpec.terminationGracePeriodSeconds < 0 && newSpec.terminationGracePeriodSeconds === 1)
    mutable.terminationGracePeriodSeconds = oldSpec.terminationGracePeriodSeconds;
  const oldComparable = { ...oldSpec };
  if (!deepEqual(mutable, oldComparable)) {
    const diffs: string[] = [];
    diffPaths(oldComparable, mutable, 'spec', diffs);
    errs.push(forbidden('spec', `${POD_UPDATE_FORBIDDEN}\n  ${diffs.join('\n  ')}`));
  }
  return errs;
}

// ---------- other types ----------

const PERCENT = /^[0-9]+%$/;

function validateIntOrPercent(v: unknown, field: string): FieldError[] {
  if (v === undefined || v === null) return [];
  if (typeof v === 'number')
    return v < 0 ? [invalidValue(field, v, 'must be greater than or equal to 0')] : [];
  if (typeof v === 'string' && PERCENT.test(v)) {
    return Number(v.slice(0, -1)) > 100 ? [invalidValue(field, v, 'must not be greater than 100%')] : [];
  }
  return [
    invalidValue(
      field,
      v,
      "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')",
    ),
  ];
}

function validatePdb(pdb: KubeObject): FieldError[] {
  const spec = pdb.spec ?? {};
  const errs: FieldError[] = [];
  if (spec.minAvailable !== undefined && spec.maxUnavailable !== undefined)
    errs.push(invalidValue('spec', spec, 'minAvailable and maxUnavailable cannot be both set'));
  errs.push(...validateIntOrPercent(spec.minAvailable, 'spec.minAvailable'));
  errs.push(...validateIntOrPercent(spec.maxUnavailable, 'spec.maxUnavailable'));
  return errs;
}

const EVENT_TYPES = ['Normal', 'Warning'];

/** events.k8s.io/v1 create rules (checked on the stored core form, whose fields are renamed). */
function validateEventsV1(ev: KubeObject): FieldError[] {
  const errs: FieldError[] = [];
  if (!ev.eventTime) errs.push(required('eventTime'));
  if (!ev.reportingComponent) errs.push(required('reportingController'));
  else
    for (const e of qualifiedNameErrors(ev.reportingComponent))
      errs.push(invalidValue('reportingController', ev.reportingComponent, e));
  if (!ev.reportingInstance) errs.push(required('reportingInstance'));
  else if (String(ev.reportingInstance).length > 128) errs.push(tooLong('reportingInstance', 128));
  if (!ev.action) errs.push(required('action'));
  else if (String(ev.action).length > 128) errs.push(tooLong('action', 128));
  if (!ev.reason) errs.push(required('reason'));
  else if (String(ev.reason).length > 128) errs.push(tooLong('reason', 128));
  if (ev.message && String(ev.message).length > 1024) errs.push(tooLong('note', 1024));
  if (!EVENT_TYPES.includes(ev.type)) errs.push(notSupported('type', ev.type ?? '', EVENT_TYPES));
  return errs;
}

function validateCoreEvent(ev: KubeObject): FieldError[] {
  const errs: FieldError[] = [];
  const ns = ev.involvedObject?.namespace;
  if (ns && ns !== ev.metadata.namespace)
    errs.push(invalidValue('involvedObject.namespace', ns, 'does not match event.namespace'));
  if (ev.type !== undefined && ev.type !== '' && !EVENT_TYPES.includes(ev.type))
    errs.push(notSupported('type', ev.type, EVENT_TYPES));
  return errs;
}

function validateWorkload(obj: KubeObject): FieldError[] {
  const sel = obj.spec?.selector;
  if (!isMap(sel)) return [required('spec.selector')];
  const labels = obj.spec?.template?.metadata?.labels ?? {};
  const matchLabels = (sel.matchLabels ?? {}) as Record<string, string>;
  const ok = Object.entries(matchLabels).every(([k, v]) => labels[k] === v);
  if (!ok)
    return [
      invalidValue('spec.template.metadata.labels', labels, '`selector` does not match template `labels`'),
    ];
  return validatePodSpec(obj.spec?.template?.spec, 'spec.template.spec');
}

/** Type rules for a new object (the stored form; `rt` is the type it was written through). */
export function validateCreate(rt: ResourceType, obj: KubeObject): FieldError[] {
  const errs = validateObjectMeta(rt, obj);
  switch (`${rt.group}/${rt.plural}`) {
    case '/pods':
      errs.push(...validatePodSpec(obj.spec));
      break;
    case '/nodes':
      // kube-apiserver's node validation names the path metadata.taints, not spec.taints.
      errs.push(...validateTaints(obj.spec?.taints, NODE_TAINTS_PATH));
      break;
    case 'policy/poddisruptionbudgets':
      errs.push(...validatePdb(obj));
      break;
    case 'events.k8s.io/events':
      errs.push(...validateEventsV1(obj));
      break;
    case '/events':
      errs.push(...validateCoreEvent(obj));
      break;
    case 'apps/deployments':
    case 'apps/daemonsets':
      errs.push(...validateWorkload(obj));
      break;
  }
  return errs;
}

/** Type rules for an update of `old` into `obj` (both stored forms). */
export function validateUpdate(
  rt: ResourceType,
  obj: KubeObject,
  old: KubeObject,
  subresource?: string,
): FieldError[] {
  const errs = validateObjectMeta(rt, obj);
  if (old.metadata.deletionTimestamp) {
    const added = (obj.metadata.finalizers ?? []).filter(
      (f: string) => !(old.metadata.finalizers ?? []).includes(f),
    );
    if (added.length > 0)
      errs.push(
        forbidden(
          'metadata.finalizers',
          `no new finalizers can be added if the object is being deleted, found new finalizers ${JSON.stringify(added)}`,
        ),
      );
  }
  if (subresource === 'status') return errs;
  switch (`${rt.group}/${rt.plural}`) {
    case '/pods':
      errs.push(...validatePodUpdate(obj, old));
      break;
    case '/nodes': {
      // An update validates the node twice over (ValidateNode inside ValidateNodeUpdate, then again):
      // every taint error is reported twice in the causes, once in the message.
      const taintErrors = validateTaints(obj.spec?.taints, NODE_TAINTS_PATH);
      errs.push(...taintErrors, ...taintErrors);
      const oldId = old.spec?.providerID;
      if (oldId && obj.spec?.providerID !== oldId)
        errs.push(
          forbidden('spec.providerID', 'node updates may not change providerID except from "" to valid'),
        );
      break;
    }
    case '/configmaps':
    case '/secrets':
      if (old.immutable === true) {
        if (obj.immutable !== true)
          errs.push(forbidden('immutable', 'field is immutable when `immutable` is set'));
        if (!deepEqual(obj.data, old.data))
          errs.push(forbidden('data', 'field is immutable when `immutable` is set'));
        if (!deepEqual(obj.binaryData, old.binaryData))
          errs.push(forbidden('binaryData', 'field is immutable when `immutable` is set'));
      }
      break;
    case 'policy/poddisruptionbudgets':
      errs.push(...validatePdb(obj));
      break;
    case 'apps/deployments':
    case 'apps/daemonsets':
      errs.push(...validateWorkload(obj));
      if (!deepEqual(obj.spec?.selector, old.spec?.selector))
        errs.push(invalidValue('spec.selector', obj.spec?.selector, 'field is immutable'));
      break;
  }
  return errs;
}
