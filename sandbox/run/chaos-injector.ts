// Carries out `--chaos` (chaos.ts parses it and orders it): each fault done to the running sandbox as an
// outage or an attacker would do it, and what it did measured, for the report's `chaos.injected`.
// Faults are timed on the simulated clock; what they wait for (pubsub repairing Redis, an agent
// refusing a replay) happens on real time, as the components run on it.
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { SEQUENCE_KEY } from '../../pubsub/publisher.js';
import { ACTED_ON_OBSERVED_AT_ANNOTATION } from '../../shared/drain-contract.js';
import { latestStatusKey, statusChannel } from '../../shared/status-message.js';
import type { SimClock } from '../clock.js';
import {
  SPOT_NOTICE_MS,
  chaosSchedule,
  describeFault,
  type ChaosFault,
  type ChaosInjection,
} from './chaos.js';
import type { Components } from './components.js';
import type { GameLiftMeter } from './gamelift-meter.js';
import { shortName, type SandboxRecorder } from './metrics.js';
import type { RedisProcess } from './redis-process.js';
import { GAME_SERVER_GROUP, type Topology } from './topology.js';

export interface ChaosContext {
  clock: SimClock;
  /** Simulated ms the load started at: injection times are counted from it (from now before the load). */
  loadStartedAt(): number | undefined;
  topology: Topology;
  components: Components;
  recorder: SandboxRecorder;
  meter: GameLiftMeter;
  /** The sandbox's own redis-server (absent with --redis-url: redis-down is then refused at parse time). */
  redis?: RedisProcess;
  redisUrl: string;
  logger: Logger;
}

/** What a started fault leaves to do: end the outage (or, for a Spot notice, reclaim the instance). */
interface Started {
  end?: (finishing: boolean) => Promise<void>;
}

interface Running {
  record: ChaosInjection;
  fault: ChaosFault;
  started?: Promise<Started>;
  ended?: Promise<void>;
  /** Background measurements (a repair, a refusal) still under way. */
  measuring: Promise<void>[];
  cancelEnd?: () => void;
}

/** Real ms a fault's effect is waited for before it is reported as not seen. */
const EFFECT_TIMEOUT_MS = 60_000;

export class ChaosInjector {
  readonly injected: ChaosInjection[] = [];
  private readonly running: Running[] = [];
  private readonly timers: Array<() => void> = [];
  private scheduled: Array<{ fault: ChaosFault; run?: Running }> = [];
  private finishing?: Promise<void>;
  private readonly log: Logger;

  constructor(private readonly c: ChaosContext) {
    this.log = c.logger.child({ component: 'sandbox-chaos' });
  }

  /** Arms the list, timed from the start of the load (call it then). */
  schedule(faults: readonly ChaosFault[]): void {
    const from = this.c.clock.now();
    this.scheduled = faults.map((fault) => ({ fault }));
    for (const a of chaosSchedule(faults)) {
      if (a.action !== 'start') continue; // each outage times its own end from its actual start
      const slot = this.scheduled[a.fault]!;
      const delay = Math.max(0, from + a.atMs - this.c.clock.now());
      this.timers.push(this.c.clock.setTimeout(() => (slot.run = this.begin(slot.fault)), delay));
    }
  }

  /** Injects one fault now (tests); resolves once it is in place, with its record (filled in as it goes). */
  async inject(fault: ChaosFault): Promise<{ record: ChaosInjection; settled: () => Promise<void> }> {
    const run = this.begin(fault);
    await run.started;
    return { record: run.record, settled: () => this.settle(run) };
  }

  /**
   * Ends every outage still on, reclaims instances whose Spot notice is running out, waits for the
   * measurements, and records the faults the run never reached. Idempotent.
   */
  finish(): Promise<void> {
    this.finishing ??= (async () => {
      for (const cancel of this.timers.splice(0)) cancel();
      for (const s of this.scheduled)
        if (!s.run)
          this.injected.push({
            fault: describeFault(s.fault),
            kind: s.fault.kind,
            atSeconds: s.fault.atMs / 1000,
            skipped: 'the run ended before its time',
          });
      await Promise.allSettled(this.running.map((r) => this.settle(r, true)));
    })();
    return this.finishing;
  }

  private at(): number {
    const start = this.c.loadStartedAt();
    return Math.round((this.c.clock.now() - (start ?? this.c.clock.now())) / 100) / 10;
  }

