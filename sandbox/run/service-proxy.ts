// A Service in front of several replicas, as kube-proxy makes one: a TCP address that spreads new
// connections over the ready endpoints (round robin). TLS passes through untouched, so the API server
// verifies each webhook replica's own certificate. The one stand-in for a Service with several
// endpoints, for the sandbox (components.ts) and the end-to-end tests alike.
//
// As with kube-proxy, an endpoint taken out (its pod turned unready, as the endpoints controller does
// first when a pod is stopped) gets no new connection but keeps its established ones until its pod
// closes them; `cut` says its pod died, and they are cut. With no endpoint left a connection is
// refused at once (reset), which the API server reports as a webhook call failure. Transparent as a NAT:
// a FIN is passed on as a FIN, a reset as a reset.
import net from 'node:net';
import type { AddressInfo } from 'node:net';

export interface Endpoint {
  host: string;
  port: number;
}

export interface ServiceProxy {
  readonly host: string;
  readonly port: number;
  /**
   * The Service's endpoints become `endpoints`. A removed endpoint's established connections stay,
   * unless `cut` (its pod died): then they are closed at once.
   */
  setEndpoints(endpoints: Endpoint[], options?: { cut?: boolean }): void;
  endpoints(): Endpoint[];
  /** Connections accepted per endpoint "host:port". */
  connections(): Record<string, number>;
  close(): Promise<void>;
}

const keyOf = (ep: Endpoint) => `${ep.host}:${ep.port}`;

export async function startServiceProxy(): Promise<ServiceProxy> {
  let endpoints: Endpoint[] = [];
  let next = 0;
  const perEndpoint = new Map<string, number>();
  /** Each accepted connection: its upstream and the endpoint it went to. */
  const conns = new Map<net.Socket, { upstream: net.Socket; endpoint: string }>();
  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    client.on('error', () => undefined);
    if (endpoints.length === 0) {
      client.resetAndDestroy();
      return;
    }
    const ep = endpoints[next++ % endpoints.length]!;
    const endpoint = keyOf(ep);
    perEndpoint.set(endpoint, (perEndpoint.get(endpoint) ?? 0) + 1);
    const upstream = net.connect({ port: ep.port, host: ep.host, allowHalfOpen: true });
    conns.set(client, { upstream, endpoint });
    client.on('close', () => {
      conns.delete(client);
      upstream.end();
    });
    upstream.on('close', () => {
      conns.delete(client);
      client.end();
    });
    client.on('error', () => upstream.resetAndDestroy());
    upstream.on('error', () => client.resetAndDestroy());
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: '127.0.0.1',
    port,
    setEndpoints(list, options = {}) {
      endpoints = [...list];
      if (!options.cut) return;
      const keep = new Set(list.map(keyOf));
      for (const [client, c] of conns)
        if (!keep.has(c.endpoint)) {
          client.destroy();
          c.upstream.destroy();
        }
    },
    endpoints: () => [...endpoints],
    connections: () => Object.fromEntries(perEndpoint),
    async close() {
      for (const [client, c] of conns) {
        client.destroy();
        c.upstream.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
