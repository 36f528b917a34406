/**
 * A client-side token bucket shared by every GameLift call (every attempt, SDK retries included):
 * the configured rate is never exceeded, whatever the number of groups or pages. Reservation-style
 * (as Go's rate.Limiter.Reserve): a caller takes a token now and is told how long to wait for it,
 * so callers are served in arrival order and the arithmetic is pure and testable.
 *
 * It also adapts below the configured rate when GameLift throttles (the account's real limit is
 * shared with other callers and not published): each throttled answer halves the rate, each
 * success raises it by 5 % back towards the configured one (AIMD, as TCP and the SDK's adaptive
 * mode do). Without this, a poll needing several pages in a row can starve: every attempt at the
 * limit is refused, and the pages already read are read again on the next try.
 */
export class TokenBucket {
  private ratePerMs: number;
  private maxRatePerMs: number;
  private burst: number;
  /** May go negative: tokens already promised to waiting callers. */
  private tokens: number;
  private updatedAt: number;

  constructor(
    ratePerSecond: number,
    burst = Math.max(1, ratePerSecond),
    private readonly now: () => number = Date.now,
  ) {
    if (!(ratePerSecond > 0)) throw new Error(`rate must be positive, got ${ratePerSecond}`);
    this.ratePerMs = ratePerSecond / 1000;
    this.maxRatePerMs = this.ratePerMs;
    this.burst = Math.max(1, burst);
    this.tokens = this.burst;
    this.updatedAt = now();
  }

  /** The rate in force now (calls per second): the configured one, or less after throttling. */
  rate(): number {
    return this.ratePerMs * 1000;
  }

  private refill(now: number): void {
    const elapsed = Math.max(0, now - this.updatedAt);
    this.tokens = Math.min(this.burst, this.tokens + elapsed * this.ratePerMs);
    this.updatedAt = now;
  }

  /** Takes one token; returns how many milliseconds the caller must wait before using it. */
  reserve(): number {
    const now = this.now();
    this.refill(now);
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : Math.ceil(-this.tokens / this.ratePerMs);
  }

  /** Waits for a token. An aborted wait gives its token back. */
  async take(signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    const wait = this.reserve();
    if (wait === 0) return;
    await new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        clearTimeout(timer);
        this.tokens += 1;
        reject(signal!.reason);
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, wait);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * The server throttled a call: halve the rate (not below 1 % of the configured one, nor below one
   * call per 10 s) and forget saved-up tokens, so no burst follows.
   */
  throttled(): void {
    this.refill(this.now());
    const floor = Math.min(this.maxRatePerMs, Math.max(this.maxRatePerMs / 100, 0.1 / 1000));
    this.ratePerMs = Math.max(floor, this.ratePerMs / 2);
    this.tokens = Math.min(this.tokens, 0);
  }

  /** A call went through: recover 5 % of the rate, up to the configured one. */
  succeeded(): void {
    if (this.ratePerMs >= this.maxRatePerMs) return;
    this.refill(this.now());
    this.ratePerMs = Math.min(this.maxRatePerMs, this.ratePerMs * 1.05);
  }

  /** A new configured rate (and burst): applies at once, adaptation starts over from it. */
  setRate(ratePerSecond: number, burst = Math.max(1, ratePerSecond)): void {
    if (!(ratePerSecond > 0)) throw new Error(`rate must be positive, got ${ratePerSecond}`);
    this.refill(this.now());
    this.ratePerMs = ratePerSecond / 1000;
    this.maxRatePerMs = this.ratePerMs;
    this.burst = Math.max(1, burst);
    this.tokens = Math.min(this.tokens, this.burst);
  }

  /** Tokens available now (negative: promised to waiting callers). */
  available(): number {
    this.refill(this.now());
    return this.tokens;
  }
}