  private begin(fault: ChaosFault): Running {
    const record: ChaosInjection = { fault: describeFault(fault), kind: fault.kind, atSeconds: this.at() };
    this.injected.push(record);
    const run: Running = { record, fault, measuring: [] };
    this.running.push(run);
    run.started = this.start(run).catch((err: unknown) => {
      record.skipped = `could not inject: ${(err as Error).message}`;
      this.log.warn({ err, fault: record.fault }, 'chaos: a fault could not be injected');
      return {};
    });
    void run.started.then((s) => {
      if (!s.end || this.finishing) return;
      const after = fault.durationMs ?? (fault.kind === 'imds-spot-notice' ? SPOT_NOTICE_MS : undefined);
      if (after !== undefined) run.cancelEnd = this.c.clock.setTimeout(() => void this.end(run), after);
    });
    this.c.recorder.event(this.c.clock.now(), `chaos: ${record.fault}`);
    return run;
  }

  private end(run: Running, finishing = false): Promise<void> {
    run.ended ??= (async () => {
      run.cancelEnd?.();
      const s = await run.started;
      if (!s?.end) return;
      try {
        await s.end(finishing);
      } catch (err) {
        run.record.effect = `${run.record.effect ?? ''}${run.record.effect ? '; ' : ''}could not end: ${(err as Error).message}`;
        this.log.warn({ err, fault: run.record.fault }, 'chaos: a fault could not be ended');
      }
      run.record.endedAtSeconds = this.at();
    })();
    return run.ended;
  }

  /** The fault ended (now, when `endNow`) and its effect measured. */
  private async settle(run: Running, endNow = false): Promise<void> {
    await run.started;
    if (endNow) await this.end(run, true);
    else if (run.cancelEnd) await new Promise<void>((resolve) => this.waitEnded(run, resolve));
    await Promise.allSettled(run.measuring);
  }

  private waitEnded(run: Running, resolve: () => void): void {
    const check = () => (run.ended ? void run.ended.then(resolve) : setTimeout(check, 50));
    check();
  }

  private measure(run: Running, what: () => Promise<void>): void {
    run.measuring.push(
      what().catch((err: unknown) => {
        run.record.effect = `not measured: ${(err as Error).message}`;
      }),
    );
  }

  // ---- the faults ---------------------------------------------------------------------------------

