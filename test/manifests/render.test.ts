// The kustomizations build with the real `kubectl kustomize`, and what they render hangs together:
// one namespace, consistent labels, the project's image, and every reference (ConfigMap, Secret,
// ServiceAccount, Service port, selector) pointing at something that exists.
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import type { KubeObject } from '../../sandbox/kube/types.js';
import { containersOf, podTemplates, selects } from './inspect.js';
import {
  findObject,
  MANIFESTS_DIR,
  NAMESPACE,
  OVERLAYS,
  renderKustomization,
  renderOverlay,
  REPO_ROOT,
  type OverlayName,
} from './render.js';
import { describeObject, modelValidationErrors, typeCheckErrors } from './schema-check.js';

const CLUSTER_SCOPED = new Set([
  'Namespace',
  'ClusterRole',
  'ClusterRoleBinding',
  'MutatingWebhookConfiguration',
  'ValidatingAdmissionPolicy',
  'ValidatingAdmissionPolicyBinding',
]);
const VERSION = JSON.parse(readFileSync(resolve(REPO_ROOT, 'package.json'), 'utf8')).version as string;
const IMAGE = `ghcr.io/fleetiq-agones/fleetiq-agones:${VERSION}`;
/** The node agent may write Events in "default", where kube puts the Events of Nodes. Nothing else leaves. */
const OUTSIDE_NAMESPACE = new Set([
  'Role/fleetiq-agones-reconciler-events',
  'RoleBinding/fleetiq-agones-reconciler-events',
]);
/** Secrets the operator creates before applying the eks overlay (documented in the install guide). */
const OPERATOR_SECRETS = new Set(['fleetiq-agones-redis', 'fleetiq-agones-status-signing']);

const rendered = new Map<OverlayName | 'base', KubeObject[]>();
beforeAll(async () => {
  for (const name of ['base', ...OVERLAYS] as const) rendered.set(name, await renderOverlay(name));
});

