// `npm run bench:memory`: what each component costs in memory and start-up time, run as production runs
// it: the production bundle (dist/fleetiq-agones.mjs, `npm run build`) started by plain Node with the
// image's Node flags, one process per component, against the sandbox's Kubernetes API server emulator
// (RBAC from manifests/, the webhook called through the MutatingWebhookConfiguration), the FleetIQ
// emulator, the instance metadata emulator and a real redis-server, all in this process, all from the
// system builder (sandbox/system/system.ts).
//
// Per component: start-up time to ready (spawn → /readyz 200), resident memory idle (after --idle
// seconds with nothing to do) and at its peak (the kernel's high-water mark, VmHWM, over the whole run:
// start-up, idle, and one drain). The drain: two game servers are allocated on the agent's node (the
// webhook adds the drain toleration to their pods), FleetIQ marks the instance DRAINING, pubsub
// publishes it, the agent cordons, fences and taints the node, allocations go on elsewhere through the
// webhook, the sessions end and the agent deregisters the instance. Between idle and drain, the webhook's
// latency on non-transition reviews (200/s for 10 s, open loop): what the flags cost its CPU path.
//
// Prints JSON on stdout (progress on stderr) and writes it to bench/results/memory.json. Usage:
//   npm run bench:memory [-- --idle 30 --flags "--max-semi-space-size=1" --flags "" --no-build]
// Each --flags is one run with those Node flags instead of the image's (scripts/build.ts) (--flags "" runs Node's defaults;
// NAME=value in it sets an environment variable, e.g. --flags "MALLOC_ARENA_MAX=2 --max-semi-space-size=1");
// --no-build measures the dist/ already built.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { Agent, request as httpsRequest } from 'node:https';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildAll, BUNDLES, PRODUCTION_ENV, PRODUCTION_NODE_FLAGS } from '../scripts/build.js';
import { DRAIN_TAINT } from '../shared/contract.js';
import { serviceAccountUser } from '../sandbox/kube/authn.js';
import type { LocalClient } from '../sandbox/kube/types.js';
import { createGameServer, createNode, GAMESERVERS, NODES } from '../sandbox/system/agent-fixtures.js';
import { startSystem } from '../sandbox/system/system.js';
import { INSTALL_NAMESPACE, WEBHOOK_SERVICE_NAME } from '../sandbox/run/manifests.js';
import { freePort } from '../sandbox/run/redis-process.js';
import { sleep, waitFor, writeResults } from './lib.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const BUNDLE = join(ROOT, 'dist', BUNDLES.image.out);
const GROUP = 'agones-game-servers';
const SECRET = 'bench-status-signing-secret';
const NODE = 'game-node-1';
const OTHER_NODE = 'game-node-2';
const INSTANCE = 'i-0000000000000b001';
const OTHER_INSTANCE = 'i-0000000000000b002';
// The drain phase the agent writes last, on the node's label (a contract name: see shared/contract.ts).
const DRAIN_PHASE_LABEL = 'gamelift.status/drain-phase';

/** Targets of issue #14, in MB (MiB): what the manifests' requests are sized from. */
export const TARGETS_MB = {
  reconciler: { idle: 100, peak: 120 },
  pubsub: { idle: 100, peak: 100 },
  webhook: { idle: 120, peak: 120 },
} as const;

type ComponentName = keyof typeof TARGETS_MB;

function args(): { idleSeconds: number; flagSets: string[][]; build: boolean } {
  const argv = process.argv.slice(2);
  let idleSeconds = 30;
  let build = true;
  const flagSets: string[][] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--idle') idleSeconds = Number(argv[++i]);
    else if (a === '--flags') flagSets.push((argv[++i] ?? '').split(' ').filter(Boolean));
    else if (a === '--no-build') build = false;
    else
      throw new Error(
        `unknown argument ${a}; usage: bench:memory [--idle S] [--flags "..."]... [--no-build]`,
      );
  }
  if (!Number.isFinite(idleSeconds) || idleSeconds < 0) throw new Error('--idle: seconds, >= 0');
  if (flagSets.length === 0)
    flagSets.push([...Object.entries(PRODUCTION_ENV).map(([k, v]) => `${k}=${v}`), ...PRODUCTION_NODE_FLAGS]);
  return { idleSeconds, flagSets, build };
}

const log = (line: string) => process.stderr.write(`${line}\n`);
const mb = (kib: number) => Math.round((kib / 1024) * 10) / 10;

