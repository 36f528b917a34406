// `kubectl fleetiq status`: per game server node (role=game-servers), its instance (from the
// providerID), the FleetIQ status the node agent last labelled it with, the drain phase it recorded and
// since when, and the Allocated and Ready game servers on it (its game server pods joined with their
// GameServers by name). Read from the cluster alone: it works the same against a real cluster and the
// sandbox. buildStatusRows and formatStatusTable are pure; fetchClusterState does the reading.
import { CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { Command } from 'commander';
import { DRAIN_TAINT_KEY, GAME_SERVER_NODE_LABEL, INSTANCE_STATUS_LABEL } from '../shared/contract.js';
import { DRAIN_PHASE_ANNOTATION, DRAIN_STARTED_AT_ANNOTATION } from '../reconciler/node-state.js';

/** The few fields read from each object (client-node's models and plain JSON both fit). */
export interface ObjectLike {
  metadata?: {
    name?: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  spec?: { providerID?: string; unschedulable?: boolean; taints?: Array<{ key: string }>; nodeName?: string };
  status?: { state?: string };
}

export interface NodeStatusRow {
  node: string;
  instanceId: string;
  /** The node label (the agent's view of FleetIQ), or '-' when the agent has not labelled it. */
  fleetiqStatus: string;
  drainPhase: string;
  /** Ms since the drain started (drain-started-at), when draining. */
  drainingForMs?: number;
  cordoned: boolean;
  tainted: boolean;
  allocated: number;
  ready: number;
  /** Game server pods on the node, whatever their GameServer's state. */
  gameServers: number;
}

export interface ClusterState {
  nodes: ObjectLike[];
  pods: ObjectLike[];
  gameServers: ObjectLike[];
}

export function instanceIdFromProviderId(providerID: string | undefined): string {
  const m = /\/(i-[0-9a-zA-Z]+)$/.exec(providerID ?? '');
  return m?.[1] ?? '-';
}

export function buildStatusRows(state: ClusterState, now: number): NodeStatusRow[] {
  const gsState = new Map<string, string | undefined>();
  for (const gs of state.gameServers)
    gsState.set(`${gs.metadata?.namespace ?? 'default'}/${gs.metadata?.name}`, gs.status?.state);
  const perNode = new Map<string, { allocated: number; ready: number; total: number }>();
  for (const pod of state.pods) {
    const node = pod.spec?.nodeName;
    if (!node) continue;
    let c = perNode.get(node);
    if (!c) perNode.set(node, (c = { allocated: 0, ready: 0, total: 0 }));
    c.total++;
    const s = gsState.get(`${pod.metadata?.namespace ?? 'default'}/${pod.metadata?.name}`);
    if (s === 'Allocated') c.allocated++;
    else if (s === 'Ready') c.ready++;
  }
  return state.nodes
    .map((n) => {
      const name = n.metadata?.name ?? '';
      const annotations = n.metadata?.annotations ?? {};
      const phase = annotations[DRAIN_PHASE_ANNOTATION] ?? 'Active';
      const startedAt = Date.parse(annotations[DRAIN_STARTED_AT_ANNOTATION] ?? '');
      const c = perNode.get(name) ?? { allocated: 0, ready: 0, total: 0 };
      const row: NodeStatusRow = {
        node: name,
        instanceId: instanceIdFromProviderId(n.spec?.providerID),
        fleetiqStatus: n.metadata?.labels?.[INSTANCE_STATUS_LABEL] ?? '-',
        drainPhase: phase,
        cordoned: Boolean(n.spec?.unschedulable),
        tainted: (n.spec?.taints ?? []).some((t) => t.key === DRAIN_TAINT_KEY),
        allocated: c.allocated,
        ready: c.ready,
        gameServers: c.total,
      };
      if (phase !== 'Active' && !Number.isNaN(startedAt)) row.drainingForMs = Math.max(0, now - startedAt);
      return row;
    })
    .sort((a, b) => a.node.localeCompare(b.node));
}

/** 3725000 → "1h2m", 95000 → "1m35s", 4000 → "4s" (kubectl's AGE style). */
export function formatAge(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60 ? `${s % 60}s` : ''}`;
  if (s < 86400)
    return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60) ? `${Math.floor((s % 3600) / 60)}m` : ''}`;
  return `${Math.floor(s / 86400)}d${Math.floor((s % 86400) / 3600) ? `${Math.floor((s % 86400) / 3600)}h` : ''}`;
}

/** A kubectl-style table (columns padded to their widest cell, three spaces apart). */
export function formatStatusTable(rows: NodeStatusRow[]): string {
  const header = [
    'NODE',
    'INSTANCE',
    'FLEETIQ-STATUS',
    'DRAIN-PHASE',
    'DRAINING-FOR',
    'ALLOCATED',
    'READY',
    'SCHEDULING',
  ];
  const body = rows.map((r) => [
    r.node,
    r.instanceId,
    r.fleetiqStatus,
    r.drainPhase,
    r.drainingForMs === undefined ? '-' : formatAge(r.drainingForMs),
    String(r.allocated),
    String(r.ready),
    [r.cordoned ? 'Cordoned' : 'Schedulable', r.tainted ? 'DrainTaint' : ''].filter(Boolean).join(','),
  ]);
  if (body.length === 0)
    return `No game server nodes (label ${GAME_SERVER_NODE_LABEL.key}=${GAME_SERVER_NODE_LABEL.value}) found.`;
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('   ')
      .trimEnd();
  return [line(header), ...body.map(line)].join('\n');
}

export async function fetchClusterState(kc: KubeConfig): Promise<ClusterState> {
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const [nodes, pods, gameServers] = await Promise.all([
    core.listNode({ labelSelector: `${GAME_SERVER_NODE_LABEL.key}=${GAME_SERVER_NODE_LABEL.value}` }),
    core.listPodForAllNamespaces({ labelSelector: 'agones.dev/role=gameserver' }),
    custom.listClusterCustomObject({ group: 'agones.dev', version: 'v1', plural: 'gameservers' }) as Promise<{
      items?: ObjectLike[];
    }>,
  ]);
  return {
    nodes: nodes.items as ObjectLike[],
    pods: pods.items as ObjectLike[],
    gameServers: gameServers.items ?? [],
  };
}

export interface PluginIo {
  stdout: { write(s: string): unknown; isTTY?: boolean };
  stderr: { write(s: string): unknown };
  env: Record<string, string | undefined>;
}

function loadKubeConfig(path: string | undefined, env: PluginIo['env']): KubeConfig {
  const kc = new KubeConfig();
  const file = path ?? env.KUBECONFIG?.split(':').find(Boolean);
  if (file) kc.loadFromFile(file);
  else kc.loadFromDefault();
  return kc;
}

function describeError(err: unknown): string {
  const e = err as { code?: number; body?: unknown; message?: string };
  if (typeof e.code === 'number' && e.code >= 400) {
    let message = '';
    try {
      const body = typeof e.body === 'string' ? JSON.parse(e.body) : e.body;
      message = (body as { message?: string })?.message ?? '';
    } catch {
      message = String(e.body ?? '');
    }
    return `the API server answered ${e.code}${message ? `: ${message}` : ''}`;
  }
  return e.message ?? String(err);
}

/**
 * Runs the plugin with kubectl's arguments (after `kubectl fleetiq`). Resolves with the exit code;
 * with --watch it runs until `signal` aborts.
 */
export async function runFleetIQPlugin(args: string[], io: PluginIo, signal?: AbortSignal): Promise<number> {
  let code = 0;
  const program = new Command('kubectl fleetiq')
    .description('FleetIQ drain status of game server nodes (fleetiq-agones)')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) });
  program
    .command('status')
    .description(
      'per game server node: instance, FleetIQ status, drain phase and since when, allocated/ready game servers',
    )
    .option('-w, --watch', 'keep printing the table as it changes')
    .option('--interval <seconds>', 'with --watch, seconds between reads', '2')
    .option(
      '--kubeconfig <path>',
      'kubeconfig file (default: KUBECONFIG, then ~/.kube/config, then in-cluster)',
    )
    .action(async (flags: { watch?: boolean; interval: string; kubeconfig?: string }) => {
      const interval = Number(flags.interval);
      if (!(interval > 0)) {
        io.stderr.write(`error: --interval must be a positive number of seconds, got "${flags.interval}"\n`);
        code = 1;
        return;
      }
      let kc: KubeConfig;
      try {
        kc = loadKubeConfig(flags.kubeconfig, io.env);
      } catch (err) {
        io.stderr.write(`error: cannot load the kubeconfig: ${(err as Error).message}\n`);
        code = 1;
        return;
      }
      let last = '';
      for (;;) {
        let table: string;
        try {
          table = formatStatusTable(buildStatusRows(await fetchClusterState(kc), Date.now()));
        } catch (err) {
          io.stderr.write(
            `error: cannot read the cluster (${kc.getCurrentCluster()?.server ?? 'no server'}): ${describeError(err)}\n`,
          );
          code = 1;
          if (!flags.watch) return;
          table = last;
        }
        if (!flags.watch) {
          io.stdout.write(`${table}\n`);
          return;
        }
        if (io.stdout.isTTY)
          io.stdout.write(
            `\x1b[H\x1b[2J${new Date().toISOString()}  (every ${interval}s, Ctrl-C to stop)\n\n${table}\n`,
          );
        else if (table !== last) io.stdout.write(`${table}\n\n`);
        last = table;
        if (signal?.aborted) return;
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, interval * 1000);
          signal?.addEventListener('abort', () => {
            clearTimeout(t);
            resolve();
          });
        });
        if (signal?.aborted) return;
      }
    });
  try {
    await program.parseAsync(args, { from: 'user' });
  } catch (err) {
    const exitCode = (err as { exitCode?: number }).exitCode;
    return typeof exitCode === 'number' ? exitCode : 1;
  }
  return code;
}
