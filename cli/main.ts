#!/usr/bin/env node
// The product's CLI, what the image runs: each component registers its subcommand here. The sandbox and
// the emulators have their own entry point (sandbox/cli.ts, `fleetiq-sandbox`): nothing here may import
// sandbox/, test/ or bench/ (eslint.config.js enforces it), so none of it is bundled into the image.
import { Command } from 'commander';
import { isEntryPoint } from './entry-point.js';
import { registerPubsubCommand } from '../pubsub/cli.js';
import { registerReconcilerCommand } from '../reconciler/cli.js';
import { registerCertsCommand } from '../certs/cli.js';
import { registerWebhookCommand } from '../webhook/cli.js';

export function buildCli(): Command {
  const program = new Command('fleetiq-agones')
    .description(
      'Agones game servers on EC2 Spot, steered by GameLift FleetIQ, without cutting a session short.',
    )
    .showHelpAfterError()
    .exitOverride();
  registerWebhookCommand(program);
  registerCertsCommand(program);
  registerPubsubCommand(program);
  registerReconcilerCommand(program);
  return program;
}

async function main(): Promise<void> {
  const program = buildCli();
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
