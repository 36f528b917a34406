// The load a sandbox run applies, on the simulated clock: players asking for game servers at a steady
// rate (each session held for a seeded random length, then ended by the game server itself), and
// FleetIQ interrupting instances, at a rate (a schedule drawn from the seed) or as scripted.
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
  /** An operator's drain requests (DRAIN, DEREGISTER, UNDRAIN steps); without it those steps do nothing. */
  requests?: DrainRequests;
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
  const cancels = steps.map((step) =>
    clock.setTimeout(() => {
      if (step.request !== undefined) {
        const targets = pickTargets(o.requests?.candidates(step.request) ?? [], step.count, random);
        const mode =
          step.request === 'UNDRAIN' ? null : step.request === 'DEREGISTER' ? 'deregister' : 'drain';
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
      const status = step.status;
      const from = status === 'ACTIVE' ? 'DRAINING' : 'ACTIVE';
      const candidates = fleetiq.control
        .instances({ status: from })
        .filter((i) => !i.terminated)
        .map((i) => i.instanceId);
      const targets =
        status === 'SPOT_TERMINATING' && spotTarget === 'busiest' && o.sessionsOf
          ? pickBusiest(candidates, step.count, o.sessionsOf, random)
          : pickTargets(candidates, step.count, random);
      for (const id of targets) {
        try {
          fleetiq.control.setInstanceStatus(id, status);
        } catch (err) {
          logger.warn(
            { err: (err as Error).message, instanceId: id, status },
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
    }, step.atMs),
  );
  return {
    stop: () => {
      for (const c of cancels) c();
    },
    applied,
  };
}
