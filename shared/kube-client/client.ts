// The Kubernetes REST calls of the node agent and pubsub, over node:https: JSON requests and watch
// streams, on one pool of kept-alive connections per configuration.
//
// Why not @kubernetes/client-node: loading it costs a process about 30 MiB resident (its generated
// models and serializer, its own undici and the WebAssembly HTTP parser undici compiles on the first
// request), a third of what the node agent on every game server node may use (README, "Memory").
// These processes make a dozen kinds of call on plain JSON; what they need is here, and the
// configuration (KUBECONFIG or in-cluster) is read as client-node reads it (config.ts).
//
// Failures are KubeApiError (shared/kube-error.ts): the API server's Status (code, reason, message)
// for an answer that is not 2xx, code 0 for no answer (refused, reset, timed out).
import { Agent as HttpAgent, request as httpRequest, STATUS_CODES, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest, type RequestOptions } from 'node:https';
import { KubeApiError } from '../kube-error.js';
import type { KubeClientConfig } from './config.js';

export type { KubeClientConfig } from './config.js';

export type Query = Record<string, string | number | boolean | undefined>;

export interface KubeRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** The path under the server, e.g. /api/v1/nodes/node-1. */
  path: string;
  query?: Query;
  /** Sent as JSON. */
  body?: unknown;
  /** Default application/json; a patch names its kind (PATCH_CONTENT_TYPE). */
  contentType?: string;
}

export const PATCH_CONTENT_TYPE = {
  merge: 'application/merge-patch+json',
  json: 'application/json-patch+json',
  strategic: 'application/strategic-merge-patch+json',
} as const;

/** A watch event as the API server sends it, one JSON object a line. */
export type WatchCallback = (type: string, object: any) => void;

/** Every call of a client fails after this long without an answer (a watch: after this long without data). */
export const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;

const USER_AGENT = 'fleetiq-agones';

/** A watch request's end: `undefined` when the server closed it normally (timeoutSeconds). */
export type WatchDone = (err: (Error & { statusCode?: number }) | undefined) => void;

export class KubeClient {
  private agent?: HttpAgent;
  private closed = false;

  constructor(
    readonly config: KubeClientConfig,
    private readonly requestTimeoutMs = DEFAULT_REQUEST_TIMEOUT_MS,
  ) {}

  /** The server's base URL; throws when the configuration has none. */
  server(): URL {
    const server = this.config.getCurrentCluster()?.server;
    if (!server) throw new KubeApiError('connect', 0, 'NoCluster', 'no current cluster in the kubeconfig');
    return new URL(server);
  }

