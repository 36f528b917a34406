// One reconcile pass, controller-runtime's Reconcile(request) → Result: observe (observer.ts), decide
// (decide.ts, pure: the steps and all timing), execute (executor.ts), and tell the loop
// (work-loop.ts) how it went; the loop alone paces what follows. FleetIQ membership steps go to the
// background (membership.ts) so that a slow FleetIQ never holds a drain up.
import type { Logger } from '../shared/logger.js';
import {
  decide,
  describeAction,
  failureReason,
  type DecideConfig,
  type DecideTimings,
  type Decision,
  type ObservedStatus,
} from './decide.js';
import type { Executor } from './executor.js';
import { hasLegacyActiveTaint } from './legacy.js';
import { errorText } from '../shared/scoped-informer.js';
import type { Membership, MembershipSteps } from './membership.js';
import type { ReconcilerMetrics } from './metrics.js';
import { observedStatusAnnotations, type DrainPhase } from '../shared/drain-contract.js';
import type { Observer } from './observer.js';
import type { PassResult } from './work-loop.js';

export interface PassCounters {
  passes: number;
  decisions: number;
  changed: number;
  failures: number;
}

export interface NodeReconcilerOptions {
  decide: DecideConfig;
  timings: DecideTimings & {
    /** The FleetIQ status recorded on the Node is rewritten this often while it does not change. */
    observedStatusRefreshMs: number;
    /** A failed write of that record is tried again after this long. */
    observedStatusRetryMs: number;
  };
  observer: Observer;
  executor: Executor;
  membership: Pick<Membership, 'start'>;
  membershipSteps: MembershipSteps;
  /** What the status source believes (recorded on the Node for `kubectl fleetiq status`). */
  reportedStatus: () => ObservedStatus | undefined;
  /** A Warning Event for a failed step (paced per reason by the recorder). */
  failureEvent: (reason: string, message: string) => void;
  /** Failed passes in a row so far, as the loop counts them (for the log). */
  failuresInARow: () => number;
  /** The agent is stopping: start no write that is not a drain step. */
  stopping: () => boolean;
  metrics: ReconcilerMetrics;
  logger: Logger;
  now: () => number;
  /** Counts shared with the agent's handle (stats()). */
  counters: PassCounters;
  /** After each pass: whether it acted (more passes follow at once). */
  afterPass: (acted: boolean) => void;
}

export class NodeReconciler {
  private decision?: Decision;
  private currentPhase?: DrainPhase;
  private phaseSince?: number;

  constructor(private readonly o: NodeReconcilerOptions) {}

  lastDecision(): Decision | undefined {
    return this.decision;
  }

  /** The drain phase of the last decision, and since when this agent has seen it. */
  phase(): { phase: DrainPhase; since: number } | undefined {
    return this.currentPhase && { phase: this.currentPhase, since: this.phaseSince! };
  }

  /** One pass, measured: reconciles_total{result} and its duration. */
  async pass(): Promise<PassResult> {
    const started = process.hrtime.bigint();
    this.o.counters.passes++;
    let report = 'idle';
    try {
      const [label, result] = await this.reconcile();
      report = label;
      return result;
    } finally {
      this.o.afterPass(report === 'acted');
      this.o.metrics.reconciles.inc({ result: report });
      this.o.metrics.reconcileDuration.observe(Number(process.hrtime.bigint() - started) / 1e9);
    }
  }

