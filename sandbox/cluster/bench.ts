// Benchmark of the simulated cluster on the Kubernetes emulator: how long a fleet takes to reach
// Ready, then an open-loop allocation load. Prints figures; asserts nothing.
//
//   npx tsx sandbox/cluster/bench.ts --nodes 1000 --gameservers 20000 --allocations 6000 --rate 200
//
// Options: --nodes N, --gameservers N, --allocations N, --rate per second (real time), --speed
// (clock speed, default 20), --events (write core/v1 Events, default off), --batch-wait ms
// (allocator batch pause, simulated ms, default 0).

import { pino } from 'pino';
import { startKubeEmulator } from '../kube/emulator.js';
import { SimClock } from '../clock.js';
import { startClusterSimulation } from './index.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = Number(process.argv[i + 1]);
  if (!Number.isFinite(v) || v < 0)
    throw new Error(`--${name} must be a non-negative number, got ${process.argv[i + 1]}`);
  return v;
}

export async function runBench(): Promise<void> {
  const nodes = arg('nodes', 100);
  const gameServers = arg('gameservers', 2000);
  const allocations = arg('allocations', 1000);
  const rate = arg('rate', 200);
  const clock = new SimClock({ speed: arg('speed', 20) });
  const emu = await startKubeEmulator({ clock });
  const sim = await startClusterSimulation(emu, {
    clock,
    seed: 1,
    logger: pino({ level: 'error' }),
    events: process.argv.includes('--events'),
    allocationBatchWaitMs: arg('batch-wait', 0),
    nodes: { count: nodes, capacity: { pods: 110 } },
    waitForFleets: false,
  });
  try {
    let t = Date.now();
    await sim.applyFleet({ name: 'bench', replicas: gameServers });
    const progress = setInterval(() => {
      const ready = [...sim.allocator.cache.values()].filter((g) => g.status?.state === 'Ready').length;
      console.log(
        JSON.stringify({
          seconds: (Date.now() - t) / 1000,
          ready,
          rssMB: Math.round(process.memoryUsage().rss / 1e6),
        }),
      );
    }, 5000);
    await sim.waitForFleetReady('bench', { timeoutMs: 3_600_000 });
    clearInterval(progress);
    const readySeconds = (Date.now() - t) / 1000;
    console.log(
      JSON.stringify({
        phase: 'fleet-ready',
        nodes,
        gameServers,
        seconds: readySeconds,
        perSecond: Math.round(gameServers / readySeconds),
      }),
    );

    const gsa = {
      group: 'allocation.agones.dev',
      version: 'v1',
      resource: 'gameserverallocations',
      namespace: 'default',
    };
    const client = emu.client();
    const latencies: number[] = [];
    let allocated = 0;
    let other = 0;
    const inflight: Promise<void>[] = [];
    t = Date.now();
    for (let i = 0; i < allocations; i++) {
      const wait = t + (i * 1000) / rate - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const start = Date.now();
      inflight.push(
        client
          .create(gsa, {
            apiVersion: 'allocation.agones.dev/v1',
            kind: 'GameServerAllocation',
            spec: { selectors: [{ matchLabels: { 'agones.dev/fleet': 'bench' } }] },
          })
          .then((r) => {
            latencies.push(Date.now() - start);
            if (r.status?.state === 'Allocated') allocated++;
            else other++;
          }),
      );
    }
    await Promise.all(inflight);
    const seconds = (Date.now() - t) / 1000;
    latencies.sort((a, b) => a - b);
    const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))];
    console.log(
      JSON.stringify({
        phase: 'allocations',
        offeredPerSecond: rate,
        achievedPerSecond: Math.round(allocations / seconds),
        allocated,
        notAllocated: other,
        latencyMs: { p50: pct(0.5), p99: pct(0.99), max: latencies[latencies.length - 1] },
        conflicts: sim.allocator.stats.conflicts,
      }),
    );
  } finally {
    await sim.stop();
    await emu.stop();
    clock.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  runBench().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
