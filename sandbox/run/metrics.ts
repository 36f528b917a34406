// What the sandbox observes while it runs, from the outside as an operator would: FleetIQ's status
// changes (the emulator's hooks), the Nodes as the API server stores them (drain phase annotation,
// drain taint, status label), instance terminations and launches, and periodic samples of the
// session ledger. From these: drains started / deregistered / reverted, the reaction time from a
// FleetIQ status change to the drain taint on the node, each node's phases over time (the timeline),
// and the recent events the live view shows. Pure: every method takes the times it needs.
import { DRAIN_TAINT_KEY, INSTANCE_STATUS_LABEL, type InstanceStatus } from '../../shared/contract.js';
import {
  DRAIN_PHASES,
  DRAIN_PHASE_ANNOTATION,
  DRAIN_REASON_ANNOTATION,
  DRAIN_REQUEST_ANNOTATION,
  type DrainPhase,
} from '../../shared/drain-contract.js';
import type { KubeObject } from '../kube/types.js';

export type NodePhase = DrainPhase;

export interface PhaseSegment {
  phase: NodePhase;
  /** Simulated epoch ms. */
  from: number;
  to?: number;
}

export interface StatusMark {
  at: number;
  status: InstanceStatus;
}

export interface NodeTrack {
  name: string;
  instanceId: string;
  joinedAt: number;
  leftAt?: number;
  phase: NodePhase;
  /** Simulated ms the current phase began. */
  phaseSince: number;
  /** FleetIQ's status of the instance (the emulator's truth). */
  fleetiqStatus: InstanceStatus;
  /** What the agent labelled the node with. */
  label?: string;
  tainted: boolean;
  cordoned: boolean;
  /** Since when (simulated ms) the node is cordoned, and for what drain reason (`none`: no drain recorded). */
  cordon?: { since: number; reason: string };
  /** The node carries an operator's drain request (gamelift.status/drain-request). */
  requested?: boolean;
  segments: PhaseSegment[];
  marks: StatusMark[];
  /** A replacement FleetIQ launched for a terminated instance. */
  replacement: boolean;
}

export interface SessionSample {
  at: number;
  active: number;
  completed: number;
  lost: number;
  /** Ended gracefully inside a Spot interruption notice (not lost). */
  endedBySpotNotice: number;
  allocationsSucceeded: number;
  allocationsFailed: number;
  /** Sessions held per node name at that moment (nodes holding none may be absent). */
  byNode?: Record<string, number>;
}

export interface RecentEvent {
  at: number;
  text: string;
}

export interface DrainCounts {
  started: number;
  deregistered: number;
  reverted: number;
  /** Drains that began on a Spot interruption notice (SpotEvicting). */
  spotEvictions: number;
}

export interface Reaction {
  instanceId: string;
  status: InstanceStatus;
  /** Real ms from FleetIQ's status change to the drain taint on the node. */
  ms: number;
  /**
   * Of those, the real ms until pubsub's next DescribeGameServerInstances call, the part that grows
   * with the poll interval (uniform over one interval). Absent when no poll was seen in between.
   */
  pollWaitMs?: number;
}

/** The phases a drain records (every one but Active). */
const RECORDED_PHASES: readonly NodePhase[] = DRAIN_PHASES.filter((p) => p !== 'Active');

export function phaseOf(node: KubeObject): NodePhase {
  const v = node.metadata.annotations?.[DRAIN_PHASE_ANNOTATION];
  return (RECORDED_PHASES as readonly string[]).includes(v ?? '') ? (v as NodePhase) : 'Active';
}

export function isTainted(node: KubeObject): boolean {
  return ((node.spec?.taints ?? []) as { key: string }[]).some((t) => t.key === DRAIN_TAINT_KEY);
}

/** The instance id in an AWS providerID (aws:///<az>/<id>). */
export function instanceIdOf(node: KubeObject): string | undefined {
  const m = /\/(i-[0-9a-zA-Z]+)$/.exec(String(node.spec?.providerID ?? ''));
  return m?.[1];
}

