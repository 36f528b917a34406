// Mutating admission through webhooks, as kube-apiserver's MutatingAdmissionWebhook plugin runs
// it (admission/plugin/webhook/{generic,mutating}): the stored MutatingWebhookConfigurations in
// name order, each webhook in order; a webhook is called when its rules, namespaceSelector,
// objectSelector and matchConditions all say so; each sees the object as the previous webhooks
// patched it; failures follow the webhook's failurePolicy where kube lets them, and reject where
// kube always rejects (a dry run to a webhook with side effects, a patch that does not apply).
// reinvocationPolicy IfNeeded is honoured: one more round for the webhooks that asked for it when
// a later webhook changed the object. matchPolicy Equivalent behaves as Exact: the emulator serves
// each resource at a single version, so there is no equivalent resource to convert a request to.

import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import jsonpatch, { type Operation } from 'fast-json-patch';
import type { Logger } from '../../../shared/logger.js';
import { ApiError, badRequest, forbidden, internal, type StatusDetails } from '../errors.js';
import type {
  AdmissionAttributes,
  AdmissionResult,
  KubeObject,
  ObjectReader,
  ServiceResolver,
} from '../types.js';
import { evaluateConditions, toCelValue } from './cel.js';
import { WebhookCallError, WebhookHttpClient, type WebhookTarget } from './client.js';
import {
  ACCEPTED_REVIEW_VERSIONS,
  ADMISSION_GROUP,
  MUTATING_CONFIGS,
  defaultWebhook,
  isBase64,
  type MutatingWebhook,
} from './config.js';
import {
  admissionNamespace,
  isExemptConfigurationResource,
  namespaceSelectorMatches,
  objectSelectorMatches,
  rulesMatch,
} from './match.js';

export interface MutatingAdmissionOptions {
  reader: ObjectReader;
  resolveService: ServiceResolver;
  logger?: Logger;
  /** Keep-alive connections per webhook (default 64). */
  maxSocketsPerWebhook?: number;
}

/** What became of a webhook for one request. */
export type WebhookOutcome =
  /** Called; allowed without changing the object. */
  | 'allowed'
  /** Called; its patch changed the object. */
  | 'patched'
  /** Called; it denied the request. */
  | 'denied'
  /** The call failed and failurePolicy Fail rejected the request (500). */
  | 'failedClosed'
  /** The call failed and failurePolicy Ignore let the request through. */
  | 'failedOpen'
  /** Rejected whatever the failure policy: dry run with side effects, a patch that does not apply. */
  | 'rejected'
  /** Not called: a matchCondition was false. */
  | 'conditionFalse'
  /** A matchCondition failed to evaluate; failurePolicy Fail rejected the request (403). */
  | 'conditionError'
  /** A matchCondition failed to evaluate; failurePolicy Ignore skipped the webhook. */
  | 'conditionErrorIgnored';

export interface WebhookCallStats {
  configuration: string;
  webhook: string;
  outcomes: Partial<Record<WebhookOutcome, number>>;
  /** HTTP calls made and their latency (ms), including failed ones. */
  calls: number;
  totalLatencyMs: number;
  maxLatencyMs: number;
}

export interface MutatingAdmission {
  /**
   * Runs the request through the matching webhooks. Resolves with the (possibly patched) object and
   * the webhooks' warnings; rejects with the ApiError the client must get. A rejection carries the
   * warnings gathered so far as `warnings` (see `admissionWarnings`).
   */
  admit(attrs: AdmissionAttributes): Promise<AdmissionResult>;
  stats(): WebhookCallStats[];
  resetStats(): void;
  /** Closes keep-alive connections to webhooks. */
  close(): void;
}

/** The warnings a rejected admission had gathered (kube still sends them as Warning headers). */
export function admissionWarnings(err: unknown): string[] {
  const w = (err as { warnings?: unknown })?.warnings;
  return Array.isArray(w) ? (w as string[]) : [];
}

