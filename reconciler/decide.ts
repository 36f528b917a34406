// The node agent's brain: one pure function from what it observes now to what it should do next.
//
// It is level-triggered like a controller-runtime Reconcile: it looks only at the observation (the
// FleetIQ status, the Node including what the agent recorded in its annotations, the game servers on
// the node, the FleetIQ registration) and never at what happened before, so an agent restarted at any
// point computes the same next step from scratch. The caller (the agent) executes the returned actions,
// observes again and calls decide() again; it never needs to remember a drain's progress itself.
import { type InstanceStatus } from '../shared/contract.js';
import {
  DRAIN_PHASE_LABEL,
  DRAIN_REQUEST_ANNOTATION,
  drainPhaseLabel,
  hasAnyDrainKeyTaint,
  hasDrainTaint,
  labelledStatus,
  readActedOnObservedAt,
  readDrainRecord,
  readDrainRequest,
  type DrainPhase,
  type DrainReason,
  type DrainRecord,
  type DrainRequestMode,
  type NodeView,
} from '../shared/drain-contract.js';
import { GAME_SERVER_STATES, TERMINAL_GAME_SERVER_STATES } from '../shared/agones.js';
import { KARPENTER_DISRUPTED_TAINT_KEY, karpenterDisrupting } from './karpenter.js';
import { planSteps, stepsBeforeReobserving, type Step } from './plan.js';

/** The length of an EC2 Spot interruption notice. */
export const SPOT_NOTICE_MS = 120_000;
/**
 * Seconds of the Spot notice kept back from game server pods' grace period: the kubelet needs time
 * to kill the containers and the agent to deregister before the instance disappears.
 */
export const SPOT_NOTICE_MARGIN_SECONDS = 15;

/**
 * Where the status came from: pubsub through Redis, the agent's own (rate-limited) FleetIQ call, or
 * the instance's own Spot interruption notice in instance metadata (always SPOT_TERMINATING).
 */
export type StatusSource = 'redis' | 'fleetiq' | 'imds';

export interface ObservedStatus {
  status: InstanceStatus;
  /** Epoch ms at which this status was observed in FleetIQ. */
  observedAt: number;
  source: StatusSource;
  /**
   * false for a status nobody vouches for: a Redis message read with signing off. Such a status may
   * drain (erring towards protecting sessions) but never brings a deregistered node back.
   */
  authenticated?: boolean;
}

/** A game server on this node, as seen through its pod and a GET of the GameServer. */
export interface GameServerView {
  namespace: string;
  /** The GameServer's name, which is also its pod's name. */
  name: string;
  /** The GameServer's resourceVersion, for the compare-and-swap that shuts it down. */
  resourceVersion: string;
  /** status.state; an empty string when the GameServer has no state yet. */
  state: string;
  /** The pod carries the drain toleration (gamelift.status/draining=true:NoExecute). */
  podTolerates: boolean;
  /** The pod has a deletionTimestamp: it is already being terminated. */
  podTerminating: boolean;
  /**
   * The pod gained the drain toleration (someone else's write: the webhook admitting an allocation)
   * while the GameServer still read as not in a session: the allocation may not be stored yet.
   */
  allocationPending?: boolean;
  /**
   * The GameServer's status.nodeName does not name this node yet: Agones records it after the pod
   * is scheduled. The agent may not write such a GameServer (the admission policy refuses a node
   * agent's write to a GameServer of another node), so it fences it by deleting its pod instead.
   */
  notYetOnNode?: boolean;
}

/** What the agent knows about its game server's registration in FleetIQ. */
export type RegistrationView =
  /** Not known yet (the agent just started and has not heard from FleetIQ). */
  | { state: 'unknown' }
  /** FleetIQ does not know the game server (never registered, deregistered, or forgotten). */
  | { state: 'absent' }
  | { state: 'registered'; utilization: 'AVAILABLE' | 'UTILIZED' };

export type UtilizationMode = 'always' | 'allocated';

export interface DecideConfig {
  /**
   * `always`: claim and mark UTILIZED from the start, as the old Python adapter did (FleetIQ never scales the
   * instance in). `allocated`: UTILIZED while the node hosts a session, AVAILABLE again after an idle period.
   */
  utilizationMode: UtilizationMode;
  /** Reserved game servers count as sessions (kept through a drain, tolerated, keep the node UTILIZED). */
  protectReserved: boolean;
  /** A status observed longer ago than this is stale: no drain is started, reverted or finished on it. */
  statusStaleAfterMs: number;
  /** `allocated` mode: how long without any session before the instance becomes AVAILABLE again. */
  idlePeriodMs: number;
  /** After this long draining with sessions left, a warning Event is raised (once per drain). */
  drainMaxWaitMs: number;
  /** Explicit opt-in: once the max wait is exceeded, delete the remaining game server pods. */
  forceAfterMaxWait: boolean;
  /** Grace period for the pods deleted because of `forceAfterMaxWait`. */
  forceGraceSeconds: number;
  /** Upper bound of the grace period given to game server pods on a Spot notice. */
  spotGraceSeconds: number;
  /**
   * An empty node is deregistered only once FleetIQ was observed still saying DRAINING this long after
   * the drain began: a DRAINING that flips back to ACTIVE within it leaves the instance registered.
   * 0: deregister as soon as the node is empty.
   */
  drainingStableMs: number;
  /** A node still alive this long after its deregistration, and not brought back, is reported stranded. */
  strandedAfterMs: number;
  /**
   * Karpenter's disruption taint (karpenter.sh/disrupted) on the node counts as a drain request (mode
   * `drain`): the node is fenced and emptied of sessions before Karpenter's own drain gets to them.
   * Absent: off.
   */
  karpenterDrains?: boolean;
}

export interface Observation {
  /** Epoch ms. */
  now: number;
  /** The latest FleetIQ status known for the instance, if any (its freshness is judged here). */
  status?: ObservedStatus;
  node: NodeView;
  /** The game servers whose pods run on this node. */
  gameServers: GameServerView[];
  registration: RegistrationView;
  /** Carried over from the previous Decision: since when the node has hosted no session. */
  idleSince?: number;
}

