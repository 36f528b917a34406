// `kubectl fleetiq status`: per game server node (role=game-servers), its instance (from the
// providerID), the FleetIQ status the node agent last observed and how long ago, the drain phase it
// recorded and since when, and the Allocated and Ready game servers on it (its game server pods joined
// with their GameServers by name). Read from the cluster alone: it works the same against a real
// cluster and the sandbox. buildStatusRows, formatStatusTable and formatStatusDocument are pure;
// fetchClusterState does the reading.
//
// Exit codes, as documented in the README: 0 done, 1 the cluster or the kubeconfig could not be read
// (or an unsupported Node.js), 2 a usage error (unknown flag, invalid value), 3 a waiting drain was
// interrupted (plugin-kube.ts). The plugin's program is plugin.ts; the drain commands fleetiq-drain.ts.
import { CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { Option, type Command } from 'commander';
import { stringify as toYaml } from 'yaml';
import { DRAIN_TAINT_KEY, GAME_SERVER_NODE_LABEL, INSTANCE_STATUS_LABEL } from '../shared/contract.js';
import {
  DRAIN_PHASE_ANNOTATION,
  DRAIN_REQUESTED_AT_ANNOTATION,
  DRAIN_STARTED_AT_ANNOTATION,
  readDrainRecord,
  readDrainRequest,
  readObservedStatus,
} from '../shared/drain-contract.js';
import {
  EXIT_ERROR,
  EXIT_USAGE,
  describeError,
  loadKubeConfig,
  pause,
  type CommandContext,
} from './plugin-kube.js';

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
  /**
   * What the node agent last observed from FleetIQ (annotation gamelift.status/fleetiq-status), or
   * '-' when it recorded nothing (no agent yet, or one older than this plugin).
   */
  fleetiqStatus: string;
  /** Epoch ms FleetIQ was observed saying so. */
  fleetiqStatusObservedAt?: number;
  /** The gamelift.status/instance-status label: the status the agent last acted on ('-' when none). */
  instanceStatusLabel: string;
  drainPhase: string;
  /**
   * Why the node drains (annotation gamelift.status/drain-reason: spot, fleetiq, request, rebalance;
   * a drain an older agent recorded without one reads as what it drained for), '-' when not draining.
   */
  drainReason: string;
  /** Epoch ms the drain started (drain-started-at), when draining. */
  drainStartedAt?: number;
  /** The operator's request (annotation gamelift.status/drain-request: drain or deregister), '-' when none. */
  drainRequest: string;
  /** Epoch ms of the request (drain-requested-at), when recorded. */
  drainRequestedAt?: number;
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

const naturalOrder = new Intl.Collator('en', { numeric: true });
/** Node names in the order a person counts them: ip-10-0-0-4 before ip-10-0-0-10. */
export function compareNodeNames(a: string, b: string): number {
  return naturalOrder.compare(a, b) || (a < b ? -1 : a > b ? 1 : 0);
}

export function buildStatusRows(state: ClusterState): NodeStatusRow[] {
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
      const requestedAt = Date.parse(annotations[DRAIN_REQUESTED_AT_ANNOTATION] ?? '');
      const record = readDrainRecord(annotations, 0);
      const observed = readObservedStatus(annotations);
      const c = perNode.get(name) ?? { allocated: 0, ready: 0, total: 0 };
      const row: NodeStatusRow = {
        node: name,
        instanceId: instanceIdFromProviderId(n.spec?.providerID),
        fleetiqStatus: observed?.status ?? '-',
        instanceStatusLabel: n.metadata?.labels?.[INSTANCE_STATUS_LABEL] ?? '-',
        drainPhase: phase,
        drainReason: record?.reason ?? '-',
        drainRequest: readDrainRequest(annotations) ?? '-',
        cordoned: Boolean(n.spec?.unschedulable),
        tainted: (n.spec?.taints ?? []).some((t) => t.key === DRAIN_TAINT_KEY),
        allocated: c.allocated,
        ready: c.ready,
        gameServers: c.total,
      };
      if (observed) row.fleetiqStatusObservedAt = observed.observedAt;
      if (phase !== 'Active' && !Number.isNaN(startedAt)) row.drainStartedAt = startedAt;
      if (row.drainRequest !== '-' && !Number.isNaN(requestedAt)) row.drainRequestedAt = requestedAt;
      return row;
    })
    .sort((a, b) => compareNodeNames(a.node, b.node));
}

/** 3725000 → "1h2m", 95000 → "1m35s", 4000 → "4s" (kubectl's AGE style). */
export function formatAge(ms: number): string {
  const s = Math.floor(Math.max(0, ms) / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60 ? `${s % 60}s` : ''}`;
  if (s < 86400)
    return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60) ? `${Math.floor((s % 3600) / 60)}m` : ''}`;
  return `${Math.floor(s / 86400)}d${Math.floor((s % 86400) / 3600) ? `${Math.floor((s % 86400) / 3600)}h` : ''}`;
}

