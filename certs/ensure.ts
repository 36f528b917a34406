// The certificates' life in the cluster: a Secret holding them, and the caBundle of every webhook of a
// MutatingWebhookConfiguration trusting them. Level-triggered and safe with several replicas at once:
// each pass reads both, asks the pure plan (rotation.ts) for ONE step, writes it with optimistic
// concurrency (create → 409 AlreadyExists, or update with resourceVersion → 409 Conflict: re-read
// and re-plan, so the winner's certificates are used), publishes the bundle, and repeats until
// nothing is left to do right now.
import {
  AdmissionregistrationV1Api,
  CoreV1Api,
  type KubeConfig,
  type V1Secret,
} from '@kubernetes/client-node';
import type { Logger } from '../shared/logger.js';
import { describeCertificate, serviceDnsNames, splitPemBundle, type RsaKeySize } from './issue.js';
import { describeKubeError as describeError, statusCode } from '../shared/kube-error.js';
import { requestOptions } from './kube-request.js';
import {
  applyRotationStep,
  decodeSecretData,
  encodeSecretData,
  toRotationState,
  trustBundlePem,
  type StoredCertificates,
} from './material.js';
import {
  bundleFingerprints,
  changesState,
  planRotation,
  type Publication,
  type RotationStep,
} from './rotation.js';

const DAY = 86_400_000;

export interface CertificatePolicy {
  caValidityMs: number;
  servingValidityMs: number;
  keySize: RsaKeySize;
  servingRenewBeforeFraction: number;
  caRenewBeforeFraction: number;
  propagationMs: number;
  retireAfterMs: number;
  caCommonName: string;
}

export const DEFAULT_CERTIFICATE_POLICY: CertificatePolicy = {
  caValidityMs: 3650 * DAY,
  servingValidityMs: 365 * DAY,
  keySize: 2048,
  servingRenewBeforeFraction: 1 / 3,
  caRenewBeforeFraction: 1 / 3,
  propagationMs: 2 * 60_000,
  retireAfterMs: 10 * 60_000,
  caCommonName: 'fleetiq-agones-webhook-ca',
};

export interface EnsureCertificatesOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  secretName: string;
  /** The webhook Service: the serving certificate carries its DNS names. */
  serviceName: string;
  clusterDomain?: string;
  /** The MutatingWebhookConfiguration whose webhooks get the caBundle; none: only the Secret is managed. */
  webhookConfigurationName?: string;
  policy?: Partial<CertificatePolicy>;
  now?: () => number;
  logger?: Logger;
  /** Upper bound on read-plan-write passes in one call (each step or conflict costs one). */
  maxPasses?: number;
}

export interface EnsureCertificatesResult {
  servingCertPem: string;
  servingKeyPem: string;
  /** The trust bundle (PEM) as published to caBundle. */
  caBundlePem: string;
  /** Fingerprints of the CAs in the bundle, newest first. */
  caFingerprints: string[];
  /** Steps this call applied (conflicts with other replicas are retried and not listed). */
  applied: RotationStep['kind'][];
  /** Where the plan stands now (a `wait` says what it waits for). */
  pending: RotationStep;
  /** True when every webhook of the configuration trusts the whole bundle (or there is no configuration). */
  published: boolean;
  secretResourceVersion?: string;
}

export const MANAGED_BY_LABEL = { 'app.kubernetes.io/managed-by': 'fleetiq-agones' } as const;

interface WebhookBundles {
  resourceVersion?: string;
  /** Per webhook: the fingerprints its caBundle holds. */
  perWebhook: string[][];
}

function fingerprintsOfBundle(caBundleB64: string | undefined): string[] {
  if (!caBundleB64) return [];
  const pem = Buffer.from(caBundleB64, 'base64').toString('utf8');
  return splitPemBundle(pem).flatMap((p) => {
    try {
      return [describeCertificate(p).fingerprint];
    } catch {
      return [];
    }
  });
}

function publicationOf(webhooks: WebhookBundles | undefined): Publication {
  if (!webhooks || webhooks.perWebhook.length === 0) return 'no-webhook-configuration';
  const [first, ...rest] = webhooks.perWebhook;
  return new Set(first!.filter((fp) => rest.every((w) => w.includes(fp))));
}

