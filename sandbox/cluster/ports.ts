// Agones' host port allocator, reduced: one table of taken ports per node, a port is handed out
// from the first table that still has a free one (so a port is never given to more GameServers
// than there are nodes). The scheduler's NodePorts filter then keeps two pods with the same host
// port off one node, exactly the interplay of the real system.

import type { SeededRandom } from '../clock.js';

export class PortAllocator {
  private readonly tables: Set<number>[] = [];

  constructor(
    readonly min = 7000,
    readonly max = 8000,
    private readonly random?: SeededRandom,
  ) {
    if (!(Number.isInteger(min) && Number.isInteger(max) && min > 0 && max <= 65535 && min <= max)) {
      throw new Error(`port range must be integers with 0 < min <= max <= 65535, got ${min}-${max}`);
    }
  }

  get size(): number {
    return this.max - this.min + 1;
  }

  /** Keeps one table per node (at least one, so a cluster without nodes yet can still allocate). */
  setNodeCount(nodes: number): void {
    const want = Math.max(1, nodes);
    while (this.tables.length < want) this.tables.push(new Set());
    // Drop empty tables beyond the node count; a table still holding ports stays until released.
    while (this.tables.length > want && this.tables[this.tables.length - 1].size === 0) this.tables.pop();
  }

  /** `count` host ports, or undefined when the range is exhausted on every table. */
  allocate(count: number): number[] | undefined {
    if (count <= 0) return [];
    if (this.tables.length === 0) this.setNodeCount(1);
    const out: { table: Set<number>; port: number }[] = [];
    for (const table of this.tables) {
      while (out.length < count && table.size < this.size) {
        const port = this.freePort(table, out);
        if (port === undefined) break;
        out.push({ table, port });
      }
      if (out.length === count) break;
    }
    if (out.length < count) return undefined;
    for (const { table, port } of out) table.add(port);
    return out.map((o) => o.port);
  }

  private freePort(table: Set<number>, pending: { table: Set<number>; port: number }[]): number | undefined {
    const size = this.size;
    const startOffset = this.random ? this.random.int(size) : 0;
    for (let i = 0; i < size; i++) {
      const port = this.min + ((startOffset + i) % size);
      if (table.has(port)) continue;
      if (pending.some((p) => p.table === table && p.port === port)) continue;
      return port;
    }
    return undefined;
  }

  /** Records ports already in use (a restarted controller re-reading existing GameServers). */
  markTaken(port: number): void {
    if (port < this.min || port > this.max) return;
    if (this.tables.length === 0) this.setNodeCount(1);
    const table = this.tables.find((t) => !t.has(port));
    if (table) table.add(port);
    else this.tables.push(new Set([port]));
  }

  release(port: number): void {
    for (const table of this.tables) {
      if (table.delete(port)) return;
    }
  }

  /** How many GameServers hold this port (for tests and metrics). */
  holders(port: number): number {
    return this.tables.filter((t) => t.has(port)).length;
  }
}
