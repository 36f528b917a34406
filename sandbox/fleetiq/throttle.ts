/**
 * Per-operation token buckets, answered as AWS does: HTTP 400 ThrottlingException "Rate exceeded".
 *
 * Buckets run on REAL time, not the simulated clock: the clients being throttled (pubsub, node
 * agent) always run on real time, so a poller's calls per real second are what AWS would count,
 * whatever speed the simulation runs at.
 */
import { FLEETIQ_OPERATIONS, type FleetIQOperation } from './protocol.js';

export interface RateLimit {
  /** Sustained calls per second (token refill rate). */
  ratePerSecond: number;
  /** Bucket size: how many calls may arrive at once after a quiet period. */
  burst: number;
}

/**
 * Defaults in the spirit of AWS's guidance (the real per-account limits are not published):
 * DescribeGameServerInstances is the call AWS warns about ("cache the results and refresh no more
 * than once every 10 seconds"); a tight loop exceeds 20/s within a couple of seconds, while a poller
 * listing 10 groups with 10,000 instances every 10 s needs ~10 calls (pages of up to 1000) per poll.
 * The per-game-server calls are sized for ~1000 nodes reporting health every 30-60 s.
 */
export const DEFAULT_RATE_LIMITS: Readonly<Record<FleetIQOperation, RateLimit>> = {
  DescribeGameServerInstances: { ratePerSecond: 20, burst: 40 },
  DescribeGameServerGroup: { ratePerSecond: 10, burst: 20 },
  ListGameServers: { ratePerSecond: 20, burst: 40 },
  DescribeGameServer: { ratePerSecond: 50, burst: 100 },
  RegisterGameServer: { ratePerSecond: 50, burst: 100 },
  DeregisterGameServer: { ratePerSecond: 50, burst: 100 },
  ClaimGameServer: { ratePerSecond: 50, burst: 100 },
  UpdateGameServer: { ratePerSecond: 100, burst: 200 },
};

export class TokenBucket {
  private tokens: number;
  private last: number;
  constructor(
    readonly limit: RateLimit,
    private readonly nowMs: () => number,
  ) {
    this.tokens = limit.burst;
    this.last = nowMs();
  }

  /** Takes a token if one is available. */
  tryTake(): boolean {
    const now = this.nowMs();
    this.tokens = Math.min(
      this.limit.burst,
      this.tokens + ((now - this.last) / 1000) * this.limit.ratePerSecond,
    );
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

export type RateLimitsConfig = Partial<Record<FleetIQOperation, RateLimit | null>>;

/** One bucket per operation; an operation without a limit is never throttled. */
export class OperationThrottle {
  private readonly buckets = new Map<FleetIQOperation, TokenBucket>();

  constructor(
    limits: RateLimitsConfig | false | undefined,
    private readonly nowMs: () => number = () => performance.now(),
  ) {
    if (limits === false) return;
    for (const op of FLEETIQ_OPERATIONS) {
      const limit = limits && op in limits ? limits[op] : DEFAULT_RATE_LIMITS[op];
      if (limit) this.set(op, limit);
    }
  }

  /** True when the call may proceed. */
  admit(operation: FleetIQOperation): boolean {
    return this.buckets.get(operation)?.tryTake() ?? true;
  }

  /** Sets (a fresh, full bucket) or removes (null) the limit of one operation. */
  set(operation: FleetIQOperation, limit: RateLimit | null): void {
    if (limit === null) {
      this.buckets.delete(operation);
      return;
    }
    checkRateLimit(operation, limit);
    this.buckets.set(
      operation,
      new TokenBucket({ ratePerSecond: limit.ratePerSecond, burst: limit.burst }, this.nowMs),
    );
  }

  limits(): Record<FleetIQOperation, RateLimit | null> {
    const out = {} as Record<FleetIQOperation, RateLimit | null>;
    for (const op of FLEETIQ_OPERATIONS) out[op] = this.buckets.get(op)?.limit ?? null;
    return out;
  }
}

export function checkRateLimit(operation: string, limit: unknown): asserts limit is RateLimit {
  const l = limit as Partial<RateLimit> | null;
  if (
    typeof l !== 'object' ||
    l === null ||
    typeof l.ratePerSecond !== 'number' ||
    !(l.ratePerSecond > 0) ||
    !Number.isFinite(l.ratePerSecond) ||
    typeof l.burst !== 'number' ||
    !(l.burst >= 1) ||
    !Number.isFinite(l.burst)
  ) {
    throw new RangeError(
      `rate limit of ${operation} must be { ratePerSecond > 0, burst >= 1 }, got ${JSON.stringify(limit)}`,
    );
  }
}
