#!/usr/bin/env node
// The kubectl plugin: `kubectl fleetiq status [--watch]` (kubectl runs `kubectl-fleetiq status ...`
// from PATH, with its environment, KUBECONFIG included). The logic lives in fleetiq-status.ts.
import { runFleetIQPlugin } from './fleetiq-status.js';

const controller = new AbortController();
process.on('SIGINT', () => controller.abort());
process.on('SIGTERM', () => controller.abort());
const code = await runFleetIQPlugin(
  process.argv.slice(2),
  { stdout: process.stdout, stderr: process.stderr, env: process.env },
  controller.signal,
);
process.exit(code);
