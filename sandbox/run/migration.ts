// `--legacy-nodes N` and `--migrate LIST`: a fleet that starts with the old Python adapter's daemon on
// some nodes (sandbox/legacy) and moves them to the node agent one by one while players keep playing,
// in the order docs/migration.md prescribes:
//
// 1. before anything else, the old daemon's role may no longer call DeregisterGameServer (an IAM deny;
//    here the GameLift meter refuses that call to the `legacy` identity), so that neither its SIGTERM
//    nor the end of one of its drains gives up an instance;
// 2. pubsub (ours) feeds both the old daemons and the agents; new nodes get the agent;
// 3. at each time of LIST, one node: the old daemon is stopped (SIGTERM: it tries to deregister and is
//    refused), then the agent is started on the node. Nodes the old daemon drained go first (they wait
//    for a deregistration only the agent can make now), then the one holding the fewest sessions.
//
// The parsing is pure; LegacyNodes and Migration act on the running sandbox.
import { GameLiftClient } from '@aws-sdk/client-gamelift';
import type { Logger } from 'pino';
import { formatDuration, parseDuration } from '../../shared/duration.js';
import { ConfigError } from '../../shared/ops-server.js';
import type { SimClock } from '../clock.js';
import type { UserInfo } from '../kube/types.js';
import { LegacyDaemon } from '../legacy/daemon.js';
import type { Components } from './components.js';
import type { GameLiftMeter } from './gamelift-meter.js';
import type { Topology } from './topology.js';

/** The identity the old daemons sign their GameLift calls with (the meter counts and denies by it). */
export const LEGACY_COMPONENT = 'legacy';
/** The old daemon's Kubernetes identity: its RBAC granted every verb on nodes and pods. */
export const LEGACY_USER: UserInfo = {
  username: 'sandbox:legacy-daemon',
  groups: ['system:masters', 'system:authenticated'],
};

/** Parses `--migrate`: comma-separated simulated times from the start of the load; `none`: none. */
export function parseMigrate(value: string, flag = '--migrate'): number[] {
  const text = value.trim();
  if (text === '' || text === 'none') return [];
  return text
    .split(',')
    .map((item, i) => {
      try {
        return parseDuration(item.trim(), flag, { requireUnit: true });
      } catch {
        throw new ConfigError(
          flag,
          `item ${i + 1} "${item.trim()}" is not a time such as 30s or 2m (e.g. 20s,40s,1m)`,
        );
      }
    })
    .sort((a, b) => a - b);
}

export function describeMigrate(times: readonly number[]): string {
  return times.length ? times.map(formatDuration).join(',') : 'none';
}

export interface LegacyNodesOptions {
  topology: Topology;
  meter: GameLiftMeter;
  group: string;
  redisUrl: string;
  healthIntervalMs: number;
  drainCheckIntervalMs: number;
  logger: Logger;
}

/** The old daemons running on nodes (one per node at most), as its DaemonSet would run them. */
export class LegacyNodes {
  readonly daemons = new Map<string, LegacyDaemon>();
  private readonly gamelift: GameLiftClient;
  private readonly stopped: LegacyDaemon[] = [];

  constructor(private readonly o: LegacyNodesOptions) {
    this.gamelift = new GameLiftClient({
      region: 'us-east-1',
      endpoint: o.meter.url,
      credentials: o.meter.credentials(LEGACY_COMPONENT),
      maxAttempts: 3,
    });
  }

  /** Step 1 of the guide: the old daemon's role may no longer deregister. */
  denyDeregistration(): void {
    this.o.meter.deny(LEGACY_COMPONENT, 'DeregisterGameServer');
  }

  async start(nodeName: string): Promise<LegacyDaemon> {
    const instanceId = this.o.topology.sim.nodes.instanceIdOf(nodeName);
    if (!instanceId) throw new Error(`no instance for node ${nodeName}`);
    const daemon = await LegacyDaemon.start({
      nodeName,
      instanceId,
      group: this.o.group,
      kube: this.o.topology.kube.client(LEGACY_USER),
      gamelift: this.gamelift,
      redisUrl: this.o.redisUrl,
      healthIntervalMs: this.o.healthIntervalMs,
      drainCheckIntervalMs: this.o.drainCheckIntervalMs,
      logger: this.o.logger,
    });
    this.daemons.set(nodeName, daemon);
    return daemon;
  }

  /** `sigterm`: its pod deleted (it tries to deregister); `killed`: its machine gone. */
  async stop(nodeName: string, how: 'sigterm' | 'killed'): Promise<void> {
    const d = this.daemons.get(nodeName);
    this.daemons.delete(nodeName);
    if (!d) return;
    await d.stop(how);
    this.stopped.push(d);
  }

  /** Deregistrations the IAM deny refused and drains started, by every daemon so far. */
  totals(): { deregisterRefused: number; drains: number } {
    const all = [...this.stopped, ...this.daemons.values()];
    return {
      deregisterRefused: all.reduce((n, d) => n + d.stats.deregisterRefused, 0),
      drains: all.reduce((n, d) => n + d.stats.drains, 0),
    };
  }

  async stopAll(): Promise<void> {
    await Promise.allSettled([...this.daemons.keys()].map((n) => this.stop(n, 'killed')));
    this.gamelift.destroy();
  }
}

