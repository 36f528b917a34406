// End-to-end setup for the webhook, on the Kubernetes control plane the tests run on
// (FLEETIQ_TEST_CONTROL_PLANE: `real`, the default, is kube-apiserver, etcd, kube-controller-manager
// and kube-scheduler of the pinned release; `emulated` is the API server emulator), both started by
// the system builder (sandbox/system/system.ts) with RBAC on and manifests/base installed (Namespace,
// ServiceAccounts and RBAC, the webhook's Service and its MutatingWebhookConfiguration,
// matchConditions and all).
// On it: the simulated cluster (kubelets and Agones; on the emulator also the scheduler and taint
// manager, on the real one the real ones) and the real webhook in built-in certificate mode, its
// settings taken from the Deployment's environment. The API server reaches the webhook's replicas
// through the sandbox's Service stand-in (sandbox/run/service-proxy.ts: a TCP round-robin proxy made
// the Service's endpoint), so replicas can be added, removed or all taken away (an outage) while
// traffic runs.
//
// What a test reads about the API server is taken from the API server itself, on either backend:
// the webhook's call statistics from kube-apiserver's apiserver_admission_* metrics (the emulator
// keeps the same counts itself), and the requests a ServiceAccount made from kube-apiserver's audit
// log (the emulator's request log). On the real control plane, matchmakers allocate through
// Agones' aggregated allocation API (allocation-api.ts).
import tls from 'node:tls';
import https from 'node:https';
import { open } from 'node:fs/promises';
import { Command } from 'commander';
import { KubeConfig } from '@kubernetes/client-node';
import { createLogger, type Logger } from '../../shared/logger.js';
import { SeededRandom, type SimClock } from '../../sandbox/clock.js';
import type { KubeObject, LocalClient, UserInfo } from '../../sandbox/kube/types.js';
import type { WebhookCallStats, WebhookOutcome } from '../../sandbox/kube/admission/mutating.js';
import type {
  ClusterSimulation,
  ClusterSimulationOptions,
  FleetOptions,
} from '../../sandbox/cluster/index.js';
import type { ControlPlaneKind, KubeBackend } from '../../sandbox/run/kube-backend.js';
import { startServiceProxy, type ServiceProxy } from '../../sandbox/run/service-proxy.js';
import { startSystem } from '../../sandbox/system/system.js';
import { registerWebhookCommand, webhookConfigFromOptions } from '../../webhook/cli.js';
import type { WebhookConfig } from '../../webhook/config.js';
import type { AdmissionRecord } from '../../webhook/http-admission.js';
import { startWebhook, type RunningWebhook } from '../../webhook/server.js';
import type { ServingCertificate } from '../../webhook/tls-source.js';
import { componentUser, findObject, NAMESPACE, renderOverlay } from '../manifests/render.js';
import { until } from '../sandbox/cluster/sim-helpers.js';
import { testControlPlane } from '../helpers/test-kube.js';
import { startAllocationApi } from './allocation-api.js';

export { until } from '../sandbox/cluster/sim-helpers.js';

/**
 * The control plane the end-to-end suites run on: the real one unless
 * FLEETIQ_TEST_CONTROL_PLANE=emulated.
 */
export const E2E_CONTROL_PLANE: ControlPlaneKind = testControlPlane();

/** Starting a real control plane on a loaded two-core machine: beforeAll gets this long. */
export const E2E_START_MS = 240_000;

export const WEBHOOK_NAMESPACE = NAMESPACE;
export const WEBHOOK_NAME = 'fleetiq-agones-webhook';
export const GS = { group: 'agones.dev', version: 'v1', resource: 'gameservers' } as const;
export const GSA = {
  group: 'allocation.agones.dev',
  version: 'v1',
  resource: 'gameserverallocations',
} as const;
export const PODS = { group: '', version: 'v1', resource: 'pods' } as const;
export const NODES = { group: '', version: 'v1', resource: 'nodes' } as const;
export const WEBHOOK_CONFIGS = {
  group: 'admissionregistration.k8s.io',
  version: 'v1',
  resource: 'mutatingwebhookconfigurations',
} as const;

/**
 * The webhook command's options as the Deployment of manifests/base sets them: each environment
 * variable of the container goes to the option that reads it (commander's own env mapping), the rest
 * keep their defaults; `overrides` (option names, as on the command line) win.
 */
