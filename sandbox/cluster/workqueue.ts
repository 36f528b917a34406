// A controller work queue as client-go's: a key is queued at most once, a key re-added while it is
// being processed runs again afterwards (so no change is missed and no key runs twice at once),
// failures are retried with exponential backoff, delayed re-adds run on the simulation clock.

import type { Logger } from 'pino';
import type { SimClock } from '../clock.js';

export interface WorkQueueOptions {
  name: string;
  clock: SimClock;
  logger: Logger;
  concurrency?: number;
  /** First retry delay after a failure, simulated ms (doubles per consecutive failure). */
  baseBackoffMs?: number;
  maxBackoffMs?: number;
  /**
   * Real milliseconds between two runs of the same key: a throughput limit (a controller whose
   * every sync walks all its objects would otherwise re-run on every single event).
   */
  minIntervalMs?: number | ((key: string) => number);
}

export class WorkQueue {
  private readonly queue: string[] = [];
  private head = 0;
  private readonly queued = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly delayed = new Map<string, { at: number; cancel: () => void }>();
  private active = 0;
  private readonly lastRun = new Map<string, number>();
  private readonly throttled = new Set<string>();
  private readonly urgent = new Set<string>();
  private stopped = false;
  private idleWaiters: (() => void)[] = [];
  processed = 0;
  errors = 0;

  constructor(
    private readonly worker: (key: string) => Promise<void>,
    private readonly options: WorkQueueOptions,
  ) {}

  get length(): number {
    return this.queue.length - this.head;
  }

  add(key: string): void {
    if (this.stopped) return;
    const m = this.options.minIntervalMs;
    const gap = typeof m === 'function' ? m(key) : (m ?? 0);
    if (gap > 0 && !this.processing.has(key) && !this.queued.has(key)) {
      const since = Date.now() - (this.lastRun.get(key) ?? 0);
      if (since < gap) {
        if (!this.throttled.has(key)) {
          this.throttled.add(key);
          const t = setTimeout(() => {
            this.throttled.delete(key);
            this.lastRun.delete(key);
            this.add(key);
          }, gap - since);
          t.unref?.();
        }
        return;
      }
    }
    if (this.throttled.has(key)) return;
    if (this.processing.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.queue.push(key);
    this.pump();
  }

  /** Adds the key now, ignoring the minimum interval (more work is known to be waiting). */
  addNow(key: string): void {
    if (this.processing.has(key)) this.urgent.add(key);
    this.lastRun.delete(key);
    this.throttled.delete(key);
    this.add(key);
  }

  /** Adds the key after `simMs` of simulated time (an earlier pending re-add wins). */
  addAfter(key: string, simMs: number): void {
    if (this.stopped) return;
    if (simMs <= 0) {
      this.add(key);
      return;
    }
    const at = this.options.clock.now() + simMs;
    const existing = this.delayed.get(key);
    if (existing && existing.at <= at) return;
    existing?.cancel();
    const cancel = this.options.clock.setTimeout(() => {
      this.delayed.delete(key);
      this.add(key);
    }, simMs);
    this.delayed.set(key, { at, cancel });
  }

  private pump(): void {
    const concurrency = this.options.concurrency ?? 1;
    while (!this.stopped && this.active < concurrency && this.head < this.queue.length) {
      const key = this.queue[this.head++];
      if (this.head > 1024 && this.head * 2 > this.queue.length) {
        this.queue.splice(0, this.head);
        this.head = 0;
      }
      this.queued.delete(key);
      this.processing.add(key);
      if (this.options.minIntervalMs) this.lastRun.set(key, Date.now());
      this.active++;
      void this.run(key);
    }
    if (this.active === 0 && this.length === 0) for (const w of this.idleWaiters.splice(0)) w();
  }

  private async run(key: string): Promise<void> {
    // Yield first so that a burst of adds is coalesced and handlers never run re-entrantly.
    await new Promise<void>((r) => setImmediate(r));
    try {
      if (!this.stopped) {
        await this.worker(key);
        this.failures.delete(key);
        this.processed++;
      }
    } catch (err) {
      this.errors++;
      const n = (this.failures.get(key) ?? 0) + 1;
      this.failures.set(key, n);
      const base = this.options.baseBackoffMs ?? 5;
      const delay = Math.min(this.options.maxBackoffMs ?? 5000, base * 2 ** (n - 1));
      this.options.logger.debug(
        { err, key, queue: this.options.name, retryInMs: delay },
        'sync failed; will retry',
      );
      this.processing.delete(key);
      this.dirty.delete(key);
      this.active--;
      this.addAfter(key, delay);
      this.pump();
      return;
    }
    this.processing.delete(key);
    this.active--;
    if (this.urgent.delete(key)) this.lastRun.delete(key);
    if (this.dirty.delete(key)) this.add(key);
    this.pump();
  }

  /** Resolves when nothing is queued or running (delayed re-adds do not count). */
  idle(): Promise<void> {
    if (this.active === 0 && this.length === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  stop(): void {
    this.stopped = true;
    for (const d of this.delayed.values()) d.cancel();
    this.delayed.clear();
    for (const w of this.idleWaiters.splice(0)) w();
  }
}