/** Steps that act on the cluster (and the final FleetIQ deregistration), in the order they must happen. */
export type DrainAction =
  /** Write the drain annotations (null: remove them all). */
  | { kind: 'recordDrainState'; record: DrainRecord | null }
  /** Set the node label gamelift.status/instance-status. */
  | { kind: 'label'; status: InstanceStatus }
  | { kind: 'cordon' }
  | { kind: 'uncordon' }
  /** Ensure the node carries exactly gamelift.status/draining=true:NoExecute. */
  | { kind: 'taint' }
  /** Remove every taint with the drain key. */
  | { kind: 'untaint' }
  /**
   * Move the GameServer to Shutdown with a JSON Patch that first tests resourceVersion and state:
   * either the agent shuts it down or Agones allocates it, never both. A failed test (422) or a
   * conflict is not an error: the game server changed, the next observation decides again.
   */
  | { kind: 'shutdownGameServer'; namespace: string; name: string; resourceVersion: string; state: string }
  /** Append the drain toleration to the pod (pod updates may add tolerations). */
  | { kind: 'addToleration'; namespace: string; pod: string }
  | { kind: 'deletePod'; namespace: string; name: string; graceSeconds: number }
  /** DeregisterGameServer (NotFound counts as done); then no more health reports. */
  | { kind: 'deregister' }
  /** Record the replay high-water mark: the observation time of the status acted on. */
  | { kind: 'recordActedOn'; observedAt: number }
  | { kind: 'emitEvent'; type: 'Normal' | 'Warning'; reason: EventReason; message: string };

/** FleetIQ registration steps, independent of the drain steps (a failing one must not hold up a drain). */
export type MembershipAction =
  /** RegisterGameServer (ConflictException: already registered, learn its utilization). */
  | { kind: 'register' }
  /** UpdateGameServer UTILIZED, after ClaimGameServer when `claim` (the old adapter's `always` behaviour). */
  | { kind: 'markUtilized'; claim: boolean }
  /** Deregister and register again: FleetIQ forbids UTILIZED → AVAILABLE. */
  | { kind: 'reregisterAvailable' };

export type Action = DrainAction | MembershipAction;

/** Kubernetes Event reasons the agent raises on its Node (the agent adds `...Failed` ones for failures). */
export type EventReason =
  | 'FleetIQDraining'
  | 'DrainRequested'
  | 'Drained'
  | 'DrainRequestWithdrawn'
  | 'SpotTerminating'
  | 'Cordoned'
  | 'Fencing'
  | 'Fenced'
  | 'Tainted'
  | 'SessionsRemaining'
  | 'DrainMaxWaitExceeded'
  | 'DrainForced'
  | 'DeletingGameServerPods'
  | 'Deregistered'
  | 'DrainReverted'
  | 'Reregistered'
  | 'NodeStranded';

/**
 * The agent's pacing policy, which decide() turns into the timing of each decision. Values, not
 * behaviour: the agent (and tests) may shorten them.
 */
export interface DecideTimings {
  /** A drain waiting on sessions reads those game servers again this often (Allocated → Ready changes no pod). */
  drainSessionRecheckMs: number;
  /** `allocated` mode outside a drain, with sessions on the node: the same, for utilization. */
  activeSessionRecheckMs: number;
  /**
   * A game server whose allocation may be pending (see GameServerView.allocationPending) is read again
   * this soon: the webhook patches the pod during admission, before the allocation is stored.
   */
  allocationRecheckMs: number;
  /**
   * A step that lost to another writer (an allocation, an operator) is decided again at once this many
   * times in a row; beyond that it is paced like a failure.
   */
  immediateRetriesOnConflict: number;
}

export const DEFAULT_DECIDE_TIMINGS: DecideTimings = {
  drainSessionRecheckMs: 10_000,
  activeSessionRecheckMs: 60_000,
  allocationRecheckMs: 1_000,
  immediateRetriesOnConflict: 3,
};

/** When the agent should look again, and how hard to retry: every timer of the agent comes from here. */
export interface DecisionTiming {
  /**
   * Read the game servers in a session state again after this long (only when there is nothing to do
   * now: a session ending Allocated → Ready changes no pod, so no watch event says so).
   */
  sessionRecheckAfterMs?: number;
  /** Read the game servers whose allocation may be pending again after this long. */
  allocationRecheckAfterMs?: number;
  /** See DecideTimings.immediateRetriesOnConflict. */
  immediateRetriesOnConflict: number;
}

export interface Decision {
  /** The node's drain phase once `actions` have succeeded. */
  phase: DrainPhase;
  /**
   * Executed in order; stop at the first failure and decide again after a back-off. When any action is
   * returned, observe and decide again as soon as they are done: each changes what is observed.
   */
  actions: DrainAction[];
  /** Executed in order, independently of `actions`. */
  membership: MembershipAction[];
  /** Nothing to do now, but decide again after this long even if nothing changes (a timer is pending). */
  wait?: { reason: string; requeueAfterMs: number };
  /** Feed back as `Observation.idleSince` next time. */
  idleSince?: number;
  /** The status was fresh enough to act on. */
  statusFresh: boolean;
  /** Game servers on the node in a session state (Allocated, and Reserved when protected). */
  sessions: number;
  /** The status was refused: observed before one the agent already acted on (a replay). */
  replayed: boolean;
  /** A drain has waited longer than drainMaxWaitMs for sessions that do not end. */
  drainOverdue: boolean;
  /** Deregistered longer than strandedAfterMs ago and still here: not brought back. */
  stranded: boolean;
  /**
   * `actions` as requests (plan.ts), cut where the agent must observe again before going on: after a
   * cordon, before anything that fences or deletes (those were decided on reads older than the cordon).
   */
  steps: Step[];
  /**
   * FleetIQ membership (health reports) may run. Never for a node that says Deregistered: a restarted
   * agent must not report health for (or re-register) an instance it already gave up.
   */
  startMembership: boolean;
  timing: DecisionTiming;
}

