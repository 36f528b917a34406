/**
 * `fleetiq-sandbox emulator kube`: runs the Kubernetes API server emulator as a process. Writes a
 * kubeconfig for the admin identity (--kubeconfig), prints exactly one line `ready <url>` on stdout
 * once serving, logs JSON to stderr, and stops on SIGINT/SIGTERM (exit 0). Other parts (the cluster
 * simulation) extend the command with their own flags through `KubeEmulatorExtension`.
 */
import type { Command } from 'commander';
import { pino, type Logger } from 'pino';
import { SimClock } from '../clock.js';
import { ConfigError, parseListen } from '../../shared/ops-server.js';
import { startKubeEmulator, type KubeEmulator } from './emulator.js';

export interface KubeEmulatorExtension {
  /** Adds the extension's flags to the `kube` command. */
  addOptions(command: Command): void;
  /**
   * Runs once the emulator serves and before `ready` is printed; validates its flags (throwing a
   * ConfigError naming the flag) and returns what to do at shutdown.
   */
  start(ctx: {
    emulator: KubeEmulator;
    flags: Record<string, unknown>;
    logger: Logger;
    clock: SimClock;
  }): Promise<(() => Promise<void>) | void>;
}

interface KubeFlags {
  listen: string;
  kubeconfig?: string;
  authorization: string;
  speed: string;
  logLevel: string;
  [flag: string]: unknown;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export function registerKubeEmulatorCommand(
  emulator: Command,
  extensions: KubeEmulatorExtension[] = [],
): Command {
  const command = emulator
    .command('kube')
    .description('Serve a Kubernetes API server emulator (HTTPS) that client-node and kubectl talk to')
    .option('--listen <host:port>', 'address to serve on', '127.0.0.1:6443')
    .option('--kubeconfig <path>', 'write a kubeconfig for the admin identity (system:masters) to this file')
    .option('--authorization <mode>', 'rbac (decisions from stored RBAC objects) or allow-all', 'rbac')
    .option(
      '--speed <x>',
      'speed of the simulated clock (simulated seconds per real second; > 0): grace periods, ' +
        'toleration timers and the simulated cluster run on it',
      '1',
    )
    .option('--log-level <level>', 'log level of the JSON logs on stderr', process.env.LOG_LEVEL ?? 'info');
  for (const ext of extensions) ext.addOptions(command);
  command.action(async (flags: KubeFlags) => {
    await runKubeEmulator(flags, extensions);
  });
  return command;
}

async function runKubeEmulator(flags: KubeFlags, extensions: KubeEmulatorExtension[]): Promise<void> {
  const listen = parseListen(flags.listen, '--listen');
  if (flags.authorization !== 'rbac' && flags.authorization !== 'allow-all')
    throw new ConfigError('--authorization', `must be rbac or allow-all, got "${flags.authorization}"`);
  const speed = Number(flags.speed);
  if (flags.speed.trim() === '' || !Number.isFinite(speed) || speed <= 0)
    throw new ConfigError('--speed', `must be a positive number, got "${flags.speed}"`);
  if (!LOG_LEVELS.includes(flags.logLevel))
    throw new ConfigError('--log-level', `must be one of ${LOG_LEVELS.join(', ')}, got "${flags.logLevel}"`);
  if (flags.kubeconfig !== undefined && flags.kubeconfig.trim() === '')
    throw new ConfigError('--kubeconfig', 'must be a file path');

  // stdout carries only the ready line; logs go to stderr.
  const logger = pino(
    {
      name: 'kube-emulator',
      level: flags.logLevel,
      base: { component: 'kube-emulator' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    pino.destination(2),
  );
  const clock = new SimClock({ speed });
  const emulator = await startKubeEmulator({
    listen,
    authorization: flags.authorization,
    logger,
    clock,
  });
  const stops: Array<() => Promise<void>> = [];
  try {
    if (flags.kubeconfig !== undefined) {
      try {
        await emulator.writeKubeconfig(flags.kubeconfig);
      } catch (err) {
        throw new ConfigError('--kubeconfig', `cannot write ${flags.kubeconfig}: ${(err as Error).message}`);
      }
    }
    for (const ext of extensions) {
      const stop = await ext.start({ emulator, flags, logger, clock });
      if (stop) stops.push(stop);
    }
  } catch (err) {
    await emulator.stop();
    throw err;
  }
  process.stdout.write(`ready ${emulator.url}\n`);

  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  logger.info({ signal }, 'kube emulator: shutting down');
  for (const stop of stops.reverse()) await stop();
  await emulator.stop();
  clock.stop();
  logger.flush();
  process.exitCode = 0;
}
