/**
 * The emulator's control surface, separate from the AWS API: a typed in-process API, and the same
 * over HTTP under /_emulator/ (JSON in and out; 400 bad input, 404 unknown thing, 405 wrong
 * method, 409 impossible transition). What a scenario uses to play EC2, Spot and AWS's bad days.
 */
import type { SimClock } from '../clock.js';
import type { CallCounter, CallCounts } from './calls.js';
import type { FaultInjector, FaultRule, FaultView } from './faults.js';
import type { SpotMarket, SpotMarketOptions, SpotMarketStatus } from './lifecycle.js';
import { FLEETIQ_OPERATIONS, isFleetIQOperation, type FleetIQOperation } from './protocol.js';
import {
  ControlError,
  type FleetIQEvent,
  type FleetIQSettings,
  type FleetIQState,
  type GameServerView,
  type GroupSpec,
  type GroupView,
  type InstanceView,
} from './state.js';
import { checkRateLimit, type OperationThrottle, type RateLimit } from './throttle.js';
import { INSTANCE_STATUSES, type InstanceStatus } from './validation.js';

export interface FleetIQControl {
  readonly clock: SimClock;
  /** Simulated time in epoch ms. */
  now(): number;

  groups(): GroupView[];
  group(name: string): GroupView;
  createGroup(spec: GroupSpec): GroupView;
  instances(filter?: {
    group?: string;
    includeTerminated?: boolean;
    status?: InstanceStatus;
  }): InstanceView[];
  instance(instanceId: string): InstanceView | undefined;
  gameServers(filter?: { group?: string; instanceId?: string }): GameServerView[];
  /** Recent events (up to 1000) with sequence numbers; pass the last seen `seq` to get newer ones. */
  events(since?: number): Array<FleetIQEvent & { seq: number }>;

  /** Launches instances into a group (scale-out). */
  addInstances(group: string, request: { count?: number; instanceIds?: string[] }): InstanceView[];
  /** Terminates an instance now; its game servers are removed; onInstanceTerminated fires; no replacement. */
  removeInstance(instanceId: string): InstanceView;
  /** ACTIVE ⇄ DRAINING, anything → SPOT_TERMINATING (final). */
  setInstanceStatus(instanceId: string, status: InstanceStatus): InstanceView;

  settings(): FleetIQSettings;
  configure(changes: Partial<FleetIQSettings>): FleetIQSettings;
  /** Applies due transitions now (timers normally do this on time). */
  reconcile(): void;

  startSpotMarket(options: SpotMarketOptions): SpotMarketStatus;
  stopSpotMarket(): SpotMarketStatus;
  spotMarket(): SpotMarketStatus;

  callCounts(): Record<FleetIQOperation, CallCounts>;
  resetCallCounts(): void;

  addFault(rule: FaultRule): FaultView;
  faults(): FaultView[];
  removeFault(id: number): boolean;
  clearFaults(): void;

  rateLimits(): Record<FleetIQOperation, RateLimit | null>;
  /** Sets (fresh full bucket) or removes (null) one operation's limit. */
  setRateLimit(operation: FleetIQOperation, limit: RateLimit | null): void;
  /** Removes every limit (null) or sets them all to the given defaults/values. */
  setRateLimits(limits: Partial<Record<FleetIQOperation, RateLimit | null>> | null): void;
}

