// Retry pacing shared by the components: exponential back-off with jitter, and a gate that keeps one
// FleetIQ step from being started again while the same step is in flight or backing off.

export interface BackoffPolicy {
  initialMs: number;
  maxMs: number;
}

/**
 * The wait after `failures` consecutive failures (1 → about initialMs, doubling, capped at maxMs),
 * drawn in [0.5, 1] × that so agents failing together (an API outage) come back spread out.
 */
export function backoffDelay(failures: number, policy: BackoffPolicy, random: number): number {
  const base = Math.min(policy.maxMs, policy.initialMs * 2 ** Math.min(Math.max(failures - 1, 0), 20));
  return Math.round(base * (0.5 + 0.5 * random));
}

interface GateEntry {
  inFlight: boolean;
  failures: number;
  retryAt: number;
}

/** Per step key: whether it may start now, and when it may be tried again after failures. */
export class StepGate {
  private readonly entries = new Map<string, GateEntry>();

  constructor(
    private readonly policy: BackoffPolicy,
    private readonly random: () => number = Math.random,
  ) {}

  /** True when the step is neither in flight nor backing off at `now`. */
  mayStart(key: string, now: number): boolean {
    const e = this.entries.get(key);
    return !e || (!e.inFlight && now >= e.retryAt);
  }

  /** Epoch ms the step may be retried (undefined: now, or it is in flight). */
  retryAt(key: string): number | undefined {
    const e = this.entries.get(key);
    return e && !e.inFlight && e.failures > 0 ? e.retryAt : undefined;
  }

  inFlight(key: string): boolean {
    return this.entries.get(key)?.inFlight ?? false;
  }

  started(key: string): void {
    const e = this.entries.get(key) ?? { inFlight: false, failures: 0, retryAt: 0 };
    e.inFlight = true;
    this.entries.set(key, e);
  }

  succeeded(key: string): void {
    this.entries.delete(key);
  }

  /** Records a failure; returns how many in a row and when to retry. */
  failed(key: string, now: number): { failures: number; retryAt: number } {
    const e = this.entries.get(key) ?? { inFlight: false, failures: 0, retryAt: 0 };
    e.inFlight = false;
    e.failures++;
    e.retryAt = now + backoffDelay(e.failures, this.policy, this.random());
    this.entries.set(key, e);
    return { failures: e.failures, retryAt: e.retryAt };
  }

  /** Any step in flight. */
  busy(): boolean {
    for (const e of this.entries.values()) if (e.inFlight) return true;
    return false;
  }
}
