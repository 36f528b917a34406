// The emulator as started by default: RBAC decisions from stored objects, webhook admission on,
// and webhook configurations checked by the API server's own rules.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startKubeEmulator, type KubeEmulator } from '../../../sandbox/kube/emulator.js';
import { apis, expectStatus, pod } from './support.js';

let emu: KubeEmulator;
const SA = {
  username: 'system:serviceaccount:game:reader',
  groups: ['system:serviceaccounts', 'system:serviceaccounts:game'],
};

beforeAll(async () => {
  emu = await startKubeEmulator();
  await emu.client().create({ group: '', version: 'v1', resource: 'pods', namespace: 'default' }, pod('p'));
});
afterAll(async () => {
  await emu.stop();
});

describe('default authorization (RBAC)', () => {
  it('denies an unbound ServiceAccount, then allows what a RoleBinding grants', async () => {
    const sa = apis(emu, SA);
    // Discovery is open to every authenticated identity.
    expect((await sa.core.getAPIResources()).resources.some((r) => r.name === 'pods')).toBe(true);
    await expectStatus(
      sa.core.readNamespacedPod({ name: 'p', namespace: 'default' }),
      403,
      'Forbidden',
      'pods "p" is forbidden: User "system:serviceaccount:game:reader" cannot get resource "pods" in API group "" in the namespace "default"',
    );
    const rbac = { group: 'rbac.authorization.k8s.io', version: 'v1', namespace: 'default' };
    await emu.client().create(
      { ...rbac, resource: 'roles' },
      {
        metadata: { name: 'pod-reader' },
        rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] }],
      },
    );
    await emu.client().create(
      { ...rbac, resource: 'rolebindings' },
      {
        metadata: { name: 'reader' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'pod-reader' },
        subjects: [{ kind: 'ServiceAccount', name: 'reader', namespace: 'game' }],
      },
    );
    expect((await sa.core.readNamespacedPod({ name: 'p', namespace: 'default' })).metadata!.name).toBe('p');
    await expectStatus(sa.core.deleteNamespacedPod({ name: 'p', namespace: 'default' }), 403, 'Forbidden');
    const allowed = emu.requestLog.entries(SA.username).find((e) => e.code === 200 && e.verb === 'get');
    expect(allowed?.allowedBy).toEqual({ binding: 'reader', role: 'pod-reader', ruleIndex: 0 });
  });

  it('lets system:masters do anything (cluster-admin is bootstrapped)', async () => {
    const admin = apis(emu);
    const crb = await admin.kc
      .makeApiClient((await import('@kubernetes/client-node')).RbacAuthorizationV1Api)
      .readClusterRoleBinding({ name: 'cluster-admin' });
    expect(crb.subjects).toEqual([
      { apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'system:masters' },
    ]);
    await admin.core.deleteNamespacedPod({ name: 'p', namespace: 'default' });
  });
});

describe('webhook configurations', () => {
  it('defaults and validates MutatingWebhookConfigurations on write', async () => {
    const ref = {
      group: 'admissionregistration.k8s.io',
      version: 'v1',
      resource: 'mutatingwebhookconfigurations',
    };
    const hook = {
      name: 'drain-toleration.fleetiq.example.com',
      clientConfig: { service: { namespace: 'fleetiq', name: 'webhook', path: '/mutate' } },
      rules: [
        {
          operations: ['UPDATE'],
          apiGroups: ['agones.dev'],
          apiVersions: ['v1'],
          resources: ['gameservers'],
        },
      ],
      sideEffects: 'None',
      admissionReviewVersions: ['v1'],
    };
    const created = await emu.client().create(ref, { metadata: { name: 'fleetiq' }, webhooks: [hook] });
    expect(created.webhooks[0]).toMatchObject({
      failurePolicy: 'Fail',
      timeoutSeconds: 10,
      matchPolicy: 'Equivalent',
    });
    await expect(
      emu.client().create(ref, { metadata: { name: 'bad' }, webhooks: [{ ...hook, timeoutSeconds: 31 }] }),
    ).rejects.toMatchObject({ code: 422, reason: 'Invalid' });
  });
});
