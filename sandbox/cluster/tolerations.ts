// Taints and tolerations exactly as Kubernetes matches them (core/v1 Toleration.ToleratesTaint),
// and the NoExecute taint manager's decision for one pod on one node.

export type TaintEffect = 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';

export interface Taint {
  key: string;
  value?: string;
  effect: TaintEffect | string;
  /** RFC3339; written for NoExecute taints. */
  timeAdded?: string;
}

export interface Toleration {
  key?: string;
  operator?: 'Exists' | 'Equal' | string;
  value?: string;
  effect?: TaintEffect | string;
  tolerationSeconds?: number | null;
}

/**
 * Toleration.ToleratesTaint: an empty effect matches every effect, an empty key (only valid with
 * Exists) matches every key, Exists ignores the value, Equal (or no operator) compares it
 * (an absent value equals ""). tolerationSeconds plays no part in matching.
 */
export function toleratesTaint(toleration: Toleration, taint: Taint): boolean {
  if (toleration.effect && toleration.effect !== taint.effect) return false;
  if (toleration.key && toleration.key !== taint.key) return false;
  switch (toleration.operator ?? '') {
    case '':
    case 'Equal':
      return (toleration.value ?? '') === (taint.value ?? '');
    case 'Exists':
      return true;
    default:
      return false;
  }
}

/** Whether any of `tolerations` tolerates `taint`. */
export function tolerates(tolerations: readonly Toleration[] | undefined, taint: Taint): boolean {
  return (tolerations ?? []).some((t) => toleratesTaint(t, taint));
}

/** The first taint (of the given effects) that no toleration tolerates, as the scheduler reports it. */
export function firstUntoleratedTaint(
  taints: readonly Taint[] | undefined,
  tolerations: readonly Toleration[] | undefined,
  effects: readonly string[],
): Taint | undefined {
  return (taints ?? []).find((t) => effects.includes(t.effect) && !tolerates(tolerations, t));
}

export type NoExecuteDecision =
  | { action: 'none' }
  | { action: 'evict-now'; taint: Taint }
  | { action: 'evict-at'; at: number; seconds: number; taint: Taint }
  | { action: 'never' };

/**
 * The taint manager's decision for a pod on a node with these taints:
 * - no NoExecute taint: nothing to do;
 * - a NoExecute taint no toleration tolerates: delete the pod now;
 * - every NoExecute taint tolerated: for each taint the first matching toleration is the one used
 *   (as v1helper.GetMatchingTolerations does); the pod is deleted at the earliest
 *   `since + tolerationSeconds` over those (a value <= 0 means now), where `since` is the
 *   taint's timeAdded when it has one, else `fallbackSince` (the taint manager counts from when it
 *   first saw the taint). Without any tolerationSeconds the pod stays forever.
 */
export function noExecuteDecision(
  taints: readonly Taint[] | undefined,
  tolerations: readonly Toleration[] | undefined,
  fallbackSince: number,
): NoExecuteDecision {
  const noExecute = (taints ?? []).filter((t) => t.effect === 'NoExecute');
  if (noExecute.length === 0) return { action: 'none' };
  let best: { at: number; seconds: number; taint: Taint } | undefined;
  for (const taint of noExecute) {
    const used = (tolerations ?? []).find((t) => toleratesTaint(t, taint));
    if (!used) return { action: 'evict-now', taint };
    const seconds = used.tolerationSeconds;
    if (seconds === undefined || seconds === null) continue;
    if (seconds <= 0) return { action: 'evict-now', taint };
    const added = taint.timeAdded ? Date.parse(taint.timeAdded) : NaN;
    const since = Number.isFinite(added) ? added : fallbackSince;
    const at = since + seconds * 1000;
    if (!best || at < best.at) best = { at, seconds, taint };
  }
  return best ? { action: 'evict-at', ...best } : { action: 'never' };
}
