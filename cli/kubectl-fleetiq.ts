#!/usr/bin/env node
// The kubectl plugin: `kubectl fleetiq status`, `drain`, `undrain` (kubectl runs `kubectl-fleetiq status ...`
// from PATH, with its environment, KUBECONFIG included). The logic lives in plugin.ts, loaded
// only once the Node version is known to be supported (see node-version.ts).
import { unsupportedNodeMessage } from './node-version.js';

const problem = unsupportedNodeMessage(process.versions.node, 'kubectl fleetiq');
if (problem) {
  process.stderr.write(`error: ${problem}`);
  process.exit(1);
}
const { runFleetIQPlugin } = await import('./plugin.js');
// `kubectl fleetiq status | head`: a reader that went away is not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => process.exit(err.code === 'EPIPE' ? 0 : 1));
const controller = new AbortController();
process.on('SIGINT', () => controller.abort());
process.on('SIGTERM', () => controller.abort());
const code = await runFleetIQPlugin(
  process.argv.slice(2),
  { stdout: process.stdout, stderr: process.stderr, env: process.env },
  controller.signal,
);
process.exit(code);
