// Every setting of every component is reachable through the chart's values, and what the chart renders
// is configuration each component's own parser accepts:
// - the settings a component reads from its environment are, one for one, either an entry of the
//   values schema's <component>.env or set by the chart from a named value (listed below, with why);
// - with ci/all-settings-values.yaml (every value away from its default) the components start with
//   exactly those settings;
// - with every ci/ values file, each component's parser accepts what it is given.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { PUBSUB_SETTINGS } from '../../pubsub/cli.js';
import { SETTINGS } from '../../reconciler/config.js';
import type { KubeObject } from '../../sandbox/kube/types.js';
import { registerWebhookCommand } from '../../webhook/cli.js';
import {
  containerEnv,
  pubsubSettings,
  reconcilerSettings,
  webhookSettings,
} from '../manifests/component-config.js';
import { findObject, NAMESPACE } from '../manifests/render.js';
import { CHART_DIR, CI_VALUES, ciValues, renderChart, useHelm } from './helm.js';

useHelm();

const schema = JSON.parse(readFileSync(join(CHART_DIR, 'values.schema.json'), 'utf8'));
const envKeys = (component: string) => Object.keys(schema.properties[component].properties.env.properties);

/** The AWS SDK's own settings, which pubsub and the node agent read through the SDK's chain. */
const SDK_SETTINGS = ['AWS_MAX_ATTEMPTS', 'AWS_RETRY_MODE', 'AWS_ENDPOINT_URL_GAMELIFT'];

/**
 * Settings the chart sets itself, from named values or because the rest of the installation depends
 * on them (ports the Service and probes use, names RBAC and the admission policies are written for).
 */
const CHART_SET = {
  webhook: {
    WEBHOOK_LISTEN: 'the https container port the Service targets',
    OPS_LISTEN: 'the ops port of the probes and PodMonitors',
    WEBHOOK_PATH: 'the path of the webhook configuration',
    WEBHOOK_PROTECT_RESERVED: 'protectReserved',
    WEBHOOK_CERT_MANAGEMENT: 'webhook.certificates',
    TLS_CERT_FILE: 'webhook.certificates=certManager: the mounted Secret',
    TLS_KEY_FILE: 'webhook.certificates=certManager: the mounted Secret',
    POD_NAMESPACE: 'the release namespace (downward API)',
    CERT_SECRET_NAME: 'the Secret its Role and admission policy name',
    WEBHOOK_SERVICE_NAME: 'the chart’s Service',
    WEBHOOK_CONFIG_NAME: 'the webhook configuration its ClusterRole and admission policy name',
  },
  reconciler: {
    NODE_NAME: 'downward API spec.nodeName',
    GAME_SERVER_GROUP: 'gameServerGroup',
    REDIS_URL: 'redis.url or redis.existingSecret',
    PROTECT_RESERVED: 'protectReserved',
    OPS_LISTEN: 'the ops port of the probes and PodMonitors',
  },
};

