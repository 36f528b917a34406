// The agent's reconcile loop, controller-runtime style: one pass at a time (single flight), triggered
// by events (watches, status changes, FleetIQ results) and timers. Triggers arriving during a pass
// coalesce into one more pass; a burst of watch events in the same tick becomes one pass.
import type { Logger } from '../shared/logger.js';

export class ReconcileLoop {
  private dirty = false;
  private active?: Promise<void>;
  private scheduled = false;
  private timer?: NodeJS.Timeout;
  private timerAt?: number;
  private stopped = false;

  constructor(
    private readonly pass: () => Promise<void>,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

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

  /** Runs a pass in `ms` unless one is already due sooner. */
  requeueAfter(ms: number): void {
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

  /** When the next timed pass is due (for tests and logs). */
  nextTimedPassAt(): number | undefined {
    return this.timerAt;
  }

  /** Stops triggering; waits at most graceMs for the pass in progress. Returns whether it finished. */
  async stop(graceMs: number): Promise<boolean> {
    this.stopped = true;
    clearTimeout(this.timer);
    if (!this.active) return true;
    let timer: NodeJS.Timeout | undefined;
    const finished = await Promise.race([
      this.active.then(() => true),
      new Promise<boolean>((r) => {
        timer = setTimeout(() => r(false), graceMs);
      }),
    ]);
    clearTimeout(timer);
    return finished;
  }

  private async run(): Promise<void> {
    while (this.dirty && !this.stopped) {
      this.dirty = false;
      try {
        await this.pass();
      } catch (err) {
        // A pass handles its own failures; anything escaping is a bug, logged rather than fatal.
        this.logger.error({ err }, 'reconcile: unexpected error');
        this.requeueAfter(1000);
      }
    }
  }
}