describe.each(['base', ...OVERLAYS] as const)('kustomization %s', (name) => {
  const objects = () => rendered.get(name)!;

  it('renders objects with unique identities, namespaced ones in the installation namespace', () => {
    const ids = objects().map(
      (o) => `${o.apiVersion}/${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`,
    );
    expect(new Set(ids).size).toBe(ids.length);
    for (const o of objects()) {
      if (CLUSTER_SCOPED.has(o.kind))
        expect({ o: describeObject(o), ns: o.metadata.namespace }).toEqual({
          o: describeObject(o),
          ns: undefined,
        });
      else
        expect({ o: describeObject(o), ns: o.metadata.namespace }).toEqual({
          o: describeObject(o),
          ns: OUTSIDE_NAMESPACE.has(`${o.kind}/${o.metadata.name}`) ? 'default' : NAMESPACE,
        });
    }
    expect(findObject(objects(), 'Namespace', NAMESPACE).metadata.labels).toMatchObject({
      'pod-security.kubernetes.io/enforce': 'restricted',
    });
  });

  it('labels everything as part of fleetiq-agones, and each component’s objects with its component', () => {
    for (const o of objects()) {
      expect({ o: describeObject(o), partOf: o.metadata.labels?.['app.kubernetes.io/part-of'] }).toEqual({
        o: describeObject(o),
        partOf: 'fleetiq-agones',
      });
      const component = /^fleetiq-agones-(pubsub|webhook|reconciler|redis)(-|$)/.exec(
        o.metadata.name ?? '',
      )?.[1];
      if (component) {
        expect({ o: describeObject(o), labels: o.metadata.labels }).toEqual({
          o: describeObject(o),
          labels: expect.objectContaining({
            'app.kubernetes.io/name': 'fleetiq-agones',
            'app.kubernetes.io/component': component,
          }),
        });
      }
    }
    for (const t of podTemplates(objects())) {
      expect({ owner: t.owner, selected: selects(t.object.spec.selector, t.labels) }).toEqual({
        owner: t.owner,
        selected: true,
      });
      expect(t.labels['app.kubernetes.io/part-of']).toBe('fleetiq-agones');
      // Selectors are immutable: they must not carry labels that may change (part-of, version).
      expect(Object.keys(t.object.spec.selector.matchLabels).sort()).toEqual([
        'app.kubernetes.io/component',
        'app.kubernetes.io/name',
      ]);
    }
  });

  it('runs the project’s image at the package version for every component', () => {
    for (const t of podTemplates(objects())) {
      for (const { where, container } of containersOf(t)) {
        if (t.labels['app.kubernetes.io/component'] === 'redis') {
          expect(container.image).toMatch(/^redis:\d+\.\d+/);
          continue;
        }
        expect({ where, image: container.image }).toEqual({ where, image: IMAGE });
        expect(['pubsub', 'webhook', 'reconciler']).toContain(container.args?.[0]);
      }
    }
  });

  it('refers only to ConfigMaps, Secrets and ServiceAccounts that exist (or that the operator creates)', () => {
    const exists = (kind: string, n: string) =>
      objects().some((o) => o.kind === kind && o.metadata.name === n && o.metadata.namespace === NAMESPACE);
    const secretExists = (n: string) =>
      exists('Secret', n) ||
      OPERATOR_SECRETS.has(n) ||
      // cert-manager writes a Certificate's Secret.
      objects().some((o) => o.kind === 'Certificate' && o.spec?.secretName === n);
    for (const t of podTemplates(objects())) {
      const sa = t.spec.serviceAccountName;
      if (sa)
        expect({ owner: t.owner, sa, exists: exists('ServiceAccount', sa) }).toEqual({
          owner: t.owner,
          sa,
          exists: true,
        });
      for (const v of t.spec.volumes ?? []) {
        if (v.configMap)
          expect({
            owner: t.owner,
            cm: v.configMap.name,
            ok: exists('ConfigMap', v.configMap.name),
          }).toMatchObject({ ok: true });
        if (v.secret)
          expect({
            owner: t.owner,
            secret: v.secret.secretName,
            ok: secretExists(v.secret.secretName),
          }).toMatchObject({ ok: true });
      }
      for (const { where, container } of containersOf(t)) {
        const mounts = new Set((container.volumeMounts ?? []).map((m: any) => m.name));
        for (const m of mounts)
          expect({
            where,
            mount: m,
            ok: (t.spec.volumes ?? []).some((v: any) => v.name === m),
          }).toMatchObject({ ok: true });
        for (const e of container.env ?? []) {
          const cm = e.valueFrom?.configMapKeyRef;
          if (cm) {
            const target = objects().find((o) => o.kind === 'ConfigMap' && o.metadata.name === cm.name);
            expect({
              where,
              env: e.name,
              key: cm.key,
              found: target?.data?.[cm.key] !== undefined,
            }).toMatchObject({ found: true });
          }
          const secret = e.valueFrom?.secretKeyRef;
          if (secret)
            expect({ where, env: e.name, ok: secretExists(secret.name) }).toMatchObject({ ok: true });
          // One source per variable (a patch that added secretKeyRef but kept configMapKeyRef would be invalid).
          expect({
            where,
            env: e.name,
            sources: Object.keys(e.valueFrom ?? {}).length + (e.value !== undefined ? 1 : 0),
          }).toMatchObject({ sources: 1 });
        }
      }
    }
    for (const b of objects().filter((o) => o.kind === 'RoleBinding' || o.kind === 'ClusterRoleBinding')) {
      expect({
        b: describeObject(b),
        roleExists: objects().some((o) => o.kind === b.roleRef.kind && o.metadata.name === b.roleRef.name),
      }).toMatchObject({ roleExists: true });
      for (const s of b.subjects) {
        expect(s).toMatchObject({ kind: 'ServiceAccount', namespace: NAMESPACE });
        expect({ b: describeObject(b), sa: s.name, ok: exists('ServiceAccount', s.name) }).toMatchObject({
          ok: true,
        });
      }
    }
  });

  it('points Services, PodDisruptionBudgets and the webhook configuration at real pods and ports', () => {
    const templates = podTemplates(objects());
    for (const svc of objects().filter((o) => o.kind === 'Service')) {
      const backends = templates.filter((t) => selects({ matchLabels: svc.spec.selector }, t.labels));
      expect({ svc: describeObject(svc), backends: backends.length }).toEqual({
        svc: describeObject(svc),
        backends: 1,
      });
      const ports = backends[0]!.spec.containers.flatMap((c: any) => c.ports ?? []);
      for (const p of svc.spec.ports) {
        expect({
          svc: describeObject(svc),
          targetPort: p.targetPort,
          found: ports.some((cp: any) => cp.name === p.targetPort),
        }).toMatchObject({ found: true });
      }
    }
    for (const pdb of objects().filter((o) => o.kind === 'PodDisruptionBudget')) {
      const guarded = templates.filter((t) => selects(pdb.spec.selector, t.labels));
      expect(guarded).toHaveLength(1);
      expect(guarded[0]!.object.spec.replicas).toBeGreaterThan(pdb.spec.minAvailable);
    }
    const mwc = findObject(objects(), 'MutatingWebhookConfiguration', 'fleetiq-agones-webhook');
    const service = mwc.webhooks[0].clientConfig.service;
    const svc = findObject(objects(), 'Service', service.name);
    expect(service.namespace).toBe(NAMESPACE);
    expect(svc.spec.ports.map((p: any) => p.port)).toContain(service.port);
    const webhook = templates.find((t) => t.labels['app.kubernetes.io/component'] === 'webhook')!;
    const env = webhook.spec.containers[0].env as { name: string; value?: string }[];
    expect(env.find((e) => e.name === 'WEBHOOK_PATH')?.value).toBe(service.path);
  });
});

