// The sandbox's report: the contract's paths (sessions, allocations, drains, instances, reactionMs) and
// the API calls each component made, as JSON (--report) and as a few lines on screen. Pure.
import type { SessionRecord } from '../cluster/sessions.js';
import type { ChaosInjection } from './chaos.js';
import type { MeteredCalls } from './gamelift-meter.js';
import { percentile, type DrainCounts, type Reaction } from './metrics.js';
import type { MigrationReport } from './migration.js';
import type { UpgradeReport } from './upgrade.js';

export interface SessionOutcomes {
  started: number;
  completed: number;
  /** Cut short by anything but the session's own end; a Spot notice's graceful end is not a loss. */
  lost: number;
  /** Still held when the report was made. */
  active: number;
  /** Held when a Spot interruption notice reached their node. */
  interruptedBySpotNotice: number;
  /** Of those, ended by the graceful shutdown the agent gave them inside the 2-minute notice. */
  endedGracefullyBySpotNotice: number;
  lostByReason: Record<string, number>;
  /** Every lost session: which, where, why and when, to follow it in the component logs. */
  lostSessions: LostSession[];
}

/** A lost session. Times are simulated (RFC 3339 on the simulated clock). */
export interface LostSession {
  session: number;
  gameServer: string;
  node: string | null;
  reason: string;
  allocatedAt: string;
  endedAt: string | null;
  /** When a Spot notice reached the session's node, if one did. */
  spotNoticeAt: string | null;
  /** When the session's node was terminated, if it was. */
  nodeTerminatedAt: string | null;
}

/**
 * Session outcomes from the ledger. A Spot notice reaches every session held on its node from the
 * notice on, including one allocated there before the agent could fence the node. Such a session that
 * ended before its instance was terminated (its pod deleted with a grace period by the agent, the
 * game's own graceful exit) was interrupted by AWS, not lost by us; one still running when the
 * instance went is lost.
 */
export function sessionOutcomes(records: readonly SessionRecord[], nodes: SessionNodes): SessionOutcomes {
  const out: SessionOutcomes = {
    started: 0,
    completed: 0,
    lost: 0,
    active: 0,
    interruptedBySpotNotice: 0,
    endedGracefullyBySpotNotice: 0,
    lostByReason: {},
    lostSessions: [],
  };
  const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());
  for (const r of records) {
    out.started++;
    const c = classify(r, nodes);
    if (c.reached) out.interruptedBySpotNotice++;
    if (c.outcome === 'completed') out.completed++;
    else if (c.outcome === 'active') out.active++;
    else if (c.outcome === 'spot') out.endedGracefullyBySpotNotice++;
    else if ('reason' in c) {
      out.lost++;
      out.lostByReason[c.reason] = (out.lostByReason[c.reason] ?? 0) + 1;
      out.lostSessions.push({
        session: r.id,
        gameServer: `${r.namespace}/${r.gameServer}`,
        node: r.nodeName ?? null,
        reason: r.lostReason ?? 'unknown',
        allocatedAt: iso(r.allocatedAt)!,
        endedAt: iso(r.endedAt),
        spotNoticeAt: iso(r.nodeName !== undefined ? nodes.spotNoticeAt.get(r.nodeName) : undefined),
        nodeTerminatedAt: iso(r.nodeName !== undefined ? nodes.terminatedAt.get(r.nodeName) : undefined),
      });
    }
  }
  return out;
}

/** What the outcome rules read of the nodes (SandboxRecorder has them all). */
export interface SessionNodes {
  terminatedAt: ReadonlyMap<string, number>;
  spotNoticeAt: ReadonlyMap<string, number>;
}

