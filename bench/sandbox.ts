// Scale run of the whole system in one process on this machine: by default 200 nodes (one FleetIQ
// group of 200 instances), 4,000 game servers, pubsub ×2, webhook ×2 and 200 node agents, one FleetIQ
// interruption per simulated minute (half rebalancing DRAINING, half Spot notices), players allocating
// all along. Prints sessions lost (the figure that must be 0), the reaction from a FleetIQ status
// change to the drain taint (p50/p99/max), API calls per component, and this process's CPU and memory,
// and writes bench/results/sandbox.json.
//
// Everything shares ONE Node.js thread (the emulators' HTTPS, the simulation, every component), so the
// run is paced to what one core sustains: speed 2 with 4 allocations per simulated second is 8
// allocations (webhook admissions, pod patches) per real second on top of 200 agents' watches. At about
// 50 allocations per real second the thread saturates, webhook calls time out and, with failurePolicy
// Fail, allocations fail (no session is lost; they are refused).
//
// Usage: npm run bench:sandbox [-- --nodes 200 --replicas 4000 --speed 2 --duration 10m
//                                 --allocation-rate 4/s --session-seconds 60-180 --interruptions 1/min]
import { writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseSandboxFlags } from '../sandbox/run/options.js';
import { formatSummary } from '../sandbox/run/report.js';
import { startSandbox } from '../sandbox/run/sandbox.js';
import { argString, writeResults } from './lib.js';

const here = dirname(fileURLToPath(import.meta.url));

async function main(): Promise<void> {
  const options = parseSandboxFlags({
    nodes: argString('nodes', '200'),
    fleetReplicas: argString('replicas', '4000'),
    scheduling: argString('scheduling', 'Packed'),
    speed: argString('speed', '2'),
    duration: argString('duration', '10m'),
    allocationRate: argString('allocation-rate', '4/s'),
    sessionSeconds: argString('session-seconds', '60-180'),
    interruptions: argString('interruptions', '1/min'),
    seed: argString('seed', '1'),
    report: join(here, '..', '.sandbox', 'bench-report.json'),
    logFile: join(here, '..', '.sandbox', 'bench.log'),
    logLevel: 'warn',
    ui: false,
  });
  const loadBefore = loadavg();
  const t0 = Date.now();
  console.log(
    `bench:sandbox: ${options.nodes} nodes, ${options.fleetReplicas} game servers, ` +
      `${options.allocationRatePerSecond}/s allocations, ${options.durationMs / 60_000} min simulated at speed ${options.speed}`,
  );
  const sandbox = await startSandbox(options);
  const readySeconds = (Date.now() - t0) / 1000;
  console.log(`ready after ${readySeconds.toFixed(1)} s (fleet Ready, every agent registered)`);

  // CPU of this process per second of the run (all components, emulators and the simulation).
  const cpuSamples: number[] = [];
  let last = process.cpuUsage();
  let lastAt = Date.now();
  let maxRss = 0;
  let maxHeap = 0;
  const sampler = setInterval(() => {
    const now = Date.now();
    const c = process.cpuUsage(last);
    cpuSamples.push(((c.user + c.system) / 1000 / (now - lastAt)) * 100);
    last = process.cpuUsage();
    lastAt = now;
    const m = process.memoryUsage();
    maxRss = Math.max(maxRss, m.rss);
    maxHeap = Math.max(maxHeap, m.heapUsed);
  }, 1000);
  const progress = setInterval(() => {
    const v = sandbox.view();
    console.log(
      `  ${v.phase} ${Math.round(v.simElapsedMs / 1000)} s simulated: sessions ${v.sessions.started} started, ${v.sessions.active} held, ` +
        `${v.sessions.lost} lost; drains ${v.drains.started} started, ${v.drains.deregistered} deregistered; ` +
        `reaction p50 ${v.reaction.p50 ?? '-'} ms; CPU ${Math.round(cpuSamples.at(-1) ?? 0)}%`,
    );
  }, 10_000);
  const runStart = Date.now();
  try {
    await sandbox.run();
  } finally {
    clearInterval(sampler);
    clearInterval(progress);
  }
  const runSeconds = (Date.now() - runStart) / 1000;
  const report = await sandbox.stop();
  const svgPath = join(here, '..', '.sandbox', 'bench-timeline.svg');
  await writeFile(svgPath, sandbox.timelineSvg());
  const sorted = [...cpuSamples].sort((a, b) => a - b);
  const mean = cpuSamples.reduce((a, b) => a + b, 0) / Math.max(1, cpuSamples.length);
  const result = {
    headline: {
      sessionsLost: report.sessions.lost,
      sessionsStarted: report.sessions.started,
      reactionP99Ms: report.reactionMs.p99,
      cpuMeanPercent: Math.round(mean),
      maxRssMiB: Math.round(maxRss / 1048576),
    },
    date: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    loadAverageBefore: loadBefore.map((l) => Math.round(l * 100) / 100),
    loadAverageAfter: loadavg().map((l) => Math.round(l * 100) / 100),
    settings: report.run.options,
    readySeconds: Math.round(readySeconds * 10) / 10,
    runSeconds: Math.round(runSeconds * 10) / 10,
    sessions: report.sessions,
    allocations: report.allocations,
    drains: report.drains,
    instances: report.instances,
    reactionMs: report.reactionMs,
    cpu: {
      meanPercent: Math.round(mean),
      p95Percent: Math.round(sorted[Math.floor(sorted.length * 0.95)] ?? 0),
      note: '100% = one core; the machine has ' + cpus().length,
    },
    memory: { maxRssMiB: Math.round(maxRss / 1048576), maxHeapMiB: Math.round(maxHeap / 1048576) },
    apiCalls: {
      kubernetesTotals: Object.fromEntries(
        Object.entries(report.apiCalls.kubernetes).map(([k, v]) => [k, v.total]),
      ),
      gameliftTotals: Object.fromEntries(
        Object.entries(report.apiCalls.gamelift).map(([k, v]) => [k, v.total]),
      ),
      gameliftThrottled: Object.values(report.apiCalls.gameliftByOperation).reduce(
        (a, c) => a + c.throttled,
        0,
      ),
      webhookAdmissions: report.apiCalls.webhookAdmissions,
      kubernetesPerAgentPerMinute:
        Math.round(
          ((report.apiCalls.kubernetes.reconciler?.total ?? 0) /
            Math.max(1, options.nodes) /
            Math.max(1 / 60, runSeconds / 60)) *
            10,
        ) / 10,
    },
  };
  console.log('');
  console.log(formatSummary(report));
  console.log('');
  const table: Array<[string, string]> = [
    ['sessions lost', String(result.sessions.lost)],
    ['sessions started / completed', `${result.sessions.started} / ${result.sessions.completed}`],
    ['drains started / deregistered', `${result.drains.started} / ${result.drains.deregistered}`],
    [
      'reaction p50 / p99 / max (ms)',
      `${result.reactionMs.p50} / ${result.reactionMs.p99} / ${result.reactionMs.max}`,
    ],
    ['CPU mean / p95 (% of a core)', `${result.cpu.meanPercent} / ${result.cpu.p95Percent}`],
    ['max RSS / heap (MiB)', `${result.memory.maxRssMiB} / ${result.memory.maxHeapMiB}`],
    ['ready after (s)', String(result.readySeconds)],
  ];
  for (const [k, v] of table) console.log(`${k.padEnd(32)} ${v}`);
  await writeResults('sandbox', result);
  console.log(`\nwrote bench/results/sandbox.json (timeline: .sandbox/bench-timeline.svg)`);
  process.exit(result.sessions.lost > 0 ? 1 : 0);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
