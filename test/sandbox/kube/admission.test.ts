// Mutating admission against real HTTPS webhook servers: TLS verification against the caBundle and
// the service DNS name, the AdmissionReview exchange, failure policies, ordering and reinvocation.
import { describe, it, expect, beforeAll, afterAll, beforeEach, afterEach } from '@jest/globals';
import { ApiError } from '../../../sandbox/kube/errors.js';
import {
  admissionWarnings,
  createMutatingAdmission,
  type MutatingAdmission,
} from '../../../sandbox/kube/admission/index.js';
import type { AdmissionAttributes, KubeObject } from '../../../sandbox/kube/types.js';
import { PolicyReader } from './helpers/policy-reader.js';
import {
  createTestCa,
  encodePatch,
  startWebhookServer,
  type TestCa,
  type TestWebhookServer,
} from './helpers/webhook-tls.js';
import { freePort } from '../../helpers/redis.js';

const SVC = 'gs-webhook';
const NS = 'fleetiq';
const DNS = `${SVC}.${NS}.svc`;
const HOOK = 'gameservers.fleetiq.example.com';

let ca: TestCa;
let otherCa: TestCa;
let good: TestWebhookServer;
let second: TestWebhookServer;
let untrusted: TestWebhookServer;
let wrongName: TestWebhookServer;
let ipServer: TestWebhookServer;
let closedPort: number;

/** Where each service lives: the emulator's service resolver. */
const services = new Map<string, number>();
const resolveService = (namespace: string, name: string, port: number) => {
  expect(port).toBe(443);
  const p = services.get(`${namespace}/${name}`);
  return p === undefined ? undefined : { host: '127.0.0.1', port: p };
};

beforeAll(async () => {
  ca = createTestCa('fleetiq-webhook-ca');
  otherCa = createTestCa('someone-else');
  // One certificate for both trusted services (signing in JS is the slow part of this file's setup).
  const serving = ca.issue([SVC, `${SVC}.${NS}`, DNS, `second.${NS}.svc`]);
  good = await startWebhookServer(serving);
  second = await startWebhookServer(serving);
  untrusted = await startWebhookServer(otherCa.issue([`untrusted.${NS}.svc`]));
  wrongName = await startWebhookServer(ca.issue(['other.fleetiq.svc']));
  ipServer = await startWebhookServer(ca.issue(['localhost'], ['127.0.0.1']));
  closedPort = await freePort();
  services.set(`${NS}/${SVC}`, good.port);
  services.set(`${NS}/second`, second.port);
  services.set(`${NS}/untrusted`, untrusted.port);
  services.set(`${NS}/wrong-name`, wrongName.port);
  services.set(`${NS}/down`, closedPort);
});

afterAll(async () => {
  await Promise.all([good, second, untrusted, wrongName, ipServer].map((s) => s.close()));
});

let reader: PolicyReader;
let admission: MutatingAdmission;

beforeEach(() => {
  reader = new PolicyReader();
  admission = createMutatingAdmission({ reader, resolveService });
  for (const s of [good, second, untrusted, wrongName, ipServer]) {
    s.received.length = 0;
    s.setHandler(() => ({ response: { allowed: true } }));
  }
  reader.put('', 'namespaces', {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: 'game', labels: { adapter: 'on' } },
  });
  reader.put('', 'namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'plain' } });
});

afterEach(() => admission.close());

function webhook(over: Record<string, unknown> = {}, service = SVC): Record<string, unknown> {
  return {
    name: HOOK,
    clientConfig: { service: { namespace: NS, name: service, path: '/mutate' }, caBundle: ca.caBundle },
    rules: [
      { operations: ['UPDATE'], apiGroups: ['agones.dev'], apiVersions: ['v1'], resources: ['gameservers'] },
    ],
    sideEffects: 'None',
    admissionReviewVersions: ['v1'],
    timeoutSeconds: 5,
    ...over,
  };
}

function configure(name: string, ...hooks: Record<string, unknown>[]): void {
  reader.put('admissionregistration.k8s.io', 'mutatingwebhookconfigurations', {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name },
    webhooks: hooks,
  });
}

function gameServer(state: string, labels: Record<string, string> = {}): KubeObject {
  return {
    apiVersion: 'agones.dev/v1',
    kind: 'GameServer',
    metadata: { name: 'gs-1', namespace: 'game', uid: 'u-1', resourceVersion: '7', labels },
    spec: { ports: [{ name: 'default', containerPort: 7654 }] },
    status: { state, nodeName: 'node-a' },
  };
}

