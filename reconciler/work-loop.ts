// The agent's reconcile loop, controller-runtime style: one pass at a time (single flight), triggered
// by the observer (watches, status changes, FleetIQ results) and by its own timers. Triggers arriving
// during a pass coalesce into one more pass; a burst of watch events in the same tick becomes one pass.
//
// Like controller-runtime's Reconcile(request) → Result, a pass says how it went and the loop alone
// turns that into pacing: again at once, after a back-off (shared/backoff.ts) or at a requested time.
// The pass keeps no failure counters of its own.
import { backoffDelay, type BackoffPolicy } from '../shared/backoff.js';
import type { Logger } from '../shared/logger.js';
import { settledWithin } from '../shared/timeout.js';

export type PassResult = (
  | /** Something was done: what is observed changed, so pass again at once. */ { outcome: 'acted' }
  | /** Nothing left to do now. */ { outcome: 'idle' }
  | /** Not able to observe yet (no Node, lists not complete): the observer's events bring the next pass. */ {
      outcome: 'waiting';
    }
  | /** A read or a step failed: pass again after a back-off that grows while failures follow each other. */ {
      outcome: 'failed';
    }
  | /**
     * Someone else wrote first (a precondition failed): pass again at once `immediateRetries` times in
     * a row, then back off (something keeps changing under the agent's feet).
     */ { outcome: 'conflict'; immediateRetries: number }
) & {
  /** Pass again after this long at the latest (decide()'s timers, a FleetIQ step's back-off). */
  requeueAfterMs?: number;
};

export interface ReconcileLoopOptions {
  pass: () => Promise<PassResult>;
  logger: Logger;
  backoff: BackoffPolicy;
  now?: () => number;
  random?: () => number;
  /** The wait after a pass that threw (a bug: passes report their failures as results). */
  unexpectedErrorDelayMs?: number;
}

export class ReconcileLoop {
  private dirty = false;
  private active?: Promise<void>;
  private scheduled = false;
  private timer?: NodeJS.Timeout;
  private timerAt?: number;
  private stopped = false;
  /** Failed passes in a row (reset by a pass that acts or has nothing to do). */
  private failures = 0;
  /** Conflicts in a row (reset likewise). */
  private conflicts = 0;
  private readonly now: () => number;
  private readonly random: () => number;

  constructor(private readonly o: ReconcileLoopOptions) {
    this.now = o.now ?? Date.now;
    this.random = o.random ?? Math.random;
  }

  /** Runs a pass as soon as possible (after the one in progress, if any). */
  trigger(): void {
    if (this.stopped) return;
    this.dirty = true;
    if (this.active || this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (this.stopped || this.active) return;
      this.active = this.run().finally(() => {
        this.active = undefined;
        // A trigger that arrived as the last pass ended.
        if (this.dirty && !this.stopped) this.trigger();
      });
    });
  }

  /** When the next timed pass is due (for tests and logs). */
  nextTimedPassAt(): number | undefined {
    return this.timerAt;
  }

  /** Failed passes and conflicts in a row, as the loop paces them. */
  streaks(): { failures: number; conflicts: number } {
    return { failures: this.failures, conflicts: this.conflicts };
  }

  /** Stops triggering; waits at most graceMs for the pass in progress. Returns whether it finished. */
  async stop(graceMs: number): Promise<boolean> {
    this.stopped = true;
    clearTimeout(this.timer);
    if (!this.active) return true;
    return settledWithin(this.active, graceMs);
  }

  private async run(): Promise<void> {
    while (this.dirty && !this.stopped) {
      this.dirty = false;
      let result: PassResult;
      try {
        result = await this.o.pass();
      } catch (err) {
        this.o.logger.error({ err }, 'reconcile: unexpected error');
        this.requeueAfter(this.o.unexpectedErrorDelayMs ?? 1000);
        continue;
      }
      this.apply(result);
    }
  }

  private apply(r: PassResult): void {
    if (r.requeueAfterMs !== undefined) this.requeueAfter(r.requeueAfterMs);
    switch (r.outcome) {
      case 'acted':
        this.failures = 0;
        this.conflicts = 0;
        this.dirty = true;
        return;
      case 'idle':
        this.failures = 0;
        this.conflicts = 0;
        return;
      case 'waiting':
        return;
      case 'failed':
        this.failures++;
        this.requeueAfter(backoffDelay(this.failures, this.o.backoff, this.random()));
        return;
      case 'conflict':
        this.conflicts++;
        if (this.conflicts <= r.immediateRetries) this.dirty = true;
        else
          this.requeueAfter(backoffDelay(this.conflicts - r.immediateRetries, this.o.backoff, this.random()));
        return;
    }
  }

  /** A timed pass in `ms` unless one is already due sooner. */
  private requeueAfter(ms: number): void {
    if (this.stopped) return;
    const at = this.now() + Math.max(0, ms);
    if (this.timerAt !== undefined && this.timerAt <= at) return;
    clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(
      () => {
        this.timerAt = undefined;
        this.timer = undefined;
        this.trigger();
      },
      Math.max(0, ms),
    );
    this.timer.unref?.();
  }
}