/** The Event reason the agent raises when an action fails. */
export function failureReason(action: Action): string {
  switch (action.kind) {
    case 'recordDrainState':
    case 'recordActedOn':
      return 'RecordDrainStateFailed';
    case 'label':
      return 'LabelFailed';
    case 'cordon':
      return 'CordonFailed';
    case 'uncordon':
      return 'UncordonFailed';
    case 'taint':
      return 'TaintFailed';
    case 'untaint':
      return 'UntaintFailed';
    case 'shutdownGameServer':
    case 'addToleration':
      return 'FenceFailed';
    case 'deletePod':
      return 'DeletePodFailed';
    case 'deregister':
      return 'DeregisterFailed';
    case 'emitEvent':
      return 'EventFailed';
    case 'register':
      return 'RegisterFailed';
    case 'markUtilized':
    case 'reregisterAvailable':
      return 'UtilizationFailed';
  }
}

/** What a failed action was doing, for its Warning Event and log. */
export function describeAction(a: Action): string {
  switch (a.kind) {
    case 'shutdownGameServer':
      return `shutting down GameServer ${a.namespace}/${a.name}`;
    case 'addToleration':
      return `adding the drain toleration to pod ${a.namespace}/${a.pod}`;
    case 'deletePod':
      return `deleting pod ${a.namespace}/${a.name}`;
    case 'recordDrainState':
      return 'recording the drain state on the Node';
    case 'label':
      return `labelling the Node ${a.status}`;
    case 'markUtilized':
      return 'marking the game server UTILIZED in FleetIQ';
    case 'reregisterAvailable':
      return 'making the game server AVAILABLE again in FleetIQ';
    default:
      return `${a.kind}`;
  }
}

export function isTerminalState(state: string): boolean {
  return (TERMINAL_GAME_SERVER_STATES as readonly string[]).includes(state);
}

/**
 * A game server in a session state must be kept through a drain. A state this code does not know (a
 * newer Agones) counts as a session too: waiting too long is recoverable, a cut session is not.
 */
export function isSessionState(state: string, config: Pick<DecideConfig, 'protectReserved'>): boolean {
  if (state === 'Allocated') return true;
  if (state === 'Reserved') return config.protectReserved;
  return state !== '' && !(GAME_SERVER_STATES as readonly string[]).includes(state);
}

export function isStatusFresh(
  status: ObservedStatus | undefined,
  now: number,
  staleAfterMs: number,
): boolean {
  return status !== undefined && now - status.observedAt <= staleAfterMs;
}

/**
 * The replay high-water mark on the node, if it can be believed: one further in the future than a
 * status can stay fresh is no observation (a clock that jumped, or a hand-written value) and would
 * refuse every genuine status until then, so it is ignored (the next act writes a good one).
 */
export function actedOnMark(
  annotations: Record<string, string>,
  now: number,
  config: Pick<DecideConfig, 'statusStaleAfterMs'>,
): number | undefined {
  const mark = readActedOnObservedAt(annotations);
  return mark !== undefined && mark <= now + config.statusStaleAfterMs ? mark : undefined;
}

export function decide(
  obs: Observation,
  config: DecideConfig,
  timings: DecideTimings = DEFAULT_DECIDE_TIMINGS,
): Decision {
  const record = readDrainRecord(obs.node.annotations, obs.now);
  const actedOn = actedOnMark(obs.node.annotations, obs.now, config);
  // A status observed before one already acted on is a replay (or hopelessly late): refused, as if
  // there were none. The mark lives on the Node, so this holds across restarts. Never the instance's
  // own Spot notice: EC2 interrupts the instance whatever was acted on before.
  const replayed =
    obs.status !== undefined &&
    obs.status.source !== 'imds' &&
    actedOn !== undefined &&
    obs.status.observedAt < actedOn;
  const statusFresh = !replayed && isStatusFresh(obs.status, obs.now, config.statusStaleAfterMs);
  const fresh = statusFresh ? obs.status!.status : undefined;
  const sessions = obs.gameServers.filter((gs) => isSessionState(gs.state, config));
  const ctx: Ctx = { obs, config, record, sessions, fresh };

  // What the node drains for, most compelling first (DRAIN_REASONS). FleetIQ's statuses count only when
  // fresh; an operator's request holds whatever FleetIQ says, since it is no observation that can age.
  const request = drainRequest(obs.node, config);
  let drain: DrainStep;
  if (record?.phase === 'Deregistered') drain = deregistered(ctx, record, fresh, request?.mode);
  else if (fresh === 'SPOT_TERMINATING') drain = spotTerminating(ctx);
  else if (fresh === 'DRAINING') drain = draining(ctx, FLEETIQ_DRAIN);
  else if (
    request !== undefined &&
    // A FleetIQ or Spot drain on a status gone stale is held, not taken over by the weaker reason.
    (record === null || !drainsOnFleetIQ(record.reason) || fresh === 'ACTIVE')
  )
    drain = draining(ctx, requestDrain(request));
  else if (record !== null && !drainsOnFleetIQ(record.reason))
    // The trigger of a drain FleetIQ never asked for is gone: undone without waiting for a status.
    drain = revert(ctx, record, withdrawnMessage(record, config));
  else if (fresh === 'ACTIVE') drain = active(ctx);
  else drain = record === null ? { phase: 'Active', actions: [] } : holdPhase(ctx, record);
  // The phase label follows the record (`Active` without one); a node without it (new, drained by an
  // older agent, or an operator removed it) gets it now rather than at the drain's next step.
  if (
    !drain.actions.some((a) => a.kind === 'recordDrainState') &&
    (obs.node.labels[DRAIN_PHASE_LABEL] ?? null) !== drainPhaseLabel(record)
  )
    drain.actions.unshift({ kind: 'recordDrainState', record });

  // The high-water mark rides on the first Node write made on a fresh status: no extra request, and
  // every transition (drain, Spot, revert, deregistration, re-registration) writes the Node. Not for
  // the instance's own Spot notice: the mark orders FleetIQ's observations (pubsub's or the agent's
  // own), and the notice's poll times would make FleetIQ statuses observed a second earlier look old.
  const observedAt = obs.status?.observedAt;
  const firstNodeWrite = drain.actions.findIndex((a) => a.kind === 'recordDrainState' || a.kind === 'label');
  if (
    statusFresh &&
    obs.status!.source !== 'imds' &&
    firstNodeWrite >= 0 &&
    (actedOn === undefined || observedAt! > actedOn)
  )
    // Never beyond the agent's own clock: a publisher whose clock runs ahead must not push the mark
    // past the observations that will follow.
    drain.actions.splice(firstNodeWrite, 0, {
      kind: 'recordActedOn',
      observedAt: Math.min(observedAt!, obs.now),
    });

  const member = membership(ctx, drain.phase, fresh);
  const wait = earliest(drain.wait, member.wait);
  return {
    phase: drain.phase,
    actions: drain.actions,
    membership: member.actions,
    ...(wait ? { wait } : {}),
    ...(member.idleSince !== undefined ? { idleSince: member.idleSince } : {}),
    statusFresh,
    sessions: sessions.length,
    replayed,
    drainOverdue: drain.overdue ?? false,
    stranded: drain.stranded ?? false,
    steps: stepsBeforeReobserving(planSteps(drain.actions)),
    startMembership: drain.phase !== 'Deregistered',
    timing: timing(drain.phase, drain.actions.length === 0, sessions.length, obs, config, timings),
  };
}

