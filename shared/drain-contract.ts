// The drain contract: what the node agent and the webhook agree on, and what operators see on the
// cluster. One module, so that "tolerates the drain taint", the patch that adds the toleration and the
// encoding of the drain state on the Node exist once. Pure: no I/O, so it is tested exhaustively
// (test/shared/drain-contract.test.ts). Why the taint is NoExecute, which game server states are
// protected and how the pieces fit together: docs/drain-contract.md.
//
// The names themselves (taint key, value, effect, labels) stay in ./contract.ts with every other name
// the components share; the drain ones are re-exported here so one import brings the whole contract.
//
// The Node is the node agent's only durable memory: everything it needs to decide again from scratch
// after a restart and cannot observe elsewhere (whether it cordoned the node itself, when the drain
// began, when the Spot notice arrived, whether the max-wait warning already went out, whether it
// deregistered) lives in the annotations below. These names are a contract with operators (README,
// `kubectl fleetiq status`).
import {
  DRAIN_TAINT,
  DRAIN_TAINT_EFFECT,
  DRAIN_TAINT_KEY,
  DRAIN_TAINT_VALUE,
  DRAIN_TOLERATION,
  DRAIN_TOLERATION_ANNOTATION,
  FLEETIQ_STATUSES,
  INSTANCE_STATUS_LABEL,
  LEGACY_ACTIVE_TAINT_KEY,
  type InstanceStatus,
} from './contract.js';

export {
  DRAIN_TAINT,
  DRAIN_TAINT_EFFECT,
  DRAIN_TAINT_KEY,
  DRAIN_TAINT_VALUE,
  DRAIN_TOLERATION,
  DRAIN_TOLERATION_ANNOTATION,
  INSTANCE_STATUS_LABEL,
};

/** Prefix of every annotation the agent owns on its Node. */
export const NODE_ANNOTATION_PREFIX = 'gamelift.status/';

/**
 * The drain phase the node has reached. Absent means `Active` (no drain in progress): the agent
 * removes all its drain annotations when a drain is reverted, so healthy nodes carry none.
 */
export const DRAIN_PHASE_ANNOTATION = 'gamelift.status/drain-phase';
/** RFC 3339 time the agent first acted on DRAINING or SPOT_TERMINATING for this drain. */
export const DRAIN_STARTED_AT_ANNOTATION = 'gamelift.status/drain-started-at';
/**
 * `"true"` when the agent cordoned the node itself, `"false"` when the node was already unschedulable
 * (an operator's cordon). A revert uncordons only in the first case, so an operator's cordon survives.
 */
export const CORDONED_BY_AGENT_ANNOTATION = 'gamelift.status/cordoned-by-agent';
/** RFC 3339 time the agent first saw SPOT_TERMINATING: the 2-minute notice is counted from here. */
export const SPOT_NOTICE_AT_ANNOTATION = 'gamelift.status/spot-notice-at';
/**
 * Why the node drains (see DrainReason). Absent on a drain recorded by an older agent: read as
 * `spot` in phase SpotEvicting and `fleetiq` otherwise, which is what those agents drained for.
 */
export const DRAIN_REASON_ANNOTATION = 'gamelift.status/drain-reason';
/** RFC 3339 time the "drain exceeded its maximum wait" warning was raised (raised once per drain). */
export const DRAIN_MAX_WAIT_WARNED_AT_ANNOTATION = 'gamelift.status/drain-max-wait-warned-at';

/**
 * Label mirroring the drain phase annotation (same key, same value), so that `kubectl get nodes -L
 * gamelift.status/drain-phase` shows it and `-l gamelift.status/drain-phase=Tainted` selects on it:
 * Kubernetes selects on labels only. Every phase name is a valid label value. `Active` when no drain is
 * in progress (unlike the annotation, which is then absent), so the column is filled on every node the
 * agent runs on. The annotations stay: they carry the times.
 */
export const DRAIN_PHASE_LABEL = 'gamelift.status/drain-phase';

/**
 * The FleetIQ status the agent last observed for its instance (whether or not it acted on it), and
 * the RFC 3339 time FleetIQ was observed saying so. Unlike the `instance-status` label (the status the
 * agent last acted on: it stays DRAINING after deregistration, or while the status is stale), these
 * say what FleetIQ itself says. Not drain state: a revert keeps them.
 */