describe('components', () => {
  it('compose: EKS with cert-manager and monitoring, as an operator’s own kustomization would', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fleetiq-compose-'));
    try {
      // kustomize accepts only relative paths to other kustomizations.
      const rel = (p: string) => relative(dir, resolve(MANIFESTS_DIR, p));
      await writeFile(
        join(dir, 'kustomization.yaml'),
        [
          'apiVersion: kustomize.config.k8s.io/v1beta1',
          'kind: Kustomization',
          'resources:',
          `  - ${rel('base')}`,
          'components:',
          ...['eks', 'cert-manager', 'monitoring'].map((c) => `  - ${rel(`components/${c}`)}`),
          '',
        ].join('\n'),
      );
      const objects = await renderKustomization(dir);
      const kinds = objects.map((o) => o.kind);
      expect(kinds.filter((k) => k === 'Certificate')).toHaveLength(2);
      expect(kinds.filter((k) => k === 'PodMonitor')).toHaveLength(3);
      expect(objects.filter((o) => o.metadata.name === 'fleetiq-agones-webhook-certs')).toEqual([]);
      expect(
        findObject(objects, 'ServiceAccount', 'fleetiq-agones-pubsub').metadata.annotations,
      ).toHaveProperty(['eks.amazonaws.com/role-arn']);
      for (const o of objects)
        if (!CLUSTER_SCOPED.has(o.kind) && !OUTSIDE_NAMESPACE.has(`${o.kind}/${o.metadata.name}`))
          expect(o.metadata.namespace).toBe(NAMESPACE);
      expect(await modelValidationErrors(objects)).toEqual([]);
      expect(typeCheckErrors(objects)).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('overlays', () => {
  it('differ from base only where they say they do', () => {
    const kinds = (name: OverlayName | 'base') =>
      rendered
        .get(name)!
        .map((o) => `${o.kind}/${o.metadata.name}`)
        .filter((k) => !k.startsWith('ConfigMap/fleetiq-agones-settings'))
        .sort();
    const base = kinds('base');
    const redis = [
      'Deployment/fleetiq-agones-redis',
      'NetworkPolicy/fleetiq-agones-redis',
      'Service/fleetiq-agones-redis',
    ];
    expect(kinds('dev')).toEqual([...base, ...redis].sort());
    expect(kinds('eks')).toEqual(base);
    expect(kinds('fail-open')).toEqual([...base, ...redis].sort());
    const certRbac = base.filter((k) => k.endsWith('/fleetiq-agones-webhook-certs'));
    expect(certRbac).toHaveLength(4);
    expect(kinds('cert-manager')).toEqual(
      [
        ...base.filter((k) => !certRbac.includes(k)),
        ...redis,
        'Issuer/fleetiq-agones-selfsigned',
        'Issuer/fleetiq-agones-webhook-ca',
        'Certificate/fleetiq-agones-webhook-ca',
        'Certificate/fleetiq-agones-webhook-serving',
      ].sort(),
    );
    expect(kinds('monitoring')).toEqual(
      [
        ...base,
        ...redis,
        'ConfigMap/fleetiq-agones-dashboard',
        'PrometheusRule/fleetiq-agones',
        'PodMonitor/fleetiq-agones-pubsub',
        'PodMonitor/fleetiq-agones-webhook',
        'PodMonitor/fleetiq-agones-reconciler',
      ].sort(),
    );
  });

  it('eks: IRSA roles on the two AWS callers only, Redis URL and signing key from Secrets', () => {
    const objects = rendered.get('eks')!;
    const role = (sa: string) =>
      findObject(objects, 'ServiceAccount', sa).metadata.annotations?.['eks.amazonaws.com/role-arn'];
    expect(role('fleetiq-agones-pubsub')).toMatch(/^arn:aws:iam::\d{12}:role\/fleetiq-agones-pubsub$/);
    expect(role('fleetiq-agones-reconciler')).toMatch(
      /^arn:aws:iam::\d{12}:role\/fleetiq-agones-reconciler$/,
    );
    expect(role('fleetiq-agones-webhook')).toBeUndefined();
    for (const t of podTemplates(objects).filter((t) =>
      ['pubsub', 'reconciler'].includes(t.labels['app.kubernetes.io/component']!),
    )) {
      const env = t.spec.containers[0].env as any[];
      expect(env.find((e) => e.name === 'REDIS_URL')?.valueFrom).toEqual({
        secretKeyRef: { name: 'fleetiq-agones-redis', key: 'url' },
      });
      expect(env.find((e) => e.name === 'STATUS_SIGNING_SECRET')?.valueFrom).toEqual({
        secretKeyRef: { name: 'fleetiq-agones-status-signing', key: 'secret' },
      });
    }
  });

  it('cert-manager: the webhook serves the Certificate’s Secret and cainjector fills the caBundle', () => {
    const objects = rendered.get('cert-manager')!;
    const mwc = findObject(objects, 'MutatingWebhookConfiguration', 'fleetiq-agones-webhook');
    const [certNs, certName] = mwc.metadata.annotations!['cert-manager.io/inject-ca-from']!.split('/');
    const cert = findObject(objects, 'Certificate', certName);
    expect(certNs).toBe(NAMESPACE);
    const svc = mwc.webhooks[0].clientConfig.service;
    expect(cert.spec.dnsNames).toContain(`${svc.name}.${svc.namespace}.svc`);
    const webhook = podTemplates(objects).find((t) => t.labels['app.kubernetes.io/component'] === 'webhook')!;
    const container = webhook.spec.containers[0];
    const env = Object.fromEntries((container.env as any[]).map((e) => [e.name, e.value]));
    expect(env.WEBHOOK_CERT_MANAGEMENT).toBe('external');
    const volume = webhook.spec.volumes.find((v: any) => v.secret?.secretName === cert.spec.secretName);
    const mount = container.volumeMounts.find((m: any) => m.name === volume.name);
    expect(env.TLS_CERT_FILE).toBe(`${mount.mountPath}/tls.crt`);
    expect(env.TLS_KEY_FILE).toBe(`${mount.mountPath}/tls.key`);
    // Built-in management is off: its settings are gone.
    expect(env.CERT_SECRET_NAME).toBeUndefined();
    // A CA issues the serving certificate, so the injected CA survives serving certificate renewals.
    const issuer = findObject(objects, 'Issuer', cert.spec.issuerRef.name);
    const ca = objects.find(
      (o) => o.kind === 'Certificate' && o.spec.secretName === issuer.spec.ca.secretName,
    )!;
    expect(ca.spec.isCA).toBe(true);
  });
});
