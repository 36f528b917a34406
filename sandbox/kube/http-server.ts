// The HTTPS front of the emulated API server: REST routing onto the pipeline, discovery, watch
// streaming (newline-delimited JSON), Table output for kubectl, Status bodies and Warning headers.
// Nothing a client sends may crash it: every handler's failure becomes a Status.
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { parse as parseYaml } from 'yaml';
import {
  ApiError,
  badRequest,
  invalid,
  methodNotAllowed,
  requestEntityTooLarge,
  unauthorized,
  unsupportedMediaType,
} from './errors.js';
import type { Discovery } from './discovery.js';
import { OPENAPI_V2_PROTOBUF, openApiV2, type OpenApiV3 } from './openapi.js';
import { SERVER_VERSION } from './discovery.js';
import { FIELD_VALIDATION_VALUES, type FieldValidation } from './fields.js';
import { patchTypeFor } from './patch.js';
import type { ListResult, OpResult, Pipeline } from './pipeline.js';
import { apiVersionOf, type ResourceType } from './resources.js';
import type { Delivery, Stored } from './store.js';
import { table, type IncludeObject } from './tables.js';
import type { EmulatorTls } from './tls.js';
import type { AuthorizationDecision, DeleteOptions, ListOptions, ResourceRef, UserInfo } from './types.js';

export const MAX_BODY_BYTES = 3 * 1024 * 1024;

export interface HttpServerOptions {
  pipeline: Pipeline;
  discovery: Discovery;
  openapi: OpenApiV3;
  tls: EmulatorTls;
  listen: { host: string; port: number };
  /** The identity an Authorization header carries, undefined when missing or unknown. */
  authenticate: (authorizationHeader: string | undefined) => UserInfo | undefined;
  /** Authorization of non-resource paths (discovery); absent means every authenticated user may read them. */
  authorizeNonResource?: (user: UserInfo, path: string, verb: string) => AuthorizationDecision;
  logger: Logger;
  now: () => number;
  /** A watch whose socket buffers more than this many bytes is closed (a slow client). */
  watchBufferLimitBytes?: number;
}

export interface KubeHttpServer {
  url: string;
  host: string;
  port: number;
  close(): Promise<void>;
  /** Open HTTP watch streams (for tests and the benchmark). */
  openWatches(): number;
  /** TLS connections accepted so far: a client that reuses its connections keeps this flat. */
  tlsConnections(): number;
}

const PUBLIC_PATHS = new Set(['/healthz', '/livez', '/readyz', '/version', '/version/']);

function sendJson(res: ServerResponse, code: number, body: string, warnings: string[] = []): void {
  if (res.headersSent || res.destroyed) return;
  const headers: Record<string, string | string[]> = {
    'content-type': 'application/json',
    'cache-control': 'no-cache, private',
  };
  if (warnings.length) headers.warning = warnings.map((w) => `299 - ${JSON.stringify(w)}`);
  res.writeHead(code, headers);
  res.end(body);
}

function wantsTable(accept: string | undefined): boolean {
  return !!accept && /as=Table/.test(accept) && /g=meta\.k8s\.io/.test(accept);
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > MAX_BODY_BYTES) {
      reject(requestEntityTooLarge(`Request entity too large: limit is ${MAX_BODY_BYTES}`));
      req.resume();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (c: Buffer) => {
      if (failed) return;
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        failed = true;
        reject(requestEntityTooLarge(`Request entity too large: limit is ${MAX_BODY_BYTES}`));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => !failed && resolve(Buffer.concat(chunks)));
    req.on('error', (e) => !failed && reject(e));
  });
}

