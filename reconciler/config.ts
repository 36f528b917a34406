// The node agent's configuration: environment variables (what a DaemonSet sets) overridden by
// command-line flags. Every value is checked at start; an invalid one stops the agent with a message
// naming the setting, rather than an agent that misbehaves on the day a node drains.
import { readFileSync } from 'node:fs';
import { ConfigError } from '../shared/ops-server.js';
import { SettingsReader, type SettingsTable } from '../shared/settings.js';
import { DEFAULT_PROTECT_RESERVED } from '../shared/drain-contract.js';
import { describeRedis, parseRedisUrl, type RedisConnectionOptions } from '../shared/redis-url.js';
import { SPOT_NOTICE_MARGIN_SECONDS, SPOT_NOTICE_MS, type DecideConfig } from './decide.js';
import { DEFAULT_IMDS_ENDPOINT } from './identity.js';

export interface ReconcilerConfig {
  nodeName: string;
  /** Game server group name or ARN. */
  gameServerGroup: string;
  redis: RedisConnectionOptions;
  /** For logs: where Redis is, without secrets. */
  redisDescription: string;
  /** HMAC secret shared with pubsub; when set, unsigned status messages are refused. */
  statusSigningSecret?: string;
  /** Mean time between health reports; each wait is jittered and never exceeds 60 s. */
  healthIntervalMs: number;
  /** Mean time between the agent's own DescribeGameServerInstances calls while Redis is down or stale. */
  fleetiqFallbackIntervalMs: number;
  imdsEndpoint: string;
  imdsTimeoutMs: number;
  /** Between two polls of the instance's Spot interruption notice in instance metadata; 0: off. */
  spotNoticePollIntervalMs: number;
  opsListen: { host: string; port: number };
  /** SIGTERM: how long the step in flight may take before the agent exits anyway (it never deregisters). */
  shutdownGraceMs: number;
  /** What decide() needs. */
  decide: DecideConfig;
}

/** Flags as commander hands them over (camelCase of the long option); undefined when not given. */
export type ReconcilerFlags = Record<string, string | boolean | undefined>;

/** Each setting: its flag, its environment variable, its default (none: required), and help. */
export const SETTINGS: SettingsTable = [
  {
    flag: '--node-name',
    env: 'NODE_NAME',
    defaultText: 'required',
    help: 'this node (downward API spec.nodeName)',
  },
  {
    flag: '--game-server-group',
    env: 'GAME_SERVER_GROUP',
    defaultText: 'required',
    help: 'FleetIQ game server group name or ARN',
  },
  {
    flag: '--redis-url',
    env: 'REDIS_URL',
    defaultText: 'required',
    help: 'host:port, redis://... or rediss://...',
  },
  { flag: '--utilization-mode', env: 'UTILIZATION_MODE', default: 'allocated', help: 'allocated | always' },
  {
    flag: '--idle-period',
    env: 'IDLE_PERIOD',
    default: '5m',
    help: 'allocated mode: idle time before AVAILABLE again',
  },
  {
    flag: '--health-interval',
    env: 'HEALTH_INTERVAL',
    default: '30s',
    help: 'health report interval (5s-50s)',
  },
  {
    flag: '--status-stale-after',
    env: 'STATUS_STALE_AFTER',
    default: '2m',
    help: 'a status older than this is stale',
  },
  {
    flag: '--fleetiq-fallback-interval',
    env: 'FLEETIQ_FALLBACK_INTERVAL',
    default: '4m',
    help: 'own DescribeGameServerInstances interval while Redis is down or stale (>= 3m)',
  },
  {
    flag: '--drain-max-wait',
    env: 'DRAIN_MAX_WAIT',
    default: '1h',
    help: 'warn when a drain waits longer than this',
  },
  {
    flag: '--drain-force-after-max-wait',
    env: 'DRAIN_FORCE_AFTER_MAX_WAIT',
    default: 'false',
    boolean: true,
    help: 'delete remaining session pods after the max wait',
  },
  {
    flag: '--drain-force-grace',
    env: 'DRAIN_FORCE_GRACE',
    default: '30s',
    help: 'grace period of forced deletions',
  },
  {
    flag: '--protect-reserved',
    env: 'PROTECT_RESERVED',
    default: String(DEFAULT_PROTECT_RESERVED),
    boolean: true,
    help: 'Reserved game servers count as sessions',
  },
  {
    flag: '--spot-grace',
    env: 'SPOT_GRACE',
    default: '90s',
    help: 'max grace period for game server pods on a Spot notice',
  },
  {
    flag: '--imds-endpoint',
    env: 'IMDS_ENDPOINT',
    default: DEFAULT_IMDS_ENDPOINT,
    help: 'instance metadata endpoint',
  },
  { flag: '--imds-timeout', env: 'IMDS_TIMEOUT', default: '2s', help: 'per IMDS request' },
  {
    flag: '--spot-notice-poll-interval',
    env: 'SPOT_NOTICE_POLL_INTERVAL',
    default: '2s',
    help: 'poll the Spot interruption notice in instance metadata this often (0: off)',
  },
  {
    flag: '--draining-stable-for',
    env: 'DRAINING_STABLE_FOR',
    default: '15s',
    help: 'deregister an empty node only once FleetIQ still says DRAINING this long after the drain began',
  },
  {
    flag: '--stranded-after',
    env: 'STRANDED_AFTER',
    default: '10m',
    help: 'report a node still alive this long after its deregistration (NodeStranded)',
  },
  {
    flag: '--karpenter-drains',
    env: 'KARPENTER_DRAINS',
    default: 'false',
    boolean: true,
    help: "drain the node like a drain request while Karpenter's karpenter.sh/disrupted taint is on it",
  },
  { flag: '--ops-listen', env: 'OPS_LISTEN', default: ':8080', help: '/healthz /readyz /metrics address' },
  {
    flag: '--shutdown-grace',
    env: 'SHUTDOWN_GRACE',
    default: '10s',
    help: 'on SIGTERM, time for the step in flight before exiting (keep below the pod grace period)',
  },
];