  /** One pass; returns how it is reported (the reconciles_total label) and what the loop does next. */
  private async reconcile(): Promise<[label: string, result: PassResult]> {
    const { observer, counters } = this.o;
    const observed = await observer.observe();
    if (observed.kind === 'waiting') return ['waiting', { outcome: 'waiting' }];
    if (observed.kind === 'stopped') return ['idle', { outcome: 'idle' }];
    if (observed.kind === 'readFailed') return ['waiting', { outcome: 'failed' }];

    const decision = decide(observed.observation, this.o.decide, this.o.timings);
    this.note(decision, observed.pods);
    if (decision.startMembership) this.o.membership.start();
    const requeue = new Earliest();
    requeue.add(observer.remember(decision));
    requeue.add(this.o.membershipSteps.dispatch(decision.membership));

    const outcome = await this.o.executor.run(decision.steps, observed.node);
    switch (outcome.result) {
      case 'ok':
        // Each action changes what is observed: decide again at once.
        if (decision.actions.length > 0) return ['acted', { outcome: 'acted', ...requeue.result() }];
        requeue.add(decision.wait?.requeueAfterMs);
        if (!(await this.recordObservedStatus())) requeue.add(this.o.timings.observedStatusRetryMs);
        if (!(await this.removeLegacyTaint())) requeue.add(this.o.timings.observedStatusRetryMs);
        return ['idle', { outcome: 'idle', ...requeue.result() }];
      case 'changed': {
        counters.changed++;
        this.o.logger.debug({ why: outcome.why }, 'reconciler: observed state changed; deciding again');
        const immediateRetries = decision.timing.immediateRetriesOnConflict;
        return ['acted', { outcome: 'conflict', immediateRetries, ...requeue.result() }];
      }
      case 'failed': {
        counters.failures++;
        const reason = failureReason(outcome.action);
        this.o.logger.warn(
          {
            action: outcome.action.kind,
            reason,
            err: outcome.error.message,
            failures: this.o.failuresInARow() + 1,
          },
          'reconciler: drain step failed',
        );
        this.o.failureEvent(reason, `${describeAction(outcome.action)} failed: ${outcome.error.message}`);
        return ['failed', { outcome: 'failed', ...requeue.result() }];
      }
    }
  }

  private note(decision: Decision, pods: number): void {
    const { metrics } = this.o;
    this.o.counters.decisions++;
    this.decision = decision;
    if (decision.phase !== this.currentPhase) {
      this.o.logger.info(
        { from: this.currentPhase ?? 'Starting', to: decision.phase },
        'reconciler: drain phase',
      );
      this.currentPhase = decision.phase;
      this.phaseSince = this.o.now();
    }
    metrics.sessions.set(decision.sessions);
    metrics.drainOverdue.set(decision.drainOverdue ? 1 : 0);
    metrics.stranded.set(decision.stranded ? 1 : 0);
    if (decision.replayed) metrics.replayedStatuses.inc();
    metrics.gameServers.set(pods);
  }

  /**
   * Records on the Node what FleetIQ last said (for `kubectl fleetiq status`). Only once a pass has
   * nothing left to do, so it never delays a drain step; false when the write failed.
   */
  private async recordObservedStatus(): Promise<boolean> {
    const node = this.o.observer.node();
    if (!node || this.o.stopping()) return true;
    const annotations = observedStatusAnnotations(
      node.metadata.annotations ?? {},
      this.o.reportedStatus(),
      this.o.timings.observedStatusRefreshMs,
    );
    if (!annotations) return true;
    // No resourceVersion: these keys are the agent's alone, and nothing is decided on them.
    const err = await this.o.executor.annotateNode(annotations, 'recordObservedStatus');
    if (err === undefined) return true;
    this.o.logger.warn({ err: errorText(err) }, 'reconciler: recording the observed FleetIQ status failed');
    return false;
  }

  /**
   * Removes the old Python adapter's `gamelift.status/active` taint from the Node (legacy.ts). Like the
   * record above, only once a pass has nothing left to do, and as a write of its own, so it never
   * delays or blocks a drain step. False when the write failed (tried again after the same delay).
   */
  private async removeLegacyTaint(): Promise<boolean> {
    const node = this.o.observer.node();
    if (!node || this.o.stopping() || !hasLegacyActiveTaint(node)) return true;
    const err = await this.o.executor.removeLegacyTaint(node);
    if (err === undefined) return true;
    this.o.logger.warn({ err: errorText(err) }, "reconciler: removing the old adapter's taint failed");
    this.o.failureEvent(
      'LegacyTaintRemovalFailed',
      `removing the old adapter's gamelift.status/active taint failed: ${errorText(err)}`,
    );
    return false;
  }
}

/** The soonest of several optional delays (ms). */
class Earliest {
  private ms?: number;
  add(ms: number | undefined): void {
    if (ms !== undefined) this.ms = Math.min(this.ms ?? Infinity, ms);
  }
  result(): { requeueAfterMs?: number } {
    return this.ms === undefined ? {} : { requeueAfterMs: this.ms };
  }
}