/** Polls `probe` every 100 ms until it holds (the components' own work is what is measured). */
const until = (what: string, probe: () => boolean | Promise<boolean>, timeoutMs = 60_000) =>
  waitFor(what, probe, timeoutMs, 100);

/** VmRSS and VmHWM of a process, in KiB, from /proc. */
function memoryOf(pid: number): { rss: number; hwm: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN);
    return { rss: field('VmRSS'), hwm: field('VmHWM') };
  } catch {
    return undefined;
  }
}

function httpGet(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = request(url, { timeout: 2000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', () => resolve({ status: 0, body: '' }));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

/** Where the memory is, from the component's own /metrics (prom-client's default Node.js metrics), in MB. */
async function heapOf(opsPort: number): Promise<Record<string, number>> {
  const { body } = await httpGet(`http://127.0.0.1:${opsPort}/metrics`);
  const value = (name: string) =>
    Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(body)?.[1] ?? NaN);
  const round = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;
  return {
    heapUsedMB: round(value('nodejs_heap_size_used_bytes')),
    heapTotalMB: round(value('nodejs_heap_size_total_bytes')),
    externalMB: round(value('nodejs_external_memory_bytes')),
  };
}

function httpStatus(url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request(url, { timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

/** One component's process, its memory sampled every 200 ms. */
class Measured {
  readonly child: ChildProcess;
  readonly started = performance.now();
  readyMs: number | undefined;
  private peakSampledKiB = 0;
  private lastHwmKiB = 0;
  private readonly timer: NodeJS.Timeout;
  output = '';

  constructor(
    readonly name: ComponentName,
    nodeFlags: string[],
    command: string[],
    env: Record<string, string>,
    readonly opsPort: number,
  ) {
    // NAME=value among the flags is the process's environment (MALLOC_ARENA_MAX=2), the rest Node's flags.
    const flagEnv = Object.fromEntries(
      nodeFlags
        .filter((f) => /^[A-Z_]+=/.test(f))
        .map((f) => [f.slice(0, f.indexOf('=')), f.slice(f.indexOf('=') + 1)]),
    );
    const flags = nodeFlags.filter((f) => !/^[A-Z_]+=/.test(f));
    this.child = spawn(process.execPath, [...flags, BUNDLE, ...command], {
      // Only what the manifests give the container: no NODE_OPTIONS or npm settings of this shell.
      env: { PATH: process.env.PATH ?? '', HOME: tmpdir(), LOG_LEVEL: 'warn', ...flagEnv, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (d: Buffer) => (this.output = (this.output + d.toString()).slice(-4000));
    this.child.stdout!.on('data', keep);
    this.child.stderr!.on('data', keep);
    this.timer = setInterval(() => this.sample(), 200);
  }

  sample(): { rss: number; hwm: number } | undefined {
    const m = memoryOf(this.child.pid!);
    if (m) {
      this.peakSampledKiB = Math.max(this.peakSampledKiB, m.rss);
      this.lastHwmKiB = Math.max(this.lastHwmKiB, m.hwm);
    }
    return m;
  }

  async ready(): Promise<void> {
    await until(
      `${this.name} ready`,
      async () => {
        if (this.child.exitCode !== null) throw new Error(`${this.name} exited: ${this.output}`);
        return (await httpStatus(`http://127.0.0.1:${this.opsPort}/readyz`)) === 200;
      },
      60_000,
    );
    this.readyMs = Math.round(performance.now() - this.started);
  }

  peakKiB(): number {
    this.sample();
    return Math.max(this.peakSampledKiB, this.lastHwmKiB);
  }

  async stop(): Promise<number | null> {
    clearInterval(this.timer);
    if (this.child.exitCode !== null) return this.child.exitCode;
    const exited = new Promise<number | null>((r) => this.child.once('exit', (code) => r(code)));
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 30_000);
    const code = await exited;
    clearTimeout(timer);
    return code;
  }
}

/** Ready → Allocated, as Agones' allocator writes it; the API server calls the webhook. */
async function allocate(admin: LocalClient, name: string): Promise<boolean> {
  try {
    await admin.patch({ ...GAMESERVERS, namespace: 'default', name }, 'merge', {
      status: { state: 'Allocated' },
    });
    return true;
  } catch {
    return false; // refused by the webhook (a draining node): what it is for
  }
}

/** A GameServer update that is not an allocation: what most reviews are, answered without an API call. */
function nonTransitionReview(i: number): string {
  const gs = (state: string) => ({
    apiVersion: 'agones.dev/v1',
    kind: 'GameServer',
    metadata: { name: `${OTHER_NODE}-gs-3`, namespace: 'default', labels: { 'agones.dev/fleet': 'game' } },
    spec: { container: 'game', ports: [] },
    status: { state, nodeName: OTHER_NODE },
  });
  const kind = { group: 'agones.dev', version: 'v1', kind: 'GameServer' };
  const resource = { group: 'agones.dev', version: 'v1', resource: 'gameservers' };
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: `00000000-0000-4000-8000-${String(Math.abs(i)).padStart(12, '0')}`,
      kind,
      resource,
      requestKind: kind,
      requestResource: resource,
      name: `${OTHER_NODE}-gs-3`,
      namespace: 'default',
      operation: 'UPDATE',
      userInfo: { username: 'system:serviceaccount:agones-system:agones-controller', groups: [] },
      object: gs('Ready'),
      oldObject: gs('Scheduled'),
      dryRun: false,
    },
  });
}

/**
 * The webhook's latency with these flags: non-transition reviews at `rate`/s for `seconds`, timed from
 * their intended send time (open loop, so a stalled process cannot hide its queue), p50 and p99 in ms.
 */
async function webhookLatency(
  port: number,
  rate: number,
  seconds: number,
): Promise<{ n: number; p50: number; p99: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: 16, rejectUnauthorized: false });
  const latencies: number[] = [];
  const one = (i: number, due: number) =>
    new Promise<void>((resolve) => {
      const body = nonTransitionReview(i);
      const req = httpsRequest(
        {
          host: '127.0.0.1',
          port,
          path: '/mutate',
          method: 'POST',
          agent,
          headers: { 'content-type': 'application/json' },
        },
        (res) => {
          res.resume();
          res.on('end', () => {
            if (res.statusCode === 200) latencies.push(performance.now() - due);
            resolve();
          });
        },
      );
      req.on('error', () => resolve());
      req.end(body);
    });
  // Connections opened and code warmed first: the TLS handshakes are not what is compared.
  await Promise.all(Array.from({ length: 50 }, (_, i) => one(-1 - i, performance.now())));
  latencies.length = 0;
  const start = performance.now();
  const pending: Promise<void>[] = [];
  for (let i = 0; i < rate * seconds; i++) {
    const due = start + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    pending.push(one(i, due));
  }
  await Promise.all(pending);
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const q = (p: number) =>
    Math.round(
      (latencies[Math.min(latencies.length - 1, Math.ceil(p * latencies.length) - 1)] ?? NaN) * 100,
    ) / 100;
  return { n: latencies.length, p50: q(0.5), p99: q(0.99) };
}

interface RunResult {
  nodeFlags: string[];
  components: Record<
    ComponentName,
    {
      startupToReadyMs: number;
      rssIdleMB: number;
      rssPeakMB: number;
      idle: Record<string, number>;
      exitCode: number | null;
    }
  >;
  drain: { allocatedBefore: number; refusedOnDrainingNode: number; allocatedElsewhere: number; ms: number };
  /** Non-transition reviews at 200/s for 10 s after the idle period (what the flags cost the webhook). */
  webhookLatencyMs: { n: number; p50: number; p99: number };
}

async function run(nodeFlags: string[], idleSeconds: number): Promise<RunResult> {
  const work = await mkdtemp(join(tmpdir(), 'bench-memory-'));
  // The emulator with the installation (RBAC, the webhook configuration with failurePolicy Fail).
  const system = await startSystem({ controlPlane: 'emulated', failurePolicy: 'Fail', redis: true });
  system.defer('the work directory', () => rm(work, { recursive: true, force: true }));
  const redis = system.redis!;
  const processes: Measured[] = [];
  // Each waits up to 30 s for its process to exit before killing it.
  system.defer('the components', () => Promise.all(processes.map((p) => p.stop())), 35_000);
  try {
    const fleetiq = await system.startFleetIQ({
      groups: [{ name: GROUP, instanceIds: [INSTANCE, OTHER_INSTANCE] }],
      healthCheckTimeoutSeconds: 3600,
    });
    const imds = await system.startImds({ instanceId: INSTANCE });
    const admin = system.admin;
    await createNode(admin, NODE, INSTANCE);
    await createNode(admin, OTHER_NODE, OTHER_INSTANCE);
    for (const node of [NODE, OTHER_NODE])
      for (let i = 0; i < 4; i++) await createGameServer(admin, `${node}-gs-${i}`, node, 'Ready');

    const kubeconfigOf = async (serviceAccount: string) => {
      const path = join(work, `${serviceAccount}.kubeconfig`);
      const user = serviceAccountUser(INSTALL_NAMESPACE, serviceAccount);
      await writeFile(path, await system.kube.kubeconfig(user), { mode: 0o600 });
      return path;
    };
    const aws = {
      AWS_REGION: 'us-east-1',
      AWS_ENDPOINT_URL_GAMELIFT: fleetiq.url,
      AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
      AWS_SECRET_ACCESS_KEY: 'bench-dummy',
    };
    const config = join(work, 'fleetiq.conf');
    // Polled every 2 s instead of 10 s so that the drain does not wait for it; memory does not depend on it.
    await writeFile(config, JSON.stringify({ GameServerGroups: [GROUP], PollIntervalSeconds: 2 }));

    const webhookPort = await freePort();
    await system.kube.exposeService(INSTALL_NAMESPACE, WEBHOOK_SERVICE_NAME, {
      host: '127.0.0.1',
      port: webhookPort,
    });
    const ports = { pubsub: await freePort(), webhook: await freePort(), reconciler: await freePort() };
    log(`  starting the components (node ${nodeFlags.join(' ') || '(no flags)'})`);
    const pubsub = new Measured(
      'pubsub',
      nodeFlags,
      ['pubsub', `--config=${config}`, `--ops-listen=127.0.0.1:${ports.pubsub}`],
      {
        ...aws,
        KUBECONFIG: await kubeconfigOf('fleetiq-agones-pubsub'),
        POD_NAME: 'pubsub-0',
        POD_NAMESPACE: INSTALL_NAMESPACE,
        REDIS_URL: redis.url,
        STATUS_SIGNING_SECRET: SECRET,
      },
      ports.pubsub,
    );
    const webhook = new Measured(
      'webhook',
      nodeFlags,
      ['webhook'],
      {
        KUBECONFIG: await kubeconfigOf('fleetiq-agones-webhook'),
        POD_NAMESPACE: INSTALL_NAMESPACE,
        WEBHOOK_LISTEN: `127.0.0.1:${webhookPort}`,
        OPS_LISTEN: `127.0.0.1:${ports.webhook}`,
        WEBHOOK_PATH: '/mutate',
        WEBHOOK_CERT_MANAGEMENT: 'builtin',
        CERT_SECRET_NAME: 'fleetiq-agones-webhook-tls',
        WEBHOOK_SERVICE_NAME: WEBHOOK_SERVICE_NAME,
        WEBHOOK_CONFIG_NAME: 'fleetiq-agones-webhook',
        WEBHOOK_PROTECT_RESERVED: 'true',
        WEBHOOK_POD_PATCH_TIMEOUT: '2s',
      },
      ports.webhook,
    );
    const reconciler = new Measured(
      'reconciler',
      nodeFlags,
      ['reconciler'],
      {
        ...aws,
        KUBECONFIG: await kubeconfigOf('fleetiq-agones-reconciler'),
        NODE_NAME: NODE,
        GAME_SERVER_GROUP: GROUP,
        REDIS_URL: redis.url,
        STATUS_SIGNING_SECRET: SECRET,
        PROTECT_RESERVED: 'true',
        OPS_LISTEN: `127.0.0.1:${ports.reconciler}`,
        IMDS_ENDPOINT: imds.url,
        // Sandbox-short: the drain ends once its sessions do, not 15 s of DRAINING later.
        DRAINING_STABLE_FOR: '1s',
      },
      ports.reconciler,
    );
    processes.push(pubsub, webhook, reconciler);
    await Promise.all(processes.map((p) => p.ready()));
    log(`  ready: ${processes.map((p) => `${p.name} ${p.readyMs} ms`).join(', ')}; idle ${idleSeconds} s`);

    await sleep(idleSeconds * 1000);
    const idle = Object.fromEntries(processes.map((p) => [p.name, p.sample()?.rss ?? NaN])) as Record<
      ComponentName,
      number
    >;
    const idleHeap = Object.fromEntries(
      await Promise.all(processes.map(async (p) => [p.name, await heapOf(p.opsPort)])),
    ) as Record<ComponentName, Record<string, number>>;
    const latency = await webhookLatency(webhookPort, 200, 10);
    log(`  webhook: ${latency.n} non-transition reviews, p50 ${latency.p50} ms, p99 ${latency.p99} ms`);

    log('  one drain');
    const t0 = performance.now();
    let allocatedBefore = 0;
    for (let i = 0; i < 2; i++) if (await allocate(admin, `${NODE}-gs-${i}`)) allocatedBefore++;
    fleetiq.control.setInstanceStatus(INSTANCE, 'DRAINING');
    await until('the drain taint on the node', async () => {
      const node = await admin.get({ ...NODES, name: NODE });
      return (node.spec?.taints ?? []).some((t: { key: string }) => t.key === DRAIN_TAINT.key);
    });
    log(`  tainted after ${Math.round(performance.now() - t0)} ms`);
    let refused = 0;
    for (let i = 2; i < 4; i++) if (!(await allocate(admin, `${NODE}-gs-${i}`))) refused++;
    let elsewhere = 0;
    for (let i = 0; i < 4; i++) if (await allocate(admin, `${OTHER_NODE}-gs-${i}`)) elsewhere++;
    // The sessions end: Agones deletes their GameServers (and the garbage collector their pods).
    for (let i = 0; i < 2; i++)
      await admin.delete({ ...GAMESERVERS, namespace: 'default', name: `${NODE}-gs-${i}` });
    await until('the instance deregistered', async () => {
      const node = await admin.get({ ...NODES, name: NODE });
      return node.metadata.labels?.[DRAIN_PHASE_LABEL] === 'Deregistered';
    });
    const drainMs = Math.round(performance.now() - t0);
    await sleep(2000);

    const components = {} as RunResult['components'];
    for (const p of processes) {
      const peak = p.peakKiB();
      components[p.name] = {
        startupToReadyMs: p.readyMs!,
        rssIdleMB: mb(idle[p.name]),
        rssPeakMB: mb(peak),
        idle: idleHeap[p.name]!,
        exitCode: await p.stop(),
      };
    }
    return {
      nodeFlags,
      components,
      drain: { allocatedBefore, refusedOnDrainingNode: refused, allocatedElsewhere: elsewhere, ms: drainMs },
      webhookLatencyMs: latency,
    };
  } finally {
    await system.stop();
  }
}

async function main(): Promise<void> {
  const { idleSeconds, flagSets, build } = args();
  if (build) {
    log('building dist/ (npm run build)');
    await buildAll();
  } else if (!existsSync(BUNDLE)) throw new Error(`${BUNDLE} is missing: run npm run build`);
  const runs: RunResult[] = [];
  const failed: { nodeFlags: string[]; error: string }[] = [];
  for (const [i, flags] of flagSets.entries()) {
    log(`[${i + 1}/${flagSets.length}] node ${flags.join(' ') || '(defaults)'}`);
    try {
      runs.push(await run(flags, idleSeconds));
    } catch (err) {
      // A flag set the product cannot run with (--jitless and --lite-mode take WebAssembly away, which
      // undici's HTTP parser needs) is a result too; the other sets are still measured.
      failed.push({
        nodeFlags: flags,
        error: err instanceof Error ? err.message.slice(0, 500) : String(err),
      });
    }
  }
  const meets = (r: RunResult) =>
    (Object.keys(TARGETS_MB) as ComponentName[]).every(
      (c) =>
        r.components[c].rssIdleMB <= TARGETS_MB[c].idle && r.components[c].rssPeakMB <= TARGETS_MB[c].peak,
    );
  const output = {
    machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
    bundle: `dist/${BUNDLES.image.out}`,
    idleSeconds,
    targetsMB: TARGETS_MB,
    runs: runs.map((r) => ({ ...r, meetsTargets: meets(r) })),
    failed,
  };
  const first = runs[0];
  const headline = first && {
    reconcilerIdleMB: first.components.reconciler.rssIdleMB,
    reconcilerPeakMB: first.components.reconciler.rssPeakMB,
    pubsubIdleMB: first.components.pubsub.rssIdleMB,
    webhookIdleMB: first.components.webhook.rssIdleMB,
    meetsTargets: meets(first),
  };
  // Where `npm run bench` collects every benchmark's figures.
  await writeResults('memory', { headline, ...output });
  process.stdout.write(`${JSON.stringify(output, null, 2)}\n`);
  process.exitCode = failed.length === 0 && runs.every(meets) ? 0 : 1;
}

await main();
