import { createHash } from 'node:crypto';
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { dirname } from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import { ConfigError } from '../shared/ops-server.js';

/** Where the old adapter's ConfigMap is mounted (`fleetiqconfig`, key `fleetiq.conf`). */
export const DEFAULT_CONFIG_PATH = '/etc/fleetiq/fleetiq.conf';

/** The file as operators write it: the old adapter's one field plus optional tuning fields. */
export interface PubsubConfigFile {
  GameServerGroups: string[];
  PollIntervalSeconds?: number;
  MaxCallsPerSecond?: number;
  RepublishSeconds?: number;
  StatusTtlSeconds?: number;
}

/** The configuration in force, with defaults applied and units the code uses. */
export interface PubsubConfig {
  gameServerGroups: string[];
  pollIntervalMs: number;
  /** Client-side cap on GameLift calls (every attempt, retries included) across all groups. */
  maxCallsPerSecond: number;
  /** An unchanged status is published again this often, for pure subscribers (the old adapter's daemon). */
  republishMs: number;
  /** Expiry of the latest-status key; refreshed on every poll. */
  statusTtlMs: number;
}

/** AWS's advice: refresh DescribeGameServerInstances no more than once every 10 s. */
export const DEFAULT_POLL_INTERVAL_SECONDS = 10;
/**
 * GameLift's request quotas are per account and region and not published per operation. 10 calls/s
 * with a burst of the same size is a conservative share of them, and polls 100,000 instances (1,000 per
 * page) comfortably inside one 10 s interval.
 */
export const DEFAULT_MAX_CALLS_PER_SECOND = 10;
export const DEFAULT_REPUBLISH_SECONDS = 30;
/** The latest-status key lives at least this long by default, whatever the interval. */
export const MIN_DEFAULT_STATUS_TTL_SECONDS = 30;

const GROUP_NAME = '^[a-zA-Z0-9\\-\\.]+$';
const GROUP_ARN = '^arn:[^:]*:gamelift:[^:]*:[^:]*:gameservergroup/[a-zA-Z0-9\\-\\.]+$';

/** The JSON schema of fleetiq.conf. Unknown fields are rejected: a typo must not pass silently. */
export const CONFIG_FILE_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['GameServerGroups'],
  properties: {
    GameServerGroups: {
      type: 'array',
      minItems: 1,
      uniqueItems: true,
      items: {
        type: 'string',
        minLength: 1,
        maxLength: 256,
        anyOf: [{ pattern: GROUP_NAME }, { pattern: GROUP_ARN }],
      },
    },
    PollIntervalSeconds: { type: 'number', exclusiveMinimum: 0, maximum: 3600 },
    MaxCallsPerSecond: { type: 'number', exclusiveMinimum: 0, maximum: 1000 },
    RepublishSeconds: { type: 'number', exclusiveMinimum: 0, maximum: 86400 },
    StatusTtlSeconds: { type: 'number', exclusiveMinimum: 0, maximum: 86400 },
  },
} as const;

const ajv = new Ajv({ allErrors: true, strict: true });
const validateFile = ajv.compile<PubsubConfigFile>(CONFIG_FILE_SCHEMA);

/** One problem with one field, worded like the Kubernetes API server's field errors. */
export interface FieldError {
  field: string;
  message: string;
}

/** An invalid fleetiq.conf: `fieldErrors` name each field, the message lists them all. */
export class InvalidConfigFileError extends ConfigError {
  constructor(
    readonly path: string,
    readonly fieldErrors: FieldError[],
  ) {
    super(path, fieldErrors.map((e) => `${e.field}: ${e.message}`).join('; '));
    this.name = 'InvalidConfigFileError';
  }
}

/** Validates the parsed file content and resolves defaults. Pure: throws InvalidConfigFileError. */
export function resolveConfig(content: unknown, path = 'fleetiq.conf'): PubsubConfig {
  if (!validateFile(content))
    throw new InvalidConfigFileError(path, toFieldErrors(validateFile.errors ?? [], content));
  const file = content;
  const pollIntervalSeconds = file.PollIntervalSeconds ?? DEFAULT_POLL_INTERVAL_SECONDS;
  const statusTtlSeconds =
    file.StatusTtlSeconds ?? Math.max(3 * pollIntervalSeconds, MIN_DEFAULT_STATUS_TTL_SECONDS);
  const errors: FieldError[] = [];
  if (statusTtlSeconds <= pollIntervalSeconds) {
    // A key that expires between two polls makes every agent see "no status" half the time.
    errors.push({
      field: 'StatusTtlSeconds',
      message: `Invalid value: ${statusTtlSeconds}: must be greater than PollIntervalSeconds (${pollIntervalSeconds})`,
    });
  }
  if (errors.length > 0) throw new InvalidConfigFileError(path, errors);
  return {
    gameServerGroups: [...file.GameServerGroups],
    pollIntervalMs: Math.round(pollIntervalSeconds * 1000),
    maxCallsPerSecond: file.MaxCallsPerSecond ?? DEFAULT_MAX_CALLS_PER_SECOND,
    republishMs: Math.round((file.RepublishSeconds ?? DEFAULT_REPUBLISH_SECONDS) * 1000),
    statusTtlMs: Math.round(statusTtlSeconds * 1000),
  };
}

/** Parses the file's text (JSON) and resolves it. */
export function parseConfigText(text: string, path = 'fleetiq.conf'): PubsubConfig {
  let content: unknown;
  try {
    content = JSON.parse(text);
  } catch (err) {
    throw new InvalidConfigFileError(path, [
      { field: '(file)', message: `Invalid value: not valid JSON (${(err as Error).message})` },
    ]);
  }
  return resolveConfig(content, path);
}