const DRAINING_PHASES: readonly DrainPhase[] = ['Cordoned', 'Fenced', 'Tainted', 'SpotEvicting', 'Drained'];

/**
 * What a drain is for and how it ends: `deregister` hands the instance back to FleetIQ (which replaces it);
 * `drained` stops at phase Drained, the instance still registered, until the trigger goes or a more
 * compelling reason takes the drain over.
 */
interface DrainGoal {
  reason: DrainReason;
  ending: 'deregister' | 'drained';
  /** Sets the instance-status label to DRAINING (FleetIQ's drain only: the label says what FleetIQ said). */
  labelDraining: boolean;
  /** The Event that opens the drain. */
  opening: (sessions: number) => { reason: EventReason; message: string };
}

const FLEETIQ_DRAIN: DrainGoal = {
  reason: 'fleetiq',
  ending: 'deregister',
  labelDraining: true,
  opening: (n) => ({
    reason: 'FleetIQDraining',
    message: `FleetIQ reports the instance DRAINING: draining the node, ${n} session(s) on it`,
  }),
};

/**
 * A drain asked for from outside: an operator's drain-request annotation, or (when allowed) Karpenter's
 * disruption taint. Both are drains for reason `request`; the operator's annotation, when present, says
 * how the drain ends.
 */
interface DrainRequest {
  mode: DrainRequestMode;
  by: 'operator' | 'karpenter';
}

function drainRequest(node: NodeView, config: DecideConfig): DrainRequest | undefined {
  const mode = readDrainRequest(node.annotations);
  if (mode !== undefined) return { mode, by: 'operator' };
  if (config.karpenterDrains === true && karpenterDisrupting(node)) return { mode: 'drain', by: 'karpenter' };
  return undefined;
}

function requestDrain({ mode, by }: DrainRequest): DrainGoal {
  return {
    reason: 'request',
    ending: mode === 'deregister' ? 'deregister' : 'drained',
    labelDraining: false,
    opening: (n) => ({
      reason: 'DrainRequested',
      message:
        by === 'karpenter'
          ? `Drain requested by Karpenter (taint ${KARPENTER_DISRUPTED_TAINT_KEY}): draining the node, ${n} session(s) on it; it stays registered and drained while the taint is on, and Karpenter takes the node once no session pod is left`
          : `Drain requested (${DRAIN_REQUEST_ANNOTATION}=${mode}): draining the node, ${n} session(s) on it; ${
              mode === 'deregister'
                ? 'the instance is deregistered from FleetIQ once they end'
                : 'it stays registered and drained until the request is removed'
            }`,
    }),
  };
}

/** Reasons whose drain FleetIQ (or EC2 through it) decided: only a fresh FleetIQ status undoes them. */
function drainsOnFleetIQ(reason: DrainReason): boolean {
  return reason === 'fleetiq' || reason === 'spot';
}

function withdrawnMessage(record: DrainRecord, config: DecideConfig): string {
  const karpenter =
    config.karpenterDrains === true ? ` nor Karpenter's ${KARPENTER_DISRUPTED_TAINT_KEY} taint` : '';
  return `The drain request was removed (neither ${DRAIN_REQUEST_ANNOTATION}${karpenter} is on the node; phase ${record.phase})`;
}

function timing(
  phase: DrainPhase,
  idle: boolean,
  sessions: number,
  obs: Observation,
  config: DecideConfig,
  timings: DecideTimings,
): DecisionTiming {
  const out: DecisionTiming = { immediateRetriesOnConflict: timings.immediateRetriesOnConflict };
  if (idle && sessions > 0) {
    if (DRAINING_PHASES.includes(phase)) out.sessionRecheckAfterMs = timings.drainSessionRecheckMs;
    else if (phase === 'Active' && config.utilizationMode === 'allocated')
      out.sessionRecheckAfterMs = timings.activeSessionRecheckMs;
  }
  if (obs.gameServers.some((gs) => gs.allocationPending))
    out.allocationRecheckAfterMs = timings.allocationRecheckMs;
  return out;
}

interface Ctx {
  obs: Observation;
  config: DecideConfig;
  record: DrainRecord | null;
  sessions: GameServerView[];
  /** The FleetIQ status, when fresh enough to act on. */
  fresh: InstanceStatus | undefined;
}

interface DrainStep {
  phase: DrainPhase;
  actions: DrainAction[];
  wait?: { reason: string; requeueAfterMs: number };
  overdue?: boolean;
  stranded?: boolean;
}

