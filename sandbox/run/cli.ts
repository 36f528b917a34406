// `fleetiq-sandbox` (and `npm start`): the whole system on one machine, a live view while it
// runs, a report at the end, exit code 1 when a session was lost.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { CommanderError, Option, type Command } from 'commander';
import { formatDuration } from '../../shared/duration.js';
import { ConfigError } from '../../shared/ops-server.js';
import { describeInterruptions } from './interruptions.js';
import { CHAOS_FAULTS, describeFault } from './chaos.js';
import { describeMigrate } from './migration.js';
import { DEFAULT_OPTIONS, parseSandboxFlags, type SandboxFlags, type SandboxOptions } from './options.js';
import { SetupError } from './redis-process.js';
import { formatSummary } from './report.js';
import { startSandbox, type SandboxInternals } from './sandbox.js';
import { startLiveView } from './ui.js';

/**
 * Exit codes of `fleetiq-sandbox`. 1 is kept for the one outcome scripts test for: a session
 * was lost. Anything that kept the run from happening as asked has a code of its own.
 */
export const SANDBOX_EXIT = {
  /** The run finished (or was stopped) and no session was lost. */
  noSessionLost: 0,
  /** At least one session was lost. */
  sessionsLost: 1,
  /** An unknown flag, an invalid value, or a missing prerequisite (redis-server): nothing ran. */
  usage: 2,
  /** The sandbox failed to start (see the component log). */
  failed: 3,
} as const;

/** Two signals this close together are one interrupt: a terminal's Ctrl-C reaches the process both
 * directly and relayed by npm/tsx. Only a second, deliberate one quits without the report. */
const SIGNAL_DEBOUNCE_MS = 1500;

export function registerSandboxCommand(program: Command, options: { isDefault?: boolean } = {}): Command {
  const d = DEFAULT_OPTIONS;
  return program
    .command('sandbox', { isDefault: options.isDefault ?? false })
    .description(
      'Run the whole system on an embedded cluster: the Kubernetes and FleetIQ emulators, a simulated cluster ' +
        'with Agones and players, Redis, and the real pubsub, webhook and node agents. Reports sessions lost. ' +
        'Times are simulated (see --speed); the components run on real time.',
    )
    .exitOverride((err) => {
      // commander's usage errors exit 1, which here means "a session was lost".
      throw err.exitCode === 0 ? err : new CommanderError(SANDBOX_EXIT.usage, err.code, err.message);
    })
    .addHelpText(
      'after',
      '\nExit codes: 0 no session lost; 1 a session was lost; 2 an unknown flag, an invalid value or a ' +
        'missing prerequisite (nothing ran); 3 the sandbox failed to start.\n' +
        'SIGINT or SIGTERM (Ctrl-C, also through npm or npx), the end of the npm or npx that started it, or its ' +
        'output closing stops the run early and still writes the report.\n' +
        '\n--chaos faults:\n' +
        Object.entries(CHAOS_FAULTS)
          .map(([name, f]) => `  ${name}${f.duration ? ':DURATION' : ''}@TIME  ${f.does}\n`)
          .join(''),
    )
    .option('--nodes <n>', `game server nodes (EC2 instances in one FleetIQ group) (default ${d.nodes})`)
    .option('--fleet-replicas <n>', `game servers in the Agones fleet (default ${d.fleetReplicas})`)
    .option('--scheduling <strategy>', `Packed or Distributed (default ${d.scheduling})`)
    .option('--pods-per-node <n>', 'pod capacity of a node (default: 1.5 × replicas / nodes)')
    .option(
      '--allocation-rate <rate>',
      `allocations per simulated second: 0.2, 0.2/s, 12/min (default ${d.allocationRatePerSecond * 60}/min)`,
    )
    .option(
      '--session-seconds <s>',
      `session length: a mean (120) or a range (60-180) in seconds (default ${d.sessionSeconds.min}-${d.sessionSeconds.max})`,
    )
    .option(
      '--interruptions <spec>',
      `a rate (2/min), none, or a script of FleetIQ statuses and operator drain requests (30s:DRAINING:1,60s:SPOT_TERMINATING:1,90s:ACTIVE:1,100s:DRAIN:1,120s:UNDRAIN:1; also DEREGISTER) (default ${describeInterruptions(d.interruptions)})`,
    )
    .option('--spot-share <fraction>', 'share of rate interruptions that are Spot notices (default 0.5)')
    .option(
      '--spot-target <target>',
      `where Spot notices land: busiest (the nodes holding the most sessions) or random (default ${d.spotTarget})`,
    )
    .option(
      '--rebalance-share <fraction>',
      `share of Spot notices an EC2 rebalance recommendation precedes, in the instance's metadata (default ${d.rebalance.share})`,
    )
    .option(
      '--rebalance-lead <d>',
      `simulated time from a rebalance recommendation to its Spot notice (default ${formatDuration(d.rebalance.leadMs)})`,
    )
    .option(
      '--rebalance-recommendation <action>',
      `what the agents do on one (their REBALANCE_RECOMMENDATION): event or drain (default ${d.agentRebalance.action})`,
    )
    .option(
      '--rebalance-drain-window <d>',
      `the agents' REBALANCE_DRAIN_WINDOW, in simulated time (default ${formatDuration(d.agentRebalance.windowMs)})`,
    )
    .option('--duration <d>', `simulated time of load, e.g. 5m (default ${formatDuration(d.durationMs)})`)
    .option(
      '--settle <d>',
      'after the load, wait at most this long for held sessions to end (default: longest session + 1m)',
    )
    .option('--speed <x>', `simulated seconds per real second (default ${d.speed})`)
    .option('--seed <n>', `seed of every random choice (default ${d.seed})`)
    .option(
      '--failure-policy <policy>',
      `the webhook configuration's failurePolicy: Fail or Ignore (default ${d.failurePolicy})`,
    )
    .option(
      '--control-plane <kind>',
      `emulated (the API server emulator, seconds to start) or real (kube-apiserver, etcd, controller-manager and scheduler built from pinned Go modules; needs Go or KUBEBUILDER_ASSETS, and root for its network namespace) (default ${d.controlPlane})`,
    )
    .option(
      '--chaos <list>',
      'faults injected during the run, comma-separated FAULT[:DURATION]@TIME (simulated, TIME from the start of ' +
        'the load), e.g. redis-down:30s@1m,agent-kill@90s; faults below (default none)',
    )
    .option(
      '--legacy-nodes <n>',
      "nodes that start with a model of the old Python adapter's daemon instead of the node agent (default 0)",
    )
    .option(
      '--migrate <list>',
      'simulated times from the start of the load, comma-separated, e.g. 20s,40s,1m: at each, one node moves ' +
        'from the old daemon to the node agent, in the order of docs/migration.md (default none)',
    )
    .option(
      '--upgrade [spec]',
      'replace every node of the node group through a session-safe rolling drain, as a node group upgrade ' +
        'or Karpenter drift would: max-unavailable=N (default 1), at=TIME (simulated, from the start of the ' +
        'load; default 0s), deregister (deregister before termination), e.g. --upgrade max-unavailable=2,at=30s',
    )
    .option('--no-signing', 'publish status messages unsigned (default: HMAC-signed)')
    .option('--kubeconfig <path>', 'write an admin kubeconfig here (kubectl get nodes / gs while it runs)')
    .option('--report <path>', `JSON report; the SVG timeline goes next to it (default ${d.reportPath})`)
    .option('--log-file <path>', `component logs, JSON lines (default ${d.logPath})`)
    .option('--log-level <level>', `level of the component logs (default ${d.logLevel})`)
    .option('--no-ui', 'plain progress lines instead of the live terminal view')
    .addOption(
      new Option('--redis-url <url>', 'use this Redis instead of spawning redis-server').env('REDIS_URL'),
    )
    .action(async (flags: SandboxFlags) => {
      const code = await runSandboxCli(flags);
      process.exitCode = code;
      // Whatever still holds the event loop (a socket closing slowly) must not keep a finished run alive.
      setTimeout(() => process.exit(code), 2000).unref();
    });
}