function classify(
  r: SessionRecord,
  nodes: SessionNodes,
):
  | { reached: boolean; outcome: 'completed' | 'active' | 'spot' }
  | { reached: boolean; outcome: 'lost'; reason: string } {
  const notice = r.nodeName !== undefined ? nodes.spotNoticeAt.get(r.nodeName) : undefined;
  const reached =
    r.interruptedBySpotNotice || (notice !== undefined && (r.endedAt === undefined || r.endedAt >= notice));
  if (r.outcome === 'completed' || r.outcome === 'active') return { reached, outcome: r.outcome };
  const reason = (r.lostReason ?? 'unknown').split(':')[0]!;
  const gone = r.nodeName !== undefined ? nodes.terminatedAt.get(r.nodeName) : undefined;
  const graceful =
    reached && reason !== 'node-gone' && r.endedAt !== undefined && (gone === undefined || r.endedAt < gone);
  return graceful ? { reached, outcome: 'spot' } : { reached, outcome: 'lost', reason };
}

/**
 * What Spot notices cost the players, and what acting on rebalance recommendations cost the fleet:
 * sessions ended early by a notice (not lost: the agent gave each a graceful end inside it) per 100
 * notices, apart for notices a recommendation preceded, and node-minutes spent cordoned by drain reason.
 */
export interface SpotSummary {
  /** Nodes whose instance got a Spot interruption notice. */
  notices: number;
  /** Of those, nodes a rebalance recommendation reached first. */
  noticesAfterRecommendation: number;
  /** Nodes that got a rebalance recommendation (followed by a notice or not). */
  recommendations: number;
  /** Sessions a Spot notice ended early (gracefully, inside the notice). */
  sessionsEndedEarly: number;
  /** Of those, on nodes a recommendation reached before the notice. */
  sessionsEndedEarlyAfterRecommendation: number;
  /** Sessions ended early per 100 Spot notices (null without a notice). */
  sessionsEndedEarlyPer100Notices: number | null;
  /** Sessions lost (not a graceful end) on a node a Spot notice reached: these count as lost too. */
  sessionsLostToNotices: number;
  /** Simulated node-minutes spent cordoned, in total and by drain reason (`none`: cordoned without a drain). */
  cordonedNodeMinutes: { total: number; byReason: Record<string, number> };
}

export function spotSummary(
  records: readonly SessionRecord[],
  nodes: SessionNodes & { rebalanceAt: ReadonlyMap<string, number> },
  cordonedMs: Record<string, number>,
): SpotSummary {
  const warned = (node: string) => {
    const rec = nodes.rebalanceAt.get(node);
    const notice = nodes.spotNoticeAt.get(node);
    return rec !== undefined && notice !== undefined && rec <= notice;
  };
  let endedEarly = 0;
  let endedEarlyWarned = 0;
  let lostToNotices = 0;
  for (const r of records) {
    const c = classify(r, nodes);
    if (c.outcome === 'spot') {
      endedEarly++;
      if (r.nodeName !== undefined && warned(r.nodeName)) endedEarlyWarned++;
    } else if (c.outcome === 'lost' && c.reached) lostToNotices++;
  }
  const notices = nodes.spotNoticeAt.size;
  const minutes = (ms: number) => Math.round((ms / 60_000) * 10) / 10;
  const byReason = Object.fromEntries(Object.entries(cordonedMs).map(([k, v]) => [k, minutes(v)]));
  return {
    notices,
    noticesAfterRecommendation: [...nodes.spotNoticeAt.keys()].filter(warned).length,
    recommendations: nodes.rebalanceAt.size,
    sessionsEndedEarly: endedEarly,
    sessionsEndedEarlyAfterRecommendation: endedEarlyWarned,
    sessionsEndedEarlyPer100Notices: notices ? Math.round((endedEarly / notices) * 1000) / 10 : null,
    sessionsLostToNotices: lostToNotices,
    cordonedNodeMinutes: {
      total: minutes(Object.values(cordonedMs).reduce((a, b) => a + b, 0)),
      byReason,
    },
  };
}

export interface KubeCalls {
  total: number;
  errors: number;
  /** "verb resource[/subresource]" → count. */
  byRequest: Record<string, number>;
}

export interface GameLiftCalls {
  total: number;
  errors: number;
  byOperation: Record<string, number>;
}

