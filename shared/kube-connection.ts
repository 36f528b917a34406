// One pool of HTTPS connections per KubeConfig. client-node 2.0 builds a new undici Agent for every
// request (KubeConfig.applySecurityAuthentication → createDispatcher, uncached), so every call opens
// a new TLS connection and the old ones linger until their keep-alive ends: a handshake per request
// on the API server (times every node, for the reconciler), and two handshakes inside every webhook
// transition, whose latency the API server waits on.
import { HttpMethod, RequestContext, type KubeConfig } from '@kubernetes/client-node';

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
