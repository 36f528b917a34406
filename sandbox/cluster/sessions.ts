// The session ledger: every game session the simulation plays (allocation → held for a while →
// the game server's own shutdown) and how it ended. A session is LOST when its GameServer leaves
// Allocated for any reason other than the session's own shutdown: its GameServer deleted or turned
// Unhealthy, its pod gone, its node gone. "Sessions lost" is the figure the project is judged by.

export type SessionOutcome = 'active' | 'completed' | 'lost';

export type LostReason =
  'gameserver-deleted' | 'gameserver-left-allocated' | 'pod-gone' | 'node-gone' | string;

export interface SessionRecord {
  id: number;
  namespace: string;
  gameServer: string;
  /** The GameServer's uid at allocation: a re-created GameServer of the same name is another one. */
  uid?: string;
  nodeName?: string;
  allocatedAt: number;
  /** When the driver plans to end it. */
  plannedEndAt?: number;
  /** Set when the driver starts its own shutdown: what happens after that is not a loss. */
  shutdownRequestedAt?: number;
  endedAt?: number;
  outcome: SessionOutcome;
  lostReason?: LostReason;
  /** Set by the caller: the session's node got a spot interruption notice while it was held. */
  interruptedBySpotNotice: boolean;
}

export interface SessionSummary {
  started: number;
  active: number;
  completed: number;
  lost: number;
  interruptedBySpotNotice: number;
  lostByReason: Record<string, number>;
}

function gsKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

export class SessionLedger {
  private readonly records: SessionRecord[] = [];
  /** Active sessions per GameServer (more than one after a re-allocation of an Allocated one). */
  private readonly activeByGameServer = new Map<string, SessionRecord[]>();
  private nextId = 1;

  /** Records a session starting on an Allocated GameServer. A still-active session on it ends as lost first. */
  start(input: {
    namespace: string;
    gameServer: string;
    uid?: string;
    nodeName?: string;
    at: number;
    plannedEndAt?: number;
  }): SessionRecord {
    const key = gsKey(input.namespace, input.gameServer);
    const record: SessionRecord = {
      id: this.nextId++,
      namespace: input.namespace,
      gameServer: input.gameServer,
      uid: input.uid,
      nodeName: input.nodeName,
      allocatedAt: input.at,
      plannedEndAt: input.plannedEndAt,
      outcome: 'active',
      interruptedBySpotNotice: false,
    };
    this.records.push(record);
    const list = this.activeByGameServer.get(key);
    if (list) list.push(record);
    else this.activeByGameServer.set(key, [record]);
    return record;
  }

  get(id: number): SessionRecord | undefined {
    return this.records[id - 1];
  }

  activeFor(namespace: string, gameServer: string): SessionRecord[] {
    return [...(this.activeByGameServer.get(gsKey(namespace, gameServer)) ?? [])];
  }

  /** The driver is about to shut the game server down itself. */
  beginShutdown(id: number, at: number): void {
    const r = this.get(id);
    if (r && r.outcome === 'active' && r.shutdownRequestedAt === undefined) r.shutdownRequestedAt = at;
  }

  /** The session ended as planned. A session already lost stays lost. */
  complete(id: number, at: number): void {
    const r = this.get(id);
    if (r && r.outcome === 'active') this.end(r, 'completed', at);
  }

  /** The session was cut short; ignored once the driver's own shutdown has begun. */
  lose(id: number, reason: LostReason, at: number): boolean {
    const r = this.get(id);
    if (!r || r.outcome !== 'active' || r.shutdownRequestedAt !== undefined) return false;
    this.end(r, 'lost', at, reason);
    return true;
  }

  private end(r: SessionRecord, outcome: 'completed' | 'lost', at: number, reason?: LostReason): void {
    r.outcome = outcome;
    r.endedAt = at;
    if (reason) r.lostReason = reason;
    const key = gsKey(r.namespace, r.gameServer);
    const list = this.activeByGameServer.get(key);
    if (!list) return;
    const rest = list.filter((x) => x !== r);
    if (rest.length === 0) this.activeByGameServer.delete(key);
    else this.activeByGameServer.set(key, rest);
  }

  /** Active sessions on a GameServer whose own shutdown has not begun. */
  private exposed(namespace: string, name: string): SessionRecord[] {
    return (this.activeByGameServer.get(gsKey(namespace, name)) ?? []).filter(
      (r) => r.shutdownRequestedAt === undefined,
    );
  }

  /**
   * Feeds one observation of a GameServer (undefined object: it was deleted). The active session
   * on it is lost if it is gone, is another incarnation, or is no longer Allocated, unless the
   * session's own shutdown has begun.
   */
  observeGameServer(
    namespace: string,
    name: string,
    gs: { uid?: string; state?: string; nodeName?: string; deleting?: boolean } | undefined,
    at: number,
  ): SessionRecord[] {
    const lost: SessionRecord[] = [];
    for (const r of this.exposed(namespace, name)) {
      if (!gs || (r.uid && gs.uid && gs.uid !== r.uid)) {
        this.end(r, 'lost', at, 'gameserver-deleted');
        lost.push(r);
        continue;
      }
      if (gs.nodeName && !r.nodeName) r.nodeName = gs.nodeName;
      if (gs.state !== undefined && gs.state !== 'Allocated') {
        this.end(r, 'lost', at, `gameserver-left-allocated:${gs.state}`);
        lost.push(r);
      }
    }
    return lost;
  }

  /** The GameServer's pod is gone (deleted, or evicted) while the session was held. */
  observePodGone(namespace: string, name: string, at: number): SessionRecord[] {
    const lost = this.exposed(namespace, name);
    for (const r of lost) this.end(r, 'lost', at, 'pod-gone');
    return lost;
  }

  /** The node is gone: every held session on it is lost. */
  observeNodeGone(nodeName: string, at: number): SessionRecord[] {
    const lost: SessionRecord[] = [];
    for (const r of this.active()) {
      if (r.nodeName === nodeName && r.shutdownRequestedAt === undefined) {
        this.end(r, 'lost', at, 'node-gone');
        lost.push(r);
      }
    }
    return lost;
  }

  /** Flags sessions (held now) that a spot interruption notice reached; returns how many. */
  markInterruptedBySpotNotice(match: { nodeName: string } | ((r: SessionRecord) => boolean)): number {
    const pred = typeof match === 'function' ? match : (r: SessionRecord) => r.nodeName === match.nodeName;
    let n = 0;
    for (const r of this.active()) {
      if (!r.interruptedBySpotNotice && pred(r)) {
        r.interruptedBySpotNotice = true;
        n++;
      }
    }
    return n;
  }

  active(): SessionRecord[] {
    return [...this.activeByGameServer.values()].flat();
  }

  all(): readonly SessionRecord[] {
    return this.records;
  }

  summary(): SessionSummary {
    const s: SessionSummary = {
      started: 0,
      active: 0,
      completed: 0,
      lost: 0,
      interruptedBySpotNotice: 0,
      lostByReason: {},
    };
    for (const r of this.records) {
      s.started++;
      s[r.outcome]++;
      if (r.interruptedBySpotNotice) s.interruptedBySpotNotice++;
      if (r.outcome === 'lost') {
        const reason = (r.lostReason ?? 'unknown').split(':')[0];
        s.lostByReason[reason] = (s.lostByReason[reason] ?? 0) + 1;
      }
    }
    return s;
  }
}
