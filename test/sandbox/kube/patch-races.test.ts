// Racing writes to one object, as kube-apiserver resolves them: a PATCH is applied to the object as
// stored when its attempt runs (GuaranteedUpdate re-reads and re-applies it when another write won
// the compare-and-swap), mutating admission runs again on every attempt, and only a resourceVersion
// the client itself sent can make a write 409. A real HTTPS webhook holds every first attempt until
// all have reached admission, so the race is certain rather than likely.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import * as k8s from '@kubernetes/client-node';
import type { KubeEmulator } from '../../../sandbox/kube/emulator.js';
import { apis, failure, jsonPatch, merge, startEmulator } from './support.js';
import {
  createTestCa,
  startWebhookServer,
  type ReceivedReview,
  type TestWebhookServer,
  type WebhookAnswer,
} from './helpers/webhook-tls.js';

const NS = 'races';
const SVC = 'race-webhook';
const N = 8;

let emu: KubeEmulator;
let a: ReturnType<typeof apis>;
let hook: TestWebhookServer;

/** A webhook handler that holds the first `n` reviews until all `n` have arrived, then lets everything through. */
function barrier(n: number): (r: ReceivedReview) => Promise<WebhookAnswer> {
  const held: Array<() => void> = [];
  let open = false;
  return async () => {
    if (!open) {
      await new Promise<void>((resolve) => {
        held.push(resolve);
        if (held.length >= n) {
          open = true;
          for (const release of held) release();
        }
      });
    }
    return { response: { allowed: true } };
  };
}

beforeAll(async () => {
  const ca = createTestCa('race-ca');
  hook = await startWebhookServer(ca.issue([`${SVC}.${NS}.svc`]));
  emu = await startEmulator();
  a = apis(emu);
  emu.registerServiceEndpoint(NS, SVC, '127.0.0.1', hook.port);
  await a.core.createNamespace({ body: { metadata: { name: NS } } });
  await a.kc.makeApiClient(k8s.AdmissionregistrationV1Api).createMutatingWebhookConfiguration({
    body: {
      metadata: { name: 'races' },
      webhooks: [
        {
          name: 'configmaps.races.example.com',
          clientConfig: { service: { namespace: NS, name: SVC, path: '/mutate' }, caBundle: ca.caBundle },
          rules: [
            {
              operations: ['UPDATE'],
              apiGroups: [''],
              apiVersions: ['v1'],
              resources: ['configmaps'],
              scope: 'Namespaced',
            },
          ],
          sideEffects: 'None',
          admissionReviewVersions: ['v1'],
          failurePolicy: 'Fail',
        },
      ],
    },
  });
});

afterAll(async () => {
  await emu.stop();
  await hook.close();
});

beforeEach(() => {
  hook.received.length = 0;
  hook.setHandler(() => ({ response: { allowed: true } }));
});

async function configMap(name: string) {
  return a.core.createNamespacedConfigMap({
    namespace: NS,
    body: { metadata: { name }, data: { n: 'initial' } },
  });
}

