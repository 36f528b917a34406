// When each group is polled: pure decisions, no timers (the service owns those).
import { backoffDelay } from '../shared/backoff.js';

/**
 * Each group's offset inside the interval: groups are spread evenly, so the calls of a cycle come
 * as a steady trickle instead of one burst that trips GameLift's rate limit.
 */
export function groupPhases(groups: readonly string[], intervalMs: number): Map<string, number> {
  const phases = new Map<string, number>();
  groups.forEach((group, i) => phases.set(group, Math.floor((i * intervalMs) / groups.length)));
  return phases;
}

/** How a poll of a group ended, as far as scheduling cares. */
export type PollOutcome = 'ok' | 'throttled' | 'error';

export interface PollBackoffPolicy {
  intervalMs: number;
  /** Longest wait after repeated failures. */
  maxBackoffMs: number;
}

export function backoffPolicy(intervalMs: number): PollBackoffPolicy {
  // Six intervals (a minute at the default 10 s): long enough to let a throttled account recover,
  // short enough that a fixed fault is noticed soon.
  return { intervalMs, maxBackoffMs: intervalMs * 6 };
}

/**
 * The wait after `failures` consecutive failed polls of one group: the shared back-off starting at
 * two intervals (so the first retry comes one to two intervals later), capped, with its jitter so
 * that groups which failed together do not retry together. `random` is in [0, 1).
 */
export function pollRetryDelay(failures: number, policy: PollBackoffPolicy, random: number): number {
  if (failures <= 0) return policy.intervalMs;
  return backoffDelay(failures, { initialMs: 2 * policy.intervalMs, maxMs: policy.maxBackoffMs }, random);
}

/**
 * When a group is polled next. After a success it keeps its slot (`previousDueAt + interval`); when
 * a poll overran that slot, it takes the next slot of its phase still in the future, so one slow
 * cycle does not shift the group's phase onto its neighbours. After a failure it backs off.
 */
export function nextDueAt(args: {
  previousDueAt: number;
  finishedAt: number;
  outcome: PollOutcome;
  /** Consecutive failures including this poll (0 after a success). */
  failures: number;
  policy: PollBackoffPolicy;
  random: number;
}): number {
  const { previousDueAt, finishedAt, outcome, policy } = args;
  if (outcome !== 'ok') return finishedAt + pollRetryDelay(args.failures, policy, args.random);
  const interval = policy.intervalMs;
  let due = previousDueAt + interval;
  if (due <= finishedAt) due += Math.ceil((finishedAt - due + 1) / interval) * interval;
  return due;
}

/** First due time of every group after (re)configuration: now plus the group's phase (the first group at once). */
export function initialDueTimes(
  groups: readonly string[],
  intervalMs: number,
  now: number,
): Map<string, number> {
  const due = new Map<string, number>();
  for (const [group, phase] of groupPhases(groups, intervalMs)) due.set(group, now + phase);
  return due;
}
