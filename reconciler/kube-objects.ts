// The Kubernetes objects the agent reads, reduced to what decide() looks at. Pure: everything here is
// computed from objects as the API server sends them (watch events and responses are plain JSON), so
// the same observation always yields the same views.
import { podToleratesDrain, type NodeView } from '../shared/drain-contract.js';
import { objectKey, type KubeObjectLike } from '../shared/kube-object.js';
import type { GameServerView } from './decide.js';

/** Agones labels every game server pod with this (the pod watch selects on it). */
export const GAME_SERVER_POD_SELECTOR = 'agones.dev/role=gameserver';

export function nodeView(node: KubeObjectLike): NodeView {
  const taints: NodeView['taints'] = Array.isArray(node.spec?.taints)
    ? node.spec.taints.map((t: { key?: string; value?: string; effect?: string }) => ({
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
      ...(gs.status?.nodeName !== pod.spec?.nodeName ? { notYetOnNode: true } : {}),
    });
  }
  return out.sort((a, b) =>
    a.namespace === b.namespace ? cmp(a.name, b.name) : cmp(a.namespace, b.namespace),
  );
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
