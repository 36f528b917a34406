// End-to-end setup for the webhook: the Kubernetes API server emulator with RBAC on, the simulated
// cluster (scheduler, kubelets, taint manager, Agones) on it, and the real webhook in built-in
// certificate mode, installed the way manifests/base installs it: its Namespace, ServiceAccount and
// RBAC, its MutatingWebhookConfiguration (matchConditions and all), and its settings taken from the
// Deployment's environment. The API server reaches the webhook's replicas through a Service stand-in
// (a TCP round-robin proxy registered as `fleetiq-agones-webhook.fleetiq-system.svc`), so
// replicas can be added, removed or all taken away (an outage) while traffic runs.
import net from 'node:net';
import tls from 'node:tls';
import https from 'node:https';
import { Command } from 'commander';
import { KubeConfig } from '@kubernetes/client-node';
import { createLogger, type Logger } from '../../shared/logger.js';
import { SimClock } from '../../sandbox/clock.js';
import { ADMIN_USER, startKubeEmulator, type KubeEmulator } from '../../sandbox/kube/emulator.js';
import type { KubeObject, LocalClient, ResourceRef, UserInfo } from '../../sandbox/kube/types.js';
import type { WebhookCallStats } from '../../sandbox/kube/admission/mutating.js';
import {
  startClusterSimulation,
  type ClusterSimulation,
  type ClusterSimulationOptions,
  type FleetOptions,
} from '../../sandbox/cluster/index.js';
import { registerWebhookCommand, webhookConfigFromOptions } from '../../webhook/cli.js';
import type { WebhookConfig } from '../../webhook/config.js';
import type { AdmissionRecord } from '../../webhook/http-admission.js';
import { startWebhook, type RunningWebhook } from '../../webhook/server.js';
import type { ServingCertificate } from '../../webhook/tls-source.js';
import { componentUser, findObject, NAMESPACE, renderOverlay } from '../manifests/render.js';
import { until } from '../cluster/sim-helpers.js';

export { until } from '../cluster/sim-helpers.js';

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

const RESOURCES: Record<string, { group: string; version: string; resource: string; namespaced: boolean }> = {
  Namespace: { group: '', version: 'v1', resource: 'namespaces', namespaced: false },
  ServiceAccount: { group: '', version: 'v1', resource: 'serviceaccounts', namespaced: true },
  Role: { group: 'rbac.authorization.k8s.io', version: 'v1', resource: 'roles', namespaced: true },
  RoleBinding: {
    group: 'rbac.authorization.k8s.io',
    version: 'v1',
    resource: 'rolebindings',
    namespaced: true,
  },
  ClusterRole: {
    group: 'rbac.authorization.k8s.io',
    version: 'v1',
    resource: 'clusterroles',
    namespaced: false,
  },
  ClusterRoleBinding: {
    group: 'rbac.authorization.k8s.io',
    version: 'v1',
    resource: 'clusterrolebindings',
    namespaced: false,
  },
  MutatingWebhookConfiguration: { ...WEBHOOK_CONFIGS, namespaced: false },
};

/** The objects of manifests/base the webhook needs in the cluster: namespace, identity, RBAC, configuration. */
export function webhookInstallation(objects: KubeObject[]): KubeObject[] {
  const isWebhookRbac = (o: KubeObject) =>
    o.apiVersion === 'rbac.authorization.k8s.io/v1' && (o.metadata.name ?? '').startsWith(WEBHOOK_NAME);
  return [
    findObject(objects, 'Namespace', WEBHOOK_NAMESPACE),
    findObject(objects, 'ServiceAccount', WEBHOOK_NAME),
    ...objects.filter(isWebhookRbac),
    findObject(objects, 'MutatingWebhookConfiguration', WEBHOOK_NAME),
  ];
}

/** Creates the objects (as `kubectl apply` would the first time), in order. */
export async function applyObjects(admin: LocalClient, objects: KubeObject[]): Promise<void> {
  for (const o of objects) {
    const r = RESOURCES[o.kind];
    if (!r) throw new Error(`harness cannot apply kind ${o.kind}`);
    const ref: ResourceRef = {
      group: r.group,
      version: r.version,
      resource: r.resource,
      ...(r.namespaced ? { namespace: o.metadata.namespace ?? 'default' } : {}),
    };
    await admin.create(ref, o);
  }
}

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

/**
 * A Service with its endpoints, as kube-proxy makes it: each new TCP connection goes to the next
 * backend in turn, established connections stay with theirs, and with no backend at all connections
 * are refused at once.
 */
export class ServiceProxy {
  private backends: { host: string; port: number }[] = [];
  private next = 0;
  private readonly conns = new Map<net.Socket, { socket: net.Socket; backend: string }>();
  private server: net.Server | undefined;
  port = 0;

