// The kubectl of the real control plane's own release (built beside it, so client and server match),
// for the manifest tests on the real kube-apiserver.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { controlPlaneBinaries } from '../../sandbox/control-plane/binaries.js';

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
