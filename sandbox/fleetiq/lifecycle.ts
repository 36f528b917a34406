/**
 * The emulator's timers, all on the shared SimClock: one timer armed for the next moment the state
 * has something due (health timeout, end of a drain, end of a Spot notice), and the "spot market"
 * that moves random ACTIVE instances to DRAINING or SPOT_TERMINATING at a rate per simulated minute.
 */
import { SeededRandom, type SimClock } from '../clock.js';
import type { Logger } from '../../shared/logger.js';
import type { FleetIQState } from './state.js';

/** Keeps a single clock timer armed for the state's next due time. */
export class DueTimer {
  private cancel?: () => void;
  private armedAt = Infinity;
  private stopped = false;

  constructor(
    private readonly state: FleetIQState,
    private readonly clock: SimClock,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.state.onNextDueChanged = (at) => this.arm(at);
    this.arm(this.state.nextDueAt());
  }

  stop(): void {
    this.stopped = true;
    this.state.onNextDueChanged = undefined;
    this.cancel?.();
    this.cancel = undefined;
  }

  private arm(at: number): void {
    if (this.stopped) return;
    // An earlier timer is already armed: it will fire, reconcile and re-arm for whatever is next.
    if (this.cancel && at >= this.armedAt) return;
    this.cancel?.();
    this.cancel = undefined;
    this.armedAt = Infinity;
    if (!Number.isFinite(at)) return;
    this.armedAt = at;
    // +1 ms: the clock's real→simulated rounding must not fire us a hair before the due time.
    this.cancel = this.clock.setTimeout(() => this.fire(), Math.max(0, at - this.clock.now()) + 1);
  }

  private fire(): void {
    this.cancel = undefined;
    this.armedAt = Infinity;
    try {
      this.state.reconcile();
    } catch (err) {
      this.logger.error({ err }, 'fleetiq emulator: reconcile failed');
    }
    this.arm(this.state.nextDueAt());
  }
}

export interface SpotMarketOptions {
  /** Instances hit per simulated minute (across the chosen groups). */
  ratePerMinute: number;
  /** Share of hits that are Spot interruptions (SPOT_TERMINATING); the rest are rebalancing (DRAINING). Default 0.5. */
  spotTerminatingShare?: number;
  /** Only these groups (default: all). */
  groups?: string[];
  /** 'poisson' (default): random gaps averaging 1/rate; 'regular': exactly one hit every 1/rate minute. */
  pattern?: 'poisson' | 'regular';
}

export interface SpotMarketStatus {
  running: boolean;
  options?: Required<Omit<SpotMarketOptions, 'groups'>> & { groups?: string[] };
  /** Instances the market has hit since the emulator started. */
  hits: number;
}

export class SpotMarket {
  private cancel?: () => void;
  private options?: SpotMarketStatus['options'];
  private hits = 0;
  private nextAt = Infinity;

  constructor(
    private readonly state: FleetIQState,
    private readonly clock: SimClock,
    private readonly random: SeededRandom,
    private readonly logger: Logger,
  ) {}

  /** Starts (or restarts with new options). Throws RangeError naming a bad option. */
  start(options: SpotMarketOptions): SpotMarketStatus {
    const rate = options?.ratePerMinute;
    if (typeof rate !== 'number' || !(rate > 0) || !Number.isFinite(rate)) {
      throw new RangeError(
        `spot market ratePerMinute must be a positive number, got ${JSON.stringify(rate)}`,
      );
    }
    const share = options.spotTerminatingShare ?? 0.5;
    if (typeof share !== 'number' || !(share >= 0 && share <= 1)) {
      throw new RangeError(
        `spot market spotTerminatingShare must be between 0 and 1, got ${JSON.stringify(share)}`,
      );
    }
    const pattern = options.pattern ?? 'poisson';
    if (pattern !== 'poisson' && pattern !== 'regular') {
      throw new RangeError(
        `spot market pattern must be 'poisson' or 'regular', got ${JSON.stringify(pattern)}`,
      );
    }
    if (options.groups !== undefined) {
      if (
        !Array.isArray(options.groups) ||
        options.groups.some((g) => typeof g !== 'string' || !this.state.hasGroup(g))
      ) {
        throw new RangeError(
          `spot market groups must name existing game server groups, got ${JSON.stringify(options.groups)}`,
        );
      }
    }
    this.stop();
    this.options = {
      ratePerMinute: rate,
      spotTerminatingShare: share,
      pattern,
      ...(options.groups ? { groups: [...options.groups] } : {}),
    };
    this.logger.info({ spotMarket: this.options }, 'fleetiq emulator: spot market started');
    this.scheduleNext();
    return this.status();
  }

  stop(): SpotMarketStatus {
    if (this.cancel) this.logger.info('fleetiq emulator: spot market stopped');
    this.cancel?.();
    this.cancel = undefined;
    this.options = undefined;
    return this.status();
  }

  status(): SpotMarketStatus {
    return {
      running: this.cancel !== undefined,
      ...(this.options ? { options: { ...this.options } } : {}),
      hits: this.hits,
    };
  }

  /**
   * Hits are scheduled at absolute simulated times: node truncates timer delays to whole real
   * milliseconds, which at high speed would otherwise add up to a visibly faster market.
   */
  private scheduleNext(from = this.clock.now()): void {
    const o = this.options;
    if (!o) return;
    const meanMs = 60_000 / o.ratePerMinute;
    const gapMs = o.pattern === 'regular' ? meanMs : -Math.log(1 - this.random.next()) * meanMs;
    this.nextAt = from + gapMs;
    this.arm();
  }

  private arm(): void {
    this.cancel = this.clock.setTimeout(() => this.fire(), Math.max(0, this.nextAt - this.clock.now()) + 1);
  }

  private fire(): void {
    if (!this.options) return;
    if (this.clock.now() < this.nextAt) return this.arm();
    this.strike();
    this.scheduleNext(this.nextAt);
  }

  private strike(): void {
    const o = this.options;
    if (!o) return;
    try {
      const candidates = this.state.instanceIdsWithStatus('ACTIVE', o.groups);
      if (candidates.length === 0) return;
      const instanceId = this.random.pick(candidates);
      const status = this.random.next() < o.spotTerminatingShare ? 'SPOT_TERMINATING' : 'DRAINING';
      this.state.setInstanceStatus(instanceId, status);
      this.hits++;
      this.logger.info({ instanceId, status }, 'fleetiq emulator: spot market hit an instance');
    } catch (err) {
      this.logger.error({ err }, 'fleetiq emulator: spot market strike failed');
    }
  }
}
