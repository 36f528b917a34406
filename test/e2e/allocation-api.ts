// Agones' allocation API on the real control plane. Real Agones serves `allocation.agones.dev/v1`
// GameServerAllocations from an aggregated API server (an APIService in front of its controller's
// Service), not from a CRD: kube-apiserver authenticates and authorizes the matchmaker, then proxies
// the request with the user in X-Remote-User/X-Remote-Group. This is that aggregated server, in this
// process: it answers discovery and hands each create to the simulated allocator (through the
// cluster host, as the user the API server named), so a client-node matchmaker allocates over HTTPS
// exactly as it would against Agones. The emulator needs none of this: it hands allocations to the
// allocator itself.
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createCertificateAuthority, issueServingCertificate, serviceDnsNames } from '../../certs/issue.js';
import type { KubeBackend } from '../../sandbox/run/kube-backend.js';
import { until } from '../sandbox/cluster/sim-helpers.js';

export const ALLOCATION_API = {
  namespace: 'agones-system',
  service: 'agones-controller-service',
  apiService: 'v1.allocation.agones.dev',
} as const;

const GROUP = 'allocation.agones.dev';
const VERSION = 'v1';
const GROUP_VERSION = `${GROUP}/${VERSION}`;
const CREATE_PATH = new RegExp(`^/apis/${GROUP}/${VERSION}/namespaces/([^/]+)/gameserverallocations/?$`);

export interface AllocationApi {
  stop(): Promise<void>;
}

function send(res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function status(res: ServerResponse, code: number, reason: string, message: string): void {
  send(res, code, {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    code,
    reason,
    message,
  });
}

const headerList = (v: string | string[] | undefined): string[] => (Array.isArray(v) ? v : v ? [v] : []);

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Starts the server, registers it as the APIService and resolves once kube-apiserver says it is Available. */
export async function startAllocationApi(kube: KubeBackend): Promise<AllocationApi> {
  const now = new Date();
  const year = 365 * 24 * 3600 * 1000;
  const ca = await createCertificateAuthority({
    commonName: 'e2e-allocation-api-ca',
    validityMs: year,
    keySize: 2048,
    now,
  });
  const serving = await issueServingCertificate(ca, {
    dnsNames: serviceDnsNames(ALLOCATION_API.service, ALLOCATION_API.namespace),
    validityMs: year,
    keySize: 2048,
    now,
  });

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'https://x').pathname;
    if (req.method === 'GET' && path === `/apis/${GROUP_VERSION}`)
      return send(res, 200, {
        kind: 'APIResourceList',
        apiVersion: 'v1',
        groupVersion: GROUP_VERSION,
        resources: [
          {
            name: 'gameserverallocations',
            singularName: 'gameserverallocation',
            namespaced: true,
            kind: 'GameServerAllocation',
            verbs: ['create'],
          },
        ],
      });
    if (req.method === 'GET' && (path === `/apis/${GROUP}` || path === '/apis')) {
      const group = {
        name: GROUP,
        versions: [{ groupVersion: GROUP_VERSION, version: VERSION }],
        preferredVersion: { groupVersion: GROUP_VERSION, version: VERSION },
      };
      return send(
        res,
        200,
        path === '/apis'
          ? { kind: 'APIGroupList', apiVersion: 'v1', groups: [group] }
          : { kind: 'APIGroup', apiVersion: 'v1', ...group },
      );
    }
    const m = CREATE_PATH.exec(path);
    if (!m) return status(res, 404, 'NotFound', `${req.method} ${path}: not served here`);
    if (req.method !== 'POST')
      return status(res, 405, 'MethodNotAllowed', `${req.method} is not supported on gameserverallocations`);
    let body: unknown;
    try {
      body = JSON.parse(await readBody(req));
    } catch {
      return status(res, 400, 'BadRequest', 'the body is not JSON');
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body))
      return status(res, 400, 'BadRequest', 'the body is not a GameServerAllocation');
    const username = headerList(req.headers['x-remote-user'])[0];
    if (!username) return status(res, 401, 'Unauthorized', 'no X-Remote-User: not sent by the API server');
    const groups = headerList(req.headers['x-remote-group']).filter((g) => g !== 'system:authenticated');
    try {
      const created = await kube.client({ username, groups }).create(
        {
          group: GROUP,
          version: VERSION,
          resource: 'gameserverallocations',
          namespace: decodeURIComponent(m[1]!),
        },
        body as Record<string, unknown>,
      );
      return send(res, 201, created);
    } catch (err) {
      const e = err as { code?: number; reason?: string; message?: string };
      return status(
        res,
        typeof e.code === 'number' && e.code >= 400 ? e.code : 500,
        e.reason || 'InternalError',
        e.message ?? String(err),
      );
    }
  };

  // The API server proxies with its front-proxy client certificate; on loopback behind it, the
  // request headers are trusted as they come.
  const server = https.createServer({ cert: serving.certPem, key: serving.keyPem }, (req, res) => {
    handle(req, res).catch((err) => {
      // Nothing may escape as an unhandled rejection: an answer already begun can only be cut off.
      if (res.headersSent) res.destroy();
      else status(res, 500, 'InternalError', String(err));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as { port: number }).port;
  const stop = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      // The API server keeps its connections alive: they end with us.
      server.closeAllConnections();
    });

  try {
    const admin = kube.client();
    await admin
      .create(
        { group: '', version: 'v1', resource: 'namespaces' },
        { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ALLOCATION_API.namespace } },
      )
      .catch((err) => {
        if ((err as { code?: number }).code !== 409) throw err;
      });
    await admin.create(
      { group: '', version: 'v1', resource: 'services', namespace: ALLOCATION_API.namespace },
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: ALLOCATION_API.service, namespace: ALLOCATION_API.namespace },
        spec: { ports: [{ name: 'https', port: 443, targetPort: 8081 }] },
      },
    );
    await kube.exposeService(ALLOCATION_API.namespace, ALLOCATION_API.service, { host: '127.0.0.1', port });
    const apiServices = { group: 'apiregistration.k8s.io', version: 'v1', resource: 'apiservices' };
    await admin.create(apiServices, {
      apiVersion: 'apiregistration.k8s.io/v1',
      kind: 'APIService',
      metadata: { name: ALLOCATION_API.apiService },
      spec: {
        group: GROUP,
        version: VERSION,
        service: { namespace: ALLOCATION_API.namespace, name: ALLOCATION_API.service, port: 443 },
        caBundle: Buffer.from(ca.certPem).toString('base64'),
        groupPriorityMinimum: 1000,
        versionPriority: 15,
      },
    });
    await until(
      `APIService ${ALLOCATION_API.apiService} Available`,
      async () => {
        const s = await admin.get({ ...apiServices, name: ALLOCATION_API.apiService });
        return (s.status?.conditions ?? []).some(
          (c: { type: string; status: string }) => c.type === 'Available' && c.status === 'True',
        );
      },
      60_000,
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { stop };
}
