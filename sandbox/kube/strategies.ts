// Per-type behaviour of the registry, as Kubernetes' REST strategies and scheme defaults do it:
// defaulting on decode, what create resets, what an update may touch, when generation bumps.
import { badRequest, type FieldError } from './errors.js';
import { jsonEqual } from './json.js';
import { quote } from './names.js';
import type { ResourceType } from './resources.js';
import type { KubeObject } from './types.js';

const isMap = (v: unknown): v is Record<string, any> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

const typeKey = (rt: ResourceType) => `${rt.group}/${rt.plural}`;

/** Types whose objects carry metadata.generation. */
export function hasGeneration(rt: ResourceType): boolean {
  if (rt.custom) return true;
  return ['/pods', 'apps/deployments', 'apps/daemonsets', 'policy/poddisruptionbudgets'].includes(
    typeKey(rt),
  );
}

function defaultContainer(c: any): void {
  if (!isMap(c)) return;
  c.terminationMessagePath ??= '/dev/termination-log';
  c.terminationMessagePolicy ??= 'File';
  if (c.imagePullPolicy === undefined && typeof c.image === 'string') {
    const lastSegment = c.image.split('/').pop() ?? '';
    const tagged = lastSegment.includes(':') || c.image.includes('@');
    c.imagePullPolicy = !tagged || lastSegment.endsWith(':latest') ? 'Always' : 'IfNotPresent';
  }
  c.resources ??= {};
  if (Array.isArray(c.ports)) for (const p of c.ports) if (isMap(p)) p.protocol ??= 'TCP';
}

export function defaultPodSpec(spec: any): void {
  if (!isMap(spec)) return;
  spec.restartPolicy ??= 'Always';
  spec.terminationGracePeriodSeconds ??= 30;
  spec.dnsPolicy ??= 'ClusterFirst';
  spec.schedulerName ??= 'default-scheduler';
  spec.securityContext ??= {};
  spec.enableServiceLinks ??= true;
  for (const c of spec.containers ?? []) defaultContainer(c);
  for (const c of spec.initContainers ?? []) defaultContainer(c);
  if (Array.isArray(spec.tolerations))
    for (const t of spec.tolerations) if (isMap(t) && t.operator === undefined && t.key) t.operator = 'Equal';
}

/** Scheme defaulting, applied to every object decoded from a request (create, update, patch result). */
export function applyDefaults(rt: ResourceType, obj: KubeObject): void {
  switch (typeKey(rt)) {
    case '/pods':
      obj.spec ??= {};
      defaultPodSpec(obj.spec);
      break;
    case 'apps/deployments':
    case 'apps/daemonsets':
      if (isMap(obj.spec?.template)) defaultPodSpec(obj.spec.template.spec);
      if (rt.plural === 'deployments' && isMap(obj.spec)) obj.spec.replicas ??= 1;
      break;
    case '/services':
      obj.spec ??= {};
      obj.spec.type ??= 'ClusterIP';
      obj.spec.sessionAffinity ??= 'None';
      for (const p of obj.spec.ports ?? [])
        if (isMap(p)) {
          p.protocol ??= 'TCP';
          p.targetPort ??= p.port;
        }
      break;
    case '/namespaces':
      obj.spec ??= {};
      obj.spec.finalizers ??= ['kubernetes'];
      break;
    case '/secrets':
      obj.type ??= 'Opaque';
      break;
  }
}

function qosClass(spec: any): string {
  const containers: any[] = [...(spec?.containers ?? []), ...(spec?.initContainers ?? [])];
  let any = false;
  let guaranteed = containers.length > 0;
  for (const c of containers) {
    const req = c?.resources?.requests ?? {};
    const lim = c?.resources?.limits ?? {};
    if (Object.keys(req).length || Object.keys(lim).length) any = true;
    for (const r of ['cpu', 'memory']) {
      if (lim[r] === undefined || (req[r] !== undefined && String(req[r]) !== String(lim[r])))
        guaranteed = false;
    }
  }
  if (!any) return 'BestEffort';
  return guaranteed ? 'Guaranteed' : 'Burstable';
}