/** One node moved to the node agent, as the report lists it (`migration.switched`). */
export interface MigrationStep {
  node: string;
  instanceId: string;
  /** Simulated seconds after the load started: when it was scheduled, and when the agent took over. */
  scheduledAtSeconds: number;
  atSeconds: number;
  /** What the old daemon was doing when it was stopped. */
  legacyState: string;
  /** Sessions on the node at the switch. */
  sessions: number;
  /** The old daemon's deregistration on SIGTERM was refused (the guide's IAM deny). */
  deregistrationRefused: boolean;
}

export interface MigrationOptions {
  clock: SimClock;
  loadStartedAt: () => number | undefined;
  topology: Topology;
  components: Components;
  legacy: LegacyNodes;
  sessionsOn: (nodeName: string) => number;
  logger: Logger;
}

export class Migration {
  readonly switched: MigrationStep[] = [];
  private timers: Array<() => void> = [];
  private queue: Promise<void> = Promise.resolve();
  private stopped = false;
  /** Scheduled switches that found no node left to move. */
  skipped = 0;

  constructor(private readonly o: MigrationOptions) {}

  /** At each time (simulated ms after now), one node moves; one at a time, in order. */
  schedule(times: readonly number[]): void {
    const from = this.o.clock.now();
    for (const at of times)
      this.timers.push(
        this.o.clock.setTimeout(
          () => {
            this.queue = this.queue
              .then(() => this.switchOne(at))
              .catch((err: Error) => {
                this.o.logger.error({ err: err.message }, 'migration: a switch failed');
              });
          },
          Math.max(0, from + at - this.o.clock.now()),
        ),
      );
  }

  /** The node the guide moves next: drained by the old daemon first, then the fewest sessions (ties: name). */
  next(): string | undefined {
    const rank = (node: string) => (this.o.legacy.daemons.get(node)!.state() === 'running' ? 1 : 0);
    return [...this.o.legacy.daemons.keys()].sort(
      (a, b) => rank(a) - rank(b) || this.o.sessionsOn(a) - this.o.sessionsOn(b) || a.localeCompare(b),
    )[0];
  }

  private async switchOne(scheduledAt: number): Promise<void> {
    if (this.stopped) return;
    const node = this.next();
    if (!node) {
      this.skipped++;
      return;
    }
    const instanceId = this.o.topology.sim.nodes.instanceIdOf(node) ?? '';
    const daemon = this.o.legacy.daemons.get(node)!;
    const legacyState = daemon.state();
    const sessions = this.o.sessionsOn(node);
    const refusedBefore = daemon.stats.deregisterRefused;
    await this.o.legacy.stop(node, 'sigterm');
    const agent = await this.o.components.startAgent(node);
    await agent.booted;
    const loadAt = this.o.loadStartedAt() ?? this.o.clock.now();
    this.switched.push({
      node,
      instanceId,
      scheduledAtSeconds: Math.round(scheduledAt / 100) / 10,
      atSeconds: Math.round((this.o.clock.now() - loadAt) / 100) / 10,
      legacyState,
      sessions,
      deregistrationRefused: daemon.stats.deregisterRefused > refusedBefore,
    });
    this.o.logger.info({ node, legacyState, sessions }, 'migration: the node agent took the node over');
  }

  /** Cancels what has not started and waits for a switch in progress. */
  async finish(): Promise<void> {
    this.stopped = true;
    for (const cancel of this.timers) cancel();
    await this.queue;
  }
}

/** The report's `migration` section. */
export interface MigrationReport {
  legacyNodesAtStart: number;
  switched: MigrationStep[];
  /** Scheduled switches that found no node on the old daemon left. */
  skipped: number;
  /** Live nodes still on the old daemon at the end, and live nodes with neither daemon nor agent. */
  stillOnLegacy: string[];
  withoutAgent: string[];
  /** The old daemons' DeregisterGameServer calls refused by the IAM deny (on SIGTERM or at a drain's end). */
  legacyDeregistrationsRefused: number;
  /** Drains the old daemons started, on the DRAINING statuses our pubsub published. */
  legacyDrains: number;
  /** Instances registered with FleetIQ more than once over the run (a switch must adopt, not re-register). */
  registeredMoreThanOnce: string[];
}

export function migrationReport(o: {
  legacyNodes: number;
  legacy: LegacyNodes;
  migration: Migration;
  events: ReadonlyArray<{ type: string; instanceId?: string }>;
  liveNodes: string[];
  agents: string[];
}): MigrationReport {
  const registrations = new Map<string, number>();
  for (const e of o.events)
    if (e.type === 'game-server-registered' && e.instanceId)
      registrations.set(e.instanceId, (registrations.get(e.instanceId) ?? 0) + 1);
  const agents = new Set(o.agents);
  return {
    legacyNodesAtStart: o.legacyNodes,
    switched: o.migration.switched.map((s) => ({ ...s })),
    skipped: o.migration.skipped,
    stillOnLegacy: o.liveNodes.filter((n) => o.legacy.daemons.has(n)).sort(),
    withoutAgent: o.liveNodes.filter((n) => !agents.has(n) && !o.legacy.daemons.has(n)).sort(),
    legacyDeregistrationsRefused: o.legacy.totals().deregisterRefused,
    legacyDrains: o.legacy.totals().drains,
    registeredMoreThanOnce: [...registrations]
      .filter(([, n]) => n > 1)
      .map(([id]) => id)
      .sort(),
  };
}
