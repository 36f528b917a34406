// Where the control plane's binaries come from: scripts/build-testbed.sh builds them once from the
// Go modules pinned in testbed/ (or finds them in KUBEBUILDER_ASSETS) and prints their folder.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SetupError } from '../run/redis-process.js';

export const CONTROL_PLANE_BINARIES = [
  'etcd',
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
  'kubectl',
] as const;
export type ControlPlaneBinary = (typeof CONTROL_PLANE_BINARIES)[number];

/** The repository's root: the first folder up from here holding testbed/go.mod. */
export function repositoryRoot(from = dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'testbed', 'go.mod'))) return dir;
    if (dirname(dir) === dir)
      throw new SetupError(`no testbed/go.mod above ${from}: run from the repository`);
  }
}

/**
 * The folder holding all four binaries, building them first when needed (minutes, once). Progress
 * of a build goes to stderr; a machine without Go gets a SetupError that says what to install.
 */
export function controlPlaneBinaries(): string {
  // Asked anew each time (the script answers in milliseconds when nothing needs building): a
  // rebuild for new pins removes the folder an earlier answer named.
  const script = join(repositoryRoot(), 'scripts', 'build-testbed.sh');
  const r = spawnSync('bash', [script], { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
  if (r.error) throw new SetupError(`could not run ${script}: ${r.error.message}`);
  if (r.status !== 0) throw new SetupError(`${script} failed (exit ${r.status}); its messages are above`);
  const dir = resolve(r.stdout.trim().split('\n').pop() ?? '');
  for (const b of CONTROL_PLANE_BINARIES) {
    try {
      accessSync(join(dir, b), constants.X_OK);
    } catch {
      throw new SetupError(`${join(dir, b)} is missing or not executable (from ${script})`);
    }
  }
  return dir;
}
