// Benchmark of the Kubernetes API server emulator and of the simulated cluster on it.
//
// Part 1, the API server at cluster scale:
//   - 1,000 nodes and 30,000 pods, created through the in-process client (as the simulation does)
//   - a full pod list over HTTPS: with @kubernetes/client-node (parsed into its models) and raw bytes
//   - 1,000 concurrent client-node watches, each with fieldSelector spec.nodeName=<node>, plus one
//     cluster-wide pod watch (an informer's)
//   - 2,000 pod label patches spread over the nodes at a steady rate, written in-process; for each,
//     the delay from the write's completion (and start) to its delivery on every matching watch
//   - peak RSS and heap of the emulator's process
// Part 2, the simulated cluster at speed 1 (simulated time runs at wall-clock pace):
//   - 1,000 nodes (kubelets), then a 20,000-GameServer Packed fleet: time until all are Ready
//   - an open-loop GameServerAllocation load at 200/s over HTTPS (keep-alive connections, as a
//     matchmaker's client would hold), 6,000 allocations: achieved rate, p50/p99 latency, outcomes
//   - peak RSS and heap of the emulator+simulation process
// Each part's server runs in a child process (one core, as an API server would), the clients in
// this one. Part 1 measures the API server emulator alone (no RBAC, no installation: the figures are
// the store's and the watch fan-out's); part 2's emulator, with the installation, and its cluster come
// from the system builder (sandbox/system/system.ts), as the sandbox's do. The parts run one after
// the other. The load average of the (shared) machine is recorded at the start and the end. Figures
// are printed as one table and written to bench/results/kube.json.
//
// Usage: npm run bench:kube [-- --nodes 1000 --pods 30000 --writes 2000 --rate 200
//          --cluster-nodes 1000 --gameservers 20000 --allocations 6000 --allocation-rate 200
//          --only api|cluster]
import { fork, type ChildProcess } from 'node:child_process';
import https from 'node:https';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import os from 'node:os';
import * as k8s from '@kubernetes/client-node';
import { argNumber, percentile, writeResults } from './lib.js';

const here = dirname(fileURLToPath(import.meta.url));
const now = () => performance.timeOrigin + performance.now();

const arg = (name: string, def: number) => argNumber(name, def, { positive: true });

interface Memory {
  rss: number;
  heapUsed: number;
}

type ToServer =
  | { cmd: 'seed'; nodes: number; pods: number }
  | { cmd: 'patch'; seq: number; namespace: string; name: string }
  | { cmd: 'watchers' }
  | { cmd: 'memory' }
  | { cmd: 'stop' };

type FromServer =
  | { type: 'ready'; url: string; kubeconfig: string }
  | { type: 'seeded'; ms: number; memory: Memory }
  | { type: 'patched'; seq: number; start: number; end: number }
  | { type: 'watchers'; count: number }
  | { type: 'memory'; current: Memory; peak: Memory };

// ---------------------------------------------------------------------------------------------
// The emulator's process

