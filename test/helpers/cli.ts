import { spawn, type ChildProcess } from 'node:child_process';

/** A `fleetiq-agones` child process started by a test, with what it printed so far. */
export interface CliProcess {
  child: ChildProcess;
  out(): string;
  err(): string;
  /** stdout and stderr interleaved as they arrived. */
  output(): string;
  exit: Promise<number | null>;
}

export interface CliOptions {
  env?: Record<string, string | undefined>;
  cleanEnv?: boolean;
}

/**
 * Runs `fleetiq-agones <args>` from the sources on this test's Node (24), as an operator would run the
 * CLI. `env` is added to the inherited environment, or with `cleanEnv` to PATH and HOME only, so a
 * test of configuration errors is not influenced by the caller's AWS_* or REDIS_URL.
 */
export function runCli(args: string[], options: CliOptions = {}): CliProcess {
  return runEntry('cli/main.ts', args, options);
}

/** Runs `fleetiq-sandbox <args>` (the sandbox and the emulators) from the sources, as runCli does. */
export function runSandboxCli(args: string[], options: CliOptions = {}): CliProcess {
  return runEntry('sandbox/cli.ts', args, options);
}

function runEntry(entry: string, args: string[], options: CliOptions): CliProcess {
  const base = options.cleanEnv
    ? { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp' }
    : { ...process.env };
  const child = spawn(process.execPath, ['--import', 'tsx', entry, ...args], {
    cwd: process.cwd(),
    env: { LOG_LEVEL: 'info', ...base, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  let output = '';
  child.stdout!.on('data', (d) => ((out += d), (output += d)));
  child.stderr!.on('data', (d) => ((err += d), (output += d)));
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, out: () => out, err: () => err, output: () => output, exit };
}
