import { describe, expect, it } from '@jest/globals';
import {
  InternalServiceException,
  NotFoundException,
  InvalidRequestException,
  UnauthorizedException,
  LimitExceededException,
} from '@aws-sdk/client-gamelift';
import { checkLeaseTimings, decideLease, recordOf, type LeaseRecord } from '../../pubsub/leader-election.js';
import { classifyError } from '../../pubsub/poller.js';
import { resolvePubsubOptions, type PubsubFlags } from '../../pubsub/cli.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

describe('decideLease', () => {
  const record = (holderIdentity: string, leaseDurationSeconds = 15): LeaseRecord => ({
    holderIdentity,
    leaseDurationSeconds,
    leaseTransitions: 3,
  });

  it('renews our own lease', () => {
    expect(decideLease(record('me'), 0, 1_000_000, 'me')).toEqual({ action: 'renew' });
  });

  it("waits while another holder's lease is valid by OUR clock since we saw it change", () => {
    expect(decideLease(record('other'), 100_000, 114_999, 'me')).toEqual({ action: 'wait', holder: 'other' });
    expect(decideLease(record('other'), 100_000, 115_000, 'me')).toEqual({
      action: 'takeover',
      previousHolder: 'other',
    });
  });

  it('takes a released lease (empty holder) at once, whatever its duration', () => {
    expect(decideLease(record('', 15), 100_000, 100_001, 'me')).toEqual({
      action: 'takeover',
      previousHolder: '',
    });
  });

  it('honours the duration written in the lease (release shortens it to 1 s)', () => {
    expect(decideLease(record('other', 1), 100_000, 101_000, 'me').action).toBe('takeover');
  });

  it('reads MicroTime fields whether the client gives strings or Dates', () => {
    expect(
      recordOf({
        spec: {
          holderIdentity: 'a',
          renewTime: new Date('2024-01-01T00:00:00.123Z') as any,
          acquireTime: '2024-01-01T00:00:00.000000Z' as any,
        },
      }),
    ).toEqual({
      holderIdentity: 'a',
      leaseDurationSeconds: 0,
      acquireTime: '2024-01-01T00:00:00.000000Z',
      renewTime: '2024-01-01T00:00:00.123Z',
      leaseTransitions: 0,
    });
  });
});

describe('checkLeaseTimings', () => {
  it("accepts client-go's defaults and short test settings", () => {
    expect(() =>
      checkLeaseTimings({ leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 }),
    ).not.toThrow();
    expect(() =>
      checkLeaseTimings({ leaseDurationMs: 1000, renewDeadlineMs: 600, retryPeriodMs: 150 }),
    ).not.toThrow();
  });

  it('rejects timings under which two leaders could overlap, naming the flag', () => {
    expect(() =>
      checkLeaseTimings({ leaseDurationMs: 10_000, renewDeadlineMs: 10_000, retryPeriodMs: 2000 }),
    ).toThrow(/--renew-deadline.*shorter than --lease-duration/);
    expect(() =>
      checkLeaseTimings({ leaseDurationMs: 15_000, renewDeadlineMs: 2000, retryPeriodMs: 2000 }),
    ).toThrow(/--renew-deadline.*1.2 × --retry-period/);
    expect(() =>
      checkLeaseTimings({ leaseDurationMs: 1500, renewDeadlineMs: 1000, retryPeriodMs: 100 }),
    ).toThrow(/--lease-duration.*whole number of seconds/);
    expect(() =>
      checkLeaseTimings({ leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 0 }),
    ).toThrow(/--retry-period/);
  });
});

describe('classifyError', () => {
  const meta = (httpStatusCode: number) => ({ $metadata: { httpStatusCode } });
  it('tells the kinds of GameLift failures apart', () => {
    expect(
      classifyError(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }, meta(400))),
    ).toBe('throttled');
    expect(
      classifyError(new LimitExceededException({ message: 'x', $metadata: { httpStatusCode: 400 } })),
    ).toBe('throttled');
    expect(classifyError(Object.assign(new Error('slow down'), meta(429)))).toBe('throttled');
    expect(
      classifyError(new NotFoundException({ message: 'no group', $metadata: { httpStatusCode: 400 } })),
    ).toBe('not_found');
    expect(
      classifyError(new UnauthorizedException({ message: 'no', $metadata: { httpStatusCode: 400 } })),
    ).toBe('unauthorized');
    expect(
      classifyError(Object.assign(new Error('denied'), { name: 'AccessDeniedException' }, meta(403))),
    ).toBe('unauthorized');
    expect(
      classifyError(new InternalServiceException({ message: 'x', $metadata: { httpStatusCode: 500 } })),
    ).toBe('server');
    expect(classifyError(Object.assign(new Error('bad gateway'), meta(502)))).toBe('server');
    expect(
      classifyError(new InvalidRequestException({ message: 'x', $metadata: { httpStatusCode: 400 } })),
    ).toBe('invalid_request');
    expect(
      classifyError(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' })),
    ).toBe('network');
    expect(classifyError(Object.assign(new Error('aborted'), { name: 'AbortError' }))).toBe('aborted');
    expect(classifyError('weird')).toBe('unknown');
    expect(classifyError(null)).toBe('unknown');
  });
});