export type OutputFormat = 'table' | 'wide' | 'json' | 'yaml';
export const OUTPUT_FORMATS: readonly OutputFormat[] = ['table', 'wide', 'json', 'yaml'];

const age = (since: number | undefined, now: number) => (since === undefined ? '-' : formatAge(now - since));

/**
 * A kubectl-style table (columns padded to their widest cell, three spaces apart). `wide` adds the
 * node label the agent acted on, the game server pod count and the scheduling state.
 */
export function formatStatusTable(rows: NodeStatusRow[], now: number, wide = false): string {
  const columns: Array<[string, (r: NodeStatusRow) => string]> = [
    ['NODE', (r) => r.node],
    ['INSTANCE', (r) => r.instanceId],
    ['FLEETIQ-STATUS', (r) => r.fleetiqStatus],
    ['SEEN', (r) => age(r.fleetiqStatusObservedAt, now)],
    ['DRAIN-PHASE', (r) => r.drainPhase],
    ['REASON', (r) => r.drainReason],
    ['DRAINING-FOR', (r) => age(r.drainStartedAt, now)],
    ['REQUEST', (r) => r.drainRequest],
    ['ALLOCATED', (r) => String(r.allocated)],
    ['READY', (r) => String(r.ready)],
  ];
  if (wide)
    columns.push(
      ['NODE-LABEL', (r) => r.instanceStatusLabel],
      ['GAME-SERVERS', (r) => String(r.gameServers)],
      [
        'SCHEDULING',
        (r) =>
          [r.cordoned ? 'Cordoned' : 'Schedulable', r.tainted ? 'DrainTaint' : ''].filter(Boolean).join(','),
      ],
    );
  if (rows.length === 0)
    return `No game server nodes (label ${GAME_SERVER_NODE_LABEL.key}=${GAME_SERVER_NODE_LABEL.value}) found.`;
  const header = columns.map(([h]) => h);
  const body = rows.map((r) => columns.map(([, cell]) => cell(r)));
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('   ')
      .trimEnd();
  return [line(header), ...body.map(line)].join('\n');
}

/** The rows as a kubectl-style List for -o json / -o yaml (times as RFC 3339, no ages). */
export function formatStatusDocument(rows: NodeStatusRow[], format: 'json' | 'yaml'): string {
  const iso = (t: number | undefined) => (t === undefined ? null : new Date(t).toISOString());
  const doc = {
    apiVersion: 'v1',
    kind: 'List',
    items: rows.map((r) => ({
      node: r.node,
      instanceId: r.instanceId === '-' ? null : r.instanceId,
      fleetiqStatus: r.fleetiqStatus === '-' ? null : r.fleetiqStatus,
      fleetiqStatusObservedAt: iso(r.fleetiqStatusObservedAt),
      instanceStatusLabel: r.instanceStatusLabel === '-' ? null : r.instanceStatusLabel,
      drainPhase: r.drainPhase,
      drainReason: r.drainReason === '-' ? null : r.drainReason,
      drainStartedAt: iso(r.drainStartedAt),
      drainRequest: r.drainRequest === '-' ? null : r.drainRequest,
      drainRequestedAt: iso(r.drainRequestedAt),
      cordoned: r.cordoned,
      tainted: r.tainted,
      allocated: r.allocated,
      ready: r.ready,
      gameServers: r.gameServers,
    })),
  };
  return format === 'json' ? JSON.stringify(doc, null, 2) : toYaml(doc).trimEnd();
}

export interface FetchOptions {
  /** Extra label selector for the nodes (ANDed with role=game-servers). */
  selector?: string;
  /** Count only the game servers of this namespace (default: every namespace). */
  namespace?: string;
}

export async function fetchClusterState(kc: KubeConfig, o: FetchOptions = {}): Promise<ClusterState> {
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const nodeSelector = [`${GAME_SERVER_NODE_LABEL.key}=${GAME_SERVER_NODE_LABEL.value}`, o.selector]
    .filter(Boolean)
    .join(',');
  const podSelector = 'agones.dev/role=gameserver';
  const gameServers = { group: 'agones.dev', version: 'v1', plural: 'gameservers' };
  const [nodes, pods, gss] = await Promise.all([
    core.listNode({ labelSelector: nodeSelector }),
    o.namespace
      ? core.listNamespacedPod({ namespace: o.namespace, labelSelector: podSelector })
      : core.listPodForAllNamespaces({ labelSelector: podSelector }),
    (o.namespace
      ? custom.listNamespacedCustomObject({ ...gameServers, namespace: o.namespace })
      : custom.listClusterCustomObject(gameServers)) as Promise<{ items?: ObjectLike[] }>,
  ]);
  return {
    nodes: nodes.items as ObjectLike[],
    pods: pods.items as ObjectLike[],
    gameServers: gss.items ?? [],
  };
}

