// Benchmark of the node agent (reconciler) against the Kubernetes API server emulator, the FleetIQ
// emulator and a real Redis.
//
//   1. Reaction: from a status message arriving in Redis (published as pubsub does: latest key +
//      channel, signed) to the node carrying the drain taint, seen through a watch on Nodes. Each node
//      hosts a Ready game server (fenced with a compare-and-swap), an Allocated one whose pod tolerates
//      the taint and an Allocated one whose pod does not (toleration backfilled): the whole
//      cordon → fence → taint path. One drain at a time, then 50 drains at once. Target p99 < 250 ms.
//   2. Resident memory of one agent alone in a process (ops server and process metrics on, as
//      deployed), idle and after a drain. Target < 80 MB.
//   3. Kubernetes API requests per idle node per minute at steady state, from the emulator's request
//      log (target: no periodic LISTs; only watch renewals every 5-10 minutes).
//   4. Many agents in one process (default 1,000): boot, CPU and API load at idle and during 50
//      simultaneous drains.
//
// The agents run in a child process (bench/reconciler-agents.ts compiled by tsc and run by plain Node,
// no TypeScript loader), so their CPU and memory are measured apart from the emulators, which run in
// this process.
//
// Usage: npm run bench:reconciler [-- --agents 1000 --latency-nodes 100 --concurrent 50 --idle-seconds 20]
// (--agents 0 skips the many-agents part). AGENT_HOST_EXEC_ARGV passes Node flags to the agent host of
// the reaction part (e.g. "--cpu-prof"); BENCH_DEBUG=1 prints the request timeline of the burst.
import { execFile, fork, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { pino } from 'pino';
import type { KubeEmulator } from '../sandbox/kube/emulator.js';
import type { LocalClient } from '../sandbox/kube/types.js';
import type { FleetIQEmulator } from '../sandbox/fleetiq/emulator.js';
import { DRAIN_PHASE_ANNOTATION } from '../shared/drain-contract.js';
import { DRAIN_TAINT, INSTANCE_STATUS_LABEL } from '../shared/contract.js';
import { startSystem } from '../sandbox/system/system.js';
import {
  AGENT_USER,
  GROUP,
  SECRET,
  StatusPublisher,
  createGameServer,
  createNode,
  grantAgentRbac,
  setGameServerState,
} from '../sandbox/system/agent-fixtures.js';
import { argNumber, percentileOf, round, sleep, waitFor, writeResults } from './lib.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');

const AGENTS = argNumber('agents', 1000);
const LATENCY_NODES = argNumber('latency-nodes', 100);
const CONCURRENT = argNumber('concurrent', 50);
const IDLE_SECONDS = argNumber('idle-seconds', 20);

const silent = pino({ level: 'silent' });
const instanceId = (n: number) => `i-${n.toString(16).padStart(17, '0')}`;

const stats = (v: number[]) => ({
  n: v.length,
  p50: round(percentileOf(v, 50)),
  p99: round(percentileOf(v, 99)),
  max: round(Math.max(...v)),
});

interface Sample {
  type: string;
  rss: number;
  heapUsed: number;
  cpu: { user: number; system: number };
  at: number;
  phases: Record<string, number>;
  ready: number;
  ms?: number;
  opsUrl?: string;
}

class AgentHost {
  private waiters: ((m: Sample) => void)[] = [];
  readonly exited: Promise<number | null>;
  private constructor(private readonly child: ChildProcess) {
    child.on('message', (m: any) => {
      if (m.type === 'error') console.error(`agent host: ${m.message}`);
      const w = this.waiters.shift();
      w?.(m);
    });
    this.exited = new Promise((r) => child.once('exit', (code) => r(code)));
  }

