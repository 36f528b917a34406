import {
  DescribeGameServerInstancesCommand,
  type DescribeGameServerInstancesCommandInput,
  type DescribeGameServerInstancesCommandOutput,
  type GameLiftClient,
} from '@aws-sdk/client-gamelift';
import { FLEETIQ_STATUSES, type InstanceStatus } from '../shared/contract.js';

/**
 * Page size asked of DescribeGameServerInstances. The API reference gives only a minimum (1) for
 * `Limit`; the FleetIQ emulator caps pages at this size, as the service does in practice.
 */
export const DESCRIBE_INSTANCES_PAGE_SIZE = 1000;

/** One instance's status as observed in one page. */
export interface ObservedInstance {
  group: string;
  groupArn: string;
  instanceId: string;
  status: InstanceStatus;
  /** When the page carrying it arrived. */
  observedAt: number;
}

export type ErrorKind =
  | 'throttled'
  | 'not_found'
  | 'unauthorized'
  | 'invalid_request'
  | 'server'
  | 'network'
  | 'aborted'
  | 'unknown';

export interface GroupPollResult {
  group: string;
  instances: ObservedInstance[];
  pages: number;
  /** True when every page was read: only then is "not listed" evidence an instance is gone. */
  complete: boolean;
  /** Instances skipped because FleetIQ reported a status this version does not know. */
  unknownStatuses: number;
  error?: { kind: ErrorKind; message: string; cause: unknown };
}

/** The one call the poller makes; the real GameLiftClient fits, so do tests that wrap it. */
export type DescribeInstances = (
  input: DescribeGameServerInstancesCommandInput,
  signal?: AbortSignal,
) => Promise<DescribeGameServerInstancesCommandOutput>;

export function describeInstancesWith(client: GameLiftClient): DescribeInstances {
  return (input, signal) =>
    client.send(new DescribeGameServerInstancesCommand(input), signal ? { abortSignal: signal } : undefined);
}

/**
 * Reads every page of one group's instances. Never throws: a failure ends the poll with what was
 * read so far (still true observations, worth publishing) and the error's kind for backoff and metrics.
 */
export async function pollGroup(
  describe: DescribeInstances,
  group: string,
  options: { pageSize?: number; signal?: AbortSignal; now?: () => number } = {},
): Promise<GroupPollResult> {
  const now = options.now ?? Date.now;
  const result: GroupPollResult = { group, instances: [], pages: 0, complete: false, unknownStatuses: 0 };
  let nextToken: string | undefined;
  try {
    do {
      options.signal?.throwIfAborted();
      const page = await describe(
        {
          GameServerGroupName: group,
          Limit: options.pageSize ?? DESCRIBE_INSTANCES_PAGE_SIZE,
          ...(nextToken ? { NextToken: nextToken } : {}),
        },
        options.signal,
      );
      const observedAt = now();
      result.pages += 1;
      for (const instance of page.GameServerInstances ?? []) {
        if (!instance.InstanceId) continue;
        const status = instance.InstanceStatus as InstanceStatus | undefined;
        if (!status || !FLEETIQ_STATUSES.includes(status)) {
          result.unknownStatuses += 1;
          continue;
        }
        result.instances.push({
          group,
          groupArn: instance.GameServerGroupArn ?? '',
          instanceId: instance.InstanceId,
          status,
          observedAt,
        });
      }
      nextToken = page.NextToken || undefined;
    } while (nextToken);
    result.complete = true;
  } catch (err) {
    result.error = { kind: classifyError(err), message: (err as Error)?.message ?? String(err), cause: err };
  }
  return result;
}

const THROTTLING_NAMES = new Set([
  'ThrottlingException',
  'Throttling',
  'ThrottledException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'LimitExceededException',
  'SlowDown',
]);
const UNAUTHORIZED_NAMES = new Set([
  'UnauthorizedException',
  'AccessDeniedException',
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'ExpiredTokenException',
  'CredentialsProviderError',
]);
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

/** What kind of failure an SDK error is, for backoff decisions and the errors metric. */
export function classifyError(err: unknown): ErrorKind {
  const e = err as {
    name?: string;
    code?: string;
    $metadata?: { httpStatusCode?: number };
    $retryable?: { throttling?: boolean };
  } | null;
  if (!e || typeof e !== 'object') return 'unknown';
  const name = e.name ?? '';
  const status = e.$metadata?.httpStatusCode;
  if (name === 'AbortError') return 'aborted';
  if (THROTTLING_NAMES.has(name) || status === 429 || e.$retryable?.throttling) return 'throttled';
  if (name === 'NotFoundException') return 'not_found';
  if (UNAUTHORIZED_NAMES.has(name) || status === 401 || status === 403) return 'unauthorized';
  if (name === 'InternalServiceException' || (status !== undefined && status >= 500)) return 'server';
  if (name === 'InvalidRequestException' || (status !== undefined && status >= 400)) return 'invalid_request';
  if (
    NETWORK_CODES.has(e.code ?? '') ||
    name === 'TimeoutError' ||
    name === 'RequestTimeout' ||
    (status === undefined && /socket|ECONN|network|timed? ?out/i.test((err as Error).message ?? ''))
  ) {
    return 'network';
  }
  return 'unknown';
}
