// The agent's Prometheus metrics, on its own registry (each in-process agent has one: nothing global).
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { DRAIN_PHASES, DRAIN_REASONS, readDrainRecord, type DrainReason } from '../shared/drain-contract.js';
import { FLEETIQ_STATUSES } from '../shared/contract.js';
import type { KubeObjectLike } from '../shared/kube-object.js';
import { isStatusFresh, type ObservedStatus } from './decide.js';
import { kubeErrorCode } from './executor.js';
import type { AgentParts } from './parts.js';

/** What the metrics read at scrape time. */
export interface MetricSources {
  now(): number;
  phase(): string | undefined;
  /** Epoch ms this agent saw the current phase begin. */
  phaseSince(): number | undefined;
  /** Why the node drains (the reason recorded on it), when a drain is recorded. */
  reason?(): DrainReason | undefined;
  status(): { status: string; observedAt: number; source: string; fresh: boolean } | undefined;
  /** What /readyz answers: true when ready (the agent's own view; alerts read it as a gauge). */
  ready?(): boolean;
  /** The instance-metadata Spot notice monitor, when it runs: whether a notice is present, polls by result. */
  spotNotice?():
    | {
        present: boolean;
        polls: Record<string, number>;
        /** An EC2 rebalance recommendation is in instance metadata. */
        rebalancePresent: boolean;
        rebalancePolls: Record<string, number>;
      }
    | undefined;
  /** Cumulative counts kept by the parts (status source, membership, informers, the Kubernetes client). */
  counts(): {
    statusMessages: Record<string, number>;
    fallbackCalls: number;
    fallbackErrors: number;
    healthReports: number;
    healthReportFailures: number;
    kubeRequests: Record<string, number>;
    watchRequests: Record<string, { lists: number; watches: number }>;
  };
}

export interface ReconcilerMetrics {
  drainOverdue: Gauge;
  stranded: Gauge;
  replayedStatuses: Counter;
  sessions: Gauge;
  gameServers: Gauge;
  actions: Counter<'action' | 'result'>;
  apiErrors: Counter<'api' | 'operation' | 'code'>;
  reconciles: Counter<'result'>;
  reconcileDuration: Histogram;
  events: Counter<'type' | 'reason' | 'result'>;
  drainsStarted: Counter<'reason'>;
}

const P = 'fleetiq_reconciler_';

