// `fleetiq-agones certs`: run the built-in certificate management once (a Job or init container),
// or write a CA and serving certificate to files (local runs, or to feed --tls-cert-file).
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadKubeConfig } from '../shared/kube-connection.js';
import type { Command } from 'commander';
import { createLogger } from '../shared/logger.js';
import {
  addSettings,
  componentCommand,
  givenFlags,
  SettingsReader,
  type SettingsTable,
} from '../shared/settings.js';
import { VERSION } from '../shared/version.js';
import {
  CERTIFICATE_SETTINGS,
  addCertificateOptions,
  certificateSettingsFromOptions,
  ensureOptionsFor,
  validateCertificatePolicy,
} from './config.js';
import { ensureCertificates, DEFAULT_CERTIFICATE_POLICY } from './ensure.js';
import {
  createCertificateAuthority,
  issueServingCertificate,
  serviceDnsNames,
  type RsaKeySize,
} from './issue.js';

/** `certs generate`: no cluster, so only what the files need. */
export const GENERATE_SETTINGS: SettingsTable = [
  {
    flag: '--out-dir',
    env: 'CERT_OUT_DIR',
    defaultText: 'required',
    value: '<dir>',
    help: 'directory to write the PEM files to',
  },
  {
    flag: '--namespace',
    env: 'POD_NAMESPACE',
    default: 'default',
    value: '<name>',
    help: 'namespace of the webhook Service',
  },
  {
    flag: '--service-name',
    env: 'WEBHOOK_SERVICE_NAME',
    default: 'fleetiq-agones-webhook',
    value: '<name>',
    help: 'webhook Service',
  },
  {
    flag: '--dns-name',
    env: 'CERT_DNS_NAMES',
    value: '<name...>',
    help: 'extra DNS names for the serving certificate (e.g. localhost; the variable: comma-separated)',
  },
  // The certificates' own settings, as `certs ensure` and the webhook take them.
  ...CERTIFICATE_SETTINGS.filter((s) =>
    ['--ca-validity', '--serving-validity', '--key-size'].includes(s.flag),
  ),
];

export function registerCertsCommand(program: Command): Command {
  const certs = componentCommand(
    program
      .command('certs')
      .description(
        "The webhook's TLS certificates: a CA and serving certificate in a Secret, trusted by the webhook configuration",
      ),
    VERSION,
  );

  const ensure = componentCommand(
    certs
      .command('ensure', { isDefault: true })
      .description(
        'Create or rotate the certificates in the Secret and publish the CA bundle to the MutatingWebhookConfiguration, once (prints a JSON summary)',
      ),
    VERSION,
  );
  addCertificateOptions(ensure).action(async (_opts: unknown, command: Command) => {
    const settings = certificateSettingsFromOptions(givenFlags(command), process.env);
    const kubeConfig = loadKubeConfig();
    const logger = createLogger('certs');
    const result = await ensureCertificates({ ...ensureOptionsFor(settings, kubeConfig), logger });
    process.stdout.write(
      JSON.stringify({
        secret: `${settings.namespace}/${settings.secretName}`,
        webhookConfiguration: settings.webhookConfigurationName ?? null,
        applied: result.applied,
        pending: result.pending,
        published: result.published,
        caFingerprints: result.caFingerprints,
      }) + '\n',
    );
  });

  const generate = componentCommand(
    certs
      .command('generate')
      .description(
        'Write a new CA (ca.crt, ca.key) and serving certificate (tls.crt, tls.key) to a directory; no cluster needed',
      ),
    VERSION,
  );
  addSettings(generate, GENERATE_SETTINGS).action(async (_opts: unknown, command: Command) => {
    const r = new SettingsReader(GENERATE_SETTINGS, givenFlags(command), process.env);
    const outDir = r.required('--out-dir');
    const policy = {
      ...DEFAULT_CERTIFICATE_POLICY,
      caValidityMs: r.duration('--ca-validity'),
      servingValidityMs: r.duration('--serving-validity'),
    };
    validateCertificatePolicy(policy);
    const keySize = Number(r.oneOf('--key-size', ['2048', '3072', '4096'] as const)) as RsaKeySize;
    const now = new Date();
    const ca = await createCertificateAuthority({
      commonName: `${policy.caCommonName}@${Math.floor(now.getTime() / 1000)}`,
      validityMs: policy.caValidityMs,
      keySize,
      now,
    });
    const extra = (r.string('--dns-name') ?? '')
      .split(',')
      .map((n) => n.trim())
      .filter(Boolean);
    const dnsNames = [...serviceDnsNames(r.required('--service-name'), r.required('--namespace')), ...extra];
    const serving = await issueServingCertificate(ca, {
      dnsNames,
      validityMs: policy.servingValidityMs,
      keySize,
      now,
    });
    await mkdir(outDir, { recursive: true });
    await writeFile(join(outDir, 'ca.crt'), ca.certPem);
    await writeFile(join(outDir, 'ca.key'), ca.keyPem, { mode: 0o600 });
    await writeFile(join(outDir, 'tls.crt'), serving.certPem);
    await writeFile(join(outDir, 'tls.key'), serving.keyPem, { mode: 0o600 });
    process.stdout.write(JSON.stringify({ outDir, dnsNames }) + '\n');
  });
  return certs;
}
