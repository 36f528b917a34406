// Each rendered container's env and args are valid configuration for its component, read by the
// component's own parsers, and they agree with the rest of the manifests: ports with container ports,
// the Lease and certificate names with the RBAC resourceNames, the group with fleetiqconfig.
import { PUBSUB_SHUTDOWN_DEADLINE_MS } from '../../pubsub/cli.js';
import { RECONCILER_SHUTDOWN_MARGIN_MS } from '../../reconciler/cli.js';
import { WEBHOOK_SHUTDOWN_MARGIN_MS } from '../../webhook/cli.js';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { describeRedis, parseRedisUrl } from '../../shared/redis-url.js';
import type { KubeObject } from '../../sandbox/kube/types.js';
import {
  pubsubSettings,
  reconcilerSettings,
  SAMPLE_OPERATOR_SECRETS,
  SAMPLE_POD,
  webhookSettings,
} from './component-config.js';
import { podTemplates } from './inspect.js';
import { findObject, NAMESPACE, OVERLAYS, renderOverlay } from './render.js';

const rendered = new Map<string, KubeObject[]>();
beforeAll(async () => {
  for (const overlay of ['base', ...OVERLAYS] as const) rendered.set(overlay, await renderOverlay(overlay));
});

const port = (container: any, name: string) =>
  container.ports.find((p: any) => p.name === name)?.containerPort;
const ruleNames = (objects: KubeObject[], kind: string, name: string, resource: string) =>
  findObject(objects, kind, name)
    .rules.filter((r: any) => r.resources.includes(resource))
    .flatMap((r: any) => r.resourceNames ?? []);

describe.each(['base', ...OVERLAYS])('components configured by the %s manifests', (overlay) => {
  const objects = () => rendered.get(overlay)!;

  it('pubsub: starts with this configuration, leader-elected on the Lease its Role names', () => {
    const { options, container } = pubsubSettings(objects());
    expect(options.config.gameServerGroups).toEqual(['agones-game-servers']);
    expect(options.listen?.port).toBe(port(container, 'ops'));
    expect(options.leaderElection).toMatchObject({ namespace: NAMESPACE, identity: SAMPLE_POD.name });
    const lease = (options.leaderElection as { name: string }).name;
    expect(ruleNames(objects(), 'Role', 'fleetiq-agones-pubsub', 'leases')).toEqual([lease]);
    expect(options.gameLift.region).toMatch(/^[a-z]{2}(-[a-z]+)+-\d$/);
  });

  it('webhook: starts with this configuration, on the ports and names the Service, RBAC and webhook configuration use', () => {
    const { config, container } = webhookSettings(objects());
    expect(config.listen.port).toBe(port(container, 'https'));
    expect(config.opsListen.port).toBe(port(container, 'ops'));
    const mwc = findObject(objects(), 'MutatingWebhookConfiguration', 'fleetiq-agones-webhook');
    expect(config.path).toBe(mwc.webhooks[0].clientConfig.service.path);
    if (overlay === 'cert-manager') {
      expect(config.tls).toMatchObject({ mode: 'external' });
      return;
    }
    expect(config.tls).toMatchObject({
      mode: 'builtin',
      namespace: NAMESPACE,
      serviceName: mwc.webhooks[0].clientConfig.service.name,
      webhookConfigurationName: mwc.metadata.name,
    });
    const tls = config.tls as { secretName: string; webhookConfigurationName: string };
    expect(ruleNames(objects(), 'Role', 'fleetiq-agones-webhook-certs', 'secrets')).toEqual([tls.secretName]);
    expect(
      ruleNames(objects(), 'ClusterRole', 'fleetiq-agones-webhook-certs', 'mutatingwebhookconfigurations'),
    ).toEqual([tls.webhookConfigurationName]);
  });

  it('reconciler: starts with this configuration, for a group pubsub polls, reading the same Redis', () => {
    const { config, container } = reconcilerSettings(objects());
    const pubsub = pubsubSettings(objects()).options;
    expect(config.nodeName).toBe(SAMPLE_POD.nodeName);
    expect(pubsub.config.gameServerGroups).toContain(config.gameServerGroup);
    expect(config.opsListen.port).toBe(port(container, 'ops'));
    // The same Redis, through the same parser (pubsub/redis-url.ts).
    expect(config.redisDescription).toBe(describeRedis(parseRedisUrl(pubsub.redisUrl)));
    expect(config.statusSigningSecret).toBe(pubsub.signingSecret);
  });
});

describe('graceful shutdown', () => {
  it('fits every component’s own shutdown budget inside its pod’s termination grace period', () => {
    const objects = rendered.get('base')!;
    const grace = (component: string) =>
      podTemplates(objects).find((t) => t.labels['app.kubernetes.io/component'] === component)!.spec
        .terminationGracePeriodSeconds as number;
    // pubsub exits at the latest 25 s after SIGTERM (pubsub/cli.ts).
    expect(PUBSUB_SHUTDOWN_DEADLINE_MS).toBe(25_000);
    expect(grace('pubsub')).toBeGreaterThan(25);
    const webhook = webhookSettings(objects);
    const preStop = webhook.container.lifecycle?.preStop?.sleep?.seconds ?? 0;
    expect(preStop).toBeGreaterThan(0);
    expect(preStop + webhook.config.shutdownGraceMs / 1000).toBeLessThan(grace('webhook'));
    expect(reconcilerSettings(objects).config.shutdownGraceMs / 1000).toBeLessThan(grace('reconciler'));
    // Each process's hard deadline (it then exits 4) comes before the kubelet's SIGKILL too.
    expect(preStop + (webhook.config.shutdownGraceMs + WEBHOOK_SHUTDOWN_MARGIN_MS) / 1000).toBeLessThan(
      grace('webhook'),
    );
    expect(
      (reconcilerSettings(objects).config.shutdownGraceMs + RECONCILER_SHUTDOWN_MARGIN_MS) / 1000,
    ).toBeLessThan(grace('reconciler'));
  });
});

describe('Redis and signing', () => {
  it('eks: connects both Redis clients with TLS and AUTH, and signs and verifies status messages', () => {
    const objects = rendered.get('eks')!;
    const pubsub = pubsubSettings(objects).options;
    const reconciler = reconcilerSettings(objects).config;
    expect(pubsub.redisUrl).toBe(SAMPLE_OPERATOR_SECRETS['fleetiq-agones-redis']!.url);
    expect(reconciler.redis).toMatchObject({
      tls: { servername: 'master.fleetiq.abc123.usw2.cache.amazonaws.com' },
      password: 's3cr3t-t0ken',
    });
    expect(pubsub.signingSecret).toBe(SAMPLE_OPERATOR_SECRETS['fleetiq-agones-status-signing']!.secret);
    expect(reconciler.statusSigningSecret).toBe(pubsub.signingSecret);
  });

  it('dev: plain Redis in the cluster, no signing', () => {
    const objects = rendered.get('dev')!;
    const reconciler = reconcilerSettings(objects).config;
    expect(reconciler.redis).toEqual({ host: 'fleetiq-agones-redis', port: 6379 });
    expect(findObject(objects, 'Service', 'fleetiq-agones-redis').spec.ports[0].port).toBe(6379);
    expect(reconciler.statusSigningSecret).toBeUndefined();
  });
});