export const FLEETIQ_STATUS_ANNOTATION = 'gamelift.status/fleetiq-status';
export const FLEETIQ_STATUS_OBSERVED_AT_ANNOTATION = 'gamelift.status/fleetiq-status-observed-at';
/**
 * While the status does not change, its observation time is rewritten at most this often: often enough
 * that an old time means the agent no longer hears from FleetIQ, rarely enough that an idle node costs
 * the API server almost nothing (one PATCH per node every 5 minutes).
 */
export const OBSERVED_STATUS_REFRESH_MS = 300_000;

/** RFC 3339 time the agent deregistered the instance (a node still alive long after is stranded). */
export const DEREGISTERED_AT_ANNOTATION = 'gamelift.status/deregistered-at';
/** RFC 3339 time the `NodeStranded` warning was raised (raised once per deregistration). */
export const STRANDED_WARNED_AT_ANNOTATION = 'gamelift.status/stranded-warned-at';

/**
 * The high-water mark against replays: the RFC 3339 observation time (milliseconds) of the newest
 * status the agent acted on. A status observed earlier is refused, also by an agent restarted since,
 * so a genuine, signed DRAINING captured before a revert cannot drain the node again. Not drain
 * state: a revert keeps it (that is when it matters).
 */
export const ACTED_ON_OBSERVED_AT_ANNOTATION = 'gamelift.status/acted-on-observed-at';

/**
 * The RFC 3339 noticeTime of the last EC2 rebalance recommendation the agent acknowledged (raised its
 * `RebalanceRecommendation` Event for). The recommendation stays in instance metadata, so without
 * this a restarted agent would raise the Event again. Not drain state: a revert keeps it (the
 * recommendation is still there after its drain window).
 */
export const REBALANCE_SEEN_ANNOTATION = 'gamelift.status/rebalance-notice-time';

/** The rebalance recommendation the agent last acknowledged (its noticeTime, epoch ms), if any. */
export function readRebalanceSeen(annotations: Record<string, string>): number | undefined {
  return parseTime(annotations[REBALANCE_SEEN_ANNOTATION]);
}

/** Every annotation the agent owns; a revert removes them all. */
export const DRAIN_ANNOTATIONS = [
  DRAIN_PHASE_ANNOTATION,
  DRAIN_REASON_ANNOTATION,
  DRAIN_STARTED_AT_ANNOTATION,
  CORDONED_BY_AGENT_ANNOTATION,
  SPOT_NOTICE_AT_ANNOTATION,
  DRAIN_MAX_WAIT_WARNED_AT_ANNOTATION,
  DEREGISTERED_AT_ANNOTATION,
  STRANDED_WARNED_AT_ANNOTATION,
] as const;

/**
 * The drain phases, in the order a DRAINING drain goes through them. Each recorded phase means the
 * step it names is DONE (verified on an observation), not merely attempted:
 *
 * - `Active`: no drain. The node carries the label `gamelift.status/instance-status=ACTIVE` and none of
 *   the drain annotations.
 * - `Cordoned`: the instance was seen DRAINING; the node is labelled DRAINING and unschedulable (by the
 *   agent or by an operator, see `cordoned-by-agent`). Fencing is in progress: game servers that are
 *   not Allocated (nor Reserved, when Reserved is protected) are being moved to Shutdown with a
 *   compare-and-swap, and Allocated pods missing the drain toleration get it.
 * - `Fenced`: no unallocated game server is left on the node and every Allocated (Reserved) pod tolerates
 *   the drain taint. Tainting is next.
 * - `Tainted`: the node carries `gamelift.status/draining=true:NoExecute`; the agent waits for the last
 *   Allocated (Reserved) game server to end, shutting down any that returns to Ready.
 * - `SpotEvicting`: the instance was seen SPOT_TERMINATING: the node is labelled, cordoned, fenced and
 *   tainted at once and the remaining game server pods are deleted with a grace period that fits the
 *   2-minute notice.
 * - `Deregistered`: the agent deregistered the instance from FleetIQ, which will terminate it. Terminal:
 *   the agent does nothing more on this node (no health reports, no re-registration after a restart).
 *
 * A drain that sees ACTIVE again before `Deregistered` is reverted (taint removed, the agent's own
 * cordon lifted, label set back to ACTIVE, drain annotations removed) in one step, so there is no
 * recorded "reverting" phase: until the annotations are removed, the node still says what to undo.
 */
