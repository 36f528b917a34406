// Starting the Kubernetes emulator with the simulated cluster on it, and polling helpers.
import { startKubeEmulator, type KubeEmulator } from '../../../sandbox/kube/emulator.js';
import { SimClock } from '../../../sandbox/clock.js';
import {
  startClusterSimulation,
  type ClusterSimulation,
  type ClusterSimulationOptions,
} from '../../../sandbox/cluster/index.js';
import type { KubeObject, LocalClient } from '../../../sandbox/kube/types.js';
import { waitFor as waitFor_ } from '../../helpers/wait.js';

export interface TestCluster {
  emu: KubeEmulator;
  sim: ClusterSimulation;
  admin: LocalClient;
  clock: SimClock;
  stop(): Promise<void>;
}

export async function startTestCluster(
  options: Partial<ClusterSimulationOptions> & { speed?: number } = {},
): Promise<TestCluster> {
  const clock = new SimClock({ speed: options.speed ?? 50 });
  const emu = await startKubeEmulator({ clock });
  try {
    const sim = await startClusterSimulation(emu, { clock, seed: 7, readyTimeoutMs: 20_000, ...options });
    return {
      emu,
      sim,
      admin: emu.client(),
      clock,
      async stop() {
        await sim.stop();
        await emu.stop();
        clock.stop();
      },
    };
  } catch (err) {
    await emu.stop();
    clock.stop();
    throw err;
  }
}

/** Waits for a condition (see ../helpers/wait.ts), 15_000 ms by default here. */
export const until = <T>(what: string, condition: () => T | Promise<T>, timeoutMs = 15_000) =>
  waitFor_(what, condition, timeoutMs);

export const GS = { group: 'agones.dev', version: 'v1', resource: 'gameservers' } as const;
export const PODS = { group: '', version: 'v1', resource: 'pods' } as const;
export const NODES = { group: '', version: 'v1', resource: 'nodes' } as const;

export async function gameServers(admin: LocalClient, fleet?: string): Promise<KubeObject[]> {
  const res = await admin.list(
    { ...GS, namespace: 'default' },
    fleet ? { labelSelector: `agones.dev/fleet=${fleet}` } : {},
  );
  return res.items;
}

export async function pods(admin: LocalClient, nodeName?: string): Promise<KubeObject[]> {
  const res = await admin.list(
    { ...PODS, namespace: 'default' },
    nodeName ? { fieldSelector: `spec.nodeName=${nodeName}` } : {},
  );
  return res.items;
}

export async function nodeNames(admin: LocalClient): Promise<string[]> {
  return (await admin.list(NODES)).items.map((n) => n.metadata.name!).sort();
}

/** Ready (or Allocated) GameServers not being deleted, by node. */
export function byNode(list: KubeObject[], states = ['Ready', 'Allocated']): Map<string, KubeObject[]> {
  const m = new Map<string, KubeObject[]>();
  for (const gs of list) {
    if (gs.metadata.deletionTimestamp || !states.includes(gs.status?.state)) continue;
    const n = gs.status?.nodeName ?? '';
    m.set(n, [...(m.get(n) ?? []), gs]);
  }
  return m;
}

/** Records every state each GameServer passes through, from a watch. */
export function recordStates(admin: LocalClient): { states: Map<string, string[]>; stop: () => void } {
  const states = new Map<string, string[]>();
  const stop = admin.watch({ ...GS, namespace: 'default' }, {}, (ev) => {
    if (ev.type === 'BOOKMARK' || ev.type === 'ERROR') return;
    const name = ev.object.metadata.name!;
    const s = ev.type === 'DELETED' ? 'DELETED' : (ev.object.status?.state ?? '');
    const list = states.get(name) ?? [];
    if (list[list.length - 1] !== s) list.push(s);
    states.set(name, list);
  });
  return { states, stop };
}