describe('resolvePubsubOptions', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pubsub-cli-'));
  const good = join(dir, 'fleetiq.conf');
  writeFileSync(good, '{"GameServerGroups": ["agones-game-servers"]}');
  const flags = (over: Partial<PubsubFlags> = {}): PubsubFlags => ({
    config: good,
    opsListen: ':8080',
    leaderElect: true,
    leaseName: 'fleetiq-agones-pubsub',
    leaseDuration: '15',
    renewDeadline: '10',
    retryPeriod: '2',
    ...over,
  });
  const env = {
    REDIS_URL: 'redis:6379',
    AWS_REGION: 'us-west-2',
    POD_NAME: 'pubsub-7d9f-abcde',
    POD_NAMESPACE: 'fleetiq',
  };
  const noFiles = (path: string): string => {
    throw Object.assign(new Error(`ENOENT ${path}`), { code: 'ENOENT' });
  };

  it('builds the options from flags and environment', () => {
    const options = resolvePubsubOptions(flags(), env, noFiles);
    expect(options).toMatchObject({
      configPath: good,
      redisUrl: 'redis:6379',
      gameLift: { region: 'us-west-2' },
      listen: { host: '0.0.0.0', port: 8080 },
      leaderElection: {
        namespace: 'fleetiq',
        name: 'fleetiq-agones-pubsub',
        identity: 'pubsub-7d9f-abcde',
        leaseDurationMs: 15_000,
        renewDeadlineMs: 10_000,
        retryPeriodMs: 2_000,
      },
    });
    expect(options.config.gameServerGroups).toEqual(['agones-game-servers']);
    expect(options.signingSecret).toBeUndefined();
    expect(resolvePubsubOptions(flags({ leaderElect: false }), env, noFiles).leaderElection).toBe(false);
  });

  it('takes the signing secret from a mounted file (over the environment) or STATUS_SIGNING_SECRET', () => {
    const files = (path: string) => (path === '/secrets/key' ? 'from-file\n' : noFiles(path));
    expect(
      resolvePubsubOptions(
        flags({ signingSecretFile: '/secrets/key' }),
        { ...env, STATUS_SIGNING_SECRET: 'env' },
        files,
      ).signingSecret,
    ).toBe('from-file');
    expect(
      resolvePubsubOptions(flags(), { ...env, STATUS_SIGNING_SECRET: 'env' }, noFiles).signingSecret,
    ).toBe('env');
    expect(() => resolvePubsubOptions(flags({ signingSecretFile: '/nope' }), env, noFiles)).toThrow(
      /--signing-secret-file.*ENOENT/,
    );
    expect(() => resolvePubsubOptions(flags(), { ...env, STATUS_SIGNING_SECRET: '' }, noFiles)).toThrow(
      /STATUS_SIGNING_SECRET/,
    );
  });

  it('falls back to the service account namespace and the hostname', () => {
    const files = (path: string) => (path.endsWith('/namespace') ? 'from-sa\n' : noFiles(path));
    const options = resolvePubsubOptions(flags(), { REDIS_URL: 'r:1', AWS_REGION: 'eu-west-1' }, files);
    expect(options.leaderElection).toMatchObject({ namespace: 'from-sa', identity: expect.any(String) });
  });

  it.each([
    [{ ...env, REDIS_URL: undefined }, {}, /REDIS_URL/],
    [{ ...env, REDIS_URL: 'http://x' }, {}, /REDIS_URL/],
    [{ ...env, AWS_REGION: undefined }, {}, /AWS_REGION is required|AWS_REGION: is required/],
    [env, { config: join(dir, 'missing.conf') }, /missing.conf.*ENOENT/],
    [env, { opsListen: 'nope' }, /--ops-listen/],
    [env, { leaseDuration: 'x' }, /--lease-duration/],
    [env, { renewDeadline: '20' }, /--renew-deadline/],
    [env, { leaseName: 'Bad_Name' }, /--lease-name/],
  ])('rejects a bad setting at start, naming it (%#)', (e, over, pattern) => {
    expect(() =>
      resolvePubsubOptions(flags(over as Partial<PubsubFlags>), e as NodeJS.ProcessEnv, noFiles),
    ).toThrow(pattern);
  });

  it('rejects an invalid configuration file at start, naming the field', () => {
    const bad = join(dir, 'bad.conf');
    writeFileSync(bad, '{"GameServerGroups": ["ok", "not ok"], "PollIntervalSeconds": -5}');
    expect(() => resolvePubsubOptions(flags({ config: bad }), env, noFiles)).toThrow(
      /GameServerGroups\[1\]: Invalid value: "not ok".*PollIntervalSeconds: Invalid value: -5/,
    );
  });
});
