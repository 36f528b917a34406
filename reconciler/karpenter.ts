// What the node agent reads of Karpenter (v1) on its own Node, when --karpenter-drains allows it.
//
// Karpenter taints a node `karpenter.sh/disrupted:NoSchedule` once it has decided to take the node away:
// a graceful disruption (drift, consolidation: the taint goes on before the replacement is launched, and
// comes off again if the replacement fails to initialise) and every termination (expiry, interruption, a
// deletion of the Node or its NodeClaim, where the taint stays until the instance is gone). Karpenter
// then evicts the node's pods through the Eviction API, except those annotated
// `karpenter.sh/do-not-disrupt: "true"`, which it waits for until the NodePool's terminationGracePeriod,
// if one is set, runs out. So while the taint is on, a Ready game server may be evicted at any moment,
// and one allocated in that moment loses its session: the agent fences the node first (the same drain
// machine as an operator's request), which leaves Karpenter only pods that are done or in a session.
//
// Pure: decide() calls it on the Node it observes; no Karpenter object is read (no NodeClaim watch).
import type { NodeView } from '../shared/drain-contract.js';

/** The taint Karpenter v1 puts on a node it is disrupting (effect NoSchedule). */
export const KARPENTER_DISRUPTED_TAINT_KEY = 'karpenter.sh/disrupted';

/** Karpenter is taking the node away: its disruption taint is on the node (whatever its value or effect). */
export function karpenterDisrupting(node: Pick<NodeView, 'taints'>): boolean {
  return node.taints.some((t) => t.key === KARPENTER_DISRUPTED_TAINT_KEY);
}