export interface SandboxReport {
  /** --legacy-nodes / --migrate: the move from the old adapter's daemon to the node agent. */
  migration?: MigrationReport;
  sessions: SessionOutcomes;
  allocations: { succeeded: number; failed: number; unallocated: number };
  drains: DrainCounts;
  /** Spot notices and rebalance recommendations: what each cost (see SpotSummary). */
  spot?: SpotSummary;
  instances: { initial: number; terminated: number; launched: number; final: number };
  /** From a FleetIQ status change (DRAINING, SPOT_TERMINATING) to the drain taint on the node, real ms. */
  reactionMs: {
    count: number;
    p50: number | null;
    p99: number | null;
    max: number | null;
    byStatus: Record<string, { count: number; p50: number | null; max: number | null }>;
    /**
     * The same reactions in production terms: each one's wait for pubsub's next poll scaled from the
     * sandbox's poll interval to production's (the rest of the path is unchanged). Real ms.
     */
    production?: {
      pollSeconds: number;
      sandboxPollSeconds: number;
      p50: number | null;
      p99: number | null;
      max: number | null;
    };
  };
  /** Nodes cordoned or tainted while FleetIQ says their live instance is ACTIVE at the end (short names). */
  nodes?: { stranded: number; strandedNodes: string[] };
  /** --chaos: each fault, when (simulated seconds after the load started), on what, and what it did. */
  chaos?: { injected: ChaosInjection[] };
  /** --upgrade: the rolling replacement of every node of the node group. */
  upgrade?: UpgradeReport;
  apiCalls: {
    kubernetes: Record<string, KubeCalls>;
    gamelift: Record<string, GameLiftCalls>;
    /** The FleetIQ emulator's own per-operation counts (all clients). */
    gameliftByOperation: Record<
      string,
      { calls: number; succeeded: number; throttled: number; faulted: number }
    >;
    /** Calls the API server made to the admission webhook. */
    webhookAdmissions: { calls: number; failures: number; outcomes: Record<string, number> };
  };
  fleetiq: { statusChanges: Record<string, number>; spotMarketHits: number };
  run: {
    options: Record<string, unknown>;
    simulatedSeconds: number;
    realSeconds: number;
    speed: number;
    nodesAtEnd: number;
    process: { cpuSeconds: number; cpuPercent: number; maxRssMiB: number; heapUsedMiB: number };
    logFile: string;
    timelineSvg?: string;
  };
}

/** pubsub's poll interval in production (fleetiq.conf PollIntervalSeconds' default). */
export const PRODUCTION_POLL_SECONDS = 10;

/**
 * A reaction as it would be with pubsub polling every `productionPollSeconds` instead of
 * `sandboxPollSeconds`: its wait for the next poll is uniform over one interval, so it scales with the
 * interval; the rest (the poll, Redis, the agent's pass, the API server) does not. Without a measured
 * wait, half an interval is assumed.
 */
export function productionReactionMs(
  r: Pick<Reaction, 'ms' | 'pollWaitMs'>,
  sandboxPollSeconds: number,
  productionPollSeconds = PRODUCTION_POLL_SECONDS,
): number {
  const wait = Math.min(r.ms, r.pollWaitMs ?? (sandboxPollSeconds * 1000) / 2);
  return r.ms + wait * (productionPollSeconds / sandboxPollSeconds - 1);
}