export function webhookOptionsFromDeployment(
  objects: KubeObject[],
  overrides: Record<string, string>,
): Record<string, string | boolean | undefined> {
  const deployment = findObject(objects, 'Deployment', WEBHOOK_NAME);
  const container = deployment.spec.template.spec.containers.find((c: any) => c.name === 'webhook');
  const env: Record<string, string> = {};
  for (const e of container.env ?? []) {
    if (typeof e.value === 'string') env[e.name] = e.value;
    else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.namespace') env[e.name] = WEBHOOK_NAMESPACE;
  }
  const cmd = registerWebhookCommand(new Command());
  const opts: Record<string, string | boolean | undefined> = {};
  for (const o of cmd.options) {
    const key = o.attributeName();
    if (o.defaultValue !== undefined && !(key in opts)) opts[key] = o.defaultValue as string | boolean;
  }
  for (const o of cmd.options)
    if (o.envVar && env[o.envVar] !== undefined) opts[o.attributeName()] = env[o.envVar];
  return { ...opts, ...overrides };
}

export interface E2eOptions {
  /** SimClock speed (default 30). */
  speed?: number;
  seed?: number;
  nodes?: ClusterSimulationOptions['nodes'];
  fleets?: FleetOptions[];
  /** Webhook replicas started (at once) before the simulation (default 1). */
  replicas?: number;
  /** Webhook command-line options over the Deployment's (e.g. { certCheckInterval: '1s' }). */
  webhookOptions?: Record<string, string>;
  simulation?: Partial<ClusterSimulationOptions>;
  /** The API server's logger (e.g. to see why webhook calls failed). */
  apiServerLogger?: Logger;
}

/** One request to the API server, as its audit log (real) or request log (emulated) has it. */
export interface ApiRequestRecord {
  verb: string;
  resource: string;
  subresource?: string;
  namespace?: string;
  name?: string;
  code: number;
  /** The RBAC binding that allowed it. */
  binding?: string;
}

export interface E2e {
  kind: ControlPlaneKind;
  backend: KubeBackend;
  sim: ClusterSimulation;
  clock: SimClock;
  /** Admin client (HTTPS on the real control plane, in-process through the whole pipeline on the emulator). */
  admin: LocalClient;
  /** A kubeconfig for an admin over HTTPS (client-node). */
  adminKubeConfig: KubeConfig;
  /** The webhook's identity (its ServiceAccount). */
  webhookUser: UserInfo;
  /** The rendered objects of manifests/base. */
  manifests: KubeObject[];
  service: ServiceProxy;
  /** Every replica started, by index (start order). */
  replicas: RunningWebhook[];
  /** Every review answered by any replica, in order (the webhook's onAdmission), with the replica's index. */
  admissions: (AdmissionRecord & { replica: number })[];
  /** Starts one more replica (not yet behind the Service). */
  startReplica(options?: Record<string, string>): Promise<RunningWebhook>;
  /**
   * Puts exactly these replicas behind the Service. `crash`: the others died, their connections
   * are cut (with none left: an outage); otherwise they are only taken out of the endpoints.
   */
  route(replicas: RunningWebhook[], options?: { crash?: boolean }): void;
  /** The certificate each replica started with (in start order), before anything could rotate it. */
  initialCertificates: ServingCertificate[];
  /** The API server's call statistics for our webhook since it started (zeros when never considered). */
  webhookStats(): Promise<WebhookCallStats>;
  /** Every request `user` made to the API server so far, in order. */
  requests(user: UserInfo): Promise<ApiRequestRecord[]>;
  /**
   * The answers of requests the API server refused because a webhook call failed (failurePolicy
   * Fail), by anyone, so far: why each call failed, as the API server said it.
   */
  failedWebhookCalls(): Promise<string[]>;
  /** A raw HTTPS request to the API server as admin: status, Warning headers, parsed body. */
  api(method: string, path: string, body?: unknown): Promise<ApiAnswer>;
  stop(): Promise<void>;
}

export interface ApiAnswer {
  status: number;
  warnings: string[];
  body: any;
}