function update(over: Partial<AdmissionAttributes> = {}): AdmissionAttributes {
  return {
    operation: 'UPDATE',
    kind: { group: 'agones.dev', version: 'v1', kind: 'GameServer' },
    resource: { group: 'agones.dev', version: 'v1', resource: 'gameservers' },
    name: 'gs-1',
    namespace: 'game',
    object: gameServer('Allocated', { 'agones.dev/fleet': 'f' }),
    oldObject: gameServer('Ready', { 'agones.dev/fleet': 'f' }),
    userInfo: {
      username: 'system:serviceaccount:agones-system:agones-allocator',
      groups: ['system:serviceaccounts'],
    },
    dryRun: false,
    ...over,
  };
}

async function rejection(p: Promise<unknown>): Promise<ApiError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(ApiError);
    return err as ApiError;
  }
  throw new Error('expected the admission to be rejected');
}

const toleration = { key: 'gamelift.status/draining', operator: 'Equal', value: 'true', effect: 'NoExecute' };

describe('calling a webhook', () => {
  it('POSTs a complete AdmissionReview over verified TLS and applies the JSON patch', async () => {
    configure('fleetiq', webhook());
    good.setHandler(() => ({
      response: {
        allowed: true,
        patchType: 'JSONPatch',
        patch: encodePatch([
          { op: 'add', path: '/metadata/annotations', value: { 'fleetiq/tolerated': 'true' } },
        ]),
        warnings: ['pod toleration added'],
      },
    }));
    const attrs = update();
    const result = await admission.admit(attrs);

    expect(result.object?.metadata.annotations).toEqual({ 'fleetiq/tolerated': 'true' });
    expect(result.warnings).toEqual(['pod toleration added']);
    // The caller's object is not mutated.
    expect(attrs.object?.metadata.annotations).toBeUndefined();

    expect(good.received).toHaveLength(1);
    const { path, servername, review } = good.received[0]!;
    expect(path).toBe('/mutate?timeout=5s');
    expect(servername).toBe(DNS);
    expect(review.apiVersion).toBe('admission.k8s.io/v1');
    expect(review.kind).toBe('AdmissionReview');
    expect(review.request).toEqual({
      uid: expect.stringMatching(/^[0-9a-f-]{36}$/),
      kind: { group: 'agones.dev', version: 'v1', kind: 'GameServer' },
      resource: { group: 'agones.dev', version: 'v1', resource: 'gameservers' },
      requestKind: { group: 'agones.dev', version: 'v1', kind: 'GameServer' },
      requestResource: { group: 'agones.dev', version: 'v1', resource: 'gameservers' },
      name: 'gs-1',
      namespace: 'game',
      operation: 'UPDATE',
      userInfo: {
        username: 'system:serviceaccount:agones-system:agones-allocator',
        groups: ['system:serviceaccounts'],
      },
      object: attrs.object,
      oldObject: attrs.oldObject,
      dryRun: false,
      options: { kind: 'UpdateOptions', apiVersion: 'meta.k8s.io/v1' },
    });
    expect(admission.stats()).toEqual([
      expect.objectContaining({
        configuration: 'fleetiq',
        webhook: HOOK,
        outcomes: { patched: 1 },
        calls: 1,
      }),
    ]);
  });

  it('reuses keep-alive connections across calls', async () => {
    configure('fleetiq', webhook());
    const before = good.connections();
    for (let i = 0; i < 5; i++) await admission.admit(update());
    expect(good.received).toHaveLength(5);
    expect(good.connections() - before).toBe(1);
    expect(admission.stats()[0]!.outcomes).toEqual({ allowed: 5 });
  });

  it('passes the mutated object on to later webhooks, configurations in name order', async () => {
    const labelsHook = webhook({ name: 'labels.fleetiq.example.com' }, 'second');
    // Stored b first, a second: kube calls them by configuration name.
    configure('b-tolerations', webhook());
    configure('a-labels', labelsHook);
    const calls: string[] = [];
    good.setHandler((r) => {
      calls.push('b');
      expect(r.review.request.object.metadata.labels['fleetiq/seen']).toBe('a');
      return {
        response: {
          allowed: true,
          patchType: 'JSONPatch',
          patch: encodePatch([{ op: 'add', path: '/metadata/labels/fleetiq~1seen', value: 'a,b' }]),
        },
      };
    });
    servicesHandler('second', () => {
      calls.push('a');
      return {
        response: {
          allowed: true,
          patchType: 'JSONPatch',
          patch: encodePatch([{ op: 'add', path: '/metadata/labels/fleetiq~1seen', value: 'a' }]),
        },
      };
    });
    const result = await admission.admit(update());
    expect(calls).toEqual(['a', 'b']);
    expect(result.object?.metadata.labels?.['fleetiq/seen']).toBe('a,b');
  });

  it('reinvokes an IfNeeded webhook once when a later webhook changed the object, never a Never one', async () => {
    configure(
      'a',
      webhook({ name: 'first.fleetiq.example.com', reinvocationPolicy: 'IfNeeded' }),
      webhook({ name: 'never.fleetiq.example.com', reinvocationPolicy: 'Never' }),
    );
    configure('b', webhook({ name: 'patcher.fleetiq.example.com' }, 'second'));
    const seen: string[] = [];
    good.setHandler((r) => {
      seen.push(`${r.review.request.object.metadata.labels?.patched ?? '-'}`);
      return { response: { allowed: true } };
    });
    servicesHandler('second', () => ({
      response: {
        allowed: true,
        patchType: 'JSONPatch',
        patch: encodePatch([{ op: 'add', path: '/metadata/labels/patched', value: 'yes' }]),
      },
    }));
    await admission.admit(update());
    // first + never in round one, then only `first` again, seeing the later patch.
    expect(seen).toEqual(['-', '-', 'yes']);
    expect(admission.stats().find((s) => s.webhook === 'first.fleetiq.example.com')?.outcomes).toEqual({
      allowed: 2,
    });
    expect(admission.stats().find((s) => s.webhook === 'never.fleetiq.example.com')?.outcomes).toEqual({
      allowed: 1,
    });
  });

  it('speaks admission.k8s.io/v1beta1 to a webhook that only accepts it', async () => {
    configure('fleetiq', webhook({ admissionReviewVersions: ['v1beta1'] }));
    await admission.admit(update());
    expect(good.received[0]!.review.apiVersion).toBe('admission.k8s.io/v1beta1');
  });

  it('calls a URL-configured webhook, verifying the certificate against the URL host', async () => {
    configure(
      'by-url',
      webhook({ clientConfig: { url: `https://127.0.0.1:${ipServer.port}/hook`, caBundle: ca.caBundle } }),
    );
    await admission.admit(update());
    expect(ipServer.received).toHaveLength(1);
    expect(ipServer.received[0]!.path).toBe('/hook?timeout=5s');

    configure(
      'by-url',
      webhook({ clientConfig: { url: `https://127.0.0.1:${good.port}/hook`, caBundle: ca.caBundle } }),
    );
    const err = await rejection(admission.admit(update()));
    expect(err.message).toContain(
      `Post "https://127.0.0.1:${good.port}/hook?timeout=5s": tls: failed to verify certificate: x509: cannot validate certificate for 127.0.0.1 because it doesn't contain any IP SANs`,
    );
  });
});

