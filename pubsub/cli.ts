import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Command } from 'commander';
import { createLogger } from '../shared/logger.js';
import { ConfigError, parseListen } from '../shared/ops-server.js';
import { DEFAULT_CONFIG_PATH, loadConfigFile } from './config.js';
import { checkLeaseTimings, DEFAULT_LEASE_TIMINGS } from './leader-election.js';
import { parseRedisUrl } from '../shared/redis-url.js';
import { startPubsub, type PubsubOptions } from './service.js';

const SERVICE_ACCOUNT_NAMESPACE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

export interface PubsubFlags {
  config: string;
  opsListen?: string;
  signingSecretFile?: string;
  leaderElect: boolean;
  leaseName: string;
  leaseNamespace?: string;
  leaseDuration: string;
  renewDeadline: string;
  retryPeriod: string;
  identity?: string;
}

/**
 * Turns flags and environment into service options, validating everything up front so that a bad
 * setting stops the process at start with a message naming it (ConfigError).
 */
export function resolvePubsubOptions(
  flags: PubsubFlags,
  env: NodeJS.ProcessEnv,
  readText: (path: string) => string = (p) => readFileSync(p, 'utf8'),
): Omit<PubsubOptions, 'logger'> {
  const config = loadConfigFile(flags.config);
  const redisUrl = env.REDIS_URL ?? '';
  parseRedisUrl(redisUrl); // throws naming REDIS_URL
  const region = env.AWS_REGION?.trim();
  if (!region) {
    throw new ConfigError('AWS_REGION', 'is required (the region of the game server groups, e.g. us-west-2)');
  }

  let signingSecret: string | undefined;
  if (flags.signingSecretFile) {
    try {
      signingSecret = readText(flags.signingSecretFile).replace(/\r?\n$/, '');
    } catch (err) {
      throw new ConfigError(
        '--signing-secret-file',
        `cannot read ${flags.signingSecretFile}: ${(err as NodeJS.ErrnoException).code ?? err}`,
      );
    }
    if (signingSecret === '')
      throw new ConfigError('--signing-secret-file', `${flags.signingSecretFile} is empty`);
  } else if (env.STATUS_SIGNING_SECRET !== undefined) {
    signingSecret = env.STATUS_SIGNING_SECRET;
    if (signingSecret === '') throw new ConfigError('STATUS_SIGNING_SECRET', 'is set but empty');
  }

  const options: Omit<PubsubOptions, 'logger'> = {
    config,
    configPath: flags.config,
    redisUrl,
    signingSecret,
    // Credentials and AWS_ENDPOINT_URL_GAMELIFT come from the SDK's standard chain.
    gameLift: { region },
    listen: parseListen(
      flags.opsListen ?? env.OPS_LISTEN ?? ':8080',
      flags.opsListen ? '--ops-listen' : 'OPS_LISTEN',
    ),
    leaderElection: false,
  };
  if (flags.leaderElect) {
    const timings = {
      leaseDurationMs: seconds(flags.leaseDuration, '--lease-duration'),
      renewDeadlineMs: seconds(flags.renewDeadline, '--renew-deadline'),
      retryPeriodMs: seconds(flags.retryPeriod, '--retry-period'),
    };
    checkLeaseTimings(timings);
    const namespace =
      flags.leaseNamespace || env.POD_NAMESPACE || readServiceAccountNamespace(readText) || 'default';
    const identity = flags.identity || env.POD_NAME || hostname();
    if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(flags.leaseName) || flags.leaseName.length > 253) {
      throw new ConfigError('--lease-name', `must be a DNS subdomain name, got "${flags.leaseName}"`);
    }
    options.leaderElection = { namespace, name: flags.leaseName, identity, ...timings };
  }
  return options;
}

function seconds(value: string, setting: string): number {
  const n = Number(value.replace(/s$/, ''));
  if (!Number.isFinite(n) || n <= 0)
    throw new ConfigError(setting, `expected seconds like 15 or 15s, got "${value}"`);
  return Math.round(n * 1000);
}

function readServiceAccountNamespace(readText: (path: string) => string): string | undefined {
  try {
    return readText(SERVICE_ACCOUNT_NAMESPACE).trim() || undefined;
  } catch {
    return undefined;
  }
}

export function registerPubsubCommand(program: Command): Command {
  return program
    .command('pubsub')
    .description(
      'Poll FleetIQ DescribeGameServerInstances and publish each instance status to Redis (channel = instance id, ' +
        'latest status under fleetiq:instance-status:<id>). Env: REDIS_URL, AWS_REGION (required), ' +
        'STATUS_SIGNING_SECRET, POD_NAME, POD_NAMESPACE; AWS credentials and AWS_ENDPOINT_URL_GAMELIFT via the SDK chain.',
    )
    .option(
      '--config <path>',
      'fleetiq.conf (JSON: {"GameServerGroups": [...]}); changes apply without a restart',
      DEFAULT_CONFIG_PATH,
    )
    .option(
      '--ops-listen <host:port>',
      'address of /healthz, /readyz and /metrics (env: OPS_LISTEN; default ":8080")',
    )
    .option(
      '--signing-secret-file <path>',
      'file holding the HMAC-SHA256 key to sign messages with (overrides STATUS_SIGNING_SECRET)',
    )
    .option('--no-leader-elect', 'poll without a Lease (only for a single replica)')
    .option('--lease-name <name>', 'name of the coordination.k8s.io/v1 Lease', 'fleetiq-agones-pubsub')
    .option(
      '--lease-namespace <namespace>',
      'namespace of the Lease (default: POD_NAMESPACE, else the service account namespace)',
    )
    .option(
      '--lease-duration <seconds>',
      'how long a follower waits before taking over an unrenewed lease',
      String(DEFAULT_LEASE_TIMINGS.leaseDurationMs / 1000),
    )
    .option(
      '--renew-deadline <seconds>',
      'the leader steps down when it could not renew for this long',
      String(DEFAULT_LEASE_TIMINGS.renewDeadlineMs / 1000),
    )
    .option(
      '--retry-period <seconds>',
      'how often to try to acquire or renew the lease',
      String(DEFAULT_LEASE_TIMINGS.retryPeriodMs / 1000),
    )
    .option('--identity <name>', 'holderIdentity in the Lease (default: POD_NAME, else the hostname)')
    .action(async (flags: PubsubFlags) => {
      const options = resolvePubsubOptions(flags, process.env);
      const logger = createLogger('pubsub');
      const service = await startPubsub({ ...options, logger });
      await new Promise<void>((resolve) => {
        const shutdown = (signal: string) => {
          logger.info({ signal }, 'pubsub: shutting down');
          // Kubernetes' default grace period is 30 s: finish well within it, whatever happens.
          setTimeout(() => {
            logger.error('pubsub: shutdown took too long; exiting');
            process.exit(1);
          }, 25_000).unref();
          service.stop({ release: true }).then(resolve, (err: unknown) => {
            logger.error({ err }, 'pubsub: shutdown failed');
            process.exit(1);
          });
        };
        process.once('SIGTERM', () => shutdown('SIGTERM'));
        process.once('SIGINT', () => shutdown('SIGINT'));
      });
    });
}