export interface CliIo {
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
  /**
   * Stop when the process that started this process group (npm, npx) is gone. Only for the command
   * itself: a caller in-process (a test under Jest) shares a group whose leader may be long gone.
   */
  watchLauncher?: boolean;
}

/** Runs one sandbox from flags; resolves with the exit code (0: no session lost). */
export async function runSandboxCli(
  flags: SandboxFlags,
  io: CliIo = { stdout: process.stdout, stderr: process.stderr, watchLauncher: true },
  internals: SandboxInternals = {},
): Promise<number> {
  let options: SandboxOptions;
  try {
    options = parseSandboxFlags(flags);
  } catch (err) {
    if (err instanceof ConfigError) {
      io.stderr.write(`${err.message}\n`);
      return SANDBOX_EXIT.usage;
    }
    throw err;
  }
  const controller = new AbortController();
  // `npm start | head`: once the reader is gone, writing on would only raise EPIPE. The run stops
  // early, as on Ctrl-C, and still writes its report and stops everything it started.
  const stdout = guardedStream(io.stdout, () => {
    if (!controller.signal.aborted) controller.abort();
  });
  const stderr = guardedStream(io.stderr, () => undefined);
  const tty = Boolean(io.stdout.isTTY) && options.ui;
  const say = (line: string) => stdout.write(`${line}\n`);
  say(
    `Starting the sandbox: ${options.nodes} nodes, ${options.fleetReplicas} game servers (${options.scheduling}), ` +
      `${Math.round(options.allocationRatePerSecond * 600) / 10} allocations/min, sessions ${options.sessionSeconds.min}-${options.sessionSeconds.max} s, ` +
      `interruptions ${describeInterruptions(options.interruptions)}, ${formatDuration(options.durationMs)} simulated at speed ${options.speed}.`,
  );
  if (options.upgrade)
    say(
      `Upgrade: every node replaced through a rolling drain, max-unavailable ${options.upgrade.maxUnavailable}, ` +
        `from ${formatDuration(options.upgrade.atMs)} after the start of the load (${options.upgrade.mode}).`,
    );
  if (options.chaos.length)
    say(`Chaos: ${options.chaos.map(describeFault).join(', ')} (simulated time from the start of the load).`);
  if (options.legacyNodes)
    say(
      `Migration: ${options.legacyNodes} node(s) start with the old adapter's daemon; one moves to the node agent at each of ${describeMigrate(options.migrate)} (simulated time from the start of the load).`,
    );
  say(`Component logs: ${options.logPath}`);

  let firstSignalAt: number | undefined;
  const onSigint = () => {
    const now = Date.now();
    if (firstSignalAt === undefined) {
      firstSignalAt = now;
      if (!controller.signal.aborted) controller.abort();
      stderr.write('\nStopping early: writing the report (Ctrl-C again to quit at once)...\n');
    } else if (now - firstSignalAt > SIGNAL_DEBOUNCE_MS) process.exit(130);
  };
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigint);
  // npx and npm run the command under `sh -c`, which dies of a SIGTERM without passing it on: the
  // sandbox then never hears of it. What it can see is that the process that started its group
  // (npm, npx) is gone; it then stops the same way.
  const launcher = (io.watchLauncher ? watchLauncher : noWatch)(() => {
    if (controller.signal.aborted) return;
    controller.abort();
    stderr.write(
      '\nThe command that started the sandbox (npm, npx) has gone: stopping, writing the report...\n',
    );
  });
  try {
    let sandbox;
    try {
      sandbox = await startSandbox(options, internals);
    } catch (err) {
      if (err instanceof SetupError || err instanceof ConfigError) {
        stderr.write(`${err.message}\n`);
        return SANDBOX_EXIT.usage;
      }
      stderr.write(`The sandbox could not start: ${(err as Error).message}\n(see ${options.logPath})\n`);
      return SANDBOX_EXIT.failed;
    }
    const footer = options.kubeconfigPath
      ? [
          `export KUBECONFIG=${resolve(options.kubeconfigPath)}`,
          'kubectl get nodes -L gamelift.status/instance-status,gamelift.status/drain-phase · kubectl get gs · kubectl fleetiq status',
        ]
      : ['--kubeconfig PATH to watch it with kubectl'];
    if (!tty) for (const f of footer) say(f);
    const view = startLiveView(() => sandbox.view(), { tty, stream: stdout, footer });
    try {
      await sandbox.run(controller.signal);
    } finally {
      view.stop();
    }
    const report = await sandbox.stop();
    const svgPath = options.reportPath.replace(/\.json$/i, '') + '.svg';
    report.run.timelineSvg = svgPath;
    mkdirSync(dirname(options.reportPath), { recursive: true });
    writeFileSync(options.reportPath, `${JSON.stringify(report, null, 2)}\n`);
    writeFileSync(svgPath, sandbox.timelineSvg());
    say('');
    say(formatSummary(report, options.reportPath));
    return report.sessions.lost > 0 ? SANDBOX_EXIT.sessionsLost : SANDBOX_EXIT.noSessionLost;
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
    launcher.stop();
  }
}

