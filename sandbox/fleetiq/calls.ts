/** Per-operation call counts, so tests and benchmarks can see what clients did (and what was throttled). */
import { FLEETIQ_OPERATIONS, type FleetIQOperation } from './protocol.js';

export interface CallCounts {
  /** Every request naming this operation, whatever the outcome (each SDK retry is one call). */
  calls: number;
  /** Answered 200. */
  succeeded: number;
  /** Answered ThrottlingException by the rate limiter. */
  throttled: number;
  /** Answered with an injected error. */
  faulted: number;
  /** Held by an injected hang. */
  hung: number;
  /** Every error answer by error name (throttling and injected faults included). */
  errors: Record<string, number>;
}

export type CallOutcome =
  { ok: true } | { ok: false; errorType: string; throttled?: boolean; faulted?: boolean };

export class CallCounter {
  private counts = CallCounter.empty();

  private static empty(): Record<FleetIQOperation, CallCounts> {
    const out = {} as Record<FleetIQOperation, CallCounts>;
    for (const op of FLEETIQ_OPERATIONS)
      out[op] = { calls: 0, succeeded: 0, throttled: 0, faulted: 0, hung: 0, errors: {} };
    return out;
  }

  received(operation: FleetIQOperation): void {
    this.counts[operation].calls++;
  }

  hung(operation: FleetIQOperation): void {
    this.counts[operation].hung++;
  }

  answered(operation: FleetIQOperation, outcome: CallOutcome): void {
    const c = this.counts[operation];
    if (outcome.ok) {
      c.succeeded++;
      return;
    }
    c.errors[outcome.errorType] = (c.errors[outcome.errorType] ?? 0) + 1;
    if (outcome.throttled) c.throttled++;
    if (outcome.faulted) c.faulted++;
  }

  snapshot(): Record<FleetIQOperation, CallCounts> {
    return structuredClone(this.counts);
  }

  reset(): void {
    this.counts = CallCounter.empty();
  }
}
