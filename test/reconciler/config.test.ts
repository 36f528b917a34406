import { describe, expect, it } from '@jest/globals';
import { SETTINGS, parseReconcilerConfig } from '../../reconciler/config.js';
import { parseDuration } from '../../shared/duration.js';
import { configError } from '../helpers/config-error.js';

const BASE = {
  NODE_NAME: 'ip-10-0-1-23.ec2.internal',
  GAME_SERVER_GROUP: 'agones-game-servers',
  REDIS_URL: 'redis:6379',
};

describe('reconciler configuration', () => {
  it('applies the defaults', () => {
    const c = parseReconcilerConfig(BASE);
    expect(c).toMatchObject({
      nodeName: 'ip-10-0-1-23.ec2.internal',
      gameServerGroup: 'agones-game-servers',
      redis: { host: 'redis', port: 6379 },
      redisDescription: 'redis://redis:6379/0',
      healthIntervalMs: 30_000,
      fleetiqFallbackIntervalMs: 240_000,
      imdsEndpoint: 'http://169.254.169.254',
      imdsTimeoutMs: 2_000,
      spotNoticePollIntervalMs: 2_000,
      opsListen: { host: '0.0.0.0', port: 8080 },
      decide: {
        utilizationMode: 'allocated',
        protectReserved: true,
        statusStaleAfterMs: 120_000,
        idlePeriodMs: 300_000,
        drainMaxWaitMs: 3_600_000,
        forceAfterMaxWait: false,
        forceGraceSeconds: 30,
        spotGraceSeconds: 90,
        drainingStableMs: 15_000,
        strandedAfterMs: 600_000,
        karpenterDrains: false,
      },
    });
    expect(c.statusSigningSecret).toBeUndefined();
  });

  it('reads every setting from the environment, and flags win over it', () => {
    const env = {
      ...BASE,
      GAME_SERVER_GROUP: 'arn:aws:gamelift:us-east-1:123456789012:gameservergroup/agones-game-servers',
      REDIS_URL: 'rediss://:pw@cache.example.com:6380/2',
      STATUS_SIGNING_SECRET: 'shared-secret',
      UTILIZATION_MODE: 'always',
      IDLE_PERIOD: '10m',
      HEALTH_INTERVAL: '20s',
      STATUS_STALE_AFTER: '90s',
      FLEETIQ_FALLBACK_INTERVAL: '5m',
      DRAIN_MAX_WAIT: '2h',
      DRAIN_FORCE_AFTER_MAX_WAIT: 'true',
      DRAIN_FORCE_GRACE: '45s',
      PROTECT_RESERVED: 'false',
      SPOT_GRACE: '60s',
      IMDS_ENDPOINT: 'http://127.0.0.1:1338/',
      IMDS_TIMEOUT: '500ms',
      SPOT_NOTICE_POLL_INTERVAL: '0',
      DRAINING_STABLE_FOR: '30s',
      STRANDED_AFTER: '1h',
      KARPENTER_DRAINS: 'true',
      OPS_LISTEN: '127.0.0.1:9102',
    };
    const c = parseReconcilerConfig(env, {
      healthInterval: '10s',
      utilizationMode: 'allocated',
      drainForceAfterMaxWait: false,
      strandedAfter: '20m',
    });
    expect(c).toMatchObject({
      gameServerGroup: env.GAME_SERVER_GROUP,
      redis: {
        host: 'cache.example.com',
        port: 6380,
        db: 2,
        password: 'pw',
        tls: { servername: 'cache.example.com' },
      },
      redisDescription: 'rediss://:***@cache.example.com:6380/2',
      statusSigningSecret: 'shared-secret',
      healthIntervalMs: 10_000,
      fleetiqFallbackIntervalMs: 300_000,
      imdsEndpoint: 'http://127.0.0.1:1338',
      imdsTimeoutMs: 500,
      spotNoticePollIntervalMs: 0,
      opsListen: { host: '127.0.0.1', port: 9102 },
      decide: {
        utilizationMode: 'allocated',
        protectReserved: false,
        statusStaleAfterMs: 90_000,
        idlePeriodMs: 600_000,
        drainMaxWaitMs: 7_200_000,
        forceAfterMaxWait: false,
        forceGraceSeconds: 45,
        spotGraceSeconds: 60,
        drainingStableMs: 30_000,
        strandedAfterMs: 1_200_000,
        karpenterDrains: true,
      },
    });
  });

  it.each([
    [{ NODE_NAME: undefined }, {}, 'NODE_NAME', /is required/],
    [{ NODE_NAME: 'Not_A_Node' }, {}, 'NODE_NAME', /not a valid node name/],
    [{}, { nodeName: 'Bad Name' }, '--node-name', /not a valid node name/],
    [{ GAME_SERVER_GROUP: '' }, {}, 'GAME_SERVER_GROUP', /is required/],
    [{ GAME_SERVER_GROUP: 'bad group!' }, {}, 'GAME_SERVER_GROUP', /not a game server group/],
    [{ GAME_SERVER_GROUP: 'x'.repeat(257) }, {}, 'GAME_SERVER_GROUP', /not a game server group/],
    [{ REDIS_URL: undefined }, {}, 'REDIS_URL', /is required/],
    [{ REDIS_URL: 'http://redis:6379' }, {}, 'REDIS_URL', /unsupported scheme/],
    [{}, { redisUrl: 'redis:99999' }, '--redis-url', /port/],
    [{ UTILIZATION_MODE: 'sometimes' }, {}, 'UTILIZATION_MODE', /"allocated" or "always"/],
    [{ HEALTH_INTERVAL: '55s' }, {}, 'HEALTH_INTERVAL', /between 5s and 50s/],
    [{ HEALTH_INTERVAL: '1s' }, {}, 'HEALTH_INTERVAL', /between 5s and 50s/],
    [{ HEALTH_INTERVAL: 'often' }, {}, 'HEALTH_INTERVAL', /expected a duration/],
    [{ HEALTH_INTERVAL: '-30s' }, {}, 'HEALTH_INTERVAL', /expected a duration/],
    [{ FLEETIQ_FALLBACK_INTERVAL: '30s' }, {}, 'FLEETIQ_FALLBACK_INTERVAL', /between 3m and 1h/],
    [{ STATUS_STALE_AFTER: '1s' }, {}, 'STATUS_STALE_AFTER', /between 15s and 1h/],
    [{ IDLE_PERIOD: '2d' }, {}, 'IDLE_PERIOD', /between 30s and 1d/],
    [{ DRAIN_MAX_WAIT: '10s' }, {}, 'DRAIN_MAX_WAIT', /between 1m and 7d/],
    [{ DRAIN_FORCE_AFTER_MAX_WAIT: 'maybe' }, {}, 'DRAIN_FORCE_AFTER_MAX_WAIT', /true or false/],
    [{ DRAIN_FORCE_GRACE: '0s' }, {}, 'DRAIN_FORCE_GRACE', /between 1s and 1h/],
    [{ PROTECT_RESERVED: 'yes please' }, {}, 'PROTECT_RESERVED', /true or false/],
    [{ SPOT_GRACE: '2m' }, {}, 'SPOT_GRACE', /between 1s and 1m45s|between 1s and 105s/],
    [{ IMDS_ENDPOINT: '169.254.169.254' }, {}, 'IMDS_ENDPOINT', /http\(s\) URL/],
    [{ IMDS_TIMEOUT: '1m' }, {}, 'IMDS_TIMEOUT', /between 100ms and 30s/],
    [
      { SPOT_NOTICE_POLL_INTERVAL: '100ms' },
      {},
      'SPOT_NOTICE_POLL_INTERVAL',
      /0 \(off\) or between 500ms and 1m/,
    ],
    [{}, { spotNoticePollInterval: '2m' }, '--spot-notice-poll-interval', /0 \(off\) or between/],
    [{ SPOT_NOTICE_POLL_INTERVAL: 'often' }, {}, 'SPOT_NOTICE_POLL_INTERVAL', /expected a duration/],
    [{ DRAINING_STABLE_FOR: '11m' }, {}, 'DRAINING_STABLE_FOR', /between 0s and 10m/],
    [{ STRANDED_AFTER: '30s' }, {}, 'STRANDED_AFTER', /between 1m and 7d/],
    [{ KARPENTER_DRAINS: 'karpenter' }, {}, 'KARPENTER_DRAINS', /true or false/],
    [{}, { karpenterDrains: 'sometimes' }, '--karpenter-drains', /true or false/],
    [{ OPS_LISTEN: 'everywhere' }, {}, 'OPS_LISTEN', /host:port/],
    [{}, { opsListen: ':99999' }, '--ops-listen', /host:port/],
    [{ STATUS_SIGNING_SECRET: 'secret\n' }, {}, 'STATUS_SIGNING_SECRET', /whitespace/],
    [{ STATUS_SIGNING_SECRET: '' }, {}, 'STATUS_SIGNING_SECRET', /is set but empty/],
    [{ STATUS_SIGNING_SECRET_FILE: '/nonexistent/secret' }, {}, 'STATUS_SIGNING_SECRET_FILE', /ENOENT/],
  ])('rejects %j %j naming %s', (env, flags, setting, problem) => {
    const err = configError(() => parseReconcilerConfig({ ...BASE, ...env }, flags));
    // A setting of the table is named both ways, whichever way it was given.
    const s = SETTINGS.find((x) => x.env === setting || x.flag === setting);
    expect(err.setting).toBe(s ? `${s.flag} (${s.env})` : setting);
    expect(err.message).toContain(setting);
    expect(err.message).toMatch(problem);
  });

  it('reads the signing secret from STATUS_SIGNING_SECRET_FILE, and fails closed on an empty one', () => {
    const files: Record<string, string> = { '/s/key': 'from-file\n', '/s/empty': '\n', '/s/blank': '' };
    const read = (path: string) => files[path]!;
    const withFile = (path: string, extra = {}) =>
      parseReconcilerConfig({ ...BASE, STATUS_SIGNING_SECRET_FILE: path, ...extra }, {}, read);
    expect(withFile('/s/key', { STATUS_SIGNING_SECRET: 'from-env' }).statusSigningSecret).toBe('from-file');
    for (const empty of ['/s/empty', '/s/blank']) {
      const err = configError(() => withFile(empty));
      expect(err.setting).toBe('STATUS_SIGNING_SECRET_FILE');
      expect(err.message).toMatch(/is empty \(signing would be off\)/);
    }
    expect(parseReconcilerConfig({ ...BASE }).statusSigningSecret).toBeUndefined();
  });

  it('parses durations like Go does, plus plain seconds', () => {
    expect(parseDuration('250ms', 'X')).toBe(250);
    expect(parseDuration('1h30m', 'X')).toBe(5_400_000);
    expect(parseDuration('1.5h', 'X')).toBe(5_400_000);
    expect(parseDuration('45', 'X')).toBe(45_000);
    expect(() => parseDuration('', 'X')).toThrow(/X/);
    expect(() => parseDuration('5 m', 'X')).toThrow(/expected a duration/);
  });
});