export function createControl(parts: {
  clock: SimClock;
  state: FleetIQState;
  spotMarket: SpotMarket;
  calls: CallCounter;
  faults: FaultInjector;
  throttle: OperationThrottle;
}): FleetIQControl {
  const { clock, state, spotMarket, calls, faults, throttle } = parts;
  const operation = (op: unknown): FleetIQOperation => {
    if (typeof op !== 'string' || !isFleetIQOperation(op)) {
      throw new ControlError(
        400,
        `operation must be one of ${FLEETIQ_OPERATIONS.join(', ')}, got ${JSON.stringify(op)}`,
      );
    }
    return op;
  };
  const setLimit = (op: FleetIQOperation, limit: RateLimit | null): void => {
    if (limit !== null) checkRateLimit(op, limit);
    throttle.set(op, limit);
  };
  return {
    clock,
    now: () => clock.now(),
    groups: () => state.listGroups(),
    group: (name) => state.getGroup(name),
    createGroup: (spec) => state.createGroup(spec),
    instances: (filter) => state.listInstances(filter),
    instance: (id) => state.getInstance(id),
    gameServers: (filter) => state.gameServerViews(filter),
    events: (since) => state.recentEvents(since),
    addInstances: (group, request) => state.addInstances(group, request ?? {}),
    removeInstance: (id) => state.removeInstance(id),
    setInstanceStatus: (id, status) => state.setInstanceStatus(id, status),
    settings: () => ({ ...state.settings }),
    configure: (changes) => state.configure(changes),
    reconcile: () => state.reconcile(),
    startSpotMarket: (options) => spotMarket.start(options),
    stopSpotMarket: () => spotMarket.stop(),
    spotMarket: () => spotMarket.status(),
    callCounts: () => calls.snapshot(),
    resetCallCounts: () => calls.reset(),
    addFault: (rule) => faults.add(rule),
    faults: () => faults.list(),
    removeFault: (id) => faults.remove(id),
    clearFaults: () => faults.clear(),
    rateLimits: () => throttle.limits(),
    setRateLimit: (op, limit) => setLimit(operation(op), limit),
    setRateLimits: (limits) => {
      if (limits === null) {
        for (const op of FLEETIQ_OPERATIONS) throttle.set(op, null);
        return;
      }
      if (typeof limits !== 'object' || Array.isArray(limits))
        throw new ControlError(400, 'rate limits must be an object keyed by operation');
      const entries = Object.entries(limits).map(([op, l]) => [operation(op), l ?? null] as const);
      for (const [op, l] of entries) if (l !== null) checkRateLimit(op, l);
      for (const [op, l] of entries) throttle.set(op, l);
    },
  };
}

export interface ControlHttpResponse {
  status: number;
  body: unknown;
  contentType?: string;
}

type Handler = (ctx: { query: URLSearchParams; body: Record<string, unknown> }) => unknown;

/**
 * Routes one /_emulator/ request. `path` excludes the query string; `body` is the raw request
 * body (JSON for POST). Never throws: bad input becomes a 4xx with `{ error }`.
 */
