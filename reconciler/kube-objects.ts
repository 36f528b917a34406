// The Kubernetes objects the agent reads, reduced to what decide() looks at. Pure: everything here is
// computed from objects as the API server sends them (watch events and responses are plain JSON), so
// the same observation always yields the same views.
import { DRAIN_TAINT_EFFECT, DRAIN_TAINT_KEY, DRAIN_TAINT_VALUE } from '../shared/contract.js';
import type { GameServerView } from './decide.js';
import type { NodeView } from './node-state.js';

/** The parts of any object the agent relies on (the wire form; unknown fields are kept as they are). */
export interface KubeObjectLike {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    deletionTimestamp?: string | Date;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: { kind?: string; name?: string; uid?: string; controller?: boolean }[];
  };
  spec?: any;
  status?: any;
}

export interface Toleration {
  key?: string;
  operator?: string;
  value?: string;
  effect?: string;
  tolerationSeconds?: number | null;
}

/** Agones labels every game server pod with this (the pod watch selects on it). */
export const GAME_SERVER_POD_SELECTOR = 'agones.dev/role=gameserver';

/** `namespace/name` (or `name` for a cluster-scoped object): the key of every cache here. */
export function objectKey(obj: { metadata: { name?: string; namespace?: string } }): string {
  const ns = obj.metadata.namespace;
  return ns ? `${ns}/${obj.metadata.name}` : String(obj.metadata.name);
}

export function nodeView(node: KubeObjectLike): NodeView {
  const taints: NodeView['taints'] = Array.isArray(node.spec?.taints)
    ? node.spec.taints.map((t: Toleration) => ({
        key: String(t.key ?? ''),
        ...(t.value !== undefined ? { value: String(t.value) } : {}),
        effect: String(t.effect ?? ''),
      }))
    : [];
  return {
    labels: { ...(node.metadata.labels ?? {}) },
    annotations: { ...(node.metadata.annotations ?? {}) },
    unschedulable: node.spec?.unschedulable === true,
    taints,
  };
}

/**
 * A toleration that keeps a pod on a node tainted gamelift.status/draining=true:NoExecute for good,
 * with Kubernetes' matching rules (empty effect matches every effect, `Exists` any value, an empty key
 * with `Exists` every taint). One with tolerationSeconds only delays the eviction: it does not count.
 */
export function toleratesDrainTaint(t: Toleration): boolean {
  if (t.tolerationSeconds !== undefined && t.tolerationSeconds !== null) return false;
  if (t.effect && t.effect !== DRAIN_TAINT_EFFECT) return false;
  const operator = t.operator || 'Equal';
  if (!t.key) return operator === 'Exists';
  if (t.key !== DRAIN_TAINT_KEY) return false;
  return operator === 'Exists' || (operator === 'Equal' && (t.value ?? '') === DRAIN_TAINT_VALUE);
}

export function podToleratesDrain(pod: KubeObjectLike): boolean {
  const list: Toleration[] = Array.isArray(pod.spec?.tolerations) ? pod.spec.tolerations : [];
  return list.some(toleratesDrainTaint);
}

/**
 * The game servers on the node, from its game server pods and the GameServer of the same name. A pod
 * whose GameServer does not exist (null: the GET answered 404) is left out: nothing of Agones will
 * allocate it. Sorted by key, so decisions do not depend on the order events arrived in.
 */
export function gameServerViews(
  pods: Iterable<KubeObjectLike>,
  gameServerOf: (key: string) => KubeObjectLike | null | undefined,
): GameServerView[] {
  const out: GameServerView[] = [];
  for (const pod of pods) {
    const key = objectKey(pod);
    const gs = gameServerOf(key);
    if (!gs) continue;
    out.push({
      namespace: pod.metadata.namespace ?? 'default',
      name: String(pod.metadata.name),
      resourceVersion: String(gs.metadata.resourceVersion ?? ''),
      state: typeof gs.status?.state === 'string' ? gs.status.state : '',
      podTolerates: podToleratesDrain(pod),
      podTerminating: Boolean(pod.metadata.deletionTimestamp),
    });
  }
  return out.sort((a, b) =>
    a.namespace === b.namespace ? cmp(a.name, b.name) : cmp(a.namespace, b.namespace),
  );
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Compares two resourceVersions: negative, 0 or positive like a comparator; undefined when they cannot
 * be compared. Kubernetes calls them opaque, but every API server in use (etcd revisions, the
 * emulator's counter) hands out increasing integers; the agent only relies on the comparison to skip
 * work or wait a little longer, never for correctness of a write (writes carry preconditions).
 */
export function compareResourceVersions(a: string | undefined, b: string | undefined): number | undefined {
  if (!a || !b || !/^\d+$/.test(a) || !/^\d+$/.test(b)) return undefined;
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** `a` is known to be at least as new as `b`. */
export function atLeastAsNew(a: string | undefined, b: string | undefined): boolean {
  const c = compareResourceVersions(a, b);
  return c !== undefined && c >= 0;
}

/** `a` is known to be older than `b`. */
export function olderThan(a: string | undefined, b: string | undefined): boolean {
  const c = compareResourceVersions(a, b);
  return c !== undefined && c < 0;
}
