// `fleetiq-agones webhook`: flags (with environment fallbacks) → WebhookConfig → startWebhook,
// and a graceful stop on SIGTERM/SIGINT.
import { Option, type Command } from 'commander';
import { addCertificateOptions, certificateSettingsFromOptions } from '../certs/config.js';
import { parseDuration } from '../shared/duration.js';
import { createLogger } from '../shared/logger.js';
import { ConfigError, parseListen } from '../shared/ops-server.js';
import {
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_REQUEST_BYTES,
  DEFAULT_REQUEST_TIMEOUT_MS,
  webhookConfig,
  type TlsConfig,
  type WebhookConfig,
} from './config.js';
import type { ProtectedState } from './decide.js';
import { startWebhook } from './server.js';

type Opts = Record<string, string | boolean | undefined>;

function bool(value: string | boolean | undefined, setting: string): boolean {
  if (typeof value === 'boolean') return value;
  if (value === undefined) return false;
  const v = value.trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(v)) return true;
  if (['false', '0', 'no', 'off'].includes(v)) return false;
  throw new ConfigError(setting, `expected true or false, got "${value}"`);
}

/** Turns parsed command-line options into a validated WebhookConfig. */
export function webhookConfigFromOptions(opts: Opts): WebhookConfig {
  const s = (k: string) => (typeof opts[k] === 'string' ? (opts[k] as string) : undefined);
  const mode = s('certManagement') ?? 'builtin';
  let tls: TlsConfig;
  if (mode === 'external') {
    tls = {
      mode: 'external',
      certFile: s('tlsCertFile') ?? '',
      keyFile: s('tlsKeyFile') ?? '',
      pollIntervalMs: parseDuration(
        s('certCheckInterval') ?? '1m',
        '--cert-check-interval (WEBHOOK_CERT_CHECK_INTERVAL)',
      ),
    };
  } else if (mode === 'builtin') {
    if (s('tlsCertFile') || s('tlsKeyFile')) {
      throw new ConfigError(
        '--cert-management (WEBHOOK_CERT_MANAGEMENT)',
        '--tls-cert-file/--tls-key-file need --cert-management=external',
      );
    }
    tls = {
      mode: 'builtin',
      checkIntervalMs: parseDuration(
        s('certCheckInterval') ?? '1m',
        '--cert-check-interval (WEBHOOK_CERT_CHECK_INTERVAL)',
      ),
      ...certificateSettingsFromOptions(opts as Record<string, string | undefined>),
    };
  } else {
    throw new ConfigError(
      '--cert-management (WEBHOOK_CERT_MANAGEMENT)',
      `expected builtin or external, got "${mode}"`,
    );
  }
  const protectedStates: ProtectedState[] = bool(
    opts.protectReserved,
    '--protect-reserved (WEBHOOK_PROTECT_RESERVED)',
  )
    ? ['Allocated', 'Reserved']
    : ['Allocated'];
  return webhookConfig(tls, {
    listen: parseListen(s('listen') ?? ':8443', '--listen (WEBHOOK_LISTEN)'),
    opsListen: parseListen(s('opsListen') ?? ':8080', '--ops-listen (OPS_LISTEN)'),
    path: s('path') ?? '/mutate',
    protectedStates,
    fence: bool(opts.fence ?? 'true', '--fence (WEBHOOK_FENCE)'),
    nodeStatusSource: (s('nodeStatusSource') ?? 'watch') as WebhookConfig['nodeStatusSource'],
    podPatchTimeoutMs: parseDuration(
      s('podPatchTimeout') ?? '2s',
      '--pod-patch-timeout (WEBHOOK_POD_PATCH_TIMEOUT)',
    ),
    onPodPatchFailure: (s('onPodPatchFailure') ?? 'allow') as WebhookConfig['onPodPatchFailure'],
    shutdownGraceMs: parseDuration(s('shutdownGrace') ?? '25s', '--shutdown-grace (WEBHOOK_SHUTDOWN_GRACE)'),
    maxRequestBytes: count(
      s('maxRequestBytes'),
      DEFAULT_MAX_REQUEST_BYTES,
      '--max-request-bytes (WEBHOOK_MAX_REQUEST_BYTES)',
    ),
    maxConnections: count(
      s('maxConnections'),
      DEFAULT_MAX_CONNECTIONS,
      '--max-connections (WEBHOOK_MAX_CONNECTIONS)',
    ),
    requestTimeoutMs: parseDuration(
      s('requestTimeout') ?? `${DEFAULT_REQUEST_TIMEOUT_MS}ms`,
      '--request-timeout (WEBHOOK_REQUEST_TIMEOUT)',
    ),
  });
}