/** Sets the handler of the server behind a service name used in these tests. */
function servicesHandler(service: 'second', handler: Parameters<TestWebhookServer['setHandler']>[0]): void {
  if (service === 'second') second.setHandler(handler);
}

describe('which webhooks are called', () => {
  it('skips webhooks whose rules do not match the request', async () => {
    configure(
      'fleetiq',
      webhook({
        rules: [
          {
            operations: ['CREATE'],
            apiGroups: ['agones.dev'],
            apiVersions: ['v1'],
            resources: ['gameservers'],
          },
        ],
      }),
    );
    await admission.admit(update());
    configure(
      'fleetiq',
      webhook({
        rules: [{ operations: ['UPDATE'], apiGroups: ['agones.dev'], apiVersions: ['v1'], resources: ['*'] }],
      }),
    );
    await admission.admit(update({ subResource: 'status' }));
    expect(good.received).toHaveLength(0);
    configure(
      'fleetiq',
      webhook({ rules: [{ operations: ['*'], apiGroups: ['*'], apiVersions: ['*'], resources: ['*/*'] }] }),
    );
    await admission.admit(update({ subResource: 'status' }));
    expect(good.received).toHaveLength(1);
    expect(good.received[0]!.review.request.subResource).toBe('status');
  });

  it('selects by namespace labels and by object labels', async () => {
    configure('fleetiq', webhook({ namespaceSelector: { matchLabels: { adapter: 'on' } } }));
    await admission.admit(update({ namespace: 'plain' }));
    expect(good.received).toHaveLength(0);
    await admission.admit(update());
    expect(good.received).toHaveLength(1);
    const missing = await rejection(admission.admit(update({ namespace: 'nowhere' })));
    expect(missing.code).toBe(404);
    expect(missing.message).toBe('namespaces "nowhere" not found');

    configure(
      'fleetiq',
      webhook({ objectSelector: { matchExpressions: [{ key: 'agones.dev/fleet', operator: 'Exists' }] } }),
    );
    good.received.length = 0;
    await admission.admit(update({ object: gameServer('Allocated'), oldObject: gameServer('Ready') }));
    expect(good.received).toHaveLength(0);
    // The old object's labels are enough (a label being removed still reaches the webhook).
    await admission.admit(
      update({
        object: gameServer('Allocated'),
        oldObject: gameServer('Ready', { 'agones.dev/fleet': 'f' }),
      }),
    );
    expect(good.received).toHaveLength(1);
  });

  it('never sends the webhook configurations themselves to webhooks', async () => {
    configure(
      'fleetiq',
      webhook({ rules: [{ operations: ['*'], apiGroups: ['*'], apiVersions: ['*'], resources: ['*'] }] }),
    );
    await admission.admit(
      update({
        operation: 'CREATE',
        kind: { group: 'admissionregistration.k8s.io', version: 'v1', kind: 'MutatingWebhookConfiguration' },
        resource: {
          group: 'admissionregistration.k8s.io',
          version: 'v1',
          resource: 'mutatingwebhookconfigurations',
        },
        namespace: undefined,
        name: 'x',
      }),
    );
    expect(good.received).toHaveLength(0);
  });

  describe('matchConditions', () => {
    const becomesAllocated = {
      name: 'becomes-allocated',
      expression:
        'object.status.state == "Allocated" && (oldObject == null || oldObject.status.state != "Allocated")',
    };

    it('calls only for the transitions the conditions select', async () => {
      configure(
        'fleetiq',
        webhook({
          matchConditions: [
            becomesAllocated,
            { name: 'by-user', expression: 'request.userInfo.username.endsWith("allocator")' },
          ],
        }),
      );
      await admission.admit(update());
      expect(good.received).toHaveLength(1);
      await admission.admit(update({ oldObject: gameServer('Allocated') }));
      await admission.admit(update({ object: gameServer('Ready'), oldObject: gameServer('Scheduled') }));
      await admission.admit(
        update({ userInfo: { username: 'system:serviceaccount:agones-system:agones-sdk', groups: [] } }),
      );
      expect(good.received).toHaveLength(1);
      expect(admission.stats()[0]!.outcomes).toEqual({ allowed: 1, conditionFalse: 3 });
    });

    const broken = { name: 'reads-missing-field', expression: 'object.spec.missing.field == "x"' };

    it('rejects with 403 when a condition errors under failurePolicy Fail', async () => {
      configure('fleetiq', webhook({ failurePolicy: 'Fail', matchConditions: [broken] }));
      const err = await rejection(admission.admit(update()));
      expect(err.code).toBe(403);
      expect(err.reason).toBe('Forbidden');
      expect(err.message).toMatch(
        /^gameservers\.agones\.dev "gs-1" is forbidden: expression 'object\.spec\.missing\.field == "x"' resulted in error: /,
      );
      expect(good.received).toHaveLength(0);
    });

    it('skips the webhook when a condition errors under failurePolicy Ignore, and when another is false', async () => {
      configure('fleetiq', webhook({ failurePolicy: 'Ignore', matchConditions: [broken] }));
      const result = await admission.admit(update());
      expect(result.object).toEqual(update().object);
      configure(
        'fleetiq',
        webhook({ failurePolicy: 'Fail', matchConditions: [broken, { name: 'no', expression: 'false' }] }),
      );
      await admission.admit(update());
      expect(good.received).toHaveLength(0);
      expect(admission.stats()[0]!.outcomes).toEqual({ conditionErrorIgnored: 1, conditionFalse: 1 });
    });
  });
});

