// The sandbox's upgrade scenario (`--upgrade`): while players keep playing, every node of the sandbox's
// node group is replaced through the rolling drain, as an EKS managed node group upgrade or Karpenter
// drift would replace them, but session-safe: the plan is the kubectl plugin's own (cli/drain-plan.ts,
// at most max-unavailable nodes requested or draining at once), each request is the plugin's merge
// patch, the node agents drain, and each node that reaches Drained (or Deregistered) has its instance
// terminated; the group launches a new instance, whose node joins the new node group. Level-triggered
// like the plugin: every step reads the nodes again.
import type { Logger } from 'pino';
import { drainRequestPatch, isDone, planRollout, rolloutNodeOf } from '../../cli/drain-plan.js';
import { buildStatusRows, type ObjectLike } from '../../cli/fleetiq-status.js';
import { GAME_SERVER_NODE_LABEL } from '../../shared/contract.js';
import type { DrainRequestMode } from '../../shared/drain-contract.js';
import { parseDuration } from '../../shared/duration.js';
import { ConfigError } from '../../shared/ops-server.js';
import type { SimClock } from '../clock.js';
import type { LocalClient } from '../kube/types.js';
import type { SandboxRecorder } from './metrics.js';
import { shortName } from './metrics.js';
import { GAME_SERVER_GROUP, NODE_GROUP, NODE_GROUP_LABEL, type Topology } from './topology.js';

export interface UpgradeOptions {
  /** Nodes requested or draining at once. */
  maxUnavailable: number;
  /** Simulated ms after the start of the load. */
  atMs: number;
  /** `drain` (stop at Drained, then terminated) or `deregister` (deregistered first). */
  mode: DrainRequestMode;
}

export const DEFAULT_UPGRADE: UpgradeOptions = { maxUnavailable: 1, atMs: 0, mode: 'drain' };

/** The node group nodes launched during the upgrade join. */
export const UPGRADED_NODE_GROUP = 'game-servers-2';

/**
 * `--upgrade` alone (the defaults), or `max-unavailable=N,at=DURATION[,deregister]`, e.g.
 * `max-unavailable=2,at=30s`. Errors name the flag.
 */
export function parseUpgrade(value: string | boolean, flag = '--upgrade'): UpgradeOptions {
  const out = { ...DEFAULT_UPGRADE };
  if (value === true || value === '' || value === 'true') return out;
  if (value === false) throw new ConfigError(flag, 'cannot be false');
  for (const part of value.split(',').map((p) => p.trim())) {
    const [key, v, ...rest] = part.split('=');
    const bad = (why: string) =>
      new ConfigError(
        flag,
        `"${part}" of "${value}": ${why}; expected max-unavailable=N, at=DURATION and deregister, e.g. max-unavailable=2,at=30s`,
      );
    if (rest.length) throw bad('one = per setting');
    if (key === 'deregister' && v === undefined) out.mode = 'deregister';
    else if (key === 'max-unavailable' && v !== undefined) {
      if (!/^\d+$/.test(v) || Number(v) < 1) throw bad('max-unavailable must be a whole number >= 1');
      out.maxUnavailable = Number(v);
    } else if (key === 'at' && v !== undefined) {
      try {
        out.atMs = parseDuration(v, flag, { requireUnit: true });
      } catch {
        throw bad(`"${v}" is not a duration such as 30s or 2m`);
      }
    } else throw bad('unknown setting');
  }
  return out;
}

export interface UpgradeReport {
  maxUnavailable: number;
  mode: DrainRequestMode;
  /** The label selector of the old nodes (what `kubectl fleetiq drain --selector` would be given). */
  selector: string;
  /** Simulated seconds after the start of the load; null until it happened. */
  startedAtSeconds: number | null;
  completedAtSeconds: number | null;
  /** Simulated seconds from the start to the last old node replaced. */
  durationSeconds: number | null;
  /** Old nodes seen (at the start, and any that joined the old group later). */
  nodesToReplace: number;
  /** Old nodes whose instance the upgrade terminated once drained. */
  nodesReplaced: number;
  /** Old nodes that went another way (FleetIQ or a Spot notice took the instance first). */
  nodesGoneOtherwise: number;
  /** The most old nodes requested or draining at once (never above maxUnavailable, unless FleetIQ's drains alone were). */
  maxUnavailableSeen: number;
  /** Old nodes reported draining past the stuck threshold (short names). */
  stuck: string[];
  complete: boolean;
}

export interface UpgradeDeps {
  admin: LocalClient;
  topology: Topology;
  clock: SimClock;
  recorder: SandboxRecorder;
  logger: Logger;
  /** Sessions held on the node now (the planner drains the emptiest first). */
  sessionsOf(nodeName: string): number;
  /** Simulated ms the load started. */
  loadStartedAt(): number | undefined;
  /** Real ms between steps (default 200). */
  stepMs?: number;
  /** A node draining longer than this (simulated ms) is reported stuck (default 1 h). */
  stuckAfterMs?: number;
}

const NODES = { group: '', version: 'v1', resource: 'nodes' };

