// The cluster simulation's clients over HTTPS, for a real API server (or the emulator over the
// network): the same LocalClient interface the simulation uses in-process, each identity by
// impersonation (Impersonate-User/-Group) on an admin connection, as kubectl --as does. Watches
// resume from the last resourceVersion they saw when the server ends them (as a reflector does) and
// report 410 Gone as an ERROR event, so the simulation's informers re-list as they do in-process.
//
// The one thing a real API server cannot do for the simulated Agones is answer a
// GameServerAllocation: real Agones serves it from an aggregated API server. Here the simulated
// allocator answers it in this process, exactly as the emulator hands it the request.
import https from 'node:https';
import { ApiError } from '../kube/errors.js';
import type {
  DeleteOptions,
  KubeObject,
  ListOptions,
  LocalClient,
  PatchType,
  ResourceRef,
  UserInfo,
  WatchEvent,
  WriteOptions,
} from '../kube/types.js';
import { GAMESERVERALLOCATIONS, type ClusterHost, type CreateHook } from './host.js';

export interface ApiConnection {
  server: string;
  caPem: string;
  /** A bearer token allowed to impersonate (the control plane's admin). */
  token: string;
}

const PATCH_TYPES: Record<PatchType, string> = {
  json: 'application/json-patch+json',
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
};

/** The REST path of a resource reference. */
export function resourcePath(ref: ResourceRef): string {
  const base = ref.group ? `/apis/${ref.group}/${ref.version}` : `/api/${ref.version}`;
  const ns = ref.namespace ? `/namespaces/${encodeURIComponent(ref.namespace)}` : '';
  const name = ref.name ? `/${encodeURIComponent(ref.name)}` : '';
  const sub = ref.name && ref.subresource ? `/${ref.subresource}` : '';
  return `${base}${ns}/${ref.resource}${name}${sub}`;
}