  static async start(
    bundle: string,
    hostArgs: object,
    execArgv: string[] = [],
  ): Promise<{ host: AgentHost; booted: Sample }> {
    const child = fork(bundle, [], {
      execPath: process.execPath,
      execArgv,
      env: { ...process.env, AGENT_HOST_ARGS: JSON.stringify(hostArgs) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const host = new AgentHost(child);
    const booted = await host.next();
    if (booted.type !== 'booted') throw new Error(`agent host failed: ${JSON.stringify(booted)}`);
    return { host, booted };
  }

  private next(): Promise<Sample> {
    return new Promise((r) => this.waiters.push(r));
  }

  sample(): Promise<Sample> {
    const p = this.next();
    this.child.send({ cmd: 'sample' });
    return p;
  }

  async stop(): Promise<void> {
    this.child.send({ cmd: 'stop' });
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 30_000);
    await this.exited;
    clearTimeout(timer);
  }
}

/** Resolves, per node, when a Node watch first shows the drain taint on it. */
class TaintWatch {
  private readonly seen = new Map<string, number>();
  private readonly waiting = new Map<string, (t: number) => void>();
  private readonly stop: () => void;
  constructor(admin: LocalClient) {
    this.stop = admin.watch({ group: '', version: 'v1', resource: 'nodes' }, {}, (ev) => {
      const name = ev.object.metadata?.name;
      if (!name || this.seen.has(name) || ev.type === 'DELETED') return;
      if (
        (ev.object.spec?.taints ?? []).some(
          (t: any) => t.key === DRAIN_TAINT.key && t.effect === DRAIN_TAINT.effect,
        )
      ) {
        const t = performance.now();
        this.seen.set(name, t);
        this.waiting.get(name)?.(t);
      }
    });
  }
  tainted(node: string, timeoutMs = 30_000): Promise<number> {
    const t = this.seen.get(node);
    if (t !== undefined) return Promise.resolve(t);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${node} not tainted after ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.waiting.set(node, (at) => {
        clearTimeout(timer);
        resolve(at);
      });
    });
  }
  close(): void {
    this.stop();
  }
}

function waitUntil(what: string, probe: () => boolean | Promise<boolean>, timeoutMs = 120_000) {
  return waitFor(what, probe, timeoutMs, 100);
}

async function labelledActive(admin: LocalClient, prefix: string): Promise<number> {
  const list = await admin.list(
    { group: '', version: 'v1', resource: 'nodes' },
    { labelSelector: `${INSTANCE_STATUS_LABEL}=ACTIVE` },
  );
  return list.items.filter((x) => x.metadata.name!.startsWith(prefix)).length;
}

/** Requests the agents made (their ServiceAccount) since `from` in the request log. */
function agentRequests(emu: KubeEmulator, from: number) {
  const entries = emu.requestLog.entries(AGENT_USER).slice(from);
  const byVerb: Record<string, number> = {};
  for (const e of entries) {
    const k = `${e.verb} ${e.resource}${e.code >= 300 ? ` (${e.code})` : ''}`;
    byVerb[k] = (byVerb[k] ?? 0) + 1;
  }
  return { total: entries.length, byVerb };
}

function cpuPercent(a: Sample, b: Sample): number {
  const us = b.cpu.user + b.cpu.system - (a.cpu.user + a.cpu.system);
  return round((us / 1000 / (b.at - a.at)) * 100);
}

async function seedNodes(
  admin: LocalClient,
  prefix: string,
  from: number,
  n: number,
  gameServers: 'drain' | 'light',
): Promise<string[]> {
  const names: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < n) {
        const i = next++;
        const name = `${prefix}-${i}`;
        names.push(name);
        await createNode(admin, name, instanceId(from + i));
        if (gameServers === 'drain') {
          await createGameServer(admin, `${name}-ready`, name, 'Ready');
          await createGameServer(admin, `${name}-tolerating`, name, 'Allocated', { tolerates: true });
          await createGameServer(admin, `${name}-bare`, name, 'Allocated');
        } else {
          await createGameServer(admin, `${name}-ready`, name, 'Ready');
          await createGameServer(admin, `${name}-alloc`, name, 'Allocated', { tolerates: true });
        }
      }
    }),
  );
  return names.sort((a, b) => Number(a.split('-').at(-1)) - Number(b.split('-').at(-1)));
}