const event = (type: 'Normal' | 'Warning', reason: EventReason, message: string): DrainAction => ({
  kind: 'emitEvent',
  type,
  reason,
  message,
});

/** ACTIVE: undo whatever a drain left (before deregistration) and keep the label current. */
function active(ctx: Ctx): DrainStep {
  const { record } = ctx;
  return revert(
    ctx,
    record,
    record === null
      ? undefined
      : `FleetIQ reports the instance ACTIVE again during the drain (phase ${record.phase})`,
    true,
  );
}

/**
 * Undoes a drain: the drain-key taints, the agent's own cordon, the drain record; the instance-status label
 * becomes ACTIVE only on FleetIQ's word (`labelActive`). `why` opens the DrainReverted Event.
 */
function revert(
  ctx: Ctx,
  record: DrainRecord | null,
  why: string | undefined,
  labelActive = false,
): DrainStep {
  const node = ctx.obs.node;
  const actions: DrainAction[] = [];
  const undone: string[] = [];
  if (hasAnyDrainKeyTaint(node)) {
    actions.push({ kind: 'untaint' });
    undone.push('removed the drain taint');
  }
  if (record !== null) {
    if (node.unschedulable && record.cordonedByAgent) {
      actions.push({ kind: 'uncordon' });
      undone.push('uncordoned the node');
    } else if (node.unschedulable) {
      undone.push('left the node cordoned (it was cordoned before the drain)');
    }
  }
  if (labelActive && labelledStatus(node) !== 'ACTIVE') actions.push({ kind: 'label', status: 'ACTIVE' });
  if (record !== null) {
    // Last, so that a partial revert still finds on the node what it has to undo.
    actions.push({ kind: 'recordDrainState', record: null });
    actions.push(
      event(
        'Normal',
        'DrainReverted',
        `${why ?? 'Drain reverted'}: ${undone.length ? undone.join(', ') : 'nothing left to undo'}`,
      ),
    );
  } else if (undone.length) {
    actions.push(
      event('Normal', 'DrainReverted', `Instance ACTIVE: ${undone.join(', ')} left from an earlier drain`),
    );
  }
  return { phase: 'Active', actions };
}

/**
 * Game servers to fence: every one that is neither in a session nor terminal is shut down with a
 * compare-and-swap (a Ready one could be allocated, a starting one would become Ready); with `backfill`,
 * session pods missing the drain toleration get it (the webhook may have been unavailable).
 */
function fenceActions(ctx: Ctx, backfill: boolean): DrainAction[] {
  const out: DrainAction[] = [];
  for (const gs of ctx.obs.gameServers) {
    if (isTerminalState(gs.state)) continue;
    if (isSessionState(gs.state, ctx.config)) {
      if (backfill && !gs.podTolerates && !gs.podTerminating)
        out.push({ kind: 'addToleration', namespace: gs.namespace, pod: gs.name });
    } else if (gs.notYetOnNode) {
      // Still starting (no session can be on it): its pod goes, and the fleet starts another elsewhere.
      if (!gs.podTerminating)
        out.push({
          kind: 'deletePod',
          namespace: gs.namespace,
          name: gs.name,
          graceSeconds: ctx.config.forceGraceSeconds,
        });
    } else {
      out.push({
        kind: 'shutdownGameServer',
        namespace: gs.namespace,
        name: gs.name,
        resourceVersion: gs.resourceVersion,
        state: gs.state,
      });
    }
  }
  return out;
}

function fencingEvent(work: DrainAction[]): DrainAction {
  const shut = work.flatMap((a) =>
    a.kind === 'shutdownGameServer' ? [`${a.namespace}/${a.name} (${a.state})`] : [],
  );
  const tol = work.flatMap((a) => (a.kind === 'addToleration' ? [`${a.namespace}/${a.pod}`] : []));
  const starting = work.flatMap((a) => (a.kind === 'deletePod' ? [`${a.namespace}/${a.name}`] : []));
  const parts: string[] = [];
  if (shut.length) parts.push(`shutting down unallocated game servers ${shut.join(', ')}`);
  if (starting.length) parts.push(`deleting the pods of starting game servers ${starting.join(', ')}`);
  if (tol.length) parts.push(`adding the drain toleration to ${tol.join(', ')}`);
  return event('Normal', 'Fencing', parts.join('; '));
}

function names(gameServers: GameServerView[]): string {
  const shown = gameServers.slice(0, 10).map((gs) => `${gs.namespace}/${gs.name} (${gs.state})`);
  return shown.join(', ') + (gameServers.length > 10 ? `, and ${gameServers.length - 10} more` : '');
}

/**
 * The drain machine, whatever the reason: cordon → fence → taint → wait for the sessions → deregister (or
 * stop at Drained), one verified step at a time.
 */
