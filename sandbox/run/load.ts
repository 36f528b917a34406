// The load a sandbox run applies, on the simulated clock: players asking for game servers at a steady
// rate (each session held for a seeded random length, then ended by the game server itself), and
// FleetIQ interrupting instances, either at random (the emulator's spot market) or as scripted.
import { SeededRandom, type SimClock } from '../clock.js';
import type { ClusterSimulation } from '../cluster/index.js';
import type { FleetIQEmulator } from '../fleetiq/emulator.js';
import type { Logger } from 'pino';
import { pickTargets, type Interruptions, type ScriptStep } from './interruptions.js';

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

/** Starts the interruptions: the spot market for a rate, timers for a script. */
export function startInterruptions(
  fleetiq: FleetIQEmulator,
  clock: SimClock,
  interruptions: Interruptions,
  seed: number,
  logger: Logger,
): InterruptionRun {
  const applied: InterruptionRun['applied'] = [];
  if (interruptions.kind === 'none') return { stop: () => undefined, applied };
  if (interruptions.kind === 'rate') {
    // Regular hits: a newcomer's 5-minute run sees the rate it asked for, not a Poisson draw of it.
    fleetiq.control.startSpotMarket({
      ratePerMinute: interruptions.perMinute,
      spotTerminatingShare: interruptions.spotShare,
      pattern: 'regular',
    });
    return { stop: () => fleetiq.control.stopSpotMarket(), applied };
  }
  const random = new SeededRandom((seed ^ 0x1e7) >>> 0);
  const cancels = interruptions.steps.map((step) =>
    clock.setTimeout(() => {
      const from = step.status === 'ACTIVE' ? 'DRAINING' : 'ACTIVE';
      const candidates = fleetiq.control
        .instances({ status: from })
        .filter((i) => !i.terminated)
        .map((i) => i.instanceId);
      const targets = pickTargets(candidates, step.count, random);
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
    }, step.atMs),
  );
  return {
    stop: () => {
      for (const c of cancels) c();
    },
    applied,
  };
}
