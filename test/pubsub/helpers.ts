import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfiguredRetryStrategy } from '@smithy/core/retry';
import { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import { createLogger } from '../../shared/logger.js';
import { loadConfigFile } from '../../pubsub/config.js';
import { startPubsub, type PubsubOptions, type PubsubService } from '../../pubsub/service.js';
import { latestStatusKey, parseStatusMessage, type StatusMessage } from '../../shared/status-message.js';
import { waitFor as waitFor_ } from '../helpers/wait.js';

export const silent = createLogger('pubsub-test', 'silent');

/** Waits for a condition (see ../helpers/wait.ts), 10_000 ms by default here. */
export const waitFor = <T>(what: string, condition: () => T | Promise<T>, timeoutMs = 10_000) =>
  waitFor_(what, condition, timeoutMs);

/** A config file in a temporary directory, rewritten atomically (as a ConfigMap update would be). */
export class ConfigFile {
  readonly dir = mkdtempSync(join(tmpdir(), 'pubsub-it-'));
  readonly path = join(this.dir, 'fleetiq.conf');
  constructor(content: object) {
    this.write(content);
  }
  write(content: object | string): void {
    const tmp = join(this.dir, '.tmp');
    writeFileSync(tmp, typeof content === 'string' ? content : JSON.stringify(content));
    renameSync(tmp, this.path);
  }
  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Starts the real service against an emulator URL and a Redis URL, with fast test retries. */
export async function startService(
  args: {
    fleetiqUrl: string;
    redisUrl: string;
    config: ConfigFile;
  } & Partial<Omit<PubsubOptions, 'config' | 'gameLift' | 'redisUrl'>> & { maxAttempts?: number },
): Promise<PubsubService> {
  const { fleetiqUrl, config, maxAttempts, ...rest } = args;
  return startPubsub({
    config: loadConfigFile(config.path),
    configPath: config.path,
    configPollMs: 100,
    gameLift: {
      region: 'us-east-1',
      endpoint: fleetiqUrl,
      credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'dummy-secret' },
      // The SDK's standard strategy with short delays (the real ones are 50 ms, 1 s when throttled).
      retryStrategy: new ConfiguredRetryStrategy(maxAttempts ?? 3, 20),
    },
    leaderElection: false,
    logger: silent,
    ...rest,
  });
}

/** Reads one sample of a metric from a registry (undefined when the series does not exist). */
export async function metricValue(
  registry: Registry,
  name: string,
  labels: Record<string, string> = {},
): Promise<number | undefined> {
  const metric = registry.getSingleMetric(name);
  if (!metric) throw new Error(`no metric ${name}`);
  const data = await metric.get();
  const sample = data.values.find(
    (v) =>
      (v as { metricName?: string }).metricName === undefined &&
      Object.entries(labels).every(([k, val]) => String(v.labels[k]) === val),
  );
  return sample?.value;
}

/** Sum of a counter over the series matching `labels`. */
export async function metricSum(
  registry: Registry,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (!metric) throw new Error(`no metric ${name}`);
  const data = await metric.get();
  return data.values
    .filter((v) => Object.entries(labels).every(([k, val]) => String(v.labels[k]) === val))
    .reduce((sum, v) => sum + v.value, 0);
}

/** The latest-status message of an instance in Redis, parsed (undefined when absent). */
export async function latest(
  redis: Redis,
  instanceId: string,
  secret?: string,
): Promise<StatusMessage | undefined> {
  const raw = await redis.get(latestStatusKey(instanceId));
  if (raw === null) return undefined;
  const parsed = parseStatusMessage(raw, secret);
  if (!parsed.ok) throw new Error(`bad message for ${instanceId}: ${parsed.error}`);
  return parsed.message;
}

/** A subscriber collecting every message per channel (pattern subscription to instance ids). */
export class Subscriber {
  readonly messages = new Map<string, StatusMessage[]>();
  /** Messages that failed to parse or verify. */
  readonly rejected: string[] = [];
  private constructor(
    readonly redis: Redis,
    readonly secret?: string,
  ) {}

  static async start(url: string, options: { pattern?: string; secret?: string } = {}): Promise<Subscriber> {
    const redis = new Redis(url);
    const subscriber = new Subscriber(redis, options.secret);
    const pattern = options.pattern ?? 'i-*';
    redis.on('pmessage', (_pattern: string, channel: string, raw: string) => {
      const parsed = parseStatusMessage(raw, subscriber.secret);
      if (!parsed.ok) {
        subscriber.rejected.push(`${channel}: ${parsed.error}`);
        return;
      }
      const list = subscriber.messages.get(channel) ?? [];
      list.push(parsed.message);
      subscriber.messages.set(channel, list);
    });
    await redis.psubscribe(pattern);
    return subscriber;
  }

  of(instanceId: string): StatusMessage[] {
    return this.messages.get(instanceId) ?? [];
  }

  last(instanceId: string): StatusMessage | undefined {
    return this.of(instanceId).at(-1);
  }

  stop(): void {
    this.redis.disconnect();
  }
}
