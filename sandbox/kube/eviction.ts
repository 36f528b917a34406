// The Eviction API's decision: may this pod be evicted now under its PodDisruptionBudget?
// The emulator has no disruption controller, so the budget is computed fresh from the pods,
// as the controller would have it in its status (healthy = Ready and not being deleted).
import { ApiError, tooManyRequests } from './errors.js';
import { labelSelectorFromObject, matchesLabels } from './selectors.js';
import type { KubeObject } from './types.js';

export function isPodReady(pod: KubeObject): boolean {
  if (pod.status?.phase !== 'Running') return false;
  return (pod.status?.conditions ?? []).some((c: any) => c?.type === 'Ready' && c?.status === 'True');
}

function isHealthy(pod: KubeObject): boolean {
  return !pod.metadata.deletionTimestamp && isPodReady(pod);
}

/** intstr.GetScaledValueFromIntOrPercent with rounding up. */
function scaled(v: number | string, total: number): number {
  if (typeof v === 'number') return v;
  const pct = Number(String(v).replace(/%$/, ''));
  return Math.ceil((pct * total) / 100);
}

export interface BudgetStatus {
  expectedPods: number;
  currentHealthy: number;
  desiredHealthy: number;
  disruptionsAllowed: number;
}

/** The PDB status the disruption controller would compute over `pods` (those its selector matches). */
export function budgetStatus(pdb: KubeObject, matching: KubeObject[]): BudgetStatus {
  const expectedPods = matching.length;
  const currentHealthy = matching.filter(isHealthy).length;
  let desiredHealthy = 0;
  const spec = pdb.spec ?? {};
  if (spec.maxUnavailable !== undefined && spec.maxUnavailable !== null) {
    desiredHealthy = Math.max(0, expectedPods - scaled(spec.maxUnavailable, expectedPods));
  } else if (spec.minAvailable !== undefined && spec.minAvailable !== null) {
    desiredHealthy = scaled(spec.minAvailable, expectedPods);
  }
  return {
    expectedPods,
    currentHealthy,
    desiredHealthy,
    disruptionsAllowed: Math.max(0, currentHealthy - desiredHealthy),
  };
}

export function pdbsMatching(pod: KubeObject, pdbs: KubeObject[]): KubeObject[] {
  return pdbs.filter((pdb) => {
    const sel = labelSelectorFromObject(pdb.spec?.selector);
    // An empty selector matches every pod in the namespace (policy/v1 semantics); a missing one nothing.
    return sel !== 'nothing' && matchesLabels(sel, pod.metadata.labels);
  });
}

/**
 * Whether `pod` may be evicted. Throws the API server's 429 (or 500 for several budgets).
 * `namespacePods` are all pods of the pod's namespace.
 */
export function checkEviction(pod: KubeObject, pdbs: KubeObject[], namespacePods: KubeObject[]): void {
  const phase = pod.status?.phase;
  // canIgnorePDB: terminal, pending or already-terminating pods go without a budget check.
  if (phase === 'Succeeded' || phase === 'Failed' || phase === 'Pending' || pod.metadata.deletionTimestamp)
    return;
  const matching = pdbsMatching(pod, pdbs);
  if (matching.length === 0) return;
  if (matching.length > 1)
    throw new ApiError(
      500,
      'InternalError',
      'This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.',
    );
  const pdb = matching[0];
  const sel = labelSelectorFromObject(pdb.spec?.selector);
  const covered = sel === 'nothing' ? [] : namespacePods.filter((p) => matchesLabels(sel, p.metadata.labels));
  const status = budgetStatus(pdb, covered);
  const podHealthy = isHealthy(pod);
  const policy = pdb.spec?.unhealthyPodEvictionPolicy ?? 'IfHealthyBudget';
  if (!podHealthy) {
    // An unready pod can go when the budget is met (or always, with AlwaysAllow).
    if (policy === 'AlwaysAllow' || status.currentHealthy >= status.desiredHealthy) return;
  } else if (status.disruptionsAllowed > 0) {
    return;
  }
  throw tooManyRequests("Cannot evict pod as it would violate the pod's disruption budget.", [
    {
      reason: 'DisruptionBudget',
      message: `The disruption budget ${pdb.metadata.name} needs ${status.desiredHealthy} healthy pods and has ${status.currentHealthy} currently`,
    },
  ]);
}