export const DRAIN_PHASES = [
  'Active',
  'Cordoned',
  'Fenced',
  'Tainted',
  'SpotEvicting',
  'Drained',
  'Deregistered',
] as const;
export type DrainPhase = (typeof DRAIN_PHASES)[number];

/**
 * Why a node drains: what the current phase was entered for, most compelling first. A more compelling
 * reason that appears during a drain takes it over (a request drain becomes a FleetIQ one when FleetIQ
 * says DRAINING, anything becomes a Spot drain on a notice).
 *
 * - `spot`: the instance's Spot interruption notice (instance metadata, or FleetIQ's SPOT_TERMINATING).
 * - `fleetiq`: FleetIQ reports the instance DRAINING. Ends in `Deregistered`, so FleetIQ replaces it.
 * - `request`: an operator (or automation: `kubectl fleetiq drain`, a rolling upgrade) asked for it with
 *   the drain-request annotation. Ends in `Drained` (or `Deregistered` when the request says so).
 * - `rebalance`: EC2 published a rebalance recommendation for the instance. Ends in `Drained` and waits
 *   there for FleetIQ or a Spot notice, or is reverted when neither comes in time.
 */
export const DRAIN_REASONS = ['spot', 'fleetiq', 'request', 'rebalance'] as const;
export type DrainReason = (typeof DRAIN_REASONS)[number];

/**
 * An operator's drain request: present (any value but those below reads as `drain`) while the node
 * should drain; removing it undoes a drain made for it (`kubectl fleetiq undrain`).
 * - `drain`: empty the node of sessions and stop at phase `Drained`; the instance stays registered.
 * - `deregister`: the same, then deregister the instance from FleetIQ (phase `Deregistered`).
 */
export const DRAIN_REQUEST_ANNOTATION = 'gamelift.status/drain-request';
export const DRAIN_REQUEST_MODES = ['drain', 'deregister'] as const;
/**
 * RFC 3339 time the request was made, written beside it by `kubectl fleetiq drain` (and removed with it
 * by `undrain`). Informational: the agent never reads it; a rolling drain measures from it how long a
 * node has been unavailable when the agent has not started the drain yet (no agent on the node).
 */
export const DRAIN_REQUESTED_AT_ANNOTATION = 'gamelift.status/drain-requested-at';
export type DrainRequestMode = (typeof DRAIN_REQUEST_MODES)[number];

/** The operator's drain request on the node, if any (a value that is not a known mode reads as `drain`). */
export function readDrainRequest(annotations: Record<string, string>): DrainRequestMode | undefined {
  const v = annotations[DRAIN_REQUEST_ANNOTATION];
  if (v === undefined) return undefined;
  return v.trim() === 'deregister' ? 'deregister' : 'drain';
}

/** What the agent recorded about the drain in progress (null: none, i.e. phase Active). */
export interface DrainRecord {
  phase: Exclude<DrainPhase, 'Active'>;
  /** Why the node drains (see DrainReason). */
  reason: DrainReason;
  /** Epoch ms. */
  startedAt: number;
  cordonedByAgent: boolean;
  /** Epoch ms the Spot notice was first seen, once it was. */
  spotNoticeAt?: number;
  /** Epoch ms the max-wait warning was raised, once it was. */
  maxWaitWarnedAt?: number;
  /** Epoch ms of the deregistration (phase Deregistered). */
  deregisteredAt?: number;
  /** Epoch ms the stranded-node warning was raised, once it was. */
  strandedWarnedAt?: number;
}

/** The parts of a Node the agent reads. */
export interface NodeView {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** spec.unschedulable (cordoned). */
  unschedulable: boolean;
  taints: Taint[];
}

/**
 * Reads the drain record from the node's annotations. Values written by someone else are not trusted
 * to be well formed: an unknown phase is read as `Cordoned` (a drain of unknown progress: the agent
 * re-verifies every step from there, which is safe whichever way the drain goes next), a missing or
 * invalid start time as `fallbackNow` (the max-wait clock restarts), and anything but `"true"` in
 * `cordoned-by-agent` as false (never uncordon a node the agent is not sure it cordoned).
 */