describe('every setting of every component is reachable', () => {
  it('webhook: each environment variable it reads is a values setting or set by the chart', () => {
    const program = new Command();
    const command = registerWebhookCommand(program);
    const read = command.options.map((o) => o.envVar).filter((e): e is string => !!e);
    expect(read.length).toBeGreaterThan(20);
    const reachable = [...envKeys('webhook'), ...Object.keys(CHART_SET.webhook)].filter(
      (k) => k !== 'NODE_OPTIONS',
    );
    expect(reachable.sort()).toEqual([...new Set(read)].sort());
  });

  it('reconciler: each environment variable it reads is a values setting or set by the chart', () => {
    const read = SETTINGS.map((s) => s.env);
    const reachable = [...envKeys('reconciler'), ...Object.keys(CHART_SET.reconciler)].filter(
      (k) => k !== 'NODE_OPTIONS' && !SDK_SETTINGS.includes(k),
    );
    expect(reachable.sort()).toEqual([...read].sort());
  });

  it('pubsub: each of its settings is set by the chart, from a value or fixed with a reason', () => {
    // pubsub's settings are flags the chart writes (from values) or environment it sets; a setting
    // added to pubsub fails here until the chart decides how it is reached.
    const reachedAs: Record<string, string> = {
      '--config': 'the mounted fleetiqconfig ConfigMap (values: fleetiq.*)',
      '--redis-url': 'redis.url or redis.existingSecret (REDIS_URL)',
      '--ops-listen': 'the ops port of the probes and PodMonitors',
      '--signing-secret-file': 'statusSigning (STATUS_SIGNING_SECRET from the Secret)',
      '--leader-elect': 'pubsub.leaderElection.enabled',
      '--lease-duration': 'pubsub.leaderElection.leaseDuration',
      '--renew-deadline': 'pubsub.leaderElection.renewDeadline',
      '--retry-period': 'pubsub.leaderElection.retryPeriod',
      '--lease-name': 'fixed: the Lease its Role names',
      '--lease-namespace': 'the release namespace (POD_NAMESPACE, downward API)',
      '--identity': 'the pod name (POD_NAME, downward API)',
    };
    expect(PUBSUB_SETTINGS.map((setting) => setting.flag).sort()).toEqual(Object.keys(reachedAs).sort());
  });

  it('values.yaml names every setting each component’s env takes', () => {
    const values = readFileSync(join(CHART_DIR, 'values.yaml'), 'utf8');
    for (const component of ['pubsub', 'webhook', 'reconciler'])
      for (const key of envKeys(component))
        expect({ component, key, named: values.includes(key) }).toEqual({ component, key, named: true });
  });

  it('pubsub: its settings are values (fleetiq.conf fields, leader election, SDK settings)', () => {
    expect(envKeys('pubsub').sort()).toEqual([...SDK_SETTINGS, 'NODE_OPTIONS'].sort());
    expect(Object.keys(schema.properties.fleetiq.properties).sort()).toEqual(
      [
        'gameServerGroups',
        'maxCallsPerSecond',
        'pollIntervalSeconds',
        'republishSeconds',
        'statusTtlSeconds',
      ].sort(),
    );
    expect(Object.keys(schema.properties.pubsub.properties.leaderElection.properties).sort()).toEqual(
      ['enabled', 'leaseDuration', 'renewDeadline', 'retryPeriod'].sort(),
    );
  });
});

/** The Secrets the operator creates for ci/all-settings-values.yaml, under key names of its own. */
const OPERATOR_SECRETS: KubeObject[] = [
  {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'fleetiq-agones-status-signing', namespace: NAMESPACE },
    data: { hmac: Buffer.from('an-hmac-key-for-the-settings-test').toString('base64') },
  },
  {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'elasticache', namespace: NAMESPACE },
    data: { uri: Buffer.from('rediss://:token@master.example.cache.amazonaws.com:6379').toString('base64') },
  },
];

