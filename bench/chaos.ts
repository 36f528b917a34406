// The default sandbox (`npm start`: 6 nodes, 48 game servers, players, one FleetIQ interruption a
// simulated minute) with every --chaos fault injected once during its 5 simulated minutes of load.
// Prints a JSON table, one row per fault: when it was injected, on what, what it did, and the sessions
// lost and nodes stranded in its window (from its injection to the next one, the last until the end of
// the run); then the run's totals. Writes bench/results/chaos.json. Exit code 1 when a session was
// lost or a node left stranded.
//
// Usage: npm run bench:chaos [-- --chaos LIST --speed 10 --seed 1 --control-plane emulated|real]
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseSandboxFlags } from '../sandbox/run/options.js';
import { formatSummary } from '../sandbox/run/report.js';
import { startSandbox } from '../sandbox/run/sandbox.js';
import { argString, writeResults } from './lib.js';

const here = dirname(fileURLToPath(import.meta.url));

/**
 * Every fault once, 30-45 s apart so each window shows what that fault did; the Spot notice seen only
 * in instance metadata lands during the Redis outage, the case where no status reaches the agent.
 */
export const DEFAULT_CHAOS =
  'redis-poison-sequence@20s,replay-status@50s,redis-down:40s@1m30s,imds-spot-notice@1m45s,' +
  'webhook-down:30s@2m40s,fleetiq-errors:30s@3m20s,agent-kill@4m10s';

interface Row {
  fault: string;
  when: string;
  target?: string;
  effect?: string;
  contained?: boolean;
  skipped?: string;
  sessionsLost: number;
  nodesStranded: number;
}

async function main(): Promise<void> {
  const options = parseSandboxFlags({
    chaos: argString('chaos', DEFAULT_CHAOS),
    speed: argString('speed', '10'),
    seed: argString('seed', '1'),
    controlPlane: argString('control-plane', 'emulated'),
    report: join(here, '..', '.sandbox', 'bench-chaos-report.json'),
    logFile: join(here, '..', '.sandbox', 'bench-chaos.log'),
    logLevel: 'info',
    ui: false,
  });
  console.log(`bench:chaos: the default sandbox with --chaos ${argString('chaos', DEFAULT_CHAOS)}`);
  const t0 = Date.now();
  const sandbox = await startSandbox(options);
  console.log(`ready after ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  // Each fault's window closes when the next one is injected: what was lost meanwhile, and what was
  // left stranded just before the next fault.
  const boundaries: Array<{ lost: number; stranded: number }> = [];
  const state = () => {
    const r = sandbox.report();
    return { lost: r.sessions.lost, stranded: r.nodes?.stranded ?? 0 };
  };
  let seen = 0;
  const watcher = setInterval(() => {
    const n = sandbox.chaos.injected.length;
    if (n > seen) {
      const s = state();
      // Several at once (same instant): the earlier ones' windows are empty.
      for (; seen < n; seen++) boundaries.push(s);
    }
  }, 200);
  const progress = setInterval(() => {
    const v = sandbox.view();
    console.log(
      `  ${v.phase} ${Math.round(v.simElapsedMs / 1000)} s simulated: sessions ${v.sessions.started} started, ` +
        `${v.sessions.active} held, ${v.sessions.lost} lost; faults injected ${sandbox.chaos.injected.length}`,
    );
  }, 10_000);
  try {
    await sandbox.run();
  } finally {
    clearInterval(watcher);
    clearInterval(progress);
  }
  const report = await sandbox.stop();
  const end = { lost: report.sessions.lost, stranded: report.nodes?.stranded ?? 0 };
  const injected = report.chaos?.injected ?? [];
  const rows: Row[] = injected.map((c, i) => {
    const from = boundaries[i] ?? end;
    const to = boundaries[i + 1] ?? end;
    return {
      fault: c.fault,
      when: c.skipped ? '-' : `${c.atSeconds} s`,
      ...(c.target ? { target: c.target } : {}),
      ...(c.effect ? { effect: c.effect } : {}),
      ...(c.contained !== undefined ? { contained: c.contained } : {}),
      ...(c.skipped ? { skipped: c.skipped } : {}),
      sessionsLost: c.skipped ? 0 : to.lost - from.lost,
      nodesStranded: c.skipped ? 0 : to.stranded,
    };
  });
  const result = {
    headline: {
      sessionsLost: report.sessions.lost,
      nodesStranded: end.stranded,
      faultsContained: `${rows.filter((r) => r.contained === true).length} of ${rows.filter((r) => r.contained !== undefined).length}`,
    },
    date: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    settings: report.run.options,
    table: rows,
    totals: {
      sessionsStarted: report.sessions.started,
      sessionsLost: report.sessions.lost,
      endedGracefullyBySpotNotice: report.sessions.endedGracefullyBySpotNotice,
      nodesStrandedAtEnd: end.stranded,
      allocationsFailed: report.allocations.failed,
      drains: report.drains,
      realSeconds: report.run.realSeconds,
    },
  };
  console.log('');
  console.log(formatSummary(report));
  console.log('');
  console.log(JSON.stringify(rows, null, 2));
  await writeResults('chaos', result);
  console.log('\nwrote bench/results/chaos.json');
  const bad = report.sessions.lost > 0 || end.stranded > 0 || rows.some((r) => r.contained === false);
  process.exit(bad ? 1 : 0);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
