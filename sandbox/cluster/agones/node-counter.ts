// Agones' PerNodeCounter kept incrementally from GameServer watch events (the pure countByNode
// recomputes the same from scratch): Ready and Allocated GameServers per node. A node gets an entry
// when a GameServer on it first counts, and loses it when the Node is deleted.

import type { KubeObject } from '../../kube/types.js';
import type { NodeCount } from '../allocation.js';
import { stateOf } from '../gameserver-state.js';

function weight(gs: KubeObject | undefined): { node: string; ready: number; allocated: number } | undefined {
  if (!gs) return undefined;
  const node = gs.status?.nodeName;
  if (!node) return undefined;
  const s = stateOf(gs);
  return { node, ready: s === 'Ready' ? 1 : 0, allocated: s === 'Allocated' ? 1 : 0 };
}

export class PerNodeCounter {
  readonly counts = new Map<string, NodeCount>();

  private add(node: string, ready: number, allocated: number): void {
    if (ready === 0 && allocated === 0) return;
    let c = this.counts.get(node);
    // A decrement for a node without an entry (e.g. its Node was deleted) creates none.
    if (!c && ready <= 0 && allocated <= 0) return;
    if (!c) this.counts.set(node, (c = { ready: 0, allocated: 0 }));
    c.ready = Math.max(0, c.ready + ready);
    c.allocated = Math.max(0, c.allocated + allocated);
  }

  /** Applies one GameServer event (old: what the cache held before). */
  onGameServer(type: 'ADDED' | 'MODIFIED' | 'DELETED', gs: KubeObject, old: KubeObject | undefined): void {
    const before = weight(old);
    const after = type === 'DELETED' ? undefined : weight(gs);
    if (before) this.add(before.node, -before.ready, -before.allocated);
    if (after) this.add(after.node, after.ready, after.allocated);
  }

  onNodeDeleted(name: string): void {
    this.counts.delete(name);
  }
}