  private async start(run: Running): Promise<Started> {
    const { record } = run;
    const { components, topology, meter, recorder, clock } = this.c;
    const fleetiq = topology.fleetiq.control;
    switch (run.fault.kind) {
      case 'redis-down': {
        const redis = this.c.redis;
        if (!redis) throw new Error('needs the sandbox’s own redis-server (not --redis-url)');
        const fallbackCalls = () => meter.counts().reconciler?.calls.DescribeGameServerInstances ?? 0;
        const before = fallbackCalls();
        await redis.stop();
        record.target = `redis-server :${redis.port}`;
        return {
          end: async () => {
            await redis.start();
            record.effect = `the agents asked FleetIQ directly ${fallbackCalls() - before} times during the outage`;
          },
        };
      }
      case 'redis-poison-sequence': {
        const r = this.redisClient();
        try {
          const was = await r.get(SEQUENCE_KEY);
          await r.set(SEQUENCE_KEY, '1');
          record.target = `Redis ${SEQUENCE_KEY} (was ${was ?? 'unset'}, set to 1)`;
        } catch (err) {
          r.disconnect();
          throw err;
        }
        const t0 = Date.now();
        this.measure(run, async () => {
          try {
            const repaired = await this.until(async () => Number(await r.get(SEQUENCE_KEY)) > 1);
            record.contained = repaired;
            record.effect = repaired
              ? `repaired by pubsub after ${seconds(Date.now() - t0)} (real)`
              : `NOT repaired within ${seconds(EFFECT_TIMEOUT_MS)} (real)`;
          } finally {
            r.disconnect();
          }
        });
        return {};
      }
      case 'replay-status':
        return this.replayStatus(run);
      case 'webhook-down': {
        const replicas = components.webhooks.flatMap((w, i) => (w ? [i] : []));
        const failedBefore = topology.sim.sessions.allocations.failed;
        await Promise.all(replicas.map((i) => components.stopWebhook(i)));
        record.target = `${replicas.length} webhook replicas`;
        return {
          // Also when the run ends first: the report describes the system as the outage left it, restored.
          end: async () => {
            const failed = topology.sim.sessions.allocations.failed - failedBefore;
            for (const i of replicas) await components.startWebhook(i);
            record.effect = `${failed} allocations refused while no replica answered`;
          },
        };
      }
      case 'fleetiq-errors': {
        const rule = fleetiq.addFault({ operation: '*' });
        record.target = 'FleetIQ (every operation)';
        return {
          end: async () => {
            const hits = fleetiq.faults().find((f) => f.id === rule.id)?.hits ?? 0;
            fleetiq.removeFault(rule.id);
            record.effect = `${hits} FleetIQ calls answered InternalServiceException`;
          },
        };
      }
      case 'agent-kill': {
        const target = this.busiestNode();
        record.target = shortName(target.nodeName);
        const t0 = Date.now();
        await components.stopAgent(target.nodeName);
        const agent = await components.startAgent(target.nodeName);
        this.measure(run, async () => {
          await agent.booted;
          const back = await this.until(() => agent.phase() !== 'Starting');
          record.contained = back;
          record.effect = back
            ? `restarted, back in phase ${agent.phase()} after ${seconds(Date.now() - t0)} (real)`
            : `the new agent was still starting after ${seconds(EFFECT_TIMEOUT_MS)}`;
        });
        return {};
      }
      case 'imds-spot-notice': {
        const target = this.busiestNode();
        const imds = components.imds.get(target.nodeName);
        if (!imds)
          throw new Error(`no instance metadata for ${target.nodeName} (its agent does not poll one)`);
        const now = clock.now();
        imds.control.postSpotNotice();
        if (!recorder.spotNoticeAt.has(target.nodeName)) recorder.spotNoticeAt.set(target.nodeName, now);
        topology.sim.ledger.markInterruptedBySpotNotice({ nodeName: target.nodeName });
        record.target = `${shortName(target.nodeName)} (${target.instanceId}, ${target.sessions} sessions)`;
        const t0 = Date.now();
        this.measure(run, async () => {
          const tainted = await this.until(() => {
            const t = recorder.nodes.get(target.nodeName);
            return Boolean(t && (t.tainted || t.phase === 'SpotEvicting' || t.leftAt !== undefined));
          });
          record.contained = tainted;
          record.effect = tainted
            ? `drained on instance metadata alone (FleetIQ said ACTIVE) after ${seconds(Date.now() - t0)} (real)`
            : `NOT drained within ${seconds(EFFECT_TIMEOUT_MS)} (real)`;
        });
        return {
          // EC2 takes the instance back when the notice runs out; the group launches another.
          end: async (finishing) => {
            if (fleetiq.instance(target.instanceId)?.terminated !== false) return;
            fleetiq.removeInstance(target.instanceId);
            if (!finishing) fleetiq.addInstances(GAME_SERVER_GROUP, { count: 1 });
            record.effect = `${record.effect ?? ''}; instance reclaimed by EC2`;
          },
        };
      }
    }
  }

