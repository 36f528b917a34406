// What every `kubectl fleetiq` command shares: its exit codes, its input and output, and reaching the
// cluster the way kubectl does (kubeconfig files and context, error messages naming the API server's
// answer).
import { delimiter } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';

/** Exit codes, as documented in the README (the plugin's section). */
export const EXIT_OK = 0;
/** The cluster or the kubeconfig could not be read or written; a node refused. */
export const EXIT_ERROR = 1;
export const EXIT_USAGE = 2;
/** A drain that waits (--watch, --selector) was interrupted before every node was drained. */
export const EXIT_INTERRUPTED = 3;

export interface PluginIo {
  stdout: { write(s: string): unknown; isTTY?: boolean };
  stderr: { write(s: string): unknown };
  env: Record<string, string | undefined>;
}

/** What each command is given: its output, the signal that stops a waiting command, its exit code. */
export interface CommandContext {
  io: PluginIo;
  /** Aborts a waiting command (SIGINT, SIGTERM). */
  signal?: AbortSignal;
  setCode(code: number): void;
  /** The clock (tests). */
  now?: () => number;
}

/** kubectl's order: --kubeconfig, else KUBECONFIG (its files merged), else ~/.kube/config, else in-cluster. */
export function loadKubeConfig(
  path: string | undefined,
  context: string | undefined,
  env: PluginIo['env'],
): KubeConfig {
  const kc = new KubeConfig();
  const files = (env.KUBECONFIG ?? '').split(delimiter).filter(Boolean);
  if (path) kc.loadFromFile(path);
  else if (files.length) {
    // As kubectl merges them: the first file's current context wins.
    kc.loadFromFile(files[0]!);
    for (const file of files.slice(1)) {
      const other = new KubeConfig();
      other.loadFromFile(file);
      kc.mergeConfig(other, true);
    }
  } else kc.loadFromDefault();
  if (context !== undefined) {
    if (!kc.getContextObject(context))
      throw new Error(
        `context "${context}" not found (the kubeconfig has: ${
          kc
            .getContexts()
            .map((c) => c.name)
            .join(', ') || 'none'
        })`,
      );
    kc.setCurrentContext(context);
  }
  if (!kc.getCurrentCluster()) throw new Error('no cluster: the kubeconfig has no current context');
  return kc;
}

/** The HTTP status of a client-node error, if it is one. */
export function errorCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'number' ? code : undefined;
}

export function describeError(err: unknown): string {
  const e = err as { code?: number; body?: unknown; message?: string };
  if (typeof e.code === 'number' && e.code >= 400) {
    let message = '';
    try {
      const body = typeof e.body === 'string' ? JSON.parse(e.body) : e.body;
      message = (body as { message?: string })?.message ?? '';
    } catch {
      message = String(e.body ?? '');
    }
    return `the API server answered ${e.code}${message ? `: ${message}` : ''}`;
  }
  return e.message ?? String(err);
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal?.addEventListener('abort', done);
  });
}