interface StatusFlags {
  watch?: boolean;
  interval: string;
  kubeconfig?: string;
  context?: string;
  namespace?: string;
  allNamespaces?: boolean;
  selector?: string;
  output: OutputFormat;
}

/** Registers `status` on the plugin's program (plugin.ts). */
export function registerStatusCommand(program: Command, ctx: CommandContext): void {
  const { io, signal } = ctx;
  const usage = (message: string) => {
    io.stderr.write(`error: ${message}\n`);
    ctx.setCode(EXIT_USAGE);
  };
  program
    .command('status')
    .description(
      'per game server node: instance, the FleetIQ status its agent last observed and how long ago, ' +
        'drain phase, why (REASON) and since when, any drain request, allocated and ready game servers',
    )
    .option('-w, --watch', 'keep printing the table as it changes')
    .option('--interval <seconds>', 'with --watch, seconds between reads', '2')
    .option(
      '--kubeconfig <path>',
      'kubeconfig file (default: KUBECONFIG, then ~/.kube/config, then in-cluster)',
    )
    .option('--context <name>', 'the kubeconfig context to use (default: its current context)')
    .option('-n, --namespace <namespace>', 'count only the game servers of this namespace (default: all)')
    .option('-A, --all-namespaces', 'count the game servers of every namespace (the default)')
    .option('-l, --selector <selector>', 'label selector for the nodes, added to role=game-servers')
    .addOption(
      new Option('-o, --output <format>', 'table (default), wide, json or yaml')
        .choices(OUTPUT_FORMATS)
        .default('table'),
    )
    .addHelpText(
      'after',
      '\nExit codes: 0 done; 1 the cluster or the kubeconfig could not be read; 2 a usage error.\n' +
        'FLEETIQ-STATUS is what the node agent last observed from FleetIQ, SEEN how long ago FleetIQ said it.\n' +
        "REASON is why the node drains (spot, fleetiq, request, rebalance); REQUEST an operator's drain request\n" +
        '(drain or deregister: kubectl fleetiq drain).\n',
    )
    .action(async (flags: StatusFlags) => {
      const interval = Number(flags.interval);
      if (!(interval > 0))
        return usage(`--interval must be a positive number of seconds, got "${flags.interval}"`);
      if (flags.namespace !== undefined && flags.allNamespaces)
        return usage('--namespace and --all-namespaces cannot be combined');
      let kc: KubeConfig;
      try {
        kc = loadKubeConfig(flags.kubeconfig ?? undefined, flags.context, io.env);
      } catch (err) {
        io.stderr.write(`error: cannot load the kubeconfig: ${(err as Error).message}\n`);
        ctx.setCode(EXIT_ERROR);
        return;
      }
      const fetch: FetchOptions = {
        ...(flags.selector ? { selector: flags.selector } : {}),
        ...(flags.namespace ? { namespace: flags.namespace } : {}),
      };
      const render = (rows: NodeStatusRow[]) =>
        flags.output === 'json' || flags.output === 'yaml'
          ? formatStatusDocument(rows, flags.output)
          : formatStatusTable(rows, Date.now(), flags.output === 'wide');
      // What the watch compares: the rows without ages, so a table is printed again only on a change.
      let lastRows = '';
      let last = '';
      for (;;) {
        let out: string;
        let rowsKey: string;
        try {
          const rows = buildStatusRows(await fetchClusterState(kc, fetch));
          out = render(rows);
          rowsKey = JSON.stringify(rows);
        } catch (err) {
          io.stderr.write(
            `error: cannot read the cluster (${kc.getCurrentCluster()?.server ?? 'no server'}): ${describeError(err)}\n`,
          );
          ctx.setCode(EXIT_ERROR);
          if (!flags.watch) return;
          out = last;
          rowsKey = lastRows;
        }
        if (!flags.watch) {
          io.stdout.write(`${out}\n`);
          return;
        }
        if (io.stdout.isTTY && flags.output !== 'json' && flags.output !== 'yaml')
          io.stdout.write(
            `\x1b[H\x1b[2J${new Date().toISOString()}  (every ${interval}s, Ctrl-C to stop)\n\n${out}\n`,
          );
        else if (rowsKey !== lastRows)
          io.stdout.write(
            `${flags.output === 'yaml' && last ? '---\n' : ''}${out}\n${flags.output === 'yaml' ? '' : '\n'}`,
          );
        last = out;
        lastRows = rowsKey;
        if (signal?.aborted) return;
        await pause(interval * 1000, signal);
        if (signal?.aborted) return;
      }
    });
}