/**
 * The stream, or nothing once writing to it failed (EPIPE: the reader went away): `onClosed` is called
 * once, and later writes are dropped instead of raising an unhandled 'error' event.
 */
export function guardedStream(stream: NodeJS.WriteStream, onClosed: () => void): NodeJS.WriteStream {
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    onClosed();
  };
  stream.on?.('error', close);
  return new Proxy(stream, {
    get(target, prop, receiver) {
      if (prop === 'write')
        return (chunk: string) => {
          if (closed || target.destroyed) return false;
          try {
            return target.write(chunk);
          } catch {
            close();
            return false;
          }
        };
      const v = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

/** The process group of `stat` text from /proc/<pid>/stat (field 5; the command name may hold spaces). */
export function processGroupOf(stat: string): number | undefined {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const pgrp = Number(fields[2]);
  return Number.isInteger(pgrp) && pgrp > 0 ? pgrp : undefined;
}

/**
 * Calls `onGone` once the leader of this process's group has exited (Linux: /proc). Nothing to watch
 * when this process leads its group (run from a shell directly) or elsewhere than Linux.
 */
const noWatch = (): { stop(): void } => ({ stop: () => undefined });

export function watchLauncher(onGone: () => void, everyMs = 1000): { stop(): void } {
  let pgrp: number | undefined;
  try {
    pgrp = processGroupOf(readFileSync('/proc/self/stat', 'utf8'));
  } catch {
    return { stop: () => undefined };
  }
  if (pgrp === undefined || pgrp === process.pid) return { stop: () => undefined };
  const leader = pgrp;
  const timer = setInterval(() => {
    try {
      process.kill(leader, 0);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') return;
      clearInterval(timer);
      onGone();
    }
  }, everyMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