export function createReconcilerMetrics(registry: Registry, src: MetricSources): ReconcilerMetrics {
  const registers = [registry];
  new Gauge({
    name: `${P}drain_phase`,
    help: 'The node drain phase: 1 for the current one (Active, Cordoned, Fenced, Tainted, SpotEvicting, Drained, Deregistered)',
    labelNames: ['phase'],
    registers,
    collect() {
      const current = src.phase();
      for (const p of DRAIN_PHASES) this.set({ phase: p }, p === current ? 1 : 0);
    },
  });
  new Gauge({
    name: `${P}drain_reason`,
    help: 'Why the node drains: 1 for the reason recorded on it (spot, fleetiq, request, rebalance), all 0 without a drain',
    labelNames: ['reason'],
    registers,
    collect() {
      const current = src.reason?.();
      for (const r of DRAIN_REASONS) this.set({ reason: r }, r === current ? 1 : 0);
    },
  });
  const drainsStarted = new Counter({
    name: `${P}drains_started_total`,
    help: 'Drains begun, by reason; a drain taken over by a more compelling reason counts again under it',
    labelNames: ['reason'],
    registers,
  });
  new Gauge({
    name: `${P}drain_phase_seconds`,
    help: 'Time since this agent saw the current drain phase begin',
    registers,
    collect() {
      const since = src.phaseSince();
      if (since === undefined) this.reset();
      else this.set(Math.max(0, (src.now() - since) / 1000));
    },
  });
  new Gauge({
    name: `${P}instance_status`,
    help: "The instance's FleetIQ status as the agent believes it: 1 for the current one",
    labelNames: ['status'],
    registers,
    collect() {
      const s = src.status();
      for (const st of FLEETIQ_STATUSES) this.set({ status: st }, s?.status === st ? 1 : 0);
    },
  });
  new Gauge({
    name: `${P}status_fresh`,
    help: '1 when the status is recent enough to act on (see STATUS_STALE_AFTER)',
    registers,
    collect() {
      this.set(src.status()?.fresh ? 1 : 0);
    },
  });
  new Gauge({
    name: `${P}status_age_seconds`,
    help: 'Age of the FleetIQ observation behind the current status (absent before the first one)',
    labelNames: ['source'],
    registers,
    collect() {
      this.reset();
      const s = src.status();
      if (s) this.set({ source: s.source }, Math.max(0, (src.now() - s.observedAt) / 1000));
    },
  });
  new Gauge({
    name: `${P}ready`,
    help: '1 when the agent is ready (what /readyz answers), 0 while it is starting, stopping or cannot act',
    registers,
    collect() {
      this.set(src.ready?.() ? 1 : 0);
    },
  });
  const drainOverdue = new Gauge({
    name: `${P}drain_overdue`,
    help: 'Sessions have held the drain longer than DRAIN_MAX_WAIT (a session that never ends, or keeps re-reserving)',
    registers,
  });
  const stranded = new Gauge({
    name: `${P}stranded`,
    help: 'Deregistered longer than STRANDED_AFTER ago and still running: cordoned, tainted, registered nowhere',
    registers,
  });
  const replayedStatuses = new Counter({
    name: `${P}replayed_statuses_total`,
    help: 'Decisions that refused a status observed before one already acted on (a replay)',
    registers,
  });
  new Gauge({
    name: `${P}spot_notice`,
    help: '1 while instance metadata holds a Spot interruption notice for this instance (absent when not polled)',
    registers,
    collect() {
      const n = src.spotNotice?.();
      if (n === undefined) this.reset();
      else this.set(n.present ? 1 : 0);
    },
  });
  new Gauge({
    name: `${P}rebalance_recommendation`,
    help: '1 while instance metadata holds an EC2 rebalance recommendation for this instance (absent when not polled)',
    registers,
    collect() {
      const n = src.spotNotice?.();
      if (n === undefined) this.reset();
      else this.set(n.rebalancePresent ? 1 : 0);
    },
  });
  const sessions = new Gauge({
    name: `${P}sessions`,
    help: 'Game servers on the node in a session (Allocated, and Reserved when protected): what a drain waits for',
    registers,
  });
  const gameServers = new Gauge({
    name: `${P}game_servers`,
    help: 'Game servers whose pods run on the node',
    registers,
  });
  const actions = new Counter({
    name: `${P}actions_total`,
    help: 'Actions executed, by kind and result (ok; changed: a precondition failed, decided again; failed)',
    labelNames: ['action', 'result'],
    registers,
  });
  const apiErrors = new Counter({
    name: `${P}api_errors_total`,
    help: 'Failed API calls by API (kubernetes, fleetiq), operation and code (HTTP status or error name)',
    labelNames: ['api', 'operation', 'code'],
    registers,
  });
  const reconciles = new Counter({
    name: `${P}reconciles_total`,
    help: 'Reconcile passes by result (acted, idle, waiting: not enough observed yet, failed)',
    labelNames: ['result'],
    registers,
  });
  const reconcileDuration = new Histogram({
    name: `${P}reconcile_duration_seconds`,
    help: 'Duration of one reconcile pass (observe, decide, execute)',
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });
  const events = new Counter({
    name: `${P}events_total`,
    help: 'Kubernetes Events written on the Node, by type, reason and result (ok, failed)',
    labelNames: ['type', 'reason', 'result'],
    registers,
  });

  // Counts kept elsewhere, exposed as counters at scrape time.
  const mirrored = (
    name: string,
    help: string,
    labelNames: string[],
    read: () => [Record<string, string>, number][],
  ) =>
    new Counter({
      name: `${P}${name}`,
      help,
      labelNames,
      registers,
      collect() {
        this.reset();
        for (const [labels, v] of read()) if (v > 0) this.inc(labels, v);
      },
    });
  mirrored(
    'status_messages_total',
    "Status messages from Redis by result (accepted, rejected: <why>, out_of_order, legacy: the old adapter's format, a hint to ask FleetIQ)",
    ['result'],
    () => Object.entries(src.counts().statusMessages).map(([result, v]) => [{ result }, v]),
  );
  mirrored(
    'fleetiq_fallback_calls_total',
    "The agent's own DescribeGameServerInstances calls, by result",
    ['result'],
    () => {
      const c = src.counts();
      return [
        [{ result: 'ok' }, c.fallbackCalls - c.fallbackErrors],
        [{ result: 'error' }, c.fallbackErrors],
      ];
    },
  );
  mirrored(
    'spot_notice_polls_total',
    'Polls of the Spot interruption notice in instance metadata, by result (none, notice, or an error kind)',
    ['result'],
    () => Object.entries(src.spotNotice?.()?.polls ?? {}).map(([result, v]) => [{ result }, v]),
  );
  mirrored(
    'rebalance_recommendation_polls_total',
    'Polls of the EC2 rebalance recommendation in instance metadata, by result (none, notice: one is there, or an error kind)',
    ['result'],
    () => Object.entries(src.spotNotice?.()?.rebalancePolls ?? {}).map(([result, v]) => [{ result }, v]),
  );
  mirrored('health_reports_total', 'FleetIQ health reports, by result', ['result'], () => {
    const c = src.counts();
    return [
      [{ result: 'ok' }, c.healthReports],
      [{ result: 'error' }, c.healthReportFailures],
    ];
  });
  mirrored(
    'kube_requests_total',
    'Kubernetes API requests by operation (watches counted per request)',
    ['operation'],
    () => {
      const c = src.counts();
      const out: [Record<string, string>, number][] = Object.entries(c.kubeRequests).map(([operation, v]) => [
        { operation },
        v,
      ]);
      for (const [informer, s] of Object.entries(c.watchRequests))
        out.push([{ operation: `watch_${informer}` }, s.watches]);
      return out;
    },
  );
  return {
    drainOverdue,
    stranded,
    replayedStatuses,
    sessions,
    gameServers,
    actions,
    apiErrors,
    reconciles,
    reconcileDuration,
    events,
    drainsStarted,
  };
}

