// The components' memory requests and limits follow what `npm run bench:memory` measured of the production
// image (README, "Memory"), in every overlay: a component at its measured peak is within its request, which
// is not more than half again that peak (the DaemonSet's request is paid for on every game server node),
// and the limit leaves at least half again the peak for bursts (a drain of a full node, a flood of
// admission callers: test/webhook/limits.test.ts floods the webhook up to its limit).
import { beforeAll, describe, expect, it } from '@jest/globals';
import type { KubeObject } from '../../sandbox/kube/types.js';
import { containersOf, podTemplates, quantity } from './inspect.js';
import { OVERLAYS, renderOverlay } from './render.js';

const MiB = 2 ** 20;
/** Resident memory at its peak over start-up, 30 s idle and one drain, MiB (bench:memory, image flags). */
const MEASURED_PEAK_MIB = { reconciler: 108, pubsub: 84, webhook: 115 } as const;

describe('memory requests and limits', () => {
  const all: { overlay: string; objects: KubeObject[] }[] = [];
  beforeAll(async () => {
    for (const overlay of ['base', ...OVERLAYS] as const)
      all.push({ overlay, objects: await renderOverlay(overlay) });
  }, 120_000);

  it('cover the measured peak with headroom, without paying for much more', () => {
    for (const { overlay, objects } of all)
      for (const [component, peak] of Object.entries(MEASURED_PEAK_MIB)) {
        const template = podTemplates(objects).find((t) =>
          containersOf(t).some(({ container }) => container.name === component),
        );
        expect({ overlay, component, found: template !== undefined }).toEqual({
          overlay,
          component,
          found: true,
        });
        const { container } = containersOf(template!).find(({ container }) => container.name === component)!;
        const request = quantity(container.resources.requests.memory) / MiB;
        const limit = quantity(container.resources.limits.memory) / MiB;
        const at = `${overlay}: ${component} (request ${request}Mi, limit ${limit}Mi, peak ${peak} MiB)`;
        expect({
          at,
          requestCoversPeak: request >= peak,
          requestNotOversized: request <= peak * 1.5,
          limitHasHeadroom: limit >= peak * 1.5,
        }).toEqual({ at, requestCoversPeak: true, requestNotOversized: true, limitHasHeadroom: true });
      }
  });

  it('ask less of every game server node than the 160Mi the DaemonSet requested before the lean build', () => {
    const { objects } = all.find((a) => a.overlay === 'base')!;
    const daemonSet = objects.find((o) => o.kind === 'DaemonSet')!;
    const request = quantity(daemonSet.spec.template.spec.containers[0].resources.requests.memory) / MiB;
    expect(request).toBeLessThan(160);
  });
});
