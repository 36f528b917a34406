// Who the agent is: its node (NODE_NAME from the downward API) and its EC2 instance, whose id is also
// the FleetIQ game server id. The instance id comes from the Node's spec.providerID, which the kubelet
// sets on EKS (`aws:///<availability-zone>/<instance-id>`); reading it needs no access to instance
// metadata, which from a pod only works with hostNetwork or an IMDSv2 hop limit of 2 (the old Python adapter's
// weakness). IMDSv2 is the fallback for clusters whose nodes carry no AWS providerID.
import { backoffDelay, type BackoffPolicy } from '../shared/backoff.js';
import type { Logger } from '../shared/logger.js';

/** What FleetIQ accepts as an InstanceId: `i-` and exactly 17 alphanumerics. */
export const INSTANCE_ID_PATTERN = /^i-[0-9a-zA-Z]{17}$/;

export interface ProviderIdentity {
  availabilityZone: string;
  instanceId: string;
}

export type ProviderIdResult = { ok: true; identity: ProviderIdentity } | { ok: false; error: string };

/**
 * Parses an EKS providerID, `aws:///<availability-zone>/<instance-id>`. Anything else (another cloud,
 * a Fargate node `aws:///<az>/<id>/fargate-...`, an instance id FleetIQ would reject) is refused with
 * the reason, so the agent can say why it fell back to IMDS.
 */
export function parseProviderId(providerId: string | undefined): ProviderIdResult {
  if (providerId === undefined || providerId === '')
    return { ok: false, error: 'the node has no spec.providerID' };
  const m = /^aws:\/\/\/([a-z]{2}(?:-[a-z0-9]+)+)\/([^/]+)$/.exec(providerId);
  if (!m)
    return {
      ok: false,
      error: `spec.providerID "${providerId}" is not of the form aws:///<zone>/<instance-id>`,
    };
  if (!INSTANCE_ID_PATTERN.test(m[2]))
    return {
      ok: false,
      error: `spec.providerID "${providerId}" does not end in an EC2 instance id (i- and 17 characters)`,
    };
  return { ok: true, identity: { availabilityZone: m[1], instanceId: m[2] } };
}

export interface ImdsOptions {
  /** Base URL of the instance metadata service (default http://169.254.169.254). */
  endpoint: string;
  /** Per request. */
  timeoutMs: number;
  /** Attempts in all (IMDS throttles and may be briefly unavailable at boot). */
  attempts?: number;
  /** Between attempts. */
  backoffMs?: number;
}

export const DEFAULT_IMDS_ENDPOINT = 'http://169.254.169.254';
/** Token lifetime asked for: only used for the one read, so short. */
const TOKEN_TTL_SECONDS = 60;

/** Reads the instance id through IMDSv2: a session token (PUT), then the metadata (GET) with it. */
export async function imdsInstanceId(options: ImdsOptions): Promise<string> {
  const attempts = Math.max(1, options.attempts ?? 3);
  let lastError: Error | undefined;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    try {
      return await imdsOnce(options);
    } catch (err) {
      lastError = err as Error;
      if (err instanceof ImdsError && !err.retryable) break;
      if (attempt < attempts) await new Promise((r) => setTimeout(r, options.backoffMs ?? 200));
    }
  }
  throw new ImdsError(
    `cannot read the instance id from IMDSv2 at ${options.endpoint}: ${lastError?.message}`,
    false,
  );
}

export class ImdsError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
    this.name = 'ImdsError';
  }
}

async function imdsOnce(options: ImdsOptions): Promise<string> {
  const base = options.endpoint.replace(/\/+$/, '');
  const tokenRes = await request(`${base}/latest/api/token`, {
    method: 'PUT',
    headers: { 'X-aws-ec2-metadata-token-ttl-seconds': String(TOKEN_TTL_SECONDS) },
    timeoutMs: options.timeoutMs,
    what: 'the IMDSv2 token',
  });
  const token = tokenRes.trim();
  if (token === '') throw new ImdsError('IMDS returned an empty token', true);
  const id = (
    await request(`${base}/latest/meta-data/instance-id`, {
      method: 'GET',
      headers: { 'X-aws-ec2-metadata-token': token },
      timeoutMs: options.timeoutMs,
      what: 'the instance id',
    })
  ).trim();
  if (!INSTANCE_ID_PATTERN.test(id))
    throw new ImdsError(`IMDS returned "${id.slice(0, 64)}", not an EC2 instance id`, false);
  return id;
}

async function request(
  url: string,
  o: { method: string; headers: Record<string, string>; timeoutMs: number; what: string },
): Promise<string> {
  let res: Response;
  try {
    res = await fetch(url, {
      method: o.method,
      headers: o.headers,
      signal: AbortSignal.timeout(o.timeoutMs),
    });
  } catch (err) {
    const e = err as Error;
    const why =
      e.name === 'TimeoutError'
        ? `no answer within ${o.timeoutMs} ms`
        : ((e.cause as Error)?.message ?? e.message);
    // A timeout from a pod usually means the IMDSv2 hop limit (1) drops the answer: say so.
    throw new ImdsError(
      `requesting ${o.what} failed: ${why} (from a pod, IMDSv2 needs hostNetwork or a hop limit of 2)`,
      true,
    );
  }
  const body = await res.text();
  if (!res.ok) {
    // 401: token refused; 403: IMDS disabled; 404: not there (IMDSv1 only, or not EC2). 429/5xx: retry.
    const retryable = res.status === 429 || res.status >= 500;
    throw new ImdsError(
      `requesting ${o.what} failed: HTTP ${res.status} ${body.slice(0, 200)}`.trim(),
      retryable,
    );
  }
  return body;
}

export interface ResolvedInstance {
  instanceId: string;
  source: 'providerID' | 'imds';
  /** Why the providerID could not be used, when IMDS was asked. */
  providerIdProblem?: string;
}

/** The instance id from the node's providerID, else from IMDSv2 (`imds` is only called when needed). */
export async function resolveInstanceId(
  providerId: string | undefined,
  imds: () => Promise<string>,
): Promise<ResolvedInstance> {
  const parsed = parseProviderId(providerId);
  if (parsed.ok) return { instanceId: parsed.identity.instanceId, source: 'providerID' };
  return { instanceId: await imds(), source: 'imds', providerIdProblem: parsed.error };
}

/**
 * resolveInstanceId() until it succeeds (instance metadata may not answer yet), backing off and
 * logging each failure; `checkStopping` throws to give up (the agent is stopping).
 */
export async function resolveInstanceIdUntilKnown(o: {
  providerId: string | undefined;
  imds: () => Promise<string>;
  backoff: BackoffPolicy;
  random: () => number;
  logger: Logger;
  checkStopping: () => void;
}): Promise<ResolvedInstance> {
  for (let attempt = 1; ; attempt++) {
    o.checkStopping();
    try {
      const resolved = await resolveInstanceId(o.providerId, o.imds);
      const { instanceId, source, providerIdProblem } = resolved;
      o.logger.info({ instanceId, source, providerIdProblem }, 'reconciler: instance identified');
      return resolved;
    } catch (err) {
      o.logger.error(
        { err: err instanceof Error ? err.message : String(err), attempt },
        'reconciler: cannot tell which EC2 instance this node is',
      );
      await new Promise((r) => setTimeout(r, backoffDelay(attempt, o.backoff, o.random())).unref?.());
    }
  }
}
