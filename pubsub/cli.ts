import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Command } from 'commander';
import { runComponent } from '../shared/component.js';
import { formatDuration } from '../shared/duration.js';
import { createLogger } from '../shared/logger.js';
import { ConfigError } from '../shared/ops-server.js';
import {
  addSettings,
  componentCommand,
  givenFlags,
  SettingsReader,
  type SettingsTable,
} from '../shared/settings.js';
import { VERSION } from '../shared/version.js';
import { DEFAULT_CONFIG_PATH, loadConfigFile } from './config.js';
import { checkLeaseTimings, DEFAULT_LEASE_TIMINGS } from './leader-election.js';
import { parseRedisUrl } from '../shared/redis-url.js';
import { startPubsub, type PubsubOptions } from './service.js';

const SERVICE_ACCOUNT_NAMESPACE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

/** Flags as commander hands them over (camelCase of each long option); absent when not given. */
export interface PubsubFlags {
  config?: string;
  redisUrl?: string;
  opsListen?: string;
  signingSecretFile?: string;
  leaderElect?: boolean | string;
  leaseName?: string;
  leaseNamespace?: string;
  leaseDuration?: string;
  renewDeadline?: string;
  retryPeriod?: string;
  identity?: string;
}

/** pubsub's settings (flags and variables); the poll tuning lives in fleetiq.conf (config.ts). */
export const PUBSUB_SETTINGS: SettingsTable = [
  {
    flag: '--config',
    env: 'FLEETIQ_CONFIG',
    default: DEFAULT_CONFIG_PATH,
    value: '<path>',
    help: 'fleetiq.conf (JSON: {"GameServerGroups": [...]}); changes apply without a restart',
  },
  {
    flag: '--redis-url',
    env: 'REDIS_URL',
    defaultText: 'required',
    value: '<url>',
    help: 'host:port, redis://... or rediss://...',
  },
  {
    flag: '--ops-listen',
    env: 'OPS_LISTEN',
    default: ':8080',
    value: '<host:port>',
    help: 'address of /healthz, /readyz and /metrics',
  },
  {
    flag: '--signing-secret-file',
    env: 'STATUS_SIGNING_SECRET_FILE',
    value: '<path>',
    help: 'file holding the HMAC-SHA256 key to sign messages with (wins over STATUS_SIGNING_SECRET)',
  },
  {
    flag: '--leader-elect',
    env: 'LEADER_ELECT',
    default: 'true',
    boolean: true,
    negatable: true,
    help: 'poll only while holding the Lease (false: only for a single replica)',
  },
  {
    flag: '--lease-name',
    env: 'LEASE_NAME',
    default: 'fleetiq-agones-pubsub',
    value: '<name>',
    help: 'name of the coordination.k8s.io/v1 Lease',
  },
  {
    flag: '--lease-namespace',
    env: 'LEASE_NAMESPACE',
    defaultText: 'default POD_NAMESPACE, else the service account namespace',
    value: '<namespace>',
    help: 'namespace of the Lease',
  },
  {
    flag: '--lease-duration',
    env: 'LEASE_DURATION',
    default: formatDuration(DEFAULT_LEASE_TIMINGS.leaseDurationMs),
    value: '<duration>',
    help: 'how long a follower waits before taking over an unrenewed lease',
  },
  {
    flag: '--renew-deadline',
    env: 'RENEW_DEADLINE',
    default: formatDuration(DEFAULT_LEASE_TIMINGS.renewDeadlineMs),
    value: '<duration>',
    help: 'the leader steps down when it could not renew for this long',
  },
  {
    flag: '--retry-period',
    env: 'RETRY_PERIOD',
    default: formatDuration(DEFAULT_LEASE_TIMINGS.retryPeriodMs),
    value: '<duration>',
    help: 'how often to try to acquire or renew the lease',
  },
  {
    flag: '--identity',
    env: 'LEASE_IDENTITY',
    defaultText: 'default POD_NAME, else the hostname',
    value: '<name>',
    help: 'holderIdentity in the Lease',
  },
];

/** Kubernetes' default grace period is 30 s: the process leaves well within it, whatever happens. */
export const PUBSUB_SHUTDOWN_DEADLINE_MS = 25_000;

