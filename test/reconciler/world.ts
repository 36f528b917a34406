// A tiny model of one node's world for testing decide(): it applies the agent's actions the way the
// Kubernetes API, Agones and FleetIQ would (compare-and-swap on game servers, the taint manager evicting
// pods without the toleration, the allocator picking Ready game servers whatever their node), so that a
// test can run the reconcile loop to quiescence and check what happened to every session.
import { DRAIN_TAINT, INSTANCE_STATUS_LABEL, type InstanceStatus } from '../../shared/contract.js';
import {
  decide,
  isSessionState,
  isTerminalState,
  type DecideConfig,
  type Decision,
  type DrainAction,
  type GameServerView,
  type MembershipAction,
  type Observation,
  type RegistrationView,
} from '../../reconciler/decide.js';
import {
  hasDrainTaint,
  readDrainRecord,
  ACTED_ON_OBSERVED_AT_ANNOTATION,
  DRAIN_REQUEST_ANNOTATION,
  REBALANCE_SEEN_ANNOTATION,
  withDrainPhaseLabel,
  withDrainRecord,
  type DrainReason,
  type DrainRecord,
  type NodeView,
} from '../../shared/drain-contract.js';

export const T0 = Date.parse('2026-11-21T10:00:00.000Z');

export const CONFIG: DecideConfig = {
  utilizationMode: 'allocated',
  protectReserved: true,
  statusStaleAfterMs: 120_000,
  idlePeriodMs: 300_000,
  drainMaxWaitMs: 3_600_000,
  forceAfterMaxWait: false,
  forceGraceSeconds: 30,
  drainingStableMs: 0,
  strandedAfterMs: 600_000,
  spotGraceSeconds: 90,
  rebalanceAction: 'event',
  rebalanceDrainWindowMs: 1_800_000,
};

export function makeNode(
  opts: {
    label?: InstanceStatus;
    unschedulable?: boolean;
    tainted?: boolean;
    record?: DrainRecord | null;
    annotations?: Record<string, string>;
  } = {},
): NodeView {
  return {
    // The phase label as the agent writes it beside the record.
    labels: withDrainPhaseLabel(
      {
        'kubernetes.io/hostname': 'node-a',
        role: 'game-servers',
        ...(opts.label ? { [INSTANCE_STATUS_LABEL]: opts.label } : {}),
      },
      opts.record ?? null,
    ),
    annotations: withDrainRecord(opts.annotations ?? {}, opts.record ?? null),
    unschedulable: opts.unschedulable ?? false,
    taints: opts.tainted ? [{ ...DRAIN_TAINT }] : [],
  };
}

let rvCounter = 100;
export function gs(name: string, state: string, opts: Partial<GameServerView> = {}): GameServerView {
  return {
    namespace: 'default',
    name,
    resourceVersion: String(++rvCounter),
    state,
    podTolerates: state === 'Allocated',
    podTerminating: false,
    ...opts,
  };
}

export function observation(partial: Partial<Observation> & { status?: Observation['status'] }): Observation {
  return {
    now: T0,
    node: makeNode(),
    gameServers: [],
    registration: { state: 'registered', utilization: 'AVAILABLE' },
    ...partial,
  };
}

export const fresh = (status: InstanceStatus, now = T0) => ({
  status,
  observedAt: now - 1000,
  source: 'redis' as const,
});

/** One node's world, mutated by the agent's actions and by the outside (allocator, sessions, taint manager). */
export class World {
  now = T0;
  status: Observation['status'];
  node: NodeView;
  gameServers: GameServerView[];
  registration: RegistrationView;
  idleSince: number | undefined;
  /** The EC2 rebalance recommendation in instance metadata, if any. */
  rebalance: Observation['rebalance'];
  deregistered = false;
  /** Sessions cut short: an Allocated game server whose pod was killed outside a Spot notice or a forced drain. */
  lostSessions: string[] = [];
  events: { type: string; reason: string; message: string }[] = [];
  executed: (DrainAction | MembershipAction)[] = [];
  /** The webhook adds the toleration when a game server becomes Allocated (false: it is down). */
  webhookUp = true;
  /** The drain is allowed to kill session pods (Spot notice, forced drain). */
  killsAllowed = false;
  private rv = 1000;

