// The project's real components, in this process, each acting as its ServiceAccount with the RBAC the
// manifests give it: pubsub (2 replicas, Lease leader election), the webhook (2 replicas behind one
// Service address, built-in certificates published into the MutatingWebhookConfiguration's caBundle),
// and one node agent per game server node (what the DaemonSet runs), including nodes that join later.
//
// They run on real time, as in production, with intervals shortened for a sandbox (pubsub polls every
// second, agents report health every two) — only the simulated cluster and FleetIQ run on the SimClock.
// Each can be stopped like a crash or restarted, for the failure scenarios.
import { GameLiftClient } from '@aws-sdk/client-gamelift';
import { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { DEFAULT_CERTIFICATE_POLICY } from '../../certs/ensure.js';
import { resolveConfig } from '../../pubsub/config.js';
import { startPubsub, type PubsubService } from '../../pubsub/service.js';
import { webhookConfig } from '../../webhook/config.js';
import { startWebhook, type RunningWebhook } from '../../webhook/server.js';
import { reconcilerConfig, startReconciler, type RunningReconciler } from '../../reconciler/agent.js';
import type { DecideConfig } from '../../reconciler/decide.js';
import { startImdsEmulator, type ImdsEmulator } from '../imds/emulator.js';
import { serviceAccountUser } from '../kube/authn.js';
import type { UserInfo } from '../kube/types.js';
import type { GameLiftMeter } from './gamelift-meter.js';
import type { KubeBackend } from './kube-backend.js';
import { INSTALL_NAMESPACE, WEBHOOK_CONFIGURATION_NAME, WEBHOOK_SERVICE_NAME } from './manifests.js';
import { startServiceProxy, type ServiceProxy } from './service-proxy.js';

export const COMPONENT_USERS = {
  pubsub: serviceAccountUser(INSTALL_NAMESPACE, 'fleetiq-agones-pubsub'),
  webhook: serviceAccountUser(INSTALL_NAMESPACE, 'fleetiq-agones-webhook'),
  reconciler: serviceAccountUser(INSTALL_NAMESPACE, 'fleetiq-agones-reconciler'),
} as const;

export type ComponentName = keyof typeof COMPONENT_USERS;

/** The component a Kubernetes username belongs to, if it is one of ours. */
export function componentOfUser(username: string): ComponentName | undefined {
  for (const [name, user] of Object.entries(COMPONENT_USERS))
    if (user.username === username) return name as ComponentName;
  return undefined;
}

/** Real-time intervals of the components in the sandbox. */
export interface ComponentTimings {
  pubsubPollSeconds: number;
  pubsubRepublishSeconds: number;
  lease: { leaseDurationMs: number; renewDeadlineMs: number; retryPeriodMs: number };
  agentHealthIntervalMs: number;
  agentDrainSessionRecheckMs: number;
  agentActiveSessionRecheckMs: number;
  /** Each agent polls its node's emulated instance metadata for a Spot notice this often (0 or absent: no IMDS). */
  agentSpotNoticePollMs?: number;
  decide: Partial<DecideConfig>;
}

export const SANDBOX_TIMINGS: ComponentTimings = {
  pubsubPollSeconds: 1,
  pubsubRepublishSeconds: 5,
  // A killed leader is replaced within ~4 s instead of client-go's 15 s.
  lease: { leaseDurationMs: 4_000, renewDeadlineMs: 3_000, retryPeriodMs: 500 },
  agentHealthIntervalMs: 2_000,
  agentDrainSessionRecheckMs: 1_000,
  agentActiveSessionRecheckMs: 5_000,
  agentSpotNoticePollMs: 2_000,
  // pubsub republishes every 5 s here: an empty node is deregistered 3-8 s after its drain began.
  decide: { statusStaleAfterMs: 30_000, idlePeriodMs: 30_000, drainingStableMs: 3_000 },
};

export interface ComponentsOptions {
  kube: KubeBackend;
  /**
   * The GameLift endpoint the components call and the credentials each signs with: the sandbox's
   * meter (which counts calls per component), or the FleetIQ emulator itself with any credentials.
   */
  meter: Pick<GameLiftMeter, 'url' | 'credentials'>;
  group: string;
  redisUrl: string;
  signingSecret?: string;
  timings: ComponentTimings;
  logger: (component: string) => Logger;
}

export class Components {
  readonly agents = new Map<string, RunningReconciler>();
  /**
   * Each node's emulated instance metadata (loopback), kept across agent restarts as the instance's is:
   * `imds.get(node).control.postSpotNotice()` is a Spot notice only instance metadata knows of.
   */
  readonly imds = new Map<string, ImdsEmulator>();
  readonly pubsubs: Array<PubsubService | undefined> = [];
  readonly webhooks: Array<RunningWebhook | undefined> = [];
  private service?: ServiceProxy;
  private readonly reconcilerGameLift: GameLiftClient;
  private pubsubSerial = 0;
  private stopped = false;
  /** Agent starts in flight, so stop() waits for them. */
  private readonly starting = new Set<Promise<unknown>>();

  constructor(private readonly o: ComponentsOptions) {
    // One client for every agent of the process: they would each have their own in a cluster; the
    // calls, retries and the meter's per-component count are the same.
    this.reconcilerGameLift = new GameLiftClient({
      region: 'us-east-1',
      endpoint: o.meter.url,
      credentials: o.meter.credentials('reconciler'),
      maxAttempts: 3,
    });
  }

  async kubeConfigFor(user: UserInfo, nodeName?: string): Promise<KubeConfig> {
    const kc = new KubeConfig();
    kc.loadFromString(await this.o.kube.kubeconfig(user, nodeName ? { nodeName } : {}));
    return kc;
  }

  // ---- webhook ----------------------------------------------------------------------------------

  /** The Service the API server calls; replicas are its endpoints. */
  async startWebhooks(replicas: number): Promise<void> {
    this.service = await startServiceProxy();
    await this.o.kube.exposeService(INSTALL_NAMESPACE, WEBHOOK_SERVICE_NAME, this.service);
    // One replica at a time: the first creates the certificate Secret and publishes the caBundle,
    // the second finds them (they also cope with racing; see certs/README.md).
    for (let i = 0; i < replicas; i++) await this.startWebhook(i);
  }

  async startWebhook(index: number): Promise<RunningWebhook> {
    const webhook = await startWebhook(
      webhookConfig(
        {
          mode: 'builtin',
          checkIntervalMs: 60_000,
          namespace: INSTALL_NAMESPACE,
          secretName: 'fleetiq-agones-webhook-tls',
          serviceName: WEBHOOK_SERVICE_NAME,
          clusterDomain: 'cluster.local',
          webhookConfigurationName: WEBHOOK_CONFIGURATION_NAME,
          policy: DEFAULT_CERTIFICATE_POLICY,
        },
        {
          listen: { host: '127.0.0.1', port: 0 },
          opsListen: { host: '127.0.0.1', port: 0 },
          shutdownGraceMs: 1_000,
        },
      ),
      {
        kubeConfig: await this.kubeConfigFor(COMPONENT_USERS.webhook),
        logger: this.o.logger('webhook').child({ replica: index }),
      },
    );
    this.webhooks[index] = webhook;
    await waitUntil(`webhook replica ${index} ready`, () => webhook.ready() === true, 30_000);
    this.publishWebhookEndpoints();
    return webhook;
  }

  /** Takes the replica out of the Service, then stops it (graceful). */
  async stopWebhook(index: number): Promise<void> {
    const w = this.webhooks[index];
    this.webhooks[index] = undefined;
    this.publishWebhookEndpoints();
    await w?.stop();
  }

  private publishWebhookEndpoints(): void {
    this.service?.setEndpoints(
      this.webhooks
        .filter((w): w is RunningWebhook => w !== undefined)
        .map((w) => ({ host: '127.0.0.1', port: w.port })),
    );
  }

  // ---- pubsub -----------------------------------------------------------------------------------

  async startPubsubs(replicas: number): Promise<void> {
    for (let i = 0; i < replicas; i++) await this.startPubsub(i);
  }

  async startPubsub(index: number): Promise<PubsubService> {
    const t = this.o.timings;
    const service = await startPubsub({
      config: resolveConfig({
        GameServerGroups: [this.o.group],
        PollIntervalSeconds: t.pubsubPollSeconds,
        RepublishSeconds: t.pubsubRepublishSeconds,
      }),
      redisUrl: this.o.redisUrl,
      ...(this.o.signingSecret ? { signingSecret: this.o.signingSecret } : {}),
      gameLift: {
        region: 'us-east-1',
        endpoint: this.o.meter.url,
        credentials: this.o.meter.credentials('pubsub'),
        maxAttempts: 3,
      },
      leaderElection: {
        namespace: INSTALL_NAMESPACE,
        name: 'fleetiq-agones-pubsub',
        // A pod name: a restarted replica is a new pod.
        identity: `fleetiq-agones-pubsub-${index}-${++this.pubsubSerial}`,
        ...t.lease,
        kubeConfig: await this.kubeConfigFor(COMPONENT_USERS.pubsub),
      },
      listen: { host: '127.0.0.1', port: 0 },
      shutdownTimeoutMs: 2_000,
      logger: this.o.logger('pubsub').child({ replica: index }),
    });
    this.pubsubs[index] = service;
    return service;
  }

  leaderIndex(): number | undefined {
    const i = this.pubsubs.findIndex((p) => p?.isLeader());
    return i < 0 ? undefined : i;
  }

  /** Stops a replica like a crash (the Lease is not released) or gracefully. */
  async stopPubsub(index: number, how: 'crash' | 'graceful' = 'crash'): Promise<void> {
    const p = this.pubsubs[index];
    this.pubsubs[index] = undefined;
    await p?.stop({ release: how === 'graceful' });
  }

  // ---- node agents ------------------------------------------------------------------------------

  async startAgent(nodeName: string): Promise<RunningReconciler> {
    if (this.stopped) throw new Error('components stopped');
    const t = this.o.timings;
    const config = reconcilerConfig({
      nodeName,
      gameServerGroup: this.o.group,
      redisUrl: this.o.redisUrl,
      ...(this.o.signingSecret ? { statusSigningSecret: this.o.signingSecret } : {}),
      overrides: {
        healthIntervalMs: t.agentHealthIntervalMs,
        shutdownGraceMs: 2_000,
        ...(await this.imdsFor(nodeName, t.agentSpotNoticePollMs ?? 0)),
      },
      decide: t.decide,
    });
    const start = startReconciler({
      config,
      // Bound to its node, as the DaemonSet pod's token is: the admission policy checks the node's name.
      kubeConfig: await this.kubeConfigFor(COMPONENT_USERS.reconciler, nodeName),
      gameLift: this.reconcilerGameLift,
      logger: this.o.logger('reconciler'),
      opsListen: false,
      defaultMetrics: false,
      // Every sandbox node has an AWS providerID; there is no instance metadata service to ask.
      imdsInstanceId: () => Promise.reject(new Error('no instance metadata service in the sandbox')),
      timings: {
        drainSessionRecheckMs: t.agentDrainSessionRecheckMs,
        activeSessionRecheckMs: t.agentActiveSessionRecheckMs,
      },
    });
    this.starting.add(start);
    try {
      const agent = await start;
      // Restarts that overlap (a test restarting the agent at each drain phase) each start one; the
      // one that finished first is replaced, and stopped: one agent per node, as the DaemonSet keeps.
      const replaced = this.agents.get(nodeName);
      this.agents.set(nodeName, agent);
      if (replaced && replaced !== agent) await replaced.stop();
      if (this.stopped) await agent.stop();
      return agent;
    } finally {
      this.starting.delete(start);
    }
  }

  /** The node's instance metadata, started on first use (the instance id from its providerID). */
  private async imdsFor(
    nodeName: string,
    pollMs: number,
  ): Promise<{ imdsEndpoint: string; spotNoticePollIntervalMs: number } | Record<string, never>> {
    if (pollMs <= 0) return {};
    let imds = this.imds.get(nodeName);
    if (!imds) {
      const node = await this.o.kube
        .client()
        .get({ group: '', version: 'v1', resource: 'nodes', name: nodeName })
        .catch(() => undefined);
      const instanceId =
        String(node?.spec?.providerID ?? '')
          .split('/')
          .pop() || nodeName;
      imds = await startImdsEmulator({ instanceId });
      this.imds.set(nodeName, imds);
    }
    return { imdsEndpoint: imds.url, spotNoticePollIntervalMs: pollMs };
  }

  /** The agent's pod is gone (its node went, or it was killed). */
  async stopAgent(nodeName: string): Promise<void> {
    const a = this.agents.get(nodeName);
    this.agents.delete(nodeName);
    await a?.stop();
  }

  async restartAgent(nodeName: string): Promise<RunningReconciler> {
    await this.stopAgent(nodeName);
    return this.startAgent(nodeName);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.allSettled([...this.starting]);
    await Promise.allSettled([...this.agents.keys()].map((n) => this.stopAgent(n)));
    await Promise.allSettled(this.pubsubs.map((_, i) => this.stopPubsub(i, 'graceful')));
    await Promise.allSettled(this.webhooks.map((_, i) => this.stopWebhook(i)));
    await this.service?.close();
    await Promise.allSettled([...this.imds.values()].map((i) => i.stop()));
    this.reconcilerGameLift.destroy();
  }
}

export async function waitUntil(
  what: string,
  condition: () => boolean | Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
