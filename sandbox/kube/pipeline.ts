// The request pipeline shared by the HTTPS server and the in-process client:
// authorize → decode/build the object → mutating admission → optimistic-concurrency check →
// prepare and validate → store → (watch fan-out happens in the store). dryRun runs everything
// but storing. Every request is recorded in the request log with the code it got.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import {
  type FieldError,
  ApiError,
  alreadyExists,
  badRequest,
  conflict,
  forbidden,
  internal,
  invalid,
  methodNotAllowed,
  notFound,
  serviceUnavailable,
  gone,
} from './errors.js';
import { checkEviction } from './eviction.js';
import { pruneUnknownFields, reportUnknownFields, type FieldValidation } from './fields.js';
import { jsonEqual } from './json.js';
import { applyPatch } from './patch.js';
import type { RequestLog } from './request-log.js';
import { apiVersionOf, storageKey, type ResourceRegistry, type ResourceType } from './resources.js';
import { matchesLabels, parseFieldSelector, parseLabelSelector } from './selectors.js';
import { objectKey, Stored, type ObjectStore, type WatchSink, type Watcher } from './store.js';
import {
  applyDefaults,
  applyScale,
  decodeTypedFields,
  generationChanged,
  hasGeneration,
  hasSpecReplicas,
  int32Error,
  prepareForCreate,
  scaleOf,
  strategyErrors,
} from './strategies.js';
import type {
  AdmissionAttributes,
  AdmissionOperation,
  AdmissionResult,
  Authorizer,
  DeleteOptions,
  KubeObject,
  ListOptions,
  ObjectReader,
  PatchType,
  ResourceAttributes,
  ResourceRef,
  UserInfo,
  Verb,
  WriteOptions,
} from './types.js';
import { validateCreate, validateUpdate } from './validation.js';

export interface Admitter {
  admit(attrs: AdmissionAttributes): Promise<AdmissionResult>;
}

/** What happens on create of a resource that is not stored (GameServerAllocation). */
export type CreateHook = (ref: ResourceRef, body: KubeObject, user: UserInfo) => Promise<KubeObject>;

/** Extra rules of one type supplied by another part (e.g. webhook configurations: defaults and validation). */
export interface TypeRules {
  defaults?(obj: KubeObject): void;
  validate?(obj: KubeObject, old?: KubeObject): FieldError[];
}

export interface OpResult {
  value: Stored;
  /** HTTP status code of a success (200, 201 for creates, 202 for a pending deletion with orphanDependents=false). */
  code: number;
  warnings: string[];
}

export interface ListResult {
  rt: ResourceType;
  items: Stored[];
  resourceVersion: string;
  continue?: string;
  remainingItemCount?: number;
}

export interface PipelineOptions {
  registry: ResourceRegistry;
  store: ObjectStore;
  authorizer: Authorizer;
  admission?: Admitter;
  requestLog: RequestLog;
  logger: Logger;
  /** Epoch milliseconds (the simulation's clock). */
  now: () => number;
  /** Random numbers in [0, 1) for generateName suffixes (default Math.random; seeded for a reproducible run). */
  random?: () => number;
}

export const ALLOW_ALL: Authorizer = { authorize: () => ({ allowed: true, reason: '' }) };

const GENERATE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';
const MAX_GENERATE_PREFIX = 58;
// etcd3's GuaranteedUpdate retries a failed compare-and-swap without limit; each failure means
// another write landed, so a bound only matters under a storm of writers to one object.
const STORAGE_CONFLICT_RETRIES = 1000;
const PROTECTED_NAMESPACES = new Set(['default', 'kube-system', 'kube-public']);

export function timestamp(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

const isMap = (v: unknown): v is Record<string, any> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

function clone<T>(v: T): T {
  return v === undefined ? v : JSON.parse(JSON.stringify(v));
}

function successStatus(rt: ResourceType, obj?: KubeObject): KubeObject {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Success',
    ...(obj
      ? {
          details: {
            name: obj.metadata.name,
            ...(rt.group ? { group: rt.group } : {}),
            kind: rt.plural,
            uid: obj.metadata.uid,
          },
        }
      : {}),
  };
}

/** What a subresource POST that creates nothing storable (eviction, binding) answers: 201 Success. */
function createdStatusResult() {
  const status = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 };
  return { value: new Stored(status as unknown as KubeObject), code: 201, warnings: [] as string[] };
}

function sameIgnoringVersion(a: KubeObject, b: KubeObject): boolean {
  const strip = (o: KubeObject) => ({ ...o, metadata: { ...o.metadata, resourceVersion: undefined } });
  return jsonEqual(strip(a), strip(b));
}

interface Resolved {
  rt: ResourceType;
  collection: string;
  sub?: string;
}

interface Continue {
  rv: number;
  start: string;
}

export class Pipeline {
  readonly registry: ResourceRegistry;
  readonly store: ObjectStore;
  authorizer: Authorizer;
  admission?: Admitter;
  private readonly log: RequestLog;
  private readonly logger: Logger;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly createHooks = new Map<string, CreateHook>();
  /** Per-type rules keyed `<group>/<plural>`. */
  readonly typeRules = new Map<string, TypeRules>();
  private nextClusterIP = 10;

  constructor(opts: PipelineOptions) {
    this.registry = opts.registry;
    this.store = opts.store;
    this.authorizer = opts.authorizer;
    this.admission = opts.admission;
    this.log = opts.requestLog;
    this.logger = opts.logger;
    this.now = opts.now;
    this.random = opts.random ?? Math.random;
  }

  /** Registers what create does for a resource that is not stored (e.g. GameServerAllocation). */
  setCreateHook(group: string, resource: string, hook: CreateHook | undefined): void {
    if (hook) this.createHooks.set(`${group}/${resource}`, hook);
    else this.createHooks.delete(`${group}/${resource}`);
  }

  // ---------------------------------------------------------------------------------------------
  // Read access for the policy parts (RBAC, webhooks) and the controllers of the emulator.

  /** Stored objects, read-only (callers must not mutate what they get). */
  reader(): ObjectReader {
    return {
      list: (group, resource, namespace) => {
        const rt = this.registry.byGroupResource(group, resource);
        if (!rt) return [];
        return this.scan(rt, namespace).map((s) => s.obj);
      },
      get: (group, resource, namespace, name) => {
        const rt = this.registry.byGroupResource(group, resource);
        if (!rt) return undefined;
        return this.store.get(storageKey(rt), objectKey(rt.namespaced ? namespace : undefined, name))?.obj;
      },
    };
  }

