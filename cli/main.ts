#!/usr/bin/env node
// The product's CLI, what the image runs: each component registers its subcommand here. The sandbox and
// the emulators have their own entry point (sandbox/cli.ts, `fleetiq-sandbox`): nothing here may import
// sandbox/, test/ or bench/ (eslint.config.js enforces it), so none of it is bundled into the image.
import { Command } from 'commander';
import { isEntryPoint } from './entry-point.js';

type Register = (program: Command) => unknown;

// Each component's command is loaded only when asked for: the production bundle is split at these
// imports, so a node agent never loads the webhook's HTTPS stack or certificate code (and the reverse),
// which is memory every replica would otherwise pay for. In the order `--help` lists them.
const COMMANDS: Record<string, () => Promise<Register>> = {
  webhook: async () => (await import('../webhook/cli.js')).registerWebhookCommand,
  certs: async () => (await import('../certs/cli.js')).registerCertsCommand,
  pubsub: async () => (await import('../pubsub/cli.js')).registerPubsubCommand,
  reconciler: async () => (await import('../reconciler/cli.js')).registerReconcilerCommand,
};

/** The commands `args` (the arguments after the program) need: the one it names, or all (help, errors). */
export async function loadCommands(args: string[] = process.argv.slice(2)): Promise<Register[]> {
  const named = args[0] !== undefined && Object.hasOwn(COMMANDS, args[0]) ? [args[0]] : Object.keys(COMMANDS);
  return Promise.all(named.map((name) => COMMANDS[name]!()));
}

export function buildCli(registers: Register[]): Command {
  const program = new Command('fleetiq-agones')
    .description(
      'Agones game servers on EC2 Spot, steered by GameLift FleetIQ, without cutting a session short.',
    )
    .showHelpAfterError()
    .exitOverride();
  for (const register of registers) register(program);
  return program;
}

async function main(): Promise<void> {
  const program = buildCli(await loadCommands());
  try {
    await program.parseAsync(process.argv);
  } catch (err: any) {
    // commander throws on --help/--version (exit 0) and on usage errors (already printed).
    if (typeof err?.exitCode === 'number') process.exit(err.exitCode);
    console.error(err instanceof Error ? err.message : String(err));
    process.exit(1);
  }
}

if (isEntryPoint(import.meta.url)) void main();
