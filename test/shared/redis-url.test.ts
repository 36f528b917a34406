import { describe, expect, it } from '@jest/globals';
import { describeRedis, parseRedisUrl, redact } from '../../shared/redis-url.js';

describe('parseRedisUrl', () => {
  it("accepts the first seed's host:port", () => {
    expect(parseRedisUrl('redis-master.default.svc:6379')).toEqual({
      host: 'redis-master.default.svc',
      port: 6379,
    });
    expect(parseRedisUrl('10.0.0.5:7000')).toEqual({ host: '10.0.0.5', port: 7000 });
    expect(parseRedisUrl('[::1]:6380')).toEqual({ host: '::1', port: 6380 });
    expect(parseRedisUrl('redis')).toEqual({ host: 'redis', port: 6379 });
  });

  it('accepts redis:// URLs with credentials and a database', () => {
    expect(parseRedisUrl('redis://localhost')).toEqual({ host: 'localhost', port: 6379 });
    expect(parseRedisUrl('redis://app:s3cr%40t@cache.local:6380/2')).toEqual({
      host: 'cache.local',
      port: 6380,
      username: 'app',
      password: 's3cr@t',
      db: 2,
    });
    // Password only (legacy AUTH): both spellings tools use.
    expect(parseRedisUrl('redis://:hunter2@h:1')).toEqual({ host: 'h', port: 1, password: 'hunter2' });
    expect(parseRedisUrl('redis://hunter2@h:1')).toEqual({ host: 'h', port: 1, password: 'hunter2' });
    expect(parseRedisUrl('redis://[::1]:6379/0')).toEqual({ host: '::1', port: 6379, db: 0 });
  });

  it('turns rediss:// into TLS with SNI for names (ElastiCache in-transit encryption + AUTH)', () => {
    expect(
      parseRedisUrl('rediss://default:token@master.my-cache.abc123.use1.cache.amazonaws.com:6379'),
    ).toEqual({
      host: 'master.my-cache.abc123.use1.cache.amazonaws.com',
      port: 6379,
      username: 'default',
      password: 'token',
      tls: { servername: 'master.my-cache.abc123.use1.cache.amazonaws.com' },
    });
    expect(parseRedisUrl('rediss://10.1.2.3')).toEqual({ host: '10.1.2.3', port: 6379, tls: {} });
  });

  it.each([
    ['', /REDIS_URL.*required/],
    ['   ', /REDIS_URL.*required/],
    ['http://cache:6379', /REDIS_URL.*unsupported scheme "http:\/\/"/],
    ['cache:notaport', /REDIS_URL/],
    ['cache:0', /REDIS_URL.*port must be 1-65535/],
    ['cache:70000', /REDIS_URL.*port must be 1-65535/],
    ['redis://cache:99999', /REDIS_URL/],
    ['redis://cache/abc', /REDIS_URL.*database number/],
    ['redis://cache/1/2', /REDIS_URL.*database number/],
    ['redis://cache?tls=true', /REDIS_URL.*query parameters/],
    ['redis://:%zz@cache', /REDIS_URL.*password is not valid percent-encoding/],
    ['cache host:6379', /REDIS_URL/],
    ['user@cache:6379', /REDIS_URL/],
    ['[nothex]:1', /REDIS_URL/],
    ['-bad-.example:1', /REDIS_URL.*invalid host/],
  ])('rejects %j naming REDIS_URL', (value, pattern) => {
    expect(() => parseRedisUrl(value)).toThrow(pattern);
  });

  it.each([
    'redis://S3cr3tP4ss@host:notaport',
    'rediss://default:S3cr3tP4ss@host:notaport',
    'redis://:S3cr3tP4ss@ho st:6379',
    'redis://u:S3cr3t@P4ss@host:1/x',
    'redis://u:1234/S3cr3tP4ss@host:1',
    'user:S3cr3tP4ss@host:6379',
    'user:S3cr3tP4ss@host:notaport',
    'S3cr3tP4ss@host:6379',
    ':S3cr3tP4ss@host',
  ])('%j: the error names REDIS_URL and no part of the password', (value) => {
    let message = '';
    try {
      parseRedisUrl(value);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/^invalid configuration REDIS_URL: /);
    for (const part of ['S3cr3t', 'P4ss']) expect(message).not.toContain(part);
  });

  it('redacts credentials in every form, keeping a user name', () => {
    expect(redact('redis://S3cr3tP4ss@host:notaport')).toBe('redis://***@host:notaport');
    expect(redact('user:S3cr3tP4ss@host:6379')).toBe('user:***@host:6379');
    expect(redact('redis://u:a@b@host')).toBe('redis://u:***@host');
    expect(redact('/S3cr3tP4ss@host')).toBe('***@host');
    expect(redact('redis://host:6379/0')).toBe('redis://host:6379/0');
  });

  it('never puts the password in an error or a log line', () => {
    expect(() => parseRedisUrl('redis://u:topsecret@cache/x')).toThrow(/database number/);
    for (const bad of [
      'redis://u:topsecret@cache?x=1',
      'redis://u:topsecret@cache/x',
      'redis://u:topsecret@cache:0',
    ]) {
      const error = (() => {
        try {
          parseRedisUrl(bad);
        } catch (err) {
          return err as Error;
        }
      })();
      expect(error?.message).toMatch(/REDIS_URL/);
      expect(error?.message).not.toContain('topsecret');
    }
    expect(redact('rediss://u:topsecret@cache:6379/0')).toBe('rediss://u:***@cache:6379/0');
    expect(describeRedis(parseRedisUrl('rediss://u:topsecret@cache:6379/3'))).toBe(
      'rediss://u:***@cache:6379/3',
    );
    expect(describeRedis(parseRedisUrl('cache:1'))).toBe('redis://cache:1/0');
  });
});
