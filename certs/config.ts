// The certificate settings shared by `fleetiq-agones certs` and `fleetiq-agones webhook`
// (--cert-management=builtin): flags with environment fallbacks, validated with messages naming them.
import { existsSync, readFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { ConfigError } from '../shared/ops-server.js';
import { parseDuration } from '../shared/duration.js';
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

export function addCertificateOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option(
        '--namespace <name>',
        "namespace of the webhook Service and certificate Secret (default: the pod's own)",
      ).env('POD_NAMESPACE'),
    )
    .addOption(
      new Option('--secret-name <name>', 'Secret holding the CA and serving certificate')
        .env('CERT_SECRET_NAME')
        .default('fleetiq-agones-webhook-tls'),
    )
    .addOption(
      new Option('--service-name <name>', 'webhook Service (its DNS names go into the certificate)')
        .env('WEBHOOK_SERVICE_NAME')
        .default('fleetiq-agones-webhook'),
    )
    .addOption(
      new Option('--cluster-domain <domain>', 'cluster DNS domain')
        .env('CLUSTER_DOMAIN')
        .default('cluster.local'),
    )
    .addOption(
      new Option(
        '--webhook-config-name <name>',
        'MutatingWebhookConfiguration whose webhooks get the caBundle ("" = none)',
      )
        .env('WEBHOOK_CONFIG_NAME')
        .default('fleetiq-agones-webhook'),
    )
    .addOption(new Option('--ca-validity <duration>', 'CA lifetime').env('CERT_CA_VALIDITY').default('10y'))
    .addOption(
      new Option('--serving-validity <duration>', 'serving certificate lifetime')
        .env('CERT_SERVING_VALIDITY')
        .default('365d'),
    )
    .addOption(
      new Option('--key-size <bits>', 'RSA key size: 2048, 3072 or 4096')
        .env('CERT_KEY_SIZE')
        .default('2048'),
    )
    .addOption(
      new Option(
        '--renew-before <fraction>',
        're-issue the serving certificate when less than this fraction of its lifetime remains',
      )
        .env('CERT_RENEW_BEFORE')
        .default(String(DEFAULT_CERTIFICATE_POLICY.servingRenewBeforeFraction)),
    )
    .addOption(
      new Option(
        '--ca-renew-before <fraction>',
        'start a CA rollover when less than this fraction of its lifetime remains',
      )
        .env('CERT_CA_RENEW_BEFORE')
        .default(String(DEFAULT_CERTIFICATE_POLICY.caRenewBeforeFraction)),
    )
    .addOption(
      new Option(
        '--ca-propagation <duration>',
        'wait this long after every webhook trusts a new CA before it signs',
      )
        .env('CERT_CA_PROPAGATION')
        .default('2m'),
    )
    .addOption(
      new Option(
        '--ca-retire-after <duration>',
        'keep trusting the old CA this long after the new one took over',
      )
        .env('CERT_CA_RETIRE_AFTER')
        .default('10m'),
    );
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function fraction(value: string, setting: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || n >= 1)
    throw new ConfigError(setting, `expected a fraction between 0 and 1 (exclusive), got "${value}"`);
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

/** Reads and validates the options added by addCertificateOptions. */
export function certificateSettingsFromOptions(
  opts: Record<string, string | undefined>,
): CertificateSettings {
  const namespace = opts.namespace || defaultNamespace();
  if (!namespace) throw new ConfigError('--namespace (POD_NAMESPACE)', 'required outside a cluster');
  if (!DNS_LABEL.test(namespace))
    throw new ConfigError('--namespace (POD_NAMESPACE)', `"${namespace}" is not a valid namespace name`);
  const secretName = opts.secretName ?? '';
  if (!DNS_SUBDOMAIN.test(secretName))
    throw new ConfigError('--secret-name (CERT_SECRET_NAME)', `"${secretName}" is not a valid Secret name`);
  const serviceName = opts.serviceName ?? '';
  if (!DNS_LABEL.test(serviceName))
    throw new ConfigError(
      '--service-name (WEBHOOK_SERVICE_NAME)',
      `"${serviceName}" is not a valid Service name`,
    );
  const clusterDomain = opts.clusterDomain ?? 'cluster.local';
  if (!DNS_SUBDOMAIN.test(clusterDomain))
    throw new ConfigError('--cluster-domain (CLUSTER_DOMAIN)', `"${clusterDomain}" is not a DNS name`);
  const webhookConfigurationName = opts.webhookConfigName || undefined;
  if (webhookConfigurationName !== undefined && !DNS_SUBDOMAIN.test(webhookConfigurationName)) {
    throw new ConfigError(
      '--webhook-config-name (WEBHOOK_CONFIG_NAME)',
      `"${webhookConfigurationName}" is not a valid name`,
    );
  }
  const keySize = Number(opts.keySize ?? '2048');
  if (![2048, 3072, 4096].includes(keySize))
    throw new ConfigError('--key-size (CERT_KEY_SIZE)', `expected 2048, 3072 or 4096, got "${opts.keySize}"`);
  const policy: CertificatePolicy = {
    ...DEFAULT_CERTIFICATE_POLICY,
    caValidityMs: parseDuration(opts.caValidity ?? '10y', '--ca-validity (CERT_CA_VALIDITY)'),
    servingValidityMs: parseDuration(
      opts.servingValidity ?? '365d',
      '--serving-validity (CERT_SERVING_VALIDITY)',
    ),
    keySize: keySize as RsaKeySize,
    servingRenewBeforeFraction: fraction(opts.renewBefore ?? '0.3333', '--renew-before (CERT_RENEW_BEFORE)'),
    caRenewBeforeFraction: fraction(
      opts.caRenewBefore ?? '0.3333',
      '--ca-renew-before (CERT_CA_RENEW_BEFORE)',
    ),
    propagationMs: parseDuration(opts.caPropagation ?? '2m', '--ca-propagation (CERT_CA_PROPAGATION)'),
    retireAfterMs: parseDuration(opts.caRetireAfter ?? '10m', '--ca-retire-after (CERT_CA_RETIRE_AFTER)'),
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