  /** One JSON request; resolves with the parsed body (undefined when empty). */
  async request<T>(operation: string, r: KubeRequest): Promise<T> {
    const res = await this.send(operation, r, this.requestTimeoutMs);
    const text = await readBody(res).catch((err: unknown) => {
      throw noAnswer(operation, err);
    });
    const status = res.statusCode ?? 0;
    if (status < 200 || status > 299) throw statusError(operation, status, text);
    if (!text) return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new KubeApiError(operation, status, 'InvalidResponse', 'the answer is not JSON');
    }
  }

  /**
   * A watch request (`watch=true` is added to `query`), as client-node's Watch: resolves once the
   * server answered (with the controller that ends it), then `onEvent` for each line and `done` once,
   * when the server ends the stream (undefined), or with the error (its `statusCode` for a refusal,
   * also a TimeoutError after `inactivityTimeoutMs` without data). Aborting calls nothing.
   */
  async watch(
    path: string,
    query: Query,
    onEvent: WatchCallback,
    done: WatchDone,
    inactivityTimeoutMs = this.requestTimeoutMs,
  ): Promise<AbortController> {
    const controller = new AbortController();
    let finished = false;
    const finish = (err?: Error & { statusCode?: number }) => {
      if (finished) return;
      finished = true;
      if (!controller.signal.aborted) {
        controller.abort();
        done(err);
      }
    };
    let res: IncomingMessage;
    try {
      res = await this.send(
        'watch',
        { method: 'GET', path, query: { ...query, watch: true } },
        inactivityTimeoutMs,
        controller.signal,
      );
    } catch (err) {
      finish(err as Error);
      return controller;
    }
    if (res.statusCode !== 200) {
      const body = await readBody(res).catch(() => '');
      const err = Object.assign(new Error(describeStatus(res.statusCode ?? 0, body)), {
        statusCode: res.statusCode ?? 0,
      });
      finish(err);
      return controller;
    }
    controller.signal.addEventListener('abort', () => res.destroy(), { once: true });
    res.setEncoding('utf8');
    let buffered = '';
    res.on('data', (chunk: string) => {
      buffered += chunk;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (!line.trim()) continue;
        let event: { type?: unknown; object?: unknown };
        try {
          event = JSON.parse(line) as typeof event;
        } catch {
          continue; // as client-node: a line that is not JSON is skipped
        }
        if (typeof event?.type === 'string') onEvent(event.type, event.object);
        if (controller.signal.aborted) return;
      }
    });
    res.on('end', () => finish());
    res.on('error', (err) => finish(err));
    res.on('close', () => finish(res.complete ? undefined : new Error('watch connection closed')));
    return controller;
  }

  /** Closes the idle kept-alive connections (watches end with their controllers). */
  close(): void {
    this.closed = true;
    this.agent?.destroy();
    this.agent = undefined;
  }

  private async send(
    operation: string,
    r: KubeRequest,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<IncomingMessage> {
    const url = this.server();
    url.pathname = url.pathname.replace(/\/$/, '') + r.path;
    for (const [k, v] of Object.entries(r.query ?? {}))
      if (v !== undefined) url.searchParams.set(k, String(v));
    const opts: RequestOptions = { headers: {} };
    try {
      await this.config.applyToHTTPSOptions(opts);
    } catch (err) {
      throw new KubeApiError(
        operation,
        0,
        'NoCredentials',
        `cannot read the credentials: ${errorMessage(err)}`,
      );
    }
    const https = url.protocol === 'https:';
    if (!https && opts.rejectUnauthorized !== false && !this.config.getCurrentCluster()?.proxyUrl) {
      // As client-node: plain HTTP only when the kubeconfig says insecure-skip-tls-verify.
      throw new KubeApiError(
        operation,
        0,
        'Insecure',
        'HTTP is not allowed unless insecure-skip-tls-verify is set',
      );
    }
    const body = r.body === undefined ? undefined : JSON.stringify(r.body);
    const headers: Record<string, string | number> = {
      ...(opts.headers as Record<string, string>),
      // Basic auth, where a delegated kubeconfig has a username and password.
      ...(opts.auth ? { Authorization: `Basic ${Buffer.from(opts.auth).toString('base64')}` } : {}),
      Accept: 'application/json',
      'User-Agent': USER_AGENT,
    };
    if (body !== undefined) {
      headers['Content-Type'] = r.contentType ?? 'application/json';
      headers['Content-Length'] = Buffer.byteLength(body);
    }
    // A proxy (client-node's agent for proxy-url) is used as given; otherwise one pool, built from the
    // TLS material of the first request and kept, so calls reuse their connections.
    const agent =
      this.config.getCurrentCluster()?.proxyUrl && opts.agent ? opts.agent : this.pool(https, opts);
    return new Promise<IncomingMessage>((resolve, reject) => {
      const req = (https ? httpsRequest : httpRequest)(url, {
        method: r.method,
        headers,
        agent,
        signal,
        timeout: timeoutMs,
      });
      let response: IncomingMessage | undefined;
      req.on('response', (res) => {
        // From here the timeout is one of inactivity on the body (a watch's quiet stream included).
        response = res;
        res.socket?.setTimeout(timeoutMs);
        resolve(res);
      });
      req.on('timeout', () => {
        const err = Object.assign(new Error(`no data within ${timeoutMs} ms`), { name: 'TimeoutError' });
        // The body's reader (or a watch) learns why the connection ends, not just that it was reset.
        if (response) response.destroy(err);
        else req.destroy(err);
      });
      req.on('error', (err) => reject(noAnswer(operation, err)));
      req.end(body);
    });
  }

  private pool(https: boolean, tls: RequestOptions): HttpAgent {
    if (this.agent && !this.closed) return this.agent;
    this.closed = false;
    this.agent = https
      ? new HttpsAgent({
          keepAlive: true,
          ca: tls.ca,
          cert: tls.cert,
          key: tls.key,
          pfx: tls.pfx,
          passphrase: tls.passphrase,
          servername: tls.servername,
          ...(tls.rejectUnauthorized === undefined ? {} : { rejectUnauthorized: tls.rejectUnauthorized }),
        })
      : new HttpAgent({ keepAlive: true });
    return this.agent;
  }
}

const clients = new WeakMap<KubeClientConfig, KubeClient>();

/** The one client (one connection pool) of a configuration: the agent's calls and its watches share it. */
export function kubeClientFor(config: KubeClientConfig): KubeClient {
  let client = clients.get(config);
  if (!client) {
    client = new KubeClient(config);
    clients.set(config, client);
  }
  return client;
}

function readBody(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    res.setEncoding('utf8');
    res.on('data', (d: string) => (text += d));
    res.on('end', () => resolve(text));
    res.on('error', reject);
    res.on('close', () => {
      if (!res.complete) reject(new Error('connection closed before the answer was complete'));
    });
  });
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function noAnswer(operation: string, err: unknown): KubeApiError {
  if (err instanceof KubeApiError) return err;
  const e = err as Error;
  const timedOut = e?.name === 'TimeoutError';
  return new KubeApiError(operation, 0, timedOut ? 'Timeout' : 'NoResponse', errorMessage(err));
}

/** The Status the API server answered with, or what there is of it. */
function statusError(operation: string, code: number, text: string): KubeApiError {
  let status: { reason?: unknown; message?: unknown } | undefined;
  try {
    status = JSON.parse(text) as typeof status;
  } catch {
    status = undefined;
  }
  const message =
    typeof status?.message === 'string' ? status.message : text || STATUS_CODES[code] || 'request failed';
  return new KubeApiError(
    operation,
    code,
    String(status?.reason ?? STATUS_CODES[code] ?? ''),
    message.slice(0, 500),
  );
}

function describeStatus(code: number, text: string): string {
  try {
    const message = (JSON.parse(text) as { message?: unknown }).message;
    if (typeof message === 'string') return message;
  } catch {
    // not a Status
  }
  return STATUS_CODES[code] ?? `HTTP ${code}`;
}
