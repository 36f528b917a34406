// The real Kubernetes control plane of the test bed, measured, and the sandbox on both control planes
// side by side:
// 1. time from startControlPlane() to ready (warm binaries: built before timing), `--starts` times;
// 2. resident memory of etcd, kube-apiserver, kube-controller-manager and kube-scheduler, idle after
//    start and once more after the sandbox's real run (the API server grows with what it watches);
// 3. the default sandbox (npm start's options, 5 simulated minutes at speed 10) on the emulated and on
//    the real control plane: sessions lost, reaction p50/p99, time to ready and the run's real time.
// Prints JSON and writes bench/results/control-plane.json.
//
// Usage: npm run bench:control-plane [-- --starts 3 --no-sandbox]
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { controlPlaneBinaries } from '../sandbox/control-plane/binaries.js';
import { startControlPlane, type ControlPlane } from '../sandbox/control-plane/control-plane.js';
import { parseSandboxFlags } from '../sandbox/run/options.js';
import { startSandbox } from '../sandbox/run/sandbox.js';
import type { ControlPlaneKind } from '../sandbox/run/kube-backend.js';
import { argString, writeResults } from './lib.js';

const here = dirname(fileURLToPath(import.meta.url));

function rssMiB(pid: number | undefined): number | undefined {
  if (!pid) return undefined;
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 1024) : undefined;
  } catch {
    return undefined;
  }
}

function memory(cp: ControlPlane): Record<string, number | undefined> {
  return Object.fromEntries(cp.processes.map((p) => [p.name, rssMiB(p.pid)]));
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const round1 = (x: number) => Math.round(x * 10) / 10;

async function sandboxRun(kind: ControlPlaneKind) {
  const options = parseSandboxFlags({
    controlPlane: kind,
    report: join(here, '..', '.sandbox', `bench-control-plane-${kind}.json`),
    logFile: join(here, '..', '.sandbox', `bench-control-plane-${kind}.log`),
    logLevel: 'warn',
    ui: false,
  });
  const t0 = Date.now();
  const sandbox = await startSandbox(options);
  const readySeconds = (Date.now() - t0) / 1000;
  await sandbox.run();
  const report = await sandbox.stop();
  return {
    controlPlane: kind,
    readySeconds: round1(readySeconds),
    realSeconds: report.run.realSeconds,
    sessions: { started: report.sessions.started, lost: report.sessions.lost },
    drains: report.drains.started,
    reactionMs: { p50: report.reactionMs.p50, p99: report.reactionMs.p99 },
  };
}

async function main(): Promise<void> {
  const starts = Number(argString('starts', '3'));
  controlPlaneBinaries(); // Built (once) before anything is timed.
  const loadBefore = loadavg();

  const readySeconds: number[] = [];
  let idleMemory: Record<string, number | undefined> = {};
  for (let i = 0; i < starts; i++) {
    const cp = await startControlPlane();
    readySeconds.push(cp.startSeconds);
    // Settled: the controllers have done their first sync.
    await new Promise((r) => setTimeout(r, 5_000));
    idleMemory = memory(cp);
    await cp.stop();
  }
  console.error(`control plane ready in ${readySeconds.map((s) => s.toFixed(1)).join(', ')} s`);

  const sandbox = process.argv.includes('--no-sandbox')
    ? undefined
    : [await sandboxRun('emulated'), await sandboxRun('real')];

  const result = {
    headline: {
      readySecondsMedian: round1(median(readySeconds)),
      apiServerMiB: idleMemory['kube-apiserver'],
      ...(sandbox
        ? {
            lostEmulated: sandbox[0]!.sessions.lost,
            lostReal: sandbox[1]!.sessions.lost,
            reactionP99Emulated: sandbox[0]!.reactionMs.p99,
            reactionP99Real: sandbox[1]!.reactionMs.p99,
          }
        : {}),
    },
    controlPlane: {
      readySeconds: readySeconds.map(round1),
      idleResidentMiB: idleMemory,
    },
    ...(sandbox ? { sandbox } : {}),
    machine: { cpus: cpus().length, loadBefore: loadBefore.map(round1) },
  };
  console.log(JSON.stringify(result, null, 2));
  await writeResults('control-plane', result);
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