function query(params: Record<string, string | number | boolean | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

function writeQuery(o?: WriteOptions): Record<string, string | undefined> {
  return { dryRun: o?.dryRun ? 'All' : undefined, fieldManager: o?.fieldManager };
}

function toApiError(status: number, text: string, what: string): ApiError {
  try {
    const s = JSON.parse(text);
    if (s?.kind === 'Status')
      return new ApiError(s.code ?? status, s.reason ?? '', s.message ?? text, s.details);
  } catch {
    // Not a Status: the text is the message.
  }
  // Not from the API server's handlers (e.g. Go's HTTP server refusing the request itself).
  return new ApiError(status, '', `${what}: ${text.trim() || `HTTP ${status}`}`);
}

export class RemoteClient implements LocalClient {
  constructor(
    private readonly conn: ApiConnection,
    readonly user: UserInfo,
    private readonly agent: https.Agent,
    private readonly watchAgent: https.Agent,
    /** When set, the user is impersonated; the admin connection's own identity otherwise. */
    private readonly impersonate: boolean,
    private readonly allocation: () => CreateHook | undefined,
  ) {}

  private headers(extra: Record<string, string> = {}): Record<string, string | string[]> {
    const h: Record<string, string | string[]> = {
      Authorization: `Bearer ${this.conn.token}`,
      Accept: 'application/json',
      ...extra,
    };
    if (this.impersonate) {
      h['Impersonate-User'] = this.user.username;
      const groups = (this.user.groups ?? []).filter((g) => g !== 'system:authenticated');
      if (groups.length) h['Impersonate-Group'] = groups;
    }
    return h;
  }

  private request(
    method: string,
    path: string,
    body?: unknown,
    contentType = 'application/json',
  ): Promise<KubeObject> {
    return new Promise((resolve, reject) => {
      const data = body === undefined ? undefined : JSON.stringify(body);
      const req = https.request(
        new URL(path, this.conn.server),
        {
          method,
          agent: this.agent,
          headers: this.headers(
            data !== undefined
              ? { 'Content-Type': contentType, 'Content-Length': String(Buffer.byteLength(data)) }
              : {},
          ),
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const code = res.statusCode ?? 0;
            if (code >= 200 && code < 300) {
              try {
                resolve(JSON.parse(text));
              } catch {
                reject(new ApiError(code, 'InternalError', `${method} ${path}: answer is not JSON`));
              }
            } else reject(toApiError(code, text, `${method} ${path}`));
          });
          res.on('error', reject);
        },
      );
      req.setTimeout(60_000, () => req.destroy(new Error(`${method} ${path}: no answer in 60 s`)));
      req.on('error', reject);
      if (data !== undefined) req.write(data);
      req.end();
    });
  }

  get(ref: ResourceRef): Promise<KubeObject> {
    return this.request('GET', resourcePath(ref));
  }

  async list(ref: ResourceRef, options: ListOptions = {}) {
    const res = await this.request(
      'GET',
      resourcePath(ref) +
        query({
          labelSelector: options.labelSelector,
          fieldSelector: options.fieldSelector,
          limit: options.limit,
          continue: options.continue,
          resourceVersion: options.resourceVersion,
        }),
    );
    const kind = String(res.kind ?? '').replace(/List$/, '');
    const apiVersion = res.apiVersion;
    // A real list's items carry no kind or apiVersion; the in-process client's do.
    const items = ((res as any).items ?? []).map((i: KubeObject) => ({
      ...i,
      apiVersion: i.apiVersion ?? apiVersion,
      kind: i.kind ?? kind,
    }));
    return { items, metadata: (res as any).metadata ?? { resourceVersion: '' } };
  }

  create(ref: ResourceRef, body: KubeObject | Record<string, unknown>, options?: WriteOptions) {
    if (ref.group === GAMESERVERALLOCATIONS.group && ref.resource === GAMESERVERALLOCATIONS.resource) {
      const hook = this.allocation();
      if (!hook)
        return Promise.reject(new ApiError(503, 'ServiceUnavailable', 'the allocator is not running'));
      return hook(ref, body as KubeObject, this.user);
    }
    return this.request(
      'POST',
      resourcePath({ ...ref, name: ref.subresource ? ref.name : undefined }) + query(writeQuery(options)),
      body,
    );
  }

  update(ref: ResourceRef, body: KubeObject, options?: WriteOptions) {
    return this.request('PUT', resourcePath(ref) + query(writeQuery(options)), body);
  }

  patch(ref: ResourceRef, type: PatchType, patch: unknown, options?: WriteOptions) {
    return this.request('PATCH', resourcePath(ref) + query(writeQuery(options)), patch, PATCH_TYPES[type]);
  }

  delete(ref: ResourceRef, options: DeleteOptions = {}) {
    const { dryRun, fieldManager: _fm, ...rest } = options;
    const body = { apiVersion: 'v1', kind: 'DeleteOptions', ...rest, ...(dryRun ? { dryRun: ['All'] } : {}) };
    return this.request('DELETE', resourcePath(ref), body);
  }

  watch(ref: ResourceRef, options: ListOptions, onEvent: (event: WatchEvent) => void): () => void {
    let stopped = false;
    let current: { destroy(): void } | undefined;
    let resourceVersion = options.resourceVersion;
    const emit = (event: WatchEvent) => {
      if (stopped) return;
      try {
        onEvent(event);
      } catch {
        // A subscriber's exception must not end the stream.
      }
    };
    const fail = (code: number, reason: string, message: string) => {
      if (stopped) return;
      stopped = true;
      emit({
        type: 'ERROR',
        object: {
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Failure',
          code,
          reason,
          message,
        } as any,
      });
    };
    const open = () => {
      if (stopped) return;
      const path =
        resourcePath(ref) +
        query({
          watch: 1,
          labelSelector: options.labelSelector,
          fieldSelector: options.fieldSelector,
          resourceVersion,
          allowWatchBookmarks: options.allowWatchBookmarks ?? true,
          timeoutSeconds: options.timeoutSeconds,
        });
      const req = https.request(
        new URL(path, this.conn.server),
        { method: 'GET', agent: this.watchAgent, headers: this.headers() },
        (res) => {
          if ((res.statusCode ?? 0) !== 200) {
            let text = '';
            res.on('data', (c) => (text += c));
            res.on('end', () => {
              const err = toApiError(res.statusCode ?? 0, text, `watch ${path}`);
              fail(err.code, String(err.reason), err.message);
            });
            return;
          }
          let buffer = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            buffer += chunk;
            for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
              const line = buffer.slice(0, nl).trim();
              buffer = buffer.slice(nl + 1);
              if (!line) continue;
              let event: WatchEvent;
              try {
                event = JSON.parse(line);
              } catch {
                continue;
              }
              if (event.type === 'ERROR') {
                const s = event.object as any;
                fail(s?.code ?? 500, s?.reason ?? '', s?.message ?? 'watch error');
                req.destroy();
                return;
              }
              const rv = event.object?.metadata?.resourceVersion;
              if (rv) resourceVersion = rv;
              emit(event);
            }
          });
          // The server ends watches after a while: carry on from where this one was.
          res.on('end', () => setImmediate(open));
          res.on('error', () => fail(500, 'InternalError', 'watch stream broke'));
        },
      );
      req.on('error', (err) => fail(503, 'ServiceUnavailable', `watch ${path}: ${err.message}`));
      req.end();
      current = req;
    };
    open();
    return () => {
      stopped = true;
      current?.destroy();
    };
  }
}

export interface RemoteClusterHost extends ClusterHost {
  /** Closes the kept-alive connections. */
  close(): void;
}

/** A ClusterHost whose clients talk HTTPS to `conn`, each simulated identity impersonated. */
export function remoteClusterHost(conn: ApiConnection): RemoteClusterHost {
  const agent = new https.Agent({ keepAlive: true, maxSockets: 64, ca: conn.caPem });
  const watchAgent = new https.Agent({ keepAlive: false, maxSockets: Infinity, ca: conn.caPem });
  let allocation: CreateHook | undefined;
  const admin: UserInfo = { username: 'admin', groups: [] };
  return {
    client: (user?: UserInfo) =>
      new RemoteClient(conn, user ?? admin, agent, watchAgent, user !== undefined, () => allocation),
    setAllocationHandler(hook) {
      allocation = hook;
    },
    close() {
      agent.destroy();
      watchAgent.destroy();
    },
  };
}