  constructor(init: {
    status?: Observation['status'];
    node?: NodeView;
    gameServers?: GameServerView[];
    registration?: RegistrationView;
  }) {
    this.status = init.status;
    this.node = init.node ?? makeNode();
    this.gameServers = init.gameServers ?? [];
    this.registration = init.registration ?? { state: 'registered', utilization: 'AVAILABLE' };
  }

  observe(): Observation {
    return structuredClone({
      now: this.now,
      ...(this.status ? { status: this.status } : {}),
      node: this.node,
      gameServers: this.gameServers,
      registration: this.registration,
      ...(this.idleSince !== undefined ? { idleSince: this.idleSince } : {}),
      ...(this.rebalance ? { rebalance: this.rebalance } : {}),
    });
  }

  decide(config: DecideConfig = CONFIG): Decision {
    const d = decide(this.observe(), config);
    this.idleSince = d.idleSince;
    return d;
  }

  get(name: string): GameServerView {
    const g = this.gameServers.find((x) => x.name === name);
    if (!g) throw new Error(`no game server ${name}`);
    return g;
  }

  private bump(g: GameServerView): void {
    g.resourceVersion = String(++this.rv);
  }

  /** Applies one action; returns false when it "failed" (a compare-and-swap that did not match). */
  apply(a: DrainAction | MembershipAction): boolean {
    this.executed.push(a);
    switch (a.kind) {
      case 'recordDrainState':
        this.node.annotations = withDrainRecord(this.node.annotations, a.record);
        this.node.labels = withDrainPhaseLabel(this.node.labels, a.record);
        return true;
      case 'label':
        this.node.labels[INSTANCE_STATUS_LABEL] = a.status;
        return true;
      case 'recordActedOn':
        this.node.annotations = {
          ...this.node.annotations,
          [ACTED_ON_OBSERVED_AT_ANNOTATION]: new Date(a.observedAt).toISOString(),
        };
        return true;
      case 'recordRebalanceSeen':
        this.node.annotations = {
          ...this.node.annotations,
          [REBALANCE_SEEN_ANNOTATION]: new Date(a.noticeTime).toISOString(),
        };
        return true;
      case 'cordon':
        this.node.unschedulable = true;
        return true;
      case 'uncordon':
        this.node.unschedulable = false;
        return true;
      case 'taint':
        this.node.taints = [...this.node.taints.filter((t) => t.key !== DRAIN_TAINT.key), { ...DRAIN_TAINT }];
        this.taintManager();
        return true;
      case 'untaint':
        this.node.taints = this.node.taints.filter((t) => t.key !== DRAIN_TAINT.key);
        return true;
      case 'shutdownGameServer': {
        const g = this.gameServers.find((x) => x.name === a.name);
        if (!g || g.resourceVersion !== a.resourceVersion || g.state !== a.state) return false;
        g.state = 'Shutdown';
        this.bump(g);
        return true;
      }
      case 'addToleration': {
        const g = this.get(a.pod);
        g.podTolerates = true;
        return true;
      }
      case 'deletePod':
        this.killPod(this.get(a.name), this.killsAllowed);
        return true;
      case 'deregister':
        this.deregistered = true;
        this.registration = { state: 'absent' };
        return true;
      case 'emitEvent':
        this.events.push({ type: a.type, reason: a.reason, message: a.message });
        return true;
      case 'register':
        this.registration = { state: 'registered', utilization: 'AVAILABLE' };
        return true;
      case 'markUtilized':
        this.registration = { state: 'registered', utilization: 'UTILIZED' };
        return true;
      case 'reregisterAvailable':
        this.registration = { state: 'registered', utilization: 'AVAILABLE' };
        return true;
    }
  }