function decodeBody(buf: Buffer, contentType: string | undefined): unknown {
  const ct = (contentType ?? 'application/json').split(';')[0].trim().toLowerCase();
  const text = buf.toString('utf8');
  if (ct === 'application/yaml' || ct === 'application/x-yaml' || ct === 'text/yaml') {
    try {
      return parseYaml(text);
    } catch (e: any) {
      throw badRequest(`error converting YAML to JSON: ${e.message}`);
    }
  }
  if (ct !== 'application/json' && ct !== '' && ct !== '*/*')
    throw unsupportedMediaType(['application/json', 'application/yaml']);
  if (text.trim() === '') throw badRequest('the body of the request is empty');
  try {
    return JSON.parse(text);
  } catch (e: any) {
    throw badRequest(`couldn't get version/kind; json parse error: ${e.message}`);
  }
}

function parseBool(v: string | null): boolean | undefined {
  if (v === null) return undefined;
  return v === 'true' || v === '1';
}

function parseIntParam(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw badRequest(`invalid value for ${name}: ${v}`);
  return n;
}

function dryRunOf(values: unknown): boolean {
  const list = Array.isArray(values) ? values : values === undefined || values === null ? [] : [values];
  for (const v of list)
    if (v !== 'All') throw badRequest(`Invalid dry run value: ${String(v)}; supported values: "All"`);
  return list.length > 0;
}

/** The `fieldValidation` parameter of a write; a value it does not know is a 422 on the options. */
function fieldValidationOf(q: URLSearchParams, method: string): FieldValidation | undefined {
  const v = q.get('fieldValidation');
  if (v === null || v === '') return undefined;
  if ((FIELD_VALIDATION_VALUES as readonly string[]).includes(v)) return v as FieldValidation;
  const kind = method === 'POST' ? 'CreateOptions' : method === 'PUT' ? 'UpdateOptions' : 'PatchOptions';
  throw invalid('meta.k8s.io', kind, '', [
    {
      type: 'FieldValueNotSupported',
      field: 'fieldValidation',
      message: `Unsupported value: ${JSON.stringify(v)}: supported values: ${FIELD_VALIDATION_VALUES.map((x) => JSON.stringify(x)).join(', ')}`,
    },
  ]);
}

interface Route {
  ref: ResourceRef;
  rt: ResourceType;
  watchPrefix: boolean;
}

/** Maps a REST path onto a resource reference, or returns undefined when it is not a resource path. */
function route(pipeline: Pipeline, segments: string[]): Route | undefined {
  let group: string;
  let version: string;
  let rest: string[];
  if (segments[0] === 'api' && segments.length >= 3) {
    group = '';
    version = segments[1];
    rest = segments.slice(2);
  } else if (segments[0] === 'apis' && segments.length >= 4) {
    group = segments[1];
    version = segments[2];
    rest = segments.slice(3);
  } else return undefined;
  let watchPrefix = false;
  if (rest[0] === 'watch') {
    watchPrefix = true;
    rest = rest.slice(1);
  }
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    const candidate = pipeline.registry.get(group, version, rest[2]);
    if (candidate?.namespaced) {
      namespace = rest[1];
      rest = rest.slice(2);
    }
  }
  const [resource, name, subresource, ...extra] = rest;
  if (extra.length > 0) return undefined;
  const rt = pipeline.registry.get(group, version, resource);
  if (!rt) return undefined;
  return {
    rt,
    watchPrefix,
    ref: {
      group,
      version,
      resource,
      ...(namespace !== undefined ? { namespace } : {}),
      ...(name !== undefined ? { name } : {}),
      ...(subresource !== undefined ? { subresource } : {}),
    },
  };
}