/** `after - before`, with the outcomes that did not change left out. */
export function statsDelta(after: WebhookCallStats, before: WebhookCallStats): WebhookCallStats {
  const outcomes: Partial<Record<WebhookOutcome, number>> = {};
  for (const [k, v] of Object.entries(after.outcomes) as [WebhookOutcome, number][]) {
    const d = v - (before.outcomes[k] ?? 0);
    if (d !== 0) outcomes[k] = d;
  }
  return {
    ...after,
    outcomes,
    calls: after.calls - before.calls,
    totalLatencyMs: after.totalLatencyMs - before.totalLatencyMs,
  };
}

const silent = createLogger('e2e', 'silent');

// Who the real API server's audit log records: the installation's ServiceAccounts (what the
// backend reports as requests; the webhook's among them), then the admin (the simulation acts
// through it, impersonating each identity, and the audit policy sees the authenticated user) but not
// its Leases (the kubelets' heartbeats: many, and nothing a test reads). RequestReceived is left out
// so each request is one event, two for a watch (ResponseStarted when it starts, so a watch is seen
// while it runs; ResponseComplete when it ends).
const AUDIT_POLICY = {
  apiVersion: 'audit.k8s.io/v1',
  kind: 'Policy',
  omitStages: ['RequestReceived'],
  rules: [
    { level: 'Metadata', userGroups: [`system:serviceaccounts:${NAMESPACE}`] },
    { level: 'None', resources: [{ group: 'coordination.k8s.io', resources: ['leases'] }] },
    { level: 'Metadata', userGroups: ['system:masters'] },
    { level: 'None' },
  ],
};

interface AuditEvent {
  auditID: string;
  stage: string;
  verb: string;
  user: { username: string };
  impersonatedUser?: { username: string };
  objectRef?: { resource?: string; subresource?: string; namespace?: string; name?: string };
  responseStatus?: { code?: number; message?: string };
  annotations?: Record<string, string>;
}

/**
 * kube-apiserver's audit log (JSON lines), read as it grows. An event is written once the response
 * is sent, so a reader first makes a request of its own and waits for it to appear: everything
 * answered before it is then in the log.
 */
class AuditLog {
  private offset = 0;
  private partial = '';
  private readonly events: AuditEvent[] = [];
  private readonly index = new Map<string, number>();
  private barriers = 0;

  constructor(
    readonly path: string,
    private readonly admin: LocalClient,
  ) {}

  private async readNew(): Promise<void> {
    let fh;
    try {
      fh = await open(this.path, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    try {
      const { size } = await fh.stat();
      if (size <= this.offset) return;
      const buf = Buffer.alloc(size - this.offset);
      const { bytesRead } = await fh.read(buf, 0, buf.length, this.offset);
      this.offset += bytesRead;
      const lines = (this.partial + buf.subarray(0, bytesRead).toString('utf8')).split('\n');
      this.partial = lines.pop() ?? '';
      for (const line of lines) {
        if (!line.trim()) continue;
        const e = JSON.parse(line) as AuditEvent;
        // A watch's later stage replaces its earlier one: one record per request.
        const at = this.index.get(e.auditID);
        if (at === undefined) {
          this.index.set(e.auditID, this.events.length);
          this.events.push(e);
        } else this.events[at] = e;
      }
    } finally {
      await fh.close();
    }
  }

  /** Every event up to now (see the class comment). */
  async all(): Promise<AuditEvent[]> {
    const name = `fleetiq-e2e-audit-barrier-${++this.barriers}`;
    await this.admin.get({ group: '', version: 'v1', resource: 'namespaces', name }).catch(() => undefined);
    await until(
      'the audit log to catch up',
      async () => {
        await this.readNew();
        return this.events.some((e) => e.objectRef?.resource === 'namespaces' && e.objectRef.name === name);
      },
      30_000,
    );
    return this.events;
  }
}

/** `RBAC: allowed by ClusterRoleBinding "name" of ...` / `RoleBinding "name/namespace" of ...` → name. */
function bindingOf(reason: string | undefined): string | undefined {
  const m = /allowed by (?:Cluster)?RoleBinding "([^"/]+)/.exec(reason ?? '');
  return m?.[1];
}