export class SandboxRecorder {
  readonly nodes = new Map<string, NodeTrack>();
  readonly drains: DrainCounts = { started: 0, deregistered: 0, reverted: 0, spotEvictions: 0 };
  readonly reactions: Reaction[] = [];
  readonly samples: SessionSample[] = [];
  readonly recent: RecentEvent[] = [];
  readonly statusChanges: Record<string, number> = {};
  instancesTerminated = 0;
  instancesLaunched = 0;
  /** Simulated ms each terminated instance's node went away (the spot accounting needs it). */
  readonly terminatedAt = new Map<string, number>();
  /** Simulated ms each node's instance got its Spot interruption notice. */
  readonly spotNoticeAt = new Map<string, number>();
  /** Simulated ms each node's instance got an EC2 rebalance recommendation (the first one). */
  readonly rebalanceAt = new Map<string, number>();
  /**
   * Simulated ms nodes spent cordoned, by the drain reason recorded on them (`none` for a cordon with
   * no drain: an operator's); intervals still open are added by cordonedMs().
   */
  private readonly cordonedClosedMs: Record<string, number> = {};
  private readonly pendingReaction = new Map<
    string,
    { status: InstanceStatus; realAt: number; pollAt?: number }
  >();
  private readonly fleetiqStatus = new Map<string, InstanceStatus>();
  /** Status changes of instances whose node had no track yet, in order (given to the track when it comes). */
  private readonly earlyStatuses = new Map<string, { at: number; status: InstanceStatus }[]>();
  private readonly replacements = new Set<string>();

  constructor(private readonly recentLimit = 200) {}

  event(at: number, text: string): void {
    this.recent.push({ at, text });
    if (this.recent.length > this.recentLimit * 2)
      this.recent.splice(0, this.recent.length - this.recentLimit);
  }

  private trackOf(instanceId: string): NodeTrack | undefined {
    for (const t of this.nodes.values()) if (t.instanceId === instanceId && t.leftAt === undefined) return t;
    return undefined;
  }

  /** FleetIQ changed an instance's status (the emulator's onInstanceStatusChanged, at real time `realAt`). */
  statusChanged(
    instanceId: string,
    from: InstanceStatus,
    to: InstanceStatus,
    at: number,
    realAt: number,
  ): void {
    this.fleetiqStatus.set(instanceId, to);
    this.statusChanges[to] = (this.statusChanges[to] ?? 0) + 1;
    const track = this.trackOf(instanceId);
    if (track) this.noteStatus(track, to, at);
    else {
      // FleetIQ (a Spot interruption above all) may hit an instance whose Node has not registered, or
      // not reached this recorder's watch yet: kept for the node's track, which would otherwise never
      // learn of the notice, and would count the sessions the notice ends on it as lost.
      const early = this.earlyStatuses.get(instanceId) ?? [];
      early.push({ at, status: to });
      this.earlyStatuses.set(instanceId, early);
    }
    this.event(at, `FleetIQ: ${instanceId} ${from} → ${to}${track ? ` (${shortName(track.name)})` : ''}`);
    if (to === 'ACTIVE') {
      this.pendingReaction.delete(instanceId);
      return;
    }
    // From a status change to the taint that moves what can be moved: only when the node is not
    // already tainted (DRAINING → SPOT_TERMINATING on a tainted node has nothing left to react to).
    if (track?.tainted) return;
    if (!this.pendingReaction.has(instanceId)) this.pendingReaction.set(instanceId, { status: to, realAt });
  }

  /** What a FleetIQ status change means for the node's track: the Spot notice's time, the timeline mark. */
  private noteStatus(track: NodeTrack, to: InstanceStatus, at: number): void {
    if (to === 'SPOT_TERMINATING' && !this.spotNoticeAt.has(track.name))
      this.spotNoticeAt.set(track.name, at);
    track.fleetiqStatus = to;
    track.marks.push({ at, status: to });
  }

  /** The sandbox posted a rebalance recommendation in the metadata of this node's instance. */
  rebalanceRecommended(nodeName: string, at: number): void {
    if (!this.rebalanceAt.has(nodeName)) this.rebalanceAt.set(nodeName, at);
    this.event(at, `EC2: rebalance recommendation for ${shortName(nodeName)}`);
  }

  /** Simulated ms spent cordoned by drain reason, up to `now` for nodes still cordoned. */
  cordonedMs(now: number): Record<string, number> {
    const out = { ...this.cordonedClosedMs };
    for (const t of this.nodes.values())
      if (t.cordon && t.leftAt === undefined)
        out[t.cordon.reason] = (out[t.cordon.reason] ?? 0) + Math.max(0, now - t.cordon.since);
    return out;
  }

  private closeCordon(track: NodeTrack, at: number): void {
    if (!track.cordon) return;
    const r = track.cordon.reason;
    this.cordonedClosedMs[r] = (this.cordonedClosedMs[r] ?? 0) + Math.max(0, at - track.cordon.since);
    delete track.cordon;
  }