export class UpgradeRunner {
  private startedAt: number | undefined;
  private completedAt: number | undefined;
  private readonly seen = new Set<string>();
  private readonly replaced = new Set<string>();
  private readonly goneOtherwise = new Set<string>();
  private readonly stuck = new Set<string>();
  private maxSeen = 0;
  private timer: NodeJS.Timeout | undefined;
  private cancelStart: (() => void) | undefined;
  private stepping: Promise<void> | undefined;
  private stopped = false;
  readonly selector = `${GAME_SERVER_NODE_LABEL.key}=${GAME_SERVER_NODE_LABEL.value},${NODE_GROUP_LABEL}=${NODE_GROUP}`;

  constructor(
    readonly options: UpgradeOptions,
    private readonly d: UpgradeDeps,
  ) {}

  /** Schedules the upgrade at options.atMs of simulated time from now (the load's start). */
  schedule(): void {
    this.cancelStart = this.d.clock.setTimeout(() => this.begin(), this.options.atMs);
  }

  get complete(): boolean {
    return this.completedAt !== undefined;
  }

  private begin(): void {
    if (this.stopped) return;
    this.startedAt = this.d.clock.now();
    // From now on the group launches upgraded nodes, outside the selection.
    this.d.topology.nodeGroup = UPGRADED_NODE_GROUP;
    this.d.recorder.event(
      this.startedAt,
      `upgrade: rolling drain of ${NODE_GROUP_LABEL}=${NODE_GROUP}, max-unavailable ${this.options.maxUnavailable}`,
    );
    const tick = () => {
      if (this.stopped || this.complete) return;
      this.stepping = this.step()
        .catch((err: unknown) => this.d.logger.warn({ err }, 'upgrade: a step failed; trying again'))
        .finally(() => {
          if (!this.stopped && !this.complete) this.timer = setTimeout(tick, this.d.stepMs ?? 200);
        });
    };
    tick();
  }

  /** One read of the old nodes, the plan, its requests, and the drained nodes' instances terminated. */
  private async step(): Promise<void> {
    const { admin, topology, clock, recorder } = this.d;
    const fleetiq = topology.fleetiq.control;
    const list = await admin.list(NODES, { labelSelector: this.selector });
    const objects = list.items as ObjectLike[];
    const rows = buildStatusRows({ nodes: objects, pods: [], gameServers: [] });
    const nodes = rows.map((r) => ({ ...rolloutNodeOf(r), sessions: this.d.sessionsOf(r.node) }));
    const listed = new Set(nodes.map((n) => n.name));
    for (const name of this.seen)
      if (!listed.has(name) && !this.replaced.has(name)) this.goneOtherwise.add(name);
    for (const n of nodes) this.seen.add(n.name);
    const now = clock.now();
    const plan = planRollout(nodes, {
      maxUnavailable: this.options.maxUnavailable,
      mode: this.options.mode,
      now,
      stuckAfterMs: this.d.stuckAfterMs ?? 3_600_000,
    });
    this.maxSeen = Math.max(this.maxSeen, plan.unavailable.length);
    for (const name of plan.request) {
      const n = nodes.find((x) => x.name === name)!;
      try {
        await admin.patch(
          { ...NODES, name },
          'merge',
          drainRequestPatch(this.options.mode, now, n.request !== undefined),
        );
        recorder.event(now, `upgrade: drain requested on ${shortName(name)} (${n.sessions} sessions)`);
      } catch (err) {
        if ((err as { code?: number }).code !== 404) throw err;
      }
    }
    for (const s of plan.stuck)
      if (!this.stuck.has(s.node)) {
        this.stuck.add(s.node);
        recorder.event(now, `upgrade: ${shortName(s.node)} stuck in ${s.phase} with ${s.sessions} sessions`);
      }
    for (const n of nodes) {
      if (!isDone(n, this.options.mode)) continue;
      const instanceId = topology.sim.nodes.instanceIdOf(n.name);
      const instance = instanceId ? fleetiq.instance(instanceId) : undefined;
      if (!instanceId || !instance || instance.terminated) continue;
      // The node group replaces the drained instance: terminated, and a new one launched (its node
      // joins the upgraded group and gets its agent through the topology's hooks).
      fleetiq.removeInstance(instanceId);
      fleetiq.addInstances(GAME_SERVER_GROUP, { count: 1 });
      this.replaced.add(n.name);
      recorder.event(now, `upgrade: ${shortName(n.name)} ${n.phase}, instance ${instanceId} replaced`);
    }
    if (nodes.length === 0) {
      this.completedAt = now;
      recorder.event(now, `upgrade: complete, ${this.replaced.size} nodes replaced`);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.cancelStart?.();
    if (this.timer) clearTimeout(this.timer);
    await this.stepping;
  }

  report(): UpgradeReport {
    const load = this.d.loadStartedAt();
    const secs = (t: number | undefined) =>
      t === undefined || load === undefined ? null : Math.round((t - load) / 100) / 10;
    return {
      maxUnavailable: this.options.maxUnavailable,
      mode: this.options.mode,
      selector: this.selector,
      startedAtSeconds: secs(this.startedAt),
      completedAtSeconds: secs(this.completedAt),
      durationSeconds:
        this.startedAt !== undefined && this.completedAt !== undefined
          ? Math.round((this.completedAt - this.startedAt) / 100) / 10
          : null,
      nodesToReplace: this.seen.size,
      nodesReplaced: this.replaced.size,
      nodesGoneOtherwise: this.goneOtherwise.size,
      maxUnavailableSeen: this.maxSeen,
      stuck: [...this.stuck].map(shortName).sort(),
      complete: this.complete,
    };
  }
}
