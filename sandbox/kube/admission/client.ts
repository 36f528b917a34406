// The API server's HTTPS client for webhooks: POSTs an AdmissionReview to the webhook's service
// (through the emulator's service resolver) or URL, trusting only the configuration's caBundle
// and requiring a certificate for the service's DNS name `<svc>.<ns>.svc`, with the webhook's
// timeout as a hard deadline. Connections are kept alive per webhook and CA bundle, as
// kube-apiserver's cached REST clients keep theirs. Failures are described the way Go's HTTP
// client and crypto/x509 word them, since those words end up in the message a client sees.

import https from 'node:https';
import tls from 'node:tls';
import { isIP } from 'node:net';

export interface WebhookTarget {
  /** The URL as kube-apiserver names it in errors: `https://<svc>.<ns>.svc:443/<path>` or the configured URL. */
  url: string;
  /** The request path (without query) and Host header. */
  path: string;
  hostHeader: string;
  /** The name the server certificate must be valid for; also the TLS server name (SNI) unless it is an IP. */
  serverName: string;
  /** Where to connect, or why there is nowhere to connect (`service "x" not found`). */
  connect: { host: string; port: number } | { error: string };
}

export interface WebhookResponse {
  statusCode: number;
  body: string;
}

/** A failure of the HTTP exchange itself; `message` is Go's url.Error text: `Post "<url>?timeout=10s": <cause>`. */
export class WebhookCallError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WebhookCallError';
  }
}

const MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

export class WebhookHttpClient {
  private readonly agents = new Map<string, https.Agent>();
  private readonly retired = new Set<https.Agent>();

  constructor(private readonly maxSocketsPerWebhook = 64) {}

  private agentFor(key: string, caPem: string | undefined, serverName: string): https.Agent {
    let agent = this.agents.get(key);
    if (!agent) {
      agent = new https.Agent({
        keepAlive: true,
        maxSockets: this.maxSocketsPerWebhook,
        // An empty caBundle means the system roots, as in kube-apiserver.
        ...(caPem ? { ca: caPem } : {}),
        checkServerIdentity: (_host, cert) => tls.checkServerIdentity(serverName, cert),
      });
      this.agents.set(key, agent);
    }
    return agent;
  }

  /** POSTs `body` (JSON) with the deadline `timeoutSeconds`; rejects with WebhookCallError. */
  post(
    target: WebhookTarget,
    agentKey: string,
    caPem: string | undefined,
    body: string,
    timeoutSeconds: number,
  ): Promise<WebhookResponse> {
    // Go renders the deadline as a duration (`10s`) in a `timeout` query parameter.
    const query = `timeout=${timeoutSeconds}s`;
    const shown = `${target.url}?${query}`;
    const fail = (cause: string) => new WebhookCallError(`Post ${JSON.stringify(shown)}: ${cause}`);
    if ('error' in target.connect) return Promise.reject(fail(target.connect.error));
    const { host, port } = target.connect;
    const agent = this.agentFor(agentKey, caPem, target.serverName);

    return new Promise<WebhookResponse>((resolve, reject) => {
      let settled = false;
      const finish = (err: WebhookCallError | undefined, res?: WebhookResponse) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err) reject(err);
        else resolve(res!);
      };
      const req = https.request(
        {
          host,
          port,
          method: 'POST',
          path: `${target.path || '/'}?${query}`,
          agent,
          ...(isIP(target.serverName) ? {} : { servername: target.serverName }),
          headers: {
            host: target.hostHeader,
            'content-type': 'application/json',
            accept: 'application/json, */*',
            'content-length': Buffer.byteLength(body),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > MAX_RESPONSE_BYTES) {
              req.destroy();
              finish(fail('response body too large'));
              return;
            }
            chunks.push(c);
          });
          res.on('end', () =>
            finish(undefined, {
              statusCode: res.statusCode ?? 0,
              body: Buffer.concat(chunks).toString('utf8'),
            }),
          );
          res.on('error', (err) => finish(fail(describeNetworkError(err, host, port, target.serverName))));
        },
      );
      const timer = setTimeout(() => {
        finish(fail('context deadline exceeded'));
        req.destroy();
      }, timeoutSeconds * 1000);
      req.on('error', (err) => finish(fail(describeNetworkError(err, host, port, target.serverName))));
      req.end(body);
    });
  }

  /**
   * Retires the agents of webhooks that are no longer configured (or whose caBundle changed). As in
   * kube-apiserver, which builds a new client and lets the old one's requests finish, a retired agent
   * closes its idle connections now and each busy one once its answer is in: destroying it outright
   * would reset admissions in flight, which failurePolicy Fail turns into rejected requests.
   */
  retain(keys: Set<string>): void {
    for (const [key, agent] of this.agents) {
      if (keys.has(key)) continue;
      this.agents.delete(key);
      this.retired.add(agent);
      agent.on('free', (socket) => socket.destroy());
      for (const sockets of Object.values(agent.freeSockets)) for (const s of sockets ?? []) s.destroy();
    }
  }

  /** Closes every connection, busy or not (the emulator is stopping). */
  close(): void {
    for (const agent of [...this.agents.values(), ...this.retired]) agent.destroy();
    this.agents.clear();
    this.retired.clear();
  }
}

const hostPort = (host: string, port: number): string =>
  isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;

const UNKNOWN_AUTHORITY = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
]);

/** Go's words for what went wrong on the wire (net.OpError, crypto/x509 errors). */
export function describeNetworkError(err: unknown, host: string, port: number, serverName: string): string {
  const e = err as NodeJS.ErrnoException & { cert?: { subjectaltname?: string } };
  const code = e?.code ?? '';
  if (code === 'ECONNREFUSED') return `dial tcp ${hostPort(host, port)}: connect: connection refused`;
  if (code === 'ECONNRESET') return `read tcp ${hostPort(host, port)}: read: connection reset by peer`;
  if (code === 'EHOSTUNREACH') return `dial tcp ${hostPort(host, port)}: connect: no route to host`;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `dial tcp: lookup ${host}: no such host`;
  if (code === 'ETIMEDOUT') return `dial tcp ${hostPort(host, port)}: i/o timeout`;
  if (UNKNOWN_AUTHORITY.has(code))
    return 'tls: failed to verify certificate: x509: certificate signed by unknown authority';
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') {
    return 'tls: failed to verify certificate: x509: certificate has expired or is not yet valid';
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    const sans = (e.cert?.subjectaltname ?? '').split(',').map((s) => s.trim());
    const wantIp = isIP(serverName) !== 0;
    const valid = sans
      .filter((s) => (wantIp ? s.startsWith('IP Address:') : s.startsWith('DNS:')))
      .map((s) => s.slice(s.indexOf(':') + 1));
    if (wantIp && valid.length === 0) {
      return `tls: failed to verify certificate: x509: cannot validate certificate for ${serverName} because it doesn't contain any IP SANs`;
    }
    if (valid.length === 0) {
      return `tls: failed to verify certificate: x509: certificate is not valid for any names, but wanted to match ${serverName}`;
    }
    return `tls: failed to verify certificate: x509: certificate is valid for ${valid.join(', ')}, not ${serverName}`;
  }
  if (code === 'ECONNABORTED' || e?.message === 'socket hang up') return 'EOF';
  return e?.message ?? String(err);
}
