// `fleetiq-agones webhook`: flags (with environment fallbacks) → WebhookConfig → startWebhook,
// and a graceful stop on SIGTERM/SIGINT.
import type { Command } from 'commander';
import { certificateSettingsFromOptions } from '../certs/config.js';
import { runComponent } from '../shared/component.js';
import { createLogger } from '../shared/logger.js';
import { addSettings, componentCommand, givenFlags, SettingsReader, type Flags } from '../shared/settings.js';
import { VERSION } from '../shared/version.js';
import { WEBHOOK_SETTINGS, webhookConfig, type TlsConfig, type WebhookConfig } from './config.js';
import { protectedStates as protectedStatesFor, type ProtectedState } from '../shared/drain-contract.js';
import { startWebhook } from './server.js';

type Opts = Flags;

/**
 * Turns parsed command-line options (which may already hold the variables' values, as commander
 * reads them) and the environment into a validated WebhookConfig.
 */
export function webhookConfigFromOptions(
  opts: Opts,
  env: Record<string, string | undefined> = {},
): WebhookConfig {
  const r = new SettingsReader(WEBHOOK_SETTINGS, opts, env);
  const mode = r.oneOf('--cert-management', ['builtin', 'external'] as const);
  const tlsCertFile = r.string('--tls-cert-file');
  const tlsKeyFile = r.string('--tls-key-file');
  let tls: TlsConfig;
  if (mode === 'external') {
    tls = {
      mode: 'external',
      certFile: tlsCertFile ?? '',
      keyFile: tlsKeyFile ?? '',
      pollIntervalMs: r.duration('--cert-check-interval'),
    };
  } else {
    if (tlsCertFile || tlsKeyFile) {
      throw r.error('--cert-management', '--tls-cert-file/--tls-key-file need --cert-management=external');
    }
    tls = {
      mode: 'builtin',
      checkIntervalMs: r.duration('--cert-check-interval'),
      ...certificateSettingsFromOptions(opts, env),
    };
  }
  const protectedStates: ProtectedState[] = protectedStatesFor(r.boolean('--protect-reserved'));
  return webhookConfig(tls, {
    listen: r.listen('--listen'),
    opsListen: r.listen('--ops-listen'),
    path: r.string('--path')!,
    protectedStates,
    fence: r.boolean('--fence'),
    karpenterDoNotDisrupt: r.boolean('--karpenter-do-not-disrupt'),
    nodeStatusSource: r.string('--node-status-source') as WebhookConfig['nodeStatusSource'],
    podPatchTimeoutMs: r.duration('--pod-patch-timeout'),
    onPodPatchFailure: r.string('--on-pod-patch-failure') as WebhookConfig['onPodPatchFailure'],
    shutdownGraceMs: r.duration('--shutdown-grace'),
    maxRequestBytes: r.integer('--max-request-bytes'),
    maxConnections: r.integer('--max-connections'),
    requestTimeoutMs: r.duration('--request-timeout'),
  });
}

/** After SIGTERM the admission server gets --shutdown-grace; past it plus this, the process exits anyway. */
export const WEBHOOK_SHUTDOWN_MARGIN_MS = 3_000;

export function registerWebhookCommand(program: Command): Command {
  const cmd = componentCommand(
    program
      .command('webhook')
      .description(
        'Mutating admission webhook for Agones GameServer updates: when one becomes Allocated, its pod tolerates the FleetIQ drain taint (and allocations onto draining nodes are refused)',
      ),
    VERSION,
  );
  addSettings(cmd, WEBHOOK_SETTINGS);
  cmd.action(async (_opts: Opts, command: Command) => {
    const config = webhookConfigFromOptions(givenFlags(command), process.env);
    const logger = createLogger('webhook');
    const webhook = await startWebhook(config, { logger });
    process.stdout.write(`ready ${webhook.admissionUrl}\n`);
    await runComponent({
      name: 'webhook',
      logger,
      component: webhook,
      shutdownDeadlineMs: config.shutdownGraceMs + WEBHOOK_SHUTDOWN_MARGIN_MS,
    });
  });
  return cmd;
}
