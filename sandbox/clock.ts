/**
 * One clock for every simulated controller and emulator. `speed` compresses what the simulation
 * waits for: at speed 60 a 30 s grace period passes in 0.5 s of real time. The adapter's own
 * components never use this clock; they run on real time.
 */
export class SimClock {
  readonly speed: number;
  private readonly realStart: number;
  private readonly simStart: number;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(options: { speed?: number; start?: number } = {}) {
    const speed = options.speed ?? 1;
    if (!Number.isFinite(speed) || speed <= 0)
      throw new Error(`clock speed must be a positive number, got ${speed}`);
    this.speed = speed;
    this.realStart = Date.now();
    this.simStart = options.start ?? this.realStart;
  }

  /** Simulated time in epoch milliseconds. */
  now(): number {
    return this.simStart + (Date.now() - this.realStart) * this.speed;
  }

  /** Simulated time as a Date. */
  date(): Date {
    return new Date(this.now());
  }

  /** Real milliseconds that `simMs` of simulated time take. */
  toReal(simMs: number): number {
    return Math.max(0, simMs / this.speed);
  }

  /** Runs `fn` after `simMs` of simulated time. The returned handle cancels it. */
  setTimeout(fn: () => void, simMs: number): () => void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, this.toReal(simMs));
    t.unref?.();
    this.timers.add(t);
    return () => {
      clearTimeout(t);
      this.timers.delete(t);
    };
  }

  /** Runs `fn` every `simMs` of simulated time until the returned function is called. */
  setInterval(fn: () => void, simMs: number): () => void {
    const t = setInterval(fn, Math.max(1, this.toReal(simMs)));
    t.unref?.();
    this.timers.add(t);
    return () => {
      clearInterval(t);
      this.timers.delete(t);
    };
  }

  /** Resolves after `simMs` of simulated time. */
  sleep(simMs: number): Promise<void> {
    return new Promise((resolve) => this.setTimeout(resolve, simMs));
  }

  /** Cancels every pending timer (on shutdown). */
  stop(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}

/**
 * A small seeded PRNG (mulberry32) so every random choice of a scenario replays the same way.
 */
export class SeededRandom {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  /** A float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [items[i], items[j]] = [items[j], items[i]];
    }
    return items;
  }
  /** A string of `length` characters from `alphabet`. */
  string(length: number, alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789'): string {
    let s = '';
    for (let i = 0; i < length; i++) s += alphabet[this.int(alphabet.length)];
    return s;
  }
}
