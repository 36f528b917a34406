// GameServerAllocation as Agones' allocator does it for the local cluster: defaults and legacy
// conversion, validation, selector matching, the Packed sort of the allocation cache, the
// Distributed shuffle, the GameServer update it sends, and the response it answers with.
//
// The allocator never reads Node objects: GameServers on cordoned or tainted nodes, or whose pods
// are terminating, are allocated like any other.

import type { KubeObject } from '../kube/types.js';
import type { SeededRandom } from '../clock.js';
import type { FieldError } from '../kube/errors.js';
import { matchesLabelSelector, type LabelSelector, type LabelSelectorRequirement } from './selectors.js';
import { ALLOCATION_GROUP, LAST_ALLOCATED_ANNOTATION } from './names.js';
import { formatRFC3339Nano } from './time.js';
import { stateOf } from './gameserver-state.js';

export interface GameServerSelector extends LabelSelector {
  gameServerState?: 'Ready' | 'Allocated' | string;
  players?: { minAvailable?: number; maxAvailable?: number };
}

export interface NormalizedAllocation {
  namespace: string;
  scheduling: 'Packed' | 'Distributed';
  selectors: GameServerSelector[];
  metadata: { labels?: Record<string, string>; annotations?: Record<string, string> };
}

export interface NodeCount {
  ready: number;
  allocated: number;
}

/**
 * The PerNodeCounter: Ready and Allocated GameServers per node name, over every GameServer. A node
 * only has an entry once a GameServer on it was Ready or Allocated (a node with only starting ones
 * counts as "no count", as in Agones).
 */
export function countByNode(gameServers: Iterable<KubeObject>): Map<string, NodeCount> {
  const counts = new Map<string, NodeCount>();
  for (const gs of gameServers) {
    const node = gs.status?.nodeName;
    const s = stateOf(gs);
    if (!node || (s !== 'Ready' && s !== 'Allocated')) continue;
    let c = counts.get(node);
    if (!c) counts.set(node, (c = { ready: 0, allocated: 0 }));
    if (s === 'Ready') c.ready++;
    else c.allocated++;
  }
  return counts;
}

const LABEL_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9]$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function qualifiedNameError(key: string): string | undefined {
  const parts = key.split('/');
  if (parts.length > 2)
    return "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
  const [prefix, name] = parts.length === 2 ? parts : [undefined, parts[0]];
  if (prefix !== undefined && (prefix.length === 0 || prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix)))
    return 'prefix part must be a lowercase RFC 1123 subdomain';
  if (!name || name.length > 63 || !LABEL_NAME.test(name)) {
    return "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
  }
  return undefined;
}

function labelValueError(value: string): string | undefined {
  if (value === '') return undefined;
  if (value.length > 63 || !LABEL_NAME.test(value)) {
    return "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
  }
  return undefined;
}

/**
 * GameServerAllocation.ApplyDefaults + Converter: scheduling defaults to Packed; without
 * `selectors`, the legacy `preferred` selectors followed by `required` become the selectors; each
 * selector's gameServerState defaults to Ready.
 */
export function normalizeAllocation(gsa: KubeObject): NormalizedAllocation {
  const spec = gsa.spec ?? {};
  let selectors: GameServerSelector[] = Array.isArray(spec.selectors) ? spec.selectors : [];
  if (!Array.isArray(spec.selectors) || spec.selectors.length === 0) {
    const legacy: GameServerSelector[] = [...(Array.isArray(spec.preferred) ? spec.preferred : [])];
    legacy.push(spec.required ?? {});
    selectors = legacy;
  }
  return {
    namespace: gsa.metadata?.namespace ?? 'default',
    scheduling: spec.scheduling === 'Distributed' ? 'Distributed' : 'Packed',
    selectors: selectors.map((s) => ({ ...(s ?? {}), gameServerState: s?.gameServerState ?? 'Ready' })),
    metadata: spec.metadata ?? {},
  };
}

