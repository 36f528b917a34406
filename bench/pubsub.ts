// Benchmark of pubsub against the FleetIQ emulator (its default throttling) and a real redis-server:
//   1. publication: all 10,000 statuses (10 groups × 1,000) into Redis, as one batch and as 10
//      group polls at once, unsigned and signed (target < 100 ms);
//   2. one full poll cycle with the DEFAULT configuration (10 s interval, groups spread over it):
//      every page read within the interval, none throttled (the emulator's call counts);
//   3. delay from a status change in the emulator (control API) to its message at a subscriber,
//      50 changes over about a minute (target: p50 and p99 within one interval + 200 ms).
// Prints a table and writes bench/results/pubsub.json. Takes about 1.5 minutes.
//
// Usage: npm run bench:pubsub [-- --changes 50 --spread-seconds 60]
import { cpus, loadavg } from 'node:os';
import { GameLiftClient } from '@aws-sdk/client-gamelift';
import { Redis } from 'ioredis';
import { SeededRandom } from '../sandbox/clock.js';
import { DEFAULT_RATE_LIMITS } from '../sandbox/fleetiq/throttle.js';
import { createLogger } from '../shared/logger.js';
import { parseStatusMessage } from '../shared/status-message.js';
import { startParts } from '../sandbox/system/system.js';
import { resolveConfig } from '../pubsub/config.js';
import { describeInstancesWith, pollGroup, type ObservedInstance } from '../pubsub/poller.js';
import { StatusPublisher } from '../pubsub/publisher.js';
import { startPubsub } from '../pubsub/service.js';
import { argNumber, percentile, round, waitFor, writeResults } from './lib.js';

const GROUPS = Array.from({ length: 10 }, (_, i) => `bench-group-${i}`);
const INSTANCES_PER_GROUP = 1000;
const CREDENTIALS = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'dummy-secret' };

