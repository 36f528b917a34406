// The load a sandbox run applies, on the simulated clock: players asking for game servers at a steady
// rate (each session held for a seeded random length, then ended by the game server itself), and
// FleetIQ interrupting instances, at a rate (a schedule drawn from the seed) or as scripted. A share of
// the Spot notices is preceded by an EC2 rebalance recommendation in the instance's metadata.
import { SeededRandom, type SimClock } from '../clock.js';
import type { ClusterSimulation } from '../cluster/index.js';
import type { FleetIQEmulator } from '../fleetiq/emulator.js';
import type { Logger } from 'pino';
import type { DrainRequestMode } from '../../shared/drain-contract.js';
import {
  pickBusiest,
  pickTargets,
  rateSchedule,
  type Interruptions,
  type RequestAction,
  type ScriptStep,
  type SpotTarget,
} from './interruptions.js';

export interface LoadOptions {
  fleet: string;
  scheduling: 'Packed' | 'Distributed';
  allocationRatePerSecond: number;
  sessionSeconds: { min: number; max: number };
}

/** Starts allocating; returns the function that stops it. */
export function startAllocations(sim: ClusterSimulation, o: LoadOptions): () => void {
  return sim.sessions.startLoad({
    fleet: o.fleet,
    scheduling: o.scheduling,
    ratePerSecond: o.allocationRatePerSecond,
    durationSeconds: o.sessionSeconds,
  });
}

export interface InterruptionRun {
  stop(): void;
  /** Scripted steps applied so far (each with the instances it hit). */
  applied: Array<ScriptStep & { instances: string[] }>;
}

export interface InterruptionOptions {
  /** Where Spot notices land (default busiest). */
  spotTarget?: SpotTarget;
  /** Sessions held on an instance's node now (for `busiest`). */
  sessionsOf?: (instanceId: string) => number;
  /** A rate is scheduled up to this many simulated ms after the start. */
  untilMs?: number;
  /**
   * Rebalance recommendations: a seeded `share` of the Spot notices gets one `leadMs` (simulated)
   * before, through `recommend` (the instance's metadata); the notice then hits the instances the
   * recommendation went to (those still ACTIVE), so the agent's head start is on the right node.
   */
  rebalance?: { share: number; leadMs: number; recommend: (instanceId: string) => void };
  /** An operator's drain requests (DRAIN, DEREGISTER, UNDRAIN steps); without it those steps do nothing. */
  requests?: DrainRequests;
}

/**
 * Which Spot steps a rebalance recommendation precedes: drawn from the seed alone (its own stream, so
 * the schedule's times and kinds do not change with the share), the same in every run of a seed.
 */
export function rebalancedSteps(steps: readonly ScriptStep[], share: number, seed: number): boolean[] {
  const random = new SeededRandom((seed ^ 0x4eba1) >>> 0);
  return steps.map((s) => s.status === 'SPOT_TERMINATING' && random.next() < share);
}

/** Where a scripted drain request lands, and how it is written (sandbox.ts: the Node's annotation). */
export interface DrainRequests {
  /** Instances a step may hit: undrained ones for DRAIN and DEREGISTER, requested ones for UNDRAIN. */
  candidates(action: RequestAction): string[];
  /** Writes the request on the instance's node (null removes it). */
  write(instanceId: string, mode: DrainRequestMode | null): Promise<void>;
}

/**
 * Starts the interruptions. A rate becomes a script fixed by the seed (rateSchedule): the same seed
 * gives the same times and kinds; which instance each one hits depends on the cluster at that moment
 * (busiest node for a Spot notice by default, seeded random among equals).
 */
export function startInterruptions(
  fleetiq: FleetIQEmulator,
  clock: SimClock,
  interruptions: Interruptions,
  seed: number,
  logger: Logger,
  o: InterruptionOptions = {},
): InterruptionRun {
  const applied: InterruptionRun['applied'] = [];
  if (interruptions.kind === 'none') return { stop: () => undefined, applied };
  const steps =
    interruptions.kind === 'rate'
      ? rateSchedule(interruptions.perMinute, interruptions.spotShare, seed, o.untilMs ?? 3_600_000)
      : interruptions.steps;
  const random = new SeededRandom((seed ^ 0x1e7) >>> 0);
  const spotTarget = o.spotTarget ?? 'busiest';
  const candidatesFrom = (from: string) =>
    fleetiq.control
      .instances({ status: from as ScriptStep['status'] })
      .filter((i) => !i.terminated)
      .map((i) => i.instanceId);
  const pick = (step: ScriptStep, candidates: string[], count: number) =>
    step.status === 'SPOT_TERMINATING' && spotTarget === 'busiest' && o.sessionsOf
      ? pickBusiest(candidates, count, o.sessionsOf, random)
      : pickTargets(candidates, count, random);
  const rebalanced = o.rebalance ? rebalancedSteps(steps, o.rebalance.share, seed) : [];
  // Step index → the instances its recommendation went to.
  const recommended = new Map<number, string[]>();
  const cancels = steps.flatMap((step, index) => {
    const early: Array<() => void> = [];
    if (rebalanced[index] && o.rebalance) {
      const { leadMs, recommend } = o.rebalance;
      early.push(
        clock.setTimeout(
          () => {
            const targets = pick(step, candidatesFrom('ACTIVE'), step.count);
            recommended.set(index, targets);
            for (const id of targets) recommend(id);
          },
          Math.max(0, step.atMs - leadMs),
        ),
      );
    }
    return [...early, clock.setTimeout(() => hit(step, index), step.atMs)];
  });
  function hit(step: ScriptStep, index: number): void {
    if (step.request !== undefined) {
      const targets = pickTargets(o.requests?.candidates(step.request) ?? [], step.count, random);
      const mode = step.request === 'UNDRAIN' ? null : step.request === 'DEREGISTER' ? 'deregister' : 'drain';
      for (const id of targets)
        o.requests!.write(id, mode).catch((err: unknown) =>
          logger.warn(
            { err: (err as Error).message, instanceId: id, request: step.request },
            'scripted drain request failed',
          ),
        );
      if (targets.length < step.count)
        logger.warn({ step, found: targets.length }, 'scripted drain request: fewer nodes than asked');
      applied.push({ ...step, instances: targets });
      return;
    }
    const from = step.status === 'ACTIVE' ? 'DRAINING' : 'ACTIVE';
    const candidates = candidatesFrom(from);
    const warned = (recommended.get(index) ?? []).filter((id) => candidates.includes(id));
    const targets = [
      ...warned,
      ...pick(
        step,
        candidates.filter((id) => !warned.includes(id)),
        step.count - warned.length,
      ),
    ];
    for (const id of targets) {
      try {
        fleetiq.control.setInstanceStatus(id, step.status);
      } catch (err) {
        logger.warn(
          { err: (err as Error).message, instanceId: id, status: step.status },
          'scripted interruption failed',
        );
      }
    }
    if (targets.length < step.count)
      logger.warn(
        { step, found: targets.length },
        `scripted interruption: fewer ${from} instances than asked`,
      );
    applied.push({ ...step, instances: targets });
  }
  return {
    stop: () => {
      for (const c of cancels) c();
    },
    applied,
  };
}
