// ensureCertificates against the Kubernetes API emulator (real client-node over HTTPS, RBAC on):
// several replicas racing at start-up agree on one Secret and one CA, the caBundle lands in every
// webhook of the configuration, and a CA rollover runs to its end with the overlap the API server needs.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { AdmissionregistrationV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import {
  ensureCertificates,
  type CertificatePolicy,
  type EnsureCertificatesOptions,
} from '../../certs/ensure.js';
import { describeCertificate, isIssuedBy, splitPemBundle } from '../../certs/issue.js';
import { SECRET_KEYS } from '../../certs/material.js';
import { startKubeEmulator, type KubeEmulator } from '../../sandbox/kube/emulator.js';
import type { UserInfo } from '../../sandbox/kube/types.js';

const NS = 'fleetiq';
const SA: UserInfo = {
  username: `system:serviceaccount:${NS}:fleetiq-agones-webhook`,
  groups: ['system:serviceaccounts', `system:serviceaccounts:${NS}`, 'system:authenticated'],
};
const DAY = 86_400_000;
const MIN = 60_000;
const policy: Partial<CertificatePolicy> = { caValidityMs: 30 * DAY, servingValidityMs: 7 * DAY };

let emu: KubeEmulator;
let admin: { core: CoreV1Api; admission: AdmissionregistrationV1Api };

function kubeConfig(user?: UserInfo): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromString(emu.kubeconfig(user));
  return kc;
}

function webhookConfiguration(name: string) {
  const hook = (n: string) => ({
    name: `${n}.fleetiq.gamelift.status`,
    clientConfig: { service: { namespace: NS, name: 'fleetiq-agones-webhook', path: '/mutate', port: 443 } },
    rules: [
      { apiGroups: ['agones.dev'], apiVersions: ['v1'], operations: ['UPDATE'], resources: ['gameservers'] },
    ],
    sideEffects: 'NoneOnDryRun',
    admissionReviewVersions: ['v1'],
    failurePolicy: 'Ignore',
    timeoutSeconds: 5,
  });
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name },
    webhooks: [hook('allocated'), hook('reserved')],
  };
}

async function caBundles(name: string): Promise<string[][]> {
  const config = await admin.admission.readMutatingWebhookConfiguration({ name });
  return (config.webhooks ?? []).map((w) =>
    splitPemBundle(Buffer.from(w.clientConfig.caBundle ?? '', 'base64').toString()).map(
      (p) => describeCertificate(p).fingerprint,
    ),
  );
}

beforeAll(async () => {
  emu = await startKubeEmulator({ authorization: 'rbac' });
  const kc = kubeConfig();
  admin = { core: kc.makeApiClient(CoreV1Api), admission: kc.makeApiClient(AdmissionregistrationV1Api) };
  await admin.core.createNamespace({ body: { metadata: { name: NS } } });
  // The least the certificate management needs (what the manifests must grant the webhook).
  const rbac = kc.makeApiClient((await import('@kubernetes/client-node')).RbacAuthorizationV1Api);
  await rbac.createNamespacedRole({
    namespace: NS,
    body: {
      metadata: { name: 'webhook-certs' },
      rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['get', 'create', 'update'] }],
    },
  });
  await rbac.createNamespacedRoleBinding({
    namespace: NS,
    body: {
      metadata: { name: 'webhook-certs' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'webhook-certs' },
      subjects: [{ kind: 'ServiceAccount', name: 'fleetiq-agones-webhook', namespace: NS }],
    },
  });
  await rbac.createClusterRole({
    body: {
      metadata: { name: 'webhook-cabundle' },
      rules: [
        {
          apiGroups: ['admissionregistration.k8s.io'],
          resources: ['mutatingwebhookconfigurations'],
          verbs: ['get', 'patch'],
        },
      ],
    },
  });
  await rbac.createClusterRoleBinding({
    body: {
      metadata: { name: 'webhook-cabundle' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'webhook-cabundle' },
      subjects: [{ kind: 'ServiceAccount', name: 'fleetiq-agones-webhook', namespace: NS }],
    },
  });
});

afterAll(async () => {
  await emu?.stop();
});

const options = (
  secretName: string,
  webhookConfigurationName: string,
  now?: () => number,
): EnsureCertificatesOptions => ({
  kubeConfig: kubeConfig(SA),
  namespace: NS,
  secretName,
  serviceName: 'fleetiq-agones-webhook',
  webhookConfigurationName,
  policy,
  ...(now ? { now } : {}),
});