interface CompiledWebhook {
  /** Identity across rounds, as kube's accessor UID: `<configuration>/<webhook>/<index>`. */
  uid: string;
  configuration: string;
  hook: MutatingWebhook;
  reviewVersion: string | undefined;
  caPem: string | undefined;
  agentKey: string;
}

type CallResult =
  | { kind: 'ok'; object: KubeObject | undefined; changed: boolean }
  /** kube's ErrCallingWebhook: subject to failurePolicy. `reason` is what follows `failed calling webhook "x": `. */
  | { kind: 'callError'; reason: string }
  /** A rejection that no failure policy overrides. */
  | { kind: 'reject'; error: ApiError; outcome: WebhookOutcome };

export function createMutatingAdmission(opts: MutatingAdmissionOptions): MutatingAdmission {
  const { reader, resolveService, logger } = opts;
  const http = new WebhookHttpClient(opts.maxSocketsPerWebhook);
  const compiledConfigs = new Map<string, { version: string; hooks: CompiledWebhook[] }>();
  const stats = new Map<string, WebhookCallStats>();

  const statsFor = (w: CompiledWebhook): WebhookCallStats => {
    const key = `${w.configuration}/${w.hook.name}`;
    let s = stats.get(key);
    if (!s) {
      s = {
        configuration: w.configuration,
        webhook: w.hook.name,
        outcomes: {},
        calls: 0,
        totalLatencyMs: 0,
        maxLatencyMs: 0,
      };
      stats.set(key, s);
    }
    return s;
  };
  const count = (w: CompiledWebhook, outcome: WebhookOutcome) => {
    const s = statsFor(w);
    s.outcomes[outcome] = (s.outcomes[outcome] ?? 0) + 1;
  };

  /** The configured webhooks in call order, compiled once per configuration resourceVersion. */
  const loadWebhooks = (): CompiledWebhook[] => {
    const configs = [...reader.list(ADMISSION_GROUP, MUTATING_CONFIGS)].sort((a, b) =>
      (a.metadata.name ?? '') < (b.metadata.name ?? '')
        ? -1
        : (a.metadata.name ?? '') > (b.metadata.name ?? '')
          ? 1
          : 0,
    );
    const seen = new Set<string>();
    const out: CompiledWebhook[] = [];
    let changed = false;
    for (const config of configs) {
      const name = config.metadata.name ?? '';
      seen.add(name);
      const version = config.metadata.resourceVersion ?? '';
      let entry = compiledConfigs.get(name);
      if (!entry || !version || entry.version !== version) {
        entry = { version, hooks: compileConfig(config) };
        compiledConfigs.set(name, entry);
        changed = true;
      }
      out.push(...entry.hooks);
    }
    for (const name of [...compiledConfigs.keys()]) {
      if (!seen.has(name)) {
        compiledConfigs.delete(name);
        changed = true;
      }
    }
    if (changed)
      http.retain(new Set([...compiledConfigs.values()].flatMap((e) => e.hooks.map((h) => h.agentKey))));
    return out;
  };

  const targetOf = (hook: MutatingWebhook): WebhookTarget => {
    const cc = hook.clientConfig ?? {};
    if (cc.service) {
      const { namespace, name } = cc.service;
      const port = cc.service.port ?? 443;
      const serverName = `${name}.${namespace}.svc`;
      const path = cc.service.path ?? '';
      const resolved = resolveService(namespace, name, port);
      return {
        url: `https://${serverName}:${port}${path}`,
        path: path || '/',
        hostHeader: `${serverName}:${port}`,
        serverName,
        connect: resolved ?? { error: `service ${JSON.stringify(name)} not found` },
      };
    }
    const url = cc.url ?? '';
    try {
      const u = new URL(url);
      const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
      return {
        url,
        path: u.pathname || '/',
        hostHeader: u.host,
        serverName: host,
        connect: { host, port: u.port ? Number(u.port) : 443 },
      };
    } catch {
      return { url, path: '/', hostHeader: '', serverName: '', connect: { error: 'invalid URL' } };
    }
  };

  /** kube's ShouldCallHook: selectors, rules, then matchConditions (whose errors obey failurePolicy). */
  const shouldCall = (w: CompiledWebhook, a: AdmissionAttributes, celVars: () => CelVars): boolean => {
    const nsMatch = namespaceSelectorMatches(w.hook.namespaceSelector, a, (ns) => {
      const found = reader.get('', 'namespaces', undefined, ns);
      return found ? (found.metadata.labels ?? {}) : undefined;
    });
    if (nsMatch === false) return false;
    if (!objectSelectorMatches(w.hook.objectSelector, a)) return false;
    if (!rulesMatch(w.hook.rules, a)) return false;
    // A selector error only counts for a webhook whose rules match the request.
    if (nsMatch instanceof ApiError) throw nsMatch;
    const conditions = w.hook.matchConditions ?? [];
    if (conditions.length === 0) return true;
    const result = evaluateConditions(conditions, celVars());
    if (result.matches) return true;
    if ('failedCondition' in result) {
      count(w, 'conditionFalse');
      return false;
    }
    if (w.hook.failurePolicy === 'Ignore') {
      count(w, 'conditionErrorIgnored');
      logger?.warn(
        { webhook: w.hook.name, err: result.error },
        'Failed evaluating match conditions, skipping webhook',
      );
      return false;
    }
    count(w, 'conditionError');
    logger?.warn(
      { webhook: w.hook.name, err: result.error },
      'Failed evaluating match conditions, failing closed',
    );
    throw forbidden(a.resource.group, a.resource.resource, a.name || undefined, result.error);
  };

  const callHook = async (
    w: CompiledWebhook,
    a: AdmissionAttributes,
    request: AdmissionRequest,
    warnings: string[],
  ): Promise<CallResult> => {
    const hook = w.hook;
    if (a.dryRun && hook.sideEffects !== 'None' && hook.sideEffects !== 'NoneOnDryRun') {
      return {
        kind: 'reject',
        outcome: 'rejected',
        error: badRequest(`admission webhook ${JSON.stringify(hook.name)} does not support dry run`),
      };
    }
    if (!w.reviewVersion) {
      return {
        kind: 'callError',
        reason: 'could not create admission objects: webhook does not accept known AdmissionReview versions',
      };
    }
    const apiVersion = `admission.k8s.io/${w.reviewVersion}`;
    const body = JSON.stringify({ apiVersion, kind: 'AdmissionReview', request });

    const started = performance.now();
    let raw: { statusCode: number; body: string };
    try {
      raw = await http.post(targetOf(hook), w.agentKey, w.caPem, body, hook.timeoutSeconds ?? 10);
    } catch (err) {
      recordLatency(statsFor(w), performance.now() - started);
      const message = err instanceof WebhookCallError ? err.message : String(err);
      return { kind: 'callError', reason: `failed to call webhook: ${message}` };
    }
    recordLatency(statsFor(w), performance.now() - started);

    if (raw.statusCode < 200 || raw.statusCode > 299) {
      return {
        kind: 'callError',
        reason: `failed to call webhook: ${unexpectedStatus(raw.statusCode, raw.body)}`,
      };
    }
    let review: AdmissionReviewResponse;
    try {
      review = JSON.parse(raw.body) as AdmissionReviewResponse;
      if (review === null || typeof review !== 'object' || Array.isArray(review))
        throw new Error('not an object');
    } catch {
      return {
        kind: 'callError',
        reason: `failed to call webhook: couldn't get version/kind; json parse error: ${firstBytes(raw.body)}`,
      };
    }
    const response = review.response;
    if (response?.patch !== undefined && response.patch !== null && !isBase64(response.patch)) {
      return { kind: 'callError', reason: 'failed to call webhook: illegal base64 data in response.patch' };
    }
    const invalid = (why: string): CallResult => ({
      kind: 'callError',
      reason: `received invalid webhook response: ${why}`,
    });
    if (!response || typeof response !== 'object') return invalid('webhook response was absent');
    if (response.uid !== request.uid) {
      return invalid(
        `expected response.uid=${JSON.stringify(request.uid)}, got ${JSON.stringify(response.uid ?? '')}`,
      );
    }
    if (review.apiVersion !== apiVersion || review.kind !== 'AdmissionReview') {
      return invalid(
        `expected webhook response of ${apiVersion}, Kind=AdmissionReview, got ${review.apiVersion ?? ''}, Kind=${review.kind ?? ''}`,
      );
    }
    const patchB64 = response.patch ?? '';
    if (patchB64.length > 0 && !response.patchType) {
      return invalid('webhook returned response.patch but not response.patchType');
    }
    if (Array.isArray(response.warnings)) {
      for (const warning of response.warnings) if (typeof warning === 'string') warnings.push(warning);
    }

    if (response.allowed !== true) {
      return { kind: 'reject', outcome: 'denied', error: webhookDenial(hook.name, response.status) };
    }
    if (patchB64.length === 0) return { kind: 'ok', object: a.object, changed: false };
    let ops: Operation[];
    try {
      ops = JSON.parse(Buffer.from(patchB64, 'base64').toString('utf8')) as Operation[];
      if (!Array.isArray(ops))
        throw new Error('json: cannot unmarshal object into Go value of type jsonpatch.Patch');
    } catch (err) {
      return { kind: 'reject', outcome: 'rejected', error: internal(firstLine(err)) };
    }
    if (ops.length === 0) return { kind: 'ok', object: a.object, changed: false };
    if (!a.object) {
      return {
        kind: 'reject',
        outcome: 'rejected',
        error: internal(
          `admission webhook ${JSON.stringify(hook.name)} attempted to modify the object, which is not supported for this operation`,
        ),
      };
    }
    if (response.patchType !== 'JSONPatch') {
      return { kind: 'callError', reason: `unsupported patch type ${JSON.stringify(response.patchType)}` };
    }
    let patched: KubeObject;
    try {
      patched = jsonpatch.applyPatch(structuredClone(a.object), ops, true, true, true).newDocument;
    } catch (err) {
      return { kind: 'reject', outcome: 'rejected', error: internal(firstLine(err)) };
    }
    return { kind: 'ok', object: patched, changed: !isDeepStrictEqual(patched, a.object) };
  };

  const admit = async (attrs: AdmissionAttributes): Promise<AdmissionResult> => {
    const warnings: string[] = [];
    if (isExemptConfigurationResource(attrs)) return { object: attrs.object, warnings };
    const hooks = loadWebhooks();
    if (hooks.length === 0) return { object: attrs.object, warnings };

    let current = attrs;
    // kube's webhookReinvokeContext: webhooks with IfNeeded invoked so far, and those owed a second call.
    let previouslyInvoked = new Set<string>();
    const reinvoke = new Set<string>();
    let shouldReinvoke = false;
    const celForms = new Map<object, unknown>();
    try {
      for (let round = 0; round < 2; round++) {
        if (round === 1 && !shouldReinvoke) break;
        for (const w of hooks) {
          // Built only for a webhook that gets as far as its matchConditions or its call.
          const attrsNow = current;
          let request: AdmissionRequest | undefined;
          const requestNow = () => (request ??= buildRequest(attrsNow));
          let cel: CelVars | undefined;
          const celVars = () => (cel ??= celVariables(attrsNow, requestNow(), celForms));
          if (!shouldCall(w, current, celVars)) continue;
          // A webhook not called in the first round is never called first in the reinvocation round.
          if (round === 1 && !reinvoke.has(w.uid)) continue;

          const result = await callHook(w, current, requestNow(), warnings);
          if (result.kind === 'ok' && result.changed) {
            for (const uid of previouslyInvoked) reinvoke.add(uid);
            previouslyInvoked = new Set();
            shouldReinvoke = true;
          }
          if (w.hook.reinvocationPolicy === 'IfNeeded') previouslyInvoked.add(w.uid);

          if (result.kind === 'ok') {
            count(w, result.changed ? 'patched' : 'allowed');
            current = { ...current, object: result.object };
            continue;
          }
          if (result.kind === 'reject') {
            count(w, result.outcome);
            throw result.error;
          }
          const message = `failed calling webhook ${JSON.stringify(w.hook.name)}: ${result.reason}`;
          if (w.hook.failurePolicy === 'Ignore') {
            count(w, 'failedOpen');
            logger?.warn({ webhook: w.hook.name, err: message }, 'Failed calling webhook, failing open');
            continue;
          }
          count(w, 'failedClosed');
          logger?.warn({ webhook: w.hook.name, err: message }, 'Failed calling webhook, failing closed');
          throw internal(message);
        }
      }
    } catch (err) {
      if (err instanceof ApiError) Object.assign(err, { warnings: [...warnings] });
      throw err;
    }
    return { object: current.object, warnings };
  };

  return {
    admit,
    stats: () => [...stats.values()].map((s) => ({ ...s, outcomes: { ...s.outcomes } })),
    resetStats: () => stats.clear(),
    close: () => http.close(),
  };
}