  /**
   * Item 7 of the hardening issue: a genuine, signed DRAINING captured from Redis, written back after
   * FleetIQ reverted the instance to ACTIVE, for a freshly restarted agent.
   */
  private async replayStatus(run: Running): Promise<Started> {
    const { record } = run;
    const { components, topology } = this.c;
    const fleetiq = topology.fleetiq.control;
    // Not the busiest node: the sandbox's own Spot notices aim there, and one landing mid-replay would
    // end the instance the replay is about.
    const target = this.busiestNode('quietest');
    const key = latestStatusKey(target.instanceId);
    record.target = `${shortName(target.nodeName)} (${target.instanceId})`;
    const r = this.redisClient();
    const latest = async () => {
      const raw = await r.get(key);
      const m = raw
        ? (JSON.parse(raw) as { InstanceStatus?: string; ObservedAt?: string; Sequence?: number })
        : {};
      return { raw, ...m };
    };
    try {
      fleetiq.setInstanceStatus(target.instanceId, 'DRAINING');
      let captured: string | null = null;
      const got = await this.until(async () => {
        const l = await latest();
        if (l.InstanceStatus === 'DRAINING') captured = l.raw;
        return captured !== null;
      });
      fleetiq.setInstanceStatus(target.instanceId, 'ACTIVE');
      if (!got || captured === null) throw new Error('no DRAINING seen in Redis to capture');
      // The agent must have acted on the ACTIVE (its high-water mark on the Node) before the replay.
      // The first ACTIVE published counts: pubsub republishes with newer observation times, which the
      // agent need not record when nothing changes.
      let activeObservedAt: string | undefined;
      const reverted = await this.until(async () => {
        const l = await latest();
        if (activeObservedAt === undefined && l.InstanceStatus === 'ACTIVE' && l.ObservedAt)
          activeObservedAt = l.ObservedAt;
        if (activeObservedAt === undefined) return false;
        const node = await topology.kube
          .client()
          .get({ group: '', version: 'v1', resource: 'nodes', name: target.nodeName });
        const mark = Date.parse(node.metadata.annotations?.[ACTED_ON_OBSERVED_AT_ANNOTATION] ?? '');
        const t = this.c.recorder.nodes.get(target.nodeName);
        return mark >= Date.parse(activeObservedAt) && t?.phase === 'Active' && !t.tainted && !t.cordoned;
      });
      if (!reverted) throw new Error('the node did not come back from DRAINING to replay over');
      await components.stopAgent(target.nodeName);
      await r.set(key, captured, 'PX', 60_000);
      const agent = await components.startAgent(target.nodeName);
      await agent.booted;
      // Whatever the agent does with the replay, it shows in its count of messages by result: refused
      // as older than the status acted on, or as older than one it already holds (pubsub may have
      // written the true ACTIVE over the key again before the agent started).
      const refusals = async () => {
        const m = await agent.registry.getSingleMetric('fleetiq_reconciler_status_messages_total')?.get();
        const by: Record<string, number> = {};
        for (const v of m?.values ?? []) {
          const result = String(v.labels.result);
          if (result !== 'accepted') by[result] = (by[result] ?? 0) + v.value;
        }
        return by;
      };
      const before = await refusals();
      await r.publish(statusChannel(target.instanceId), captured);
      const t0 = Date.now();
      this.measure(run, async () => {
        const drained = () => this.c.recorder.nodes.get(target.nodeName)?.phase !== 'Active';
        let why: string | undefined;
        const seen = await this.until(async () => {
          if (drained()) return true;
          const now = await refusals();
          why = Object.keys(now).find((k) => now[k]! > (before[k] ?? 0));
          return why !== undefined;
        });
        record.contained = seen && !drained();
        record.effect = !seen
          ? `no refusal seen within ${seconds(EFFECT_TIMEOUT_MS)} (real)`
          : drained()
            ? 'ACCEPTED: the node drained again on the replayed DRAINING'
            : `refused by the restarted agent ${seconds(Date.now() - t0)} after the replay (real), as ${why}: node not drained`;
      });
    } finally {
      // The measurement only reads metrics; Redis is done with.
      r.disconnect();
    }
    return {};
  }

  /**
   * The live, ACTIVE, undrained node with an agent holding the most sessions (ties: by name), or with
   * `quietest` the fewest, preferring one that holds any.
   */
  private busiestNode(which: 'busiest' | 'quietest' = 'busiest'): {
    nodeName: string;
    instanceId: string;
    sessions: number;
  } {
    const { topology, components, recorder } = this.c;
    const sessions = new Map<string, number>();
    for (const r of topology.sim.ledger.active())
      if (r.nodeName) sessions.set(r.nodeName, (sessions.get(r.nodeName) ?? 0) + 1);
    const candidates = topology.sim.nodes
      .instances()
      .filter(
        (i) =>
          components.agents.has(i.nodeName) &&
          topology.fleetiq.control.instance(i.instanceId)?.status === 'ACTIVE' &&
          (recorder.nodes.get(i.nodeName)?.phase ?? 'Active') === 'Active',
      )
      .map((i) => ({
        nodeName: i.nodeName,
        instanceId: i.instanceId,
        sessions: sessions.get(i.nodeName) ?? 0,
      }))
      .sort(
        (a, b) =>
          (which === 'busiest'
            ? b.sessions - a.sessions
            : Number(a.sessions === 0) - Number(b.sessions === 0) || a.sessions - b.sessions) ||
          a.nodeName.localeCompare(b.nodeName, undefined, { numeric: true }),
      );
    if (!candidates[0]) throw new Error('no ACTIVE node with an agent to hit');
    return candidates[0];
  }

  private redisClient(): Redis {
    return new Redis(this.c.redisUrl, { maxRetriesPerRequest: 1, connectTimeout: 2_000 });
  }

  /** Real-time wait for a condition; false on timeout or when the chaos is being finished. */
  private async until(
    cond: () => boolean | Promise<boolean>,
    timeoutMs = EFFECT_TIMEOUT_MS,
  ): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        if (await cond()) return true;
      } catch {
        // Redis or the API server briefly unreachable: try again until the deadline.
      }
      if (Date.now() > deadline) return false;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