export function readDrainRecord(
  annotations: Record<string, string>,
  fallbackNow: number,
): DrainRecord | null {
  const rawPhase = annotations[DRAIN_PHASE_ANNOTATION];
  if (rawPhase === undefined || rawPhase === 'Active') return null;
  const phase = (DRAIN_PHASES as readonly string[]).includes(rawPhase)
    ? (rawPhase as DrainRecord['phase'])
    : 'Cordoned';
  const rawReason = annotations[DRAIN_REASON_ANNOTATION];
  const reason: DrainReason = (DRAIN_REASONS as readonly string[]).includes(rawReason ?? '')
    ? (rawReason as DrainReason)
    : phase === 'SpotEvicting'
      ? 'spot'
      : 'fleetiq';
  const record: DrainRecord = {
    phase,
    reason,
    startedAt: parseTime(annotations[DRAIN_STARTED_AT_ANNOTATION]) ?? fallbackNow,
    cordonedByAgent: annotations[CORDONED_BY_AGENT_ANNOTATION] === 'true',
  };
  const spotNoticeAt = parseTime(annotations[SPOT_NOTICE_AT_ANNOTATION]);
  if (spotNoticeAt !== undefined) record.spotNoticeAt = spotNoticeAt;
  const warnedAt = parseTime(annotations[DRAIN_MAX_WAIT_WARNED_AT_ANNOTATION]);
  if (warnedAt !== undefined) record.maxWaitWarnedAt = warnedAt;
  const deregisteredAt = parseTime(annotations[DEREGISTERED_AT_ANNOTATION]);
  if (deregisteredAt !== undefined) record.deregisteredAt = deregisteredAt;
  const strandedWarnedAt = parseTime(annotations[STRANDED_WARNED_AT_ANNOTATION]);
  if (strandedWarnedAt !== undefined) record.strandedWarnedAt = strandedWarnedAt;
  return record;
}

/**
 * The annotation changes that record `record` (null: remove them all), as a merge-patch fragment
 * for `metadata.annotations`: a null value deletes the key.
 */
export function drainRecordAnnotations(record: DrainRecord | null): Record<string, string | null> {
  const out: Record<string, string | null> = Object.fromEntries(DRAIN_ANNOTATIONS.map((a) => [a, null]));
  if (record === null) return out;
  out[DRAIN_PHASE_ANNOTATION] = record.phase;
  out[DRAIN_REASON_ANNOTATION] = record.reason;
  out[DRAIN_STARTED_AT_ANNOTATION] = new Date(record.startedAt).toISOString();
  out[CORDONED_BY_AGENT_ANNOTATION] = String(record.cordonedByAgent);
  if (record.spotNoticeAt !== undefined)
    out[SPOT_NOTICE_AT_ANNOTATION] = new Date(record.spotNoticeAt).toISOString();
  if (record.maxWaitWarnedAt !== undefined)
    out[DRAIN_MAX_WAIT_WARNED_AT_ANNOTATION] = new Date(record.maxWaitWarnedAt).toISOString();
  if (record.deregisteredAt !== undefined)
    out[DEREGISTERED_AT_ANNOTATION] = new Date(record.deregisteredAt).toISOString();
  if (record.strandedWarnedAt !== undefined)
    out[STRANDED_WARNED_AT_ANNOTATION] = new Date(record.strandedWarnedAt).toISOString();
  return out;
}

/** Applies `drainRecordAnnotations(record)` to an annotation map (what the node looks like afterwards). */
export function withDrainRecord(
  annotations: Record<string, string>,
  record: DrainRecord | null,
): Record<string, string> {
  const out = { ...annotations };
  for (const [k, v] of Object.entries(drainRecordAnnotations(record))) {
    if (v === null) delete out[k];
    else out[k] = v;
  }
  return out;
}

/** The drain phase label that goes with `record`: `Active` without a drain. */
export function drainPhaseLabel(record: DrainRecord | null): DrainPhase {
  return record === null ? 'Active' : record.phase;
}

