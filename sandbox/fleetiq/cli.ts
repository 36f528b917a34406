/**
 * `fleetiq-sandbox emulator fleetiq`: runs the FleetIQ emulator as a process. Prints exactly one
 * line, `ready <url>`, on stdout once serving; JSON logs go to stderr; SIGINT/SIGTERM stop it
 * (exit 0). Every flag is checked and a bad one is named in the error.
 */
import type { Command } from 'commander';
import { pino } from 'pino';
import { SimClock } from '../clock.js';
import { ConfigError, parseListen } from '../../shared/ops-server.js';
import { startFleetIQEmulator } from './emulator.js';
import {
  BALANCING_STRATEGIES,
  PROTECTION_POLICIES,
  isGroupName,
  type BalancingStrategy,
  type ProtectionPolicy,
} from './validation.js';

interface FleetIQFlags {
  listen: string;
  group: string[];
  instances: string;
  speed: string;
  seed: string;
  region: string;
  healthCheckTimeout?: string;
  drainingDelay?: string;
  spotTermination?: string;
  spotMarketRate?: string;
  protection: string;
  balancing: string;
  rateLimits: boolean;
  replace: boolean;
  logLevel: string;
}

export function registerFleetIQEmulatorCommand(emulator: Command): void {
  emulator
    .command('fleetiq')
    .description('Serve a GameLift FleetIQ emulator (awsJson1_1) that @aws-sdk/client-gamelift talks to')
    .option('--listen <host:port>', 'address to serve on', '127.0.0.1:0')
    .option(
      '--group <name>',
      'create a game server group (repeatable)',
      (v: string, acc: string[]) => [...acc, v],
      [],
    )
    .option('--instances <n>', 'instances launched in each --group', '3')
    .option('--speed <x>', 'simulated clock speed factor', '1')
    .option('--seed <s>', 'seed for instance ids, the spot market and fault probabilities', '1')
    .option('--region <region>', 'region in ARNs', 'us-east-1')
    .option('--health-check-timeout <seconds>', 'deregister game servers silent for this long (default 180)')
    .option(
      '--draining-delay <seconds>',
      'terminate DRAINING instances this long after their last UTILIZED game server (default 60)',
    )
    .option(
      '--spot-termination <seconds>',
      'terminate SPOT_TERMINATING instances after this long (default 120)',
    )
    .option('--spot-market-rate <per-minute>', 'start the spot market: instances hit per simulated minute')
    .option(
      '--protection <policy>',
      `game server protection policy: ${PROTECTION_POLICIES.join(' | ')}`,
      'NO_PROTECTION',
    )
    .option(
      '--balancing <strategy>',
      `balancing strategy: ${BALANCING_STRATEGIES.join(' | ')}`,
      'SPOT_PREFERRED',
    )
    .option('--no-rate-limits', 'never throttle')
    .option('--no-replace', 'do not launch replacements for drained or interrupted instances')
    .option('--log-level <level>', 'log level of the JSON logs on stderr', process.env.LOG_LEVEL ?? 'info')
    .action(async (flags: FleetIQFlags) => {
      await runFleetIQEmulator(flags);
    });
}

async function runFleetIQEmulator(flags: FleetIQFlags): Promise<void> {
  const listen = parseListen(flags.listen, '--listen');
  for (const g of flags.group) {
    if (!isGroupName(g))
      throw new ConfigError('--group', `"${g}" is not a group name (1-128 characters of [a-zA-Z0-9-.])`);
  }
  if (new Set(flags.group).size !== flags.group.length)
    throw new ConfigError('--group', 'a group name is given twice');
  const instances = integer(flags.instances, '--instances', 0, 100_000);
  const speed = positive(flags.speed, '--speed');
  const seed = integer(flags.seed, '--seed', -(2 ** 31), 2 ** 32 - 1);
  if (!/^[a-z0-9-]+$/.test(flags.region))
    throw new ConfigError('--region', `"${flags.region}" does not look like us-east-1`);
  if (!(PROTECTION_POLICIES as readonly string[]).includes(flags.protection)) {
    throw new ConfigError(
      '--protection',
      `must be one of ${PROTECTION_POLICIES.join(', ')}, got "${flags.protection}"`,
    );
  }
  if (!(BALANCING_STRATEGIES as readonly string[]).includes(flags.balancing)) {
    throw new ConfigError(
      '--balancing',
      `must be one of ${BALANCING_STRATEGIES.join(', ')}, got "${flags.balancing}"`,
    );
  }
  const levels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
  if (!levels.includes(flags.logLevel))
    throw new ConfigError('--log-level', `must be one of ${levels.join(', ')}`);
  const optionalPositive = (v: string | undefined, name: string): number | undefined =>
    v === undefined ? undefined : positive(v, name);

  // stdout carries only the ready line; logs go to stderr.
  const logger = pino(
    {
      name: 'fleetiq-emulator',
      level: flags.logLevel,
      base: { component: 'fleetiq-emulator' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    pino.destination(2),
  );
  const spotRate = optionalPositive(flags.spotMarketRate, '--spot-market-rate');
  const emulator = await startFleetIQEmulator({
    listen,
    clock: new SimClock({ speed }),
    seed,
    region: flags.region,
    groups: flags.group.map((name) => ({
      name,
      instances,
      protectionPolicy: flags.protection as ProtectionPolicy,
      balancingStrategy: flags.balancing as BalancingStrategy,
    })),
    healthCheckTimeoutSeconds: optionalPositive(flags.healthCheckTimeout, '--health-check-timeout'),
    drainingTerminationDelaySeconds: optionalPositive(flags.drainingDelay, '--draining-delay'),
    spotTerminationSeconds: optionalPositive(flags.spotTermination, '--spot-termination'),
    replaceTerminatedInstances: flags.replace,
    rateLimits: flags.rateLimits ? undefined : false,
    ...(spotRate !== undefined ? { spotMarket: { ratePerMinute: spotRate } } : {}),
    logger,
  });
  process.stdout.write(`ready ${emulator.url}\n`);

  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  logger.info({ signal }, 'fleetiq emulator: shutting down');
  await emulator.stop();
  logger.flush();
  process.exitCode = 0;
}

function integer(value: string, flag: string, min: number, max: number): number {
  const n = Number(value);
  if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new ConfigError(flag, `must be an integer between ${min} and ${max}, got "${value}"`);
  }
  return n;
}

function positive(value: string, flag: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0)
    throw new ConfigError(flag, `must be a positive number, got "${value}"`);
  return n;
}