  private killPod(g: GameServerView, allowed: boolean): void {
    if (g.podTerminating) return;
    g.podTerminating = true;
    if (isSessionState(g.state, { protectReserved: true }) && !allowed) this.lostSessions.push(g.name);
  }

  /** Kubernetes' taint manager: pods without the toleration on a NoExecute-tainted node are deleted. */
  taintManager(): void {
    if (!hasDrainTaint(this.node)) return;
    for (const g of this.gameServers) if (!g.podTolerates) this.killPod(g, this.killsAllowed);
  }

  /** The allocator: allocates a Ready game server, whatever its node or pod (as Agones does). */
  allocate(name: string): boolean {
    const g = this.get(name);
    if (g.state !== 'Ready') return false;
    g.state = 'Allocated';
    if (this.webhookUp) g.podTolerates = true;
    this.bump(g);
    // Allocated onto a pod that is already being killed: the session is lost.
    if (g.podTerminating && !this.killsAllowed) this.lostSessions.push(g.name);
    return true;
  }

  /** A session ends: the game server goes back to Ready (reused) or shuts down. */
  endSession(name: string, reuse = false): void {
    const g = this.get(name);
    g.state = reuse ? 'Ready' : 'Shutdown';
    this.bump(g);
  }

  /** Agones deletes Shutdown game servers (and their pods); terminated pods disappear. */
  collect(): void {
    this.gameServers = this.gameServers.filter((g) => !(isTerminalState(g.state) || g.podTerminating));
  }

  /** Executes a decision fully (or only its first `limit` drain actions, as if the agent crashed). */
  execute(d: Decision, limit = Infinity): void {
    let n = 0;
    for (const a of d.actions) {
      if (n++ >= limit) return;
      this.apply(a);
    }
    for (const a of d.membership) this.apply(a);
  }

  /** Decides and executes until nothing is left to do; returns the decisions made. */
  settle(config: DecideConfig = CONFIG, maxRounds = 50): Decision[] {
    const out: Decision[] = [];
    for (let i = 0; i < maxRounds; i++) {
      const d = this.decide(config);
      out.push(d);
      if (d.actions.length === 0 && d.membership.length === 0) return out;
      this.execute(d);
    }
    throw new Error(`no quiescence after ${maxRounds} rounds: last ${JSON.stringify(out.at(-1))}`);
  }
}

/** A FleetIQ status observed long enough before T0 to be stale. */
export const staleStatus = (status: InstanceStatus, observedAt = T0 - 10 * CONFIG.statusStaleAfterMs) => ({
  status,
  observedAt,
  source: 'redis' as const,
});

/** The drain record the world's node carries now (null: none). */
export const drainRecordOf = (w: World) => readDrainRecord(w.node.annotations, w.now);

/** The reasons of the Events raised so far, in order. */
export const eventReasonsOf = (w: World) => w.events.map((e) => e.reason);

/** A drain record for `reason` in `phase`, begun a minute before T0 with the agent's own cordon. */
export function drainRecord(
  reason: DrainReason,
  phase: DrainRecord['phase'],
  extra: Partial<DrainRecord> = {},
): DrainRecord {
  return { phase, reason, startedAt: T0 - 60_000, cordonedByAgent: true, ...extra };
}

/**
 * Restart safety: for every round of a run and every prefix of that round's actions, an agent killed
 * after the prefix and restarted remembering nothing must end where an uninterrupted run ends. `check`
 * compares each outcome with that reference (it should at least compare nodes and lost sessions).
 * Returns the number of cases run.
 */
