// `fleetiq-agones certs`: run the built-in certificate management once (a Job or init container),
// or write a CA and serving certificate to files (local runs, or to feed --tls-cert-file).
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadKubeConfig } from '../shared/kube-connection.js';
import { Option, type Command } from 'commander';
import { createLogger } from '../shared/logger.js';
import { ConfigError } from '../shared/ops-server.js';
import {
  addCertificateOptions,
  certificateSettingsFromOptions,
  ensureOptionsFor,
  validateCertificatePolicy,
} from './config.js';
import { parseDuration } from '../shared/duration.js';
import { ensureCertificates, DEFAULT_CERTIFICATE_POLICY } from './ensure.js';
import {
  createCertificateAuthority,
  issueServingCertificate,
  serviceDnsNames,
  type RsaKeySize,
} from './issue.js';

export function registerCertsCommand(program: Command): Command {
  const certs = program
    .command('certs')
    .description(
      "The webhook's TLS certificates: a CA and serving certificate in a Secret, trusted by the webhook configuration",
    );

  addCertificateOptions(
    certs
      .command('ensure', { isDefault: true })
      .description(
        'Create or rotate the certificates in the Secret and publish the CA bundle to the MutatingWebhookConfiguration, once (prints a JSON summary)',
      ),
  ).action(async (opts: Record<string, string | undefined>) => {
    const settings = certificateSettingsFromOptions(opts);
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

  certs
    .command('generate')
    .description(
      'Write a new CA (ca.crt, ca.key) and serving certificate (tls.crt, tls.key) to a directory; no cluster needed',
    )
    .requiredOption('--out-dir <dir>', 'directory to write the PEM files to')
    .addOption(
      new Option('--namespace <name>', 'namespace of the webhook Service')
        .env('POD_NAMESPACE')
        .default('default'),
    )
    .addOption(
      new Option('--service-name <name>', 'webhook Service')
        .env('WEBHOOK_SERVICE_NAME')
        .default('fleetiq-agones-webhook'),
    )
    .addOption(
      new Option('--dns-name <name...>', 'extra DNS names for the serving certificate (e.g. localhost)'),
    )
    .addOption(new Option('--ca-validity <duration>', 'CA lifetime').default('10y'))
    .addOption(new Option('--serving-validity <duration>', 'serving certificate lifetime').default('365d'))
    .addOption(
      new Option('--key-size <bits>', 'RSA key size').choices(['2048', '3072', '4096']).default('2048'),
    )
    .action(
      async (opts: {
        outDir: string;
        namespace: string;
        serviceName: string;
        dnsName?: string[];
        caValidity: string;
        servingValidity: string;
        keySize: string;
      }) => {
        const policy = {
          ...DEFAULT_CERTIFICATE_POLICY,
          caValidityMs: parseDuration(opts.caValidity, '--ca-validity'),
          servingValidityMs: parseDuration(opts.servingValidity, '--serving-validity'),
        };
        validateCertificatePolicy(policy);
        if (!opts.outDir) throw new ConfigError('--out-dir', 'required');
        const now = new Date();
        const keySize = Number(opts.keySize) as RsaKeySize;
        const ca = await createCertificateAuthority({
          commonName: `${policy.caCommonName}@${Math.floor(now.getTime() / 1000)}`,
          validityMs: policy.caValidityMs,
          keySize,
          now,
        });
        const dnsNames = [...serviceDnsNames(opts.serviceName, opts.namespace), ...(opts.dnsName ?? [])];
        const serving = await issueServingCertificate(ca, {
          dnsNames,
          validityMs: policy.servingValidityMs,
          keySize,
          now,
        });
        await mkdir(opts.outDir, { recursive: true });
        await writeFile(join(opts.outDir, 'ca.crt'), ca.certPem);
        await writeFile(join(opts.outDir, 'ca.key'), ca.keyPem, { mode: 0o600 });
        await writeFile(join(opts.outDir, 'tls.crt'), serving.certPem);
        await writeFile(join(opts.outDir, 'tls.key'), serving.keyPem, { mode: 0o600 });
        process.stdout.write(JSON.stringify({ outDir: opts.outDir, dnsNames }) + '\n');
      },
    );
  return certs;
}
