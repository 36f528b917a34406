// What the node agent does about what the old Python adapter's daemon left on its node when it takes
// over (docs/migration.md). Pure.
//
// The old daemon taints its node `gamelift.status/active=true:NoExecute` at start and never removes the
// taint. Once the agent runs on the node that taint says something false (the old daemon is gone), so
// the agent removes it. Removing a NoExecute taint evicts nothing: it only lets pods that do not
// tolerate it be scheduled on the node again, and a cordon (a drain's) still keeps them off. It is
// removed only when a reconcile pass has nothing else to do, so that it never delays a drain step,
// and it is written apart from the drain's own patch, so that a refusal (an installation whose
// admission policy predates it) never blocks a drain.
//
// Everything else the old daemon leaves is understood by the agent as it is: its registration in
// FleetIQ (the agent's RegisterGameServer meets ConflictException and learns the claim's UTILIZED from
// a health report), its cordon (not the agent's: `cordonedByAgent` false, never lifted by the agent),
// and its drain taint, which is the agent's own `gamelift.status/draining=true:NoExecute`.
import { LEGACY_ACTIVE_TAINT_KEY } from '../shared/contract.js';
import type { KubeObjectLike } from '../shared/kube-object.js';

/** The node carries a taint with the old daemon's key. */
export function hasLegacyActiveTaint(node: KubeObjectLike): boolean {
  return taintsOf(node).some((t) => t.key === LEGACY_ACTIVE_TAINT_KEY);
}

/**
 * The merge patch that removes every taint with the old daemon's key and keeps the others as they are,
 * pinned to the resourceVersion read (taints have no merge key: the patch carries the whole list, and a
 * Node changed meanwhile is a 409 after which the agent reads it again). Undefined: nothing to remove.
 */
export function legacyTaintRemovalPatch(node: KubeObjectLike): Record<string, unknown> | undefined {
  if (!hasLegacyActiveTaint(node)) return undefined;
  const kept = taintsOf(node).filter((t) => t.key !== LEGACY_ACTIVE_TAINT_KEY);
  return {
    metadata: { resourceVersion: node.metadata.resourceVersion },
    spec: { taints: kept.length ? kept : null },
  };
}

function taintsOf(node: KubeObjectLike): { key?: string }[] {
  return Array.isArray(node.spec?.taints) ? (node.spec.taints as { key?: string }[]) : [];
}