/** GameServerAllocation.Validate: what Agones rejects with 422 before allocating. */
export function validateAllocation(gsa: KubeObject): FieldError[] {
  const errs: FieldError[] = [];
  const spec = gsa.spec ?? {};
  if (spec.scheduling !== undefined && spec.scheduling !== 'Packed' && spec.scheduling !== 'Distributed') {
    errs.push({
      type: 'FieldValueNotSupported',
      field: 'spec.scheduling',
      message: `Unsupported value: "${spec.scheduling}": supported values: "Packed", "Distributed"`,
    });
  }
  const checkSelector = (s: any, path: string) => {
    if (s === null || typeof s !== 'object') return;
    for (const [k, v] of Object.entries(s.matchLabels ?? {})) {
      const e = qualifiedNameError(k);
      if (e)
        errs.push({
          type: 'FieldValueInvalid',
          field: `${path}.matchLabels`,
          message: `Invalid value: "${k}": ${e}`,
        });
      const ve = labelValueError(String(v));
      if (ve)
        errs.push({
          type: 'FieldValueInvalid',
          field: `${path}.matchLabels`,
          message: `Invalid value: "${String(v)}": ${ve}`,
        });
    }
    (s.matchExpressions ?? []).forEach((req: LabelSelectorRequirement, i: number) => {
      const p = `${path}.matchExpressions[${i}]`;
      if (!['In', 'NotIn', 'Exists', 'DoesNotExist'].includes(req?.operator)) {
        errs.push({
          type: 'FieldValueInvalid',
          field: `${p}.operator`,
          message: `Invalid value: "${req?.operator}": not a valid selector operator`,
        });
      } else if ((req.operator === 'In' || req.operator === 'NotIn') && !req.values?.length) {
        errs.push({
          type: 'FieldValueRequired',
          field: `${p}.values`,
          message: "Required value: must be specified when `operator` is 'In' or 'NotIn'",
        });
      } else if ((req.operator === 'Exists' || req.operator === 'DoesNotExist') && req.values?.length) {
        errs.push({
          type: 'FieldValueForbidden',
          field: `${p}.values`,
          message: "Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
        });
      }
    });
    const state = s.gameServerState;
    if (state !== undefined && state !== 'Ready' && state !== 'Allocated') {
      errs.push({
        type: 'FieldValueInvalid',
        field: `${path}.gameServerState`,
        message: `Invalid value: "${state}": GameServerState must be either Allocated or Ready`,
      });
    }
  };
  (spec.selectors ?? []).forEach((s: any, i: number) => checkSelector(s, `spec.selectors[${i}]`));
  if (spec.required) checkSelector(spec.required, 'spec.required');
  (spec.preferred ?? []).forEach((s: any, i: number) => checkSelector(s, `spec.preferred[${i}]`));
  for (const [k, v] of Object.entries(spec.metadata?.labels ?? {})) {
    const e = qualifiedNameError(k);
    if (e)
      errs.push({
        type: 'FieldValueInvalid',
        field: 'spec.metadata.labels',
        message: `Invalid value: "${k}": ${e}`,
      });
    const ve = labelValueError(String(v));
    if (ve)
      errs.push({
        type: 'FieldValueInvalid',
        field: 'spec.metadata.labels',
        message: `Invalid value: "${String(v)}": ${ve}`,
      });
  }
  for (const k of Object.keys(spec.metadata?.annotations ?? {})) {
    const e = qualifiedNameError(k);
    if (e)
      errs.push({
        type: 'FieldValueInvalid',
        field: 'spec.metadata.annotations',
        message: `Invalid value: "${k}": ${e}`,
      });
  }
  return errs;
}

/** GameServerSelector.Matches: labels, state, and (when the GameServer tracks players) player room. */
export function selectorMatches(sel: GameServerSelector, gs: KubeObject): boolean {
  if (
    !matchesLabelSelector(
      { matchLabels: sel.matchLabels, matchExpressions: sel.matchExpressions },
      gs.metadata.labels,
    )
  )
    return false;
  if (sel.gameServerState && stateOf(gs) !== sel.gameServerState) return false;
  if (sel.players && gs.status?.players) {
    const available = (gs.status.players.capacity ?? 0) - (gs.status.players.count ?? 0);
    if (sel.players.minAvailable !== undefined && available < sel.players.minAvailable) return false;
    if (
      sel.players.maxAvailable !== undefined &&
      sel.players.maxAvailable > 0 &&
      available > sel.players.maxAvailable
    )
      return false;
  }
  return true;
}

/**
 * compareGameServersForPackedStrategy as a comparator: Allocated before anything else (only a
 * re-allocation selector can pick them), then GameServers on nodes with MORE Allocated, then more
 * Ready; GameServers on nodes without a count go last; finally by GameServer name.
 */
export function comparePacked(a: KubeObject, b: KubeObject, counts: Map<string, NodeCount>): number {
  const sa = stateOf(a);
  const sb = stateOf(b);
  if (sa !== sb) {
    if (sa === 'Allocated') return -1;
    if (sb === 'Allocated') return 1;
  }
  const ca = counts.get(a.status?.nodeName ?? '');
  const cb = counts.get(b.status?.nodeName ?? '');
  if (ca && !cb) return -1;
  if (!ca && cb) return 1;
  if (ca && cb) {
    if (ca.allocated !== cb.allocated) return cb.allocated - ca.allocated;
    if (ca.ready !== cb.ready) return cb.ready - ca.ready;
    // Player tracking: the one with less room left first.
    const pa = a.status?.players;
    const pb = b.status?.players;
    if (pa && pb) {
      const ra = (pa.capacity ?? 0) - (pa.count ?? 0);
      const rb = (pb.capacity ?? 0) - (pb.count ?? 0);
      if (ra !== rb) return ra - rb;
    }
  }
  const na = a.metadata.name ?? '';
  const nb = b.metadata.name ?? '';
  return na < nb ? -1 : na > nb ? 1 : 0;
}

/**
 * The allocation cache's list in Packed order (ListSortedGameServers): comparePacked's order,
 * computed with the sort keys extracted once per GameServer (the allocator sorts tens of thousands
 * of them per batch).
 */