async function server(): Promise<void> {
  const { startKubeEmulator } = await import('../sandbox/kube/emulator.js');
  const emu = await startKubeEmulator({ authorization: 'allow-all' });
  const c = emu.client();
  const peak: Memory = { rss: 0, heapUsed: 0 };
  const sample = () => {
    const m = process.memoryUsage();
    peak.rss = Math.max(peak.rss, m.rss);
    peak.heapUsed = Math.max(peak.heapUsed, m.heapUsed);
    return { rss: m.rss, heapUsed: m.heapUsed };
  };
  setInterval(sample, 50).unref();
  const send = (m: FromServer) => process.send!(m);
  process.on('message', async (m: ToServer) => {
    if (m.cmd === 'seed') {
      const t0 = now();
      await c.create({ group: '', version: 'v1', resource: 'namespaces' }, { metadata: { name: 'bench' } });
      for (let i = 0; i < m.nodes; i++) {
        await c.create(
          { group: '', version: 'v1', resource: 'nodes' },
          {
            metadata: {
              name: `node-${i}`,
              labels: { 'kubernetes.io/hostname': `node-${i}`, role: 'game-servers' },
            },
            spec: { providerID: `aws:///us-east-1a/i-${i.toString(16).padStart(17, '0')}` },
            status: {
              conditions: [{ type: 'Ready', status: 'True' }],
              nodeInfo: { kubeletVersion: 'v1.32.4' },
            },
          },
        );
      }
      for (let i = 0; i < m.pods; i++) {
        const nodeName = `node-${i % m.nodes}`;
        await c.create(
          { group: '', version: 'v1', resource: 'pods', namespace: 'bench' },
          {
            metadata: {
              name: `gs-${i}`,
              labels: {
                'agones.dev/role': 'gameserver',
                'agones.dev/gameserver': `gs-${i}`,
                'agones.dev/safe-to-evict': 'false',
              },
              annotations: { 'cluster-autoscaler.kubernetes.io/safe-to-evict': 'false' },
            },
            spec: {
              nodeName,
              containers: [
                {
                  name: 'simple-game-server',
                  image: 'us-docker.pkg.dev/agones-images/examples/simple-game-server:0.35',
                  ports: [
                    { name: 'default', containerPort: 7654, hostPort: 7000 + (i % 1000), protocol: 'UDP' },
                  ],
                  resources: {
                    requests: { cpu: '20m', memory: '64Mi' },
                    limits: { cpu: '20m', memory: '64Mi' },
                  },
                },
                {
                  name: 'agones-gameserver-sidecar',
                  image: 'us-docker.pkg.dev/agones-images/release/agones-sdk:1.45.0',
                },
              ],
            },
          },
        );
      }
      send({ type: 'seeded', ms: now() - t0, memory: sample() });
    } else if (m.cmd === 'patch') {
      const start = now();
      await c.patch(
        { group: '', version: 'v1', resource: 'pods', namespace: m.namespace, name: m.name },
        'merge',
        {
          metadata: { labels: { 'bench-seq': String(m.seq) } },
        },
      );
      send({ type: 'patched', seq: m.seq, start, end: now() });
    } else if (m.cmd === 'watchers') {
      send({ type: 'watchers', count: emu.store.watcherCount() });
    } else if (m.cmd === 'memory') {
      send({ type: 'memory', current: sample(), peak: { ...peak } });
    } else if (m.cmd === 'stop') {
      await emu.stop();
      process.exit(0);
    }
  });
  send({ type: 'ready', url: emu.url, kubeconfig: emu.kubeconfig() });
}

// ---------------------------------------------------------------------------------------------
// The clients' process

class ServerHandle {
  private waiters: Array<{ match: (m: FromServer) => boolean; resolve: (m: FromServer) => void }> = [];
  readonly onPatched: Array<(m: Extract<FromServer, { type: 'patched' }>) => void> = [];
  constructor(readonly child: ChildProcess) {
    child.on('message', (m: FromServer) => {
      if (m.type === 'patched') for (const f of this.onPatched) f(m);
      const i = this.waiters.findIndex((w) => w.match(m));
      if (i >= 0) this.waiters.splice(i, 1)[0].resolve(m);
    });
  }
  send(m: ToServer): void {
    this.child.send(m);
  }
  request<T extends FromServer['type']>(m: ToServer, type: T): Promise<Extract<FromServer, { type: T }>> {
    return new Promise((resolve) => {
      this.waiters.push({ match: (x) => x.type === type, resolve: resolve as (m: FromServer) => void });
      this.send(m);
    });
  }
}

const mib = (b: number) => Math.round((b / 1024 / 1024) * 10) / 10;
const round = (n: number) => Math.round(n * 100) / 100;

