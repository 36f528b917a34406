/**
 * Fault injection: make chosen operations fail (InternalServiceException, HTTP 500, by default) or
 * hang before answering, with a seeded probability, for a number of calls, or only on given SDK
 * attempt numbers (from `amz-sdk-request: attempt=N`), so a test can fail the first attempt and
 * watch the SDK's retry succeed. Pure decision logic; the server carries the decision out.
 */
import { SeededRandom } from '../clock.js';
import { FLEETIQ_OPERATIONS, defaultStatusFor, type FleetIQOperation } from './protocol.js';

export interface FaultRule {
  /** The operation to disturb, or '*' for all of them. */
  operation: FleetIQOperation | '*';
  /** 'error' answers with an error; 'hang' waits `delayMs` (real time) and then answers normally. */
  kind?: 'error' | 'hang';
  /** Error name (default InternalServiceException). */
  errorType?: string;
  /** HTTP status (default: 500 for InternalServiceException, else 400). */
  httpStatus?: number;
  message?: string;
  /** Real milliseconds a 'hang' holds the request (default 5000): client timeouts are real time. */
  delayMs?: number;
  /** Chance (0–1) that a matching call is hit, drawn from the seeded PRNG (default 1). */
  probability?: number;
  /** Hit at most this many calls, then the rule is removed. */
  count?: number;
  /** Only hit calls whose SDK attempt number is in this list. */
  attempts?: number[];
}

export interface FaultView extends FaultRule {
  id: number;
  /** How many calls this rule has hit so far. */
  hits: number;
}

export type FaultDecision =
  | { kind: 'error'; ruleId: number; errorType: string; httpStatus: number; message: string }
  | { kind: 'hang'; ruleId: number; delayMs: number };

export class FaultInjector {
  private readonly rules: FaultView[] = [];
  private nextId = 1;

  constructor(private readonly random: SeededRandom) {}

  /** Adds a rule after checking it; returns it with its id. Throws RangeError naming the bad field. */
  add(rule: FaultRule): FaultView {
    checkFaultRule(rule);
    const view: FaultView = { ...rule, kind: rule.kind ?? 'error', id: this.nextId++, hits: 0 };
    this.rules.push(view);
    return { ...view };
  }

  remove(id: number): boolean {
    const i = this.rules.findIndex((r) => r.id === id);
    if (i < 0) return false;
    this.rules.splice(i, 1);
    return true;
  }

  clear(): void {
    this.rules.length = 0;
  }

  list(): FaultView[] {
    return this.rules.map((r) => ({ ...r }));
  }

  /** The fault (first matching rule) to apply to this call, if any. */
  decide(operation: FleetIQOperation, attempt: number): FaultDecision | undefined {
    for (const rule of this.rules) {
      if (rule.operation !== '*' && rule.operation !== operation) continue;
      if (rule.attempts && !rule.attempts.includes(attempt)) continue;
      // Drawn only for calls the rule could hit, so the sequence replays for the same calls.
      if (rule.probability !== undefined && rule.probability < 1 && this.random.next() >= rule.probability)
        continue;
      rule.hits++;
      if (rule.count !== undefined && rule.hits >= rule.count) this.remove(rule.id);
      if (rule.kind === 'hang') return { kind: 'hang', ruleId: rule.id, delayMs: rule.delayMs ?? 5000 };
      const errorType = rule.errorType ?? 'InternalServiceException';
      return {
        kind: 'error',
        ruleId: rule.id,
        errorType,
        httpStatus: rule.httpStatus ?? defaultStatusFor(errorType),
        message: rule.message ?? `injected fault (rule ${rule.id}): ${errorType}`,
      };
    }
    return undefined;
  }
}

export function checkFaultRule(rule: unknown): asserts rule is FaultRule {
  if (typeof rule !== 'object' || rule === null || Array.isArray(rule))
    throw new RangeError('a fault rule must be an object');
  const r = rule as Record<string, unknown>;
  const known = [
    'operation',
    'kind',
    'errorType',
    'httpStatus',
    'message',
    'delayMs',
    'probability',
    'count',
    'attempts',
  ];
  for (const k of Object.keys(r))
    if (!known.includes(k)) throw new RangeError(`fault rule: unknown field ${k}`);
  if (r.operation !== '*' && !(FLEETIQ_OPERATIONS as readonly unknown[]).includes(r.operation)) {
    throw new RangeError(
      `fault rule: operation must be '*' or one of ${FLEETIQ_OPERATIONS.join(', ')}, got ${JSON.stringify(r.operation)}`,
    );
  }
  if (r.kind !== undefined && r.kind !== 'error' && r.kind !== 'hang') {
    throw new RangeError(`fault rule: kind must be 'error' or 'hang', got ${JSON.stringify(r.kind)}`);
  }
  if (
    r.errorType !== undefined &&
    (typeof r.errorType !== 'string' || !/^[A-Za-z][A-Za-z0-9]*$/.test(r.errorType))
  ) {
    throw new RangeError(`fault rule: errorType must be an error name, got ${JSON.stringify(r.errorType)}`);
  }
  if (
    r.httpStatus !== undefined &&
    (!Number.isInteger(r.httpStatus) || (r.httpStatus as number) < 400 || (r.httpStatus as number) > 599)
  ) {
    throw new RangeError(
      `fault rule: httpStatus must be an integer 400-599, got ${JSON.stringify(r.httpStatus)}`,
    );
  }
  if (r.message !== undefined && typeof r.message !== 'string')
    throw new RangeError('fault rule: message must be a string');
  if (
    r.delayMs !== undefined &&
    (typeof r.delayMs !== 'number' || !(r.delayMs >= 0) || r.delayMs > 600_000)
  ) {
    throw new RangeError(`fault rule: delayMs must be 0-600000, got ${JSON.stringify(r.delayMs)}`);
  }
  if (
    r.probability !== undefined &&
    (typeof r.probability !== 'number' || !(r.probability >= 0 && r.probability <= 1))
  ) {
    throw new RangeError(
      `fault rule: probability must be between 0 and 1, got ${JSON.stringify(r.probability)}`,
    );
  }
  if (r.count !== undefined && (!Number.isInteger(r.count) || (r.count as number) < 1)) {
    throw new RangeError(`fault rule: count must be a positive integer, got ${JSON.stringify(r.count)}`);
  }
  if (
    r.attempts !== undefined &&
    (!Array.isArray(r.attempts) ||
      r.attempts.length === 0 ||
      r.attempts.some((a) => !Number.isInteger(a) || a < 1))
  ) {
    throw new RangeError(
      `fault rule: attempts must be a non-empty list of attempt numbers >= 1, got ${JSON.stringify(r.attempts)}`,
    );
  }
}