describe('ensureCertificates against the API server emulator', () => {
  it('lets several replicas start at once: one Secret, one CA, the bundle in every webhook', async () => {
    await admin.admission.createMutatingWebhookConfiguration({ body: webhookConfiguration('race') as never });
    const results = await Promise.all(
      Array.from({ length: 5 }, () => ensureCertificates(options('race-tls', 'race'))),
    );

    const secrets = (await admin.core.listNamespacedSecret({ namespace: NS })).items.filter(
      (s) => s.metadata?.name === 'race-tls',
    );
    expect(secrets).toHaveLength(1);
    const secret = secrets[0]!;
    expect(secret.type).toBe('kubernetes.io/tls');
    expect(secret.metadata?.labels?.['app.kubernetes.io/managed-by']).toBe('fleetiq-agones');
    const stored = (key: string) => Buffer.from(secret.data![key]!, 'base64').toString();

    // Every replica ended up with the winner's certificates.
    const caFingerprint = describeCertificate(stored(SECRET_KEYS.signingCert)).fingerprint;
    for (const r of results) {
      expect(r.caFingerprints).toEqual([caFingerprint]);
      expect(r.servingCertPem).toBe(stored(SECRET_KEYS.servingCert));
      expect(r.servingKeyPem).toBe(stored(SECRET_KEYS.servingKey));
      expect(r.caBundlePem).toBe(stored(SECRET_KEYS.trustBundle));
      expect(r.published).toBe(true);
    }
    // Exactly one replica bootstrapped; the others found its Secret (after losing the create race).
    expect(results.filter((r) => r.applied.includes('bootstrap'))).toHaveLength(1);
    expect(isIssuedBy(stored(SECRET_KEYS.servingCert), stored(SECRET_KEYS.signingCert))).toBe(true);
    expect(describeCertificate(stored(SECRET_KEYS.servingCert)).dnsNames).toContain(
      'fleetiq-agones-webhook.fleetiq.svc',
    );
    expect(await caBundles('race')).toEqual([[caFingerprint], [caFingerprint]]);

    // Running again changes nothing.
    const again = await ensureCertificates(options('race-tls', 'race'));
    expect(again.applied).toEqual([]);
    const after = await admin.core.readNamespacedSecret({ name: 'race-tls', namespace: NS });
    expect(after.metadata?.resourceVersion).toBe(secret.metadata?.resourceVersion);
  });

  it('rolls the CA over: new CA trusted first, serving certificate switched after propagation, old CA retired', async () => {
    await admin.admission.createMutatingWebhookConfiguration({ body: webhookConfiguration('roll') as never });
    const t0 = Date.now();
    let now = t0;
    const first = await ensureCertificates(options('roll-tls', 'roll', () => now));
    const caA = first.caFingerprints[0]!;

    // 21 of 30 days: less than a third of the CA's life left. Two replicas check at the same moment.
    now = t0 + 21 * DAY;
    const [r1, r2] = await Promise.all([
      ensureCertificates(options('roll-tls', 'roll', () => now)),
      ensureCertificates(options('roll-tls', 'roll', () => now)),
    ]);
    expect(r1.caFingerprints).toEqual(r2.caFingerprints);
    expect(r1.caFingerprints).toHaveLength(2);
    const caB = r1.caFingerprints[0]!;
    expect(caB).not.toBe(caA);
    expect(r1.pending).toMatchObject({ kind: 'wait', until: now + 2 * MIN });
    // Both CAs trusted everywhere; the serving certificate is still signed by the old one.
    expect(await caBundles('roll')).toEqual([
      [caB, caA],
      [caB, caA],
    ]);
    const bundle = splitPemBundle(r1.caBundlePem);
    expect(isIssuedBy(r1.servingCertPem, bundle[1]!)).toBe(true);

    // After the propagation period: the new CA signs.
    now += 3 * MIN;
    const promoted = await ensureCertificates(options('roll-tls', 'roll', () => now));
    expect(promoted.applied).toContain('promote-next-ca');
    expect(isIssuedBy(promoted.servingCertPem, bundle[0]!)).toBe(true);
    expect(await caBundles('roll')).toEqual([
      [caB, caA],
      [caB, caA],
    ]);

    // After the safety period: the old CA leaves the bundle.
    now += 11 * MIN;
    const retired = await ensureCertificates(options('roll-tls', 'roll', () => now));
    expect(retired.applied).toEqual(['retire-previous-cas']);
    expect(retired.caFingerprints).toEqual([caB]);
    expect(await caBundles('roll')).toEqual([[caB], [caB]]);
  });

  it('re-publishes when someone resets the caBundle (level-triggered)', async () => {
    const before = await caBundles('race');
    await admin.admission.replaceMutatingWebhookConfiguration({
      name: 'race',
      body: webhookConfiguration('race') as never,
    });
    expect(await caBundles('race')).toEqual([[], []]);
    await ensureCertificates(options('race-tls', 'race'));
    expect(await caBundles('race')).toEqual(before);
  });

  it('manages only the Secret when there is no webhook configuration', async () => {
    const r = await ensureCertificates(options('lonely-tls', 'does-not-exist'));
    expect(r.published).toBe(true);
    expect(r.applied).toEqual(['bootstrap']);
  });

  it('fails with a clear message when RBAC forbids it', async () => {
    const stranger: UserInfo = {
      username: 'system:serviceaccount:other:nobody',
      groups: ['system:authenticated'],
    };
    await expect(
      ensureCertificates({ ...options('x-tls', 'race'), kubeConfig: kubeConfig(stranger) }),
    ).rejects.toThrow(/reading Secret fleetiq\/x-tls: HTTP 403/);
  });
});