  // ---------------------------------------------------------------------------------------------
  // Resolution and authorization

  resolve(ref: ResourceRef): Resolved {
    const rt = this.registry.get(ref.group, ref.version, ref.resource);
    if (!rt) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});
    if (ref.subresource && !rt.subresources.some((s) => s.name === ref.subresource))
      throw new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});
    if (!rt.namespaced && ref.namespace)
      throw new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});
    return { rt, collection: storageKey(rt), sub: ref.subresource };
  }

  private checkVerb(r: Resolved, verb: Verb): void {
    const allowed = r.sub ? r.rt.subresources.find((s) => s.name === r.sub)!.verbs : r.rt.verbs;
    if (!allowed.includes(verb)) throw methodNotAllowed();
  }

  private authorize(user: UserInfo, verb: Verb, ref: ResourceRef, entry: { allowedBy?: any }): void {
    const attrs: ResourceAttributes = {
      group: ref.group,
      version: ref.version,
      resource: ref.resource,
      ...(ref.subresource ? { subresource: ref.subresource } : {}),
      ...(ref.namespace ? { namespace: ref.namespace } : {}),
      ...(ref.name ? { name: ref.name } : {}),
    };
    const d = this.authorizer.authorize(user, verb, attrs);
    if (d.allowed) {
      if (d.matched) entry.allowedBy = d.matched;
      return;
    }
    // The name is what the request URL carries; a plain create names nothing.
    const name = verb === 'create' && !ref.subresource ? undefined : ref.name;
    const resource = ref.subresource ? `${ref.resource}/${ref.subresource}` : ref.resource;
    const sentence = d.reason.startsWith('User "')
      ? d.reason
      : `User ${JSON.stringify(user.username)} cannot ${verb} resource ${JSON.stringify(resource)} in API group ${JSON.stringify(ref.group)} ${ref.namespace ? `in the namespace ${JSON.stringify(ref.namespace)}` : 'at the cluster scope'}${d.reason ? `: ${d.reason}` : ''}`;
    throw forbidden(ref.group, ref.resource, name, sentence);
  }

  /** Runs one request: resolves, authorizes, records the outcome in the request log. */
  private async run<T>(
    user: UserInfo,
    verb: Verb,
    ref: ResourceRef,
    dryRun: boolean | undefined,
    fn: (r: Resolved) => Promise<T> | T,
  ): Promise<T> {
    const entry: Parameters<RequestLog['record']>[0] = {
      time: this.now(),
      user: user.username,
      groups: user.groups,
      verb,
      group: ref.group,
      resource: ref.resource,
      ...(ref.subresource ? { subresource: ref.subresource } : {}),
      ...(ref.namespace ? { namespace: ref.namespace } : {}),
      ...(ref.name ? { name: ref.name } : {}),
      ...(dryRun ? { dryRun: true } : {}),
      code: 200,
    };
    try {
      const r = this.resolve(ref);
      this.checkVerb(r, verb);
      this.authorize(user, verb, ref, entry);
      const out = await fn(r);
      const code = (out as any)?.code;
      if (typeof code === 'number') entry.code = code;
      return out;
    } catch (err) {
      const e = this.asApiError(err);
      entry.code = e.code;
      entry.message = e.message;
      throw e;
    } finally {
      this.log.record(entry);
    }
  }

  asApiError(err: unknown): ApiError {
    if (err instanceof ApiError) return err;
    this.logger.error({ err }, 'internal error while serving a request');
    return internal(err instanceof Error ? err.message : String(err));
  }

  // ---------------------------------------------------------------------------------------------
  // Helpers

  private toView(rt: ResourceType, s: Stored): Stored {
    return rt.view ? new Stored(rt.view.fromStorage(s.obj)) : s;
  }

  private viewObj(rt: ResourceType, obj: KubeObject): KubeObject {
    return rt.view ? rt.view.fromStorage(obj) : obj;
  }

  private toStorage(rt: ResourceType, obj: KubeObject): KubeObject {
    return rt.view ? rt.view.toStorage(obj) : obj;
  }

  /** Where kube-apiserver keeps the object in etcd (built-in types without their group). */
  private storageKeyOf(rt: ResourceType, ref: ResourceRef): string {
    const prefix = rt.custom ? `/registry/${rt.group}/${rt.plural}` : `/registry/${rt.plural}`;
    return rt.namespaced ? `${prefix}/${ref.namespace}/${ref.name}` : `${prefix}/${ref.name}`;
  }

  private key(rt: ResourceType, ref: ResourceRef): string {
    return objectKey(rt.namespaced ? ref.namespace : undefined, ref.name!);
  }

  private mustGet(r: Resolved, ref: ResourceRef): Stored {
    const s = this.store.get(r.collection, this.key(r.rt, ref));
    if (!s) throw notFound(r.rt.group, r.rt.plural, ref.name!);
    return s;
  }

  private requireName(r: Resolved, ref: ResourceRef): void {
    if (!ref.name) throw methodNotAllowed();
    if (r.rt.namespaced && !ref.namespace)
      throw new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});
  }

  /**
   * Checks and fills what decoding a request body does: apiVersion/kind defaulting, namespace and
   * name, typed fields. `patched`: the body is a patch's result (a decode failure is then 422).
   */
  private decode(
    r: Resolved,
    ref: ResourceRef,
    body: unknown,
    forUpdate: boolean,
    patched = false,
    fields?: { mode?: FieldValidation; warnings: string[] },
  ): KubeObject {
    if (!isMap(body)) throw badRequest(`Object 'Kind' is missing in '${JSON.stringify(body)}'`);
    const obj = clone(body) as KubeObject;
    const expectedVersion = apiVersionOf(r.rt);
    if (obj.apiVersion !== undefined && obj.apiVersion !== '' && obj.apiVersion !== expectedVersion)
      throw badRequest(
        `the API version in the data (${obj.apiVersion}) does not match the expected API version (${expectedVersion})`,
      );
    if (obj.kind !== undefined && obj.kind !== '' && obj.kind !== r.rt.kind)
      throw badRequest(`the kind in the data (${obj.kind}) does not match the expected kind (${r.rt.kind})`);
    obj.apiVersion = expectedVersion;
    obj.kind = r.rt.kind;
    const typeError = decodeTypedFields(r.rt, obj);
    if (typeError !== undefined) {
      // The decoder's own error: a request body that does not decode is a 400; a patch whose
      // result does not decode is a 422 on the field `patch` (kube's patcher).
      if (!patched)
        throw badRequest(
          `${r.rt.kind} in version ${JSON.stringify(r.rt.version)} cannot be handled as a ${r.rt.kind}: ${typeError}`,
        );
      throw invalid('', '', '', [
        {
          type: 'FieldValueInvalid',
          field: 'patch',
          message: `Invalid value: ${JSON.stringify(JSON.stringify(body))}: ${typeError}`,
        },
      ]);
    }
    // The typed decoder drops what the type does not declare, and reports it as asked.
    const unknown = pruneUnknownFields(r.rt, obj);
    const fieldWarnings = reportUnknownFields(r.rt, unknown, fields?.mode);
    if (fields) fields.warnings.splice(0, fields.warnings.length, ...fieldWarnings);
    if (!isMap(obj.metadata)) obj.metadata = {};
    if (r.rt.namespaced) {
      if (obj.metadata.namespace && obj.metadata.namespace !== ref.namespace)
        throw badRequest(
          'the namespace of the provided object does not match the namespace sent on the request',
        );
      obj.metadata.namespace = ref.namespace;
    } else {
      delete obj.metadata.namespace;
    }
    if (forUpdate) {
      if (obj.metadata.name !== undefined && obj.metadata.name !== ref.name)
        throw badRequest(
          `the name of the object (${obj.metadata.name}) does not match the name on the URL (${ref.name})`,
        );
      obj.metadata.name = ref.name;
    }
    applyDefaults(r.rt, obj);
    this.typeRules.get(`${r.rt.group}/${r.rt.plural}`)?.defaults?.(obj);
    return obj;
  }

  /** Decodes the autoscaling/v1 Scale written to a /scale subresource (a PUT body or a patch's result). */
  private decodeScale(ref: ResourceRef, body: unknown): KubeObject {
    if (!isMap(body)) throw badRequest(`Object 'Kind' is missing in '${JSON.stringify(body)}'`);
    if (body.apiVersion !== undefined && body.apiVersion !== '' && body.apiVersion !== 'autoscaling/v1')
      throw badRequest(
        `the API version in the data (${body.apiVersion}) does not match the expected API version (autoscaling/v1)`,
      );
    if (body.kind !== undefined && body.kind !== '' && body.kind !== 'Scale')
      throw badRequest(`the kind in the data (${body.kind}) does not match the expected kind (Scale)`);
    const metadata = isMap(body.metadata) ? clone(body.metadata) : {};
    if (metadata.namespace && metadata.namespace !== ref.namespace)
      throw badRequest(
        'the namespace of the provided object does not match the namespace sent on the request',
      );
    if (metadata.name !== undefined && metadata.name !== ref.name)
      throw badRequest(
        `the name of the object (${metadata.name}) does not match the name on the URL (${ref.name})`,
      );
    const replicas = isMap(body.spec) ? body.spec.replicas : undefined;
    const typeError = int32Error(replicas, 'ScaleSpec', 'spec.replicas');
    if (typeError) throw badRequest(`Scale in version "v1" cannot be handled as a Scale: ${typeError}`);
    return {
      apiVersion: 'autoscaling/v1',
      kind: 'Scale',
      metadata: { ...metadata, name: ref.name, ...(ref.namespace ? { namespace: ref.namespace } : {}) },
      spec: typeof replicas === 'number' ? { replicas } : {},
      status: isMap(body.status) ? clone(body.status) : {},
    };
  }

  private async admit(
    op: AdmissionOperation,
    r: Resolved,
    ref: ResourceRef,
    user: UserInfo,
    obj: KubeObject | undefined,
    old: KubeObject | undefined,
    dryRun: boolean,
    options: Record<string, unknown>,
    warnings: string[],
  ): Promise<KubeObject | undefined> {
    if (!this.admission) return obj;
    const res = await this.admission.admit({
      operation: op,
      kind: this.admissionKind(r),
      resource: { group: r.rt.group, version: r.rt.version, resource: r.rt.plural },
      ...(r.sub ? { subResource: r.sub } : {}),
      name: obj?.metadata.name ?? ref.name ?? '',
      ...(ref.namespace ? { namespace: ref.namespace } : {}),
      object: obj,
      oldObject: old,
      userInfo: user,
      dryRun,
      options,
    });
    warnings.push(...(res.warnings ?? []));
    return res.object ?? obj;
  }

  private admissionKind(r: Resolved): { group: string; version: string; kind: string } {
    const sub = r.sub ? r.rt.subresources.find((s) => s.name === r.sub) : undefined;
    if (!sub) return { group: r.rt.group, version: r.rt.version, kind: r.rt.kind };
    return { group: sub.group ?? r.rt.group, version: sub.version ?? r.rt.version, kind: sub.kind };
  }

  /** NamespaceLifecycle: no creates in a namespace that does not exist or is being deleted. */
  private checkNamespaceLifecycle(r: Resolved, ns: string | undefined, name: string | undefined): void {
    if (!r.rt.namespaced || !ns) return;
    const nsObj = this.store.get('/namespaces', ns);
    if (!nsObj) throw notFound('', 'namespaces', ns);
    if (nsObj.obj.metadata.deletionTimestamp)
      throw forbidden(
        r.rt.group,
        r.rt.plural,
        name || undefined,
        `unable to create new content in namespace ${ns} because it is being terminated`,
      );
  }

  /** Built-in mutating admission plugins that run before the webhooks (ServiceAccount, DefaultTolerationSeconds, Priority). */
  private builtInAdmission(r: Resolved, obj: KubeObject): void {
    if (r.rt.group !== '' || r.rt.plural !== 'pods' || r.sub) return;
    const spec = (obj.spec ??= {});
    spec.serviceAccountName ??= spec.serviceAccount ?? 'default';
    spec.serviceAccount ??= spec.serviceAccountName;
    const tolerations: any[] = (spec.tolerations ??= []);
    for (const key of ['node.kubernetes.io/not-ready', 'node.kubernetes.io/unreachable']) {
      const tolerated = tolerations.some(
        (t) =>
          (t.operator === 'Exists' && !t.key) || (t.key === key && (t.effect === 'NoExecute' || !t.effect)),
      );
      if (!tolerated)
        tolerations.push({ key, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 });
    }
    // Priority: without a priority class, the global default of 0 and its preemption policy.
    spec.priority ??= 0;
    spec.preemptionPolicy ??= 'PreemptLowerPriority';
  }

  private generateName(prefix: string): string {
    let suffix = '';
    for (let i = 0; i < 5; i++)
      suffix += GENERATE_ALPHABET[Math.floor(this.random() * GENERATE_ALPHABET.length)];
    return prefix.slice(0, MAX_GENERATE_PREFIX) + suffix;
  }

  private allocateClusterIP(): string {
    const n = this.nextClusterIP++;
    return `10.96.${(n >> 8) & 255}.${n & 255}`;
  }

  private throwIfInvalid(rt: ResourceType, obj: KubeObject, errs: ReturnType<typeof validateCreate>): void {
    if (errs.length > 0) throw invalid(rt.group, rt.kind, obj.metadata.name ?? '', errs);
  }

  /** Every stored object of a type, in key order, optionally only one namespace's. */
  private scan(rt: ResourceType, namespace?: string): Stored[] {
    const c = this.store.collection(storageKey(rt));
    const keys = c.sortedKeys();
    const out: Stored[] = [];
    if (namespace && rt.namespaced) {
      const prefix = `${namespace}/`;
      let lo = 0;
      let hi = keys.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (keys[mid] < prefix) lo = mid + 1;
        else hi = mid;
      }
      for (let i = lo; i < keys.length && keys[i].startsWith(prefix); i++) out.push(c.objects.get(keys[i])!);
      return out;
    }
    for (const k of keys) out.push(c.objects.get(k)!);
    return out;
  }

  // ---------------------------------------------------------------------------------------------
  // Reads

  async get(user: UserInfo, ref: ResourceRef): Promise<OpResult> {
    return this.run(user, 'get', ref, false, (r) => {
      this.requireName(r, ref);
      if (r.sub && r.sub !== 'status' && r.sub !== 'scale') throw methodNotAllowed();
      const s = this.mustGet(r, ref);
      if (r.sub === 'scale' && !hasSpecReplicas(r.rt, s.obj))
        throw internal(
          `the spec replicas field ${JSON.stringify(r.rt.scale!.specReplicasPath)} does not exist`,
        );
      return { value: this.subResult(r, s), code: 200, warnings: [] };
    });
  }

  async list(user: UserInfo, ref: ResourceRef, opts: ListOptions = {}): Promise<ListResult> {
    return this.run(user, 'list', ref, false, (r) => {
      const labels = parseLabelSelector(opts.labelSelector);
      const fields = parseFieldSelector(opts.fieldSelector, r.rt.fieldSelectors);
      const c = this.store.collection(r.collection);
      let start: string | undefined;
      let listRv = this.store.resourceVersion;
      if (opts.continue) {
        const token = decodeContinue(opts.continue);
        if (token.rv < c.compactedThrough)
          throw gone(
            'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.',
          );
        start = token.start;
        listRv = token.rv;
      }
      const limit = opts.limit && opts.limit > 0 ? opts.limit : Infinity;
      const items: Stored[] = [];
      let cont: string | undefined;
      let remaining = 0;
      const getters = r.rt.fieldSelectors;
      for (const s of this.scan(r.rt, ref.namespace)) {
        const obj = s.obj;
        const key = objectKey(obj.metadata.namespace, obj.metadata.name!);
        if (start !== undefined && key < start) continue;
        if (labels.length && !matchesLabels(labels, obj.metadata.labels)) continue;
        if (fields.length && !fields.every((f) => (getters[f.field](obj) === f.value) === (f.op === '=')))
          continue;
        if (items.length >= limit) {
          if (cont === undefined) cont = encodeContinue({ rv: listRv, start: key });
          remaining++;
          continue;
        }
        items.push(this.toView(r.rt, s));
      }
      return {
        rt: r.rt,
        items,
        resourceVersion: String(listRv),
        // etcd counts what remains only when nothing filters the list.
        ...(cont !== undefined
          ? { continue: cont, ...(labels.length || fields.length ? {} : { remainingItemCount: remaining }) }
          : {}),
      };
    });
  }

  /** Opens a watch; the sink receives deliveries of the stored form (callers convert for views). */
  async watch(
    user: UserInfo,
    ref: ResourceRef,
    opts: ListOptions & { sendInitialEvents?: boolean },
    sink: WatchSink,
  ): Promise<{ watcher: Watcher; rt: ResourceType }> {
    return this.run(user, 'watch', ref, false, (r) => {
      const labels = parseLabelSelector(opts.labelSelector);
      const fields = parseFieldSelector(opts.fieldSelector, r.rt.fieldSelectors);
      const watcher = this.store.watch(
        r.collection,
        {
          namespace: r.rt.namespaced ? ref.namespace : undefined,
          labels,
          fields,
          getters: r.rt.fieldSelectors,
          resourceVersion: opts.resourceVersion,
          allowBookmarks: opts.allowWatchBookmarks,
          initialEventsEndBookmark: opts.sendInitialEvents === true,
        },
        sink,
      );
      return { watcher, rt: r.rt };
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Create

  async create(user: UserInfo, ref: ResourceRef, body: unknown, opts: WriteOptions = {}): Promise<OpResult> {
    // An Eviction carries its dry run in its deleteOptions (that is how kubectl drain sends it).
    const evictionDryRun =
      ref.subresource === 'eviction' &&
      isMap(body) &&
      isMap(body.deleteOptions) &&
      Array.isArray(body.deleteOptions.dryRun)
        ? body.deleteOptions.dryRun.includes('All')
        : false;
    return this.run(user, 'create', ref, opts.dryRun || evictionDryRun, async (r) => {
      if (r.rt.namespaced && !ref.namespace) throw methodNotAllowed();
      if (r.sub === 'eviction') return this.evict(r, ref, user, body, opts);
      if (r.sub === 'binding') return this.bind(r, ref, user, body, opts);
      if (r.sub) throw methodNotAllowed();
      if (ref.name) throw methodNotAllowed();
      const fieldWarnings: string[] = [];
      const decoded = this.decode(r, ref, body, false, false, {
        mode: opts.fieldValidation,
        warnings: fieldWarnings,
      });
      const warnings: string[] = [...fieldWarnings];
      if (r.rt.virtual) return this.createVirtual(r, ref, user, decoded);
      this.checkNamespaceLifecycle(r, ref.namespace, decoded.metadata.name);
      this.builtInAdmission(r, decoded);
      const admitted = (await this.admit(
        'CREATE',
        r,
        ref,
        user,
        decoded,
        undefined,
        !!opts.dryRun,
        {
          kind: 'CreateOptions',
          apiVersion: 'meta.k8s.io/v1',
          ...(opts.fieldManager ? { fieldManager: opts.fieldManager } : {}),
        },
        warnings,
      ))!;
      const obj = this.toStorage(r.rt, clone(admitted));
      const meta = obj.metadata;
      if (!meta.name && meta.generateName) meta.name = this.generateName(meta.generateName);
      meta.uid = randomUUID();
      meta.creationTimestamp = timestamp(this.now());
      delete meta.resourceVersion;
      delete meta.deletionTimestamp;
      delete meta.deletionGracePeriodSeconds;
      delete meta.selfLink;
      if (hasGeneration(r.rt)) meta.generation = 1;
      else delete meta.generation;
      prepareForCreate(r.rt, obj, () => this.allocateClusterIP());
      this.throwIfInvalid(r.rt, obj, [
        ...validateCreate(r.rt, obj),
        ...strategyErrors(r.rt, obj),
        ...(this.typeRules.get(`${r.rt.group}/${r.rt.plural}`)?.validate?.(obj) ?? []),
      ]);
      const key = objectKey(meta.namespace, meta.name!);
      if (this.store.get(r.collection, key)) throw alreadyExists(r.rt.group, r.rt.plural, meta.name!);
      if (opts.dryRun) return { value: new Stored(this.viewObj(r.rt, obj)), code: 201, warnings };
      const stored = this.store.put(r.collection, obj);
      this.afterCreate(r, stored.obj);
      return { value: this.toView(r.rt, stored), code: 201, warnings };
    });
  }

  /** What controllers of a real cluster do right after some creates (the ServiceAccount controller). */
  private afterCreate(r: Resolved, obj: KubeObject): void {
    if (r.rt.group === '' && r.rt.plural === 'namespaces') {
      const ns = obj.metadata.name!;
      if (!this.store.get('/serviceaccounts', `${ns}/default`)) {
        this.store.put('/serviceaccounts', {
          apiVersion: 'v1',
          kind: 'ServiceAccount',
          metadata: {
            name: 'default',
            namespace: ns,
            uid: randomUUID(),
            creationTimestamp: timestamp(this.now()),
          },
        });
      }
    }
  }

  private async createVirtual(
    r: Resolved,
    ref: ResourceRef,
    user: UserInfo,
    body: KubeObject,
  ): Promise<OpResult> {
    const hook = this.createHooks.get(`${r.rt.group}/${r.rt.plural}`);
    if (!hook)
      throw serviceUnavailable(
        `the server is currently unable to handle the request (post ${r.rt.plural}.${r.rt.group})`,
      );
    const out = await hook(ref, body, user);
    return { value: new Stored(out), code: 201, warnings: [] };
  }

  // ---------------------------------------------------------------------------------------------
  // Update and patch

  async update(user: UserInfo, ref: ResourceRef, body: unknown, opts: WriteOptions = {}): Promise<OpResult> {
    return this.run(user, 'update', ref, opts.dryRun, async (r) => {
      this.requireName(r, ref);
      if (r.sub && r.sub !== 'status' && r.sub !== 'finalize' && r.sub !== 'scale') throw methodNotAllowed();
      const fields = { mode: opts.fieldValidation, warnings: [] as string[] };
      const decoded =
        r.sub === 'scale' ? this.decodeScale(ref, body) : this.decode(r, ref, body, true, false, fields);
      const out = await this.guaranteedUpdate(r, ref, user, opts, () => clone(decoded), {
        kind: 'UpdateOptions',
        apiVersion: 'meta.k8s.io/v1',
      });
      return { ...out, warnings: [...fields.warnings, ...out.warnings] };
    });
  }

  async patch(
    user: UserInfo,
    ref: ResourceRef,
    type: PatchType,
    patch: unknown,
    opts: WriteOptions = {},
  ): Promise<OpResult> {
    return this.run(user, 'patch', ref, opts.dryRun, async (r) => {
      this.requireName(r, ref);
      if (r.sub && r.sub !== 'status' && r.sub !== 'scale') throw methodNotAllowed();
      // The unknown fields of the attempt that lands (each attempt decodes its own result).
      const fields = { mode: opts.fieldValidation, warnings: [] as string[] };
      const out = await this.guaranteedUpdate(
        r,
        ref,
        user,
        opts,
        // Applied to the object as stored NOW, on every attempt (kube's patcher inside GuaranteedUpdate).
        (existingView) => {
          const patched = applyPatch(r.rt, existingView, type, patch);
          if (!isMap(patched)) throw badRequest('the patch did not produce an object');
          const uid = patched.metadata?.uid;
          if (!r.sub && uid !== existingView.metadata?.uid) {
            // A uid in a PUT is a precondition (409); changed by a patch, it is an immutable field
            // (validated twice over by the update strategy, hence two causes).
            const immutable = {
              type: 'FieldValueInvalid',
              field: 'metadata.uid',
              message: `Invalid value: ${JSON.stringify(uid ?? '')}: field is immutable`,
            };
            throw invalid(r.rt.group, r.rt.kind, ref.name!, [immutable, immutable]);
          }
          return r.sub === 'scale'
            ? this.decodeScale(ref, patched)
            : this.decode(r, ref, patched, true, true, fields);
        },
        { kind: 'PatchOptions', apiVersion: 'meta.k8s.io/v1' },
      );
      return { ...out, warnings: [...fields.warnings, ...out.warnings] };
    });
  }

  /** What a client reads and writes at this path: the object through its type's view, or its Scale. */
  private subView(r: Resolved, obj: KubeObject, forUpdate = false): KubeObject {
    return r.sub === 'scale' ? scaleOf(r.rt, obj, forUpdate) : this.viewObj(r.rt, obj);
  }

  private subResult(r: Resolved, s: Stored): Stored {
    return r.sub === 'scale' ? new Stored(scaleOf(r.rt, s.obj)) : this.toView(r.rt, s);
  }

  /**
   * The update loop of a real registry (GuaranteedUpdate): build the new object from the object as
   * stored now (a patch is applied to it), run mutating admission on that (before the
   * resourceVersion check, as kube-apiserver does), check the resourceVersion the result carries
   * against the object it was built from, then prepare, validate and store. If someone else wrote
   * meanwhile (admission awaits), the storage compare-and-swap fails and the whole attempt re-runs
   * from the fresh object, as etcd3's GuaranteedUpdate does: a patch is re-applied (its `test`
   * operations then fail with 422, others land on top), a PUT carrying the old resourceVersion gets
   * 409, an unconditional PUT goes through. Only a stale resourceVersion in what the client sent
   * gives 409.
   */
  private async guaranteedUpdate(
    r: Resolved,
    ref: ResourceRef,
    user: UserInfo,
    opts: WriteOptions,
    build: (existingView: KubeObject) => KubeObject,
    admissionOptions: Record<string, unknown>,
  ): Promise<OpResult> {
    for (let attempt = 0; ; attempt++) {
      const warnings: string[] = [];
      const existing = this.mustGet(r, ref);
      const existingView = this.subView(r, existing.obj, true);
      const candidate = build(existingView);
      const admitted = (await this.admit(
        'UPDATE',
        r,
        ref,
        user,
        candidate,
        clone(this.subView(r, existing.obj)),
        !!opts.dryRun,
        { ...admissionOptions, ...(opts.fieldManager ? { fieldManager: opts.fieldManager } : {}) },
        warnings,
      ))!;
      const wantedRv = admitted.metadata?.resourceVersion;
      if (wantedRv !== undefined && wantedRv !== '' && wantedRv !== existing.obj.metadata.resourceVersion)
        throw conflict(r.rt.group, r.rt.plural, ref.name!);
      const current = this.store.get(r.collection, this.key(r.rt, ref));
      if (!current) throw notFound(r.rt.group, r.rt.plural, ref.name!);
      if (current !== existing) {
        // The compare-and-swap against `existing` fails: start over from the object as it is now.
        if (attempt < STORAGE_CONFLICT_RETRIES) continue;
        throw conflict(r.rt.group, r.rt.plural, ref.name!);
      }
      const uid = admitted.metadata?.uid;
      if (uid && uid !== existing.obj.metadata.uid)
        throw conflict(
          r.rt.group,
          r.rt.plural,
          ref.name!,
          // etcd3's storage error, as kube-apiserver passes it through (Code 4: invalid object).
          `StorageError: invalid object, Code: 4, Key: ${this.storageKeyOf(r.rt, ref)}, ResourceVersion: 0, AdditionalErrorMsg: Precondition failed: UID in precondition: ${uid}, UID in object meta: ${existing.obj.metadata.uid}`,
        );
      const written =
        r.sub === 'scale' ? applyScale(r.rt, existing.obj, admitted) : this.toStorage(r.rt, clone(admitted));
      const next = this.prepareForUpdate(r, written, existing.obj);
      this.throwIfInvalid(r.rt, next, [
        ...validateUpdate(r.rt, next, existing.obj, r.sub),
        ...strategyErrors(r.rt, next, r.sub),
        ...(this.typeRules.get(`${r.rt.group}/${r.rt.plural}`)?.validate?.(next, existing.obj) ?? []),
      ]);
      if (sameIgnoringVersion(next, existing.obj)) {
        return { value: this.subResult(r, existing), code: 200, warnings };
      }
      if (opts.dryRun) {
        return { value: this.subResult(r, new Stored(next)), code: 200, warnings };
      }
      const m = next.metadata;
      if (
        m.deletionTimestamp &&
        (m.finalizers ?? []).length === 0 &&
        !((m.deletionGracePeriodSeconds ?? 0) > 0) &&
        (next.kind !== 'Namespace' || (next.spec?.finalizers ?? []).length === 0)
      ) {
        // The last finalizer is gone from an object being deleted: it goes now.
        const last = this.store.remove(r.collection, this.key(r.rt, ref))!;
        return {
          value: this.subResult(
            r,
            new Stored({
              ...next,
              metadata: { ...next.metadata, resourceVersion: last.obj.metadata.resourceVersion },
            }),
          ),
          code: 200,
          warnings,
        };
      }
      const stored = this.store.put(r.collection, next);
      return { value: this.subResult(r, stored), code: 200, warnings };
    }
  }

  /** What an update may change: server-managed metadata stays, status vs main resource split, generation. */
  private prepareForUpdate(r: Resolved, obj: KubeObject, old: KubeObject): KubeObject {
    let next: KubeObject;
    if (r.sub === 'status') {
      // ResetObjectMetaForStatus: a status write changes the status and nothing else.
      next = { ...clone(old), status: obj.status };
      if (obj.status === undefined) delete next.status;
    } else if (r.sub === 'finalize') {
      next = { ...clone(old), spec: { ...(old.spec ?? {}), finalizers: obj.spec?.finalizers ?? [] } };
    } else {
      next = obj;
      if (r.rt.statusSubresource) {
        if (old.status === undefined) delete next.status;
        else next.status = clone(old.status);
      }
    }
    const m = next.metadata;
    const o = old.metadata;
    m.uid = o.uid;
    m.creationTimestamp = o.creationTimestamp;
    m.name = o.name;
    if (o.namespace) m.namespace = o.namespace;
    for (const f of ['deletionTimestamp', 'deletionGracePeriodSeconds', 'generation']) {
      if (o[f] === undefined) delete m[f];
      else m[f] = o[f];
    }
    delete m.selfLink;
    m.resourceVersion = o.resourceVersion;
    if (hasGeneration(r.rt) && r.sub !== 'status' && generationChanged(r.rt, next, old))
      m.generation = (o.generation ?? 0) + 1;
    return next;
  }

  // ---------------------------------------------------------------------------------------------
  // Delete

  async delete(user: UserInfo, ref: ResourceRef, opts: DeleteOptions = {}): Promise<OpResult> {
    return this.run(user, 'delete', ref, opts.dryRun, async (r) => {
      this.requireName(r, ref);
      if (r.sub) throw methodNotAllowed();
      return this.deleteObject(r, ref, user, opts);
    });
  }

  async deleteCollection(
    user: UserInfo,
    ref: ResourceRef,
    listOpts: ListOptions,
    opts: DeleteOptions = {},
  ): Promise<{ rt: ResourceType; items: Stored[]; resourceVersion: string }> {
    return this.run(user, 'deletecollection', ref, opts.dryRun, async (r) => {
      const labels = parseLabelSelector(listOpts.labelSelector);
      const fields = parseFieldSelector(listOpts.fieldSelector, r.rt.fieldSelectors);
      const out: Stored[] = [];
      for (const s of this.scan(r.rt, ref.namespace)) {
        const obj = s.obj;
        if (!matchesLabels(labels, obj.metadata.labels)) continue;
        if (!fields.every((f) => (r.rt.fieldSelectors[f.field](obj) === f.value) === (f.op === '=')))
          continue;
        const res = await this.deleteObject(
          r,
          { ...ref, namespace: obj.metadata.namespace, name: obj.metadata.name },
          user,
          opts,
        ).catch((err) => {
          if (err instanceof ApiError && err.code === 404) return undefined;
          throw err;
        });
        if (res) out.push(res.value);
      }
      return { rt: r.rt, items: out, resourceVersion: String(this.store.resourceVersion) };
    });
  }

  /** The registry's delete: preconditions, admission, graceful deletion, finalizers, propagation. */
  private async deleteObject(
    r: Resolved,
    ref: ResourceRef,
    user: UserInfo,
    opts: DeleteOptions,
  ): Promise<OpResult> {
    const warnings: string[] = [];
    const existing = this.mustGet(r, ref);
    const pre = opts.preconditions;
    // rest.BeforeDelete checks them early and names the object by its kind, not its resource.
    if (pre?.uid && pre.uid !== existing.obj.metadata.uid)
      throw conflict(
        r.rt.group,
        r.rt.kind,
        ref.name!,
        `the UID in the precondition (${pre.uid}) does not match the UID in record (${existing.obj.metadata.uid}). The object might have been deleted and then recreated`,
      );
    if (pre?.resourceVersion && pre.resourceVersion !== existing.obj.metadata.resourceVersion)
      throw conflict(
        r.rt.group,
        r.rt.kind,
        ref.name!,
        `the ResourceVersion in the precondition (${pre.resourceVersion}) does not match the ResourceVersion in record (${existing.obj.metadata.resourceVersion}). The object might have been modified`,
      );
    if (r.rt.group === '' && r.rt.plural === 'namespaces' && PROTECTED_NAMESPACES.has(ref.name!))
      throw forbidden('', 'namespaces', ref.name!, 'this namespace may not be deleted');
    await this.admit(
      'DELETE',
      r,
      ref,
      user,
      undefined,
      clone(this.viewObj(r.rt, existing.obj)),
      !!opts.dryRun,
      {
        kind: 'DeleteOptions',
        apiVersion: 'meta.k8s.io/v1',
        ...(opts.gracePeriodSeconds !== undefined ? { gracePeriodSeconds: opts.gracePeriodSeconds } : {}),
        ...(opts.propagationPolicy ? { propagationPolicy: opts.propagationPolicy } : {}),
      },
      warnings,
    );
    const current = this.mustGet(r, ref);
    const obj = clone(current.obj);
    const m = obj.metadata;
    const now = this.now();

    // Graceful deletion (pods): how long the kubelet gets before the object goes.
    let grace = 0;
    if (r.rt.group === '' && r.rt.plural === 'pods') {
      grace = opts.gracePeriodSeconds ?? obj.spec?.terminationGracePeriodSeconds ?? 30;
      if (grace < 0) grace = 1;
      const phase = obj.status?.phase;
      if (!obj.spec?.nodeName || phase === 'Failed' || phase === 'Succeeded') grace = 0;
    }
    let changed = false;
    let pendingGraceful = false;
    if (grace > 0) {
      const already = m.deletionTimestamp !== undefined;
      const currentGrace = m.deletionGracePeriodSeconds;
      if (!already || (currentGrace !== undefined && grace < currentGrace)) {
        m.deletionTimestamp = timestamp(now + grace * 1000);
        m.deletionGracePeriodSeconds = grace;
        if (!already && hasGeneration(r.rt)) m.generation = (m.generation ?? 0) + 1;
        changed = true;
      }
      pendingGraceful = true;
    } else if (
      m.deletionTimestamp &&
      m.deletionGracePeriodSeconds !== 0 &&
      m.deletionGracePeriodSeconds !== undefined
    ) {
      // A delete with grace 0 of a terminating object (the kubelet's final delete).
      m.deletionGracePeriodSeconds = 0;
      changed = true;
    }

    // Propagation: orphan and foreground are finalizers the garbage collector acts on.
    const policy = opts.propagationPolicy;
    const finalizers: string[] = [...(m.finalizers ?? [])];
    if (policy === 'Orphan' && !finalizers.includes('orphan')) finalizers.push('orphan');
    if (policy === 'Foreground' && !finalizers.includes('foregroundDeletion'))
      finalizers.push('foregroundDeletion');
    if (r.rt.group === '' && r.rt.plural === 'namespaces') {
      // The namespace controller empties it, then removes the `kubernetes` finalizer.
      obj.status = { ...(obj.status ?? {}), phase: 'Terminating' };
      changed = true;
    }
    const hasFinalizers =
      finalizers.length > 0 ||
      (r.rt.group === '' && r.rt.plural === 'namespaces' && (obj.spec?.finalizers ?? []).length > 0);
    if (finalizers.length !== (m.finalizers ?? []).length) {
      m.finalizers = finalizers;
      changed = true;
    }
    if (hasFinalizers && !m.deletionTimestamp) {
      m.deletionTimestamp = timestamp(now);
      m.deletionGracePeriodSeconds = 0;
      if (hasGeneration(r.rt)) m.generation = (m.generation ?? 0) + 1;
      changed = true;
    }

    if (pendingGraceful || hasFinalizers) {
      // The real handler answers 200 for a deletion still pending (graceful, finalizers), and 202
      // only when the client set the deprecated orphanDependents to false.
      const code = opts.orphanDependents === false ? 202 : 200;
      if (opts.dryRun || !changed) {
        const value =
          pendingGraceful && !r.rt.returnDeletedObject
            ? new Stored(successStatus(r.rt, obj))
            : new Stored(this.viewObj(r.rt, obj));
        return { value, code, warnings };
      }
      const stored = this.store.put(r.collection, obj);
      const value =
        pendingGraceful && !hasFinalizers && !r.rt.returnDeletedObject
          ? new Stored(successStatus(r.rt, stored.obj))
          : this.toView(r.rt, stored);
      return { value, code, warnings };
    }
    if (r.rt.group === '' && r.rt.plural === 'pods') {
      // A pod is always deleted gracefully, if with a period of 0: the answer carries the
      // deletionTimestamp and the period it went with.
      m.deletionTimestamp ??= timestamp(now);
      m.deletionGracePeriodSeconds = 0;
    }
    if (opts.dryRun) {
      return {
        value: r.rt.returnDeletedObject
          ? new Stored(this.viewObj(r.rt, obj))
          : new Stored(successStatus(r.rt, obj)),
        code: 200,
        warnings,
      };
    }
    const last = this.store.remove(r.collection, this.key(r.rt, ref))!;
    const answered = new Stored({
      ...obj,
      metadata: { ...obj.metadata, resourceVersion: last.obj.metadata.resourceVersion },
    });
    return {
      value: r.rt.returnDeletedObject
        ? this.toView(r.rt, answered)
        : new Stored(successStatus(r.rt, last.obj)),
      code: 200,
      warnings,
    };
  }

  // ---------------------------------------------------------------------------------------------
  // Subresources: eviction and binding

  private async evict(
    r: Resolved,
    ref: ResourceRef,
    user: UserInfo,
    body: unknown,
    opts: WriteOptions,
  ): Promise<OpResult> {
    if (!isMap(body)) throw badRequest(`Object 'Kind' is missing in '${JSON.stringify(body)}'`);
    if (body.kind !== undefined && body.kind !== 'Eviction')
      throw badRequest(`the kind in the data (${body.kind}) does not match the expected kind (Eviction)`);
    const name = body.metadata?.name;
    if (name !== undefined && name !== ref.name)
      throw badRequest('name in URL does not match name in Eviction object');
    const bodyNs = body.metadata?.namespace;
    if (bodyNs && bodyNs !== ref.namespace)
      throw badRequest(
        'the namespace of the provided object does not match the namespace sent on the request',
      );
    const deleteOptions = isMap(body.deleteOptions) ? body.deleteOptions : {};
    const dryRun =
      !!opts.dryRun || (Array.isArray(deleteOptions.dryRun) && deleteOptions.dryRun.includes('All'));
    const podRef = { ...ref, subresource: undefined };
    const pods = this.registry.get('', 'v1', 'pods')!;
    const podResolved: Resolved = { rt: pods, collection: storageKey(pods) };
    const pod = this.mustGet(podResolved, podRef);
    const pdbType = this.registry.byGroupResource('policy', 'poddisruptionbudgets')!;
    const pdbs = this.scan(pdbType, ref.namespace).map((s) => s.obj);
    const namespacePods = this.scan(pods, ref.namespace).map((s) => s.obj);
    await this.admit(
      'CREATE',
      r,
      ref,
      user,
      clone(body as KubeObject),
      undefined,
      dryRun,
      { kind: 'CreateOptions', apiVersion: 'meta.k8s.io/v1' },
      [],
    );
    checkEviction(pod.obj, pdbs, namespacePods);
    const delOpts: DeleteOptions = {
      dryRun,
      ...(deleteOptions.gracePeriodSeconds !== undefined
        ? { gracePeriodSeconds: deleteOptions.gracePeriodSeconds }
        : {}),
      ...(deleteOptions.preconditions ? { preconditions: deleteOptions.preconditions } : {}),
      ...(deleteOptions.propagationPolicy ? { propagationPolicy: deleteOptions.propagationPolicy } : {}),
    };
    await this.deleteObject(podResolved, podRef, user, delOpts);
    return createdStatusResult();
  }

  private async bind(
    r: Resolved,
    ref: ResourceRef,
    user: UserInfo,
    body: unknown,
    opts: WriteOptions,
  ): Promise<OpResult> {
    if (!isMap(body) || !isMap(body.target) || !body.target.name)
      throw invalid('', 'Binding', ref.name ?? '', [
        { type: 'FieldValueRequired', field: 'target.name', message: 'Required value' },
      ]);
    const pods = this.registry.get('', 'v1', 'pods')!;
    const podResolved: Resolved = { rt: pods, collection: storageKey(pods) };
    const podRef = { ...ref, subresource: undefined };
    const existing = this.mustGet(podResolved, podRef);
    await this.admit(
      'CREATE',
      r,
      ref,
      user,
      clone(body as KubeObject),
      undefined,
      !!opts.dryRun,
      { kind: 'CreateOptions', apiVersion: 'meta.k8s.io/v1' },
      [],
    );
    const pod = clone(existing.obj);
    if (pod.metadata.deletionTimestamp)
      throw conflict(
        '',
        'pods/binding',
        ref.name!,
        `pod ${ref.name} is being deleted, cannot be assigned to a host`,
      );
    if (pod.spec?.nodeName)
      throw conflict(
        '',
        'pods/binding',
        ref.name!,
        `pod ${ref.name} is already assigned to node "${pod.spec.nodeName}"`,
      );
    pod.spec.nodeName = body.target.name;
    if (isMap(body.metadata?.annotations))
      pod.metadata.annotations = { ...(pod.metadata.annotations ?? {}), ...body.metadata.annotations };
    pod.status = {
      ...(pod.status ?? {}),
      conditions: [
        ...((pod.status?.conditions ?? []) as any[]).filter((c) => c.type !== 'PodScheduled'),
        {
          type: 'PodScheduled',
          status: 'True',
          lastProbeTime: null,
          lastTransitionTime: timestamp(this.now()),
        },
      ],
    };
    if (!opts.dryRun) this.store.put(podResolved.collection, pod);
    return createdStatusResult();
  }
}

function encodeContinue(c: Continue): string {
  return Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv: c.rv, start: c.start })).toString('base64url');
}

function decodeContinue(token: string): Continue {
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
    if (parsed?.v !== 'meta.k8s.io/v1' || typeof parsed.rv !== 'number' || typeof parsed.start !== 'string')
      throw new Error('bad');
    return { rv: parsed.rv, start: parsed.start };
  } catch {
    throw badRequest(`continue key is not valid: ${token}`);
  }
}