export async function handleControlRequest(
  control: FleetIQControl,
  method: string,
  path: string,
  query: URLSearchParams,
  rawBody: string,
  metrics?: () => Promise<{ contentType: string; text: string }>,
): Promise<ControlHttpResponse> {
  const routes: Record<string, { GET?: Handler; POST?: Handler }> = {
    '/_emulator/healthz': { GET: () => ({ ok: true }) },
    '/_emulator/clock': { GET: () => ({ now: control.now(), speed: control.clock.speed }) },
    '/_emulator/state': {
      GET: () => ({
        now: control.now(),
        speed: control.clock.speed,
        settings: control.settings(),
        groups: control.groups(),
        instances: control.instances({ includeTerminated: true }),
        gameServers: control.gameServers(),
        spotMarket: control.spotMarket(),
      }),
    },
    '/_emulator/groups': {
      GET: () => ({ groups: control.groups() }),
      POST: ({ body }) => ({ group: control.createGroup(body as unknown as GroupSpec) }),
    },
    '/_emulator/instances': {
      GET: ({ query }) => ({
        instances: control.instances({
          group: query.get('group') ?? undefined,
          includeTerminated: query.get('includeTerminated') === 'true',
          status: optionalStatus(query.get('status')),
        }),
      }),
      POST: ({ body }) => ({
        instances: control.addInstances(requireString(body, 'group'), {
          count: body.count as number | undefined,
          instanceIds: body.instanceIds as string[] | undefined,
        }),
      }),
    },
    '/_emulator/instances/terminate': {
      POST: ({ body }) => ({ instance: control.removeInstance(requireString(body, 'instanceId')) }),
    },
    '/_emulator/instances/status': {
      POST: ({ body }) => ({
        instance: control.setInstanceStatus(
          requireString(body, 'instanceId'),
          requireString(body, 'status') as InstanceStatus,
        ),
      }),
    },
    '/_emulator/game-servers': {
      GET: ({ query }) => ({
        gameServers: control.gameServers({
          group: query.get('group') ?? undefined,
          instanceId: query.get('instanceId') ?? undefined,
        }),
      }),
    },
    '/_emulator/events': {
      GET: ({ query }) => ({ events: control.events(optionalInteger(query.get('since'), 'since') ?? 0) }),
    },
    '/_emulator/settings': {
      GET: () => ({ settings: control.settings() }),
      POST: ({ body }) => ({ settings: control.configure(body as Partial<FleetIQSettings>) }),
    },
    '/_emulator/reconcile': { POST: () => (control.reconcile(), { ok: true }) },
    '/_emulator/spot-market': { GET: () => ({ spotMarket: control.spotMarket() }) },
    '/_emulator/spot-market/start': {
      POST: ({ body }) => ({ spotMarket: control.startSpotMarket(body as unknown as SpotMarketOptions) }),
    },
    '/_emulator/spot-market/stop': { POST: () => ({ spotMarket: control.stopSpotMarket() }) },
    '/_emulator/calls': { GET: () => ({ calls: control.callCounts() }) },
    '/_emulator/calls/reset': { POST: () => (control.resetCallCounts(), { calls: control.callCounts() }) },
    '/_emulator/faults': {
      GET: () => ({ faults: control.faults() }),
      POST: ({ body }) => ({ fault: control.addFault(body as unknown as FaultRule) }),
    },
    '/_emulator/faults/remove': {
      POST: ({ body }) => {
        const id = body.id;
        if (!Number.isInteger(id)) throw new ControlError(400, 'id must be the integer id of a fault rule');
        if (!control.removeFault(id as number))
          throw new ControlError(404, `no fault rule with id ${String(id)}`);
        return { faults: control.faults() };
      },
    },
    '/_emulator/faults/clear': { POST: () => (control.clearFaults(), { faults: [] }) },
    '/_emulator/rate-limits': {
      GET: () => ({ rateLimits: control.rateLimits() }),
      // { operation, ratePerSecond, burst } sets one; { operation, disabled: true } removes one;
      // { disableAll: true } removes all; { limits: { Op: {...} | null } } sets several.
      POST: ({ body }) => {
        if (body.disableAll === true) control.setRateLimits(null);
        else if (body.limits !== undefined)
          control.setRateLimits(body.limits as Record<FleetIQOperation, RateLimit | null>);
        else {
          const op = requireString(body, 'operation') as FleetIQOperation;
          control.setRateLimit(
            op,
            body.disabled === true
              ? null
              : { ratePerSecond: body.ratePerSecond as number, burst: body.burst as number },
          );
        }
        return { rateLimits: control.rateLimits() };
      },
    },
  };

  try {
    if (path === '/_emulator/metrics' && metrics) {
      if (method !== 'GET') return methodNotAllowed(method, path, ['GET']);
      const m = await metrics();
      return { status: 200, body: m.text, contentType: m.contentType };
    }
    const route = routes[path];
    if (!route) {
      return {
        status: 404,
        body: { error: `no control endpoint ${path}; endpoints: ${Object.keys(routes).join(', ')}` },
      };
    }
    const handler =
      method === 'GET' || method === 'HEAD' ? route.GET : method === 'POST' ? route.POST : undefined;
    if (!handler) return methodNotAllowed(method, path, Object.keys(route));
    let body: Record<string, unknown> = {};
    if (method === 'POST' && rawBody.trim() !== '') {
      let parsed: unknown;
      try {
        parsed = JSON.parse(rawBody);
      } catch (err) {
        return { status: 400, body: { error: `request body is not valid JSON: ${(err as Error).message}` } };
      }
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
        return { status: 400, body: { error: 'request body must be a JSON object' } };
      }
      body = parsed as Record<string, unknown>;
    }
    return { status: 200, body: handler({ query, body }) };
  } catch (err) {
    if (err instanceof ControlError) return { status: err.status, body: { error: err.message } };
    if (err instanceof RangeError || err instanceof TypeError)
      return { status: 400, body: { error: err.message } };
    return {
      status: 500,
      body: { error: `control request failed: ${(err as Error)?.message ?? String(err)}` },
    };
  }
}

function methodNotAllowed(method: string, path: string, allowed: string[]): ControlHttpResponse {
  return { status: 405, body: { error: `${method} not allowed on ${path}; use ${allowed.join(' or ')}` } };
}

function requireString(body: Record<string, unknown>, field: string): string {
  const v = body[field];
  if (typeof v !== 'string' || v === '') throw new ControlError(400, `${field} is required (a string)`);
  return v;
}

function optionalStatus(v: string | null): InstanceStatus | undefined {
  if (v === null) return undefined;
  if (!(INSTANCE_STATUSES as readonly string[]).includes(v)) {
    throw new ControlError(
      400,
      `status must be one of ${INSTANCE_STATUSES.join(', ')}, got ${JSON.stringify(v)}`,
    );
  }
  return v as InstanceStatus;
}

function optionalInteger(v: string | null, name: string): number | undefined {
  if (v === null) return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0)
    throw new ControlError(400, `${name} must be a non-negative integer, got ${JSON.stringify(v)}`);
  return n;
}