async function drainAndMeasure(
  publisher: StatusPublisher,
  watch: TaintWatch,
  nodes: string[],
  ids: Map<string, string>,
  concurrent: boolean,
): Promise<number[]> {
  const latencies: number[] = [];
  const one = async (node: string) => {
    const t0 = performance.now();
    const tainted = watch.tainted(node);
    await publisher.publish(ids.get(node)!, 'DRAINING');
    latencies.push((await tainted) - t0);
  };
  if (concurrent) await Promise.all(nodes.map(one));
  else
    for (const n of nodes) {
      await one(n);
      await sleep(20);
    }
  return latencies;
}

/**
 * Compiles the agent host and what it imports to JavaScript under node_modules/.cache (so that package
 * imports resolve from the repository's node_modules), and returns the entry point.
 */
async function compileAgentHost(): Promise<string> {
  // One folder per checkout: node_modules may be shared (a symlink) by checkouts of other revisions.
  const checkout = createHash('sha256').update(root).digest('hex').slice(0, 12);
  const out = join(root, 'node_modules', '.cache', `bench-reconciler-${checkout}`);
  await rm(out, { recursive: true, force: true });
  await mkdir(out, { recursive: true });
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  await promisify(execFile)(
    process.execPath,
    [
      tsc,
      '--outDir',
      out,
      '--rootDir',
      root,
      '--module',
      'nodenext',
      '--moduleResolution',
      'nodenext',
      '--target',
      'es2023',
      '--strict',
      '--skipLibCheck',
      '--esModuleInterop',
      '--types',
      'node',
      join(here, 'reconciler-agents.ts'),
    ],
    { cwd: root },
  );
  // node_modules is a package boundary: say that these files are ES modules.
  await writeFile(join(out, 'package.json'), '{"type":"module"}\n');
  return join(out, 'bench', 'reconciler-agents.js');
}

