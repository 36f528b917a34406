#!/usr/bin/env node
// The test bed's CLI, `fleetiq-sandbox` (and `npm start`): the whole system on the emulators (`sandbox`,
// the default command) and the emulators alone (`emulator fleetiq|kube`). It is kept apart from the
// product's CLI (cli/main.ts) so that the product, and the image built from it, carry none of this.
import { Command } from 'commander';
import { isEntryPoint } from '../cli/entry-point.js';
import { registerFleetIQEmulatorCommand } from './fleetiq/cli.js';
import { registerKubeEmulatorCommand } from './kube/cli.js';
import { clusterSimulationExtension } from './cluster/cli-extension.js';
import { registerSandboxCommand } from './run/cli.js';

export function buildSandboxCli(): Command {
  const program = new Command('fleetiq-sandbox')
    .description(
      'The fleetiq-agones test bed: the whole system on the emulators (sandbox, the default), or the ' +
        'emulators alone. No cluster or AWS account needed.',
    )
    .showHelpAfterError()
    .exitOverride();
  registerSandboxCommand(program, { isDefault: true });
  const emulator = program
    .command('emulator')
    .description('Emulators the project is tested on (no cluster or AWS needed)');
  registerFleetIQEmulatorCommand(emulator);
  registerKubeEmulatorCommand(emulator, [clusterSimulationExtension()]);
  return program;
}

async function main(): Promise<void> {
  const program = buildSandboxCli();
  try {
    await program.parseAsync(process.argv);
  } catch (err: any) {
    // commander throws on --help (exit 0) and on usage errors (already printed, with the sandbox's
    // own exit code for its flags).
    if (typeof err?.exitCode === 'number') process.exit(err.exitCode);
    console.error(err instanceof Error ? err.message : String(err));
    process.exit(1);
  }
}

if (isEntryPoint(import.meta.url)) void main();