export function sortPacked(list: KubeObject[], counts: Map<string, NodeCount>): KubeObject[] {
  const keyed = list.map((gs) => {
    const c = counts.get(gs.status?.nodeName ?? '');
    const p = gs.status?.players;
    return {
      gs,
      allocated: stateOf(gs) === 'Allocated' ? 0 : 1,
      counted: c ? 0 : 1,
      nodeAllocated: c ? -c.allocated : 0,
      nodeReady: c ? -c.ready : 0,
      room: p ? (p.capacity ?? 0) - (p.count ?? 0) : undefined,
      name: gs.metadata.name ?? '',
    };
  });
  keyed.sort((a, b) => {
    if (a.allocated !== b.allocated) return a.allocated - b.allocated;
    if (a.counted !== b.counted) return a.counted - b.counted;
    if (a.counted === 0) {
      if (a.nodeAllocated !== b.nodeAllocated) return a.nodeAllocated - b.nodeAllocated;
      if (a.nodeReady !== b.nodeReady) return a.nodeReady - b.nodeReady;
      if (a.room !== undefined && b.room !== undefined && a.room !== b.room) return a.room - b.room;
    }
    return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
  });
  return keyed.map((k) => k.gs);
}

/** Whether a GameServer belongs in the allocation cache: Ready or Allocated, not being deleted. */
export function isAllocatable(gs: KubeObject): boolean {
  const s = stateOf(gs);
  return !gs.metadata.deletionTimestamp && (s === 'Ready' || s === 'Allocated');
}

/**
 * findGameServerForAllocation: walk the list (Packed: in order; Distributed: in a shuffled order)
 * remembering the first match of each selector; the first selector (priority order) with a match
 * wins. Only GameServers in the allocation's namespace are considered.
 */
export function findGameServerForAllocation(
  allocation: NormalizedAllocation,
  list: readonly KubeObject[],
  random?: SeededRandom,
): { gameServer: KubeObject; index: number } | undefined {
  const order = list.map((_, i) => i);
  if (allocation.scheduling === 'Distributed') {
    if (random) random.shuffle(order);
    else order.sort(() => Math.random() - 0.5);
  }
  const found: ({ gameServer: KubeObject; index: number } | undefined)[] = allocation.selectors.map(
    () => undefined,
  );
  let unresolved = found.length;
  for (const i of order) {
    const gs = list[i];
    if ((gs.metadata.namespace ?? 'default') !== allocation.namespace) continue;
    for (let j = 0; j < allocation.selectors.length; j++) {
      if (found[j] === undefined && selectorMatches(allocation.selectors[j], gs)) {
        found[j] = { gameServer: gs, index: i };
        unresolved--;
      }
    }
    // The first selector decides once it has a match; later matches cannot beat it.
    if (found[0] !== undefined || unresolved === 0) break;
  }
  return found.find((f) => f !== undefined);
}

/**
 * applyAllocationToGameServer: the full object the allocator PUTs — metaPatch labels and
 * annotations merged, agones.dev/last-allocated set (so a re-allocation still changes the object),
 * state Allocated; resourceVersion left as cached.
 */
export function applyAllocation(
  gs: KubeObject,
  metadata: NormalizedAllocation['metadata'],
  nowMs: number,
  subMsNanos = 0,
): KubeObject {
  const copy = structuredClone(gs);
  if (metadata.labels) copy.metadata.labels = { ...(copy.metadata.labels ?? {}), ...metadata.labels };
  copy.metadata.annotations = { ...(copy.metadata.annotations ?? {}), ...(metadata.annotations ?? {}) };
  copy.metadata.annotations[LAST_ALLOCATED_ANNOTATION] = formatRFC3339Nano(nowMs, subMsNanos);
  copy.status = { ...(copy.status ?? {}), state: 'Allocated' };
  return copy;
}

export type AllocationOutcome =
  { state: 'Allocated'; gameServer: KubeObject } | { state: 'UnAllocated' } | { state: 'Contention' };

/** The GameServerAllocation the API answers with (allocateFromLocalCluster). */
export function allocationResponse(gsa: KubeObject, outcome: AllocationOutcome): KubeObject {
  const out: KubeObject = {
    apiVersion: `${ALLOCATION_GROUP}/v1`,
    kind: 'GameServerAllocation',
    metadata: {
      ...(gsa.metadata ?? {}),
      namespace: gsa.metadata?.namespace ?? 'default',
      creationTimestamp: null as unknown as string,
    },
    spec: structuredClone(gsa.spec ?? {}),
    status: { state: outcome.state },
  };
  if (outcome.state === 'Allocated') {
    const gs = outcome.gameServer;
    out.metadata.name = gs.metadata.name;
    out.status = {
      state: 'Allocated',
      gameServerName: gs.metadata.name,
      ports: gs.status?.ports,
      address: gs.status?.address,
      addresses: gs.status?.addresses ?? [],
      nodeName: gs.status?.nodeName,
      source: 'local',
      metadata: { labels: gs.metadata.labels, annotations: gs.metadata.annotations },
    };
    if (gs.status?.counters) out.status.counters = gs.status.counters;
    if (gs.status?.lists) out.status.lists = gs.status.lists;
  }
  return out;
}
