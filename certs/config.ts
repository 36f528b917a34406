// The certificate settings shared by `fleetiq-agones certs` and `fleetiq-agones webhook`
// (--cert-management=builtin): flags with environment fallbacks, validated with messages naming them.
import { existsSync, readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { ConfigError } from '../shared/ops-server.js';
import { addSettings, SettingsReader, type Flags, type SettingsTable } from '../shared/settings.js';
import {
  DEFAULT_CERTIFICATE_POLICY,
  type CertificatePolicy,
  type EnsureCertificatesOptions,
} from './ensure.js';
import { BACKDATE_MS, type RsaKeySize } from './issue.js';

export interface CertificateSettings {
  namespace: string;
  secretName: string;
  serviceName: string;
  clusterDomain: string;
  /** Empty: no MutatingWebhookConfiguration is touched. */
  webhookConfigurationName?: string;
  policy: CertificatePolicy;
}

export const SERVICE_ACCOUNT_NAMESPACE_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

/** The certificate settings (flags and variables) of `certs ensure` and the webhook's builtin mode. */
export const CERTIFICATE_SETTINGS: SettingsTable = [
  {
    flag: '--namespace',
    env: 'POD_NAMESPACE',
    defaultText: "default the pod's own namespace",
    value: '<name>',
    help: 'namespace of the webhook Service and certificate Secret',
  },
  {
    flag: '--secret-name',
    env: 'CERT_SECRET_NAME',
    default: 'fleetiq-agones-webhook-tls',
    value: '<name>',
    help: 'Secret holding the CA and serving certificate',
  },
  {
    flag: '--service-name',
    env: 'WEBHOOK_SERVICE_NAME',
    default: 'fleetiq-agones-webhook',
    value: '<name>',
    help: 'webhook Service (its DNS names go into the certificate)',
  },
  {
    flag: '--cluster-domain',
    env: 'CLUSTER_DOMAIN',
    default: 'cluster.local',
    value: '<domain>',
    help: 'cluster DNS domain',
  },
  {
    flag: '--webhook-config-name',
    env: 'WEBHOOK_CONFIG_NAME',
    default: 'fleetiq-agones-webhook',
    value: '<name>',
    emptyIsValue: true,
    help: 'MutatingWebhookConfiguration whose webhooks get the caBundle ("" = none)',
  },
  {
    flag: '--ca-validity',
    env: 'CERT_CA_VALIDITY',
    default: '10y',
    value: '<duration>',
    help: 'CA lifetime',
  },
  {
    flag: '--serving-validity',
    env: 'CERT_SERVING_VALIDITY',
    default: '365d',
    value: '<duration>',
    help: 'serving certificate lifetime',
  },
  {
    flag: '--key-size',
    env: 'CERT_KEY_SIZE',
    default: '2048',
    value: '<bits>',
    help: 'RSA key size: 2048, 3072 or 4096',
  },
  {
    flag: '--renew-before',
    env: 'CERT_RENEW_BEFORE',
    default: String(DEFAULT_CERTIFICATE_POLICY.servingRenewBeforeFraction),
    value: '<fraction>',
    help: 're-issue the serving certificate when less than this fraction of its lifetime remains',
  },
  {
    flag: '--ca-renew-before',
    env: 'CERT_CA_RENEW_BEFORE',
    default: String(DEFAULT_CERTIFICATE_POLICY.caRenewBeforeFraction),
    value: '<fraction>',
    help: 'start a CA rollover when less than this fraction of its lifetime remains',
  },
  {
    flag: '--ca-propagation',
    env: 'CERT_CA_PROPAGATION',
    default: '2m',
    value: '<duration>',
    help: 'wait this long after every webhook trusts a new CA before it signs',
  },
  {
    flag: '--ca-retire-after',
    env: 'CERT_CA_RETIRE_AFTER',
    default: '10m',
    value: '<duration>',
    help: 'keep trusting the old CA this long after the new one took over',
  },
];

export function addCertificateOptions(cmd: Command): Command {
  return addSettings(cmd, CERTIFICATE_SETTINGS);
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function fraction(r: SettingsReader, flag: string): number {
  const value = r.string(flag) ?? '';
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0 || n >= 1)
    throw r.error(flag, `expected a fraction between 0 and 1 (exclusive), got "${value}"`);
  return n;
}

function defaultNamespace(): string | undefined {
  try {
    return existsSync(SERVICE_ACCOUNT_NAMESPACE_FILE)
      ? readFileSync(SERVICE_ACCOUNT_NAMESPACE_FILE, 'utf8').trim()
      : undefined;
  } catch {
    return undefined;
  }
}

/** Reads and validates the settings added by addCertificateOptions (flags win over `env`). */
export function certificateSettingsFromOptions(
  opts: Flags,
  env: Record<string, string | undefined> = {},
): CertificateSettings {
  const r = new SettingsReader(CERTIFICATE_SETTINGS, opts, env);
  const namespace = r.string('--namespace') || defaultNamespace();
  if (!namespace) throw r.error('--namespace', 'required outside a cluster');
  if (!DNS_LABEL.test(namespace))
    throw r.error('--namespace', `"${namespace}" is not a valid namespace name`);
  const secretName = r.string('--secret-name') ?? '';
  if (!DNS_SUBDOMAIN.test(secretName))
    throw r.error('--secret-name', `"${secretName}" is not a valid Secret name`);
  const serviceName = r.string('--service-name') ?? '';
  if (!DNS_LABEL.test(serviceName))
    throw r.error('--service-name', `"${serviceName}" is not a valid Service name`);
  const clusterDomain = r.string('--cluster-domain') ?? '';
  if (!DNS_SUBDOMAIN.test(clusterDomain))
    throw r.error('--cluster-domain', `"${clusterDomain}" is not a DNS name`);
  // Empty, as a flag or a variable, means "no MutatingWebhookConfiguration".
  const webhookConfigurationName = r.string('--webhook-config-name') || undefined;
  if (webhookConfigurationName !== undefined && !DNS_SUBDOMAIN.test(webhookConfigurationName)) {
    throw r.error('--webhook-config-name', `"${webhookConfigurationName}" is not a valid name`);
  }
  const keySize = Number(r.string('--key-size'));
  if (![2048, 3072, 4096].includes(keySize))
    throw r.error('--key-size', `expected 2048, 3072 or 4096, got "${r.string('--key-size')}"`);
  const policy: CertificatePolicy = {
    ...DEFAULT_CERTIFICATE_POLICY,
    caValidityMs: r.duration('--ca-validity'),
    servingValidityMs: r.duration('--serving-validity'),
    keySize: keySize as RsaKeySize,
    servingRenewBeforeFraction: fraction(r, '--renew-before'),
    caRenewBeforeFraction: fraction(r, '--ca-renew-before'),
    propagationMs: r.duration('--ca-propagation'),
    retireAfterMs: r.duration('--ca-retire-after'),
  };
  validateCertificatePolicy(policy);
  return {
    namespace,
    secretName,
    serviceName,
    clusterDomain,
    ...(webhookConfigurationName ? { webhookConfigurationName } : {}),
    policy,
  };
}

export function validateCertificatePolicy(policy: CertificatePolicy): void {
  if (policy.servingValidityMs < 60 * 60_000)
    throw new ConfigError('--serving-validity (CERT_SERVING_VALIDITY)', 'must be at least 1h');
  if (policy.caValidityMs <= policy.servingValidityMs) {
    throw new ConfigError('--ca-validity (CERT_CA_VALIDITY)', 'must be longer than --serving-validity');
  }
  // Certificates are issued backdated (clock skew), and the plan measures "fraction of the lifetime
  // left" over the whole notBefore..notAfter span: with a fraction at or above validity/(validity +
  // backdate) a certificate is due for renewal the moment it is issued, and every pass would issue
  // another (the serving certificate) or start another CA rollover.
  const dueAtOnce = (validityMs: number, fraction: number) =>
    validityMs <= fraction * (validityMs + BACKDATE_MS);
  const limit = (validityMs: number) => Math.floor((validityMs / (validityMs + BACKDATE_MS)) * 1e6) / 1e6;
  if (dueAtOnce(policy.servingValidityMs, policy.servingRenewBeforeFraction)) {
    throw new ConfigError(
      '--renew-before (CERT_RENEW_BEFORE)',
      `a serving certificate valid for --serving-validity (issued backdated ${BACKDATE_MS / 3_600_000}h) would be due for renewal as soon as issued: use a fraction below ${limit(policy.servingValidityMs)}, or a longer --serving-validity`,
    );
  }
  if (dueAtOnce(policy.caValidityMs, policy.caRenewBeforeFraction)) {
    throw new ConfigError(
      '--ca-renew-before (CERT_CA_RENEW_BEFORE)',
      `a CA valid for --ca-validity (issued backdated ${BACKDATE_MS / 3_600_000}h) would be due for rollover as soon as created: use a fraction below ${limit(policy.caValidityMs)}, or a longer --ca-validity`,
    );
  }
}

/** The ensureCertificates options for these settings. */
export function ensureOptionsFor(
  settings: CertificateSettings,
  kubeConfig: EnsureCertificatesOptions['kubeConfig'],
): EnsureCertificatesOptions {
  return {
    kubeConfig,
    namespace: settings.namespace,
    secretName: settings.secretName,
    serviceName: settings.serviceName,
    clusterDomain: settings.clusterDomain,
    ...(settings.webhookConfigurationName
      ? { webhookConfigurationName: settings.webhookConfigurationName }
      : {}),
    policy: settings.policy,
  };
}