async function main(): Promise<void> {
  const changes = argNumber('changes', 50);
  const spreadSeconds = argNumber('spread-seconds', 60);
  const silent = createLogger('bench', 'silent');
  const loadAtStart = loadavg()[0]!;
  // FleetIQ and Redis only: pubsub needs no Kubernetes without leader election.
  const parts = await startParts({ redis: true });
  const redisServer = parts.redis!;
  const emulator = await parts
    .startFleetIQ({
      seed: 2024,
      groups: GROUPS.map((name) => ({ name, instances: INSTANCES_PER_GROUP })),
      // Keep drained instances around for the whole run (the default terminates them after 60 s).
      drainingTerminationDelaySeconds: 3600,
    })
    .catch(async (err) => {
      await parts.stop();
      throw err;
    });
  const results: Record<string, unknown> = {
    setup: {
      groups: GROUPS.length,
      instances: GROUPS.length * INSTANCES_PER_GROUP,
      emulatorRateLimit: DEFAULT_RATE_LIMITS.DescribeGameServerInstances,
      maxPageSize: emulator.control.settings().maxPageSize,
    },
  };
  try {
    // ---------------- 1. publication of 10,000 statuses ----------------
    const client = new GameLiftClient({
      region: 'us-east-1',
      endpoint: emulator.url,
      credentials: CREDENTIALS,
    });
    const observed: ObservedInstance[][] = [];
    for (const group of GROUPS)
      observed.push((await pollGroup(describeInstancesWith(client), group)).instances);
    client.destroy();
    emulator.control.resetCallCounts();
    const all = observed.flat();
    const redis = new Redis(redisServer.url);
    // Wall time is what the target is about; the CPU each side spent (this process, and Redis
    // running the scripts) tells how much of it is contention on a shared machine.
    const redisScriptMs = async () => {
      const stats = await redis.info('commandstats');
      let usec = 0;
      for (const m of stats.matchAll(/cmdstat_eval(?:sha)?:calls=\d+,usec=(\d+)/g)) usec += Number(m[1]);
      return usec / 1000;
    };
    const publication: Record<
      string,
      { runsMs: number[]; minMs: number; p50Ms: number; maxMs: number; nodeCpuMs: number; redisMs: number }
    > = {};
    for (const signing of [undefined, 'bench-secret']) {
      for (const mode of ['one batch', '10 groups at once'] as const) {
        const runsMs: number[] = [];
        const cpuMs: number[] = [];
        const redisMs: number[] = [];
        for (let run = 0; run < 12; run++) {
          await redis.flushall();
          await redis.config('RESETSTAT');
          const publisher = new StatusPublisher(redis, {
            republishMs: 30_000,
            statusTtlMs: 30_000,
            signingSecret: signing,
          });
          const cpu0 = process.cpuUsage();
          const t0 = performance.now();
          if (mode === 'one batch') await publisher.sync('all', all, false);
          else await Promise.all(GROUPS.map((g, i) => publisher.sync(g, observed[i]!, true)));
          runsMs.push(round(performance.now() - t0));
          const cpu = process.cpuUsage(cpu0);
          cpuMs.push((cpu.user + cpu.system) / 1000);
          redisMs.push(await redisScriptMs());
          if ((await redis.dbsize()) !== all.length + 1) throw new Error('not every status was stored');
        }
        // The first runs warm up the JIT and load the scripts.
        const measured = runsMs.slice(2).sort((a, b) => a - b);
        const median = (xs: number[]) =>
          round(
            percentile(
              [...xs.slice(2)].sort((a, b) => a - b),
              50,
            ),
          );
        publication[`${mode}, ${signing ? 'signed' : 'unsigned'}`] = {
          runsMs,
          minMs: measured[0]!,
          p50Ms: percentile(measured, 50),
          maxMs: measured.at(-1)!,
          nodeCpuMs: median(cpuMs),
          redisMs: median(redisMs),
        };
      }
    }
    await redis.flushall();
    redis.disconnect();
    results.publication = publication;

    // ---------------- 2. one full cycle with the default configuration ----------------
    const subscriber = new Redis(redisServer.url);
    const arrivals = new Map<string, { status: string; at: number }[]>();
    subscriber.on('pmessage', (_p: string, channel: string, raw: string) => {
      const parsed = parseStatusMessage(raw);
      if (!parsed.ok) return;
      const list = arrivals.get(channel) ?? [];
      list.push({ status: parsed.message.InstanceStatus, at: Date.now() });
      arrivals.set(channel, list);
    });
    await subscriber.psubscribe('i-*');
    const config = resolveConfig({ GameServerGroups: GROUPS }); // defaults: 10 s, 10 calls/s
    const started = Date.now();
    const service = await startPubsub({
      config,
      redisUrl: redisServer.url,
      gameLift: { region: 'us-east-1', endpoint: emulator.url, credentials: CREDENTIALS },
      leaderElection: false,
      logger: silent,
    });
    const firstCycleMs = await waitFor(
      'the first cycle',
      () => (arrivals.size >= all.length ? Date.now() - started : 0),
      3 * config.pollIntervalMs,
    );
    const cycleCounts = emulator.control.callCounts().DescribeGameServerInstances;
    const publishMetric = (
      await service.registry.getSingleMetric('fleetiq_pubsub_publish_duration_seconds')!.get()
    ).values as { metricName?: string; value: number }[];
    const sum = publishMetric.filter((v) => v.metricName?.endsWith('_sum')).reduce((s, v) => s + v.value, 0);
    const count = publishMetric
      .filter((v) => v.metricName?.endsWith('_count'))
      .reduce((s, v) => s + v.value, 0);
    results.firstCycle = {
      intervalMs: config.pollIntervalMs,
      allStatusesPublishedAfterMs: firstCycleMs,
      calls: cycleCounts.calls,
      pages: cycleCounts.succeeded,
      throttled: cycleCounts.throttled,
      meanPublishPerGroupMs: round((sum / count) * 1000, 2),
    };

    // ---------------- 3. change-to-subscriber delay ----------------
    const random = new SeededRandom(7);
    const pool = all.map((o) => o.instanceId);
    const pending: { id: string; to: string; at: number }[] = [];
    const gapMs = (spreadSeconds * 1000) / changes;
    for (let i = 0; i < changes; i++) {
      const id = pool.splice(random.int(pool.length), 1)[0]!;
      const to = emulator.control.instance(id)!.status === 'ACTIVE' ? 'DRAINING' : 'ACTIVE';
      pending.push({ id, to, at: Date.now() });
      emulator.control.setInstanceStatus(id, to as 'ACTIVE' | 'DRAINING');
      await new Promise((r) => setTimeout(r, gapMs * (0.5 + random.next())));
    }
    const delays = await waitFor(
      'every change at the subscriber',
      () => {
        const out: number[] = [];
        for (const change of pending) {
          const arrival = (arrivals.get(change.id) ?? []).find(
            (a) => a.status === change.to && a.at >= change.at,
          );
          if (!arrival) return undefined;
          out.push(arrival.at - change.at);
        }
        return out;
      },
      2 * config.pollIntervalMs + 5000,
    );
    delays.sort((a, b) => a - b);
    const totalCounts = emulator.control.callCounts().DescribeGameServerInstances;
    results.changeToSubscriber = {
      changes,
      p50Ms: percentile(delays, 50),
      p99Ms: percentile(delays, 99),
      maxMs: delays.at(-1),
      targetMs: config.pollIntervalMs + 200,
    };
    results.wholeRun = {
      seconds: round((Date.now() - started) / 1000),
      calls: totalCounts.calls,
      throttled: totalCounts.throttled,
      errors: totalCounts.errors,
    };
    await service.stop();
    subscriber.disconnect();
  } finally {
    await parts.stop();
  }

  // Other work on the machine slows Redis and this process alike: say how busy it was.
  results.machine = {
    cpus: cpus().length,
    loadAverage1m: { start: round(loadAtStart, 2), end: round(loadavg()[0]!, 2) },
  };
  const pub = results.publication as Record<
    string,
    { minMs: number; p50Ms: number; maxMs: number; nodeCpuMs: number; redisMs: number }
  >;
  const cycle = results.firstCycle as Record<string, number>;
  const delay = results.changeToSubscriber as Record<string, number>;
  const whole = results.wholeRun as Record<string, number>;
  const rows: [string, string, string][] = [
    ...Object.entries(pub).map(
      ([k, v]) =>
        [
          `publish 10,000 statuses (${k}): min / p50 / max wall`,
          `${v.minMs} / ${v.p50Ms} / ${v.maxMs} ms`,
          `${v.p50Ms < 100 ? 'ok (p50 < 100 ms)' : 'OVER 100 ms'}; CPU: node ${v.nodeCpuMs} ms, redis ${v.redisMs} ms`,
        ] as [string, string, string],
    ),
    [
      'first cycle: all 10,000 statuses published after',
      `${cycle.allStatusesPublishedAfterMs} ms`,
      cycle.allStatusesPublishedAfterMs <= cycle.intervalMs
        ? `ok (<= ${cycle.intervalMs} ms)`
        : 'OVER the interval',
    ],
    ['first cycle: DescribeGameServerInstances calls (pages)', `${cycle.calls} (${cycle.pages})`, ''],
    ['first cycle: throttled', String(cycle.throttled), cycle.throttled === 0 ? 'ok' : 'THROTTLED'],
    ['service: mean publish per group poll (1,000 statuses)', `${cycle.meanPublishPerGroupMs} ms`, ''],
    [
      `change → subscriber, p50 (${delay.changes} changes)`,
      `${delay.p50Ms} ms`,
      delay.p50Ms <= delay.targetMs ? `ok (<= ${delay.targetMs} ms)` : 'OVER',
    ],
    [
      'change → subscriber, p99',
      `${delay.p99Ms} ms`,
      delay.p99Ms <= delay.targetMs ? `ok (<= ${delay.targetMs} ms)` : 'OVER',
    ],
    ['change → subscriber, max', `${delay.maxMs} ms`, ''],
    [
      `whole run (${whole.seconds} s): calls / throttled`,
      `${whole.calls} / ${whole.throttled}`,
      whole.throttled === 0 ? 'ok' : 'THROTTLED',
    ],
  ];
  const width = Math.max(...rows.map((r) => r[0].length));
  const valueWidth = Math.max(...rows.map((r) => r[1].length));
  process.stdout.write(
    `\npubsub benchmark (${GROUPS.length} groups, ${GROUPS.length * INSTANCES_PER_GROUP} instances, emulator limit ${DEFAULT_RATE_LIMITS.DescribeGameServerInstances.ratePerSecond}/s burst ${DEFAULT_RATE_LIMITS.DescribeGameServerInstances.burst}; ${cpus().length} CPUs, load average ${round(loadAtStart, 2)} → ${round(loadavg()[0]!, 2)})\n\n`,
  );
  for (const [name, value, verdict] of rows)
    process.stdout.write(`  ${name.padEnd(width)}  ${value.padStart(valueWidth)}  ${verdict}\n`);
  await writeResults('pubsub', results);
  process.stdout.write('\nwritten: bench/results/pubsub.json\n');
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
