// The node agent's configuration: environment variables (what a DaemonSet sets) overridden by
// command-line flags. Every value is checked at start; an invalid one stops the agent with a message
// naming the setting, rather than an agent that misbehaves on the day a node drains.
import { readFileSync } from 'node:fs';
import { ConfigError, parseListen } from '../shared/ops-server.js';
import { describeRedis, parseRedisUrl, type RedisConnectionOptions } from '../shared/redis-url.js';
import {
  SPOT_NOTICE_MARGIN_SECONDS,
  SPOT_NOTICE_MS,
  type DecideConfig,
  type UtilizationMode,
} from './decide.js';
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
export type ReconcilerFlags = Partial<Record<FlagName, string | boolean | undefined>>;

type FlagName = (typeof SETTINGS)[number]['flag'];

/** Each setting: its environment variable, its flag, its default (undefined: required), and help. */
export const SETTINGS = [
  { env: 'NODE_NAME', flag: 'nodeName', default: undefined, help: 'this node (downward API spec.nodeName)' },
  {
    env: 'GAME_SERVER_GROUP',
    flag: 'gameServerGroup',
    default: undefined,
    help: 'FleetIQ game server group name or ARN',
  },
  { env: 'REDIS_URL', flag: 'redisUrl', default: undefined, help: 'host:port, redis://... or rediss://...' },
  { env: 'UTILIZATION_MODE', flag: 'utilizationMode', default: 'allocated', help: 'allocated | always' },
  {
    env: 'IDLE_PERIOD',
    flag: 'idlePeriod',
    default: '5m',
    help: 'allocated mode: idle time before AVAILABLE again',
  },
  { env: 'HEALTH_INTERVAL', flag: 'healthInterval', default: '30s', help: 'health report interval (5s-50s)' },
  {
    env: 'STATUS_STALE_AFTER',
    flag: 'statusStaleAfter',
    default: '2m',
    help: 'a status older than this is stale',
  },
  {
    env: 'FLEETIQ_FALLBACK_INTERVAL',
    flag: 'fleetiqFallbackInterval',
    default: '4m',
    help: 'own DescribeGameServerInstances interval while Redis is down or stale (>= 3m)',
  },
  {
    env: 'DRAIN_MAX_WAIT',
    flag: 'drainMaxWait',
    default: '1h',
    help: 'warn when a drain waits longer than this',
  },
  {
    env: 'DRAIN_FORCE_AFTER_MAX_WAIT',
    flag: 'drainForceAfterMaxWait',
    default: 'false',
    help: 'delete remaining session pods after the max wait',
  },
  {
    env: 'DRAIN_FORCE_GRACE',
    flag: 'drainForceGrace',
    default: '30s',
    help: 'grace period of forced deletions',
  },
  {
    env: 'PROTECT_RESERVED',
    flag: 'protectReserved',
    default: 'true',
    help: 'Reserved game servers count as sessions',
  },
  {
    env: 'SPOT_GRACE',
    flag: 'spotGrace',
    default: '90s',
    help: 'max grace period for game server pods on a Spot notice',
  },
  {
    env: 'IMDS_ENDPOINT',
    flag: 'imdsEndpoint',
    default: DEFAULT_IMDS_ENDPOINT,
    help: 'instance metadata endpoint',
  },
  { env: 'IMDS_TIMEOUT', flag: 'imdsTimeout', default: '2s', help: 'per IMDS request' },
  {
    env: 'SPOT_NOTICE_POLL_INTERVAL',
    flag: 'spotNoticePollInterval',
    default: '2s',
    help: 'poll the Spot interruption notice in instance metadata this often (0: off)',
  },
  {
    env: 'DRAINING_STABLE_FOR',
    flag: 'drainingStableFor',
    default: '15s',
    help: 'deregister an empty node only once FleetIQ still says DRAINING this long after the drain began',
  },
  {
    env: 'STRANDED_AFTER',
    flag: 'strandedAfter',
    default: '10m',
    help: 'report a node still alive this long after its deregistration (NodeStranded)',
  },
  { env: 'OPS_LISTEN', flag: 'opsListen', default: ':8080', help: '/healthz /readyz /metrics address' },
  {
    env: 'SHUTDOWN_GRACE',
    flag: 'shutdownGrace',
    default: '10s',
    help: 'on SIGTERM, time for the step in flight before exiting (keep below the pod grace period)',
  },
] as const;

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
  const get = (flag: FlagName): { value: string | undefined; setting: string } => {
    const s = SETTINGS.find((x) => x.flag === flag)!;
    const fromFlag = flags[flag];
    if (fromFlag !== undefined) return { value: String(fromFlag), setting: `--${kebab(flag)}` };
    const fromEnv = env[s.env];
    if (fromEnv !== undefined && fromEnv !== '') return { value: fromEnv, setting: s.env };
    return { value: s.default, setting: s.env };
  };
  const required = (flag: FlagName): { value: string; setting: string } => {
    const r = get(flag);
    if (r.value === undefined || r.value.trim() === '') throw new ConfigError(r.setting, 'is required');
    return { value: r.value.trim(), setting: r.setting };
  };
  const duration = (flag: FlagName, min: number, max: number): number => {
    const r = get(flag);
    const ms = parseDuration(r.value!, r.setting);
    if (ms < min || ms > max)
      throw new ConfigError(
        r.setting,
        `must be between ${formatDuration(min)} and ${formatDuration(max)}, got "${r.value}"`,
      );
    return ms;
  };
  const bool = (flag: FlagName): boolean => {
    const r = get(flag);
    return parseBoolean(r.value!, r.setting);
  };

  const node = required('nodeName');
  if (!DNS_SUBDOMAIN.test(node.value) || node.value.length > 253)
    throw new ConfigError(node.setting, `"${node.value}" is not a valid node name`);
  const group = required('gameServerGroup');
  if (group.value.length > 256 || !(GROUP_NAME.test(group.value) || GROUP_ARN.test(group.value)))
    throw new ConfigError(group.setting, `"${group.value}" is not a game server group name or ARN`);
  const redisUrl = required('redisUrl');
  const redis = parseRedisUrl(redisUrl.value, redisUrl.setting);

  const mode = get('utilizationMode');
  if (mode.value !== 'allocated' && mode.value !== 'always')
    throw new ConfigError(mode.setting, `must be "allocated" or "always", got "${mode.value}"`);

  const secret = signingSecret(env, readText);

  const imds = get('imdsEndpoint');
  if (!/^https?:\/\/[^/\s]+\/?$/.test(imds.value!))
    throw new ConfigError(imds.setting, `must be an http(s) URL with no path, got "${imds.value}"`);
  const listen = get('opsListen');

  const spotMax = SPOT_NOTICE_MS - SPOT_NOTICE_MARGIN_SECONDS * 1000;
  const decide: DecideConfig = {
    utilizationMode: mode.value as UtilizationMode,
    protectReserved: bool('protectReserved'),
    statusStaleAfterMs: duration('statusStaleAfter', 15_000, 3_600_000),
    idlePeriodMs: duration('idlePeriod', 30_000, 86_400_000),
    drainMaxWaitMs: duration('drainMaxWait', 60_000, 7 * 86_400_000),
    forceAfterMaxWait: bool('drainForceAfterMaxWait'),
    forceGraceSeconds: duration('drainForceGrace', 1_000, 3_600_000) / 1000,
    spotGraceSeconds: duration('spotGrace', 1_000, spotMax) / 1000,
    drainingStableMs: duration('drainingStableFor', 0, 600_000),
    strandedAfterMs: duration('strandedAfter', 60_000, 7 * 86_400_000),
  };
  const spotPoll = get('spotNoticePollInterval');
  const spotNoticePollIntervalMs = parseDuration(spotPoll.value!, spotPoll.setting);
  if (spotNoticePollIntervalMs !== 0 && (spotNoticePollIntervalMs < 500 || spotNoticePollIntervalMs > 60_000))
    throw new ConfigError(
      spotPoll.setting,
      `must be 0 (off) or between 500ms and 1m, got "${spotPoll.value}" (the notice comes 2 minutes ahead)`,
    );
  return {
    nodeName: node.value,
    gameServerGroup: group.value,
    redis,
    redisDescription: describeRedis(redis),
    ...(secret !== undefined ? { statusSigningSecret: secret } : {}),
    healthIntervalMs: duration('healthInterval', 5_000, MAX_HEALTH_INTERVAL_MS),
    fleetiqFallbackIntervalMs: duration(
      'fleetiqFallbackInterval',
      MIN_FLEETIQ_FALLBACK_INTERVAL_MS,
      3_600_000,
    ),
    imdsEndpoint: imds.value!.replace(/\/$/, ''),
    imdsTimeoutMs: duration('imdsTimeout', 100, 30_000),
    spotNoticePollIntervalMs,
    opsListen: parseListen(listen.value!, listen.setting),
    shutdownGraceMs: duration('shutdownGrace', 1_000, 120_000),
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

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * A duration like Go's: `30s`, `5m`, `1h30m`, `250ms`, `1.5h`, or a plain number of seconds.
 * Whole milliseconds; negative or empty values are refused.
 */
export function parseDuration(value: string, setting: string): number {
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  if (!/^(\d+(\.\d+)?(ms|s|m|h|d))+$/.test(v))
    throw new ConfigError(setting, `expected a duration like 30s, 5m or 1h30m, got "${value}"`);
  let ms = 0;
  for (const m of v.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)) ms += Number(m[1]) * UNITS[m[2]];
  return Math.round(ms);
}

export function parseBoolean(value: string, setting: string): boolean {
  const v = value.trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(v)) return true;
  if (['false', '0', 'no', 'off'].includes(v)) return false;
  throw new ConfigError(setting, `expected true or false, got "${value}"`);
}

function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  if (ms % 86_400_000 === 0) return `${ms / 86_400_000}d`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

function kebab(flag: string): string {
  return flag.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}