/** Reads and resolves the file; a missing or unreadable file is an error naming the path. */
export function loadConfigFile(path: string): PubsubConfig {
  return parseConfigText(readText(path), path);
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new InvalidConfigFileError(path, [
      {
        field: '(file)',
        message: `cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      },
    ]);
  }
}

function fieldPath(instancePath: string): string {
  // /GameServerGroups/1 → GameServerGroups[1]
  return instancePath
    .split('/')
    .slice(1)
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((acc, part) => (/^\d+$/.test(part) ? `${acc}[${part}]` : acc ? `${acc}.${part}` : part), '');
}

function valueAt(content: unknown, instancePath: string): unknown {
  let value: any = content;
  for (const part of instancePath.split('/').slice(1))
    value = value?.[part.replace(/~1/g, '/').replace(/~0/g, '~')];
  return value;
}

function toFieldErrors(errors: ErrorObject[], content: unknown): FieldError[] {
  const out: FieldError[] = [];
  const seen = new Set<string>();
  for (const e of errors) {
    let field = fieldPath(e.instancePath);
    let message: string;
    if (e.keyword === 'required') {
      field = field ? `${field}.${e.params.missingProperty}` : String(e.params.missingProperty);
      message = 'Required value';
    } else if (e.keyword === 'additionalProperties') {
      field = field ? `${field}.${e.params.additionalProperty}` : String(e.params.additionalProperty);
      message = `Unsupported field: known fields are ${Object.keys(CONFIG_FILE_SCHEMA.properties).join(', ')}`;
    } else if (e.keyword === 'pattern') {
      continue; // reported once by the enclosing anyOf
    } else if (e.keyword === 'anyOf') {
      message = `Invalid value: ${JSON.stringify(valueAt(content, e.instancePath))}: must be a game server group name ([a-zA-Z0-9-.]+) or ARN`;
    } else if (e.keyword === 'type' && e.instancePath === '') {
      field = '(file)';
      message = 'Invalid value: must be a JSON object like {"GameServerGroups": ["my-group"]}';
    } else {
      message = `Invalid value: ${JSON.stringify(valueAt(content, e.instancePath))}: ${e.message ?? e.keyword}`;
    }
    const key = `${field}\u0000${message}`;
    if (!seen.has(key)) {
      seen.add(key);
      out.push({ field: field || '(file)', message });
    }
  }
  return out;
}

export function contentHash(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

export interface ConfigWatcher {
  /** The configuration in force: the last valid one. */
  current(): PubsubConfig;
  /** The error of the file as it is now, if it is invalid (the last good configuration stays in force). */
  lastError(): InvalidConfigFileError | undefined;
  /** Re-reads the file now (also done on file events and every `pollMs`). */
  check(): void;
  stop(): void;
}

/**
 * Watches the configuration file and applies a changed one without a restart. A ConfigMap volume
 * updates by swapping the `..data` symlink in the file's directory, which an inode watch on the
 * file never sees: so the directory is watched, and the content hash is also polled every `pollMs`
 * as a backstop (events can be lost, and some filesystems have none).
 */
export function watchConfigFile(
  path: string,
  initial: PubsubConfig,
  handlers: {
    onChange: (config: PubsubConfig, previous: PubsubConfig) => void;
    onInvalid: (error: InvalidConfigFileError) => void;
    onValid?: (config: PubsubConfig) => void;
  },
  options: { pollMs?: number; watchDirectory?: boolean } = {},
): ConfigWatcher {
  let current = initial;
  let lastText: string | undefined;
  let lastError: InvalidConfigFileError | undefined;
  try {
    lastText = contentHash(readFileSync(path, 'utf8'));
  } catch {
    lastText = undefined;
  }

  const check = () => {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      const hash = `unreadable:${(err as NodeJS.ErrnoException).code}`;
      if (hash === lastText) return;
      lastText = hash;
      lastError = new InvalidConfigFileError(path, [
        {
          field: '(file)',
          message: `cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
        },
      ]);
      handlers.onInvalid(lastError);
      return;
    }
    const hash = contentHash(text);
    if (hash === lastText) return;
    lastText = hash;
    try {
      const next = parseConfigText(text, path);
      const previous = current;
      current = next;
      const wasInvalid = lastError !== undefined;
      lastError = undefined;
      if (wasInvalid) handlers.onValid?.(next);
      if (JSON.stringify(next) !== JSON.stringify(previous)) handlers.onChange(next, previous);
    } catch (err) {
      if (!(err instanceof InvalidConfigFileError)) throw err;
      lastError = err;
      handlers.onInvalid(err);
    }
  };

  let debounce: NodeJS.Timeout | undefined;
  let watcher: FSWatcher | undefined;
  try {
    if (options.watchDirectory === false) throw new Error('directory events disabled');
    watcher = watch(dirname(path), { persistent: false }, () => {
      // Several events arrive per update (symlink swap, temp files): look once they settle.
      clearTimeout(debounce);
      debounce = setTimeout(check, 50);
    });
    watcher.on('error', () => watcher?.close());
  } catch {
    watcher = undefined; // no directory events here: polling alone still picks changes up
  }
  const poll = setInterval(check, options.pollMs ?? 2000);
  poll.unref();

  return {
    current: () => current,
    lastError: () => lastError,
    check,
    stop: () => {
      clearInterval(poll);
      clearTimeout(debounce);
      watcher?.close();
    },
  };
}
