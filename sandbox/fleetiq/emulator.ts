/**
 * startFleetIQEmulator: a GameLift FleetIQ endpoint that the real @aws-sdk/client-gamelift talks to,
 * with FleetIQ's rules, throttling and fault injection, on the SimClock shared with the cluster
 * emulator, plus a control surface (in-process and under /_emulator/).
 */
import { SeededRandom, SimClock } from '../clock.js';
import { createLogger, type Logger } from '../../shared/logger.js';
import { ConfigError, parseListen } from '../../shared/ops-server.js';
import { CallCounter } from './calls.js';
import { createControl, type FleetIQControl } from './control.js';
import { FaultInjector, type FaultRule } from './faults.js';
import { DueTimer, SpotMarket, type SpotMarketOptions } from './lifecycle.js';
import { startServer } from './server.js';
import {
  ControlError,
  FleetIQState,
  type FleetIQEvent,
  type FleetIQSettings,
  type GroupSpec,
  type TerminationReason,
} from './state.js';
import { OperationThrottle, type RateLimitsConfig } from './throttle.js';
import type { InstanceStatus } from './validation.js';

export interface FleetIQEmulatorOptions extends Partial<FleetIQSettings> {
  /** `host:port` or `{ host, port }`; default 127.0.0.1:0 (an ephemeral port). */
  listen?: string | { host: string; port: number };
  /** Shared simulated clock (default: a new one at real speed). Not stopped by stop(). */
  clock?: SimClock;
  /** Seeds instance ids, the spot market and fault probabilities (default 1). */
  seed?: number;
  groups?: GroupSpec[];
  /** Per-operation limits; omitted operations keep DEFAULT_RATE_LIMITS, null removes one; false disables all. */
  rateLimits?: RateLimitsConfig | false;
  /** Fault rules active from the start. */
  faults?: FaultRule[];
  /** Start the spot market right away. */
  spotMarket?: SpotMarketOptions;
  /** Default: createLogger('fleetiq-emulator') (JSON on stdout; LOG_LEVEL applies). */
  logger?: Logger;
  /** An instance left its group (drained, Spot interruption, removed): the sandbox removes the matching node. */
  onInstanceTerminated?: (
    groupName: string,
    instanceId: string,
    reason: TerminationReason,
  ) => void | Promise<void>;
  /** An instance joined a group after start (control.createGroup/addInstances, or a replacement). */
  onInstanceLaunched?: (groupName: string, instanceId: string) => void | Promise<void>;
  onInstanceStatusChanged?: (
    groupName: string,
    instanceId: string,
    status: InstanceStatus,
    from: InstanceStatus,
  ) => void | Promise<void>;
  /** Every event (launches, status changes, terminations, game server (de)registrations). */
  onEvent?: (event: FleetIQEvent) => void | Promise<void>;
}

export interface FleetIQEmulator {
  /** Endpoint for GameLiftClient({ endpoint }) or AWS_ENDPOINT_URL_GAMELIFT. */
  url: string;
  control: FleetIQControl;
  clock: SimClock;
  stop(): Promise<void>;
}

export async function startFleetIQEmulator(options: FleetIQEmulatorOptions = {}): Promise<FleetIQEmulator> {
  const logger = options.logger ?? createLogger('fleetiq-emulator');
  const clock = options.clock ?? new SimClock({ speed: 1 });
  const seed = options.seed ?? 1;
  if (!Number.isSafeInteger(seed))
    throw new ConfigError('seed', `must be an integer, got ${JSON.stringify(seed)}`);
  const listen =
    typeof options.listen === 'string'
      ? parseListen(options.listen, 'listen')
      : (options.listen ?? { host: '127.0.0.1', port: 0 });

  // Hooks run after the state change that caused them has completed, so a hook calling back into
  // the control API never sees (or alters) a half-applied transition; their failures are logged.
  // The instances of the initial groups are there before anyone could listen: they are listed by
  // control.instances(), and hooks fire only for what happens once the emulator is serving.
  let hooksLive = false;
  const dispatch = (event: FleetIQEvent): void => {
    logger.info({ event }, `fleetiq emulator: ${event.type}`);
    if (!hooksLive) return;
    queueMicrotask(() => {
      const run = (fn: () => void | Promise<void>): void => {
        try {
          const p = fn();
          if (p && typeof p.then === 'function')
            p.catch((err: unknown) => logger.error({ err, event }, 'fleetiq emulator: hook failed'));
        } catch (err) {
          logger.error({ err, event }, 'fleetiq emulator: hook failed');
        }
      };
      if (options.onEvent) run(() => options.onEvent!(event));
      if (event.type === 'instance-terminated' && options.onInstanceTerminated) {
        run(() => options.onInstanceTerminated!(event.groupName, event.instanceId, event.reason));
      }
      if (event.type === 'instance-launched' && options.onInstanceLaunched) {
        run(() => options.onInstanceLaunched!(event.groupName, event.instanceId));
      }
      if (event.type === 'instance-status-changed' && options.onInstanceStatusChanged) {
        run(() => options.onInstanceStatusChanged!(event.groupName, event.instanceId, event.to, event.from));
      }
    });
  };

  let state: FleetIQState;
  let throttle: OperationThrottle;
  const faults = new FaultInjector(new SeededRandom(seed ^ 0x0fa17));
  try {
    state = new FleetIQState({
      now: () => clock.now(),
      seed,
      settings: pickSettings(options),
      groups: options.groups,
      onEvent: dispatch,
    });
    throttle = new OperationThrottle(options.rateLimits);
    for (const rule of options.faults ?? []) faults.add(rule);
  } catch (err) {
    if (err instanceof ControlError || err instanceof RangeError)
      throw new ConfigError('fleetiq emulator options', err.message);
    throw err;
  }

  const dueTimer = new DueTimer(state, clock, logger);
  const spotMarket = new SpotMarket(state, clock, new SeededRandom(seed ^ 0x5907), logger);
  const calls = new CallCounter();
  const control = createControl({ clock, state, spotMarket, calls, faults, throttle });
  const server = await startServer(listen, { state, throttle, faults, calls, control, logger });
  dueTimer.start();
  hooksLive = true;
  if (options.spotMarket) {
    try {
      spotMarket.start(options.spotMarket);
    } catch (err) {
      dueTimer.stop();
      await server.close();
      throw new ConfigError('spotMarket', (err as Error).message);
    }
  }
  logger.info(
    { url: server.url, groups: control.groups().map((g) => g.name), speed: clock.speed },
    'fleetiq emulator: serving',
  );

  let stopped = false;
  return {
    url: server.url,
    control,
    clock,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      spotMarket.stop();
      dueTimer.stop();
      await server.close();
      logger.info('fleetiq emulator: stopped');
    },
  };
}

function pickSettings(o: FleetIQEmulatorOptions): Partial<FleetIQSettings> {
  const keys: Array<keyof FleetIQSettings> = [
    'region',
    'accountId',
    'healthCheckTimeoutSeconds',
    'drainingTerminationDelaySeconds',
    'spotTerminationSeconds',
    'claimWindowSeconds',
    'replaceTerminatedInstances',
    'maxPageSize',
  ];
  const out: Record<string, unknown> = {};
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k];
  return out as Partial<FleetIQSettings>;
}