/** One text exposition's samples of `name`: labels and value. */
function samples(text: string, name: string): { labels: Record<string, string>; value: number }[] {
  const out: { labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const close = line.lastIndexOf('}');
    const labels: Record<string, string> = {};
    for (const m of line.slice(name.length + 1, close).matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g))
      labels[m[1]!] = m[2]!;
    out.push({ labels, value: Number(line.slice(close + 1).trim()) });
  }
  return out;
}

export async function startE2e(options: E2eOptions = {}): Promise<E2e> {
  const kind = E2E_CONTROL_PLANE;
  const names = new SeededRandom(((options.seed ?? 11) ^ 0x6e41) >>> 0);
  const system = await startSystem({
    controlPlane: kind,
    speed: options.speed ?? 30,
    random: () => names.next(),
    failurePolicy: 'Fail',
    logger: (component) => (component === 'kube-apiserver' ? (options.apiServerLogger ?? silent) : silent),
    auditPolicy: AUDIT_POLICY,
  });
  // Stopped in the reverse order of what follows: the allocation API, the cluster, then the API
  // server's connections to the webhooks (it is going away), so the replicas have nothing left to
  // drain; then the replicas, the Service stand-in and the control plane.
  try {
    const kube = system.kube;
    const audit = kube.auditLogPath ? new AuditLog(kube.auditLogPath, kube.client()) : undefined;
    const admin = kube.client();
    const adminKubeConfig = new KubeConfig();
    adminKubeConfig.loadFromString(kube.adminKubeconfig);
    const manifests = await renderOverlay('base');
    const hookName = findObject(manifests, 'MutatingWebhookConfiguration', WEBHOOK_NAME).webhooks[0]
      .name as string;

    const service = await startServiceProxy();
    system.defer('the Service stand-in', () => service.close(), 5_000);
    await kube.exposeService(WEBHOOK_NAMESPACE, WEBHOOK_NAME, { host: '127.0.0.1', port: service.port });

    const webhookUser = componentUser('webhook');
    const webhookKubeConfig = new KubeConfig();
    webhookKubeConfig.loadFromString(await kube.kubeconfig(webhookUser));
    const admissions: (AdmissionRecord & { replica: number })[] = [];
    const replicas: RunningWebhook[] = [];
    // A replica may take its whole shutdown grace (the Deployment's 25 s) for a request in flight.
    system.defer('the webhook replicas', () => Promise.all(replicas.map((w) => w.stop())), 30_000);
    let replicaCount = 0;
    const startReplica = async (extra: Record<string, string> = {}) => {
      const config: WebhookConfig = webhookConfigFromOptions(
        webhookOptionsFromDeployment(manifests, {
          listen: '127.0.0.1:0',
          opsListen: '127.0.0.1:0',
          ...options.webhookOptions,
          ...extra,
        }),
      );
      const replica = replicaCount++;
      const w = await startWebhook(config, {
        kubeConfig: webhookKubeConfig,
        logger: silent,
        onAdmission: (r) => admissions.push({ ...r, replica }),
      });
      replicas[replica] = w;
      return w;
    };
    const route = (list: RunningWebhook[], o: { crash?: boolean } = {}) =>
      service.setEndpoints(
        list.map((w) => ({ host: '127.0.0.1', port: w.port })),
        { cut: o.crash ?? false },
      );

    const started = await Promise.all(Array.from({ length: options.replicas ?? 1 }, () => startReplica()));
    const initialCertificates = started.map((w) => w.certificate());
    for (const w of started)
      await until(
        'webhook replica ready',
        async () => (await fetch(`${w.opsUrl}/readyz`)).status === 200,
        30_000,
      );
    route(started);

    // The real control plane goes before the replicas: connections through the test bed's network
    // namespace then end from the API server's side while everything they lead to still reads. Ended
    // from our side first, one has been seen to keep the namespace's relay (service-network.ts) from
    // closing, and the control plane's stop with it. The emulator instead closes its connections to
    // the webhooks.
    system.defer(
      "the API server's connections to the webhooks",
      async () => {
        if (kube.kind === 'real') await kube.stop();
        kube.emulator?.webhooks?.close();
        service.setEndpoints([], { cut: true });
      },
      20_000,
    );
    const sim = await system.startCluster({
      seed: options.seed ?? 11,
      readyTimeoutMs: kind === 'real' ? 90_000 : 20_000,
      nodes: options.nodes,
      fleets: options.fleets,
      ...options.simulation,
    });
    if (kind === 'real') {
      const allocationApi = await startAllocationApi(kube);
      system.defer('the allocation API', () => allocationApi.stop(), 5_000);
    }

    const server = new URL(adminKubeConfig.getCurrentCluster()!.server);
    const ca = Buffer.from(adminKubeConfig.getCurrentCluster()!.caData ?? '', 'base64').toString('utf8');
    const token = adminKubeConfig.getCurrentUser()!.token!;
    const raw = (method: string, path: string, body?: unknown) =>
      new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }>(
        (resolve, reject) => {
          const payload = body === undefined ? undefined : JSON.stringify(body);
          const req = https.request(
            new URL(path, server),
            {
              method,
              ca,
              headers: {
                authorization: `Bearer ${token}`,
                accept: 'application/json',
                ...(payload ? { 'content-type': 'application/json' } : {}),
              },
            },
            (res) => {
              const chunks: Buffer[] = [];
              res.on('data', (c: Buffer) => chunks.push(c));
              res.on('end', () =>
                resolve({
                  status: res.statusCode ?? 0,
                  headers: res.headers,
                  text: Buffer.concat(chunks).toString('utf8'),
                }),
              );
              res.on('error', reject);
            },
          );
          req.setTimeout(30_000, () => req.destroy(new Error(`${method} ${path}: no answer in 30 s`)));
          req.on('error', reject);
          req.end(payload);
        },
      );
    const api = async (method: string, path: string, body?: unknown): Promise<ApiAnswer> => {
      const res = await raw(method, path, body);
      const w = res.headers.warning;
      return {
        status: res.status,
        warnings: (Array.isArray(w) ? w : w ? [w] : []).map(parseWarning),
        body: res.text ? JSON.parse(res.text) : undefined,
      };
    };

    const emptyStats = (): WebhookCallStats => ({
      configuration: WEBHOOK_NAME,
      webhook: hookName,
      outcomes: {},
      calls: 0,
      totalLatencyMs: 0,
      maxLatencyMs: 0,
    });
    /**
     * kube-apiserver's own counts for the webhook: every call (apiserver_admission_webhook_request_total),
     * failed calls that rejected the request (rejection_count, calling_webhook_error) or were let
     * through (fail_open_count), denials (rejection_count, no_error), skips by a matchCondition
     * (match_condition_exclusions_total); which calls changed the object is in the audit log's
     * mutation.webhook.admission.k8s.io annotations.
     */
    const realStats = async (): Promise<WebhookCallStats> => {
      const events = await audit!.all();
      const res = await raw('GET', '/metrics');
      if (res.status !== 200) throw new Error(`GET /metrics: ${res.status} ${res.text.slice(0, 200)}`);
      const ours = (metric: string, match: Record<string, string> = {}) =>
        samples(res.text, metric)
          .filter(
            (s) =>
              s.labels.name === hookName &&
              s.labels.type === 'admit' &&
              Object.entries(match).every(([k, v]) => s.labels[k] === v),
          )
          .reduce((sum, s) => sum + s.value, 0);
      const patched = events.filter((e) =>
        Object.entries(e.annotations ?? {}).some(([k, v]) => {
          if (!k.startsWith('mutation.webhook.admission.k8s.io/')) return false;
          const a = JSON.parse(v) as { configuration?: string; webhook?: string; mutated?: boolean };
          return a.configuration === WEBHOOK_NAME && a.webhook === hookName && a.mutated === true;
        }),
      ).length;
      const calls = ours('apiserver_admission_webhook_request_total');
      const answered = ours('apiserver_admission_webhook_request_total', { code: '200' });
      const counts: Partial<Record<WebhookOutcome, number>> = {
        allowed: answered - patched,
        patched,
        denied: ours('apiserver_admission_webhook_rejection_count', { error_type: 'no_error' }),
        failedClosed: ours('apiserver_admission_webhook_rejection_count', {
          error_type: 'calling_webhook_error',
        }),
        failedOpen: ours('apiserver_admission_webhook_fail_open_count'),
        rejected: ours('apiserver_admission_webhook_rejection_count', {
          error_type: 'apiserver_internal_error',
        }),
        conditionFalse: ours('apiserver_admission_match_condition_exclusions_total'),
        conditionError: ours('apiserver_admission_match_condition_evaluation_errors_total'),
      };
      const stats = emptyStats();
      for (const [k, v] of Object.entries(counts) as [WebhookOutcome, number][]) if (v) stats.outcomes[k] = v;
      stats.calls = calls;
      stats.totalLatencyMs = 1000 * ours('apiserver_admission_webhook_admission_duration_seconds_sum');
      return stats;
    };

    const requests = async (user: UserInfo): Promise<ApiRequestRecord[]> => {
      if (kube.emulator)
        return kube.emulator.requestLog.entries(user).map((r) => ({
          verb: r.verb,
          resource: r.resource,
          ...(r.subresource ? { subresource: r.subresource } : {}),
          ...(r.namespace ? { namespace: r.namespace } : {}),
          ...(r.name ? { name: r.name } : {}),
          code: r.code,
          ...(r.allowedBy ? { binding: r.allowedBy.binding } : {}),
        }));
      return (await audit!.all())
        .filter((e) => (e.impersonatedUser ?? e.user).username === user.username && e.objectRef?.resource)
        .map((e) => ({
          verb: e.verb,
          resource: e.objectRef!.resource!,
          ...(e.objectRef!.subresource ? { subresource: e.objectRef!.subresource } : {}),
          ...(e.objectRef!.namespace ? { namespace: e.objectRef!.namespace } : {}),
          ...(e.objectRef!.name ? { name: e.objectRef!.name } : {}),
          code: e.responseStatus?.code ?? 0,
          ...(bindingOf(e.annotations?.['authorization.k8s.io/reason'])
            ? { binding: bindingOf(e.annotations?.['authorization.k8s.io/reason'])! }
            : {}),
        }));
    };

    const failedWebhookCalls = async (): Promise<string[]> =>
      (kube.emulator
        ? kube.emulator.requestLog.entries().map((r) => r.message ?? '')
        : (await audit!.all()).map((e) => e.responseStatus?.message ?? '')
      ).filter((m) => m.includes('failed calling webhook'));

    return {
      kind,
      backend: kube,
      sim,
      clock: system.clock,
      admin,
      adminKubeConfig,
      webhookUser,
      manifests,
      service,
      replicas,
      admissions,
      startReplica,
      route,
      initialCertificates,
      webhookStats: async () =>
        kube.emulator
          ? structuredClone(
              kube.emulator.webhooks?.stats().find((s) => s.configuration === WEBHOOK_NAME) ?? emptyStats(),
            )
          : realStats(),
      requests,
      failedWebhookCalls,
      api,
      stop: () => system.stop(),
    };
  } catch (err) {
    // Why it did not start matters more than what stopping the rest then ran into.
    await system.stop().catch(() => undefined);
    throw err;
  }
}