function compileConfig(config: KubeObject): CompiledWebhook[] {
  const name = config.metadata.name ?? '';
  const hooks: MutatingWebhook[] = Array.isArray(config.webhooks) ? config.webhooks : [];
  // Validation keeps malformed webhooks out of the store; anything else that slipped in is not a webhook.
  return hooks.flatMap((raw, index) => {
    if (raw === null || typeof raw !== 'object') return [];
    const hook = defaultWebhook(raw);
    const caBundle = hook.clientConfig?.caBundle;
    const caPem = caBundle ? Buffer.from(caBundle, 'base64').toString('utf8') : undefined;
    const reviewVersion = (
      Array.isArray(hook.admissionReviewVersions) ? hook.admissionReviewVersions : []
    ).find((v) => ACCEPTED_REVIEW_VERSIONS.includes(v));
    const uid = `${name}/${hook.name}/${index}`;
    return {
      uid,
      configuration: name,
      hook,
      reviewVersion,
      caPem,
      // New CA bundle or new endpoint → new connections; old ones are closed by `retain`.
      agentKey: `${uid}\u0000${caBundle ?? ''}\u0000${JSON.stringify(hook.clientConfig?.service ?? hook.clientConfig?.url)}`,
    };
  });
}

function recordLatency(s: WebhookCallStats, ms: number): void {
  s.calls++;
  s.totalLatencyMs += ms;
  if (ms > s.maxLatencyMs) s.maxLatencyMs = ms;
}

