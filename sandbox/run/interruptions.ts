// What FleetIQ does to the sandbox's instances: nothing, a random rate (the FleetIQ emulator's spot
// market: rebalancing DRAINING and Spot interruption notices), or a script of exactly when and what,
// which may also hold an operator's drain requests (the drain-request annotation, as `kubectl fleetiq
// drain` writes it). Parsing and the pure choice of which instances a scripted step hits; load.ts runs them.
import { parseDuration } from '../../shared/duration.js';
import { ConfigError } from '../../shared/ops-server.js';
import { FLEETIQ_STATUSES, type InstanceStatus } from '../../shared/contract.js';
import { SeededRandom } from '../clock.js';

/**
 * An operator's step: DRAIN and DEREGISTER write the drain request (`drain`, `deregister`) on that many
 * nodes that are not draining (ACTIVE in FleetIQ, no request); UNDRAIN removes it from that many
 * requested nodes.
 */
export const REQUEST_ACTIONS = ['DRAIN', 'DEREGISTER', 'UNDRAIN'] as const;
export type RequestAction = (typeof REQUEST_ACTIONS)[number];

/** FleetIQ's step. */
export interface FleetIQStep {
  /** Simulated ms after the load starts. */
  atMs: number;
  /**
   * DRAINING or SPOT_TERMINATING: that many ACTIVE instances get it. ACTIVE: that many DRAINING
   * instances are declared viable again (FleetIQ reverting a rebalancing decision).
   */
  status: InstanceStatus;
  request?: undefined;
  count: number;
}

export interface RequestStep {
  atMs: number;
  request: RequestAction;
  status?: undefined;
  count: number;
}

export type ScriptStep = FleetIQStep | RequestStep;

export type Interruptions =
  | { kind: 'none' }
  | { kind: 'rate'; perMinute: number; spotShare: number }
  | { kind: 'script'; steps: ScriptStep[] };

const RATE = /^\d+(?:\.\d+)?\s*\/\s*(?:min|m|h|hour|s|sec)$/i;

/**
 * `none`; a rate `2/min` (also `/h`, `/s`) of random hits (half Spot notices unless --spot-share);
 * or a script `30s:DRAINING:1,60s:SPOT_TERMINATING:2,90s:ACTIVE:1,120s:DRAIN:1,150s:UNDRAIN:1`
 * (time:status-or-request[:count]).
 */
export function parseInterruptions(value: string, flag = '--interruptions'): Interruptions {
  const text = value.trim();
  if (text === 'none' || text === '0' || text === 'off') return { kind: 'none' };
  if (RATE.test(text)) {
    const [n, unit] = text.split('/').map((s) => s.trim().toLowerCase());
    const perSecond = { s: 1, sec: 1, m: 60, min: 60, h: 3600, hour: 3600 }[unit!]!;
    const perMinute = (Number(n) / perSecond) * 60;
    if (!(perMinute > 0)) throw new ConfigError(flag, `a rate must be positive, got "${value}"`);
    return { kind: 'rate', perMinute, spotShare: 0.5 };
  }
  if (text === '') throw new ConfigError(flag, 'must not be empty (use none for no interruptions)');
  const steps = text.split(',').map((part, i) => parseStep(part.trim(), i, flag, value));
  steps.sort((a, b) => a.atMs - b.atMs);
  return { kind: 'script', steps };
}

function parseStep(part: string, index: number, flag: string, whole: string): ScriptStep {
  const fields = part.split(':');
  const bad = (why: string) =>
    new ConfigError(
      flag,
      `step ${index + 1} "${part}" of "${whole}": ${why}; expected a rate like 2/min, none, or steps like 30s:DRAINING:1,60s:SPOT_TERMINATING:1,90s:DRAIN:1`,
    );
  if (fields.length < 2 || fields.length > 3) throw bad('expected TIME:STATUS[:COUNT]');
  let atMs: number;
  try {
    atMs = parseDuration(fields[0]!, flag, { requireUnit: true });
  } catch {
    throw bad(`"${fields[0]}" is not a duration such as 30s or 2m`);
  }
  const what = fields[1]!.toUpperCase();
  const isStatus = (FLEETIQ_STATUSES as readonly string[]).includes(what);
  if (!isStatus && !(REQUEST_ACTIONS as readonly string[]).includes(what))
    throw bad(
      `the second field must be a FleetIQ status (${FLEETIQ_STATUSES.join(', ')}) or a drain request (${REQUEST_ACTIONS.join(', ')})`,
    );
  let count = 1;
  if (fields[2] !== undefined) {
    if (!/^\d+$/.test(fields[2]) || Number(fields[2]) < 1) throw bad('COUNT must be a whole number >= 1');
    count = Number(fields[2]);
  }
  return isStatus
    ? { atMs, status: what as InstanceStatus, count }
    : { atMs, request: what as RequestAction, count };
}

/**
 * Where Spot notices land. `busiest` (the default): on the nodes holding the most sessions, the case
 * that matters (sessions must be given a graceful end within two minutes), which random hits on a
 * half-empty fleet mostly miss. `random`: any ACTIVE instance, as AWS does.
 */
export type SpotTarget = 'busiest' | 'random';
export const SPOT_TARGETS: readonly SpotTarget[] = ['busiest', 'random'];

/**
 * A rate of interruptions as a script: one hit every 60/perMinute simulated seconds from the load's
 * start until `untilMs`, each a Spot notice with probability `spotShare` (else a DRAINING), drawn from
 * the seed alone. The same seed gives the same times and kinds whatever happens during the run.
 */
export function rateSchedule(
  perMinute: number,
  spotShare: number,
  seed: number,
  untilMs: number,
): FleetIQStep[] {
  const random = new SeededRandom((seed ^ 0x5c4e) >>> 0);
  const every = 60_000 / perMinute;
  const steps: FleetIQStep[] = [];
  for (let at = every; at <= untilMs; at += every)
    steps.push({
      atMs: Math.round(at),
      status: random.next() < spotShare ? 'SPOT_TERMINATING' : 'DRAINING',
      count: 1,
    });
  return steps;
}

/**
 * The instances a Spot notice hits with `busiest`: the candidates holding the most sessions first;
 * between equally busy ones, a seeded random order.
 */
export function pickBusiest(
  candidates: readonly string[],
  count: number,
  sessionsOf: (instanceId: string) => number,
  random: SeededRandom,
): string[] {
  const shuffled = pickTargets(candidates, candidates.length, random);
  const sessions = new Map(shuffled.map((id) => [id, sessionsOf(id)]));
  return shuffled
    .map((id, i) => ({ id, i }))
    .sort((a, b) => sessions.get(b.id)! - sessions.get(a.id)! || a.i - b.i)
    .slice(0, count)
    .map((x) => x.id);
}

/** The instances a step hits: `count` of the candidates (seeded random choice, no repeats). */
export function pickTargets(candidates: readonly string[], count: number, random: SeededRandom): string[] {
  const pool = [...candidates].sort();
  random.shuffle(pool);
  return pool.slice(0, count);
}

/** One line for logs and the UI. */
export function describeInterruptions(i: Interruptions): string {
  switch (i.kind) {
    case 'none':
      return 'none';
    case 'rate':
      return `${round(i.perMinute)}/min (${Math.round(i.spotShare * 100)}% Spot notices)`;
    case 'script':
      return i.steps.map((s) => `${s.atMs / 1000}s:${s.status ?? s.request}:${s.count}`).join(',');
  }
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}
