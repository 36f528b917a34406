// What the drain commands' tests share, on the emulator and on the real API server alike: game server
// nodes and sessions made by hand, and the node agents played by the test (each requested node moves
// one drain phase a step, as the agent records them; a node group replaces what is drained).
import type { KubeObject, LocalClient } from '../../sandbox/kube/types.js';

export const NODES = { group: '', version: 'v1', resource: 'nodes' };
export const REQUEST = 'gamelift.status/drain-request';
export const REQUESTED_AT = 'gamelift.status/drain-requested-at';
export const PHASE = 'gamelift.status/drain-phase';
export const REASON = 'gamelift.status/drain-reason';
export const STARTED = 'gamelift.status/drain-started-at';
const GAMESERVERS = { group: 'agones.dev', version: 'v1', resource: 'gameservers', namespace: 'default' };
const PODS = { group: '', version: 'v1', resource: 'pods', namespace: 'default' };

const NEXT: Record<string, string> = {
  Active: 'Cordoned',
  Cordoned: 'Fenced',
  Fenced: 'Tainted',
  Tainted: 'Drained',
};

export class DrainTestCluster {
  constructor(private readonly admin: LocalClient) {}

  async clear(): Promise<void> {
    for (const n of (await this.admin.list(NODES)).items)
      await this.admin.delete({ ...NODES, name: n.metadata.name! });
    for (const g of (await this.admin.list(GAMESERVERS)).items)
      await this.admin.delete({ ...GAMESERVERS, name: g.metadata.name! });
    for (const p of (await this.admin.list(PODS)).items)
      await this.admin.delete({ ...PODS, name: p.metadata.name! }, { gracePeriodSeconds: 0 });
  }

  async addNode(
    name: string,
    labels: Record<string, string> = { role: 'game-servers', 'eks.amazonaws.com/nodegroup': 'old' },
    annotations: Record<string, string> = {},
  ): Promise<void> {
    const id = name.replace(/\W/g, '').padStart(16, '0').slice(-16);
    await this.admin.create(NODES, {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name, labels, annotations },
      spec: { providerID: `aws:///us-east-1a/i-0${id}` },
    });
  }

  /** A game server (Allocated: a session) on `node`, with its pod. */
  async addSession(name: string, node: string, state = 'Allocated'): Promise<void> {
    await this.admin.create(GAMESERVERS, {
      apiVersion: 'agones.dev/v1',
      kind: 'GameServer',
      metadata: { name, namespace: 'default' },
      spec: {
        container: 'game',
        ports: [],
        template: { spec: { containers: [{ name: 'game', image: 'game:1' }] } },
      },
      status: { state, nodeName: node },
    });
    await this.admin.create(PODS, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: 'default', labels: { 'agones.dev/role': 'gameserver' } },
      spec: { nodeName: node, containers: [{ name: 'game', image: 'game:1' }] },
    });
  }

  async endSession(name: string): Promise<void> {
    await this.admin.delete({ ...GAMESERVERS, name });
  }

  async annotations(name: string): Promise<Record<string, string>> {
    return (await this.admin.get({ ...NODES, name })).metadata.annotations ?? {};
  }

  async annotate(name: string, changes: Record<string, string | null>): Promise<void> {
    await this.admin.patch({ ...NODES, name }, 'merge', { metadata: { annotations: changes } });
  }

  /**
   * Plays the node agents: every `everyMs`, each requested node moves one phase on (except `held`
   * ones at Tainted: a session that does not end); Drained goes on to Deregistered on a `deregister`
   * request. With `replace`, the node group removes each finished node and adds a new one outside the
   * old group. Tracks the most requested-or-draining, unfinished nodes seen at once.
   */
  playAgents(o: { replace?: boolean; held?: Set<string>; everyMs?: number } = {}) {
    let stopped = false;
    let maxUnavailable = 0;
    let added = 0;
    const loop = (async () => {
      while (!stopped) {
        const nodes = (await this.admin.list(NODES)).items as KubeObject[];
        let unavailable = 0;
        for (const n of nodes) {
          const a = n.metadata.annotations ?? {};
          const name = n.metadata.name!;
          const phase = a[PHASE] ?? 'Active';
          const finished = phase === 'Deregistered' || (phase === 'Drained' && a[REQUEST] === 'drain');
          if ((a[REQUEST] !== undefined || phase !== 'Active') && !finished) unavailable++;
          if (finished && o.replace) {
            await this.admin.delete({ ...NODES, name });
            await this.addNode(`new-${++added}`, {
              role: 'game-servers',
              'eks.amazonaws.com/nodegroup': 'new',
            });
            continue;
          }
          if (a[REQUEST] === undefined || (o.held?.has(name) && phase === 'Tainted')) continue;
          const next = phase === 'Drained' && a[REQUEST] === 'deregister' ? 'Deregistered' : NEXT[phase];
          if (next)
            await this.annotate(name, {
              [PHASE]: next,
              [REASON]: a[REASON] ?? 'request',
              [STARTED]: a[STARTED] ?? new Date().toISOString(),
            });
        }
        maxUnavailable = Math.max(maxUnavailable, unavailable);
        await new Promise((r) => setTimeout(r, o.everyMs ?? 40));
      }
    })();
    return {
      max: () => maxUnavailable,
      stop: async () => {
        stopped = true;
        await loop;
      },
    };
  }
}