// ---------------------------------------------------------------------------------------------
// AdmissionReview (admission.k8s.io/v1)

export interface AdmissionRequest {
  uid: string;
  kind: { group: string; version: string; kind: string };
  resource: { group: string; version: string; resource: string };
  subResource?: string;
  requestKind: { group: string; version: string; kind: string };
  requestResource: { group: string; version: string; resource: string };
  requestSubResource?: string;
  name?: string;
  namespace?: string;
  operation: string;
  userInfo: { username: string; uid?: string; groups: string[] };
  object?: KubeObject;
  oldObject?: KubeObject;
  dryRun: boolean;
  options?: Record<string, unknown>;
}

interface AdmissionReviewResponse {
  apiVersion?: string;
  kind?: string;
  response?: {
    uid?: string;
    allowed?: boolean;
    status?: { code?: number; message?: string; reason?: string; status?: string; details?: StatusDetails };
    patch?: string | null;
    patchType?: string;
    warnings?: unknown[];
  };
}

const OPTIONS_KIND: Record<string, string | undefined> = {
  CREATE: 'CreateOptions',
  UPDATE: 'UpdateOptions',
  DELETE: 'DeleteOptions',
};

export function buildRequest(a: AdmissionAttributes): AdmissionRequest {
  const namespace = admissionNamespace(a);
  const optionsKind = OPTIONS_KIND[a.operation];
  let options: Record<string, unknown> | undefined;
  if (a.options && typeof a.options.kind === 'string') options = a.options;
  else if (optionsKind) {
    options = {
      kind: optionsKind,
      apiVersion: 'meta.k8s.io/v1',
      ...(a.dryRun ? { dryRun: ['All'] } : {}),
      ...a.options,
    };
  }
  return {
    uid: randomUUID(),
    kind: a.kind,
    resource: a.resource,
    ...(a.subResource ? { subResource: a.subResource } : {}),
    requestKind: a.kind,
    requestResource: a.resource,
    ...(a.subResource ? { requestSubResource: a.subResource } : {}),
    ...(a.name ? { name: a.name } : {}),
    ...(namespace ? { namespace } : {}),
    operation: a.operation,
    userInfo: {
      username: a.userInfo.username,
      ...(a.userInfo.uid ? { uid: a.userInfo.uid } : {}),
      groups: [...a.userInfo.groups],
    },
    ...(a.object ? { object: a.object } : {}),
    ...(a.oldObject ? { oldObject: a.oldObject } : {}),
    dryRun: a.dryRun,
    ...(options ? { options } : {}),
  };
}