/**
 * Turns flags and environment into service options, validating everything up front so that a bad
 * setting stops the process at start with a message naming it (ConfigError).
 */
export function resolvePubsubOptions(
  flags: PubsubFlags,
  env: NodeJS.ProcessEnv,
  readText: (path: string) => string = (p) => readFileSync(p, 'utf8'),
): Omit<PubsubOptions, 'logger'> {
  const r = new SettingsReader(PUBSUB_SETTINGS, flags, env);
  const configPath = r.required('--config');
  const config = loadConfigFile(configPath);
  const redisUrl = r.required('--redis-url');
  parseRedisUrl(redisUrl, r.name('--redis-url')); // throws naming it, never echoing a password
  const region = env.AWS_REGION?.trim();
  if (!region) {
    throw new ConfigError('AWS_REGION', 'is required (the region of the game server groups, e.g. us-west-2)');
  }

  let signingSecret: string | undefined;
  const secretFile = r.string('--signing-secret-file');
  if (secretFile) {
    try {
      signingSecret = readText(secretFile).replace(/\r?\n$/, '');
    } catch (err) {
      throw r.error(
        '--signing-secret-file',
        `cannot read ${secretFile}: ${(err as NodeJS.ErrnoException).code ?? err}`,
      );
    }
    if (signingSecret === '') throw r.error('--signing-secret-file', `${secretFile} is empty`);
  } else if (env.STATUS_SIGNING_SECRET !== undefined) {
    signingSecret = env.STATUS_SIGNING_SECRET;
    if (signingSecret === '') throw new ConfigError('STATUS_SIGNING_SECRET', 'is set but empty');
  }

  const options: Omit<PubsubOptions, 'logger'> = {
    config,
    configPath,
    redisUrl,
    signingSecret,
    // Credentials and AWS_ENDPOINT_URL_GAMELIFT come from the SDK's standard chain.
    gameLift: { region },
    listen: r.listen('--ops-listen'),
    leaderElection: false,
  };
  if (r.boolean('--leader-elect')) {
    const timings = {
      leaseDurationMs: r.duration('--lease-duration', { min: 1 }),
      renewDeadlineMs: r.duration('--renew-deadline', { min: 1 }),
      retryPeriodMs: r.duration('--retry-period', { min: 1 }),
    };
    checkLeaseTimings(timings);
    const namespace =
      r.string('--lease-namespace') ||
      env.POD_NAMESPACE ||
      readServiceAccountNamespace(readText) ||
      'default';
    const identity = r.string('--identity') || env.POD_NAME || hostname();
    const leaseName = r.string('--lease-name') ?? '';
    if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(leaseName) || leaseName.length > 253) {
      throw r.error('--lease-name', `must be a DNS subdomain name, got "${leaseName}"`);
    }
    options.leaderElection = { namespace, name: leaseName, identity, ...timings };
  }
  return options;
}

function readServiceAccountNamespace(readText: (path: string) => string): string | undefined {
  try {
    return readText(SERVICE_ACCOUNT_NAMESPACE).trim() || undefined;
  } catch {
    return undefined;
  }
}

export function registerPubsubCommand(program: Command): Command {
  const cmd = componentCommand(
    program
      .command('pubsub')
      .description(
        'Poll FleetIQ DescribeGameServerInstances and publish each instance status to Redis (channel = instance id, ' +
          'latest status under fleetiq:instance-status:<id>). Each setting is a flag or the environment variable in ' +
          'brackets. Also: STATUS_SIGNING_SECRET (env only; empty is refused), POD_NAME, POD_NAMESPACE, ' +
          'AWS_REGION (required), AWS credentials and AWS_ENDPOINT_URL_GAMELIFT via the SDK chain, KUBECONFIG ' +
          '(else in-cluster), LOG_LEVEL.',
      ),
    VERSION,
  );
  addSettings(cmd, PUBSUB_SETTINGS);
  return cmd.action(async (_flags: PubsubFlags, command: Command) => {
    const options = resolvePubsubOptions(givenFlags(command), process.env);
    const logger = createLogger('pubsub');
    const service = await startPubsub({ ...options, logger });
    await runComponent({
      name: 'pubsub',
      logger,
      component: service,
      shutdownDeadlineMs: PUBSUB_SHUTDOWN_DEADLINE_MS,
    });
  });
}