function draining(ctx: Ctx, goal: DrainGoal): DrainStep {
  const { obs, record } = ctx;
  const node = obs.node;
  if (record === null) {
    const cordonedByAgent = !node.unschedulable;
    const actions: DrainAction[] = [
      // Recorded before the cordon, so the agent never forgets a cordon it made.
      {
        kind: 'recordDrainState',
        record: { phase: 'Cordoned', reason: goal.reason, startedAt: obs.now, cordonedByAgent },
      },
    ];
    actions.push(...statusLabel(ctx, goal));
    if (cordonedByAgent) actions.push({ kind: 'cordon' });
    actions.push(openingEvent(ctx, goal), cordonEvent(cordonedByAgent));
    return { phase: 'Cordoned', actions };
  }

  // Re-establish reason, label and cordon first (a Spot drain becoming a plain drain starts over at
  // Cordoned). A drain taken over for another reason keeps its progress, start and cordon.
  const actions: DrainAction[] = [];
  let next: DrainRecord = record.phase === 'SpotEvicting' ? { ...record, phase: 'Cordoned' } : record;
  if (next.reason !== goal.reason) next = { ...next, reason: goal.reason };
  const cordon = !node.unschedulable;
  if (cordon) next = { ...next, cordonedByAgent: true };
  if (next !== record) actions.push({ kind: 'recordDrainState', record: next });
  actions.push(...statusLabel(ctx, goal));
  if (cordon) actions.push({ kind: 'cordon' }, cordonEvent(true));
  if (record.reason !== goal.reason) actions.push(openingEvent(ctx, goal));
  if (actions.length) return { phase: next.phase, actions };

  const fence = fenceActions(ctx, true);
  switch (record.phase) {
    case 'Cordoned':
      if (fence.length) return { phase: 'Cordoned', actions: [...fence, fencingEvent(fence)] };
      return {
        phase: 'Fenced',
        actions: [
          { kind: 'recordDrainState', record: { ...record, phase: 'Fenced' } },
          event(
            'Normal',
            'Fenced',
            'No unallocated game server left on the node and every session pod tolerates the drain taint',
          ),
        ],
      };
    case 'Fenced': {
      if (fence.length) return { phase: 'Fenced', actions: [...fence, fencingEvent(fence)] };
      const actions: DrainAction[] = [];
      if (!hasDrainTaint(node)) actions.push({ kind: 'taint' });
      actions.push(
        { kind: 'recordDrainState', record: { ...record, phase: 'Tainted' } },
        event('Normal', 'Tainted', 'Tainted the node gamelift.status/draining=true:NoExecute'),
      );
      if (ctx.sessions.length)
        actions.push(
          event(
            'Normal',
            'SessionsRemaining',
            `Waiting for ${ctx.sessions.length} session(s) to end: ${names(ctx.sessions)}`,
          ),
        );
      return { phase: 'Tainted', actions };
    }
    default: {
      // Tainted (or Drained): keep the phase's invariants, wait for the sessions, then end the drain.
      const actions: DrainAction[] = [];
      if (!hasDrainTaint(node))
        actions.push(
          { kind: 'taint' },
          event('Normal', 'Tainted', 'Tainted the node again gamelift.status/draining=true:NoExecute'),
        );
      if (fence.length) actions.push(...fence, fencingEvent(fence));
      if (actions.length) return { phase: record.phase, actions };
      if (ctx.sessions.length) {
        // A drained node is empty by definition: a session found there (one the fence lost a race to)
        // is waited for like any other.
        if (record.phase === 'Drained')
          return {
            phase: 'Tainted',
            actions: [{ kind: 'recordDrainState', record: { ...record, phase: 'Tainted' } }],
          };
        return { phase: 'Tainted', ...waitForSessions(ctx, record) };
      }
      if (goal.ending === 'drained') {
        if (record.phase === 'Drained') return { phase: 'Drained', actions: [] };
        return {
          phase: 'Drained',
          actions: [
            { kind: 'recordDrainState', record: { ...record, phase: 'Drained' } },
            event(
              'Normal',
              'Drained',
              'All sessions on the node have ended: the node is drained and stays cordoned and tainted, the instance registered',
            ),
          ],
        };
      }
      if (goal.reason === 'fleetiq') {
        // Empty: deregister only on evidence that DRAINING held, i.e. an observation made at least
        // drainingStableMs after the drain began (a newer observation wakes the agent when it arrives).
        const stableFrom = record.startedAt + ctx.config.drainingStableMs;
        if (ctx.config.drainingStableMs > 0 && obs.status!.observedAt < stableFrom)
          return {
            phase: record.phase,
            actions: [],
            ...(stableFrom > obs.now
              ? { wait: { reason: 'DrainingNotStableYet', requeueAfterMs: stableFrom - obs.now } }
              : {}),
          };
        return deregistration(ctx, record, 'All sessions on the node have ended');
      }
      return deregistration(
        ctx,
        record,
        'All sessions on the node have ended and the drain request asks for deregistration',
      );
    }
  }
}

/**
 * The instance-status label a drain keeps: DRAINING for FleetIQ's; for any other, what FleetIQ says when
 * it says ACTIVE (a drain FleetIQ gave up and an operator's request took over), else left as it is.
 */
function statusLabel(ctx: Ctx, goal: DrainGoal): DrainAction[] {
  const want: InstanceStatus | undefined = goal.labelDraining
    ? 'DRAINING'
    : ctx.fresh === 'ACTIVE'
      ? 'ACTIVE'
      : undefined;
  return want !== undefined && labelledStatus(ctx.obs.node) !== want ? [{ kind: 'label', status: want }] : [];
}

function openingEvent(ctx: Ctx, goal: DrainGoal): DrainAction {
  const { reason, message } = goal.opening(ctx.sessions.length);
  return event('Normal', reason, message);
}

/** SPOT_TERMINATING: label, cordon, fence and taint at once, delete the game server pods, deregister. */
function spotTerminating(ctx: Ctx): DrainStep {
  const { obs, record } = ctx;
  const node = obs.node;
  const entering = record === null || record.phase !== 'SpotEvicting';
  const inPlace =
    !entering && labelledStatus(node) === 'SPOT_TERMINATING' && node.unschedulable && hasDrainTaint(node);
  if (!inPlace) {
    const cordon = !node.unschedulable;
    const next: DrainRecord = {
      ...(record ?? {}),
      phase: 'SpotEvicting',
      reason: 'spot',
      startedAt: record?.startedAt ?? obs.now,
      cordonedByAgent: cordon || (record?.cordonedByAgent ?? false),
      spotNoticeAt: record?.spotNoticeAt ?? obs.now,
    };
    const actions: DrainAction[] = [];
    if (!sameRecord(record, next)) actions.push({ kind: 'recordDrainState', record: next });
    if (labelledStatus(node) !== 'SPOT_TERMINATING')
      actions.push({ kind: 'label', status: 'SPOT_TERMINATING' });
    if (cordon) actions.push({ kind: 'cordon' });
    // Each Event right after its step: the agent observes again after a cordon before it fences, so
    // Events placed after the fence would be dropped with the rest of this decision, and the next
    // decision no longer enters (the record already says SpotEvicting).
    if (entering)
      actions.push(
        event(
          'Warning',
          'SpotTerminating',
          `Spot interruption notice: cordoning, fencing and tainting the node; ${ctx.sessions.length} session(s) will be asked to end`,
        ),
      );
    if (cordon) actions.push(cordonEvent(true));
    const fence = fenceActions(ctx, false);
    if (fence.length) actions.push(...fence, fencingEvent(fence));
    if (!hasDrainTaint(node))
      actions.push(
        { kind: 'taint' },
        event('Normal', 'Tainted', 'Tainted the node gamelift.status/draining=true:NoExecute'),
      );
    return { phase: 'SpotEvicting', actions };
  }
  const actions = spotEvictionActions(ctx, record!);
  if (actions.length) return { phase: 'SpotEvicting', actions };
  return deregistration(
    ctx,
    record!,
    'Every game server pod on the node has been asked to terminate (Spot notice)',
  );
}