export async function startHttpServer(opts: HttpServerOptions): Promise<KubeHttpServer> {
  const { pipeline, discovery, logger } = opts;
  const watchLimit = opts.watchBufferLimitBytes ?? 16 * 1024 * 1024;
  const openWatches = new Set<() => void>();
  let serverAddress = '';

  const server = https.createServer({ cert: opts.tls.cert, key: opts.tls.key }, (req, res) => {
    handle(req, res).catch((err) => {
      const e = err instanceof ApiError ? err : pipeline.asApiError(err);
      if (!(err instanceof ApiError)) logger.error({ err, url: req.url }, 'request failed');
      try {
        // A rejected admission still returns the webhooks' warnings.
        const warnings = (err as { warnings?: unknown })?.warnings;
        sendJson(
          res,
          e.code,
          JSON.stringify(e.toStatus()),
          Array.isArray(warnings) ? (warnings as string[]) : [],
        );
      } catch {
        res.destroy();
      }
    });
  });
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  // Watches stay open for a long time; the per-watch timeout closes them.
  server.requestTimeout = 0;
  server.on('clientError', (_err, socket) => socket.destroy());

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://emulator');
    const path = url.pathname.replace(/\/+$/, '') || '/';

    if (path === '/healthz' || path === '/livez' || path === '/readyz') {
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end('ok');
      return;
    }
    const user = opts.authenticate(req.headers.authorization);
    if (!user && !PUBLIC_PATHS.has(path)) {
      pipelineLogUnauthorized(req, path);
      throw unauthorized();
    }
    const segments = path.split('/').filter(Boolean).map(decodeURIComponent);
    const r = route(pipeline, segments);
    if (!r) {
      await serveNonResource(req, res, path, segments, user);
      return;
    }
    await serveResource(req, res, url, r, user!);
  }

  function pipelineLogUnauthorized(req: IncomingMessage, path: string): void {
    logger.debug({ path, method: req.method }, 'unauthenticated request');
  }

  async function serveNonResource(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    segments: string[],
    user: UserInfo | undefined,
  ): Promise<void> {
    const isDiscovery =
      path === '/version' ||
      path === '/api' ||
      path === '/apis' ||
      path.startsWith('/openapi/') ||
      (segments[0] === 'api' && segments.length === 2) ||
      (segments[0] === 'apis' && segments.length <= 3);
    if (!isDiscovery)
      throw new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});
    if (req.method !== 'GET' && req.method !== 'HEAD') throw methodNotAllowed();
    if (user && opts.authorizeNonResource && !PUBLIC_PATHS.has(path)) {
      const d = opts.authorizeNonResource(user, path, 'get');
      if (!d.allowed) throw new ApiError(403, 'Forbidden', `forbidden: ${d.reason}`, {});
    }
    if (path === '/openapi/v2') {
      const doc = openApiV2(SERVER_VERSION.gitVersion);
      if ((req.headers.accept ?? '').includes('protobuf')) {
        res.writeHead(200, {
          'content-type': OPENAPI_V2_PROTOBUF.replace('@', '.'),
          'cache-control': 'no-cache, private',
        });
        res.end(doc.protobuf);
        return;
      }
      return sendJson(res, 200, doc.json);
    }
    if (path === '/openapi/v3') return sendJson(res, 200, opts.openapi.rootDocument());
    if (path.startsWith('/openapi/v3/')) {
      const doc = opts.openapi.groupVersionDocument(path.slice('/openapi/v3/'.length));
      if (doc !== undefined) return sendJson(res, 200, doc);
    }
    let body: unknown;
    if (path === '/version') body = SERVER_VERSION;
    else if (path === '/api') body = discovery.apiVersions(serverAddress);
    else if (path === '/apis') body = discovery.apiGroupList();
    else if (segments[0] === 'api' && segments.length === 2) body = discovery.resourceList('', segments[1]);
    else if (segments[0] === 'apis' && segments.length === 2) body = discovery.apiGroup(segments[1]);
    else if (segments[0] === 'apis' && segments.length === 3)
      body = discovery.resourceList(segments[1], segments[2]);
    if (body === undefined)
      throw new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});
    sendJson(res, 200, JSON.stringify(body));
  }

  async function serveResource(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    r: Route,
    user: UserInfo,
  ): Promise<void> {
    const q = url.searchParams;
    const { ref, rt } = r;
    const method = req.method ?? 'GET';
    const asTable = wantsTable(req.headers.accept);
    const include = (q.get('includeObject') as IncludeObject | null) ?? 'Metadata';
    const fieldManager = q.get('fieldManager') ?? undefined;
    const fieldValidation = () => fieldValidationOf(q, method);

    if (method === 'GET' || method === 'HEAD') {
      const isWatch = r.watchPrefix || parseBool(q.get('watch')) === true;
      const listOpts: ListOptions & { sendInitialEvents?: boolean } = {
        labelSelector: q.get('labelSelector') ?? undefined,
        fieldSelector: q.get('fieldSelector') ?? undefined,
        limit: parseIntParam(q, 'limit'),
        continue: q.get('continue') ?? undefined,
        resourceVersion: q.get('resourceVersion') ?? undefined,
        allowWatchBookmarks: parseBool(q.get('allowWatchBookmarks')),
        timeoutSeconds: parseIntParam(q, 'timeoutSeconds'),
        sendInitialEvents: parseBool(q.get('sendInitialEvents')),
      };
      if (ref.name && !isWatch) {
        const out = await pipeline.get(user, ref);
        return sendObject(res, out, rt, asTable, include);
      }
      if (ref.name) {
        // A watch on one object is a watch with a metadata.name field selector.
        const sel = `metadata.name=${ref.name}`;
        listOpts.fieldSelector = listOpts.fieldSelector ? `${listOpts.fieldSelector},${sel}` : sel;
      }
      const collectionRef = { ...ref, name: undefined };
      if (isWatch) return serveWatch(req, res, collectionRef, listOpts, user, asTable, include);
      const list = await pipeline.list(user, collectionRef, listOpts);
      return sendList(res, list, asTable, include);
    }

    if (method === 'POST') {
      const body = decodeBody(await readBody(req), req.headers['content-type']);
      const dryRun = dryRunOf(q.getAll('dryRun').length ? q.getAll('dryRun') : undefined);
      const out = await pipeline.create(user, ref, body, {
        dryRun,
        fieldManager,
        fieldValidation: fieldValidation(),
      });
      return sendResult(res, out);
    }

    if (method === 'PUT') {
      const body = decodeBody(await readBody(req), req.headers['content-type']);
      const dryRun = dryRunOf(q.getAll('dryRun').length ? q.getAll('dryRun') : undefined);
      const out = await pipeline.update(user, ref, body, {
        dryRun,
        fieldManager,
        fieldValidation: fieldValidation(),
      });
      return sendResult(res, out);
    }

    if (method === 'PATCH') {
      const type = patchTypeFor(String(req.headers['content-type'] ?? ''), rt);
      const buf = await readBody(req);
      let patch: unknown;
      try {
        patch = JSON.parse(buf.toString('utf8'));
      } catch (e: any) {
        throw badRequest(`error decoding patch: ${e.message}`);
      }
      const dryRun = dryRunOf(q.getAll('dryRun').length ? q.getAll('dryRun') : undefined);
      const out = await pipeline.patch(user, ref, type, patch, {
        dryRun,
        fieldManager,
        fieldValidation: fieldValidation(),
      });
      return sendResult(res, out);
    }

    if (method === 'DELETE') {
      const buf = await readBody(req);
      let body: any = {};
      if (buf.length > 0 && buf.toString('utf8').trim() !== '')
        body = decodeBody(buf, req.headers['content-type']);
      if (body === null || typeof body !== 'object')
        throw badRequest('the body of a DELETE must be a DeleteOptions');
      const propagation = body.propagationPolicy ?? q.get('propagationPolicy') ?? undefined;
      if (propagation !== undefined && !['Orphan', 'Background', 'Foreground'].includes(propagation))
        throw new ApiError(
          422,
          'Invalid',
          `DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported value: "${propagation}": supported values: "Foreground", "Background", "Orphan"`,
        );
      const orphan = body.orphanDependents ?? parseBool(q.get('orphanDependents'));
      const delOpts: DeleteOptions = {
        dryRun: dryRunOf(body.dryRun ?? (q.getAll('dryRun').length ? q.getAll('dryRun') : undefined)),
        ...((body.gracePeriodSeconds ?? parseIntParam(q, 'gracePeriodSeconds')) !== undefined
          ? { gracePeriodSeconds: body.gracePeriodSeconds ?? parseIntParam(q, 'gracePeriodSeconds') }
          : {}),
        ...(propagation
          ? { propagationPolicy: propagation }
          : orphan === true
            ? { propagationPolicy: 'Orphan' as const }
            : {}),
        ...(body.preconditions ? { preconditions: body.preconditions } : {}),
        ...(typeof orphan === 'boolean' ? { orphanDependents: orphan } : {}),
      };
      if (!ref.name) {
        const listOpts: ListOptions = {
          labelSelector: q.get('labelSelector') ?? undefined,
          fieldSelector: q.get('fieldSelector') ?? undefined,
        };
        const out = await pipeline.deleteCollection(user, ref, listOpts, delOpts);
        return sendList(
          res,
          { rt: out.rt, items: out.items, resourceVersion: out.resourceVersion },
          false,
          include,
        );
      }
      const out = await pipeline.delete(user, ref, delOpts);
      return sendResult(res, out);
    }

    throw methodNotAllowed();
  }

  function sendResult(res: ServerResponse, out: OpResult): void {
    sendJson(res, out.code, out.value.json(), out.warnings);
  }

  function storedFormOf(rt: ResourceType, s: Stored): any {
    return rt.view ? rt.view.toStorage(s.obj) : s.obj;
  }

  function sendObject(
    res: ServerResponse,
    out: OpResult,
    rt: ResourceType,
    asTable: boolean,
    include: IncludeObject,
  ): void {
    if (!asTable) return sendResult(res, out);
    const obj = out.value.obj;
    const t = table(
      rt,
      [{ stored: storedFormOf(rt, out.value), view: obj }],
      { resourceVersion: obj.metadata.resourceVersion },
      opts.now(),
      include,
    );
    sendJson(res, 200, JSON.stringify(t), out.warnings);
  }

  function sendList(res: ServerResponse, list: ListResult, asTable: boolean, include: IncludeObject): void {
    const meta: Record<string, unknown> = { resourceVersion: list.resourceVersion };
    if (list.continue) meta.continue = list.continue;
    if (list.remainingItemCount !== undefined) meta.remainingItemCount = list.remainingItemCount;
    if (asTable) {
      const t = table(
        list.rt,
        list.items.map((s) => ({ stored: storedFormOf(list.rt, s), view: s.obj })),
        meta,
        opts.now(),
        include,
      );
      return sendJson(res, 200, JSON.stringify(t));
    }
    // Built from each object's cached serialization: a 30,000-pod list is string concatenation.
    const head = `{"kind":${JSON.stringify(list.rt.kind + 'List')},"apiVersion":${JSON.stringify(apiVersionOf(list.rt))},"metadata":${JSON.stringify(meta)},"items":[`;
    const parts: string[] = [head];
    for (let i = 0; i < list.items.length; i++) {
      if (i > 0) parts.push(',');
      parts.push(list.items[i].json());
    }
    parts.push(']}');
    sendJson(res, 200, parts.join(''));
  }

  async function serveWatch(
    req: IncomingMessage,
    res: ServerResponse,
    ref: ResourceRef,
    listOpts: ListOptions & { sendInitialEvents?: boolean },
    user: UserInfo,
    asTable: boolean,
    include: IncludeObject,
  ): Promise<void> {
    const rt = pipeline.resolve(ref).rt;
    const apiVersion = apiVersionOf(rt);
    let closed = false;
    let headersWritten = false;
    let sentColumns = false;
    let stopWatcher: () => void = () => {};
    const timeout: { handle?: NodeJS.Timeout; bookmark?: NodeJS.Timeout } = {};
    const viewKey = rt.view ? `json:${rt.group}` : 'json';
    const pendingBeforeHeaders: string[] = [];

    const close = () => {
      if (closed) return;
      closed = true;
      if (timeout.handle) clearTimeout(timeout.handle);
      if (timeout.bookmark) clearTimeout(timeout.bookmark);
      openWatches.delete(close);
      stopWatcher();
      if (!res.writableEnded) res.end();
    };
    const write = (line: string) => {
      if (closed) return;
      if (!headersWritten) {
        pendingBeforeHeaders.push(line);
        return;
      }
      res.write(line);
      if (res.writableLength > watchLimit) {
        // A client that does not read: drop it, as the API server closes slow watchers.
        logger.warn(
          { resource: rt.plural, buffered: res.writableLength },
          'closing a watch whose client does not keep up',
        );
        close();
        res.destroy();
      }
    };
    const encode = (d: Delivery): string => {
      if (asTable) {
        const view = rt.view ? rt.view.fromStorage(d.stored.obj) : d.stored.obj;
        const t = table(
          rt,
          [{ stored: d.stored.obj, view }],
          { resourceVersion: d.stored.obj.metadata.resourceVersion },
          opts.now(),
          include,
          !sentColumns,
        );
        sentColumns = true;
        return `{"type":"${d.type}","object":${JSON.stringify(t)}}\n`;
      }
      let line = d.encoded.get(viewKey);
      if (line === undefined) {
        const objJson = rt.view ? JSON.stringify(rt.view.fromStorage(d.stored.obj)) : d.stored.json();
        line = `{"type":"${d.type}","object":${objJson}}\n`;
        d.encoded.set(viewKey, line);
      }
      return line;
    };

    const { watcher } = await pipeline.watch(user, ref, listOpts, {
      deliver: (d) => write(encode(d)),
      bookmark: (rv) => {
        const metadata: Record<string, unknown> = { resourceVersion: String(rv) };
        if (listOpts.sendInitialEvents) metadata.annotations = { 'k8s.io/initial-events-end': 'true' };
        write(`{"type":"BOOKMARK","object":${JSON.stringify({ kind: rt.kind, apiVersion, metadata })}}\n`);
      },
      error: (err) => {
        const status =
          err instanceof ApiError
            ? err.toStatus()
            : new ApiError(500, 'InternalError', err.message).toStatus();
        write(`{"type":"ERROR","object":${JSON.stringify(status)}}\n`);
        // Close after the headers and the ERROR line are out.
        setImmediate(close);
      },
    });
    stopWatcher = () => watcher.stop();
    res.writeHead(200, {
      'content-type': 'application/json',
      'cache-control': 'no-cache, private',
      'transfer-encoding': 'chunked',
    });
    headersWritten = true;
    res.flushHeaders();
    if (closed) {
      for (const l of pendingBeforeHeaders) res.write(l);
      res.end();
      return;
    }
    for (const l of pendingBeforeHeaders) write(l);
    pendingBeforeHeaders.length = 0;
    openWatches.add(close);
    // Without timeoutSeconds the real server picks 30-60 minutes at random.
    const timeoutSeconds =
      listOpts.timeoutSeconds && listOpts.timeoutSeconds > 0
        ? listOpts.timeoutSeconds
        : 1800 * (1 + Math.random());
    timeout.handle = setTimeout(close, timeoutSeconds * 1000);
    timeout.handle.unref();
    // The watch cache sends a bookmark 2 s before a watch's deadline, so that a client resuming
    // after the timeout starts from a recent resourceVersion (and not one that has become too old).
    if (listOpts.allowWatchBookmarks && timeoutSeconds > 2) {
      timeout.bookmark = setTimeout(() => pipeline.store.bookmark(watcher), (timeoutSeconds - 2) * 1000);
      timeout.bookmark.unref();
    }
    req.on('close', close);
    res.on('close', close);
    res.on('error', close);
  }

  let tlsConnections = 0;
  server.on('secureConnection', () => tlsConnections++);

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.listen.port, opts.listen.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = opts.listen.host === '0.0.0.0' || opts.listen.host === '' ? '127.0.0.1' : opts.listen.host;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  serverAddress = `${urlHost}:${port}`;
  return {
    url: `https://${urlHost}:${port}`,
    host,
    port,
    openWatches: () => openWatches.size,
    tlsConnections: () => tlsConnections,
    close: () =>
      new Promise<void>((resolve) => {
        for (const close of [...openWatches]) close();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