describe('ci/all-settings-values.yaml: every value away from its default', () => {
  let objects: KubeObject[];
  const values = () => objects;
  beforeAll(async () => {
    objects = [...(await renderChart([ciValues('all-settings-values.yaml')])), ...OPERATOR_SECRETS];
  });

  it('pubsub starts with them', () => {
    const { options, env } = pubsubSettings(values());
    expect(options.config).toMatchObject({
      gameServerGroups: ['shooter', 'racing'],
      pollIntervalMs: 15_000,
      maxCallsPerSecond: 5,
      republishMs: 60_000,
      statusTtlMs: 90_000,
    });
    expect(options.leaderElection).toMatchObject({
      leaseDurationMs: 20_000,
      renewDeadlineMs: 12_000,
      retryPeriodMs: 3_000,
    });
    expect(options.gameLift.region).toBe('eu-west-1');
    expect(options.signingSecret).toBe('an-hmac-key-for-the-settings-test');
    expect(env).toMatchObject({
      LOG_LEVEL: 'debug',
      AWS_MAX_ATTEMPTS: '5',
      AWS_RETRY_MODE: 'adaptive',
      HTTPS_PROXY: 'http://proxy.internal:3128',
    });
    expect(findObject(values(), 'Deployment', 'fleetiq-agones-pubsub').spec.replicas).toBe(3);
    for (const name of ['fleetiq-agones-pubsub', 'fleetiq-agones-webhook'])
      expect(findObject(values(), 'Deployment', name).spec.template.spec).toMatchObject({
        nodeSelector: { 'node-group': 'system' },
        tolerations: [{ key: 'CriticalAddonsOnly', operator: 'Exists' }],
        priorityClassName: 'platform-critical',
      });
  });

  it('the webhook starts with them, and its webhook configuration agrees', () => {
    const { config } = webhookSettings(values());
    expect(config).toMatchObject({
      protectedStates: ['Allocated'],
      fence: false,
      karpenterDoNotDisrupt: false,
      nodeStatusSource: 'get',
      podPatchTimeoutMs: 3000,
      onPodPatchFailure: 'deny',
      shutdownGraceMs: 20_000,
      maxRequestBytes: 524_288,
      maxConnections: 128,
      requestTimeoutMs: 5000,
    });
    expect(config.tls).toMatchObject({
      mode: 'builtin',
      checkIntervalMs: 30_000,
      clusterDomain: 'cluster.example',
      policy: {
        keySize: 3072,
        servingRenewBeforeFraction: 0.25,
        caRenewBeforeFraction: 0.25,
        propagationMs: 300_000,
        retireAfterMs: 1_200_000,
        servingValidityMs: 90 * 86_400_000,
      },
    });
    const mwc = findObject(values(), 'MutatingWebhookConfiguration', 'fleetiq-agones-webhook');
    expect(mwc.webhooks[0]).toMatchObject({ failurePolicy: 'Ignore', timeoutSeconds: 10 });
    expect(mwc.webhooks[0].matchConditions[0].expression).toContain("in ['Allocated']");
  });

  it('the node agent starts with them', () => {
    const { config, env } = reconcilerSettings(values());
    expect(config).toMatchObject({
      gameServerGroup: 'arn:aws:gamelift:eu-west-1:444455556666:gameservergroup/shooter',
      healthIntervalMs: 20_000,
      fleetiqFallbackIntervalMs: 300_000,
      imdsTimeoutMs: 3000,
      spotNoticePollIntervalMs: 5000,
      shutdownGraceMs: 15_000,
      statusSigningSecret: 'an-hmac-key-for-the-settings-test',
    });
    expect(config.redis).toMatchObject({ password: 'token', tls: expect.anything() });
    expect(env).toMatchObject({
      UTILIZATION_MODE: 'always',
      DRAIN_FORCE_AFTER_MAX_WAIT: 'true',
      PROTECT_RESERVED: 'false',
    });
    const ds = findObject(values(), 'DaemonSet', 'fleetiq-agones-reconciler');
    expect(ds.spec.template.spec.nodeSelector).toEqual({ workload: 'agones' });
    expect(ds.spec.template.spec.priorityClassName).toBe('game-critical');
    // Everything else stays off the game server nodes, whatever their label is called.
    const pubsub = findObject(values(), 'Deployment', 'fleetiq-agones-pubsub');
    expect(
      pubsub.spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution
        .nodeSelectorTerms[0].matchExpressions,
    ).toEqual([{ key: 'workload', operator: 'NotIn', values: ['agones'] }]);
  });

  it('monitoring and network policies carry their values', () => {
    expect(findObject(values(), 'PrometheusRule', 'fleetiq-agones').metadata.labels).toMatchObject({
      release: 'kube-prometheus-stack',
    });
    expect(findObject(values(), 'NetworkPolicy', 'fleetiq-agones-webhook').spec.ingress[0].from).toEqual([
      { ipBlock: { cidr: '10.0.0.0/24' } },
      { ipBlock: { cidr: '10.0.1.0/24' } },
    ]);
    const sa = findObject(values(), 'ServiceAccount', 'fleetiq-agones-reconciler');
    expect(sa.metadata.annotations).toEqual({
      'eks.amazonaws.com/role-arn': 'arn:aws:iam::444455556666:role/game/fleetiq-reconciler',
    });
  });
});

describe.each(CI_VALUES)('ci/%s: each component accepts its configuration', (file) => {
  it('pubsub, webhook and node agent parse what they are given', async () => {
    const rendered = await renderChart([ciValues(file)]);
    // The stand-in Secrets of the manifest tests, and this file's own under their key names.
    const objects = file === 'all-settings-values.yaml' ? [...rendered, ...OPERATOR_SECRETS] : rendered;
    const pubsub = pubsubSettings(objects).options;
    const webhook = webhookSettings(objects).config;
    const reconciler = reconcilerSettings(objects).config;
    expect(pubsub.config.gameServerGroups.length).toBeGreaterThan(0);
    expect(webhook.listen.port).toBe(8443);
    expect(reconciler.statusSigningSecret).toBe(pubsub.signingSecret);
    expect(Object.keys(containerEnv(objects, webhookSettings(objects).container))).toContain(
      'WEBHOOK_PROTECT_RESERVED',
    );
  });
});