/** Fences what still needs it and deletes every game server pod not yet terminating, within the notice. */
function spotEvictionActions(ctx: Ctx, record: DrainRecord): DrainAction[] {
  const graceSeconds = spotGraceSeconds(ctx, record);
  // Every pod not yet terminating is deleted below with the notice's grace, so the fence need not
  // delete the pods of starting game servers itself.
  const fence = fenceActions(ctx, false).filter((a) => a.kind !== 'deletePod');
  const deletions: DrainAction[] = ctx.obs.gameServers
    .filter((gs) => !gs.podTerminating)
    .map((gs) => ({ kind: 'deletePod', namespace: gs.namespace, name: gs.name, graceSeconds }));
  if (!fence.length && !deletions.length) return [];
  const actions = [...fence, ...deletions];
  if (fence.length) actions.push(fencingEvent(fence));
  if (deletions.length)
    actions.push(
      event(
        'Normal',
        'DeletingGameServerPods',
        `Deleting ${deletions.length} game server pod(s) with a ${graceSeconds}s grace period to fit the Spot notice`,
      ),
    );
  return actions;
}

/** The grace period that still fits in the notice: at most spotGraceSeconds, at least 1 s. */
export function spotGraceSeconds(
  ctx: { obs: { now: number }; config: Pick<DecideConfig, 'spotGraceSeconds'> },
  record: Pick<DrainRecord, 'spotNoticeAt' | 'startedAt'>,
): number {
  const noticeAt = record.spotNoticeAt ?? record.startedAt;
  const left = (noticeAt + SPOT_NOTICE_MS - ctx.obs.now) / 1000 - SPOT_NOTICE_MARGIN_SECONDS;
  return Math.max(1, Math.floor(Math.min(ctx.config.spotGraceSeconds, left)));
}

/**
 * Unknown or stale status during a drain: start, revert or finish nothing (the next fresh status
 * decides), but keep the recorded phase's invariants, since the drain was decided on a fresh status.
 */
function holdPhase(ctx: Ctx, record: DrainRecord): DrainStep {
  const node = ctx.obs.node;
  const actions: DrainAction[] = [];
  let next = record;
  if (!node.unschedulable) {
    next = { ...record, cordonedByAgent: true };
    actions.push({ kind: 'recordDrainState', record: next }, { kind: 'cordon' }, cordonEvent(true));
  }
  if ((record.phase === 'Tainted' || record.phase === 'SpotEvicting') && !hasDrainTaint(node))
    actions.push({ kind: 'taint' }, event('Normal', 'Tainted', 'Tainted the node again'));
  if (record.phase === 'SpotEvicting') {
    actions.push(...spotEvictionActions(ctx, record));
  } else {
    const fence = fenceActions(ctx, true);
    if (fence.length) actions.push(...fence, fencingEvent(fence));
  }
  if (actions.length) return { phase: record.phase, actions };
  if (record.phase === 'Tainted' && ctx.sessions.length)
    return { phase: 'Tainted', ...waitForSessions(ctx, record) };
  return { phase: record.phase, actions: [] };
}

/** Sessions remain: raise the max-wait warning once (and force, only if configured), else wait. */
function waitForSessions(ctx: Ctx, record: DrainRecord): Omit<DrainStep, 'phase'> {
  const { obs, config } = ctx;
  const overdueAt = record.startedAt + config.drainMaxWaitMs;
  if (obs.now < overdueAt)
    return { actions: [], wait: { reason: 'SessionsRemaining', requeueAfterMs: overdueAt - obs.now } };
  const actions: DrainAction[] = [];
  const overdue = { overdue: true } as const;
  if (record.maxWaitWarnedAt === undefined) {
    actions.push(
      { kind: 'recordDrainState', record: { ...record, maxWaitWarnedAt: obs.now } },
      event(
        'Warning',
        'DrainMaxWaitExceeded',
        `Drain started ${Math.round((obs.now - record.startedAt) / 1000)}s ago and ${ctx.sessions.length} session(s) remain: ${names(ctx.sessions)}`,
      ),
    );
  }
  if (config.forceAfterMaxWait) {
    const pods = ctx.sessions.filter((gs) => !gs.podTerminating);
    for (const gs of pods)
      actions.push({
        kind: 'deletePod',
        namespace: gs.namespace,
        name: gs.name,
        graceSeconds: config.forceGraceSeconds,
      });
    if (pods.length)
      actions.push(
        event(
          'Warning',
          'DrainForced',
          `Deleting ${pods.length} game server pod(s) still in session after the maximum drain wait`,
        ),
      );
  }
  return { actions, ...overdue };
}

/**
 * Deregistered is not a dead end while the instance lives: FleetIQ saying ACTIVE again (fresh,
 * authenticated, and newer than the status the deregistration acted on, which the high-water mark
 * guarantees) brings the node back: the drain is undone and, the phase being Active again, the
 * instance is registered anew. A node still here long after its deregistration is reported once.
 */
