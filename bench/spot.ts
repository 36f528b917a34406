// What acting on EC2 rebalance recommendations buys and costs: the same seeded sandbox run twice, the
// agents' REBALANCE_RECOMMENDATION set to `event` (an Event only) and then to `drain` (drain ahead of
// the Spot notice), side by side. Both runs get the same Spot notices at the same simulated times, a
// seeded share of them preceded by a recommendation on the instance the notice then hits.
//
// Reported per setting: sessions a Spot notice ended early (gracefully, inside the 2-minute notice:
// not lost, but a player's match cut short) per 100 notices, and the capacity cost: node-minutes
// cordoned (rebalance drains, and in total). Prints JSON and writes bench/results/spot.json.
//
// Bounded in time: a 6-node fleet at a high speed, a short load. Usage:
//   npm run bench:spot [-- --speed 10 --duration 8m --interruptions 1/min --spot-share 0.8
//                          --rebalance-share 0.6 --rebalance-lead 3m --seeds 1,2]
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseSandboxFlags, type SandboxFlags } from '../sandbox/run/options.js';
import type { SandboxReport } from '../sandbox/run/report.js';
import { startSandbox } from '../sandbox/run/sandbox.js';
import { argString, machine, round, writeResults } from './lib.js';

const here = dirname(fileURLToPath(import.meta.url));
const SETTINGS = ['event', 'drain'] as const;

interface Column {
  notices: number;
  noticesAfterRecommendation: number;
  recommendations: number;
  sessionsStarted: number;
  sessionsEndedEarly: number;
  sessionsEndedEarlyPer100Notices: number | null;
  sessionsLost: number;
  cordonedNodeMinutesRebalance: number;
  cordonedNodeMinutesTotal: number;
  drainsReverted: number;
  realSeconds: number;
}

function column(r: SandboxReport, realSeconds: number): Column {
  const s = r.spot!;
  return {
    notices: s.notices,
    noticesAfterRecommendation: s.noticesAfterRecommendation,
    recommendations: s.recommendations,
    sessionsStarted: r.sessions.started,
    sessionsEndedEarly: s.sessionsEndedEarly,
    sessionsEndedEarlyPer100Notices: s.sessionsEndedEarlyPer100Notices,
    sessionsLost: r.sessions.lost,
    cordonedNodeMinutesRebalance: s.cordonedNodeMinutes.byReason.rebalance ?? 0,
    cordonedNodeMinutesTotal: s.cordonedNodeMinutes.total,
    drainsReverted: r.drains.reverted,
    realSeconds: round(realSeconds),
  };
}

async function runOnce(flags: SandboxFlags): Promise<Column> {
  const options = parseSandboxFlags(flags);
  const t0 = Date.now();
  const sandbox = await startSandbox(options);
  try {
    await sandbox.run();
  } finally {
    await sandbox.stop();
  }
  return column(sandbox.report(), (Date.now() - t0) / 1000);
}

/** The sums over seeds, and the rate recomputed from them. */
function total(columns: Column[]): Column {
  const sum = (k: keyof Column) => columns.reduce((a, c) => a + ((c[k] as number | null) ?? 0), 0);
  const notices = sum('notices');
  const endedEarly = sum('sessionsEndedEarly');
  return {
    notices,
    noticesAfterRecommendation: sum('noticesAfterRecommendation'),
    recommendations: sum('recommendations'),
    sessionsStarted: sum('sessionsStarted'),
    sessionsEndedEarly: endedEarly,
    sessionsEndedEarlyPer100Notices: notices ? round((endedEarly / notices) * 100) : null,
    sessionsLost: sum('sessionsLost'),
    cordonedNodeMinutesRebalance: round(sum('cordonedNodeMinutesRebalance')),
    cordonedNodeMinutesTotal: round(sum('cordonedNodeMinutesTotal')),
    drainsReverted: sum('drainsReverted'),
    realSeconds: round(sum('realSeconds')),
  };
}

async function main(): Promise<void> {
  const seeds = argString('seeds', '1,2')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const base: SandboxFlags = {
    nodes: argString('nodes', '6'),
    fleetReplicas: argString('replicas', '48'),
    speed: argString('speed', '10'),
    duration: argString('duration', '8m'),
    settle: argString('settle', '4m'),
    allocationRate: argString('allocation-rate', '12/min'),
    sessionSeconds: argString('session-seconds', '60-180'),
    interruptions: argString('interruptions', '1/min'),
    spotShare: argString('spot-share', '0.8'),
    rebalanceShare: argString('rebalance-share', '0.6'),
    rebalanceLead: argString('rebalance-lead', '3m'),
    rebalanceDrainWindow: argString('rebalance-drain-window', '10m'),
    logLevel: 'warn',
    logFile: join(here, '..', '.sandbox', 'bench-spot.log'),
    report: join(here, '..', '.sandbox', 'bench-spot-report.json'),
    ui: false,
  };
  const runs: Record<string, Column[]> = { event: [], drain: [] };
  for (const seed of seeds)
    for (const setting of SETTINGS) {
      process.stderr.write(`bench:spot: seed ${seed}, REBALANCE_RECOMMENDATION=${setting}...\n`);
      runs[setting]!.push(await runOnce({ ...base, seed, rebalanceRecommendation: setting }));
    }
  const columns = Object.fromEntries(SETTINGS.map((s) => [s, total(runs[s]!)])) as Record<
    (typeof SETTINGS)[number],
    Column
  >;
  const result = {
    headline: {
      endedEarlyPer100NoticesEvent: columns.event.sessionsEndedEarlyPer100Notices,
      endedEarlyPer100NoticesDrain: columns.drain.sessionsEndedEarlyPer100Notices,
      rebalanceCordonedNodeMinutesDrain: columns.drain.cordonedNodeMinutesRebalance,
      sessionsLost: columns.event.sessionsLost + columns.drain.sessionsLost,
    },
    date: new Date().toISOString(),
    machine: machine(),
    settings: { ...base, seeds, logFile: undefined, report: undefined },
    columns,
    perSeed: runs,
  };
  await writeResults('spot', result);
  console.log(JSON.stringify(result, null, 2));
  process.exit(result.headline.sessionsLost > 0 ? 1 : 0);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