/** Applies `drainPhaseLabel(record)` to a label map (what the node looks like afterwards). */
export function withDrainPhaseLabel(
  labels: Record<string, string>,
  record: DrainRecord | null,
): Record<string, string> {
  return { ...labels, [DRAIN_PHASE_LABEL]: drainPhaseLabel(record) };
}

/** What the agent recorded as FleetIQ's last observed status (undefined when absent or malformed). */
export function readObservedStatus(
  annotations: Record<string, string>,
): { status: InstanceStatus; observedAt: number } | undefined {
  const status = annotations[FLEETIQ_STATUS_ANNOTATION];
  const observedAt = parseTime(annotations[FLEETIQ_STATUS_OBSERVED_AT_ANNOTATION]);
  if (!(FLEETIQ_STATUSES as readonly string[]).includes(status) || observedAt === undefined) return undefined;
  return { status: status as InstanceStatus, observedAt };
}

/**
 * The annotations to write so the node records `current` (the agent's latest FleetIQ status), or null
 * when what it records is good enough: the same status, observed less than `refreshMs` before (an
 * older observation never replaces a newer one of the same status).
 */
export function observedStatusAnnotations(
  annotations: Record<string, string>,
  current: { status: InstanceStatus; observedAt: number } | undefined,
  refreshMs: number = OBSERVED_STATUS_REFRESH_MS,
): Record<string, string> | null {
  if (current === undefined) return null;
  const recorded = readObservedStatus(annotations);
  if (recorded?.status === current.status && current.observedAt - recorded.observedAt < refreshMs)
    return null;
  return {
    [FLEETIQ_STATUS_ANNOTATION]: current.status,
    [FLEETIQ_STATUS_OBSERVED_AT_ANNOTATION]: new Date(current.observedAt).toISOString(),
  };
}

/**
 * The replay high-water mark recorded on the node (undefined: none, or not a time: a mark someone
 * else garbled cannot be trusted to refuse anything, and the agent writes a good one at its next act).
 */
export function readActedOnObservedAt(annotations: Record<string, string>): number | undefined {
  return parseTime(annotations[ACTED_ON_OBSERVED_AT_ANNOTATION]);
}

/** The instance status the node's label says the agent last saw, if it is a valid one. */
export function labelledStatus(node: NodeView): InstanceStatus | undefined {
  const v = node.labels[INSTANCE_STATUS_LABEL];
  return (FLEETIQ_STATUSES as readonly string[]).includes(v) ? (v as InstanceStatus) : undefined;
}

// ---- the taint, the toleration, and who is protected ----

/** A node taint, reduced to what the contract looks at (timeAdded is ignored). */
export interface Taint {
  key: string;
  value?: string;
  effect: string;
}

/** A pod toleration as the API server sends it. */
export interface Toleration {
  key?: string;
  operator?: string;
  value?: string;
  effect?: string;
  tolerationSeconds?: number | null;
}

/** Node label values (`instance-status`) under which no new session may start on the node. */
export const FENCED_NODE_STATUSES: ReadonlySet<string> = new Set<InstanceStatus>([
  'DRAINING',
  'SPOT_TERMINATING',
]);

/** The node labels that say whether a node takes new sessions (see nodeRefusesSessions). */
export const NODE_DRAIN_LABELS = [INSTANCE_STATUS_LABEL, DRAIN_PHASE_LABEL] as const;

/** What of a node says whether it takes new sessions (see nodeRefusesSessions). */
export interface NodeSessionSignals {
  /** Its labels (only NODE_DRAIN_LABELS are looked at). */
  labels: Readonly<Record<string, string>>;
  /** `spec.unschedulable`. */
  cordoned: boolean;
  /** The keys of its taints. */
  taintKeys: readonly string[];
}

