// The kubectl plugin's program: `kubectl fleetiq status` (fleetiq-status.ts) and `kubectl fleetiq drain`,
// `undrain` (fleetiq-drain.ts), with kubectl's conventions and the exit codes of plugin-kube.ts.
import { Command, CommanderError } from 'commander';
import { registerDrainCommands } from './fleetiq-drain.js';
import { registerStatusCommand } from './fleetiq-status.js';
import { EXIT_ERROR, EXIT_OK, EXIT_USAGE, type PluginIo } from './plugin-kube.js';

export { EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, type PluginIo } from './plugin-kube.js';

/**
 * Runs the plugin with kubectl's arguments (after `kubectl fleetiq`). Resolves with the exit code;
 * a command that waits (status --watch, drain --watch or --selector) runs until done or `signal` aborts.
 */
export async function runFleetIQPlugin(
  args: string[],
  io: PluginIo,
  signal?: AbortSignal,
  now?: () => number,
): Promise<number> {
  let code = EXIT_OK;
  const ctx = {
    io,
    ...(signal ? { signal } : {}),
    ...(now ? { now } : {}),
    setCode: (c: number) => {
      code = c;
    },
  };
  const program = new Command('kubectl fleetiq')
    .description(
      'game server nodes: their FleetIQ drain status, and drains that never cut a session short (fleetiq-agones)',
    )
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) });
  registerStatusCommand(program, ctx);
  registerDrainCommands(program, ctx);
  try {
    await program.parseAsync(args, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version are not errors; everything else commander rejects is a usage error.
      if (err.exitCode === 0) return EXIT_OK;
      return EXIT_USAGE;
    }
    io.stderr.write(`error: ${(err as Error).message}\n`);
    return EXIT_ERROR;
  }
  return code;
}
