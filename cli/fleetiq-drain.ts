// `kubectl fleetiq drain` and `kubectl fleetiq undrain`: an operator's session-safe drain of game server
// nodes. The plugin only writes (or removes) the drain-request annotation on the Node; the node agent on
// it does the drain, with the same machine as a FleetIQ drain (cordon, fence, taint, wait for the last
// session) and stops at phase Drained (or deregisters, with --deregister). Watching and the rolling
// drain (--selector, --max-unavailable) read the cluster again at every step and plan with
// drain-plan.ts, so an interrupted rollout run again continues from what the Nodes show.
import { CoreV1Api, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import { Option, type Command } from 'commander';
import { stringify as toYaml } from 'yaml';
import { GAME_SERVER_NODE_LABEL } from '../shared/contract.js';
import { DRAIN_REQUEST_ANNOTATION, type DrainRequestMode } from '../shared/drain-contract.js';
import { parseDuration } from '../shared/duration.js';
import {
  drainRequestPatch,
  isDone,
  isUnavailable,
  planRollout,
  rolloutNodeOf,
  type RolloutPlan,
} from './drain-plan.js';
import {
  buildStatusRows,
  compareNodeNames,
  fetchClusterState,
  formatAge,
  type NodeStatusRow,
  type ObjectLike,
} from './fleetiq-status.js';
import {
  EXIT_ERROR,
  EXIT_INTERRUPTED,
  EXIT_OK,
  EXIT_USAGE,
  describeError,
  errorCode,
  loadKubeConfig,
  pause,
  type CommandContext,
} from './plugin-kube.js';

type DrainOutput = 'text' | 'json' | 'yaml';
const DRAIN_OUTPUTS: readonly DrainOutput[] = ['text', 'json', 'yaml'];

interface DrainFlags {
  selector?: string;
  maxUnavailable?: string;
  deregister?: boolean;
  dryRun?: boolean;
  watch?: boolean;
  interval: string;
  stuckAfter: string;
  kubeconfig?: string;
  context?: string;
  output: DrainOutput;
}

interface UndrainFlags {
  kubeconfig?: string;
  context?: string;
  output: DrainOutput;
}

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** What undrain says about a node whose request it removed (or that had none). */
export function undrainMessage(
  row: NodeStatusRow,
  hadRequest: boolean,
): { text: string; continues: boolean } {
  const continues = row.drainPhase !== 'Active' && row.drainReason !== 'request' && row.drainReason !== '-';
  if (!hadRequest)
    return {
      text: continues
        ? `has no drain request; its drain for ${row.drainReason} (phase ${row.drainPhase}) is not the plugin's to undo`
        : 'has no drain request',
      continues,
    };
  if (continues)
    return {
      text: `drain request removed; the drain for ${row.drainReason} (phase ${row.drainPhase}) continues regardless`,
      continues,
    };
  if (row.drainPhase === 'Deregistered')
    return {
      text: 'drain request removed; the node agent registers the instance with FleetIQ again and undoes the drain',
      continues,
    };
  return {
    text:
      row.drainPhase === 'Active'
        ? 'drain request removed (the drain had not started)'
        : `drain request removed; the node agent undoes the drain (phase ${row.drainPhase}): taint off, its own cordon lifted`,
    continues,
  };
}

const plural = (n: number, one: string) => `${n} ${one}${n === 1 ? '' : 's'}`;

export function registerDrainCommands(program: Command, ctx: CommandContext): void {
  const { io } = ctx;
  const now = ctx.now ?? Date.now;
  const usage = (message: string) => {
    io.stderr.write(`error: ${message}\n`);
    ctx.setCode(EXIT_USAGE);
  };
  const fail = (message: string) => {
    io.stderr.write(`error: ${message}\n`);
    ctx.setCode(EXIT_ERROR);
  };
  const kubeOptions = (c: Command) =>
    c
      .option(
        '--kubeconfig <path>',
        'kubeconfig file (default: KUBECONFIG, then ~/.kube/config, then in-cluster)',
      )
      .option('--context <name>', 'the kubeconfig context to use (default: its current context)')
      .addOption(
        new Option('-o, --output <format>', 'text (default), json or yaml (one document per line or change)')
          .choices(DRAIN_OUTPUTS)
          .default('text'),
      );
  const loadKc = (flags: { kubeconfig?: string; context?: string }): KubeConfig | undefined => {
    try {
      return loadKubeConfig(flags.kubeconfig ?? undefined, flags.context, io.env);
    } catch (err) {
      fail(`cannot load the kubeconfig: ${(err as Error).message}`);
      return undefined;
    }
  };
  const server = (kc: KubeConfig) => kc.getCurrentCluster()?.server ?? 'no server';

  /** Reads the named nodes; refuses (all of them, writing nothing) when one is missing or not a game server node. */
  const checkNamedNodes = async (kc: KubeConfig, names: string[]): Promise<boolean> => {
    const core = kc.makeApiClient(CoreV1Api);
    const problems: string[] = [];
    for (const name of names) {
      try {
        const node = (await core.readNode({ name })) as ObjectLike;
        if (node.metadata?.labels?.[GAME_SERVER_NODE_LABEL.key] !== GAME_SERVER_NODE_LABEL.value)
          problems.push(
            `node "${name}" is not a game server node (no label ${GAME_SERVER_NODE_LABEL.key}=${GAME_SERVER_NODE_LABEL.value}): ` +
              'no fleetiq-agones node agent runs there to drain it; use kubectl drain for other nodes',
          );
      } catch (err) {
        problems.push(
          errorCode(err) === 404
            ? `node "${name}" not found`
            : `cannot read node "${name}" (${server(kc)}): ${describeError(err)}`,
        );
      }
    }
    for (const p of problems) io.stderr.write(`error: ${p}\n`);
    if (problems.length) {
      io.stderr.write(`error: nothing was changed\n`);
      ctx.setCode(EXIT_ERROR);
    }
    return problems.length === 0;
  };

  /** The named nodes' rows once every one is a game server node (else the errors are written: undefined). */
  const readNamedNodes = async (
    kc: KubeConfig,
    names: string[],
  ): Promise<Map<string, NodeStatusRow> | undefined> => {
    if (!(await checkNamedNodes(kc, names))) return undefined;
    try {
      const rows = (await readRows(kc)).filter((r) => names.includes(r.node));
      return new Map(rows.map((r) => [r.node, r]));
    } catch (err) {
      fail(`cannot read the cluster (${server(kc)}): ${describeError(err)}`);
      return undefined;
    }
  };

  const readRows = async (kc: KubeConfig, selector?: string): Promise<NodeStatusRow[]> =>
    buildStatusRows(await fetchClusterState(kc, selector ? { selector } : {}));

  /** Writes `patch` on the node; false (and said) when it is gone or the write failed. */
  const patchNode = async (kc: KubeConfig, name: string, body: object): Promise<'ok' | 'gone' | 'failed'> => {
    try {
      await kc.makeApiClient(CoreV1Api).patchNode({ name, body }, mergePatch);
      return 'ok';
    } catch (err) {
      if (errorCode(err) === 404) return 'gone';
      io.stderr.write(`error: cannot write node "${name}" (${server(kc)}): ${describeError(err)}\n`);
      return 'failed';
    }
  };

  // ---- output: one line (text) or one document (json, yaml) per thing that happened ----
  const emitter = (output: DrainOutput) => {
    let first = true;
    return (doc: Record<string, unknown>, text: string) => {
      const at = now();
      if (output === 'json')
        io.stdout.write(`${JSON.stringify({ time: new Date(at).toISOString(), ...doc })}\n`);
      else if (output === 'yaml') {
        io.stdout.write(`${first ? '' : '---\n'}${toYaml({ time: new Date(at).toISOString(), ...doc })}`);
      } else io.stdout.write(`${new Date(at).toISOString().slice(11, 19)}  ${text}\n`);
      first = false;
    };
  };
  const document = (output: DrainOutput, doc: object) =>
    io.stdout.write(output === 'json' ? `${JSON.stringify(doc, null, 2)}\n` : toYaml(doc));

  /**
   * Follows the nodes (the named ones, or the selection) until every one is done, or the signal
   * aborts. With `rollout`, writes the planner's requests at each step. Printing compares with what
   * it printed before (display only: every decision is taken from the cluster read at that step).
   */
  const follow = async (
    kc: KubeConfig,
    target: { names: string[] } | { selector: string; maxUnavailable: number },
    mode: DrainRequestMode,
    intervalMs: number,
    stuckAfterMs: number,
    emit: ReturnType<typeof emitter>,
  ): Promise<number> => {
    const shown = new Map<string, string>();
    const stuckShown = new Set<string>();
    // Nodes seen drained (or gone after being seen) while following: for the closing line only.
    const finished = new Set<string>();
    let lastProgress = '';
    const startedAt = now();
    for (;;) {
      let rows: NodeStatusRow[] | undefined;
      try {
        rows = await readRows(kc, 'selector' in target ? target.selector : undefined);
      } catch (err) {
        // A rollout outlives an API server hiccup: said, and tried again at the next step.
        io.stderr.write(`error: cannot read the cluster (${server(kc)}): ${describeError(err)}\n`);
      }
      if (rows) {
        const wanted = 'names' in target ? new Set(target.names) : undefined;
        const nodes = rows.filter((r) => !wanted || wanted.has(r.node)).map(rolloutNodeOf);
        const plan: RolloutPlan = planRollout(nodes, {
          maxUnavailable: 'maxUnavailable' in target ? target.maxUnavailable : Math.max(1, nodes.length),
          mode,
          now: now(),
          stuckAfterMs,
        });
        if ('selector' in target)
          for (const name of plan.request) {
            const n = nodes.find((x) => x.name === name)!;
            const result = await patchNode(kc, name, drainRequestPatch(mode, now(), n.request !== undefined));
            if (result !== 'ok') continue;
            const before = n.request;
            n.request = mode;
            emit(
              { event: 'requested', node: name, mode, phase: n.phase, sessions: n.sessions },
              `node/${name} ${before ? `drain request raised to ${mode}` : `drain requested (${mode})`}: ` +
                `phase ${n.phase}${n.reason ? ` (${n.reason})` : ''}, ${plural(n.sessions, 'session')}`,
            );
          }
        const present = new Set(nodes.map((n) => n.name));
        for (const name of [...shown.keys()].sort(compareNodeNames))
          if (!present.has(name)) {
            shown.delete(name);
            finished.add(name);
            emit(
              { event: 'gone', node: name },
              `node/${name} gone (replaced or removed): nothing left to drain`,
            );
          }
        for (const n of nodes) {
          const done = isDone(n, mode);
          if (done) finished.add(n.name);
          const key = JSON.stringify([n.phase, n.reason, n.sessions, n.request, done]);
          if (shown.get(n.name) === key) continue;
          shown.set(n.name, key);
          emit(
            {
              event: done ? 'done' : 'state',
              node: n.name,
              phase: n.phase,
              reason: n.reason ?? null,
              request: n.request ?? null,
              sessions: n.sessions,
            },
            `node/${n.name} ${n.phase}${n.reason ? ` (${n.reason})` : ''}, ${plural(n.sessions, 'session')}` +
              (done ? ': drained' : n.request ? '' : n.phase === 'Active' ? ', waiting' : ''),
          );
        }
        for (const s of plan.stuck)
          if (!stuckShown.has(s.node)) {
            stuckShown.add(s.node);
            emit(
              {
                event: 'stuck',
                node: s.node,
                forSeconds: Math.round(s.forMs / 1000),
                phase: s.phase,
                sessions: s.sessions,
              },
              `node/${s.node} stuck: unavailable for ${formatAge(s.forMs)}, phase ${s.phase}, ` +
                `${plural(s.sessions, 'session')} left; it keeps its place under max-unavailable (end its sessions, or undrain it)`,
            );
          }
        const doneCount = nodes.filter((n) => isDone(n, mode)).length;
        const unavailable = nodes.filter((n) => isUnavailable(n, mode)).length;
        const progress = `${doneCount}/${nodes.length} done, ${unavailable} draining, ${nodes.length - doneCount - unavailable} waiting`;
        if ('selector' in target && progress !== lastProgress) {
          lastProgress = progress;
          emit(
            {
              event: 'progress',
              done: doneCount,
              draining: unavailable,
              waiting: nodes.length - doneCount - unavailable,
              selected: nodes.length,
            },
            `progress: ${progress}`,
          );
        }
        if (doneCount === nodes.length) {
          emit(
            {
              event: 'complete',
              nodes: finished.size,
              remaining: nodes.length,
              seconds: Math.round((now() - startedAt) / 1000),
            },
            finished.size === 0
              ? 'complete: no selected game server node is left to drain'
              : `complete: ${plural(finished.size, 'node')} ${mode === 'deregister' ? 'drained and deregistered' : 'drained'}` +
                  `${nodes.length < finished.size ? ' (or replaced)' : ''} in ${formatAge(now() - startedAt)}`,
          );
          return EXIT_OK;
        }
      }
      if (ctx.signal?.aborted) break;
      await pause(intervalMs, ctx.signal);
      if (ctx.signal?.aborted) break;
    }
    emit(
      { event: 'interrupted' },
      'interrupted: the drain requests stay on the nodes (the agents go on draining); run the same command again to follow or continue, or kubectl fleetiq undrain',
    );
    return EXIT_INTERRUPTED;
  };

  program
    .command('drain')
    .description(
      'drain game server nodes without cutting a session short: the node agent cordons and fences the node at ' +
        'once and waits for its sessions to end (phase Drained; Deregistered with --deregister). With --selector, ' +
        'a rolling drain of the matching nodes, --max-unavailable at a time',
    )
    .argument('[nodes...]', 'game server nodes to drain (or --selector)')
    .option(
      '-l, --selector <selector>',
      'rolling drain of the game server nodes matching this label selector',
    )
    .option(
      '--max-unavailable <n>',
      'with --selector: nodes unavailable at once, counting nodes draining for any reason',
      '1',
    )
    .option(
      '--deregister',
      'once empty, deregister the instance from FleetIQ (default: stay registered, phase Drained)',
    )
    .option('--dry-run', 'print what would be requested and the sessions on each node; write nothing')
    .option('-w, --watch', 'follow each node until it is drained (implied by --selector)')
    .option('--interval <seconds>', 'seconds between reads while following', '2')
    .option(
      '--stuck-after <duration>',
      'report a node still draining after this long (it keeps its place)',
      '1h',
    )
    .addHelpText(
      'after',
      '\nExit codes: 0 requested (with --watch or --selector: every node drained); 1 a node is missing or not a\n' +
        'game server node (nothing written), or the cluster could not be read or written; 2 a usage error;\n' +
        '3 interrupted while following (the requests stay; run the command again to continue).\n' +
        `The request is the annotation ${DRAIN_REQUEST_ANNOTATION} on the Node; kubectl fleetiq undrain removes it.\n`,
    );
  kubeOptions(program.commands.at(-1)!).action(
    async (names: string[], flags: DrainFlags, command: Command) => {
      if (names.length && flags.selector !== undefined)
        return usage('give node names or --selector, not both');
      if (!names.length && flags.selector === undefined)
        return usage('name at least one node, or give --selector');
      if (flags.selector !== undefined && flags.selector.trim() === '')
        return usage('--selector must not be empty (it would select every game server node)');
      const maxUnavailable = Number(flags.maxUnavailable);
      if (!/^\d+$/.test(String(flags.maxUnavailable).trim()) || maxUnavailable < 1)
        return usage(`--max-unavailable must be a whole number >= 1, got "${flags.maxUnavailable}"`);
      if (flags.selector === undefined && command.getOptionValueSource('maxUnavailable') === 'cli')
        return usage('--max-unavailable applies to a rolling drain (--selector)');
      const interval = Number(flags.interval);
      if (!(interval > 0))
        return usage(`--interval must be a positive number of seconds, got "${flags.interval}"`);
      let stuckAfterMs: number;
      try {
        stuckAfterMs = parseDuration(flags.stuckAfter, '--stuck-after');
      } catch (err) {
        return usage((err as Error).message.replace(/^invalid configuration /, ''));
      }
      const mode: DrainRequestMode = flags.deregister ? 'deregister' : 'drain';
      const kc = loadKc(flags);
      if (!kc) return;
      const emit = emitter(flags.output);

      if (flags.selector !== undefined) {
        const selector = flags.selector;
        if (flags.dryRun) {
          let rows: NodeStatusRow[];
          try {
            rows = await readRows(kc, selector);
          } catch (err) {
            return fail(`cannot read the cluster (${server(kc)}): ${describeError(err)}`);
          }
          const nodes = rows.map(rolloutNodeOf);
          const plan = planRollout(nodes, { maxUnavailable, mode, now: now(), stuckAfterMs });
          const items = nodes.map((n) => ({
            node: n.name,
            state: plan.states[n.name],
            willRequestNow: plan.request.includes(n.name),
            phase: n.phase,
            reason: n.reason ?? null,
            request: n.request ?? null,
            sessions: n.sessions,
          }));
          if (flags.output !== 'text')
            return void document(flags.output, {
              kind: 'RollingDrainPlan',
              selector: `${GAME_SERVER_NODE_LABEL.key}=${GAME_SERVER_NODE_LABEL.value},${selector}`,
              maxUnavailable,
              mode,
              requestNow: plan.request,
              nodes: items,
            });
          const lines = [
            `dry run: ${plural(nodes.length, 'game server node')} match ${selector}; max-unavailable ${maxUnavailable}, mode ${mode}`,
            plan.complete
              ? 'nothing to do: every selected node is drained'
              : `would request now: ${plan.request.join(', ') || 'none (the unavailable nodes fill the budget)'}`,
            ...items.map(
              (i) =>
                `  ${i.node}  ${i.state}${i.willRequestNow ? ' -> requested now' : ''}  phase ${i.phase}${i.reason ? ` (${i.reason})` : ''}` +
                `${i.request ? `, request ${i.request}` : ''}, ${plural(i.sessions, 'session')}`,
            ),
          ];
          io.stdout.write(`${lines.join('\n')}\n`);
          return;
        }
        ctx.setCode(
          await follow(kc, { selector, maxUnavailable }, mode, interval * 1000, stuckAfterMs, emit),
        );
        return;
      }

      const byName = await readNamedNodes(kc, names);
      if (!byName) return;
      if (flags.dryRun) {
        const items = names.map((name) => {
          const r = byName.get(name);
          const request = r?.drainRequest === '-' ? null : (r?.drainRequest ?? null);
          return {
            node: name,
            wouldRequest: request !== mode,
            mode,
            phase: r?.drainPhase ?? 'Active',
            reason: r && r.drainReason !== '-' ? r.drainReason : null,
            request,
            sessions: r?.allocated ?? 0,
            ready: r?.ready ?? 0,
          };
        });
        if (flags.output !== 'text') return void document(flags.output, { kind: 'DrainPlan', nodes: items });
        for (const i of items)
          io.stdout.write(
            `node/${i.node} ${i.wouldRequest ? `would be requested to drain (${mode})` : `already requested (${mode})`}: ` +
              `phase ${i.phase}${i.reason ? ` (${i.reason})` : ''}, ${plural(i.sessions, 'session')} to wait for, ` +
              `${plural(i.ready, 'Ready game server')} to shut down now (dry run)\n`,
          );
        return;
      }
      let failed = false;
      for (const name of names) {
        const r = byName.get(name);
        const current = r?.drainRequest;
        if (current === mode) {
          emit(
            { event: 'requested', node: name, mode, already: true },
            `node/${name} already requested (${mode})`,
          );
          continue;
        }
        const result = await patchNode(
          kc,
          name,
          drainRequestPatch(mode, now(), current === 'drain' || current === 'deregister'),
        );
        if (result === 'failed') failed = true;
        else if (result === 'gone') {
          io.stderr.write(`error: node "${name}" not found (removed meanwhile)\n`);
          failed = true;
        } else
          emit(
            {
              event: 'requested',
              node: name,
              mode,
              phase: r?.drainPhase ?? 'Active',
              sessions: r?.allocated ?? 0,
            },
            `node/${name} drain requested (${mode}): ${plural(r?.allocated ?? 0, 'session')} to wait for`,
          );
      }
      if (failed) return ctx.setCode(EXIT_ERROR);
      if (flags.watch) ctx.setCode(await follow(kc, { names }, mode, interval * 1000, stuckAfterMs, emit));
    },
  );

  program
    .command('undrain')
    .description(
      'remove the drain request from game server nodes: the node agent undoes a drain made for it (a drain ' +
        'FleetIQ or a Spot notice asked for continues regardless)',
    )
    .argument('<nodes...>', 'game server nodes')
    .addHelpText(
      'after',
      '\nExit codes: 0 done; 1 a node is missing or not a game server node (nothing written), or the cluster\n' +
        'could not be read or written; 2 a usage error.\n',
    );
  kubeOptions(program.commands.at(-1)!).action(async (names: string[], flags: UndrainFlags) => {
    const kc = loadKc(flags);
    if (!kc) return;
    const byName = await readNamedNodes(kc, names);
    if (!byName) return;
    const emit = emitter(flags.output);
    let failed = false;
    for (const name of names) {
      const r = byName.get(name);
      if (!r) continue;
      const hadRequest = r.drainRequest !== '-';
      if (hadRequest) {
        const result = await patchNode(kc, name, drainRequestPatch(null, now()));
        if (result !== 'ok') {
          failed = true;
          continue;
        }
      }
      const m = undrainMessage(r, hadRequest);
      emit(
        {
          event: hadRequest ? 'undrained' : 'noRequest',
          node: name,
          phase: r.drainPhase,
          reason: r.drainReason === '-' ? null : r.drainReason,
          drainContinues: m.continues,
        },
        `node/${name} ${m.text}`,
      );
    }
    if (failed) ctx.setCode(EXIT_ERROR);
  });
}