/**
 * Why no new session may start on a node, or undefined when one may. The answer is the text after
 * "the node is" in the webhook's refusal.
 *
 * - FleetIQ drains it (`instance-status` DRAINING or SPOT_TERMINATING), or the agent records a drain in
 *   the `drain-phase` label for a reason under which that label stays ACTIVE (an operator's request, a
 *   rebalance recommendation, Karpenter). Any phase but `Active` (absent: a node the agent does not run
 *   on, or has not labelled yet) refuses; that includes a value this version does not know, which is
 *   read as a drain of unknown progress, as readDrainRecord does.
 * - The old Python adapter's daemon drains it: cordoned while it carries that daemon's
 *   `gamelift.status/active` taint. The old daemon cordons, then lists the Allocated game servers, adds
 *   the toleration to their pods and taints the node, without fencing: the taint evicts the Ready game
 *   servers, and one allocated as its pod is being deleted loses its session even though this webhook
 *   made the pod tolerate the taint. Refusing from the cordon, which comes a list and some patches
 *   before the taint, closes that window (docs/migration.md). A cordon alone refuses nothing: the agent
 *   labels its own drains, and an operator's cordon of a node the agent runs is not a drain.
 */
export function nodeRefusesSessions(node: NodeSessionSignals): string | undefined {
  const status = node.labels[INSTANCE_STATUS_LABEL];
  if (status !== undefined && FENCED_NODE_STATUSES.has(status)) return `${status} (${INSTANCE_STATUS_LABEL})`;
  const phase = node.labels[DRAIN_PHASE_LABEL];
  if (phase !== undefined && phase !== 'Active') return `draining (${DRAIN_PHASE_LABEL}=${phase})`;
  if (node.cordoned && node.taintKeys.includes(LEGACY_ACTIVE_TAINT_KEY))
    return `cordoned with the old adapter's ${LEGACY_ACTIVE_TAINT_KEY} taint (its daemon drains it)`;
  return undefined;
}

/**
 * The selections that together hold every node nodeRefusesSessions refuses, for a cache of those nodes
 * (Kubernetes selectors cannot say "or": one list and watch per selection). Each label selector is
 * authoritative for its own label only; the cordoned nodes' selection for the cordon and the taints.
 * test/shared/drain-contract.test.ts checks they agree with nodeRefusesSessions on every combination.
 */
export const NO_SESSION_NODE_SELECTORS = {
  [INSTANCE_STATUS_LABEL]: `${INSTANCE_STATUS_LABEL} in (${[...FENCED_NODE_STATUSES].sort().join(',')})`,
  // `notin` alone also matches nodes without the label: the key must exist too.
  [DRAIN_PHASE_LABEL]: `${DRAIN_PHASE_LABEL},${DRAIN_PHASE_LABEL} notin (Active)`,
} as const satisfies Record<(typeof NODE_DRAIN_LABELS)[number], string>;

/** The field selector of the cordoned nodes (the third selection of NO_SESSION_NODE_SELECTORS). */
export const CORDONED_NODES_FIELD_SELECTOR = 'spec.unschedulable=true';

/** The signals of a Node object as the API server sends it. */
export function nodeSessionSignals(node: {
  metadata?: { labels?: Readonly<Record<string, string>> | undefined };
  spec?: { unschedulable?: boolean | undefined; taints?: readonly { key?: string }[] | undefined };
}): NodeSessionSignals {
  const labels: Record<string, string> = {};
  for (const key of NODE_DRAIN_LABELS) {
    const value = node.metadata?.labels?.[key];
    if (value !== undefined) labels[key] = value;
  }
  return {
    labels,
    cordoned: node.spec?.unschedulable === true,
    taintKeys: (node.spec?.taints ?? []).flatMap((t) => (typeof t.key === 'string' ? [t.key] : [])),
  };
}

/** The Agones states whose game servers hold a session that a drain must let finish. */
export type ProtectedState = 'Allocated' | 'Reserved';

/**
 * Whether a Reserved game server is protected like an Allocated one, unless configured otherwise. One
 * default for both components: if the webhook did not make a Reserved pod tolerate the taint while the
 * agent waited for it (or the reverse), the player's session would be evicted or the drain held for
 * nothing. Reserved is Agones' "about to get a player" state, so protecting it is the safe side.
 */
export const DEFAULT_PROTECT_RESERVED = true;

/** The protected states for a "protect Reserved" setting. */
export function protectedStates(protectReserved: boolean): ProtectedState[] {
  return protectReserved ? ['Allocated', 'Reserved'] : ['Allocated'];
}

/**
 * A toleration that keeps a pod on a node tainted gamelift.status/draining=true:NoExecute for good,
 * by Kubernetes' own matching rules: an empty effect matches every effect, an empty (or absent)
 * operator means Equal, `Exists` matches any value, and an empty key with `Exists` tolerates every
 * taint. One with tolerationSeconds only delays the eviction, so it does not count. Anything that is
 * not a toleration object tolerates nothing.
 */
