// Every rendered object is valid against the Kubernetes schemas (and cert-manager's and the Prometheus
// Operator's CRD schemas), with unknown fields rejected, using the kubernetes-models packages.
import { beforeAll, describe, expect, it } from '@jest/globals';
import type { KubeObject } from '../../sandbox/kube/types.js';
import { OVERLAYS, renderOverlay, findObject } from './render.js';
import { modelModule, modelValidationErrors, typeCheckErrors } from './schema-check.js';

const all: { overlay: string; objects: KubeObject[] }[] = [];
beforeAll(async () => {
  for (const overlay of ['base', ...OVERLAYS] as const)
    all.push({ overlay, objects: await renderOverlay(overlay) });
});

describe('schemas', () => {
  it('covers every rendered kind with a model package (no kind is skipped)', () => {
    for (const { objects } of all)
      for (const o of objects)
        expect([o.apiVersion, modelModule(o.apiVersion)]).not.toContainEqual(undefined);
  });

  it('validates every object of every overlay against its schema', async () => {
    for (const { overlay, objects } of all) {
      expect({ overlay, errors: await modelValidationErrors(objects) }).toEqual({ overlay, errors: [] });
    }
  });

  it('finds no unknown field and no mistyped value in any object of any overlay', () => {
    // One compilation for all overlays: it is the slow part (about 2 s).
    const objects = all.flatMap(({ objects }) => objects);
    expect(typeCheckErrors(objects)).toEqual([]);
  });

  it('would catch a misspelt field, a misplaced one, and wrong types (the checks are not vacuous)', async () => {
    const base = all[0]!.objects;
    const deployment = structuredClone(findObject(base, 'Deployment', 'fleetiq-agones-webhook'));
    deployment.spec.template.spec.containers[0].securityContext.readOnlyRootFileSystem = true;
    const webhook = structuredClone(
      findObject(base, 'MutatingWebhookConfiguration', 'fleetiq-agones-webhook'),
    );
    webhook.webhooks[0].clientConfig.service.paht = '/mutate';
    const monitor = {
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'PodMonitor',
      metadata: { name: 'x', namespace: 'fleetiq-system' },
      spec: { selector: {}, podMetricsEndpoints: [{ port: 'ops', intervall: '30s' }] },
    };
    const errors = typeCheckErrors([deployment, webhook, monitor]);
    expect(errors).toEqual([
      expect.stringMatching(
        /^Deployment fleetiq-system\/fleetiq-agones-webhook: .*'"readOnlyRootFileSystem"' does not exist/,
      ),
      expect.stringMatching(
        /^MutatingWebhookConfiguration fleetiq-agones-webhook: .*'"paht"' does not exist/,
      ),
      expect.stringMatching(/^PodMonitor fleetiq-system\/x: .*'"intervall"' does not exist/),
    ]);

    const replicas = structuredClone(findObject(base, 'Deployment', 'fleetiq-agones-pubsub'));
    replicas.spec.replicas = 'two';
    const policy = structuredClone(
      findObject(base, 'MutatingWebhookConfiguration', 'fleetiq-agones-webhook'),
    );
    policy.webhooks[0].failurePolicy = 'Sometimes';
    const validation = await modelValidationErrors([replicas, policy]);
    expect(validation).toEqual([
      expect.stringMatching(/^Deployment fleetiq-system\/fleetiq-agones-pubsub: .*replicas/),
      expect.stringMatching(/^MutatingWebhookConfiguration fleetiq-agones-webhook: .*failurePolicy/),
    ]);
  });
});
