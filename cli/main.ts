#!/usr/bin/env node
// The product's CLI, what the image runs: each component registers its subcommand here. The sandbox and
// the emulators have their own entry point (sandbox/cli.ts, `fleetiq-sandbox`): nothing here may import
// sandbox/, test/ or bench/ (eslint.config.js enforces it), so none of it is bundled into the image.
import { Command, CommanderError } from 'commander';
import { isEntryPoint } from './entry-point.js';
import { exitCodeForError } from '../shared/component.js';
import { VERSION } from '../shared/version.js';

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
  // One at a time: the order is --help's, and Jest's ES module linker fails on concurrent imports of
  // one module graph.
  const registers: Register[] = [];
  for (const name of named) registers.push(await COMMANDS[name]!());
  return registers;
}

export function buildCli(registers: Register[]): Command {
  const program = new Command('fleetiq-agones')
    .description(
      'Agones game servers on EC2 Spot, steered by GameLift FleetIQ, without cutting a session short.',
    )
    .version(VERSION, '-V, --version', 'print the version and exit')
    .showHelpAfterError()
    .exitOverride();
  for (const register of registers) register(program);
  return program;
}

async function main(): Promise<void> {
  const program = buildCli(await loadCommands());
  try {
    await program.parseAsync(process.argv);
  } catch (err) {
    // commander throws on --help/--version (exit 0) and on usage errors (already printed). Anything
    // else ended a command before its component ran: README.md, "Exit codes".
    if (!(err instanceof CommanderError)) console.error(err instanceof Error ? err.message : String(err));
    process.exit(exitCodeForError(err));
  }
}

if (isEntryPoint(import.meta.url)) void main();