describe('webhook answers', () => {
  it('rejects with the webhook’s status when it denies', async () => {
    configure('fleetiq', webhook());
    good.setHandler(() => ({
      response: {
        allowed: false,
        status: { code: 403, reason: 'Forbidden', message: 'game server is draining' },
        warnings: ['w1'],
      },
    }));
    const err = await rejection(admission.admit(update()));
    expect(err.code).toBe(403);
    expect(err.reason).toBe('Forbidden');
    expect(err.message).toBe(`admission webhook "${HOOK}" denied the request: game server is draining`);
    expect(admissionWarnings(err)).toEqual(['w1']);

    good.setHandler(() => ({ response: { allowed: false, status: { code: 200 } } }));
    const bare = await rejection(admission.admit(update()));
    expect(bare.code).toBe(400);
    expect(bare.message).toBe(`admission webhook "${HOOK}" denied the request without explanation`);
    expect(admission.stats()[0]!.outcomes).toEqual({ denied: 2 });
  });

  it('treats a response with another uid as a failed call', async () => {
    configure('fleetiq', webhook());
    good.setHandler(() => ({ response: { uid: 'not-yours', allowed: true } }));
    const err = await rejection(admission.admit(update()));
    expect(err.code).toBe(500);
    expect(err.reason).toBe('InternalError');
    const uid = good.received[0]!.review.request.uid;
    expect(err.message).toBe(
      `Internal error occurred: failed calling webhook "${HOOK}": received invalid webhook response: expected response.uid="${uid}", got "not-yours"`,
    );
  });

  it('treats a non-2xx answer and a body that is not JSON as failed calls', async () => {
    configure('fleetiq', webhook());
    good.setHandler(() => ({ status: 500, body: 'boom' }));
    expect((await rejection(admission.admit(update()))).message).toBe(
      `Internal error occurred: failed calling webhook "${HOOK}": failed to call webhook: an error on the server ("boom") has prevented the request from succeeding`,
    );
    good.setHandler(() => ({ status: 200, body: '<html>' }));
    expect((await rejection(admission.admit(update()))).code).toBe(500);
    configure('fleetiq', webhook({ failurePolicy: 'Ignore' }));
    expect((await admission.admit(update())).object).toEqual(update().object);
    expect(admission.stats()[0]!.outcomes).toEqual({ failedClosed: 2, failedOpen: 1 });
  });

  it('rejects a patch that does not apply whatever the failure policy, as kube does', async () => {
    configure('fleetiq', webhook({ failurePolicy: 'Ignore' }));
    good.setHandler(() => ({
      response: {
        allowed: true,
        patchType: 'JSONPatch',
        patch: encodePatch([{ op: 'replace', path: '/spec/template/spec/tolerations/0', value: toleration }]),
      },
    }));
    const err = await rejection(admission.admit(update()));
    expect(err.code).toBe(500);
    expect(err.message).toMatch(/^Internal error occurred: /);
    expect(admission.stats()[0]!.outcomes).toEqual({ rejected: 1 });
  });

  it('rejects a patch for an operation without an object (DELETE)', async () => {
    configure(
      'fleetiq',
      webhook({
        rules: [
          {
            operations: ['DELETE'],
            apiGroups: ['agones.dev'],
            apiVersions: ['v1'],
            resources: ['gameservers'],
          },
        ],
      }),
    );
    good.setHandler(() => ({
      response: {
        allowed: true,
        patchType: 'JSONPatch',
        patch: encodePatch([{ op: 'add', path: '/x', value: 1 }]),
      },
    }));
    const err = await rejection(admission.admit(update({ operation: 'DELETE', object: undefined })));
    expect(err.message).toBe(
      `Internal error occurred: admission webhook "${HOOK}" attempted to modify the object, which is not supported for this operation`,
    );
    expect(good.received[0]!.review.request.options).toEqual({
      kind: 'DeleteOptions',
      apiVersion: 'meta.k8s.io/v1',
    });
    expect(good.received[0]!.review.request.object).toBeUndefined();
  });
});