/** Environment-only (never a flag: a secret on a command line shows in `ps`). */
export const STATUS_SIGNING_SECRET_ENV = 'STATUS_SIGNING_SECRET';
/** A file holding the secret instead (a mounted Secret); wins over STATUS_SIGNING_SECRET. */
export const STATUS_SIGNING_SECRET_FILE_ENV = 'STATUS_SIGNING_SECRET_FILE';

const MAX_HEALTH_INTERVAL_MS = 50_000;
/** 1,000 agents at this interval make under 6 calls/s together: a small share of the API's quota. */
export const MIN_FLEETIQ_FALLBACK_INTERVAL_MS = 180_000;

export function parseReconcilerConfig(
  env: Record<string, string | undefined>,
  flags: ReconcilerFlags = {},
  readText: (path: string) => string = (path) => readFileSync(path, 'utf8'),
): ReconcilerConfig {
  const r = new SettingsReader(SETTINGS, flags, env);

  const nodeName = r.required('--node-name');
  if (!DNS_SUBDOMAIN.test(nodeName) || nodeName.length > 253)
    throw r.error('--node-name', `"${nodeName}" is not a valid node name`);
  const gameServerGroup = r.required('--game-server-group');
  if (gameServerGroup.length > 256 || !(GROUP_NAME.test(gameServerGroup) || GROUP_ARN.test(gameServerGroup)))
    throw r.error('--game-server-group', `"${gameServerGroup}" is not a game server group name or ARN`);
  const redis = parseRedisUrl(r.required('--redis-url'), r.name('--redis-url'));

  const mode = r.string('--utilization-mode');
  if (mode !== 'allocated' && mode !== 'always')
    throw r.error('--utilization-mode', `must be "allocated" or "always", got "${mode}"`);

  const secret = signingSecret(env, readText);

  const imds = r.string('--imds-endpoint')!;
  if (!/^https?:\/\/[^/\s]+\/?$/.test(imds))
    throw r.error('--imds-endpoint', `must be an http(s) URL with no path, got "${imds}"`);

  const spotMax = SPOT_NOTICE_MS - SPOT_NOTICE_MARGIN_SECONDS * 1000;
  const decide: DecideConfig = {
    utilizationMode: mode,
    protectReserved: r.boolean('--protect-reserved'),
    statusStaleAfterMs: r.duration('--status-stale-after', { min: 15_000, max: 3_600_000 }),
    idlePeriodMs: r.duration('--idle-period', { min: 30_000, max: 86_400_000 }),
    drainMaxWaitMs: r.duration('--drain-max-wait', { min: 60_000, max: 7 * 86_400_000 }),
    forceAfterMaxWait: r.boolean('--drain-force-after-max-wait'),
    forceGraceSeconds: r.duration('--drain-force-grace', { min: 1_000, max: 3_600_000 }) / 1000,
    spotGraceSeconds: r.duration('--spot-grace', { min: 1_000, max: spotMax }) / 1000,
    drainingStableMs: r.duration('--draining-stable-for', { min: 0, max: 600_000 }),
    strandedAfterMs: r.duration('--stranded-after', { min: 60_000, max: 7 * 86_400_000 }),
    karpenterDrains: r.boolean('--karpenter-drains'),
  };
  const spotNoticePollIntervalMs = r.duration('--spot-notice-poll-interval');
  if (spotNoticePollIntervalMs !== 0 && (spotNoticePollIntervalMs < 500 || spotNoticePollIntervalMs > 60_000))
    throw r.error(
      '--spot-notice-poll-interval',
      `must be 0 (off) or between 500ms and 1m, got "${r.string('--spot-notice-poll-interval')}" (the notice comes 2 minutes ahead)`,
    );
  return {
    nodeName,
    gameServerGroup,
    redis,
    redisDescription: describeRedis(redis),
    ...(secret !== undefined ? { statusSigningSecret: secret } : {}),
    healthIntervalMs: r.duration('--health-interval', { min: 5_000, max: MAX_HEALTH_INTERVAL_MS }),
    fleetiqFallbackIntervalMs: r.duration('--fleetiq-fallback-interval', {
      min: MIN_FLEETIQ_FALLBACK_INTERVAL_MS,
      max: 3_600_000,
    }),
    imdsEndpoint: imds.replace(/\/$/, ''),
    imdsTimeoutMs: r.duration('--imds-timeout', { min: 100, max: 30_000 }),
    spotNoticePollIntervalMs,
    opsListen: r.listen('--ops-listen'),
    shutdownGraceMs: r.duration('--shutdown-grace', { min: 1_000, max: 120_000 }),
    decide,
  };
}

