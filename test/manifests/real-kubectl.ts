// The kubectl of the real control plane's own release (built beside it, so client and server match),
// for the manifest tests on the real kube-apiserver.
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { remoteClusterHost } from '../../sandbox/cluster/remote-host.js';
import { installAgonesResources } from '../../sandbox/control-plane/agones-crds.js';
import { controlPlaneBinaries } from '../../sandbox/control-plane/binaries.js';
import { MANIFESTS_DIR } from './render.js';

export interface KubectlRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs that kubectl with `kubeconfig`, a cache folder of the test's own (never ~/.kube), and `input`
 * on stdin; killed after 60 s. Resolves with the exit code and both outputs, whatever the code.
 */
export function runKubectl(
  args: string[],
  options: { kubeconfig: string; cacheDir: string; input?: string },
): Promise<KubectlRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      join(controlPlaneBinaries(), 'kubectl'),
      ['--kubeconfig', options.kubeconfig, '--cache-dir', options.cacheDir, ...args],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}

/**
 * manifests/base installed on the real API server as an operator would: Agones' kinds first (the
 * test bed's CRDs), then `kubectl apply --server-side` of the namespace and of the whole kustomized
 * base, strictly validated. Resolves with the kustomized YAML; throws with kubectl's words on failure.
 */
export async function installBase(
  cp: { server: string; caPem: string; adminToken: string },
  kubectl: (args: string[], options?: { input?: string }) => Promise<KubectlRun>,
  gameServerNamespaces: string[],
): Promise<string> {
  const host = remoteClusterHost({ server: cp.server, caPem: cp.caPem, token: cp.adminToken });
  try {
    await installAgonesResources(host.client(), { gameServerNamespaces });
  } finally {
    host.close();
  }
  const kustomized = await kubectl(['kustomize', resolve(MANIFESTS_DIR, 'base')]);
  if (kustomized.code !== 0) throw new Error(`kubectl kustomize failed: ${kustomized.stderr}`);
  // The namespace first: `kubectl apply` sends objects in order, and the server needs it before the rest.
  const ns = await kubectl(['apply', '--server-side', '-f', resolve(MANIFESTS_DIR, 'base/namespace.yaml')]);
  if (ns.code !== 0) throw new Error(`applying the namespace failed: ${ns.stderr}`);
  const applied = await kubectl(['apply', '--server-side', '--validate=strict', '-f', '-'], {
    input: kustomized.stdout,
  });
  if (applied.code !== 0) throw new Error(`kubectl apply of base failed: ${applied.stderr}`);
  return kustomized.stdout;
}