export function toleratesDrainTaint(t: Toleration): boolean {
  if (typeof t !== 'object' || t === null) return false;
  if (t.tolerationSeconds !== undefined && t.tolerationSeconds !== null) return false;
  if (t.effect && t.effect !== DRAIN_TAINT_EFFECT) return false;
  const operator = t.operator || 'Equal';
  if (!t.key) return operator === 'Exists';
  if (t.key !== DRAIN_TAINT_KEY) return false;
  return operator === 'Exists' || (operator === 'Equal' && (t.value ?? '') === DRAIN_TAINT_VALUE);
}

/** The parts of a Pod the toleration check and patch read (annotations: for Karpenter's mark). */
export interface PodTolerations {
  metadata: { uid?: string; resourceVersion?: string; annotations?: Readonly<Record<string, string>> | null };
  spec?: { tolerations?: readonly Toleration[] | null } | null;
}

/** Whether the pod's tolerations (as sent: not trusted to be a list) include one of the drain taint. */
export function podToleratesDrain(pod: Pick<PodTolerations, 'spec'>): boolean {
  const list = pod.spec?.tolerations;
  return Array.isArray(list) && list.some(toleratesDrainTaint);
}

export type JsonPatchOp =
  { op: 'add' | 'replace' | 'test'; path: string; value: unknown } | { op: 'remove'; path: string };

/**
 * The JSON Patch that adds the drain toleration to a pod, for the webhook (on an allocation) and the
 * node agent (backfilling during a drain) alike. The API server lets a pod update add tolerations,
 * never change or remove them, so the patch appends. Its `test` operations make it apply to exactly
 * the pod that was read: its uid (never a re-created namesake), and its toleration list as read — or,
 * when it had no list, its resourceVersion, since `add /spec/tolerations` would replace a list added
 * meanwhile. The list rather than the resourceVersion where possible, so that the kubelet's status
 * updates do not make it fail. A failed test is a 422: the caller reads the pod again and decides again.
 */
export function drainTolerationPatch(pod: PodTolerations): JsonPatchOp[] {
  const ops: JsonPatchOp[] = [{ op: 'test', path: '/metadata/uid', value: pod.metadata.uid }];
  const tolerations = pod.spec?.tolerations;
  if (Array.isArray(tolerations)) {
    ops.push({ op: 'test', path: '/spec/tolerations', value: tolerations });
    ops.push({ op: 'add', path: '/spec/tolerations/-', value: { ...DRAIN_TOLERATION } });
  } else {
    ops.push({ op: 'test', path: '/metadata/resourceVersion', value: pod.metadata.resourceVersion });
    ops.push({ op: 'add', path: '/spec/tolerations', value: [{ ...DRAIN_TOLERATION }] });
  }
  return ops;
}

// ---- Karpenter's mark on session pods ----

/**
 * Pod annotation Karpenter reads before it disrupts a node voluntarily (consolidation, drift): a node
 * running a pod marked `"true"` is left alone. It does not stop an expiry, an interruption, a deletion of
 * the node, or a forced end once the NodePool's `terminationGracePeriod` has passed since the drain
 * began. A cluster without Karpenter ignores it. docs/drain-contract.md says how it combines with
 * Agones' eviction settings.
 */
export const KARPENTER_DO_NOT_DISRUPT_ANNOTATION = 'karpenter.sh/do-not-disrupt';
export const KARPENTER_DO_NOT_DISRUPT_VALUE = 'true';

/**
 * Whether the pod carries the mark with exactly `"true"`. Anything else does not count, whoever wrote
 * it (the game server's own pod template among others): Karpenter reads a duration there as
 * protection that ends that long after the pod started, and any other value as none.
 */
export function podMarkedDoNotDisrupt(pod: Pick<PodTolerations, 'metadata'>): boolean {
  const annotations = pod.metadata.annotations;
  return (
    isStringMap(annotations) &&
    annotations[KARPENTER_DO_NOT_DISRUPT_ANNOTATION] === KARPENTER_DO_NOT_DISRUPT_VALUE
  );
}