  async start(): Promise<void> {
    this.server = net.createServer({ allowHalfOpen: true }, (client) => this.accept(client));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', () => resolve()));
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  /**
   * The Service's endpoints become `backends`. A removed endpoint's established connections stay (as
   * with kube-proxy: its pod keeps serving them until it shuts down), unless `cut` (its pod died).
   */
  setBackends(backends: { host: string; port: number }[], options: { cut?: boolean } = {}): void {
    this.backends = [...backends];
    if (!options.cut) return;
    const keep = new Set(backends.map((b) => `${b.host}:${b.port}`));
    for (const [client, c] of this.conns) {
      if (!keep.has(c.backend)) {
        client.destroy();
        c.socket.destroy();
      }
    }
  }

  private accept(client: net.Socket): void {
    if (this.backends.length === 0) {
      client.resetAndDestroy();
      return;
    }
    const b = this.backends[this.next++ % this.backends.length]!;
    const upstream = net.connect({ port: b.port, host: b.host, allowHalfOpen: true });
    this.conns.set(client, { socket: upstream, backend: `${b.host}:${b.port}` });
    // Transparent as a NAT: a FIN is passed on as a FIN (pipe), a reset as a reset.
    client.on('close', () => {
      this.conns.delete(client);
      upstream.end();
    });
    upstream.on('close', () => {
      this.conns.delete(client);
      client.end();
    });
    client.on('error', () => upstream.resetAndDestroy());
    upstream.on('error', () => client.resetAndDestroy());
    client.pipe(upstream).pipe(client);
  }

  async stop(): Promise<void> {
    for (const [client, c] of this.conns) {
      client.destroy();
      c.socket.destroy();
    }
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
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
  /** The API server emulator's logger (e.g. to see why webhook calls failed). */
  emulatorLogger?: Logger;
}

export interface E2e {
  emu: KubeEmulator;
  sim: ClusterSimulation;
  clock: SimClock;
  /** In-process admin client (through the API server's pipeline, admission included). */
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
  /** The API server's call statistics for our webhook (zeros when it was never considered). */
  webhookStats(): WebhookCallStats;
  /** A raw HTTPS request to the API server as admin: status, Warning headers, parsed body. */
  api(method: string, path: string, body?: unknown): Promise<ApiAnswer>;
  stop(): Promise<void>;
}

export interface ApiAnswer {
  status: number;
  warnings: string[];
  body: any;
}

const silent = createLogger('e2e', 'silent');

export async function startE2e(options: E2eOptions = {}): Promise<E2e> {
  const clock = new SimClock({ speed: options.speed ?? 30 });
  const emu = await startKubeEmulator({
    clock,
    authorization: 'rbac',
    ...(options.emulatorLogger ? { logger: options.emulatorLogger } : {}),
  });
  let sim: ClusterSimulation | undefined;
  let service: ServiceProxy | undefined;
  const replicas: RunningWebhook[] = [];
  // The cluster first, then the API server's connections to the webhooks (it is going away), so the
  // replicas have nothing left to drain; then the rest.
  const stopAll = async () => {
    await sim?.stop();
    emu.webhooks?.close();
    await Promise.all(replicas.map((w) => w.stop()));
    await service?.stop();
    await emu.stop();
    clock.stop();
  };
  try {
    const admin = emu.client();
    const adminKubeConfig = new KubeConfig();
    adminKubeConfig.loadFromString(emu.kubeconfig());
    const manifests = await renderOverlay('base');
    await applyObjects(admin, webhookInstallation(manifests));

    service = new ServiceProxy();
    await service.start();
    emu.registerServiceEndpoint(WEBHOOK_NAMESPACE, WEBHOOK_NAME, '127.0.0.1', service.port);

    const webhookUser = componentUser('webhook');
    const webhookKubeConfig = new KubeConfig();
    webhookKubeConfig.loadFromString(emu.kubeconfig(webhookUser));
    const admissions: (AdmissionRecord & { replica: number })[] = [];
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
      service!.setBackends(
        list.map((w) => ({ host: '127.0.0.1', port: w.port })),
        { cut: o.crash ?? false },
      );

    const started = await Promise.all(Array.from({ length: options.replicas ?? 1 }, () => startReplica()));
    const initialCertificates = started.map((w) => w.certificate());
    for (const w of started)
      await until('webhook replica ready', async () => (await fetch(`${w.opsUrl}/readyz`)).status === 200);
    route(started);

    sim = await startClusterSimulation(emu, {
      clock,
      seed: options.seed ?? 11,
      readyTimeoutMs: 20_000,
      nodes: options.nodes,
      fleets: options.fleets,
      ...options.simulation,
    });

    const token = emu.addIdentity(ADMIN_USER);
    const api = (method: string, path: string, body?: unknown): Promise<ApiAnswer> =>
      new Promise((resolve, reject) => {
        const url = new URL(path, emu.url);
        const payload = body === undefined ? undefined : JSON.stringify(body);
        const req = https.request(
          url,
          {
            method,
            ca: emu.ca,
            headers: {
              authorization: `Bearer ${token}`,
              accept: 'application/json',
              ...(payload ? { 'content-type': 'application/json' } : {}),
            },
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => {
              const text = Buffer.concat(chunks).toString('utf8');
              const w = res.headers.warning;
              resolve({
                status: res.statusCode ?? 0,
                warnings: (Array.isArray(w) ? w : w ? [w] : []).map(parseWarning),
                body: text ? JSON.parse(text) : undefined,
              });
            });
            res.on('error', reject);
          },
        );
        req.on('error', reject);
        req.end(payload);
      });

    return {
      emu,
      sim,
      clock,
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
      webhookStats: () =>
        emu.webhooks?.stats().find((s) => s.configuration === WEBHOOK_NAME) ?? {
          configuration: WEBHOOK_NAME,
          webhook: '',
          outcomes: {},
          calls: 0,
          totalLatencyMs: 0,
          maxLatencyMs: 0,
        },
      api,
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
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