  /** pubsub called DescribeGameServerInstances at real time `realAt`: it sees every change before it. */
  pollObserved(realAt: number): void {
    for (const p of this.pendingReaction.values())
      if (p.pollAt === undefined && realAt >= p.realAt) p.pollAt = realAt;
  }

  /** A Node as the API server stores it (ADDED/MODIFIED), or its deletion. */
  nodeObserved(type: 'ADDED' | 'MODIFIED' | 'DELETED', node: KubeObject, at: number, realAt: number): void {
    const name = node.metadata.name!;
    let track = this.nodes.get(name);
    if (type === 'DELETED') {
      if (track && track.leftAt === undefined) {
        this.closeCordon(track, at);
        closeSegment(track, at);
        track.leftAt = at;
        this.event(at, `node ${shortName(name)} removed`);
      }
      return;
    }
    const instanceId = instanceIdOf(node) ?? '';
    if (!track) {
      track = {
        name,
        instanceId,
        joinedAt: at,
        phase: 'Active',
        phaseSince: at,
        fleetiqStatus: this.fleetiqStatus.get(instanceId) ?? 'ACTIVE',
        tainted: false,
        cordoned: false,
        segments: [{ phase: 'Active', from: at }],
        marks: [],
        replacement: this.replacements.has(instanceId),
      };
      this.nodes.set(name, track);
      if (track.replacement) this.event(at, `node ${shortName(name)} joined (${instanceId})`);
      for (const e of this.earlyStatuses.get(instanceId) ?? []) this.noteStatus(track, e.status, e.at);
      this.earlyStatuses.delete(instanceId);
    }
    track.label = node.metadata.labels?.[INSTANCE_STATUS_LABEL];
    track.cordoned = Boolean(node.spec?.unschedulable);
    // A drain taken over for another reason (rebalance → spot) starts a new interval under its reason.
    const reason = node.metadata.annotations?.[DRAIN_REASON_ANNOTATION] ?? 'none';
    if (track.cordon && (!track.cordoned || track.cordon.reason !== reason)) this.closeCordon(track, at);
    if (track.cordoned && !track.cordon) track.cordon = { since: at, reason };
    track.requested = node.metadata.annotations?.[DRAIN_REQUEST_ANNOTATION] !== undefined;
    const tainted = isTainted(node);
    if (tainted && !track.tainted) {
      const pending = this.pendingReaction.get(instanceId);
      if (pending) {
        this.reactions.push({
          instanceId,
          status: pending.status,
          ms: Math.max(0, realAt - pending.realAt),
          ...(pending.pollAt !== undefined && pending.pollAt <= realAt
            ? { pollWaitMs: pending.pollAt - pending.realAt }
            : {}),
        });
        this.pendingReaction.delete(instanceId);
      }
    }
    track.tainted = tainted;
    const phase = phaseOf(node);
    if (phase === track.phase) return;
    const from = track.phase;
    if (from === 'Active') {
      this.drains.started++;
    }
    if (phase === 'SpotEvicting' && from !== 'SpotEvicting') this.drains.spotEvictions++;
    if (phase === 'Deregistered') this.drains.deregistered++;
    if (phase === 'Active') this.drains.reverted++;
    closeSegment(track, at);
    track.segments.push({ phase, from: at });
    track.phase = phase;
    track.phaseSince = at;
    this.event(
      at,
      phase === 'Active'
        ? `node ${shortName(name)}: drain reverted, Active again`
        : `node ${shortName(name)}: ${phase}`,
    );
  }

  instanceTerminated(instanceId: string, nodeName: string | undefined, reason: string, at: number): void {
    this.instancesTerminated++;
    this.pendingReaction.delete(instanceId);
    if (nodeName) this.terminatedAt.set(nodeName, at);
    this.event(at, `FleetIQ terminated ${instanceId} (${reason})`);
  }

  instanceLaunched(instanceId: string, at: number): void {
    this.instancesLaunched++;
    this.replacements.add(instanceId);
    this.event(at, `FleetIQ launched ${instanceId}`);
  }

  sample(s: SessionSample): void {
    this.samples.push(s);
  }

  /** Status changes still waiting for their taint (an instance draining right now). */
  pendingReactions(): number {
    return this.pendingReaction.size;
  }
}

function closeSegment(track: NodeTrack, at: number): void {
  const last = track.segments.at(-1);
  if (last && last.to === undefined) last.to = at;
}

/** ip-10-0-0-4.ec2.internal → ip-10-0-0-4 */
export function shortName(nodeName: string): string {
  return nodeName.split('.')[0]!;
}

/** The p-th percentile (nearest rank) of values; undefined when there are none. */
export function percentile(values: readonly number[], p: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}