/** What a session pod is given, besides the drain toleration it always gets. */
export interface SessionPodProtection {
  /** Also mark it `karpenter.sh/do-not-disrupt: "true"` (the webhook's --karpenter-do-not-disrupt). */
  karpenterDoNotDisrupt: boolean;
}

/** The node agent's backfill marks the pods it protects, as the webhook does by default. */
export const DEFAULT_SESSION_POD_PROTECTION: SessionPodProtection = { karpenterDoNotDisrupt: true };

/** What the pod lacks of its protection. */
export function sessionPodNeeds(
  pod: PodTolerations,
  options: SessionPodProtection = DEFAULT_SESSION_POD_PROTECTION,
): { toleration: boolean; doNotDisrupt: boolean } {
  return {
    toleration: !podToleratesDrain(pod),
    doNotDisrupt: options.karpenterDoNotDisrupt && !podMarkedDoNotDisrupt(pod),
  };
}

/**
 * The one guarded JSON Patch that gives a session pod what it lacks: the drain toleration (as
 * drainTolerationPatch adds it) and, unless turned off, Karpenter's mark. Empty when it lacks nothing.
 * One request, so the pod never ends up with half of it from this call, and the same `test`
 * operations (uid always; the toleration list as read, or the resourceVersion where a whole list or
 * map is created) make it apply to exactly the pod that was read. The mark is one `add` of one key: it
 * overwrites any other value there and leaves every other annotation as it is; only when the pod had
 * no annotations at all is the map created, which the resourceVersion then guards (a map added
 * meanwhile would be replaced). For the webhook on an allocation and the node agent's backfill alike;
 * the installation's admission policies let their accounts make exactly this change.
 */
export function sessionPodPatch(
  pod: PodTolerations,
  options: SessionPodProtection = DEFAULT_SESSION_POD_PROTECTION,
): JsonPatchOp[] {
  const needs = sessionPodNeeds(pod, options);
  if (!needs.toleration && !needs.doNotDisrupt) return [];
  const tests: JsonPatchOp[] = [{ op: 'test', path: '/metadata/uid', value: pod.metadata.uid }];
  const adds: JsonPatchOp[] = [];
  const guardVersion = () => {
    if (!tests.some((t) => t.path === '/metadata/resourceVersion'))
      tests.push({ op: 'test', path: '/metadata/resourceVersion', value: pod.metadata.resourceVersion });
  };
  if (needs.toleration) {
    for (const op of drainTolerationPatch(pod).slice(1)) (op.op === 'test' ? tests : adds).push(op);
  }
  if (needs.doNotDisrupt) {
    if (isStringMap(pod.metadata.annotations)) {
      adds.push({
        op: 'add',
        path: `/metadata/annotations/${escapePointerSegment(KARPENTER_DO_NOT_DISRUPT_ANNOTATION)}`,
        value: KARPENTER_DO_NOT_DISRUPT_VALUE,
      });
    } else {
      guardVersion();
      adds.push({
        op: 'add',
        path: '/metadata/annotations',
        value: { [KARPENTER_DO_NOT_DISRUPT_ANNOTATION]: KARPENTER_DO_NOT_DISRUPT_VALUE },
      });
    }
  }
  return [...tests, ...adds];
}

/** RFC 6901 escaping of one JSON Pointer segment ('~' → '~0', '/' → '~1'). */
export function escapePointerSegment(segment: string): string {
  return segment.replaceAll('~', '~0').replaceAll('/', '~1');
}

function isStringMap(v: unknown): v is Record<string, string> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** True when the node carries exactly the drain taint (key, value and effect). */
export function hasDrainTaint(node: NodeView): boolean {
  return node.taints.some(
    (t) =>
      t.key === DRAIN_TAINT_KEY && t.effect === DRAIN_TAINT_EFFECT && (t.value ?? '') === DRAIN_TAINT_VALUE,
  );
}

/** True when the node carries any taint with the drain key (ours, or a malformed variant to remove). */
export function hasAnyDrainKeyTaint(node: NodeView): boolean {
  return node.taints.some((t) => t.key === DRAIN_TAINT_KEY);
}

function parseTime(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const t = Date.parse(value);
  return Number.isNaN(t) ? undefined : t;
}