/**
 * The status signing secret, or undefined when signing is off (neither variable set). Set but empty
 * fails closed, as in pubsub: an empty value is a Secret that was not filled in, and treating it as
 * "no signing" would make the agent act on statuses anyone who can write Redis can forge.
 */
function signingSecret(
  env: Record<string, string | undefined>,
  readText: (path: string) => string,
): string | undefined {
  const path = env[STATUS_SIGNING_SECRET_FILE_ENV];
  let secret: string | undefined;
  let setting = STATUS_SIGNING_SECRET_ENV;
  if (path !== undefined && path !== '') {
    setting = STATUS_SIGNING_SECRET_FILE_ENV;
    try {
      // One trailing newline is what `echo ... > file` or a Secret created from such a file adds.
      secret = readText(path).replace(/\r?\n$/, '');
    } catch (err) {
      throw new ConfigError(setting, `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? err}`);
    }
    if (secret === '')
      throw new ConfigError(
        setting,
        `${path} is empty (signing would be off); put the key pubsub signs with in it`,
      );
  } else {
    secret = env[STATUS_SIGNING_SECRET_ENV];
    if (secret === undefined) return undefined;
    if (secret === '')
      throw new ConfigError(
        setting,
        'is set but empty (signing would be off); set it to the key pubsub signs with, or unset it to run unsigned',
      );
  }
  if (secret.trim() !== secret)
    // A trailing newline from `kubectl create secret --from-file` would make every signature differ.
    throw new ConfigError(setting, 'must not start or end with whitespace');
  return secret;
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const GROUP_NAME = /^[a-zA-Z0-9.-]+$/;
const GROUP_ARN = /^arn:[^:]+:gamelift:[^:]*:[^:]*:gameservergroup\/[a-zA-Z0-9.-]+$/;
