// Every pod of every overlay is selected by a NetworkPolicy that lets traffic in only on ports its
// containers declare and serve: the webhook's HTTPS port and the ops port (probes, metrics), Redis's
// port in the dev overlays for pubsub and the agents only. A policy naming a port no container has would
// silently allow nothing (or everything, after a rename), so the names are checked against the pods.
import { beforeAll, describe, expect, it } from '@jest/globals';
import type { KubeObject } from '../../sandbox/kube/types.js';
import { podTemplates } from './inspect.js';
import { OVERLAYS, renderOverlay } from './render.js';

const all: { overlay: string; objects: KubeObject[] }[] = [];
beforeAll(async () => {
  for (const overlay of ['base', ...OVERLAYS] as const)
    all.push({ overlay, objects: await renderOverlay(overlay) });
});

const selects = (policy: KubeObject, labels: Record<string, string>) =>
  Object.entries(policy.spec.podSelector.matchLabels ?? {}).every(([k, v]) => labels[k] === v) &&
  (policy.spec.podSelector.matchExpressions ?? []).length === 0;

/** The ports the webhook's policy opens, and those of each component's, as `component: ports`. */
const EXPECTED: Record<string, string[]> = {
  webhook: ['https', 'ops'],
  pubsub: ['ops'],
  reconciler: ['ops'],
  redis: ['redis'],
};

describe('network policies', () => {
  it('select every pod and open only the ports its containers serve', () => {
    for (const { overlay, objects } of all) {
      const policies = objects.filter((o) => o.kind === 'NetworkPolicy');
      for (const t of podTemplates(objects)) {
        const component = t.labels['app.kubernetes.io/component']!;
        const mine = policies.filter((p) => selects(p, t.labels));
        expect({ overlay, pod: t.owner, policies: mine.length }).toEqual({
          overlay,
          pod: t.owner,
          policies: 1,
        });
        const policy = mine[0]!;
        expect(policy.spec.policyTypes).toEqual(['Ingress']);
        const opened = policy.spec.ingress.flatMap((rule: any) => {
          expect(rule.ports?.length).toBeGreaterThan(0); // never "every port"
          return rule.ports.map((p: any) => p.port);
        });
        expect({ overlay, component, opened: [...opened].sort() }).toEqual({
          overlay,
          component,
          opened: [...EXPECTED[component]!].sort(),
        });
        const declared = t.spec.containers.flatMap((c: any) => (c.ports ?? []).map((p: any) => p.name));
        for (const port of opened)
          expect({ overlay, component, port, declared: declared.includes(port) }).toEqual({
            overlay,
            component,
            port,
            declared: true,
          });
      }
    }
  });
});
