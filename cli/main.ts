#!/usr/bin/env node
// The one CLI of the project: each component and emulator registers its subcommand here.
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { registerPubsubCommand } from '../pubsub/cli.js';
import { registerReconcilerCommand } from '../reconciler/cli.js';
import { registerCertsCommand } from '../certs/cli.js';
import { registerWebhookCommand } from '../webhook/cli.js';
import { registerFleetIQEmulatorCommand } from '../sandbox/fleetiq/cli.js';
import { registerKubeEmulatorCommand } from '../sandbox/kube/cli.js';
import { clusterSimulationExtension } from '../sandbox/cluster/cli-extension.js';
import { registerSandboxCommand } from '../sandbox/run/cli.js';
import { exitCodeForError } from '../shared/component.js';
import { VERSION } from '../shared/version.js';

export function buildCli(): Command {
  const program = new Command('fleetiq-agones')
    .description(
      'Agones game servers on EC2 Spot, steered by GameLift FleetIQ, without cutting a session short.',
    )
    .version(VERSION, '-V, --version', 'print the version and exit')
    .showHelpAfterError()
    .exitOverride();
  const emulator = program
    .command('emulator')
    .description('Emulators the project is tested on (no cluster or AWS needed)');
  registerFleetIQEmulatorCommand(emulator);
  registerKubeEmulatorCommand(emulator, [clusterSimulationExtension()]);
  registerWebhookCommand(program);
  registerCertsCommand(program);
  registerPubsubCommand(program);
  registerReconcilerCommand(program);
  registerSandboxCommand(program);
  return program;
}

async function main(): Promise<void> {
  const program = buildCli();
  try {
    await program.parseAsync(process.argv);
  } catch (err) {
    // commander throws on --help/--version (exit 0) and on usage errors (already printed). Anything
    // else ended a command before its component ran: README.md, "Exit codes".
    if (!(err instanceof CommanderError)) console.error(err instanceof Error ? err.message : String(err));
    process.exit(exitCodeForError(err));
  }
}

/** Run when executed (directly, through tsx, or through the package bin's symlink), not when imported. */
function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return realpathSync(script) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

if (isEntryPoint()) void main();
