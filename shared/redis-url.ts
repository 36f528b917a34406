import { isIP } from 'node:net';
import { ConfigError } from '../shared/ops-server.js';

/** The connection part of ioredis options that REDIS_URL decides (the rest is ours to choose). */
export interface RedisConnectionOptions {
  host: string;
  port: number;
  username?: string;
  password?: string;
  db?: number;
  /** Present for `rediss://`: TLS to the server (ElastiCache in-transit encryption). */
  tls?: { servername?: string };
}

const DEFAULT_PORT = 6379;
const SETTING = 'REDIS_URL';

/**
 * Parses REDIS_URL into ioredis connection options. Accepts the first seed's `host:port` (and a bare
 * `host`), and `redis://` / `rediss://` URLs with optional `user:password@` (percent-encoded), port
 * and `/db`. Anything else is rejected with an error naming REDIS_URL — never silently ignored, since
 * a typo would otherwise connect to the wrong place or without TLS.
 */
export function parseRedisUrl(value: string | undefined, setting = SETTING): RedisConnectionOptions {
  const raw = (value ?? '').trim();
  if (raw === '') throw new ConfigError(setting, 'is required (host:port, redis://... or rediss://...)');
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(raw)) return parseUrlForm(raw, setting);
  return parseHostPortForm(raw, setting);
}

function parseHostPortForm(raw: string, setting: string): RedisConnectionOptions {
  // [ipv6]:port, host:port or a bare host; a bare IPv6 address is ambiguous without brackets.
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:/@\s[\]]+))(?::(\d+))?$/.exec(raw);
  if (!m) {
    throw new ConfigError(
      setting,
      `expected host:port, redis://host:port or rediss://host:port, got "${redact(raw)}"`,
    );
  }
  const host = m[1] ?? m[2]!;
  if (m[1] !== undefined && isIP(host) !== 6)
    throw new ConfigError(setting, `"${host}" is not an IPv6 address`);
  if (m[2] !== undefined && !isValidHostname(host)) throw new ConfigError(setting, `invalid host "${host}"`);
  return { host, port: m[3] === undefined ? DEFAULT_PORT : parsePort(m[3], setting) };
}

function parseUrlForm(raw: string, setting: string): RedisConnectionOptions {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(setting, `not a valid URL: "${redact(raw)}"`);
  }
  const scheme = url.protocol.slice(0, -1).toLowerCase();
  if (scheme !== 'redis' && scheme !== 'rediss') {
    throw new ConfigError(setting, `unsupported scheme "${scheme}://" (use redis:// or rediss://)`);
  }
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  if (host === '') throw new ConfigError(setting, 'the URL has no host');
  if (url.search !== '') {
    throw new ConfigError(
      setting,
      `query parameters are not supported ("${redact(url.search)}"); use rediss:// for TLS`,
    );
  }
  if (url.hash !== '') throw new ConfigError(setting, 'a URL fragment (#...) is not allowed');

  const options: RedisConnectionOptions = {
    host,
    port: url.port === '' ? DEFAULT_PORT : parsePort(url.port, setting),
  };
  const username = decode(url.username, 'user name', setting);
  const password = decode(url.password, 'password', setting);
  // redis://:secret@host is "password only" (legacy AUTH); redis://user:secret@host is ACL AUTH.
  if (username !== '') options.username = username;
  if (password !== '') options.password = password;
  if (username !== '' && password === '') {
    // A lone token before @ is what most tools (redis-cli -u) treat as the password.
    delete options.username;
    options.password = username;
  }

  const path = url.pathname;
  if (path !== '' && path !== '/') {
    const db = /^\/(\d{1,5})\/?$/.exec(path);
    if (!db)
      throw new ConfigError(setting, `the path must be a database number like /0, got "${redact(path)}"`);
    options.db = Number(db[1]);
  }
  if (scheme === 'rediss') {
    // SNI only for names: Node refuses an IP address as servername.
    options.tls = isIP(host) ? {} : { servername: host };
  }
  return options;
}

function parsePort(text: string, setting: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port < 1 || port > 65535) {
    throw new ConfigError(setting, `port must be 1-65535, got "${text}"`);
  }
  return port;
}

function decode(part: string, what: string, setting: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new ConfigError(setting, `the ${what} is not valid percent-encoding`);
  }
}

function isValidHostname(host: string): boolean {
  if (isIP(host)) return true;
  return (
    host.length <= 253 &&
    host.split('.').every((label) => /^[a-zA-Z0-9_](?:[a-zA-Z0-9_-]{0,61}[a-zA-Z0-9_])?$/.test(label))
  );
}

/**
 * REDIS_URL (or any part of it) for messages: everything before the last `@` is credentials, in every
 * form — `scheme://user:password@`, `scheme://password@` (a lone token is the password),
 * `user:password@host:port` without a scheme — and is replaced, keeping only a user name that is
 * followed by `:`. The last `@`, not the first: a password may contain an unencoded `@`, and a value
 * that failed to parse is exactly the one whose parts cannot be trusted to be where they belong.
 */
export function redact(raw: string): string {
  const at = raw.lastIndexOf('@');
  if (at < 0) return raw;
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(raw)?.[0] ?? '';
  const userinfo = raw.slice(scheme.length, at);
  const colon = userinfo.indexOf(':');
  const user = colon > 0 && !userinfo.slice(0, colon).includes('/') ? userinfo.slice(0, colon) + ':' : '';
  return `${scheme}${user}***${raw.slice(at)}`;
}

/** A short description of where we connect, for logs (no secrets). */
export function describeRedis(options: RedisConnectionOptions): string {
  const auth = options.password ? (options.username ? `${options.username}:***@` : ':***@') : '';
  const host = isIP(options.host) === 6 ? `[${options.host}]` : options.host;
  return `${options.tls ? 'rediss' : 'redis'}://${auth}${host}:${options.port}/${options.db ?? 0}`;
}
