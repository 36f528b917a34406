// The GameServerSet controller's decisions (computeReconciliationAction, computeStatus) and the
// scale-down order of each scheduling strategy, as Agones computes them.
//
// Allocated and Reserved GameServers are never picked for deletion (they count as up); Unhealthy
// and Error ones are always deleted (shut down); GameServers being deleted or Shutdown don't count.

import type { KubeObject } from '../kube/types.js';
import { isBeforeReady, isBeingDeleted, isDeletable, stateOf } from './gameserver-state.js';
import type { NodeCount } from './allocation.js';

export interface ReconcileLimits {
  /** maxGameServerCreationsPerBatch */
  maxCreations: number;
  /** maxGameServerDeletionsPerBatch */
  maxDeletions: number;
  /** maxPodPendingCount */
  maxPending: number;
}

/** Agones' defaults (its Helm chart's controller flags). */
export const DEFAULT_RECONCILE_LIMITS: ReconcileLimits = {
  maxCreations: 64,
  maxDeletions: 64,
  maxPending: 5000,
};

const ERROR_DELETION_DELAY_MS = 30_000;

function byName(a: KubeObject, b: KubeObject): number {
  const na = a.metadata.name ?? '';
  const nb = b.metadata.name ?? '';
  return na < nb ? -1 : na > nb ? 1 : 0;
}

/**
 * Packed (sortGameServersByLeastFullNodes): GameServers not on a counted node first (not scheduled
 * yet, or their node is gone), then on the same node not-yet-Ready before Ready, then nodes with the
 * FEWEST Ready+Allocated, equal nodes by node name, so that one node empties first.
 */
export function comparePackedScaleDown(a: KubeObject, b: KubeObject, counts: Map<string, NodeCount>): number {
  const ca = counts.get(a.status?.nodeName ?? '');
  const cb = counts.get(b.status?.nodeName ?? '');
  if (!ca && !cb) return byName(a, b);
  if (!ca) return -1;
  if (!cb) return 1;
  const na = a.status?.nodeName ?? '';
  const nb = b.status?.nodeName ?? '';
  if (na === nb) {
    const aEarly = isBeforeReady(a) && stateOf(b) === 'Ready';
    const bEarly = isBeforeReady(b) && stateOf(a) === 'Ready';
    if (aEarly) return -1;
    if (bEarly) return 1;
    return byName(a, b);
  }
  const ta = ca.ready + ca.allocated;
  const tb = cb.ready + cb.allocated;
  if (ta !== tb) return ta - tb;
  return na < nb ? -1 : 1;
}

/** Distributed (sortGameServersByNewFirst, which despite its name puts the OLDEST first). */
export function compareDistributedScaleDown(a: KubeObject, b: KubeObject): number {
  const ta = Date.parse(a.metadata.creationTimestamp ?? '') || 0;
  const tb = Date.parse(b.metadata.creationTimestamp ?? '') || 0;
  if (ta !== tb) return ta - tb;
  return byName(a, b);
}

export function sortForScaleDown(
  strategy: string | undefined,
  list: readonly KubeObject[],
  counts: Map<string, NodeCount>,
): KubeObject[] {
  const copy = [...list];
  if ((strategy ?? 'Packed') === 'Packed') copy.sort((a, b) => comparePackedScaleDown(a, b, counts));
  else copy.sort(compareDistributedScaleDown);
  return copy;
}

export interface ReconcileAction {
  toAdd: number;
  /** GameServers to move to Shutdown (Unhealthy/Error ones first, then the scale-down picks). */
  toDelete: KubeObject[];
  /** More work remains than one pass may do: run again right away. */
  partial: boolean;
}

function shouldDeleteErrored(gs: KubeObject, nowMs: number): boolean {
  const at = gs.metadata.annotations?.['agones.dev/errored-at'];
  if (!at) return true;
  const t = Date.parse(at);
  if (!Number.isFinite(t)) return true;
  return nowMs - t >= ERROR_DELETION_DELAY_MS;
}

/** computeReconciliationAction for one GameServerSet's GameServers. */
export function computeReconciliationAction(
  strategy: string | undefined,
  list: readonly KubeObject[],
  counts: Map<string, NodeCount>,
  targetReplicas: number,
  limits: ReconcileLimits = DEFAULT_RECONCILE_LIMITS,
  nowMs = Date.now(),
): ReconcileAction {
  let upCount = 0;
  let deleteCount = 0;
  let podPendingCount = 0;
  const potentialDeletions: KubeObject[] = [];
  const toDelete: KubeObject[] = [];

  const scheduleDeletion = (gs: KubeObject) => {
    toDelete.push(gs);
    deleteCount--;
  };
  const handleUp = (gs: KubeObject) => {
    if (upCount >= targetReplicas) deleteCount++;
    else upCount++;
    potentialDeletions.push(gs);
  };

  for (const gs of list) if (!isDeletable(gs)) upCount++;

  for (const gs of list) {
    if (!isDeletable(gs)) continue;
    if (isBeingDeleted(gs)) continue;
    switch (stateOf(gs)) {
      case 'PortAllocation':
      case 'Creating':
      case 'Starting':
      case 'Scheduled':
        podPendingCount++;
        handleUp(gs);
        break;
      case 'RequestReady':
      case 'Ready':
      case 'Reserved':
        handleUp(gs);
        break;
      case 'Error':
        if (!shouldDeleteErrored(gs, nowMs)) {
          podPendingCount++;
          handleUp(gs);
        } else scheduleDeletion(gs);
        break;
      case 'Unhealthy':
        scheduleDeletion(gs);
        break;
      default:
        handleUp(gs);
    }
  }

  let partial = false;
  let toAdd = 0;
  if (upCount < targetReplicas) {
    toAdd = targetReplicas - upCount;
    const original = toAdd;
    if (toAdd > limits.maxCreations) toAdd = limits.maxCreations;
    if (toAdd + podPendingCount > limits.maxPending) toAdd = Math.max(0, limits.maxPending - podPendingCount);
    if (toAdd !== original) partial = true;
  }

  if (deleteCount > 0) {
    const sorted = sortForScaleDown(strategy, potentialDeletions, counts);
    toDelete.push(...sorted.slice(0, deleteCount));
  }
  if (toDelete.length > limits.maxDeletions) {
    toDelete.length = limits.maxDeletions;
    partial = true;
  }
  return { toAdd, toDelete, partial };
}

export interface GameServerSetStatus {
  replicas: number;
  readyReplicas: number;
  reservedReplicas: number;
  allocatedReplicas: number;
  shutdownReplicas: number;
}

/** computeStatus: GameServers being deleted count only as shutdownReplicas. */
export function computeSetStatus(list: readonly KubeObject[]): GameServerSetStatus {
  const s: GameServerSetStatus = {
    replicas: 0,
    readyReplicas: 0,
    reservedReplicas: 0,
    allocatedReplicas: 0,
    shutdownReplicas: 0,
  };
  for (const gs of list) {
    if (isBeingDeleted(gs)) {
      s.shutdownReplicas++;
      continue;
    }
    s.replicas++;
    const state = stateOf(gs);
    if (state === 'Ready') s.readyReplicas++;
    else if (state === 'Allocated') s.allocatedReplicas++;
    else if (state === 'Reserved') s.reservedReplicas++;
  }
  return s;
}