/** `299 - "text"` → text (RFC 7234 warn-code, warn-agent, quoted warn-text, as kube sends them). */
function parseWarning(header: string): string {
  const m = /^\d{3} \S+ "((?:[^"\\]|\\.)*)"/.exec(header);
  return m ? m[1]!.replace(/\\(.)/g, '$1') : header;
}

/** The serial number (hex) of the certificate a TLS server presents to a new connection. */
export function servedCertificateSerial(port: number, servername: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false }, () => {
      const serial = socket.getPeerCertificate().serialNumber;
      socket.end();
      resolve(serial);
    });
    socket.on('error', reject);
  });
}

/** A metric's value from a webhook's /metrics (0 when the series does not exist yet). */
export async function metricValue(w: RunningWebhook, series: RegExp): Promise<number> {
  const text = await (await fetch(`${w.opsUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => series.test(l));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

/** The sum of every series of a metric on a webhook's /metrics. */
export async function metricSum(w: RunningWebhook, name: string): Promise<number> {
  const text = await (await fetch(`${w.opsUrl}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
    .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

/** Ready GameServers of the fleet per node, as the API has them now. */
export async function gameServersOf(admin: LocalClient, fleet: string): Promise<KubeObject[]> {
  return (await admin.list({ ...GS, namespace: 'default' }, { labelSelector: `agones.dev/fleet=${fleet}` }))
    .items;
}