export function fromEveryInterruption(
  build: () => World,
  check: (w: World, reference: World) => void,
  {
    config = CONFIG,
    rounds = 6,
    prefixes = 6,
  }: { config?: DecideConfig; rounds?: number; prefixes?: number } = {},
): number {
  const reference = build();
  reference.settle(config);
  let cases = 0;
  for (let round = 0; round < rounds; round++) {
    for (let prefix = 0; prefix <= prefixes; prefix++) {
      const w = build();
      for (let i = 0; i < round; i++) w.execute(w.decide(config));
      w.execute(w.decide(config), prefix); // the agent dies after `prefix` actions of this step
      w.idleSince = undefined; // a restarted agent remembers nothing
      w.settle(config);
      check(w, reference);
      cases++;
    }
  }
  return cases;
}

/** The random source of the random walks (sandbox/clock.ts's, seeded: a failing seed replays). */
export interface WalkRandom {
  next(): number;
  int(n: number): number;
  pick<T>(items: readonly T[]): T;
}

/**
 * The opening of a random walk: FleetIQ says ACTIVE, and each game server of `names` is in one of
 * `states`; with `operatorCordonChance`, the node starts cordoned by an operator that often (the walk's
 * end checks the agent leaves that cordon alone).
 */
export function walkWorld(
  rnd: WalkRandom,
  names: readonly string[],
  states: readonly string[],
  operatorCordonChance = 0,
): World {
  return new World({
    status: fresh('ACTIVE'),
    node: makeNode({
      label: 'ACTIVE',
      ...(operatorCordonChance ? { unschedulable: rnd.next() < operatorCordonChance } : {}),
    }),
    gameServers: names.map((n) => gs(n, rnd.pick(states))),
  });
}

/** What a random walk varies beyond players: its own disturbances, and FleetIQ's status as read. */
export interface WalkStep {
  seed: number;
  step: number;
  names: readonly string[];
  config?: DecideConfig;
  /**
   * The walk's own disturbance for the draw `r` (below 0.15 a player allocates `target`, below 0.4 a
   * session on it ends, when those apply; anything else comes here).
   */
  disturb(r: number, target: GameServerView | undefined): void;
  /** The status the agent reads at this step. */
  status(): NonNullable<Observation['status']>;
}

/**
 * One second of a random walk of the node agent: a player allocates or a session ends (or the walk's
 * own disturbance), the agent reads the status, decides, executes, killed after a random prefix of
 * its actions one step in five, and Kubernetes collects the garbage now and then. Returns false when
 * the instance was deregistered before the step (the walk ends); throws when the agent deregistered
 * with a session left.
 */
export function agentWalkStep(w: World, rnd: WalkRandom, s: WalkStep): boolean {
  w.now += 1000;
  const r = rnd.next();
  const target = rnd.pick(s.names);
  const g = w.gameServers.find((x) => x.name === target);
  if (r < 0.15 && g) w.allocate(target);
  else if (r < 0.4 && g?.state === 'Allocated') w.endSession(target, rnd.next() < 0.5);
  else s.disturb(r, g);
  w.status = s.status();
  if (w.deregistered) return false;
  const d = w.decide(s.config);
  w.execute(d, rnd.next() < 0.2 ? rnd.int(d.actions.length + 1) : Infinity);
  if (w.deregistered && w.gameServers.some((x) => x.state === 'Allocated' && !x.podTerminating))
    throw new Error(`seed ${s.seed}: deregistered with sessions left`);
  if (rnd.next() < 0.3) w.collect();
  return true;
}

/** `status` as pubsub publishes it: fresh, but stale one step in ten (a missed poll). */
export function publishedStatus(w: World, rnd: WalkRandom, status: InstanceStatus) {
  return {
    status,
    source: 'redis' as const,
    observedAt: rnd.next() < 0.1 ? w.now - 10 * CONFIG.statusStaleAfterMs : w.now,
  };
}

/** Toggles the operator's drain request on the node: removed if present, else set to `value`. */
export function toggleDrainRequest(w: World, value: string): void {
  if (w.node.annotations[DRAIN_REQUEST_ANNOTATION]) delete w.node.annotations[DRAIN_REQUEST_ANNOTATION];
  else w.node.annotations[DRAIN_REQUEST_ANNOTATION] = value;
}
