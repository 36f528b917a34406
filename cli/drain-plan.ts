// The rolling drain's planning: given the selected game server nodes as the cluster shows them now,
// which nodes to ask to drain next so that at most N are unavailable at once. Pure, and free of memory:
// `kubectl fleetiq drain --selector` and the sandbox's upgrade scenario call it on every read of the
// cluster, so a rollout interrupted and run again continues from the requests and phases on the Nodes
// (the same level-triggered way the node agent works). Tested exhaustively in test/cli/drain-plan.test.ts.
//
// What counts, per node (see docs/drain-contract.md for the phases and reasons):
// - done: phase Deregistered (for whatever reason: the instance is being handed back), or phase Drained
//   with a request in `drain` mode when the rollout asks for `drain`. A node that is gone (replaced,
//   terminated) is simply not selected any more.
// - unavailable: not done, and requested, or draining for any reason (Cordoned, Fenced, Tainted,
//   SpotEvicting), or Drained for a reason other than our request (empty and cordoned: it hosts no
//   session, so it is not available either). This is what max-unavailable bounds.
// - waiting: the rest (Active, no request).
//
// Nodes added while the rollout runs that match the selector are planned like the others: the
// selector says which nodes must be drained (the old node group, the old image), and a node matching it
// is one of them whenever it joined. A selector that keeps matching the replacements (role=game-servers
// alone) would never finish: choose one that only the old nodes carry.
import {
  DRAIN_PHASES,
  DRAIN_REASONS,
  DRAIN_REQUESTED_AT_ANNOTATION,
  DRAIN_REQUEST_ANNOTATION,
  type DrainPhase,
  type DrainReason,
  type DrainRequestMode,
} from '../shared/drain-contract.js';
import type { NodeStatusRow } from './fleetiq-status.js';

/** One selected node as the plan reads it. */
export interface RolloutNode {
  name: string;
  /** The drain-request annotation, if any. */
  request?: DrainRequestMode;
  /** Epoch ms of the request (drain-requested-at), when recorded. */
  requestedAt?: number;
  /** The drain phase the agent recorded ('Active' when none). */
  phase: DrainPhase;
  /** Why it drains (drain-reason), when draining. */
  reason?: DrainReason;
  /** Epoch ms the agent began the drain (drain-started-at), when draining. */
  drainStartedAt?: number;
  /** Sessions (Allocated game servers) on the node now. */
  sessions: number;
}

export interface RolloutOptions {
  /** At most this many selected nodes unavailable at once (>= 1). */
  maxUnavailable: number;
  /** The request to write: stop at Drained, or deregister from FleetIQ once empty. */
  mode: DrainRequestMode;
  /** Epoch ms. */
  now: number;
  /** An unavailable node draining longer than this is reported stuck (it still counts as unavailable). */
  stuckAfterMs: number;
}

export type RolloutNodeState = 'waiting' | 'unavailable' | 'done';

export interface StuckNode {
  node: string;
  /** Ms since its drain began (or its request, before the agent began). */
  forMs: number;
  sessions: number;
  phase: DrainPhase;
  reason?: DrainReason;
}

export interface RolloutPlan {
  /**
   * Nodes to write the request on now, in order: first those already unavailable whose request is
   * missing or in the other mode (requesting them costs no availability), then new ones up to the budget.
   */
  request: string[];
  /** Each selected node's state before the requests above are written. */
  states: Record<string, RolloutNodeState>;
  /** Unavailable nodes once the requests above are written (at most maxUnavailable, unless more were already). */
  unavailable: string[];
  /** Unavailable nodes past stuckAfterMs. */
  stuck: StuckNode[];
  done: string[];
  waiting: string[];
  /** Every selected node is done (also when none is selected). */
  complete: boolean;
}

/** Whether a node needs nothing more from a rollout in `mode`. */
export function isDone(node: Pick<RolloutNode, 'phase' | 'request'>, mode: DrainRequestMode): boolean {
  if (node.phase === 'Deregistered') return true;
  return node.phase === 'Drained' && mode === 'drain' && node.request === 'drain';
}

/** Whether a node that is not done is unavailable (requested, draining, or drained for another reason). */
export function isUnavailable(node: Pick<RolloutNode, 'phase' | 'request'>, mode: DrainRequestMode): boolean {
  if (isDone(node, mode)) return false;
  return node.request !== undefined || node.phase !== 'Active';
}