/** What create resets or fills in after admission (PrepareForCreate), beyond the common metadata. */
export function prepareForCreate(rt: ResourceType, obj: KubeObject, allocateClusterIP: () => string): void {
  // A custom resource with a status subresource starts without status (only /status writes it).
  if (rt.custom && rt.statusSubresource) delete obj.status;
  switch (typeKey(rt)) {
    case '/pods':
      obj.status = { phase: 'Pending', qosClass: qosClass(obj.spec) };
      break;
    case '/namespaces':
      obj.status = { phase: 'Active' };
      obj.metadata.labels = { ...obj.metadata.labels, 'kubernetes.io/metadata.name': obj.metadata.name! };
      break;
    case '/services':
      if (obj.spec.type !== 'ExternalName' && !obj.spec.clusterIP) obj.spec.clusterIP = allocateClusterIP();
      if (obj.spec.clusterIP && obj.spec.clusterIP !== 'None') obj.spec.clusterIPs ??= [obj.spec.clusterIP];
      obj.status = { loadBalancer: {} };
      break;
    case 'apps/deployments':
    case 'apps/daemonsets':
    case 'policy/poddisruptionbudgets':
      obj.status = {};
      break;
  }
}

/** The part of an object whose change bumps metadata.generation. */
function generationContent(rt: ResourceType, obj: KubeObject): unknown {
  if (rt.custom) {
    // Custom resources: everything but metadata counts, and status too when it has no subresource.
    const { metadata: _m, ...rest } = obj;
    if (rt.statusSubresource) delete rest.status;
    return rest;
  }
  return obj.spec;
}

export function generationChanged(rt: ResourceType, next: KubeObject, prev: KubeObject): boolean {
  return !jsonEqual(generationContent(rt, next), generationContent(rt, prev));
}

// ---------- decoding: typed fields a real server's JSON decoder rejects ----------

const MICRO_TIME_LAYOUT = '2006-01-02T15:04:05.000000Z07:00';

// Go's time.Parse walks the layout element by element; the error names the first element that
// does not match the rest of the value.
const MICRO_TIME_ELEMENTS: Array<[string, RegExp]> = [
  ['2006', /^\d{4}/],
  ['-', /^-/],
  ['01', /^\d{2}/],
  ['-', /^-/],
  ['02', /^\d{2}/],
  ['T', /^T/],
  ['15', /^\d{2}/],
  [':', /^:/],
  ['04', /^\d{2}/],
  [':', /^:/],
  ['05', /^\d{2}/],
  ['.000000', /^[.,]\d{6}/],
  ['Z07:00', /^(Z|[+-]\d{2}:\d{2})/],
];

/** Why a JSON value is not a metav1.MicroTime (RFC 3339 with exactly six fractional digits), as Go says it. */
export function microTimeError(v: unknown): string | undefined {
  if (v === null || v === undefined) return undefined;
  if (typeof v !== 'string') return `json: cannot unmarshal ${jsonTypeName(v)} into Go value of type string`;
  const prefix = `parsing time ${JSON.stringify(v)}`;
  let rest = v;
  const nums: number[] = [];
  for (const [elem, re] of MICRO_TIME_ELEMENTS) {
    const m = re.exec(rest);
    if (!m) return `${prefix} as "${MICRO_TIME_LAYOUT}": cannot parse ${JSON.stringify(rest)} as "${elem}"`;
    if (/^\d+$/.test(m[0])) nums.push(Number(m[0]));
    rest = rest.slice(m[0].length);
  }
  if (rest !== '') return `${prefix}: extra text: ${JSON.stringify(rest)}`;
  const [year, month, day, hour, minute, second] = nums;
  if (month < 1 || month > 12) return `${prefix}: month out of range`;
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (day < 1 || day > daysInMonth) return `${prefix}: day out of range`;
  if (hour > 23) return `${prefix}: hour out of range`;
  if (minute > 59) return `${prefix}: minute out of range`;
  if (second > 59) return `${prefix}: second out of range`;
  return undefined;
}

function jsonTypeName(v: unknown): string {
  if (typeof v === 'number') return 'number';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'string') return 'string';
  return Array.isArray(v) ? 'array' : 'object';
}

/** encoding/json's UnmarshalTypeError for a field that must be an int32. */
export function int32Error(v: unknown, struct: string, field: string): string | undefined {
  if (v === null || v === undefined) return undefined;
  if (typeof v === 'number' && Number.isInteger(v) && v >= -2147483648 && v <= 2147483647) return undefined;
  const what = typeof v === 'number' ? `number ${v}` : jsonTypeName(v);
  return `json: cannot unmarshal ${what} into Go struct field ${struct}.${field} of type int32`;
}