/** The reason of the drain recorded on the node, if any. */
export function drainReasonOf(node: KubeObjectLike | undefined): DrainReason | undefined {
  return node ? readDrainRecord(node.metadata.annotations ?? {}, 0)?.reason : undefined;
}

/**
 * The reason a Node write began a drain for: the record it wrote carries a reason the node did not
 * record before (none, or a weaker one taken over). Counted on the write itself, so a restarted agent
 * resuming a drain does not count it again.
 */
export function drainStartedBy(before: KubeObjectLike, after: KubeObjectLike): DrainReason | undefined {
  const now = drainReasonOf(after);
  return now !== undefined && now !== drainReasonOf(before) ? now : undefined;
}

/** The parts' cumulative counts, as MetricSources.counts() reports them. */
export function partCounts(parts: {
  statusSource?: {
    stats: { accepted: number; outOfOrder: number; rejected: Record<string, number>; legacy?: number } & {
      fallbackCalls: number;
      fallbackErrors: number;
    };
  };
  membership?: { stats: { healthReports: number; healthReportFailures: number } };
  kubeRequests: Record<string, number>;
  watchRequests: Record<string, { lists: number; watches: number }>;
}): ReturnType<MetricSources['counts']> {
  const s = parts.statusSource?.stats;
  const statusMessages: Record<string, number> = {};
  if (s) {
    statusMessages.accepted = s.accepted;
    statusMessages.out_of_order = s.outOfOrder;
    if (s.legacy) statusMessages.legacy = s.legacy;
    for (const [why, n] of Object.entries(s.rejected)) statusMessages[`rejected: ${why}`] = n;
  }
  const m = parts.membership?.stats;
  return {
    statusMessages,
    fallbackCalls: s?.fallbackCalls ?? 0,
    fallbackErrors: s?.fallbackErrors ?? 0,
    healthReports: m?.healthReports ?? 0,
    healthReportFailures: m?.healthReportFailures ?? 0,
    kubeRequests: { ...parts.kubeRequests },
    watchRequests: parts.watchRequests,
  };
}