export function reactionSummary(
  reactions: readonly Reaction[],
  sandboxPollSeconds?: number,
): SandboxReport['reactionMs'] {
  const ms = reactions.map((r) => r.ms);
  const round = (v: number | undefined) => (v === undefined ? null : Math.round(v));
  const byStatus: SandboxReport['reactionMs']['byStatus'] = {};
  for (const status of new Set(reactions.map((r) => r.status))) {
    const of = reactions.filter((r) => r.status === status).map((r) => r.ms);
    byStatus[status] = { count: of.length, p50: round(percentile(of, 50)), max: round(Math.max(...of)) };
  }
  const out: SandboxReport['reactionMs'] = {
    count: ms.length,
    p50: round(percentile(ms, 50)),
    p99: round(percentile(ms, 99)),
    max: round(ms.length ? Math.max(...ms) : undefined),
    byStatus,
  };
  if (sandboxPollSeconds !== undefined && sandboxPollSeconds > 0) {
    const prod = reactions.map((r) => productionReactionMs(r, sandboxPollSeconds));
    out.production = {
      pollSeconds: PRODUCTION_POLL_SECONDS,
      sandboxPollSeconds,
      p50: round(percentile(prod, 50)),
      p99: round(percentile(prod, 99)),
      max: round(prod.length ? Math.max(...prod) : undefined),
    };
  }
  return out;
}

export function gameLiftCalls(metered: Record<string, MeteredCalls>): Record<string, GameLiftCalls> {
  const out: Record<string, GameLiftCalls> = {};
  for (const [component, c] of Object.entries(metered)) {
    out[component] = {
      total: sum(Object.values(c.calls)),
      errors: sum(Object.values(c.errors)),
      byOperation: { ...c.calls },
    };
  }
  return out;
}

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

function fmtMs(v: number | null): string {
  if (v === null) return '-';
  return v >= 1000 ? `${(v / 1000).toFixed(1)} s` : `${v} ms`;
}

/** The upgrade's line: nodes replaced, how long it took, and the sessions lost meanwhile (the run's). */
export function formatUpgrade(u: UpgradeReport, lost: number): string {
  const when =
    u.durationSeconds !== null
      ? `complete in ${formatClock(u.durationSeconds * 1000)} simulated`
      : u.startedAtSeconds === null
        ? 'never started (the run ended first)'
        : 'NOT complete when the run ended';
  return (
    `Upgrade:      ${u.nodesReplaced}/${u.nodesToReplace} nodes replaced through the rolling drain ` +
    `(max-unavailable ${u.maxUnavailable}, at most ${u.maxUnavailableSeen} at once${u.nodesGoneOtherwise ? `, ${u.nodesGoneOtherwise} taken by FleetIQ or Spot first` : ''}), ` +
    `${when}; sessions lost ${lost}${u.stuck.length ? `; stuck: ${u.stuck.join(', ')}` : ''}`
  );
}