function rawGet(url: string, ca: string, token: string): Promise<{ bytes: number; ms: number }> {
  const t0 = now();
  return new Promise((resolve, reject) => {
    https
      .get(url, { ca, headers: { authorization: `Bearer ${token}` } }, (res) => {
        let bytes = 0;
        res.on('data', (c: Buffer) => (bytes += c.length));
        res.on('end', () => resolve({ bytes, ms: now() - t0 }));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

type Row = [string, string];

interface PartResult {
  figures: Record<string, unknown>;
  rows: Row[];
}

async function apiServerPart(): Promise<PartResult> {
  const nodes = arg('nodes', 1000);
  const pods = arg('pods', 30000);
  const writes = arg('writes', 2000);
  const rate = arg('rate', 200);
  const partStart = now();

  const child = fork(join(here, 'kube.ts'), ['--server'], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const srv = new ServerHandle(child);
  const ready = await new Promise<Extract<FromServer, { type: 'ready' }>>((resolve) =>
    child.once('message', (m: FromServer) => resolve(m as Extract<FromServer, { type: 'ready' }>)),
  );
  try {
    const kc = new k8s.KubeConfig();
    kc.loadFromString(ready.kubeconfig);
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const user = kc.getCurrentUser()!;
    const ca = Buffer.from(kc.getCurrentCluster()!.caData!, 'base64').toString();

    console.error(`seeding ${nodes} nodes and ${pods} pods in-process...`);
    const seeded = await srv.request({ cmd: 'seed', nodes, pods }, 'seeded');

    console.error('listing pods over HTTPS...');
    const tList = now();
    const list = await core.listPodForAllNamespaces();
    const listClientNodeMs = now() - tList;
    if (list.items.length !== pods) throw new Error(`listed ${list.items.length} pods, expected ${pods}`);
    const raw = await rawGet(`${ready.url}/api/v1/pods`, ca, user.token!);
    const listRv = list.metadata!.resourceVersion!;

    console.error(`opening ${nodes} node watches and one cluster-wide watch...`);
    const watch = new k8s.Watch(kc);
    const arrivals = new Map<number, number[]>(); // seq -> arrival times (one per matching watch)
    let delivered = 0;
    let errors = 0;
    const onEvent = (type: string, obj: any) => {
      const t = now();
      if (type !== 'MODIFIED') return;
      const seq = Number(obj?.metadata?.labels?.['bench-seq']);
      if (!Number.isInteger(seq)) return;
      let a = arrivals.get(seq);
      if (!a) arrivals.set(seq, (a = []));
      a.push(t);
      delivered++;
    };
    const onDone = (err: unknown) => {
      if (err && !(err instanceof Error && err.name === 'AbortError')) errors++;
    };
    const controllers: AbortController[] = [];
    const tWatch = now();
    const opening: Array<Promise<AbortController>> = [];
    for (let i = 0; i < nodes; i++)
      opening.push(
        watch.watch(
          '/api/v1/pods',
          { fieldSelector: `spec.nodeName=node-${i}`, resourceVersion: listRv },
          onEvent,
          onDone,
        ),
      );
    opening.push(watch.watch('/api/v1/pods', { resourceVersion: listRv }, onEvent, onDone));
    controllers.push(...(await Promise.all(opening)));
    for (;;) {
      const { count } = await srv.request({ cmd: 'watchers' }, 'watchers');
      if (count >= nodes + 1) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const watchOpenMs = now() - tWatch;

    console.error(`writing ${writes} label patches at ${rate}/s...`);
    const writeTimes = new Map<number, { start: number; end: number }>();
    srv.onPatched.push((m) => writeTimes.set(m.seq, { start: m.start, end: m.end }));
    const perNode = Math.ceil(pods / nodes);
    const interval = 1000 / rate;
    const tWrites = now();
    for (let seq = 0; seq < writes; seq++) {
      const due = tWrites + seq * interval;
      const wait = due - now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      // Spread over nodes: write `seq` hits a pod of node (seq mod nodes).
      const podIndex = (seq % nodes) + nodes * (Math.floor(seq / nodes) % perNode);
      srv.send({ cmd: 'patch', seq, namespace: 'bench', name: `gs-${podIndex % pods}` });
    }
    const expected = writes * 2;
    const deadline = now() + 30_000;
    while ((delivered < expected || writeTimes.size < writes) && now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    const writePhaseMs = now() - tWrites;

    const fromEnd: number[] = [];
    const fromStart: number[] = [];
    let missing = 0;
    for (let seq = 0; seq < writes; seq++) {
      const w = writeTimes.get(seq);
      const a = arrivals.get(seq) ?? [];
      if (!w || a.length < 2) missing += 2 - a.length;
      if (!w) continue;
      for (const t of a) {
        fromEnd.push(Math.max(0, t - w.end));
        fromStart.push(t - w.start);
      }
    }
    fromEnd.sort((x, y) => x - y);
    fromStart.sort((x, y) => x - y);
    const mem = await srv.request({ cmd: 'memory' }, 'memory');
    for (const c of controllers) c.abort();

    const results = {
      nodes,
      pods,
      watches: nodes + 1,
      writes,
      writeRatePerSecond: rate,
      seedMs: Math.round(seeded.ms),
      listClientNodeMs: Math.round(listClientNodeMs),
      listRawMs: Math.round(raw.ms),
      listBytes: raw.bytes,
      watchOpenMs: Math.round(watchOpenMs),
      writePhaseMs: Math.round(writePhaseMs),
      deliveries: delivered,
      deliveriesExpected: expected,
      missingDeliveries: missing,
      watchErrors: errors,
      deliveryFromWriteCompletionMs: {
        p50: round(percentile(fromEnd, 50)),
        p99: round(percentile(fromEnd, 99)),
        max: round(fromEnd[fromEnd.length - 1] ?? NaN),
      },
      deliveryFromWriteStartMs: {
        p50: round(percentile(fromStart, 50)),
        p99: round(percentile(fromStart, 99)),
        max: round(fromStart[fromStart.length - 1] ?? NaN),
      },
      emulatorPeakRssMiB: mib(mem.peak.rss),
      emulatorPeakHeapMiB: mib(mem.peak.heapUsed),
      emulatorRssAfterSeedMiB: mib(seeded.memory.rss),
      clientsPeakRssMiB: mib(process.memoryUsage().rss),
      seconds: Math.round((now() - partStart) / 100) / 10,
    };

    const rows: Row[] = [
      ['API SERVER', ''],
      ['nodes / pods / watches', `${nodes} / ${pods} / ${nodes + 1}`],
      ['seed (in-process creates)', `${results.seedMs} ms`],
      ['full pod list, client-node', `${results.listClientNodeMs} ms`],
      ['full pod list, raw HTTPS', `${results.listRawMs} ms (${mib(raw.bytes)} MiB)`],
      ['open watches', `${results.watchOpenMs} ms`],
      [`writes (${writes} at ${rate}/s)`, `${results.writePhaseMs} ms`],
      ['deliveries', `${delivered}/${expected} (missing ${missing}, watch errors ${errors})`],
      [
        'delivery after write completion',
        `p50 ${results.deliveryFromWriteCompletionMs.p50} ms, p99 ${results.deliveryFromWriteCompletionMs.p99} ms, max ${results.deliveryFromWriteCompletionMs.max} ms`,
      ],
      [
        'delivery after write start',
        `p50 ${results.deliveryFromWriteStartMs.p50} ms, p99 ${results.deliveryFromWriteStartMs.p99} ms, max ${results.deliveryFromWriteStartMs.max} ms`,
      ],
      ['emulator peak RSS / heap', `${results.emulatorPeakRssMiB} MiB / ${results.emulatorPeakHeapMiB} MiB`],
      ['clients process RSS', `${results.clientsPeakRssMiB} MiB`],
      ['part total', `${results.seconds} s`],
    ];
    return { figures: results, rows };
  } finally {
    srv.send({ cmd: 'stop' });
    await new Promise((r) => child.once('exit', r));
  }
}

// ---------------------------------------------------------------------------------------------
// Part 2: the simulated cluster

type ToCluster =
  { cmd: 'nodes'; count: number } | { cmd: 'fleet'; replicas: number } | { cmd: 'stats' } | { cmd: 'stop' };

type FromCluster =
  | { type: 'ready'; kubeconfig: string }
  | { type: 'nodes'; ms: number }
  | { type: 'fleet'; ms: number; memory: Memory }
  | { type: 'stats'; allocated: number; conflicts: number; current: Memory; peak: Memory };

const FLEET = 'bench';

async function clusterServer(): Promise<void> {
  const { pino } = await import('pino');
  const { startSystem } = await import('../sandbox/system/system.js');
  // The emulator with the installation, from the system builder. Speed 1: every simulated delay (pod
  // start, SDK.Ready, grace periods) takes its real time. No webhook runs here: its configuration goes.
  const system = await startSystem({ controlPlane: 'emulated', speed: 1, webhookConfiguration: false });
  const peak: Memory = { rss: 0, heapUsed: 0 };
  const sample = () => {
    const m = process.memoryUsage();
    peak.rss = Math.max(peak.rss, m.rss);
    peak.heapUsed = Math.max(peak.heapUsed, m.heapUsed);
    return { rss: m.rss, heapUsed: m.heapUsed };
  };
  setInterval(sample, 50).unref();
  const send = (m: FromCluster) => process.send!(m);
  let sim: Awaited<ReturnType<typeof system.startCluster>> | undefined;
  const readyCount = () => {
    let n = 0;
    for (const g of sim!.allocator.cache.values()) if (g.status?.state === 'Ready') n++;
    return n;
  };
  process.on('message', async (m: ToCluster) => {
    if (m.cmd === 'nodes') {
      const t0 = now();
      sim = await system.startCluster({
        seed: 1,
        logger: pino({ level: 'error' }),
        nodes: { count: m.count, capacity: { pods: 110 } },
        waitForFleets: false,
      });
      send({ type: 'nodes', ms: now() - t0 });
    } else if (m.cmd === 'fleet') {
      const t0 = now();
      const progress = setInterval(
        () =>
          console.error(
            `  ${Math.round((now() - t0) / 1000)} s: ${readyCount()} Ready, RSS ${mib(process.memoryUsage().rss)} MiB`,
          ),
        10_000,
      );
      await sim!.applyFleet({ name: FLEET, replicas: m.replicas, scheduling: 'Packed' });
      await sim!.waitForFleetReady(FLEET, { timeoutMs: 600_000 });
      clearInterval(progress);
      send({ type: 'fleet', ms: now() - t0, memory: sample() });
    } else if (m.cmd === 'stats') {
      // From the API (the informer cache may trail the last writes).
      const list = await system.admin.list(
        { group: 'agones.dev', version: 'v1', resource: 'gameservers', namespace: 'default' },
        { labelSelector: `agones.dev/fleet=${FLEET}` },
      );
      const allocated = list.items.filter((g) => g.status?.state === 'Allocated').length;
      send({
        type: 'stats',
        allocated,
        conflicts: sim!.allocator.stats.conflicts,
        current: sample(),
        peak: { ...peak },
      });
    } else if (m.cmd === 'stop') {
      await system.stop();
      process.exit(0);
    }
  });
  send({ type: 'ready', kubeconfig: system.kube.adminKubeconfig });
}

const ALLOCATION_CONNECTIONS = 32;

function getOk(url: string, agent: https.Agent, token: string): Promise<void> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { agent, headers: { authorization: `Bearer ${token}` } }, (res) => {
        res.resume();
        res.on('end', () => resolve());
      })
      .on('error', reject);
  });
}

function postJson(
  url: string,
  agent: https.Agent,
  token: string,
  body: string,
): Promise<{ code: number; json: any }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      url,
      {
        method: 'POST',
        agent,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          let json: any;
          try {
            json = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch {
            json = undefined;
          }
          resolve({ code: res.statusCode ?? 0, json });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function clusterPart(): Promise<PartResult> {
  const nodes = arg('cluster-nodes', 1000);
  const gameServers = arg('gameservers', 20000);
  const allocations = arg('allocations', 6000);
  const rate = arg('allocation-rate', 200);
  const partStart = now();

  const child = fork(join(here, 'kube.ts'), ['--cluster-server'], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const waiters: Array<{ type: string; resolve: (m: FromCluster) => void }> = [];
  child.on('message', (m: FromCluster) => {
    const i = waiters.findIndex((w) => w.type === m.type);
    if (i >= 0) waiters.splice(i, 1)[0].resolve(m);
  });
  const request = <T extends FromCluster['type']>(
    m: ToCluster | undefined,
    type: T,
  ): Promise<Extract<FromCluster, { type: T }>> =>
    new Promise((resolve) => {
      waiters.push({ type, resolve: resolve as (m: FromCluster) => void });
      if (m) child.send(m);
    });
  const ready = await request(undefined, 'ready');
  try {
    const kc = new k8s.KubeConfig();
    kc.loadFromString(ready.kubeconfig);
    const server = kc.getCurrentCluster()!.server;
    const ca = Buffer.from(kc.getCurrentCluster()!.caData!, 'base64').toString();
    const token = kc.getCurrentUser()!.token!;
    // A lean HTTPS client holding a warm pool of keep-alive connections, as a long-running
    // matchmaker does: what is measured is the emulator and the simulation, not a client library's
    // per-request overhead nor TLS handshakes (opened on demand, they pile up behind the first
    // slow answers and turn into a storm of handshakes on the server).
    const agent = new https.Agent({ keepAlive: true, maxSockets: ALLOCATION_CONNECTIONS, ca });
    const allocationsUrl = `${server}/apis/allocation.agones.dev/v1/namespaces/default/gameserverallocations`;

    console.error(`cluster at speed 1: ${nodes} nodes...`);
    const nodesUp = await request({ cmd: 'nodes', count: nodes }, 'nodes');
    console.error(`a Packed fleet of ${gameServers} GameServers...`);
    const fleet = await request({ cmd: 'fleet', replicas: gameServers }, 'fleet');

    console.error(`${allocations} allocations at ${rate}/s over HTTPS...`);
    const latencies: number[] = [];
    const outcomes: Record<string, number> = {};
    const inflight: Promise<void>[] = [];
    const payload = JSON.stringify({
      apiVersion: 'allocation.agones.dev/v1',
      kind: 'GameServerAllocation',
      spec: { selectors: [{ matchLabels: { 'agones.dev/fleet': FLEET } }] },
    });
    await Promise.all(
      Array.from({ length: ALLOCATION_CONNECTIONS }, () => getOk(`${server}/version`, agent, token)),
    );
    const t0 = now();
    for (let i = 0; i < allocations; i++) {
      const wait = t0 + (i * 1000) / rate - now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      const start = now();
      inflight.push(
        postJson(allocationsUrl, agent, token, payload).then(
          ({ code, json }) => {
            latencies.push(now() - start);
            const key = code === 201 ? String(json?.status?.state ?? 'unknown') : `HTTP ${code}`;
            outcomes[key] = (outcomes[key] ?? 0) + 1;
          },
          (err: Error) => {
            latencies.push(now() - start);
            const key = `error ${err.message}`;
            outcomes[key] = (outcomes[key] ?? 0) + 1;
          },
        ),
      );
    }
    const offeredMs = now() - t0;
    await Promise.all(inflight);
    const allocationMs = now() - t0;
    latencies.sort((x, y) => x - y);
    const stats = await request({ cmd: 'stats' }, 'stats');

    const figures = {
      speed: 1,
      nodes,
      gameServers,
      nodesUpSeconds: round(nodesUp.ms / 1000),
      fleetReadySeconds: round(fleet.ms / 1000),
      gameServersReadyPerSecond: Math.round(gameServers / (fleet.ms / 1000)),
      allocations,
      offeredPerSecond: rate,
      achievedPerSecond: round(allocations / (allocationMs / 1000)),
      offeredOverSeconds: round(offeredMs / 1000),
      allocationOutcomes: outcomes,
      allocatedGameServersAfter: stats.allocated,
      allocatorConflicts: stats.conflicts,
      allocationLatencyMs: {
        p50: round(percentile(latencies, 50)),
        p99: round(percentile(latencies, 99)),
        max: round(latencies[latencies.length - 1] ?? NaN),
      },
      rssAfterFleetReadyMiB: mib(fleet.memory.rss),
      peakRssMiB: mib(stats.peak.rss),
      peakHeapMiB: mib(stats.peak.heapUsed),
      seconds: Math.round((now() - partStart) / 100) / 10,
    };
    const rows: Row[] = [
      ['SIMULATED CLUSTER (speed 1)', ''],
      ['nodes registered (Ready)', `${nodes} in ${figures.nodesUpSeconds} s`],
      [
        'fleet Ready',
        `${gameServers} GameServers in ${figures.fleetReadySeconds} s (${figures.gameServersReadyPerSecond}/s)`,
      ],
      [
        `allocations (${allocations} at ${rate}/s, HTTPS)`,
        `${figures.achievedPerSecond}/s achieved; ${Object.entries(outcomes)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')}`,
      ],
      [
        'allocation latency',
        `p50 ${figures.allocationLatencyMs.p50} ms, p99 ${figures.allocationLatencyMs.p99} ms, max ${figures.allocationLatencyMs.max} ms`,
      ],
      ['Allocated afterwards / conflicts', `${stats.allocated} / ${stats.conflicts}`],
      [
        'emulator+simulation RSS / heap',
        `${figures.rssAfterFleetReadyMiB} MiB at fleet Ready; peak ${figures.peakRssMiB} MiB / ${figures.peakHeapMiB} MiB`,
      ],
      ['part total', `${figures.seconds} s`],
    ];
    return { figures, rows };
  } finally {
    child.send({ cmd: 'stop' } satisfies ToCluster);
    await new Promise((r) => child.once('exit', r));
  }
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const onlyAt = process.argv.indexOf('--only');
  const only = onlyAt >= 0 ? process.argv[onlyAt + 1] : undefined;
  if (only !== undefined && only !== 'api' && only !== 'cluster')
    throw new Error(`--only must be api or cluster, got ${only}`);
  const start = now();
  const loadStart = os.loadavg();
  const api = only === 'cluster' ? undefined : await apiServerPart();
  const cluster = only === 'api' ? undefined : await clusterPart();
  const loadEnd = os.loadavg();
  const fmtLoad = (l: number[]) => l.map((x) => x.toFixed(2)).join(' ');
  const results = {
    date: new Date().toISOString(),
    cpus: os.cpus().length,
    loadAverage: { start: loadStart.map(round), end: loadEnd.map(round) },
    ...(api ? { apiServer: api.figures } : {}),
    ...(cluster ? { cluster: cluster.figures } : {}),
    totalSeconds: Math.round((now() - start) / 100) / 10,
  };
  const table: Row[] = [
    [
      'machine',
      `${results.cpus} CPUs, load average (1/5/15 min) ${fmtLoad(loadStart)} at start, ${fmtLoad(loadEnd)} at end`,
    ],
    ...(api?.rows ?? []),
    ...(cluster?.rows ?? []),
    ['total', `${results.totalSeconds} s`],
  ];
  const w = Math.max(...table.map(([k]) => k.length));
  console.log(table.map(([k, v]) => (v === '' ? `\n${k}` : `${k.padEnd(w)}  ${v}`)).join('\n'));
  await writeResults('kube', results);
  console.log(`\nwritten to bench/results/kube.json`);
}

if (process.argv.includes('--server')) {
  void server();
} else if (process.argv.includes('--cluster-server')) {
  void clusterServer();
} else {
  main()
    .then(() => process.exit(0))
    .catch((err) => {
      console.error(err);
      process.exit(1);
    });
}