function stringError(v: unknown, struct: string, field: string): string | undefined {
  if (v === null || v === undefined || typeof v === 'string') return undefined;
  return `json: cannot unmarshal ${jsonTypeName(v)} into Go struct field ${struct}.${field} of type string`;
}

/** A valid MicroTime as the server writes it back: UTC, six fractional digits. */
export function normalizeMicroTime(v: string): string {
  const m =
    /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})[.,](\d{3})(\d{3})(Z|([+-])(\d{2}):(\d{2}))$/.exec(v)!;
  const offsetMinutes = m[10] ? (m[10] === '-' ? -1 : 1) * (Number(m[11]) * 60 + Number(m[12])) : 0;
  const ms = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6], +m[7]) - offsetMinutes * 60_000;
  return new Date(ms).toISOString().replace(/Z$/, `${m[8]}Z`);
}

/**
 * Decodes the typed fields a real server's decoder would refuse, as it does: returns why the
 * object does not decode, or undefined after normalizing them in place (times are written back
 * in UTC; a null time is absent). Only the types whose typed fields clients are known to get
 * wrong are checked.
 */
export function decodeTypedFields(rt: ResourceType, obj: KubeObject): string | undefined {
  if (typeKey(rt) !== 'coordination.k8s.io/leases') return undefined;
  const spec = obj.spec;
  if (spec === undefined || spec === null) return undefined;
  if (!isMap(spec))
    return `json: cannot unmarshal ${jsonTypeName(spec)} into Go struct field Lease.spec of type v1.LeaseSpec`;
  const why =
    stringError(spec.holderIdentity, 'LeaseSpec', 'spec.holderIdentity') ??
    int32Error(spec.leaseDurationSeconds, 'LeaseSpec', 'spec.leaseDurationSeconds') ??
    microTimeError(spec.acquireTime) ??
    microTimeError(spec.renewTime) ??
    int32Error(spec.leaseTransitions, 'LeaseSpec', 'spec.leaseTransitions');
  if (why !== undefined) return why;
  for (const f of ['acquireTime', 'renewTime']) {
    if (spec[f] === null) delete spec[f];
    else if (typeof spec[f] === 'string') spec[f] = normalizeMicroTime(spec[f]);
  }
  return undefined;
}

// ---------- validation of the types whose rules live with their strategy ----------

const fieldInvalid = (field: string, value: unknown, detail: string): FieldError => ({
  type: 'FieldValueInvalid',
  field,
  message: `Invalid value: ${quote(value)}: ${detail}`,
});

function validateLeaseSpec(spec: any): FieldError[] {
  if (!isMap(spec)) return [];
  const errs: FieldError[] = [];
  if (typeof spec.leaseDurationSeconds === 'number' && spec.leaseDurationSeconds <= 0)
    errs.push(fieldInvalid('spec.leaseDurationSeconds', spec.leaseDurationSeconds, 'must be greater than 0'));
  if (typeof spec.leaseTransitions === 'number' && spec.leaseTransitions < 0)
    errs.push(
      fieldInvalid('spec.leaseTransitions', spec.leaseTransitions, 'must be greater than or equal to 0'),
    );
  return errs;
}

/** The CRD schema's `type: integer, minimum: 0` on a replicas field. */
function replicasSchemaErrors(obj: KubeObject, dotted: string): FieldError[] {
  const v = getPath(obj, dotted.split('.'));
  if (v === undefined || v === null) return [];
  if (typeof v !== 'number' || !Number.isInteger(v)) {
    const t = typeof v === 'number' ? 'number' : jsonTypeName(v);
    return [fieldInvalid(dotted, t, `${dotted} in body must be of type integer: ${quote(t)}`)];
  }
  if (v < 0) return [fieldInvalid(dotted, v, `${dotted} in body should be greater than or equal to 0`)];
  return [];
}

/** apiextensions' ValidateScaleSpec / ValidateScaleStatus: a replicas path holds a non-negative int. */
function scaleReplicasErrors(obj: KubeObject, jsonPath: string): FieldError[] {
  const v = getPath(obj, fieldPath(jsonPath));
  if (v === undefined || v === null) return [];
  if (typeof v !== 'number' || !Number.isInteger(v))
    return [
      fieldInvalid(
        jsonPath,
        0,
        `${jsonPath} accessor error: ${typeof v === 'string' ? v : JSON.stringify(v)} is of the type ${goType(v)}, expected int64`,
      ),
    ];
  if (v < 0) return [fieldInvalid(jsonPath, v, 'should be a non-negative integer')];
  if (v > 2147483647) return [fieldInvalid(jsonPath, v, 'should be less than or equal to 2147483647')];
  return [];
}