const naturalOrder = new Intl.Collator('en', { numeric: true });
const byName = (a: string, b: string) => naturalOrder.compare(a, b) || (a < b ? -1 : a > b ? 1 : 0);

/**
 * The next step of a rolling drain over `nodes` (the selected game server nodes present now). Waiting
 * nodes are requested fewest sessions first (they free their slot soonest), then in natural name order.
 */
export function planRollout(nodes: readonly RolloutNode[], o: RolloutOptions): RolloutPlan {
  if (!Number.isInteger(o.maxUnavailable) || o.maxUnavailable < 1)
    throw new RangeError(`maxUnavailable must be a whole number >= 1, got ${o.maxUnavailable}`);
  const sorted = [...nodes].sort((a, b) => byName(a.name, b.name));
  const states: Record<string, RolloutNodeState> = {};
  const done: string[] = [];
  const unavailable: RolloutNode[] = [];
  const waiting: RolloutNode[] = [];
  for (const n of sorted) {
    if (isDone(n, o.mode)) {
      states[n.name] = 'done';
      done.push(n.name);
    } else if (isUnavailable(n, o.mode)) {
      states[n.name] = 'unavailable';
      unavailable.push(n);
    } else {
      states[n.name] = 'waiting';
      waiting.push(n);
    }
  }
  // Already unavailable: the request is written at once (or raised to `deregister`, which a `drain`
  // rollout leaves as it is: it asks for more, not less).
  const request = unavailable
    .filter((n) => n.request === undefined || (o.mode === 'deregister' && n.request === 'drain'))
    .map((n) => n.name);
  const budget = Math.max(0, o.maxUnavailable - unavailable.length);
  const next = [...waiting]
    .sort((a, b) => a.sessions - b.sessions || byName(a.name, b.name))
    .slice(0, budget);
  request.push(...next.map((n) => n.name));
  const stuck: StuckNode[] = [];
  for (const n of unavailable) {
    const since = n.drainStartedAt ?? n.requestedAt;
    if (since === undefined || o.now - since < o.stuckAfterMs) continue;
    stuck.push({
      node: n.name,
      forMs: o.now - since,
      sessions: n.sessions,
      phase: n.phase,
      ...(n.reason !== undefined ? { reason: n.reason } : {}),
    });
  }
  const nextNames = new Set(next.map((n) => n.name));
  return {
    request,
    states,
    unavailable: [...unavailable.map((n) => n.name), ...next.map((n) => n.name)].sort(byName),
    stuck,
    done,
    waiting: waiting.filter((n) => !nextNames.has(n.name)).map((n) => n.name),
    complete: done.length === sorted.length,
  };
}

/** A row as the planner reads it (an unknown recorded phase reads as Cordoned, as the agent reads it). */
export function rolloutNodeOf(row: NodeStatusRow): RolloutNode {
  const phase: DrainPhase = (DRAIN_PHASES as readonly string[]).includes(row.drainPhase)
    ? (row.drainPhase as DrainPhase)
    : 'Cordoned';
  const n: RolloutNode = { name: row.node, phase, sessions: row.allocated };
  if (row.drainRequest === 'drain' || row.drainRequest === 'deregister') n.request = row.drainRequest;
  if (row.drainRequestedAt !== undefined) n.requestedAt = row.drainRequestedAt;
  if ((DRAIN_REASONS as readonly string[]).includes(row.drainReason))
    n.reason = row.drainReason as DrainReason;
  if (row.drainStartedAt !== undefined) n.drainStartedAt = row.drainStartedAt;
  return n;
}

/** The merge patch that writes a request (keeping the time of one already there) or, with null, removes it. */
export function drainRequestPatch(
  mode: DrainRequestMode | null,
  now: number,
  requestedBefore = false,
): object {
  if (mode === null)
    return {
      metadata: { annotations: { [DRAIN_REQUEST_ANNOTATION]: null, [DRAIN_REQUESTED_AT_ANNOTATION]: null } },
    };
  return {
    metadata: {
      annotations: {
        [DRAIN_REQUEST_ANNOTATION]: mode,
        ...(requestedBefore ? {} : { [DRAIN_REQUESTED_AT_ANNOTATION]: new Date(now).toISOString() }),
      },
    },
  };
}