/** The summary printed at the end of a run. */
export function formatSummary(r: SandboxReport, reportPath?: string): string {
  const s = r.sessions;
  const lines = [
    `Sessions:     ${s.started} started, ${s.completed} completed, ${s.endedGracefullyBySpotNotice} ended early by Spot notices, ${s.active} still held, ${s.lost} LOST` +
      (s.lost > 0
        ? ` (${Object.entries(s.lostByReason)
            .map(([k, v]) => `${k}: ${v}`)
            .join(', ')})`
        : ''),
    `Spot notices: ${r.spot ? `${r.spot.notices} (${r.spot.noticesAfterRecommendation} after a rebalance recommendation); ` : ''}${s.interruptedBySpotNotice} sessions reached by one, ${s.endedGracefullyBySpotNotice} ended gracefully inside the notice (AWS took the instance back: not lost, not completed)${r.spot ? `, ${r.spot.sessionsEndedEarlyPer100Notices ?? '-'} per 100 notices` : ''}`,
    ...(r.spot
      ? [
          `Rebalance:    ${r.spot.recommendations} recommendations; ${r.spot.cordonedNodeMinutes.byReason.rebalance ?? 0} node-minutes cordoned for them, ${r.spot.cordonedNodeMinutes.total} for every reason`,
        ]
      : []),
    `Allocations:  ${r.allocations.succeeded} succeeded, ${r.allocations.failed} failed, ${r.allocations.unallocated} found no Ready game server`,
    `Drains:       ${r.drains.started} started (${r.drains.spotEvictions} on a Spot notice), ${r.drains.deregistered} deregistered, ${r.drains.reverted} reverted`,
    `Instances:    ${r.instances.terminated} terminated, ${r.instances.launched} replacements joined (${r.instances.initial} → ${r.instances.final} nodes)`,
    `Reaction:     FleetIQ status → node tainted, real time: p50 ${fmtMs(r.reactionMs.p50)}, p99 ${fmtMs(r.reactionMs.p99)}, max ${fmtMs(r.reactionMs.max)} (${r.reactionMs.count} drains, pubsub polling every ${r.reactionMs.production?.sandboxPollSeconds ?? '?'} s)`,
    ...(r.reactionMs.production
      ? [
          `              in production terms (a ${r.reactionMs.production.pollSeconds} s poll): p50 ${fmtMs(r.reactionMs.production.p50)}, p99 ${fmtMs(r.reactionMs.production.p99)}, max ${fmtMs(r.reactionMs.production.max)}`,
        ]
      : []),
    ...(r.nodes
      ? [
          `Stranded:     ${plural(r.nodes.stranded, 'node')} cordoned or tainted while FleetIQ says ACTIVE${r.nodes.stranded ? ` (${r.nodes.strandedNodes.join(', ')})` : ''}`,
        ]
      : []),
    ...(r.chaos?.injected.length ? formatChaos(r.chaos.injected) : []),
    ...(r.upgrade ? [formatUpgrade(r.upgrade, s.lost)] : []),
    `API calls:    Kubernetes ${Object.entries(r.apiCalls.kubernetes)
      .map(([k, v]) => `${k} ${v.total}`)
      .join(', ')}; GameLift ${Object.entries(r.apiCalls.gamelift)
      .map(([k, v]) => `${k} ${v.total}`)
      .join(', ')}; webhook admissions ${r.apiCalls.webhookAdmissions.calls}`,
    `Run:          ${formatClock(r.run.simulatedSeconds * 1000)} simulated (the players, sessions and FleetIQ) in ${formatClock(r.run.realSeconds * 1000)} real (the components) at speed ${r.run.speed}, CPU ${r.run.process.cpuPercent}%, max RSS ${r.run.process.maxRssMiB} MiB`,
  ];
  if (reportPath)
    lines.push(`Report:       ${reportPath}${r.run.timelineSvg ? ` and ${r.run.timelineSvg}` : ''}`);
  lines.push(`Logs:         ${r.run.logFile}`);
  lines.push(`Result:       ${headline(s)}`);
  return lines.join('\n');
}

/** One line per injected fault: when, what, on what, and what it did. */
export function formatChaos(injected: readonly ChaosInjection[]): string[] {
  return injected.map(
    (c, i) =>
      `${i === 0 ? 'Chaos:        ' : '              '}${c.fault} at ${formatClock(c.atSeconds * 1000)}` +
      (c.skipped
        ? `: not injected (${c.skipped})`
        : `${c.target ? ` on ${c.target}` : ''}${c.effect ? `: ${c.effect}` : ''}`),
  );
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/**
 * The one line that says how it went: sessions lost, and apart from them the sessions a Spot notice
 * ended early (AWS reclaimed their instance; the agent gave each a graceful end inside the notice).
 */
export function headline(s: SessionOutcomes): string {
  const lost = s.lost === 0 ? 'no session lost' : `${plural(s.lost, 'session')} LOST`;
  const spot =
    s.endedGracefullyBySpotNotice > 0
      ? `; ${plural(s.endedGracefullyBySpotNotice, 'session')} ended early by Spot notices (ended gracefully inside the 2-minute notice, counted apart)`
      : '';
  return `${lost}${spot}.`;
}

/** 95000 → "1m35s" */
export function formatClock(ms: number): string {
  const total = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  if (h > 0) return `${h}h${String(m).padStart(2, '0')}m${String(s).padStart(2, '0')}s`;
  if (m > 0) return `${m}m${String(s).padStart(2, '0')}s`;
  return `${s}s`;
}