/** Ensures the Secret holds valid certificates per the policy and the caBundle trusts them. */
export async function ensureCertificates(
  options: EnsureCertificatesOptions,
): Promise<EnsureCertificatesResult> {
  const policy = { ...DEFAULT_CERTIFICATE_POLICY, ...options.policy };
  const dnsNames = serviceDnsNames(options.serviceName, options.namespace, options.clusterDomain);
  const now = options.now ?? Date.now;
  const log = options.logger;
  const core = options.kubeConfig.makeApiClient(CoreV1Api);
  const admission = options.kubeConfig.makeApiClient(AdmissionregistrationV1Api);
  const maxPasses = options.maxPasses ?? 12;
  const applied: RotationStep['kind'][] = [];
  const { namespace, secretName } = options;

  const readSecret = async (): Promise<V1Secret | undefined> => {
    try {
      return await core.readNamespacedSecret({ name: secretName, namespace });
    } catch (err) {
      if (statusCode(err) === 404) return undefined;
      throw new Error(`reading Secret ${namespace}/${secretName}: ${describeError(err)}`, { cause: err });
    }
  };

  const readWebhooks = async (): Promise<WebhookBundles | undefined> => {
    if (!options.webhookConfigurationName) return undefined;
    try {
      const config = await admission.readMutatingWebhookConfiguration({
        name: options.webhookConfigurationName,
      });
      return {
        resourceVersion: config.metadata?.resourceVersion,
        perWebhook: (config.webhooks ?? []).map((w) => fingerprintsOfBundle(w.clientConfig?.caBundle)),
      };
    } catch (err) {
      if (statusCode(err) === 404) {
        log?.warn(
          { webhookConfiguration: options.webhookConfigurationName },
          'MutatingWebhookConfiguration not found: caBundle not published',
        );
        return undefined;
      }
      throw new Error(
        `reading MutatingWebhookConfiguration ${options.webhookConfigurationName}: ${describeError(err)}`,
        { cause: err },
      );
    }
  };

  /** Writes the bundle into every webhook's caBundle; false on a conflict (someone else wrote first). */
  const publish = async (webhooks: WebhookBundles, bundlePem: string): Promise<boolean> => {
    const caBundle = Buffer.from(bundlePem, 'utf8').toString('base64');
    const ops: object[] = [];
    if (webhooks.resourceVersion)
      ops.push({ op: 'test', path: '/metadata/resourceVersion', value: webhooks.resourceVersion });
    webhooks.perWebhook.forEach((_, i) =>
      ops.push({ op: 'add', path: `/webhooks/${i}/clientConfig/caBundle`, value: caBundle }),
    );
    try {
      await admission.patchMutatingWebhookConfiguration(
        { name: options.webhookConfigurationName!, body: ops },
        requestOptions({ jsonPatch: true }),
      );
      return true;
    } catch (err) {
      const code = statusCode(err);
      if (code === 409 || code === 422) return false;
      throw new Error(`publishing caBundle to ${options.webhookConfigurationName}: ${describeError(err)}`, {
        cause: err,
      });
    }
  };

  for (let pass = 0; pass < maxPasses; pass++) {
    const secret = await readSecret();
    const stored: StoredCertificates | undefined = secret ? decodeSecretData(secret.data) : undefined;
    const webhooks = await readWebhooks();
    const publication = publicationOf(webhooks);
    const t = now();
    const step = planRotation(toRotationState(stored), publication, t, { ...policy, dnsNames });

    if (changesState(step)) {
      const next = await applyRotationStep(stored, step, { ...policy, dnsNames }, t);
      const body: V1Secret = {
        apiVersion: 'v1',
        kind: 'Secret',
        type: 'kubernetes.io/tls',
        metadata: {
          name: secretName,
          namespace,
          labels: { ...secret?.metadata?.labels, ...MANAGED_BY_LABEL },
          ...(secret?.metadata?.annotations ? { annotations: secret.metadata.annotations } : {}),
          ...(secret ? { resourceVersion: secret.metadata!.resourceVersion! } : {}),
        },
        data: encodeSecretData(next),
      };
      try {
        if (secret) await core.replaceNamespacedSecret({ name: secretName, namespace, body });
        else await core.createNamespacedSecret({ namespace, body });
        applied.push(step.kind);
        log?.info(
          {
            step: step.kind,
            reason: 'reason' in step ? step.reason : undefined,
            secret: `${namespace}/${secretName}`,
          },
          'certificates: applied rotation step',
        );
      } catch (err) {
        const code = statusCode(err);
        // Another replica wrote first: its certificates win; re-read and re-plan from them.
        if (code === 409) {
          log?.debug({ step: step.kind }, 'certificates: lost a write race, re-reading');
          continue;
        }
        throw new Error(`writing Secret ${namespace}/${secretName}: ${describeError(err)}`, { cause: err });
      }
      continue;
    }

    const current = stored!;
    const bundlePem = trustBundlePem(current);
    const wanted = bundleFingerprints(toRotationState(current)!);
    const upToDate =
      !webhooks ||
      webhooks.perWebhook.every((w) => w.length === wanted.length && wanted.every((fp) => w.includes(fp)));
    if (!upToDate) {
      const ok = await publish(webhooks!, bundlePem);
      if (ok)
        log?.info(
          { webhookConfiguration: options.webhookConfigurationName, cas: wanted.length },
          'certificates: published caBundle',
        );
      continue;
    }
    return {
      servingCertPem: current.serving!.certPem,
      servingKeyPem: current.serving!.keyPem,
      caBundlePem: bundlePem,
      caFingerprints: wanted,
      applied,
      pending: step,
      published: true,
      ...(secret?.metadata?.resourceVersion
        ? { secretResourceVersion: secret.metadata.resourceVersion }
        : {}),
    };
  }

  // Out of passes (heavy contention or a step that keeps failing): report what is there rather than
  // fail the caller, which can serve with these certificates and try again on its next tick.
  const secret = await readSecret();
  const stored = secret ? decodeSecretData(secret.data) : undefined;
  if (!stored?.serving || !stored.signing) {
    throw new Error(
      `certificates in Secret ${namespace}/${secretName} still incomplete after ${maxPasses} passes`,
    );
  }
  log?.warn({ maxPasses }, 'certificates: gave up converging this time, will retry');
  const state = toRotationState(stored)!;
  return {
    servingCertPem: stored.serving.certPem,
    servingKeyPem: stored.serving.keyPem,
    caBundlePem: trustBundlePem(stored),
    caFingerprints: bundleFingerprints(state),
    applied,
    pending: { kind: 'wait', reason: 'did not converge within the pass limit' },
    published: false,
    ...(secret?.metadata?.resourceVersion ? { secretResourceVersion: secret.metadata.resourceVersion } : {}),
  };
}