function count(value: string | undefined, fallback: number, setting: string): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value.trim())) throw new ConfigError(setting, `expected a whole number, got "${value}"`);
  return Number(value.trim());
}

export function registerWebhookCommand(program: Command): Command {
  const cmd = program
    .command('webhook')
    .description(
      'Mutating admission webhook for Agones GameServer updates: when one becomes Allocated, its pod tolerates the FleetIQ drain taint (and allocations onto draining nodes are refused)',
    )
    .addOption(
      new Option('--listen <host:port>', 'HTTPS address of the admission endpoint')
        .env('WEBHOOK_LISTEN')
        .default(':8443'),
    )
    .addOption(
      new Option('--ops-listen <host:port>', 'plain-HTTP address of /healthz, /readyz, /metrics')
        .env('OPS_LISTEN')
        .default(':8080'),
    )
    .addOption(
      new Option('--path <path>', 'URL path of the admission endpoint')
        .env('WEBHOOK_PATH')
        .default('/mutate'),
    )
    .addOption(
      new Option('--protect-reserved [bool]', 'also protect game servers becoming Reserved')
        .env('WEBHOOK_PROTECT_RESERVED')
        .default(false),
    )
    .addOption(
      new Option(
        '--fence [bool]',
        'refuse allocations whose pod is terminating or whose node is DRAINING/SPOT_TERMINATING',
      )
        .env('WEBHOOK_FENCE')
        .default(true),
    )
    .addOption(new Option('--no-fence', 'do not fence'))
    .addOption(
      new Option(
        '--node-status-source <kind>',
        'how the fence reads node status: watch (cached, default) or get (per allocation)',
      )
        .env('WEBHOOK_NODE_STATUS_SOURCE')
        .default('watch'),
    )
    .addOption(
      new Option(
        '--pod-patch-timeout <duration>',
        'budget for updating the pod; keep it below the webhook timeoutSeconds',
      )
        .env('WEBHOOK_POD_PATCH_TIMEOUT')
        .default('2s'),
    )
    .addOption(
      new Option(
        '--on-pod-patch-failure <allow|deny>',
        'when the pod cannot be updated: allow with a warning, or deny',
      )
        .env('WEBHOOK_ON_POD_PATCH_FAILURE')
        .default('allow'),
    )
    .addOption(
      new Option('--shutdown-grace <duration>', 'after SIGTERM, time to finish requests in flight')
        .env('WEBHOOK_SHUTDOWN_GRACE')
        .default('25s'),
    )
    .addOption(
      new Option(
        '--max-request-bytes <bytes>',
        'largest AdmissionReview accepted (413 above it); real GameServer reviews weigh a few KB',
      )
        .env('WEBHOOK_MAX_REQUEST_BYTES')
        .default(String(DEFAULT_MAX_REQUEST_BYTES)),
    )
    .addOption(
      new Option('--max-connections <n>', 'connections open at once; more are closed as they arrive')
        .env('WEBHOOK_MAX_CONNECTIONS')
        .default(String(DEFAULT_MAX_CONNECTIONS)),
    )
    .addOption(
      new Option(
        '--request-timeout <duration>',
        "time for a connection's TLS handshake, and for each request's headers and body, to arrive",
      )
        .env('WEBHOOK_REQUEST_TIMEOUT')
        .default('10s'),
    )
    .addOption(
      new Option(
        '--cert-management <mode>',
        'builtin (Secret + caBundle managed here) or external (files, e.g. cert-manager)',
      )
        .env('WEBHOOK_CERT_MANAGEMENT')
        .default('builtin'),
    )
    .addOption(
      new Option('--tls-cert-file <path>', 'serving certificate (external mode; reloaded on change)').env(
        'TLS_CERT_FILE',
      ),
    )
    .addOption(
      new Option('--tls-key-file <path>', 'serving key (external mode; reloaded on change)').env(
        'TLS_KEY_FILE',
      ),
    )
    .addOption(
      new Option(
        '--cert-check-interval <duration>',
        'builtin: how often to converge/rotate and re-read the Secret; external: file poll interval',
      )
        .env('WEBHOOK_CERT_CHECK_INTERVAL')
        .default('1m'),
    );
  addCertificateOptions(cmd);
  cmd.action(async (opts: Opts) => {
    const config = webhookConfigFromOptions(opts);
    const logger = createLogger('webhook');
    const webhook = await startWebhook(config, { logger });
    process.stdout.write(`ready ${webhook.admissionUrl}\n`);
    await new Promise<void>((resolve) => {
      const onSignal = (signal: NodeJS.Signals) => {
        logger.info({ signal }, 'signal received');
        void webhook.stop().then(resolve);
      };
      process.once('SIGTERM', onSignal);
      process.once('SIGINT', onSignal);
    });
    process.exit(0);
  });
  return cmd;
}