interface CelVars {
  object: unknown;
  oldObject: unknown;
  request: unknown;
}

/**
 * The CEL variables for one webhook. `forms` caches the CEL form of each object for the duration
 * of one admission (objects are not mutated there: patches apply to copies), so several webhooks
 * with matchConditions convert the same object once.
 */
function celVariables(
  a: AdmissionAttributes,
  request: AdmissionRequest,
  forms: Map<object, unknown>,
): CelVars {
  const celForm = (o: KubeObject): unknown => {
    let v = forms.get(o);
    if (v === undefined) {
      v = toCelValue(o);
      forms.set(o, v);
    }
    return v;
  };
  const object = a.object ? celForm(a.object) : null;
  const oldObject = a.oldObject ? celForm(a.oldObject) : null;
  const { object: _o, oldObject: _oo, ...rest } = request;
  const celRequest = toCelValue(rest) as Record<string, unknown>;
  if (object !== null) celRequest.object = object;
  if (oldObject !== null) celRequest.oldObject = oldObject;
  return { object, oldObject, request: celRequest };
}

/** webhookerrors.ToStatusErr: the webhook's own status, code at least 400, message prefixed. */
function webhookDenial(
  webhookName: string,
  status: { code?: number; message?: string; reason?: string; details?: StatusDetails } | undefined,
): ApiError {
  const deniedBy = `admission webhook ${JSON.stringify(webhookName)} denied the request`;
  const code = typeof status?.code === 'number' && status.code >= 400 ? status.code : 400;
  const message = status?.message
    ? `${deniedBy}: ${status.message}`
    : status?.reason
      ? `${deniedBy}: ${status.reason}`
      : `${deniedBy} without explanation`;
  return new ApiError(code, status?.reason ?? '', message, status?.details);
}

/** client-go's words for a non-2xx answer that is not a Status (rest.Result error). */
function unexpectedStatus(code: number, body: string): string {
  try {
    const parsed = JSON.parse(body) as { kind?: string; message?: string };
    if (parsed?.kind === 'Status' && parsed.message) return parsed.message;
  } catch {
    // not JSON: fall through to the generic sentences
  }
  switch (code) {
    case 400:
      return 'the server rejected our request for an unknown reason';
    case 401:
      return 'Unauthorized';
    case 403:
      return 'the server does not allow access to the requested resource';
    case 404:
      return 'the server could not find the requested resource';
    case 405:
      return 'the server does not allow this method on the requested resource';
    case 429:
      return 'the server has received too many requests and has asked us to try again later';
    case 503:
      return 'the server is currently unable to handle the request';
    case 504:
      return 'the server was unable to return a response in the time allotted, but may still be processing the request';
    default:
      if (code >= 500) {
        return `an error on the server (${JSON.stringify(body.trim().slice(0, 1024) || 'unknown')}) has prevented the request from succeeding`;
      }
      return `the server responded with the status code ${code} but did not return more information`;
  }
}

function firstBytes(s: string): string {
  return JSON.stringify(s.slice(0, 64));
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0]!;
}