async function main(): Promise<void> {
  const bundle = await compileAgentHost();

  const total = 1 + LATENCY_NODES + AGENTS;
  // The API server emulator with RBAC and the installation from manifests/, less the webhook
  // configuration: no webhook runs here to answer it.
  const system = await startSystem({ controlPlane: 'emulated', webhookConfiguration: false });
  const emu = system.kube.emulator!;
  const admin = system.admin;
  await grantAgentRbac(admin);
  const dir = await mkdtemp(join(tmpdir(), 'bench-reconciler-'));
  const kubeconfig = join(dir, 'kubeconfig');
  await emu.writeKubeconfig(kubeconfig, AGENT_USER);
  const fleetiq: FleetIQEmulator = await system.startFleetIQ({
    groups: [{ name: GROUP, instanceIds: Array.from({ length: total }, (_, i) => instanceId(i)) }],
    logger: silent,
    // A whole fleet of agents registering in the same second is a benchmark artefact (a DaemonSet
    // rolls out gradually); FleetIQ's per-account limits are not what is measured here.
    rateLimits: false,
    healthCheckTimeoutSeconds: 3600,
  });
  const redis = await system.startRedis();
  const publisher = await StatusPublisher.connect(redis.port);
  const watch = new TaintWatch(admin);
  const hostArgs = (nodes: string[], ops: boolean) => ({
    kubeconfig,
    fleetiqUrl: fleetiq.url,
    redisUrl: redis.url,
    group: GROUP,
    secret: SECRET,
    nodes,
    ops,
  });
  const ids = new Map<string, string>();
  const results: Record<string, unknown> = {
    machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
  };

  try {
    // ---- 2. one agent: resident memory ----
    console.error('[1/3] one agent: memory');
    const [single] = await seedNodes(admin, 'solo', 0, 1, 'drain');
    ids.set(single, instanceId(0));
    await publisher.publish(instanceId(0), 'ACTIVE');
    {
      // What Node and the libraries alone take (the agent host with no agent): the floor.
      const floor = await AgentHost.start(bundle, hostArgs([], true));
      await sleep(1000);
      const floorSample = await floor.host.sample();
      await floor.host.stop();
      const measure = async (execArgv: string[]) => {
        const { host } = await AgentHost.start(bundle, hostArgs([single], true), execArgv);
        await waitUntil('the solo node labelled', async () => (await labelledActive(admin, 'solo')) === 1);
        await sleep(3000);
        const idle = await host.sample();
        await host.stop();
        return idle;
      };
      const plain = await measure([]);
      const small = await measure(['--max-semi-space-size=1', '--optimize-for-size']);
      // A whole drain, with the process-size flags.
      const { host } = await AgentHost.start(bundle, hostArgs([single], true), [
        '--max-semi-space-size=1',
        '--optimize-for-size',
      ]);
      await waitUntil('the solo node labelled', async () => (await labelledActive(admin, 'solo')) === 1);
      await drainAndMeasure(publisher, watch, [single], ids, false);
      await setGameServerState(admin, `${single}-tolerating`, 'Shutdown');
      await setGameServerState(admin, `${single}-bare`, 'Shutdown');
      await waitUntil('the solo drain to finish', async () => {
        const n = await admin.get({ group: '', version: 'v1', resource: 'nodes', name: single });
        return n.metadata.annotations?.[DRAIN_PHASE_ANNOTATION] === 'Deregistered';
      });
      await sleep(1000);
      const after = await host.sample();
      await host.stop();
      results.singleAgent = {
        libraryFloorMB: round(floorSample.rss / 2 ** 20),
        rssIdleMB: round(plain.rss / 2 ** 20),
        rssIdleSmallFlagsMB: round(small.rss / 2 ** 20),
        rssAfterDrainSmallFlagsMB: round(after.rss / 2 ** 20),
        heapUsedMB: round(plain.heapUsed / 2 ** 20),
        smallFlags: '--max-semi-space-size=1 --optimize-for-size',
        targetMB: 80,
      };
    }

    // ---- 1 & 3. reaction time and idle API load ----
    console.error(`[2/3] ${LATENCY_NODES} agents: reaction time and idle API load`);
    const latNodes = await seedNodes(admin, 'lat', 1, LATENCY_NODES, 'drain');
    latNodes.forEach((n, i) => ids.set(n, instanceId(1 + i)));
    for (const n of latNodes) await publisher.publish(ids.get(n)!, 'ACTIVE');
    {
      const { host, booted } = await AgentHost.start(
        bundle,
        hostArgs(latNodes, false),
        process.env.AGENT_HOST_EXEC_ARGV?.split(' ').filter(Boolean) ?? [],
      );
      await waitUntil(
        'every lat node labelled',
        async () => (await labelledActive(admin, 'lat')) === LATENCY_NODES,
      );
      await sleep(2000); // let registrations and first health reports settle
      const mark = emu.requestLog.entries(AGENT_USER).length;
      const a = await host.sample();
      // pubsub republishes unchanged statuses: do the same during the idle window
      const republish = setInterval(() => {
        for (const n of latNodes) void publisher.publish(ids.get(n)!, 'ACTIVE');
      }, 5000);
      await sleep(IDLE_SECONDS * 1000);
      clearInterval(republish);
      const b = await host.sample();
      const idle = agentRequests(emu, mark);
      results.idle = {
        nodes: LATENCY_NODES,
        seconds: IDLE_SECONDS,
        requests: idle.total,
        byVerb: idle.byVerb,
        requestsPerNodePerMinute: round(idle.total / LATENCY_NODES / (IDLE_SECONDS / 60), 3),
        // What remains in the long run: two watches per agent, renewed every 300-600 s (mean 450 s).
        expectedWatchRenewalsPerNodePerMinute: round((2 * 60) / 450, 2),
        agentsCpuPercentOfOneCore: cpuPercent(a, b),
        bootMs: booted.ms,
      };

      const half = Math.min(Math.floor(LATENCY_NODES / 2), LATENCY_NODES - CONCURRENT);
      const sequential = await drainAndMeasure(publisher, watch, latNodes.slice(0, half), ids, false);
      await sleep(500);
      const simultaneous = await drainAndMeasure(
        publisher,
        watch,
        latNodes.slice(half, half + CONCURRENT),
        ids,
        true,
      );
      results.reaction = {
        oneAtATimeMs: stats(sequential),
        simultaneousMs: { ...stats(simultaneous), drains: CONCURRENT },
        targetP99Ms: 250,
      };
      await host.stop();
    }

    // ---- 4. many agents in one process ----
    if (AGENTS > 0) {
      console.error(`[3/3] ${AGENTS} agents in one process`);
      const from = 1 + LATENCY_NODES;
      const many = await seedNodes(admin, 'many', from, AGENTS, 'light');
      many.forEach((n, i) => ids.set(n, instanceId(from + i)));
      for (const n of many) await publisher.publish(ids.get(n)!, 'ACTIVE');
      {
        const emuCpu0 = process.cpuUsage();
        const t0 = Date.now();
        const mark0 = emu.requestLog.entries(AGENT_USER).length;
        const { host, booted } = await AgentHost.start(bundle, hostArgs(many, false));
        await waitUntil(
          `${AGENTS} nodes labelled`,
          async () => (await labelledActive(admin, 'many')) === AGENTS,
          300_000,
        );
        const registered = () => fleetiq.control.gameServers({ group: GROUP }).length;
        await waitUntil('every agent registered in FleetIQ', () => registered() >= AGENTS, 300_000);
        const settledMs = Date.now() - t0;
        const bootRequests = agentRequests(emu, mark0);
        await sleep(3000);

        const mark = emu.requestLog.entries(AGENT_USER).length;
        const emuCpu1 = process.cpuUsage();
        const a = await host.sample();
        await sleep(IDLE_SECONDS * 1000);
        const b = await host.sample();
        const emuCpu2 = process.cpuUsage();
        const idle = agentRequests(emu, mark);
        const fiqCalls = fleetiq.control.callCounts();

        const burstMark = emu.requestLog.entries(AGENT_USER).length;
        const c = await host.sample();
        const burst = await drainAndMeasure(publisher, watch, many.slice(0, CONCURRENT), ids, true);
        const d = await host.sample();
        const burstRequests = agentRequests(emu, burstMark);
        if (process.env.BENCH_DEBUG) {
          const entries = emu.requestLog.entries(AGENT_USER).slice(burstMark);
          const t0 = entries[0]?.time ?? 0;
          for (const node of many.slice(0, 3))
            console.error(
              node,
              entries
                .filter(
                  (e) => (e.name ?? '').startsWith(node) || (e.verb === 'list' && e.resource === 'pods'),
                )
                .map((e) => `${e.time - t0}:${e.verb[0]}${e.resource[0]}`)
                .join(' '),
            );
          const buckets: Record<number, number> = {};
          for (const e of entries)
            buckets[Math.floor((e.time - t0) / 250)] = (buckets[Math.floor((e.time - t0) / 250)] ?? 0) + 1;
          console.error('requests per 250 ms', JSON.stringify(buckets));
        }
        results.scale = {
          agents: AGENTS,
          bootMs: booted.ms,
          settledMs,
          bootRequests: bootRequests.total,
          rssMB: round(b.rss / 2 ** 20),
          rssPerAgentMB: round(b.rss / 2 ** 20 / AGENTS, 2),
          idle: {
            seconds: IDLE_SECONDS,
            agentsCpuPercentOfOneCore: cpuPercent(a, b),
            emulatorsCpuPercentOfOneCore: round(
              ((emuCpu2.user + emuCpu2.system - emuCpu1.user - emuCpu1.system) /
                1000 /
                (IDLE_SECONDS * 1000)) *
                100,
            ),
            kubeRequests: idle.total,
            byVerb: idle.byVerb,
            kubeRequestsPerNodePerMinute: round(idle.total / AGENTS / (IDLE_SECONDS / 60), 3),
            fleetiqHealthReportsPerSecond: round(AGENTS / 30, 1),
          },
          burst: {
            drains: CONCURRENT,
            reactionMs: stats(burst),
            agentsCpuPercentOfOneCore: cpuPercent(c, d),
            kubeRequests: burstRequests.total,
            byVerb: burstRequests.byVerb,
          },
          fleetiqCallsSoFar: Object.fromEntries(
            Object.entries(fiqCalls).map(([k, v]) => [k, (v as { total?: number }).total ?? v]),
          ),
          emulatorsCpuSecondsTotal: round(
            (process.cpuUsage(emuCpu0).user + process.cpuUsage(emuCpu0).system) / 1e6,
          ),
        };
        await host.stop();
      }
    }
  } finally {
    watch.close();
    publisher.close();
    await system.stop();
    await rm(dir, { recursive: true, force: true });
  }

  const r = results as any;
  const rows: [string, string][] = [
    ['machine', `${r.machine.cpus} × ${r.machine.model}, Node ${r.machine.node}`],
    [
      'one agent: RSS idle (target < 80 MB)',
      `${r.singleAgent.rssIdleMB} MB; ${r.singleAgent.rssIdleSmallFlagsMB} MB with ${r.singleAgent.smallFlags} (${r.singleAgent.rssAfterDrainSmallFlagsMB} MB after a drain); Node + libraries alone: ${r.singleAgent.libraryFloorMB} MB`,
    ],
    [
      'reaction, one drain at a time (status → taint)',
      `p50 ${r.reaction.oneAtATimeMs.p50} ms, p99 ${r.reaction.oneAtATimeMs.p99} ms, max ${r.reaction.oneAtATimeMs.max} ms (n=${r.reaction.oneAtATimeMs.n}; target p99 < 250 ms)`,
    ],
    [
      `reaction, ${CONCURRENT} drains at once`,
      `p50 ${r.reaction.simultaneousMs.p50} ms, p99 ${r.reaction.simultaneousMs.p99} ms, max ${r.reaction.simultaneousMs.max} ms`,
    ],
    [
      `idle API requests per node per minute (${r.idle.nodes} agents, ${r.idle.seconds} s)`,
      `${r.idle.requestsPerNodePerMinute} measured (${r.idle.requests} requests: ${JSON.stringify(r.idle.byVerb)}); ~${r.idle.expectedWatchRenewalsPerNodePerMinute} from watch renewals in the long run`,
    ],
  ];
  if (r.scale)
    rows.push(
      [
        `${r.scale.agents} agents in one process: boot / settled`,
        `${r.scale.bootMs} ms / ${r.scale.settledMs} ms (${r.scale.bootRequests} Kubernetes requests)`,
      ],
      [`${r.scale.agents} agents: RSS`, `${r.scale.rssMB} MB (${r.scale.rssPerAgentMB} MB per agent)`],
      [
        `${r.scale.agents} agents idle: CPU (agents / emulators)`,
        `${r.scale.idle.agentsCpuPercentOfOneCore}% / ${r.scale.idle.emulatorsCpuPercentOfOneCore}% of one core; ${r.scale.idle.kubeRequests} Kubernetes requests in ${r.scale.idle.seconds} s; ~${r.scale.idle.fleetiqHealthReportsPerSecond} FleetIQ health reports/s`,
      ],
      [
        `${r.scale.agents} agents, ${CONCURRENT} drains at once`,
        `reaction p50 ${r.scale.burst.reactionMs.p50} ms, p99 ${r.scale.burst.reactionMs.p99} ms; agents CPU ${r.scale.burst.agentsCpuPercentOfOneCore}%; ${r.scale.burst.kubeRequests} Kubernetes requests`,
      ],
    );
  const width = Math.max(...rows.map(([k]) => k.length));
  for (const [k, v] of rows) console.log(`${k.padEnd(width)}  ${v}`);
  await writeResults('reconciler', results);
  console.log(`\nwritten to bench/results/reconciler.json`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