/** Where the node agent's metrics read at scrape time: its pass, its observer and its parts, once there. */
export function agentMetricSources(a: {
  now: () => number;
  statusStaleAfterMs: number;
  /** The pass's drain phase and since when, once passes run. */
  phase: () => { phase: string; since: number } | undefined;
  observer: {
    node(): KubeObjectLike | undefined;
    effectiveStatus(): ObservedStatus | undefined;
    informerStats(): Record<string, { lists: number; watches: number }>;
  };
  /** Started once the instance id is known. */
  parts: () => AgentParts | undefined;
  kubeRequests: Record<string, number>;
  ready: () => boolean;
}): MetricSources {
  return {
    now: a.now,
    phase: () => a.phase()?.phase,
    phaseSince: () => a.phase()?.since,
    reason: () => drainReasonOf(a.observer.node()),
    spotNotice: () => {
      const monitor = a.parts()?.spotNotice;
      return (
        monitor && {
          present: monitor.current() !== undefined,
          polls: monitor.stats.polls,
          rebalancePresent: monitor.currentRebalance() !== undefined,
          rebalancePolls: monitor.stats.rebalancePolls,
        }
      );
    },
    status: () => {
      const s = a.observer.effectiveStatus();
      if (!s) return undefined;
      const fresh = isStatusFresh(s, a.now(), a.statusStaleAfterMs);
      return { status: s.status, observedAt: s.observedAt, source: s.source, fresh };
    },
    counts: () => {
      const parts = a.parts();
      return partCounts({
        ...(parts ? { statusSource: parts.statusSource, membership: parts.membership } : {}),
        kubeRequests: a.kubeRequests,
        watchRequests: a.observer.informerStats(),
      });
    },
    ready: a.ready,
  };
}

/**
 * What the parts' callbacks count: actions, failed API calls, Events, drains begun; successful actions
 * also in the agent's stats (its handle's stats().actions).
 */
export class MetricRecorder {
  constructor(
    private readonly metrics: ReconcilerMetrics,
    private readonly okActions: Record<string, number>,
  ) {}

  readonly action = (kind: string, result: 'ok' | 'changed' | 'failed', n = 1): void => {
    this.metrics.actions.inc({ action: kind, result }, n);
    if (result === 'ok') this.okActions[kind] = (this.okActions[kind] ?? 0) + n;
  };

  readonly kubeError = (operation: string, err: unknown): void => {
    this.metrics.apiErrors.inc({ api: 'kubernetes', operation, code: kubeErrorCode(err) });
  };

  readonly fleetiqError = (operation: string, err: unknown): void => {
    const code = (err as { name?: string })?.name ?? 'Error';
    this.metrics.apiErrors.inc({ api: 'fleetiq', operation, code });
  };

  /** A FleetIQ membership step's result (err: it failed). */
  readonly membershipStep = (action: { kind: string }, err?: unknown): void => {
    this.action(action.kind, err === undefined ? 'ok' : 'failed');
    if (err !== undefined) this.fleetiqError(action.kind, err);
  };

  /** An Event written on the Node, or not. */
  readonly event = (type: string, reason: string, ok: boolean): void => {
    this.metrics.events.inc({ type, reason, result: ok ? 'ok' : 'failed' });
    if (!ok) this.metrics.apiErrors.inc({ api: 'kubernetes', operation: 'createEvent', code: 'error' });
  };

  /** A Node write: counts the drain it began, if it did (drainStartedBy). */
  readonly nodeWritten = (before: KubeObjectLike, after: KubeObjectLike): void => {
    const reason = drainStartedBy(before, after);
    if (reason) this.metrics.drainsStarted.inc({ reason });
  };
}