describe('racing patches', () => {
  it('N JSON patches testing the same resourceVersion: exactly one succeeds, the others get 422 (never 409)', async () => {
    const cm = await configMap('json-test');
    const rv = cm.metadata!.resourceVersion!;
    hook.setHandler(barrier(N));
    const results = await Promise.allSettled(
      Array.from({ length: N }, (_, i) =>
        a.core.patchNamespacedConfigMap(
          {
            name: 'json-test',
            namespace: NS,
            body: [
              { op: 'test', path: '/metadata/resourceVersion', value: rv },
              { op: 'replace', path: '/data/n', value: String(i) },
            ],
          },
          jsonPatch,
        ),
      ),
    );
    const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
    expect(won).toHaveLength(1);
    const losers = await Promise.all(
      results
        .filter((r) => r.status === 'rejected')
        .map((r) => failure(Promise.reject((r as PromiseRejectedResult).reason))),
    );
    expect(losers).toHaveLength(N - 1);
    for (const l of losers) {
      expect(l.code).toBe(422);
      expect(l.status.reason).toBe('Invalid');
      expect(JSON.stringify(l.status)).toContain('testing value /metadata/resourceVersion failed');
    }
    const now = await a.core.readNamespacedConfigMap({ name: 'json-test', namespace: NS });
    expect(now.data!.n).toBe(String(won[0]));
    // Every first attempt reached admission; the retries failed their `test` before it.
    expect(hook.received).toHaveLength(N);
  });

  it('N merge patches of different labels all succeed, each applied on top of the others', async () => {
    await configMap('merge-labels');
    hook.setHandler(barrier(N));
    const results = await Promise.allSettled(
      Array.from({ length: N }, (_, i) =>
        a.core.patchNamespacedConfigMap(
          { name: 'merge-labels', namespace: NS, body: { metadata: { labels: { [`l${i}`]: 'x' } } } },
          merge,
        ),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(Array(N).fill('fulfilled'));
    const now = await a.core.readNamespacedConfigMap({ name: 'merge-labels', namespace: NS });
    expect(Object.keys(now.metadata!.labels ?? {}).sort()).toEqual(
      Array.from({ length: N }, (_, i) => `l${i}`).sort(),
    );

    // Admission ran again on each retry, on the patch applied to the object as it then was: every
    // review's object is its oldObject plus exactly one label, and the retries saw newer objects.
    const reviews = hook.received.map((r) => r.review.request);
    expect(reviews.length).toBeGreaterThan(N);
    const oldRvs = new Set(reviews.map((r) => r.oldObject.metadata.resourceVersion));
    expect(oldRvs.size).toBeGreaterThan(1);
    for (const r of reviews) {
      const before = r.oldObject.metadata.labels ?? {};
      const after = r.object.metadata.labels ?? {};
      const added = Object.keys(after).filter((k) => !(k in before));
      expect(added).toHaveLength(1);
      expect(after).toEqual({ ...before, [added[0]]: 'x' });
      expect(r.object.metadata.resourceVersion).toBe(r.oldObject.metadata.resourceVersion);
    }
  });

  it('a JSON patch without a test op lands on top of a concurrent write', async () => {
    await configMap('json-plain');
    hook.setHandler(barrier(2));
    const [first, second] = await Promise.all([
      a.core.patchNamespacedConfigMap(
        { name: 'json-plain', namespace: NS, body: [{ op: 'add', path: '/data/a', value: '1' }] },
        jsonPatch,
      ),
      a.core.patchNamespacedConfigMap(
        { name: 'json-plain', namespace: NS, body: [{ op: 'add', path: '/data/b', value: '2' }] },
        jsonPatch,
      ),
    ]);
    const last =
      Number(first.metadata!.resourceVersion) > Number(second.metadata!.resourceVersion) ? first : second;
    expect(last.data).toEqual({ n: 'initial', a: '1', b: '2' });
  });

  it('a patch carrying a stale metadata.resourceVersion gets 409', async () => {
    const cm = await configMap('stale-rv');
    const staleRv = cm.metadata!.resourceVersion!;
    await a.core.patchNamespacedConfigMap(
      { name: 'stale-rv', namespace: NS, body: { data: { n: 'moved on' } } },
      merge,
    );
    const m = await failure(
      a.core.patchNamespacedConfigMap(
        {
          name: 'stale-rv',
          namespace: NS,
          body: { metadata: { resourceVersion: staleRv }, data: { n: 'lost update' } },
        },
        merge,
      ),
    );
    expect(m.code).toBe(409);
    expect(m.status.reason).toBe('Conflict');
    const j = await failure(
      a.core.patchNamespacedConfigMap(
        {
          name: 'stale-rv',
          namespace: NS,
          body: [{ op: 'replace', path: '/metadata/resourceVersion', value: staleRv }],
        },
        jsonPatch,
      ),
    );
    expect(j.code).toBe(409);
    // The current resourceVersion in a patch is a precondition that holds.
    const current = await a.core.readNamespacedConfigMap({ name: 'stale-rv', namespace: NS });
    const ok = await a.core.patchNamespacedConfigMap(
      {
        name: 'stale-rv',
        namespace: NS,
        body: { metadata: { resourceVersion: current.metadata!.resourceVersion }, data: { n: 'mine' } },
      },
      merge,
    );
    expect(ok.data!.n).toBe('mine');
  });

  it('a merge patch with the resourceVersion all racers read: one wins, the others get 409', async () => {
    const cm = await configMap('merge-rv');
    const rv = cm.metadata!.resourceVersion!;
    hook.setHandler(barrier(3));
    const results = await Promise.allSettled(
      [0, 1, 2].map((i) =>
        a.core.patchNamespacedConfigMap(
          {
            name: 'merge-rv',
            namespace: NS,
            body: { metadata: { resourceVersion: rv }, data: { n: String(i) } },
          },
          merge,
        ),
      ),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results.filter((x) => x.status === 'rejected'))
      expect((await failure(Promise.reject((r as PromiseRejectedResult).reason))).code).toBe(409);
  });
});

describe('racing updates', () => {
  it('PUTs carrying the same resourceVersion: one wins, the others 409; unconditional PUTs all land', async () => {
    const cm = await configMap('put-race');
    hook.setHandler(barrier(3));
    const conditional = await Promise.allSettled(
      [0, 1, 2].map((i) =>
        a.core.replaceNamespacedConfigMap({
          name: 'put-race',
          namespace: NS,
          body: { ...cm, data: { n: String(i) } },
        }),
      ),
    );
    expect(conditional.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of conditional.filter((x) => x.status === 'rejected'))
      expect((await failure(Promise.reject((r as PromiseRejectedResult).reason))).code).toBe(409);

    hook.setHandler(barrier(3));
    const unconditional = await Promise.allSettled(
      [0, 1, 2].map((i) =>
        a.core.replaceNamespacedConfigMap({
          name: 'put-race',
          namespace: NS,
          body: { metadata: { name: 'put-race' }, data: { n: `u${i}` } },
        }),
      ),
    );
    expect(unconditional.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled']);
  });
});