function deregistered(
  ctx: Ctx,
  record: DrainRecord,
  fresh: InstanceStatus | undefined,
  request: 'drain' | 'deregister' | undefined,
): DrainStep {
  const { obs, config } = ctx;
  const authentic = obs.status?.authenticated !== false;
  // FleetIQ said ACTIVE all along for an instance deregistered on an operator's request: that ACTIVE
  // brings it back only once the request is removed.
  const requested = record.reason === 'request' && request !== undefined;
  const since = record.deregisteredAt ?? record.startedAt;
  // Newer than the deregistration too (the high-water mark may be missing on a node an older agent drained).
  if (fresh === 'ACTIVE' && authentic && !requested && obs.status!.observedAt > since) {
    const step = active(ctx);
    step.actions = step.actions.map((a) =>
      a.kind === 'emitEvent' && a.reason === 'DrainReverted'
        ? event(
            'Normal',
            'Reregistered',
            `FleetIQ reports the instance ACTIVE again after its deregistration: registering it again and reverting the drain (${a.message.replace(/^[^:]*: /, '')})`,
          )
        : a,
    );
    return step;
  }
  const strandedAt = since + config.strandedAfterMs;
  if (obs.now < strandedAt)
    return {
      phase: 'Deregistered',
      actions: [],
      wait: { reason: 'StrandedCheck', requeueAfterMs: strandedAt - obs.now },
    };
  const actions: DrainAction[] = [];
  if (record.strandedWarnedAt === undefined) {
    const s = obs.status;
    const why = requested
      ? `it was deregistered on request (${DRAIN_REQUEST_ANNOTATION}) and nobody has terminated it; removing the request registers it again`
      : fresh === 'ACTIVE'
        ? 'FleetIQ says ACTIVE, but through an unsigned status that cannot bring a node back'
        : fresh !== undefined
          ? `FleetIQ still says ${fresh} but has not terminated the instance`
          : s === undefined
            ? 'no FleetIQ status is known'
            : `the FleetIQ status (${s.status}) is stale or refused`;
    actions.push(
      { kind: 'recordDrainState', record: { ...record, strandedWarnedAt: obs.now } },
      event(
        'Warning',
        'NodeStranded',
        `Deregistered ${Math.round((obs.now - since) / 1000)}s ago and still running: ${why}. The node stays cordoned and tainted; terminate the instance, or restore FleetIQ's status (the agent re-registers on a fresh ACTIVE)`,
      ),
    );
  }
  return { phase: 'Deregistered', actions, stranded: true };
}

function deregistration(ctx: Ctx, record: DrainRecord, why: string): DrainStep {
  return {
    phase: 'Deregistered',
    actions: [
      { kind: 'deregister' },
      // After the call: a crash in between only repeats an idempotent deregistration.
      { kind: 'recordDrainState', record: { ...record, phase: 'Deregistered', deregisteredAt: ctx.obs.now } },
      event(
        'Normal',
        'Deregistered',
        record.reason === 'request'
          ? `${why}: deregistered the instance from FleetIQ; it is left to be terminated (remove the request to register it again)`
          : `${why}: deregistered the instance from FleetIQ, which will terminate it`,
      ),
    ],
  };
}

function cordonEvent(byAgent: boolean): DrainAction {
  return byAgent
    ? event('Normal', 'Cordoned', 'Cordoned the node: no new game server pods will be scheduled on it')
    : event(
        'Normal',
        'Cordoned',
        'The node was already unschedulable (cordoned by someone else): it will stay cordoned if the drain is reverted',
      );
}

function sameRecord(a: DrainRecord | null, b: DrainRecord | null): boolean {
  if (a === null || b === null) return a === b;
  return (
    a.phase === b.phase &&
    a.reason === b.reason &&
    a.startedAt === b.startedAt &&
    a.cordonedByAgent === b.cordonedByAgent &&
    a.spotNoticeAt === b.spotNoticeAt &&
    a.maxWaitWarnedAt === b.maxWaitWarnedAt &&
    a.deregisteredAt === b.deregisteredAt &&
    a.strandedWarnedAt === b.strandedWarnedAt
  );
}

function earliest(
  a: { reason: string; requeueAfterMs: number } | undefined,
  b: { reason: string; requeueAfterMs: number } | undefined,
): { reason: string; requeueAfterMs: number } | undefined {
  if (!a) return b;
  if (!b) return a;
  return b.requeueAfterMs < a.requeueAfterMs ? b : a;
}

/**
 * FleetIQ registration and utilization. Registration only happens outside a drain (a draining instance
 * that FleetIQ forgot is left alone) and never after deregistration. Marking UTILIZED protects
 * sessions, so it happens in any phase but Deregistered; becoming AVAILABLE again (deregister and
 * register anew) only with a fresh ACTIVE status and no drain.
 */
function membership(
  ctx: Ctx,
  phase: DrainPhase,
  fresh: InstanceStatus | undefined,
): { actions: MembershipAction[]; wait?: { reason: string; requeueAfterMs: number }; idleSince?: number } {
  const { obs, config } = ctx;
  const hasSessions = ctx.sessions.length > 0;
  const idleSince = hasSessions ? undefined : (obs.idleSince ?? obs.now);
  const out = (actions: MembershipAction[], wait?: { reason: string; requeueAfterMs: number }) => ({
    actions,
    ...(wait ? { wait } : {}),
    ...(idleSince !== undefined ? { idleSince } : {}),
  });
  if (phase === 'Deregistered') return out([]);
  const reg = obs.registration;
  if (reg.state !== 'registered') return out(phase === 'Active' ? [{ kind: 'register' }] : []);
  if (config.utilizationMode === 'always')
    return out(reg.utilization === 'UTILIZED' ? [] : [{ kind: 'markUtilized', claim: true }]);
  if (hasSessions) return out(reg.utilization === 'UTILIZED' ? [] : [{ kind: 'markUtilized', claim: false }]);
  if (reg.utilization === 'AVAILABLE' || phase !== 'Active' || fresh !== 'ACTIVE') return out([]);
  const availableAt = idleSince! + config.idlePeriodMs;
  if (obs.now >= availableAt) return out([{ kind: 'reregisterAvailable' }]);
  return out([], { reason: 'IdleBeforeAvailable', requeueAfterMs: availableAt - obs.now });
}
