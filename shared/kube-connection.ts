// client-node's KubeConfig for the webhook and certs (the node agent and pubsub do not load
// client-node: shared/kube-client/ is theirs). One pool of HTTPS connections per KubeConfig.
// client-node 2.0 builds a new undici Agent for every request (KubeConfig.applySecurityAuthentication
// → createDispatcher, uncached), so every call opens a new TLS connection and the old ones linger
// until their keep-alive ends: two handshakes inside every webhook transition, whose latency the API
// server waits on.
import { HttpMethod, KubeConfig, RequestContext } from '@kubernetes/client-node';
import { ConfigError } from './ops-server.js';

/**
 * The KubeConfig, made to reuse its HTTPS connections: the first Agent built is kept and set on every
 * request. Credentials (the bearer token, refreshed by client-node from the projected ServiceAccount
 * token file) are still applied per request.
 */
export function withConnectionReuse(kc: KubeConfig): KubeConfig {
  let shared: ReturnType<RequestContext['getDispatcher']> | 'none' | undefined;
  const wrapped = Object.create(kc) as KubeConfig;
  wrapped.applySecurityAuthentication = async (context: RequestContext): Promise<void> => {
    await kc.applySecurityAuthentication(context);
    if (shared === undefined) shared = context.getDispatcher() ?? 'none';
    if (shared !== 'none') context.setDispatcher(shared);
  };
  return wrapped;
}

/** Builds the shared connection pool now (before the first request), so it is not raced by two calls. */
export async function primeConnectionReuse(kc: KubeConfig): Promise<void> {
  const server = kc.getCurrentCluster()?.server;
  if (!server) return;
  await kc.applySecurityAuthentication(new RequestContext(server, HttpMethod.GET));
}

/**
 * KubeConfig.loadFromDefault() (KUBECONFIG, else ~/.kube/config, else in-cluster) with errors that
 * name KUBECONFIG: client-node's own say "deficient indentation (2:1)" or nothing until the first
 * request fails. A kubeconfig whose current context names no cluster or no server is refused too.
 */
export function loadKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  const path = process.env.KUBECONFIG;
  const where = path ? `"${path}"` : 'the default kubeconfig';
  try {
    kc.loadFromDefault();
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new ConfigError('KUBECONFIG', `cannot load ${where}: ${e.code ?? e.message.split('\n')[0]}`);
  }
  const cluster = kc.getCurrentCluster();
  if (!cluster) {
    throw new ConfigError(
      'KUBECONFIG',
      `${where}: the current context "${kc.getCurrentContext()}" names no cluster`,
    );
  }
  if (!cluster.server)
    throw new ConfigError('KUBECONFIG', `${where}: cluster "${cluster.name}" has no server`);
  return kc;
}