describe('failures reaching the webhook', () => {
  const url = (service: string, timeout = 5) => `https://${service}.${NS}.svc:443/mutate?timeout=${timeout}s`;

  it('refuses a certificate signed by a CA outside the caBundle', async () => {
    configure('fleetiq', webhook({}, 'untrusted'));
    const err = await rejection(admission.admit(update()));
    expect(err.code).toBe(500);
    expect(err.message).toBe(
      `Internal error occurred: failed calling webhook "${HOOK}": failed to call webhook: Post "${url('untrusted')}": tls: failed to verify certificate: x509: certificate signed by unknown authority`,
    );
    expect(err.toStatus().details?.causes?.[0]?.message).toContain('certificate signed by unknown authority');
    expect(untrusted.received).toHaveLength(0);
  });

  it('accepts the same server once its CA is in the bundle (bundles hold several CAs)', async () => {
    const both = Buffer.from(ca.certPem + otherCa.certPem).toString('base64');
    configure(
      'fleetiq',
      webhook({
        clientConfig: { service: { namespace: NS, name: 'untrusted', path: '/mutate' }, caBundle: both },
      }),
    );
    await admission.admit(update());
    expect(untrusted.received).toHaveLength(1);
  });

  it('refuses a certificate for another DNS name', async () => {
    configure('fleetiq', webhook({}, 'wrong-name'));
    const err = await rejection(admission.admit(update()));
    expect(err.message).toBe(
      `Internal error occurred: failed calling webhook "${HOOK}": failed to call webhook: Post "${url('wrong-name')}": tls: failed to verify certificate: x509: certificate is valid for other.fleetiq.svc, not wrong-name.fleetiq.svc`,
    );
  });

  it('lets the request through on failures under failurePolicy Ignore', async () => {
    configure(
      'fleetiq',
      webhook({ failurePolicy: 'Ignore' }, 'untrusted'),
      webhook({ name: 'second.fleetiq.example.com', failurePolicy: 'Ignore' }, 'wrong-name'),
    );
    const result = await admission.admit(update());
    expect(result.object).toEqual(update().object);
    expect(admission.stats().map((s) => s.outcomes)).toEqual([{ failedOpen: 1 }, { failedOpen: 1 }]);
  });

  it('reports refused connections and unknown services in Go’s words', async () => {
    configure('fleetiq', webhook({}, 'down'));
    expect((await rejection(admission.admit(update()))).message).toBe(
      `Internal error occurred: failed calling webhook "${HOOK}": failed to call webhook: Post "${url('down')}": dial tcp 127.0.0.1:${closedPort}: connect: connection refused`,
    );
    configure('fleetiq', webhook({}, 'absent'));
    expect((await rejection(admission.admit(update()))).message).toBe(
      `Internal error occurred: failed calling webhook "${HOOK}": failed to call webhook: Post "${url('absent')}": service "absent" not found`,
    );
  });

  it('gives up after timeoutSeconds: Fail rejects, Ignore lets through', async () => {
    good.setHandler(() => 'hang');
    configure('fleetiq', webhook({ timeoutSeconds: 1 }));
    const err = await rejection(admission.admit(update()));
    expect(err.code).toBe(500);
    expect(err.message).toBe(
      `Internal error occurred: failed calling webhook "${HOOK}": failed to call webhook: Post "${url(SVC, 1)}": context deadline exceeded`,
    );
    configure('fleetiq', webhook({ timeoutSeconds: 1, failurePolicy: 'Ignore' }));
    expect((await admission.admit(update())).object).toEqual(update().object);
    expect(good.received).toHaveLength(2);
  });
});

describe('dry run', () => {
  it('rejects a dry run to a webhook with side effects without calling it', async () => {
    // Only the v1beta1 API allowed sideEffects Some/Unknown; such stored configurations still exist.
    configure('fleetiq', webhook({ sideEffects: 'Some', failurePolicy: 'Ignore' }));
    const err = await rejection(admission.admit(update({ dryRun: true })));
    expect(err.code).toBe(400);
    expect(err.reason).toBe('BadRequest');
    expect(err.message).toBe(`admission webhook "${HOOK}" does not support dry run`);
    expect(good.received).toHaveLength(0);
  });

  it('calls a NoneOnDryRun webhook with dryRun true', async () => {
    configure('fleetiq', webhook({ sideEffects: 'NoneOnDryRun' }));
    await admission.admit(update({ dryRun: true }));
    expect(good.received[0]!.review.request.dryRun).toBe(true);
    expect(good.received[0]!.review.request.options).toEqual({
      kind: 'UpdateOptions',
      apiVersion: 'meta.k8s.io/v1',
      dryRun: ['All'],
    });
  });
});