function goType(v: unknown): string {
  if (typeof v === 'number') return 'float64';
  if (typeof v === 'string') return 'string';
  if (typeof v === 'boolean') return 'bool';
  return Array.isArray(v) ? '[]interface {}' : 'map[string]interface {}';
}

/**
 * Type rules kept with the strategy (Lease spec; the replicas of custom resources with a scale
 * subresource, as their CRD schema and apiextensions validate them). `subresource` is the one
 * written through, if any: a status write checks only the status side.
 */
export function strategyErrors(rt: ResourceType, obj: KubeObject, subresource?: string): FieldError[] {
  if (typeKey(rt) === 'coordination.k8s.io/leases') return validateLeaseSpec(obj.spec);
  if (!rt.scale) return [];
  const errs: FieldError[] = [];
  if (subresource !== 'status') errs.push(...replicasSchemaErrors(obj, 'spec.replicas'));
  errs.push(...replicasSchemaErrors(obj, 'status.replicas'));
  if (subresource !== 'status') errs.push(...scaleReplicasErrors(obj, rt.scale.specReplicasPath));
  errs.push(...scaleReplicasErrors(obj, rt.scale.statusReplicasPath));
  return errs;
}

// ---------- the scale subresource of custom resources (apiextensions' ScaleREST) ----------

/** kube's marker for "the object has no spec replicas" in the Scale an update starts from. */
export const UNSET_SPEC_REPLICAS = -2147483648;

const fieldPath = (jsonPath: string) => jsonPath.replace(/^\./, '').split('.');

function getPath(obj: unknown, parts: string[]): unknown {
  let cur: any = obj;
  for (const p of parts) {
    if (!isMap(cur)) return undefined;
    cur = cur[p];
  }
  return cur;
}

/** Whether the object has the spec replicas its Scale reads (GET /scale fails without them). */
export function hasSpecReplicas(rt: ResourceType, obj: KubeObject): boolean {
  return typeof getPath(obj, fieldPath(rt.scale!.specReplicasPath)) === 'number';
}

/**
 * The autoscaling/v1 Scale of an object. `forUpdate`: the Scale an update or patch starts from,
 * where absent spec replicas carry kube's sentinel so that an update leaving them unset fails.
 */
export function scaleOf(rt: ResourceType, obj: KubeObject, forUpdate = false): KubeObject {
  const def = rt.scale!;
  const spec = getPath(obj, fieldPath(def.specReplicasPath));
  const status = getPath(obj, fieldPath(def.statusReplicasPath));
  const selector = def.labelSelectorPath ? getPath(obj, fieldPath(def.labelSelectorPath)) : undefined;
  const specReplicas =
    typeof spec === 'number' ? Math.trunc(spec) : forUpdate && spec === undefined ? UNSET_SPEC_REPLICAS : 0;
  const m = obj.metadata;
  return {
    kind: 'Scale',
    apiVersion: 'autoscaling/v1',
    metadata: {
      name: m.name,
      ...(m.namespace ? { namespace: m.namespace } : {}),
      uid: m.uid,
      resourceVersion: m.resourceVersion,
      creationTimestamp: m.creationTimestamp,
    },
    // Go's ScaleSpec.replicas is omitempty; ScaleStatus.replicas is not.
    spec: specReplicas !== 0 ? { replicas: specReplicas } : {},
    status: {
      replicas: typeof status === 'number' ? Math.trunc(status) : 0,
      ...(typeof selector === 'string' && selector !== '' ? { selector } : {}),
    },
  };
}

/** The object with the spec replicas a Scale asks for (a copy; metadata and status untouched). */
export function applyScale(rt: ResourceType, obj: KubeObject, scale: KubeObject): KubeObject {
  const def = rt.scale!;
  const replicas = scale.spec?.replicas ?? 0;
  if (replicas === UNSET_SPEC_REPLICAS)
    throw badRequest(`the spec replicas field ${JSON.stringify(def.specReplicasPath)} cannot be empty`);
  const out: KubeObject = JSON.parse(JSON.stringify(obj));
  const parts = fieldPath(def.specReplicasPath);
  let cur: any = out;
  for (const p of parts.slice(0, -1)) {
    if (!isMap(cur[p])) cur[p] = {};
    cur = cur[p];
  }
  cur[parts[parts.length - 1]] = replicas;
  return out;
}
